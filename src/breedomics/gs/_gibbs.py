"""Compiled single-site Gibbs sweep of the BayesB/BayesC samplers (numba).

Kept apart from :mod:`breedomics.gs.bayes` so that importing the package does
not import numba; the kernel is compiled on first use and cached on disk
(``cache=True``), so compilation happens once per machine and argument types.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["gibbs_sweep"]


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def gibbs_sweep(
    Zt: np.ndarray,
    xx: np.ndarray,
    beta: np.ndarray,
    var: np.ndarray,
    e: np.ndarray,
    s2e: float,
    lpi: float,
    logu: np.ndarray,
    z: np.ndarray,
) -> int:
    """One sweep of single-site updates ``j = 0 .. p-1``, in place.

    For marker ``j`` with column ``z_j = Zt[j]`` and current effect ``b_j``:
    ``rhs = z_j' e + xx_j b_j`` (``e`` is the residual with all current effects
    removed), ``c = xx_j + s2e / var_j``; ``delta_j`` is drawn with ``beta_j``
    integrated out -- included iff ``logu_j`` (a logistic draw) is below the
    log-odds ``0.5 (log(s2e / (var_j c)) + rhs^2 / (s2e c)) + lpi`` with
    ``lpi = log((1 - pi) / pi)`` -- then ``beta_j = rhs / c + sqrt(s2e / c) z_j``
    if included, else 0. If the effect changed, ``e -= z_j (new - b_j)``.

    ``beta`` and ``e`` (float64) are updated in place; returns the number of
    effects that changed. ``Zt`` may be float32 or float64: the dot products
    ``z_j' e`` are summed in the precision of ``Zt`` (float32 in the fits,
    as the former BLAS ``sgemv``: converting each float32 element to float64
    halves the SIMD width and made large-``n`` sweeps 1.1-2x slower), against a copy of
    ``e`` in that precision kept in step with ``e``; residual updates and all
    other arithmetic are float64.
    """
    p, n = Zt.shape
    ev = e.astype(Zt.dtype)  # residual in the precision of Zt, for the dot products
    changed = 0
    for j in range(p):
        zj = Zt[j]
        r = zj[0] * ev[0]
        for i in range(1, n):
            r += zj[i] * ev[i]
        bj = beta[j]
        xj = xx[j]
        rhs = r + xj * bj
        v = var[j]
        c = xj + s2e / v
        lo = 0.5 * (math.log(s2e / (v * c)) + rhs * rhs / (s2e * c)) + lpi
        if logu[j] < lo:
            new = rhs / c + math.sqrt(s2e / c) * z[j]
        else:
            new = 0.0
        if new != bj:
            d = new - bj
            for i in range(n):
                e[i] -= zj[i] * d
                ev[i] = e[i]
            beta[j] = new
            changed += 1
    return changed
