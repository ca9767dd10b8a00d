"""Single-kernel REML: ``y = X b + g + e``, ``g ~ N(0, s2g K)``, ``e ~ N(0, s2e I)``.

The restricted likelihood (Patterson & Thompson 1971) is profiled over
``s2e`` and maximised over ``lambda = s2g / s2e`` on a log grid followed by
Brent's method, exactly as in EMMA/GEMMA (Kang et al. 2008, *Genetics*
178:1709; Zhou & Stephens 2012, *Nat Genet* 44:821). The kernel of the
training set is reduced once, ``K = Q T Q'`` (:class:`~breedomics.gs.linalg.
Tridiagonal`), so each likelihood evaluation costs O(n) and several traits
share the reduction.

Standard errors of ``(s2g, s2e)`` come from the inverse of the average
information matrix ``AI_kl = 1/2 y'P V_k P V_l P y`` (Gilmour, Thompson &
Cullis 1995, *Biometrics* 51:1440); the standard error of the heritability is
then obtained by the delta method.

The heritability is reported on the scale of the kernel's mean diagonal,
``h2 = s2g m / (s2g m + s2e)`` with ``m = tr(K)/n``: this is GEMMA's PVE, and
it does not depend on how the kernel is scaled (VanRaden's ``G`` of inbred
lines has ``m`` close to 2, a Gaussian kernel has ``m = 1``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sl
from scipy.optimize import minimize_scalar

from breedomics.core.linalg import Tridiagonal, single_thread

__all__ = ["RemlFit", "KernelREML", "blup_pev"]

_LOG10_LAMBDA = (-5.0, 5.0)


@dataclass
class RemlFit:
    """REML estimates of one trait on one training set.

    Attributes
    ----------
    sigma_g, sigma_e : float
        Genetic (kernel) and residual variance.
    h2 : float
        ``s2g m / (s2g m + s2e)`` with ``m`` the mean kernel diagonal.
    se_sigma_g, se_sigma_e, se_h2 : float
        Standard errors from the inverse average-information matrix.
    loglik : float
        Maximised restricted log-likelihood.
    beta, se_beta : numpy.ndarray
        GLS fixed effects and their standard errors.
    lam : float
        ``s2g / s2e``.
    mean_diag : float
        ``m``.
    n : int
        Records used.
    py : numpy.ndarray
        ``P y`` in the original sample order (``V^-1 (y - X b)``).
    boundary : bool
        True if ``lam`` hit a bound of the search interval.
    """

    sigma_g: float
    sigma_e: float
    h2: float
    se_sigma_g: float
    se_sigma_e: float
    se_h2: float
    loglik: float
    beta: np.ndarray
    se_beta: np.ndarray
    lam: float
    mean_diag: float
    n: int
    py: np.ndarray = field(repr=False)
    boundary: bool = False
    ai: np.ndarray | None = field(default=None, repr=False)

    def varcomp_rows(self, trait: str, model: str = "GBLUP") -> list[dict]:
        """Rows for a variance-component table."""
        return [
            dict(
                model=model,
                trait=trait,
                component="sigma2_g",
                estimate=self.sigma_g,
                se=self.se_sigma_g,
            ),
            dict(
                model=model,
                trait=trait,
                component="sigma2_e",
                estimate=self.sigma_e,
                se=self.se_sigma_e,
            ),
            dict(model=model, trait=trait, component="h2", estimate=self.h2, se=self.se_h2),
            dict(
                model=model, trait=trait, component="loglik_reml", estimate=self.loglik, se=np.nan
            ),
        ]


class KernelREML:
    """REML for any number of traits sharing one training kernel.

    Parameters
    ----------
    K : numpy.ndarray
        ``(n, n)`` kernel of the training samples.
    single : bool
        Tridiagonalise in float32 (faster; see :class:`Tridiagonal`).
    """

    def __init__(self, K: np.ndarray, single: bool = False):
        self.tri = Tridiagonal(K, single=single)
        self.n = K.shape[0]
        self.mean_diag = float(np.trace(K)) / self.n

    # ------------------------------------------------------------------ likelihood
    def _profile(self, lam: float, yt: np.ndarray, Xt: np.ndarray, logdet_xx: float):
        """Profile REML log-likelihood at ``lam``; returns (ll, s2e, beta, Cinv)."""
        n, q = Xt.shape
        cb = self.tri.shifted_factor(lam, 1.0)
        logdet_h = self.tri.factor_logdet(cb)
        sol = self.tri.factor_solve(cb, np.column_stack([yt, Xt]))
        hy, hx = sol[:, 0], sol[:, 1:]
        xhx = Xt.T @ hx
        xhy = Xt.T @ hy
        c = sl.cho_factor(xhx, lower=True, check_finite=False)
        beta = sl.cho_solve(c, xhy, check_finite=False)
        ypy = float(yt @ hy - xhy @ beta)
        df = n - q
        s2 = max(ypy / df, 1e-300)
        logdet_xhx = 2.0 * float(np.sum(np.log(np.diag(c[0]))))
        ll = -0.5 * (df * (np.log(2 * np.pi * s2) + 1.0) + logdet_h + logdet_xhx - logdet_xx)
        return ll, s2, beta, c

    def fit(self, y: np.ndarray, X: np.ndarray | None = None, n_grid: int = 41) -> RemlFit:
        """Estimate variance components, fixed effects and ``P y`` (see :meth:`_fit`)."""
        with single_thread():
            return self._fit(y, X, n_grid)

    def _fit(self, y: np.ndarray, X: np.ndarray | None = None, n_grid: int = 41) -> RemlFit:
        """Estimate variance components, fixed effects and ``P y``.

        Parameters
        ----------
        y : numpy.ndarray
            ``(n,)`` phenotypes of the training samples (no missing values).
        X : numpy.ndarray, optional
            ``(n, q)`` full-rank fixed-effect design (default intercept).
        n_grid : int
            Points of the log10(lambda) grid on [-5, 5] before Brent refinement.
        """
        y = np.asarray(y, dtype=np.float64)
        n = self.n
        X = np.ones((n, 1)) if X is None else np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X[:, None]
        if y.shape[0] != n or X.shape[0] != n:
            raise ValueError("y and X must have one row per training sample")
        q = X.shape[1]
        if n - q < 2:
            raise ValueError(f"{n} records cannot estimate {q} fixed effects and 2 variances")
        tr = self.tri.qt(np.column_stack([y, X]))
        yt, Xt = tr[:, 0], tr[:, 1:]
        logdet_xx = 2.0 * float(np.sum(np.log(np.abs(np.diag(sl.qr(X, mode="r")[0])))))

        def neg(lg: float) -> float:
            try:
                return -self._profile(10.0**lg, yt, Xt, logdet_xx)[0]
            except (np.linalg.LinAlgError, sl.LinAlgError):
                return np.inf

        grid = np.linspace(*_LOG10_LAMBDA, n_grid)
        vals = np.array([neg(g) for g in grid])
        k = int(np.argmin(vals))
        lo = grid[max(k - 1, 0)]
        hi = grid[min(k + 1, n_grid - 1)]
        res = minimize_scalar(neg, bounds=(lo, hi), method="bounded", options={"xatol": 1e-7})
        lg = float(res.x) if res.fun <= vals[k] else float(grid[k])
        boundary = lg <= _LOG10_LAMBDA[0] + 1e-3 or lg >= _LOG10_LAMBDA[1] - 1e-3
        lam = 10.0**lg
        ll, s2e, beta, _ = self._profile(lam, yt, Xt, logdet_xx)
        s2g = lam * s2e
        return self._finish(yt, Xt, s2g, s2e, ll, boundary)

    def fit_fixed(self, y: np.ndarray, X: np.ndarray | None, sigma_g: float, sigma_e: float):
        """BLUP quantities for given variance components (no estimation)."""
        with single_thread():
            return self._fit_fixed(y, X, sigma_g, sigma_e)

    def _fit_fixed(self, y, X, sigma_g, sigma_e):
        y = np.asarray(y, dtype=np.float64)
        X = np.ones((self.n, 1)) if X is None else np.asarray(X, dtype=np.float64)
        tr = self.tri.qt(np.column_stack([y, X]))
        return self._finish(tr[:, 0], tr[:, 1:], sigma_g, sigma_e, np.nan, False, with_se=False)

    def cv_predictions(
        self, y: np.ndarray, X: np.ndarray | None, fit: RemlFit, fold: np.ndarray
    ) -> np.ndarray:
        """Held-out predictions ``X_f b_-f + u_f|-f`` of each fold from the others.

        With the variance components of ``fit`` fixed, the prediction residuals of
        fold ``f`` from a model fitted without it are ``P_ff^-1 (P y)_f`` (``P`` the
        REML projection of the whole training set; fixed effects re-estimated without
        the fold), so k-fold cross-validation costs one product with ``Q'`` instead of
        k refits (Gianola & Schoen 2016, *G3* 6:3107).
        """
        with single_thread():
            y = np.asarray(y, dtype=np.float64)
            X = np.ones((self.n, 1)) if X is None else np.asarray(X, dtype=np.float64)
            tri = self.tri
            cb = tri.shifted_factor(fit.sigma_g, fit.sigma_e)
            Xt = tri.qt(X)
            vx = tri.factor_solve(cb, Xt)
            cinv = np.linalg.pinv(Xt.T @ vx)
            if getattr(self, "_qt_eye", None) is None:
                self._qt_eye = tri.qt(np.eye(self.n))  # Q' (columns: samples)
            pred = np.empty(self.n)
            fold = np.asarray(fold)
            for f in np.unique(fold):
                idx = np.flatnonzero(fold == f)
                Zf = self._qt_eye[:, idx]
                W = tri.factor_solve(cb, Zf)
                W -= vx @ (cinv @ (Xt.T @ W))
                Pff = Zf.T @ W
                r = np.linalg.lstsq(Pff, fit.py[idx], rcond=None)[0]
                pred[idx] = y[idx] - r
            return pred

    def _finish(self, yt, Xt, s2g, s2e, ll, boundary, with_se: bool = True) -> RemlFit:
        tri = self.tri
        cb = tri.shifted_factor(s2g, s2e)

        def vinv(z):
            return tri.factor_solve(cb, z)

        vx = vinv(Xt)
        xvx = Xt.T @ vx
        cx = sl.cho_factor(xvx, lower=True, check_finite=False)
        cinv = sl.cho_solve(cx, np.eye(xvx.shape[0]), check_finite=False)

        def proj(z):
            vz = vinv(z)
            return vz - vx @ (cinv @ (Xt.T @ vz))

        vy = vinv(yt)
        beta = cinv @ (Xt.T @ vy)
        py_t = proj(yt)
        se_beta = np.sqrt(np.maximum(np.diag(cinv), 0.0))
        m = self.mean_diag
        h2 = s2g * m / (s2g * m + s2e)
        se_g = se_e = se_h2 = np.nan
        ai = None
        if with_se:
            u = np.column_stack([tri.matvec(py_t), py_t])
            pu = proj(u)
            ai = 0.5 * (u.T @ pu)
            try:
                cov = np.linalg.inv(ai)
                if boundary or np.any(np.diag(cov) < 0):
                    raise np.linalg.LinAlgError
                se_g, se_e = np.sqrt(np.diag(cov))
                den = (s2g * m + s2e) ** 2
                grad = np.array([m * s2e / den, -s2g * m / den])
                se_h2 = float(np.sqrt(max(grad @ cov @ grad, 0.0)))
            except np.linalg.LinAlgError:
                warnings.warn(
                    "REML estimate on the boundary of the parameter space; "
                    "standard errors are not reported",
                    stacklevel=3,
                )
        py = tri.q(py_t)
        return RemlFit(
            sigma_g=float(s2g),
            sigma_e=float(s2e),
            h2=float(h2),
            se_sigma_g=float(se_g),
            se_sigma_e=float(se_e),
            se_h2=float(se_h2),
            loglik=float(ll),
            beta=beta,
            se_beta=se_beta,
            lam=float(s2g / s2e),
            mean_diag=m,
            n=self.n,
            py=py,
            boundary=bool(boundary),
            ai=ai,
        )


def blup_pev(
    K_tt: np.ndarray,
    K_ct: np.ndarray,
    k_cc_diag: np.ndarray,
    X: np.ndarray,
    sigma_g: float,
    sigma_e: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Prediction-error variances and reliabilities of GBLUP values of candidates.

    ``PEV_c = s2g K_cc - s2g^2 K_ct P K_tc`` with
    ``P = V^-1 - V^-1 X (X'V^-1 X)^-1 X'V^-1`` (Henderson 1975), computed with
    one Cholesky factorisation of ``V = s2g K_tt + s2e I`` and a triangular
    solve for all candidates.

    Returns
    -------
    pev, reliability : numpy.ndarray
        ``reliability = 1 - PEV / (s2g K_cc)``.
    """
    n = K_tt.shape[0]
    V = sigma_g * K_tt + sigma_e * np.eye(n)
    L = sl.cholesky(V, lower=True, check_finite=False)
    A = sl.solve_triangular(L, sigma_g * K_ct.T, lower=True, check_finite=False)
    B = sl.solve_triangular(L, X, lower=True, check_finite=False)
    C = np.linalg.inv(B.T @ B)
    M = A.T @ B
    var_hat = np.einsum("ij,ij->j", A, A) - np.einsum("ij,ij->i", M @ C, M)
    prior = sigma_g * np.asarray(k_cc_diag, dtype=np.float64)
    pev = np.maximum(prior - var_hat, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(prior > 0, 1.0 - pev / prior, 0.0)
    return pev, np.clip(rel, 0.0, 1.0)
