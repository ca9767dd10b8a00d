"""Second stage of a stage-wise multi-environment analysis: genotype means from
per-trial BLUEs weighted by their standard errors.

Model (Smith, Cullis & Gilmour 2001; Piepho, Mohring, Schulz-Streeck & Ogutu 2012,
*Biometrical Journal* 54:844), for the BLUE ``y_ge`` of genotype ``g`` in trial ``e``
with standard error ``s_ge`` from the first stage::

    y_ge = env_e + g + (ge)_ge + d_ge,   (ge) ~ N(0, s2GE),   d_ge ~ N(0, s_ge^2)

with environments (sum-to-zero) and genotypes fixed. The first-stage error variances
are taken as known (diagonal weights ``1 / (s_ge^2 + s2GE)``); ``s2GE`` is estimated by
REML (one parameter, bounded search on ``log s2GE`` after a grid) and the genotype
BLUEs are the generalised least-squares estimates, with standard errors from
``(X'V^-1 X)^-1``. The genotype block of ``X'V^-1 X`` is diagonal and absorbed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar

__all__ = ["StageTwoFit", "fit_stage_two"]


@dataclass
class StageTwoFit:
    """Genotype BLUEs (``blue``, ``se``), the GxE variance and the REML log-likelihood."""

    blue: np.ndarray
    se: np.ndarray
    s2ge: float
    loglik: float


def _parts(y, se2, gi, ng, E, tau):
    """GLS solution and REML log-likelihood at ``s2GE = tau``."""
    w = 1.0 / (se2 + tau)
    inc = sp.csr_matrix((w, (gi, np.arange(y.size))), shape=(ng, y.size))
    d = np.asarray(inc.sum(axis=1)).ravel()  # N'WN (diagonal)
    B = np.asarray(inc @ E)  # N'WE
    Ny = np.asarray(inc @ y)
    EW = E * w[:, None]
    S = E.T @ EW - B.T @ (B / d[:, None])
    rhs = EW.T @ y - B.T @ (Ny / d)
    if S.size:
        L = np.linalg.cholesky(S)
        b = np.linalg.solve(S, rhs)
        logdet_s = 2.0 * np.sum(np.log(np.diag(L)))
        Sinv = np.linalg.inv(S)
    else:
        b, logdet_s, Sinv = np.zeros(0), 0.0, np.zeros((0, 0))
    g = (Ny - B @ b) / d
    r = y - g[gi] - E @ b
    p = ng + E.shape[1]
    ll = -0.5 * (
        (y.size - p) * np.log(2 * np.pi)
        + np.sum(np.log(se2 + tau))
        + np.sum(np.log(d))
        + logdet_s
        + float(r @ (w * r))
    )
    Bd = B / d[:, None]
    var_g = 1.0 / d + np.einsum("ij,ij->i", Bd @ Sinv, Bd)
    return g, var_g, ll


def fit_stage_two(
    blue: np.ndarray,
    se: np.ndarray,
    genotype: np.ndarray,
    environment: np.ndarray,
    n_genotypes: int,
) -> StageTwoFit:
    """REML fit of the weighted second stage (see the module docstring).

    Parameters
    ----------
    blue, se : numpy.ndarray
        First-stage BLUEs and their standard errors, one per genotype x trial.
    genotype : numpy.ndarray
        Genotype code ``0..n_genotypes-1`` of each BLUE.
    environment : numpy.ndarray
        Trial code ``0..`` of each BLUE.
    n_genotypes : int

    Returns
    -------
    StageTwoFit
        With one trial, the BLUEs and SEs are returned unchanged (``s2GE`` is then
        not estimable and reported as NaN).
    """
    y = np.asarray(blue, dtype=float)
    se2 = np.asarray(se, dtype=float) ** 2
    gi = np.asarray(genotype, dtype=np.int64)
    env = np.asarray(environment, dtype=np.int64)
    levels = np.unique(env)
    if levels.size == 1:
        out, out_se = np.full(n_genotypes, np.nan), np.full(n_genotypes, np.nan)
        out[gi], out_se[gi] = y, np.sqrt(se2)
        return StageTwoFit(out, out_se, np.nan, np.nan)
    # environments in sum-to-zero coding: level j < last -> +1 in column j, last -> -1
    code = np.searchsorted(levels, env)
    E = np.zeros((y.size, levels.size - 1))
    last = code == levels.size - 1
    E[~last, code[~last]] = 1.0
    E[last, :] = -1.0
    scale = float(np.var(y)) or 1.0

    def neg(t: float) -> float:
        return -_parts(y, se2, gi, n_genotypes, E, np.exp(t))[2]

    grid = np.log(scale) + np.linspace(-12.0, 2.0, 15)
    t0 = grid[int(np.argmin([neg(t) for t in grid]))]
    res = minimize_scalar(neg, bounds=(max(t0 - 1.0, grid[0]), min(t0 + 1.0, grid[-1])),
                          method="bounded", options={"xatol": 1e-8})  # fmt: skip
    tau = float(np.exp(res.x))
    if neg(grid[0] - 20.0) <= res.fun:  # the boundary (no GxE) is at least as likely
        tau = float(np.exp(grid[0] - 20.0))
    g, var_g, ll = _parts(y, se2, gi, n_genotypes, E, tau)
    return StageTwoFit(g, np.sqrt(var_g), tau, ll)
