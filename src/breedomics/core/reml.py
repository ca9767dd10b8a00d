"""Single-kernel REML and ML, BLUP and prediction-error variances.

Model (Kang et al. 2008, *Genetics* 178:1709, "EMMA"; Zhou & Stephens 2012,
*Nat Genet* 44:821, "GEMMA")::

    y = X b + g + e,   g ~ N(0, s2g K),   e ~ N(0, s2e I)

With ``lambda = s2g / s2e`` and ``H = lambda K + I``, the residual variance is
profiled out: ``s2e = y'P_H y / df`` (``P_H`` the REML projection given
``X`` in the metric ``H``; ``df = n - q`` for REML, ``n`` for ML), which
leaves a likelihood in ``lambda`` alone::

    l_R(lambda) = -1/2 [df (log(2 pi s2e) + 1) + log|H| + log|X'H^-1 X| - log|X'X|]

(the last term is GEMMA's constant). It is maximised once for every caller by
:func:`maximise_ratio`: the log-likelihood is evaluated on a grid of
``log lambda`` and the best grid point refined by Brent's method between its
neighbours (GEMMA searches ten regions with Brent/Newton; both find the same
maximum). The grid, the tolerance and the width of the "at a bound" test are
a :class:`RatioSearch`; GWAS and genomic selection keep their own
(:data:`GEMMA_SEARCH`, :data:`KERNEL_SEARCH`), so that their results do not
change.

The kernel is represented in one of two ways, which only change how
``log|H|`` and the quadratic forms are computed:

* an eigendecomposition ``K = U diag(s) U'`` shared by many traits or
  variants (GWAS, :func:`eigen_loglik`, :func:`fit_eigen`): every quantity
  is a weighted sum over eigen-components with weights ``1/(lambda s_i + 1)``
  of outer products of the rotated data (the *moments*); rows may aggregate
  components with equal eigenvalues (the null space of a low-rank kinship);
* a Householder tridiagonalisation ``K = Q T Q'``
  (:class:`~breedomics.core.linalg.Tridiagonal`) when the eigenvectors are
  never needed (genomic selection, :class:`KernelREML`): ``T + delta I`` is
  factorised by a banded Cholesky in O(n) per ``lambda``.

Variance components are ``s2e`` and ``s2g = lambda s2e``; the heritability is
reported on the scale of the kernel's mean diagonal,
``h2 = s2g m / (s2g m + s2e)`` with ``m = tr(K)/n`` (GEMMA's PVE; it does not
depend on how the kernel is scaled). Its standard error is either

* the delta method on the observed information of ``lambda`` (the curvature
  of the profile log-likelihood, as GEMMA reports ``se(pve)``;
  :func:`fit_eigen`), or
* the delta method on the inverse average-information matrix of
  ``(s2g, s2e)``, ``AI_kl = 1/2 y'P V_k P V_l P y`` (Gilmour, Thompson &
  Cullis 1995, *Biometrics* 51:1440; :func:`average_information`), which
  also gives standard errors of the two variances (:class:`KernelREML`).

BLUPs of genetic values of any sample ``c`` are ``s2g K_ct P y``
(Henderson 1975, *Biometrics* 31:423); their prediction-error variances and
reliabilities come from :func:`blup_pev`.

References
----------
Patterson HD, Thompson R (1971) Recovery of inter-block information when block
sizes are unequal. *Biometrika* 58:545.
Kang HM et al. (2008) Efficient control of population structure in model
organism association mapping. *Genetics* 178:1709.
Zhou X, Stephens M (2012) Genome-wide efficient mixed-model analysis for
association studies. *Nat Genet* 44:821.
Gilmour AR, Thompson R, Cullis BR (1995) Average information REML: an
efficient algorithm for variance parameter estimation in linear mixed models.
*Biometrics* 51:1440.
Henderson CR (1975) Best linear unbiased estimation and prediction under a
selection model. *Biometrics* 31:423.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sl
from scipy import optimize

from breedomics.core.linalg import Tridiagonal, single_thread

__all__ = [
    "RatioSearch",
    "GEMMA_SEARCH",
    "KERNEL_SEARCH",
    "maximise_ratio",
    "RemlFit",
    "eigen_moments",
    "eigen_loglik",
    "fit_eigen",
    "KernelREML",
    "heritability",
    "delta_se",
    "average_information",
    "blup_pev",
]

_LN2PI = float(np.log(2 * np.pi))


# --------------------------------------------------------------------------- search
@dataclass(frozen=True)
class RatioSearch:
    """Where and how finely :func:`maximise_ratio` searches ``lambda``.

    The search coordinate is ``t = log_base(lambda)`` on ``[lo, hi]``.

    Attributes
    ----------
    lo, hi : float
        Bounds of ``t``.
    points : int
        Grid points on ``[lo, hi]`` (both ends included).
    base : float
        ``numpy.e`` (``t = ln lambda``) or 10 (``t = log10 lambda``).
    xatol : float
        Absolute tolerance of Brent's method in ``t``.
    maxiter : int
        Iterations of Brent's method.
    bound_tol : float
        The optimum is "at a bound" within this distance (in ``t``) of
        ``lo`` or ``hi``.
    """

    lo: float
    hi: float
    points: int
    base: float
    xatol: float
    maxiter: int
    bound_tol: float

    def grid(self) -> np.ndarray:
        """The grid of ``t``."""
        return np.linspace(self.lo, self.hi, self.points)

    def ratio(self, t: np.ndarray) -> np.ndarray:
        """``lambda`` at coordinates ``t`` (an array)."""
        if self.base == np.e:
            return np.exp(t)
        return np.array([self.base ** float(x) for x in np.atleast_1d(t)])

    def at_bound(self, t: float) -> bool:
        """``t`` lies within ``bound_tol`` of ``lo`` or ``hi``."""
        return bool(t <= self.lo + self.bound_tol or t >= self.hi - self.bound_tol)


#: GWAS null models: 201 points of ``ln lambda`` on GEMMA's ``[ln 1e-5, ln 1e5]``
#: (``-lmin``/``-lmax``), Brent to 1e-10, at a bound within 1e-6.
GEMMA_SEARCH = RatioSearch(
    lo=float(np.log(1e-5)),
    hi=float(np.log(1e5)),
    points=201,
    base=float(np.e),
    xatol=1e-10,
    maxiter=200,
    bound_tol=1e-6,
)
#: Genomic-selection kernel models: 41 points of ``log10 lambda`` on ``[-5, 5]``,
#: Brent to 1e-7 (scipy's default 500 iterations), at a bound within 1e-3.
KERNEL_SEARCH = RatioSearch(
    lo=-5.0, hi=5.0, points=41, base=10.0, xatol=1e-7, maxiter=500, bound_tol=1e-3
)


def maximise_ratio(
    loglik: Callable[[np.ndarray], np.ndarray], search: RatioSearch
) -> tuple[float, float, bool]:
    """Maximise a profile log-likelihood over the variance ratio: grid, then Brent.

    Parameters
    ----------
    loglik : callable
        ``loglik(lambdas)`` -> log-likelihoods (arrays of the same length);
        a value that is not finite (a failed factorisation) is never chosen.
    search : RatioSearch
        Grid, tolerances and bounds.

    Returns
    -------
    t, value, at_bound : float, float, bool
        The optimum in the search coordinate, the log-likelihood there and
        whether it lies at a bound of the search interval. The best grid point
        is kept when Brent's refinement between its neighbours does not beat it.
    """
    grid = search.grid()
    vals = np.asarray(loglik(search.ratio(grid)), dtype=np.float64)
    vals = np.where(np.isfinite(vals), vals, -np.inf)
    i = int(np.argmax(vals))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]

    def neg(x: float) -> float:
        v = float(loglik(search.ratio(np.array([x])))[0])
        return -v if np.isfinite(v) else np.inf

    res = optimize.minimize_scalar(
        neg,
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": search.xatol, "maxiter": search.maxiter},
    )
    best_t, best_v = float(res.x), -float(res.fun)
    if vals[i] > best_v:
        best_t, best_v = float(grid[i]), float(vals[i])
    return best_t, best_v, search.at_bound(best_t)


# --------------------------------------------------------------------------- results
@dataclass
class RemlFit:
    """REML (or ML) estimates of one trait with one kernel.

    Attributes
    ----------
    sigma_g, sigma_e : float
        Genetic (kernel) and residual variance.
    h2 : float
        ``s2g m / (s2g m + s2e)`` with ``m`` the mean kernel diagonal.
    se_sigma_g, se_sigma_e, se_h2 : float
        Standard errors (NaN where not computed, or at a bound).
    loglik : float
        Maximised restricted (or ML) log-likelihood.
    beta, se_beta : numpy.ndarray
        GLS fixed effects and their standard errors.
    lam : float
        ``s2g / s2e``.
    mean_diag : float
        ``m``.
    n : int
        Records used.
    py : numpy.ndarray or None
        ``P y = V^-1 (y - X b)`` in the original sample order (kernel fits).
    boundary : bool
        True if ``lam`` is at a bound of the search interval.
    ai : numpy.ndarray or None
        Average-information matrix of ``(s2g, s2e)``.
    method : str
        ``"reml"`` or ``"ml"``.
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
    py: np.ndarray | None = field(default=None, repr=False)
    boundary: bool = False
    ai: np.ndarray | None = field(default=None, repr=False)
    method: str = "reml"

    def varcomp_rows(self, trait: str, model: str = "GBLUP") -> list[dict]:
        """Rows ``model, trait, component, estimate, se`` of a variance-component table."""
        comps = [
            ("sigma2_g", self.sigma_g, self.se_sigma_g),
            ("sigma2_e", self.sigma_e, self.se_sigma_e),
            ("h2", self.h2, self.se_h2),
            ("loglik_reml", self.loglik, np.nan),
        ]
        return [dict(model=model, trait=trait, component=c, estimate=e, se=s) for c, e, s in comps]


