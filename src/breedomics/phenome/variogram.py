"""Sample semivariogram of plot residuals by row and column displacement.

For every displacement ``(a, b)`` of ``a`` rows and ``b`` columns (``a, b >= 0``, both
directions of ``b`` pooled), the semivariance ``1/2 mean (e_i - e_j)^2`` over the pairs
of plots at that displacement (Gilmour, Cullis & Verbyla 1997, *JABES* 2:269; the
residual check of Rodriguez-Alvarez et al. 2018, *Spatial Statistics* 23:52). Rows and
columns are the ranks of the distinct coordinates. A flat variogram means the spatial
model left no spatial structure in the residuals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["variogram"]


def variogram(
    row: np.ndarray, col: np.ndarray, residual: np.ndarray, max_lag: int = 10
) -> pd.DataFrame:
    """Semivariance by displacement.

    Parameters
    ----------
    row, col : numpy.ndarray
        Coordinates of the plots.
    residual : numpy.ndarray
        Their residuals.
    max_lag : int
        Largest displacement in rows and in columns.

    Returns
    -------
    pandas.DataFrame
        ``row_lag, col_lag, semivariance, n_pairs`` (displacements with a pair).
    """
    _, ri = np.unique(np.asarray(row, float), return_inverse=True)
    _, ci = np.unique(np.asarray(col, float), return_inverse=True)
    grid = np.full((ri.max() + 1, ci.max() + 1), np.nan)
    grid[ri, ci] = residual
    nr, nc = grid.shape
    out = []
    for a in range(min(max_lag, nr - 1) + 1):
        for b in range(min(max_lag, nc - 1) + 1):
            if a == 0 and b == 0:
                continue
            diffs = [grid[a:, b:] - grid[: nr - a, : nc - b]]
            if a > 0 and b > 0:
                diffs.append(grid[a:, : nc - b] - grid[: nr - a, b:])
            d = np.concatenate([x.ravel() for x in diffs])
            d = d[np.isfinite(d)]
            if d.size:
                out.append((a, b, 0.5 * float(np.mean(d * d)), int(d.size)))
    return pd.DataFrame(out, columns=["row_lag", "col_lag", "semivariance", "n_pairs"])
