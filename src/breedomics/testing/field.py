"""Simulated field trials with a spatial layout: plots on a row x column grid, a smooth
2-D fertility trend, row and column effects and known genetic values.

A trial of ``n_geno`` genotypes in ``n_rep`` complete blocks is laid out on a grid of
``n_rows x n_cols`` plots per block; block ``k`` holds rows ``k n_rows + 1 ..``, and
the genotypes are randomised within each block. A plot's value is ::

    mean + g + trend(row, col) + R(row) + C(col) + e

with the trend a sum of a few random long-wavelength sinusoids scaled to a chosen
standard deviation (the soil and water gradients that SpATS models, Rodriguez-Alvarez
et al. 2018, *Spatial Statistics* 23:52), normal row/column effects (machine passes)
and normal plot errors. Without the trend and row/column effects the generalised
heritability of such a trial (Oakey et al. 2006, ``1 - mean PEV / var_g``; Cullis et al.
2006) is ``var_g / (var_g + var_e / n_rep)``; with them it is lower, since the genotype
predictions' error variances include the estimated spatial terms' (see
``tests/test_spatial.py::test_generalised_heritability_matches_the_simulation``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["field_layout", "smooth_trend", "simulate_field"]


def field_layout(
    n_geno: int, n_rep: int, n_rows: int, n_cols: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Plot positions of a randomised complete block design on a grid.

    Parameters
    ----------
    n_geno, n_rep : int
        Genotypes and complete blocks; ``n_rows * n_cols`` (the plots of one block)
        must be at least ``n_geno`` (extra positions stay empty).
    n_rows, n_cols : int
        Grid of one block; blocks are stacked along the rows.
    rng : numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        ``genotype_index, block, row, col`` (1-based rows/columns), one row per plot.
    """
    if n_rows * n_cols < n_geno:
        raise ValueError(f"a {n_rows} x {n_cols} block cannot hold {n_geno} genotypes")
    parts = []
    for k in range(n_rep):
        pos = rng.permutation(n_rows * n_cols)[:n_geno]
        parts.append(
            pd.DataFrame(
                {
                    "genotype_index": np.arange(n_geno),
                    "block": k + 1,
                    "row": k * n_rows + pos // n_cols + 1,
                    "col": pos % n_cols + 1,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def smooth_trend(
    rows: np.ndarray, cols: np.ndarray, sd: float, rng: np.random.Generator, waves: int = 4
) -> np.ndarray:
    """A smooth random surface over the field, with standard deviation ``sd`` over the
    given plots (zero ``sd``: no trend, and no random numbers drawn)."""
    rows, cols = np.asarray(rows, float), np.asarray(cols, float)
    if sd == 0:
        return np.zeros(rows.size)
    span_r = max(np.ptp(rows), 1.0)
    span_c = max(np.ptp(cols), 1.0)
    f = np.zeros(rows.size)
    for _ in range(waves):
        kr, kc = rng.uniform(0.3, 1.5, 2) * np.pi
        ph = rng.uniform(0, 2 * np.pi)
        sign = rng.choice([-1, 1])
        f += rng.normal() * np.sin(kr * rows / span_r + sign * kc * cols / span_c + ph)
    f += rng.normal() * ((rows - rows.mean()) / span_r)  # a gradient along the rows
    f -= f.mean()
    return sd * f / (f.std() or 1.0)


def simulate_field(
    n_geno: int,
    n_rep: int,
    n_rows: int,
    n_cols: int,
    rng: np.random.Generator,
    var_g: float = 1.0,
    var_e: float = 1.0,
    trend_sd: float = 0.0,
    row_sd: float = 0.0,
    col_sd: float = 0.0,
    mean: float = 100.0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Plot records of one simulated spatial trial and the true genetic values.

    Returns
    -------
    records : pandas.DataFrame
        ``plot, genotype, block, row, col, y`` (and ``trend``, the true surface).
    g : numpy.ndarray
        True genetic value of genotypes ``G0000 ..`` in order.
    """
    lay = field_layout(n_geno, n_rep, n_rows, n_cols, rng)
    g = rng.normal(0, np.sqrt(var_g), n_geno)
    rows, cols = lay["row"].to_numpy(), lay["col"].to_numpy()
    trend = smooth_trend(rows, cols, trend_sd, rng)
    reff = rng.normal(0, row_sd, n_rep * n_rows + 1)[rows] if row_sd else 0.0
    ceff = rng.normal(0, col_sd, n_cols + 1)[cols] if col_sd else 0.0
    e = rng.normal(0, np.sqrt(var_e), rows.size)
    y = mean + g[lay["genotype_index"]] + trend + reff + ceff + e
    rec = pd.DataFrame(
        {
            "plot": [f"P{k:05d}" for k in range(rows.size)],
            "genotype": [f"G{i:04d}" for i in lay["genotype_index"]],
            "block": lay["block"].astype(str),
            "row": rows,
            "col": cols,
            "y": y,
            "trend": trend,
        }
    )
    return rec, g