def heritability(sigma_g: float, sigma_e: float, mean_diag: float) -> float:
    """``s2g m / (s2g m + s2e)``: the share of variance due to the kernel (GEMMA's PVE)."""
    return float(sigma_g * mean_diag / (sigma_g * mean_diag + sigma_e))


def delta_se(grad: np.ndarray, cov: np.ndarray) -> float:
    """Delta-method standard error ``sqrt(grad' cov grad)`` of a function of the parameters."""
    return float(np.sqrt(max(grad @ cov @ grad, 0.0)))


def average_information(vpy: np.ndarray, project: Callable[[np.ndarray], np.ndarray]):
    """Average-information matrix ``AI_kl = 1/2 (V_k P y)' P (V_l P y)``.

    Parameters
    ----------
    vpy : numpy.ndarray
        ``(n, k)`` columns ``V_k P y`` (``V_k = dV / d sigma_k``: a kernel, or
        the identity for the residual).
    project : callable
        ``z -> P z`` for the REML projection ``P`` at the current estimates.

    Returns
    -------
    numpy.ndarray
        ``(k, k)`` matrix, the average of the observed and expected
        information (Gilmour, Thompson & Cullis 1995).
    """
    return 0.5 * (vpy.T @ project(vpy))


# --------------------------------------------------------------------------- eigen form
def eigen_moments(z: np.ndarray) -> np.ndarray:
    """Outer products ``z_i z_i'`` of the rotated rows ``z = U'[X, y]`` (``(n, q+1, q+1)``)."""
    return z[:, :, None] * z[:, None, :]


