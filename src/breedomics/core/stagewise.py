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

__all__ = ["StageTwoFit", "StageTwoVarcomp", "fit_stage_two", "stage_two_varcomp"]


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


@dataclass
class StageTwoVarcomp:
    """Across-trial variance components of :func:`stage_two_varcomp`.

    Attributes
    ----------
    s2g, s2ge : float
        Genotype and GxE variances (REML; ``s2ge`` NaN with one trial).
    se_s2g, se_s2ge : float
        Their standard errors from the observed information (NaN at a boundary).
    h2_cullis : float
        ``1 - v_BLUP / (2 s2g)``, ``v_BLUP`` the mean prediction error variance of the
        pairwise differences of genotype BLUPs (Cullis, Smith & Coombes 2006).
    h2_standard : float
        ``s2g / (s2g + s2ge / e + v / e)`` with ``e`` the harmonic mean of the trials per
        genotype and ``v`` the mean first-stage error variance ``se^2``.
    mean_se2 : float
        ``v``.
    loglik : float
        Restricted log-likelihood of the random-genotype model.
    """

    s2g: float
    s2ge: float
    se_s2g: float
    se_s2ge: float
    h2_cullis: float
    h2_standard: float
    mean_se2: float
    loglik: float


def _random_parts(y, se2, gi, ng, X, s2g, tau):
    """Random-genotype stage-two model at ``(s2g, s2GE = tau)``: REML log-likelihood, its
    gradient in the two variances and the genotype block of ``C^-1`` (diagonal, sum)."""
    w = 1.0 / (se2 + tau)
    inc = sp.csr_matrix((w, (gi, np.arange(y.size))), shape=(ng, y.size))
    d = np.asarray(inc.sum(axis=1)).ravel() + 1.0 / s2g
    B = np.asarray(inc @ X)
    Ny = np.asarray(inc @ y)
    Bd = B / d[:, None]
    S = X.T @ (X * w[:, None]) - B.T @ Bd
    Sinv = np.linalg.inv(S)
    b = Sinv @ (X.T @ (w * y) - Bd.T @ Ny)
    g = (Ny - B @ b) / d
    r = y - X @ b - g[gi]
    n, p = y.size, X.shape[1]
    logdet_s = np.linalg.slogdet(S)[1]
    ypy = float(r @ (w * r) + g @ g / s2g)
    ll = -0.5 * (
        (n - p) * np.log(2 * np.pi)
        + np.sum(np.log(se2 + tau))
        + ng * np.log(s2g)
        + np.sum(np.log(d))
        + logdet_s
        + ypy
    )
    cgg = 1.0 / d + np.einsum("ij,ij->i", Bd @ Sinv, Bd)
    a = Bd.sum(axis=0)
    cgg_sum = float(np.sum(1.0 / d) + a @ Sinv @ a)
    V = X - Bd[gi]
    h = 1.0 / d[gi] + np.einsum("ij,ij->i", V @ Sinv, V)  # m_i' C^-1 m_i
    grad = np.array(
        [
            -0.5 * (ng / s2g - cgg.sum() / s2g**2 - (g @ g) / s2g**2),
            -0.5 * (np.sum(w) - np.sum(w * w * h) - np.sum((w * r) ** 2)),
        ]
    )
    return ll, grad, cgg, cgg_sum


def stage_two_varcomp(
    blue: np.ndarray,
    se: np.ndarray,
    genotype: np.ndarray,
    environment: np.ndarray,
    n_genotypes: int,
) -> StageTwoVarcomp:
    """REML of the second stage with random genotypes: across-trial variances and H2.

    Model: ``y_ge = mu + env_e + g + (ge)_ge + d_ge`` with ``g ~ N(0, s2g)``,
    ``(ge) ~ N(0, s2GE)``, ``d_ge ~ N(0, se_ge^2)`` known and environments fixed
    (sum-to-zero). The genotype block of Henderson's equations is diagonal and
    absorbed; the two variances are found by L-BFGS-B on their logarithms with the
    analytic REML gradient.

    Parameters
    ----------
    blue, se, genotype, environment, n_genotypes
        As in :func:`fit_stage_two` (genotype codes ``0..n_genotypes-1``, each present).

    Returns
    -------
    StageTwoVarcomp
    """
    from scipy.optimize import minimize

    y = np.asarray(blue, dtype=float)
    se2 = np.asarray(se, dtype=float) ** 2
    gi = np.asarray(genotype, dtype=np.int64)
    env = np.asarray(environment, dtype=np.int64)
    levels, code = np.unique(env, return_inverse=True)
    X = np.zeros((y.size, levels.size))
    X[:, 0] = 1.0
    last = code == levels.size - 1
    X[~last, 1 + code[~last]] = 1.0 if levels.size > 1 else 0.0
    if levels.size > 1:
        X[last, 1:] = -1.0
    ng = int(n_genotypes)
    multi = levels.size > 1
    scale = float(np.var(y)) or 1.0
    lo, hi = np.log(scale) - 25.0, np.log(scale) + 5.0

    def unpack(t):
        return np.exp(t[0]), (np.exp(t[1]) if multi else 0.0)

    def neg(t):
        s2g, tau = unpack(t)
        ll, gr, _c, _s = _random_parts(y, se2, gi, ng, X, s2g, tau)
        gt = gr[: 1 + multi] * np.array([s2g, tau][: 1 + multi])
        return -ll, -gt

    t0 = np.full(1 + multi, np.log(0.5 * scale))
    opts = {"ftol": 1e-15, "gtol": 1e-10, "maxiter": 2000}
    res = minimize(neg, t0, jac=True, method="L-BFGS-B", bounds=[(lo, hi)] * t0.size,
                   options=opts)  # fmt: skip
    s2g, tau = unpack(res.x)
    ll, _gr, cgg, cgg_sum = _random_parts(y, se2, gi, ng, X, s2g, tau)
    # observed information: central differences of the analytic gradient
    v = np.array([s2g, tau][: 1 + multi])
    inside = (res.x > lo + 1.0) & (res.x < hi - 1.0)
    H = np.zeros((v.size, v.size))
    for k in range(v.size):
        step = 1e-4 * v[k]
        up, dn = v.copy(), v.copy()
        up[k] += step
        dn[k] -= step
        gu = _random_parts(y, se2, gi, ng, X, up[0], up[1] if multi else 0.0)[1][: v.size]
        gd = _random_parts(y, se2, gi, ng, X, dn[0], dn[1] if multi else 0.0)[1][: v.size]
        H[:, k] = (gu - gd) / (2 * step)
    ses = np.full(2, np.nan)
    idx = np.flatnonzero(inside)
    if idx.size:
        info = -0.5 * (H + H.T)[np.ix_(idx, idx)]
        if np.all(np.linalg.eigvalsh(info) > 0):
            ses[idx] = np.sqrt(np.diag(np.linalg.inv(info)))
    v_blup = (2 * ng * cgg.sum() - 2 * cgg_sum) / (ng * (ng - 1))
    n_env = np.bincount(gi, minlength=ng)
    e_h = 1.0 / np.mean(1.0 / n_env)
    mean_se2 = float(np.mean(se2))
    return StageTwoVarcomp(
        s2g=float(s2g),
        s2ge=float(tau) if multi else float("nan"),
        se_s2g=float(ses[0]),
        se_s2ge=float(ses[1]),
        h2_cullis=float(1.0 - v_blup / (2.0 * s2g)),
        h2_standard=float(s2g / (s2g + (tau if multi else 0.0) / e_h + mean_se2 / e_h)),
        mean_se2=mean_se2,
        loglik=float(ll),
    )
