"""REML of a mixed model with diagonal, overlapping precisions by the SAP algorithm.

Model (Rodriguez-Alvarez, Boer, van Eeuwijk & Eilers 2018, Spatial Statistics 23:52,
"Correcting for spatial heterogeneity in plant breeding experiments with P-splines";
the SAP algorithm of Rodriguez-Alvarez, Lee, Kneib, Durban & Eilers 2015, Statistics
and Computing 25:941)::

    y = N g + X b + Z u + e,   e ~ N(0, s2e I)
    u ~ N(0, G),   G^-1 = sum_k Lambda_k / s2_k    (Lambda_k diagonal, >= 0)

``g`` are the effects of a grouping factor (genotypes; ``N`` the plot-to-group
incidence), fixed or random ``g ~ N(0, s2g I)``; ``X`` holds the other fixed effects
and ``Z`` the random ones. Several precision components may share coefficients (the
2-D smooth ``f(row):f(col)`` of the PS-ANOVA decomposition has the precision
``Lambda_r / s2_r + Lambda_c / s2_c`` on one block), which is what SAP is for: every
variance is updated by the fixed point of its REML score equation

    s2_k <- u' Lambda_k u / ED_k,     ED_k = tr((G - C^uu) Lambda_k) / s2_k
    s2e  <- |y - fitted|^2 / (n - p - sum_k ED_k)

where ``C^uu`` is the random block of the inverse of Henderson's coefficient matrix
and ``ED_k`` is the effective dimension of component ``k`` (eq. 10-11 of the 2018
paper). At convergence these are the REML estimates.

Implementation: the group block of Henderson's equations is diagonal (each plot has one
group), so it is absorbed analytically; the remaining ``(p + q)``-square Schur
complement is dense, factorised by Cholesky once per iteration, and inverted (LAPACK
``dpotri``) for the diagonals that the effective dimensions need. ``[X Z]'[X Z]`` is
formed once: only the diagonal penalty changes between iterations.

The restricted log-likelihood (Patterson & Thompson 1971) at the estimates is reported
without the constant ``-1/2 log|X'X|``, as in :mod:`breedomics.core.mme`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sl
import scipy.sparse as sp
from scipy.linalg import lapack

from breedomics.errors import UserError

__all__ = ["SAPFit", "fit_sap"]


@dataclass
class SAPFit:
    """Result of :func:`fit_sap`.

    Attributes
    ----------
    names : list of str
        Names of the precision components (``Lambda_k``).
    s2 : numpy.ndarray
        Their variances ``s2_k``.
    ed : numpy.ndarray
        Their effective dimensions ``ED_k``.
    s2e : float
        Residual variance.
    s2g : float
        Variance of the group effects (NaN when they are fixed).
    ed_group : float
        Effective dimension of the group term (its number of levels when fixed).
    group : numpy.ndarray
        Group effects (BLUEs when fixed, BLUPs when random).
    var_group : numpy.ndarray
        ``s2e`` times the group diagonal of the inverse coefficient matrix: sampling
        variances of the BLUEs (fixed) or prediction error variances (random).
    beta, u : numpy.ndarray
        Fixed (``X``) and random (``Z``) coefficients.
    fitted : numpy.ndarray
        ``N g + X b + Z u``.
    loglik : float
        Restricted log-likelihood (without ``-1/2 log|X'X|``).
    n_iter : int
    converged : bool
    leverage : numpy.ndarray or None
        Leverage ``q_i = w_i' C^-1 w_i`` of every record in the mixed-model equations
        (``w_i`` its row of ``[N X Z]``, ``C`` scaled by ``1 / s2e``), when asked for.
    """

    names: list[str]
    s2: np.ndarray
    ed: np.ndarray
    s2e: float
    s2g: float
    ed_group: float
    group: np.ndarray
    var_group: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    fitted: np.ndarray
    loglik: float
    n_iter: int
    converged: bool
    leverage: np.ndarray | None = None


class _System:
    """Henderson's equations of the model with the group block absorbed."""

    def __init__(self, y, groups, n_groups, X, Z):
        self.y = np.asarray(y, dtype=float)
        n = self.y.size
        self.W = np.hstack([np.asarray(X, dtype=float).reshape(n, -1), np.asarray(Z, float)])
        self.p = np.asarray(X).reshape(n, -1).shape[1]
        self.groups = np.asarray(groups, dtype=np.int64)
        self.ng = int(n_groups)
        inc = sp.csr_matrix((np.ones(n), (self.groups, np.arange(n))), shape=(self.ng, n))
        self.counts = np.bincount(self.groups, minlength=self.ng).astype(float)
        self.Bg = np.asarray(inc @ self.W)  # N'W, groups x (p + q)
        self.Ny = np.asarray(inc @ self.y)
        self.WtW = self.W.T @ self.W
        self.Wy = self.W.T @ self.y
        self.yy = float(self.y @ self.y)
        self._fixed_schur = None

    def solve(self, pen: np.ndarray, group_pen: float, need_group_diag: bool):
        """Solve with the diagonal penalties ``pen`` (on [X Z]) and ``group_pen``.

        Returns the coefficients, the diagonal of the inverse (unscaled, i.e. times
        ``s2e`` gives ``C^-1``) on ``[X Z]`` and on the groups, and ``log|C|``.
        """
        d = self.counts + group_pen
        if group_pen == 0.0 and self._fixed_schur is not None:
            S = self._fixed_schur.copy()
        else:
            Bd = self.Bg / d[:, None]
            S = self.WtW - self.Bg.T @ Bd
            if group_pen == 0.0:
                self._fixed_schur = S.copy()
        S[np.diag_indices_from(S)] += pen
        c, info = lapack.dpotrf(S, lower=False)
        if info != 0:
            raise UserError(
                "the spatial mixed model's equations are singular: a fixed effect (a "
                "covariate or a genotype) is confounded with the others; drop it"
            )
        logdet_c = 2.0 * float(np.sum(np.log(np.diag(c)))) + float(np.sum(np.log(d)))
        rhs = self.Wy - self.Bg.T @ (self.Ny / d)
        w = sl.cho_solve((c, False), rhs)
        g = (self.Ny - self.Bg @ w) / d
        inv, info = lapack.dpotri(c, lower=False)
        inv = np.triu(inv) + np.triu(inv, 1).T
        self._last = (inv, d)
        gdiag = None
        if need_group_diag:
            Bd = self.Bg / d[:, None]
            gdiag = 1.0 / d + np.einsum("ij,ij->i", Bd @ inv, Bd)
        return w, g, np.diag(inv).copy(), gdiag, logdet_c

    def fitted(self, w: np.ndarray, g: np.ndarray) -> np.ndarray:
        return self.W @ w + g[self.groups]

    def leverage(self) -> np.ndarray:
        """Leverages at the last :meth:`solve`: with the group block absorbed,
        ``q_i = 1/d_g + (w_i - a_g)' S^-1 (w_i - a_g)``, ``a_g = (N'W)_g / d_g``."""
        inv, d = self._last
        V = self.W - self.Bg[self.groups] / d[self.groups, None]
        return 1.0 / d[self.groups] + np.einsum("ij,ij->i", V @ inv, V)


def _check(lams: np.ndarray, q: int) -> None:
    if lams.ndim != 2 or lams.shape[1] != q:
        raise ValueError(f"precisions must be K x {q}; got {lams.shape}")
    if (lams < 0).any():
        raise ValueError("precisions must be non-negative")
    if q and (lams.sum(axis=0) <= 0).any():
        raise ValueError("every random coefficient needs a positive precision")


def fit_sap(
    y: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    X: np.ndarray,
    Z: np.ndarray,
    precisions: np.ndarray,
    names: Sequence[str],
    group_random: bool = False,
    max_iter: int = 1000,
    tol: float = 1e-9,
    start: dict | None = None,
    leverage: bool = False,
) -> SAPFit:
    """REML fit of the SAP mixed model (see the module docstring).

    Parameters
    ----------
    y : numpy.ndarray
        Response (n,).
    groups : numpy.ndarray
        Group code 0..n_groups-1 of every record (genotypes).
    n_groups : int
    X : numpy.ndarray
        Other fixed effects (n, p); with fixed groups it must not contain an intercept
        (the groups are cell means), with random groups it must.
    Z : numpy.ndarray
        Random-effect design (n, q).
    precisions : numpy.ndarray
        (K, q) diagonals of ``Lambda_k``.
    names : sequence of str
        Names of the K components.
    group_random : bool
        Groups random ``N(0, s2g I)`` (for heritability) instead of fixed (BLUEs).
    max_iter : int
    tol : float
        Convergence: the largest change of a variance between iterations, relative to
        the variance of ``y``.
    start : dict, optional
        Starting values ``{"s2": ..., "s2e": ..., "s2g": ...}`` (e.g. the fixed-group
        fit's estimates for the random-group fit).
    leverage : bool
        Also return the leverage of every record (for studentised residuals;
        ``O(n (p + q)^2)``).

    Returns
    -------
    SAPFit

    References
    ----------
    Those of the module docstring: the model (2018) and the SAP algorithm (2015).
    """
    y = np.asarray(y, dtype=float)
    n = y.size
    lams = np.atleast_2d(np.asarray(precisions, dtype=float))
    Z = np.asarray(Z, dtype=float).reshape(n, -1)
    q = Z.shape[1]
    if q == 0:
        lams = lams.reshape(0, 0)
    _check(lams, q)
    sys_ = _System(y, groups, n_groups, X, Z)
    p = sys_.p
    p_fixed = p + (0 if group_random else sys_.ng)
    if n - p_fixed <= 0:
        raise UserError(
            f"the spatial model has {p_fixed} fixed effects for {n} plots; it needs "
            "replicated genotypes or fewer covariates"
        )
    vy = float(np.var(y)) or 1.0
    K = lams.shape[0]
    s2 = np.empty(K)
    for k in range(K):
        nz = lams[k][lams[k] > 0]
        s2[k] = 0.1 * vy / (float(np.mean(nz)) if nz.size else 1.0)
    s2e, s2g = 0.5 * vy, 0.3 * vy
    if start:
        s2 = np.asarray(start.get("s2", s2), dtype=float).copy()
        s2e = float(start.get("s2e", s2e))
        s2g = float(start.get("s2g", s2g)) if np.isfinite(start.get("s2g", np.nan)) else s2g
    floor, ceiling = np.log(1e-12 * vy), np.log(1e8 * vy)
    # a variance's change counts in the units of its contribution to the data
    scale = np.array([np.mean(1.0 / lams[k][lams[k] > 0]) for k in range(K)] + [1.0, 1.0])
    scale = scale[: K + 1 + int(group_random)]

    def update(theta: np.ndarray) -> tuple[np.ndarray, float]:
        """One SAP fixed-point update of the log-variances; REML loglik at ``theta``."""
        v = np.exp(theta)
        s2e_ = v[K]
        s2g_ = v[K + 1] if group_random else None
        (w, g, diag, gdiag, logdet_c), gcov, ed = _solve_at(
            sys_, lams, v[:K], s2e_, s2g_, group_random
        )
        u = w[p:]
        quad = (u * u) @ lams.T if K else np.zeros(0)
        new = np.empty_like(theta)
        new[:K] = np.log(np.maximum(quad, 1e-300)) - np.log(np.maximum(ed, 1e-300))
        # a component without effective dimension is zero (its 0/0 update is undefined
        # when another component of the same coefficients has shrunk them to zero)
        new[:K][ed < 1e-8] = floor
        dof = n - p_fixed - ed.sum()
        if group_random:
            ed_g = float(sys_.ng - s2e_ * gdiag.sum() / s2g_)
            new[K + 1] = np.log(max(float(g @ g), 1e-300)) - np.log(max(ed_g, 1e-300))
            dof -= ed_g
        res = y - sys_.fitted(w, g)
        new[K] = np.log(float(res @ res) / max(dof, 1e-8))
        ll = _loglik(sys_, y, w, g, s2e_, gcov, s2g_, logdet_c, p_fixed)
        return np.clip(new, floor, ceiling), ll

    def change(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.max(np.abs(np.exp(a) - np.exp(b)) * scale)) / vy

    # SAP fixed-point iterations accelerated by SQUAREM (Varadhan & Roland 2008, Scand J
    # Stat 35:335), falling back to the plain update when the likelihood would drop
    theta = np.log(np.concatenate([s2, [s2e], [s2g] if group_random else []]))
    theta = np.maximum(theta, floor)
    converged, it, evals = False, 0, 0
    while evals < max_iter:
        it += 1
        t1, ll0 = update(theta)
        t2, _ = update(t1)
        evals += 2
        if change(t1, theta) < tol:
            theta, converged = t1, True
            break
        r_, v_ = t1 - theta, t2 - 2 * t1 + theta
        nv = float(np.linalg.norm(v_))
        alpha = -float(np.linalg.norm(r_)) / nv if nv > 0 else -1.0
        alpha = min(alpha, -1.0)
        nxt = t2
        if alpha < -1.0:
            trial = np.clip(theta - 2 * alpha * r_ + alpha**2 * v_, floor, ceiling)
            try:
                t3, ll3 = update(trial)
            except UserError:  # an extrapolated point too extreme to factorise
                t3, ll3 = t2, -np.inf
            evals += 1
            if np.isfinite(ll3) and ll3 >= ll0 - 1e-10 * abs(ll0):
                nxt = t3
        if change(nxt, theta) < tol:
            theta, converged = nxt, True
            break
        theta = nxt
    v = np.exp(theta)
    s2, s2e = v[:K], float(v[K])
    s2g = float(v[K + 1]) if group_random else s2g
    # final solve at the converged values
    (w, g, diag, gdiag, logdet_c), gcov, ed = _solve_at(
        sys_, lams, s2, s2e, s2g if group_random else None, True
    )
    u = w[p:]
    ed_g = float(sys_.ng - s2e * gdiag.sum() / s2g) if group_random else float(sys_.ng)
    fitted = sys_.fitted(w, g)
    ll = _loglik(sys_, y, w, g, s2e, gcov, s2g if group_random else None, logdet_c, p_fixed)
    return SAPFit(
        names=list(names),
        s2=s2,
        ed=ed,
        s2e=s2e,
        s2g=s2g if group_random else float("nan"),
        ed_group=ed_g,
        group=g,
        var_group=s2e * gdiag,
        beta=w[:p],
        u=u,
        fitted=fitted,
        loglik=ll,
        n_iter=evals,
        converged=converged,
        leverage=sys_.leverage() if leverage else None,
    )


def _solve_at(
    sys_: _System,
    lams: np.ndarray,
    s2: np.ndarray,
    s2e: float,
    s2g: float | None,
    need_group_diag: bool,
):
    """The mixed-model solution at the smooth-term variances ``s2``, residual ``s2e`` and
    group variance ``s2g`` (None: fixed groups).

    Returns the solve's (w, g, diag, gdiag, logdet_c), the prior variances of the random
    coefficients and the effective dimension of every smooth term.
    """
    K = lams.shape[0]
    ginv = lams.T @ (1.0 / s2) if K else np.zeros(0)
    pen = np.concatenate([np.zeros(sys_.p), s2e * ginv])
    gp = 0.0 if s2g is None else s2e / s2g
    solved = sys_.solve(pen, gp, need_group_diag)
    gcov = 1.0 / ginv if K else np.zeros(0)
    diag = solved[2]
    ed = np.maximum(((gcov - s2e * diag[sys_.p :]) @ lams.T) / s2, 0.0) if K else np.zeros(0)
    return solved, gcov, ed


def _loglik(sys_, y, w, g, s2e, gcov, s2g, logdet_c, p_fixed) -> float:
    """Restricted log-likelihood from Henderson's equations (see :mod:`core.mme`)."""
    n = y.size
    ypy = (sys_.yy - w @ sys_.Wy - g @ sys_.Ny) / s2e
    logdet = (n - p_fixed) * np.log(s2e) + np.sum(np.log(gcov / s2e)) + logdet_c
    if s2g is not None:
        logdet += sys_.ng * np.log(s2g / s2e)
    return float(-0.5 * ((n - p_fixed) * np.log(2 * np.pi) + logdet + ypy))