def eigen_loglik(
    lam: np.ndarray,
    s: np.ndarray,
    moments: np.ndarray,
    n: int,
    c: int,
    logdet_wtw: float,
    method: str = "reml",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Profile log-likelihood at several ``lambda`` from an eigendecomposition.

    Parameters
    ----------
    lam : numpy.ndarray
        Variance ratios ``s2g / s2e``.
    s : numpy.ndarray
        Eigenvalues, one per row of ``moments`` (rows may aggregate several
        components with the same eigenvalue, e.g. the null space of a
        low-rank kinship).
    moments : numpy.ndarray
        ``(rows, c+1, c+1)`` outer products of the rotated ``[X, y]``
        (:func:`eigen_moments`).
    n : int
        Number of samples.
    c : int
        Number of fixed effects.
    logdet_wtw : float
        ``log|X'X|`` (REML constant, as in GEMMA).
    method : str
        ``"reml"`` or ``"ml"``.

    Returns
    -------
    loglik, ypy, coef, logdet : numpy.ndarray
        Log-likelihoods, ``y'P_H y``, GLS coefficients ``(len(lam), c)`` and
        ``log|X'H^-1 X|``.
    """
    lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
    w = 1.0 / (lam[:, None] * s[None, :] + 1.0)
    a = np.tensordot(w, moments, axes=(1, 0))  # (L, q, q)
    a_ww = a[:, :c, :c]
    a_wy = a[:, :c, c]
    a_yy = a[:, c, c]
    chol = np.linalg.cholesky(a_ww)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    coef = np.linalg.solve(a_ww, a_wy[:, :, None])[:, :, 0]
    ypy = a_yy - np.einsum("lc,lc->l", a_wy, coef)
    # rows of s beyond the real eigen-components carry eigenvalue 0 -> log 1 = 0
    sumlog = np.log1p(lam[:, None] * s[None, :]).sum(axis=1)
    if method == "reml":
        d = n - c
        ll = (
            0.5 * d * (np.log(d) - _LN2PI - 1.0)
            - 0.5 * sumlog
            - 0.5 * logdet
            + 0.5 * logdet_wtw
            - 0.5 * d * np.log(ypy)
        )
    elif method == "ml":
        ll = 0.5 * n * (np.log(n) - _LN2PI - 1.0) - 0.5 * sumlog - 0.5 * n * np.log(ypy)
    else:
        raise ValueError(f"unknown method {method!r}")
    return ll, ypy, coef, logdet


def fit_eigen(
    s: np.ndarray,
    wt: np.ndarray,
    yt: np.ndarray,
    trace_mean: float,
    method: str = "reml",
    n: int | None = None,
    moments: np.ndarray | None = None,
    logdet_wtw: float | None = None,
    search: RatioSearch = GEMMA_SEARCH,
) -> RemlFit:
    """REML or ML fit from an eigendecomposition of the kernel.

    Parameters
    ----------
    s : numpy.ndarray
        Kernel eigenvalues.
    wt, yt : numpy.ndarray
        Rotated covariates ``U'X`` and trait ``U'y``.
    trace_mean : float
        ``trace(K)/n``, for the heritability.
    method : str
        ``"reml"`` or ``"ml"``.
    n : int, optional
        Number of samples (default ``len(yt)``).
    moments : numpy.ndarray, optional
        Precomputed moments (override ``wt``/``yt``; low-rank kinships).
    logdet_wtw : float, optional
        ``log|X'X|`` (default from ``wt``, which has the same Gram matrix).
    search : RatioSearch
        Grid and tolerances (default GEMMA's range, as GWAS uses).

    Returns
    -------
    RemlFit
        With ``se_h2`` from the observed information of ``lambda`` (GEMMA's
        ``se(pve)``); ``se_sigma_g``, ``se_sigma_e`` and ``py`` are not
        computed.
    """
    c = wt.shape[1]
    n = len(yt) if n is None else n
    if moments is None:
        moments = eigen_moments(np.column_stack([wt, yt]))
    if logdet_wtw is None:
        logdet_wtw = float(np.linalg.slogdet(wt.T @ wt)[1])

    def ll_at(lam: np.ndarray) -> np.ndarray:
        return eigen_loglik(lam, s, moments, n, c, logdet_wtw, method)[0]

    u_hat, best, at_bound = maximise_ratio(ll_at, search)
    lam = float(search.ratio(np.array([u_hat]))[0])
    _, ypy, coef, _ = eigen_loglik(np.array([lam]), s, moments, n, c, logdet_wtw, method)
    ve = float(ypy[0] / ((n - c) if method == "reml" else n))
    vg = lam * ve
    w = 1.0 / (lam * s + 1.0)
    a_ww = np.tensordot(w, moments[:, :c, :c], axes=(0, 0))
    return RemlFit(
        sigma_g=vg,
        sigma_e=ve,
        h2=heritability(vg, ve, trace_mean),
        se_sigma_g=np.nan,
        se_sigma_e=np.nan,
        se_h2=_h2_se_observed(ll_at, u_hat if search.base == np.e else np.log(lam), trace_mean),
        loglik=best,
        beta=coef[0],
        se_beta=np.sqrt(np.diag(np.linalg.inv(a_ww)) * ve),
        lam=lam,
        mean_diag=float(trace_mean),
        n=n,
        boundary=at_bound,
        method=method,
    )


def _h2_se_observed(ll_at: Callable, u: float, m: float, h: float = 1e-3) -> float:
    """SE of ``h2`` by the delta method on the observed information of ``lambda``.

    The curvature is taken at ``u = ln lambda`` by central differences of step
    ``h`` and converted, ``l_lamlam = (l_uu - l_u) / lambda^2`` (``l_u``
    vanishes at an interior optimum); NaN where the curvature is not negative.
    """
    lam = float(np.exp(u))
    ll3 = ll_at(np.exp(np.array([u - h, u, u + h])))
    luu = (ll3[0] - 2 * ll3[1] + ll3[2]) / h**2
    lu = (ll3[2] - ll3[0]) / (2 * h)
    l_lamlam = (luu - lu) / lam**2
    if not l_lamlam < 0:
        return float("nan")
    return float(m / (m * lam + 1.0) ** 2 * np.sqrt(-1.0 / l_lamlam))


# --------------------------------------------------------------------------- tridiagonal form
class KernelREML:
    """REML for any number of traits sharing one training kernel (tridiagonal form).

    Parameters
    ----------
    K : numpy.ndarray
        ``(n, n)`` kernel of the training samples.
    single : bool
        Tridiagonalise in float32 (faster; see
        :class:`~breedomics.core.linalg.Tridiagonal`).
    """

    def __init__(self, K: np.ndarray, single: bool = False):
        self.tri = Tridiagonal(K, single=single)
        self.n = K.shape[0]
        self.mean_diag = float(np.trace(K)) / self.n

    def _profile(self, lam: float, yt: np.ndarray, Xt: np.ndarray, logdet_xx: float):
        """Profile REML log-likelihood at ``lam``; returns (ll, s2e, beta, chol(X'H^-1 X))."""
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

    def _design(self, y, X) -> tuple[np.ndarray, np.ndarray]:
        y = np.asarray(y, dtype=np.float64)
        X = np.ones((self.n, 1)) if X is None else np.asarray(X, dtype=np.float64)
        return y, (X[:, None] if X.ndim == 1 else X)

    def fit(
        self,
        y: np.ndarray,
        X: np.ndarray | None = None,
        search: RatioSearch = KERNEL_SEARCH,
    ) -> RemlFit:
        """Estimate variance components, fixed effects and ``P y``.

        Parameters
        ----------
        y : numpy.ndarray
            ``(n,)`` phenotypes of the training samples (no missing values).
        X : numpy.ndarray, optional
            ``(n, q)`` full-rank fixed-effect design (default intercept).
        search : RatioSearch
            Grid and tolerances (:data:`KERNEL_SEARCH`: 41 points of
            ``log10 lambda`` in ``[-5, 5]`` before Brent's refinement).
        """
        with single_thread():
            return self._fit(y, X, search)

    def _fit(self, y: np.ndarray, X: np.ndarray | None, search: RatioSearch) -> RemlFit:
        y, X = self._design(y, X)
        n = self.n
        if y.shape[0] != n or X.shape[0] != n:
            raise ValueError("y and X must have one row per training sample")
        q = X.shape[1]
        if n - q < 2:
            raise ValueError(f"{n} records cannot estimate {q} fixed effects and 2 variances")
        tr = self.tri.qt(np.column_stack([y, X]))
        yt, Xt = tr[:, 0], tr[:, 1:]
        logdet_xx = 2.0 * float(np.sum(np.log(np.abs(np.diag(sl.qr(X, mode="r")[0])))))

        def ll_at(lams: np.ndarray) -> np.ndarray:
            out = np.empty(len(lams))
            for k, lam in enumerate(lams):
                try:
                    out[k] = self._profile(lam, yt, Xt, logdet_xx)[0]
                except (np.linalg.LinAlgError, sl.LinAlgError):
                    out[k] = -np.inf
            return out

        lg, _, boundary = maximise_ratio(ll_at, search)
        lam = float(search.ratio(np.array([lg]))[0])
        ll, s2e, _, _ = self._profile(lam, yt, Xt, logdet_xx)
        return self._finish(yt, Xt, lam * s2e, s2e, ll, boundary)

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
            y, X = self._design(y, X)
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

    def _finish(self, yt, Xt, s2g, s2e, ll, boundary) -> RemlFit:
        """GLS fixed effects, ``P y`` and average-information SEs."""
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

        beta = cinv @ (Xt.T @ vinv(yt))
        py_t = proj(yt)
        m = self.mean_diag
        se_g = se_e = se_h2 = np.nan
        ai = average_information(np.column_stack([tri.matvec(py_t), py_t]), proj)
        try:
            cov = np.linalg.inv(ai)
            if boundary or np.any(np.diag(cov) < 0):
                raise np.linalg.LinAlgError
            se_g, se_e = np.sqrt(np.diag(cov))
            den = (s2g * m + s2e) ** 2
            se_h2 = delta_se(np.array([m * s2e / den, -s2g * m / den]), cov)
        except np.linalg.LinAlgError:
            warnings.warn(
                "REML estimate on the boundary of the parameter space; "
                "standard errors are not reported",
                stacklevel=4,
            )
        return RemlFit(
            sigma_g=float(s2g),
            sigma_e=float(s2e),
            h2=heritability(s2g, s2e, m),
            se_sigma_g=float(se_g),
            se_sigma_e=float(se_e),
            se_h2=float(se_h2),
            loglik=float(ll),
            beta=beta,
            se_beta=np.sqrt(np.maximum(np.diag(cinv), 0.0)),
            lam=float(s2g / s2e),
            mean_diag=m,
            n=self.n,
            py=tri.q(py_t),
            boundary=bool(boundary),
            ai=ai,
        )


# --------------------------------------------------------------------------- BLUP / PEV
def blup_pev(
    K_tt: np.ndarray,
    K_ct: np.ndarray,
    k_cc_diag: np.ndarray,
    X: np.ndarray,
    sigma_g: float,
    sigma_e: float,
    V: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Prediction-error variances and reliabilities of BLUPs of candidates.

    ``PEV_c = s2g K_cc - s2g^2 K_ct P K_tc`` with
    ``P = V^-1 - V^-1 X (X'V^-1 X)^-1 X'V^-1`` (Henderson 1975), computed with
    one Cholesky factorisation of ``V`` and a triangular solve for all
    candidates.

    Parameters
    ----------
    K_tt : numpy.ndarray
        ``(n, n)`` kernel of the training samples.
    K_ct : numpy.ndarray
        ``(m, n)`` kernel between candidates and training samples.
    k_cc_diag : numpy.ndarray
        ``(m,)`` kernel diagonal of the candidates.
    X : numpy.ndarray
        ``(n, q)`` fixed-effect design of the training samples.
    sigma_g, sigma_e : float
        Variance of this kernel's component and residual variance.
    V : numpy.ndarray, optional
        Phenotypic covariance of the training samples, when the model has
        further random components (default ``s2g K_tt + s2e I``).

    Returns
    -------
    pev, reliability : numpy.ndarray
        ``reliability = 1 - PEV / (s2g K_cc)``.
    """
    n = K_tt.shape[0]
    if V is None:
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
