"""Average-information REML: several kernels, several traits.

Two models share one average-information (AI) iteration (:func:`ai_reml`):

* **Multi-kernel** (:func:`fit_kernels`), one trait and any number of
  random components with known kernels, e.g. a genomic relationship matrix
  and transcriptome or metabolome kernels::

      y = X b + sum_k g_k + e,   g_k ~ N(0, s2_k K_k),   e ~ N(0, s2e I)

  The restricted log-likelihood (Patterson & Thompson 1971), with
  ``V = sum_k s2_k K_k + s2e I`` and ``P = V^-1 - V^-1 X (X'V^-1 X)^-1 X'V^-1``,
  is::

      l_R = -1/2 [(n - q) log 2 pi + log|V| + log|X'V^-1 X| - log|X'X| + y'P y]

  (``log|X'X|`` is GEMMA's constant, so that with one kernel ``l_R`` equals
  :func:`breedomics.core.reml.KernelREML.fit`'s). Its score is
  ``dl/ds2_k = -1/2 tr(P K_k) + 1/2 y'P K_k P y`` and the average information
  ``AI_kl = 1/2 y'P K_k P K_l P y`` (Gilmour, Thompson & Cullis 1995); with
  one kernel the estimates equal the profile-likelihood maximum of
  :mod:`breedomics.core.reml` (Lee & van der Werf 2006 compare the two
  routes). Variances are kept non-negative: a component at zero whose score
  points below zero is held there (an active-set step), which is how REML
  software reports a boundary estimate. BLUPs of each component are
  ``g_k = s2_k K_k P y``, for any sample given its kernel rows
  (:meth:`MultiKernelFit.blups`), with prediction-error variances from
  :func:`~breedomics.core.reml.blup_pev`.

* **Multi-trait** (:func:`fit_multitrait`), one kernel and ``t`` traits
  (Henderson & Quaas 1976)::

      Y = X B + G + E,   vec(G) ~ N(0, Vg (x) K),   vec(E) ~ N(0, Ve (x) I)

  On complete records, rotating by the eigenvectors of ``K = U D U'`` makes
  the samples independent (``U'Y`` has rows ``~ N(B'x_i, d_i Vg + Ve)``, as
  in GEMMA's mvLMM, Zhou & Stephens 2014), so every REML quantity costs
  O(n t^3); ``(vech Vg, vech Ve)`` are estimated by AI-REML (Meyer 1997 for
  the multivariate case), started from single-trait REML estimates and the
  phenotypic correlations, with step halving that keeps both matrices
  positive definite.

References
----------
Patterson HD, Thompson R (1971) Recovery of inter-block information when block
sizes are unequal. *Biometrika* 58:545.
Gilmour AR, Thompson R, Cullis BR (1995) Average information REML: an
efficient algorithm for variance parameter estimation in linear mixed models.
*Biometrics* 51:1440.
Lee SH, van der Werf JHJ (2006) An efficient variance component approach
implementing an average information REML suitable for combined LD and linkage
mapping with a general complex pedigree. *Genet Sel Evol* 38:25.
Henderson CR, Quaas RL (1976) Multiple trait evaluation using relatives'
records. *J Anim Sci* 43:1188.
Meyer K (1997) An "average information" restricted maximum likelihood
algorithm for estimating reduced rank genetic covariance matrices or
covariance functions for animal models with equal design matrices.
*Genet Sel Evol* 29:97.
Zhou X, Stephens M (2014) Efficient multivariate linear mixed model algorithms
for genome-wide association studies. *Nat Methods* 11:407.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sl

from breedomics.core.linalg import single_thread
from breedomics.core.reml import KernelREML, average_information, blup_pev, delta_se

__all__ = [
    "ai_reml",
    "MultiKernelFit",
    "fit_kernels",
    "fit_multitrait",
    "vech_index",
]

_LN2PI = float(np.log(2 * np.pi))


# --------------------------------------------------------------------------- iteration
def ai_reml(
    theta: np.ndarray,
    setup: Callable[[np.ndarray], float],
    score_ai: Callable[[], tuple[np.ndarray, np.ndarray]],
    constrain: Callable[[np.ndarray], np.ndarray | None],
    held: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    max_iter: int = 100,
    tol: float = 1e-8,
    step_tol: float = 1e-6,
) -> tuple[np.ndarray, float, int, bool]:
    """Average-information REML iteration with step halving.

    Each iteration takes the Newton-type step ``AI^-1 score`` and halves it
    (at most 30 times) until the candidate is feasible and the log-likelihood
    does not decrease (by more than 1e-10).

    Parameters
    ----------
    theta : numpy.ndarray
        Starting parameters.
    setup : callable
        ``setup(theta)`` evaluates the model at ``theta`` (kept as the current
        state) and returns its restricted log-likelihood.
    score_ai : callable
        ``score_ai()`` -> ``(score, AI)`` at the current state.
    constrain : callable
        ``constrain(candidate)`` -> a feasible candidate (e.g. clipped to
        non-negative variances) or None if it cannot be used.
    held : callable, optional
        ``held(theta, score)`` -> boolean mask of parameters held where they
        are for this step (a variance at zero whose score points below zero).
    max_iter : int
        Iterations.
    tol, step_tol : float
        Converged when the log-likelihood changes by less than ``tol`` and the
        step by less than ``step_tol * max(1, max|theta|)`` in every parameter.

    Returns
    -------
    theta, loglik, iterations, converged
        The state is left at ``theta``. A step that no halving makes
        acceptable means there is no ascent direction left (an optimum, maybe
        on the boundary): reported as converged.
    """
    ll = setup(theta)
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - reported after the loop
        score, AI = score_ai()
        free = np.ones(theta.size, dtype=bool) if held is None else ~held(theta, score)
        step = np.zeros(theta.size)
        try:
            step[free] = np.linalg.solve(AI[np.ix_(free, free)], score[free])
        except np.linalg.LinAlgError:
            step[free] = score[free] * 1e-3
        lam = 1.0
        accepted = False
        for _ in range(30):
            cand = constrain(theta + lam * step)
            if cand is not None:
                ll_c = setup(cand)
                if ll_c >= ll - 1e-10:
                    accepted = True
                    break
            lam *= 0.5
        if not accepted:
            setup(theta)
            converged = True  # no ascent direction left: at a (boundary) optimum
            break
        dll = ll_c - ll
        small = np.max(np.abs(lam * step)) < step_tol * max(1.0, np.abs(theta).max())
        theta, ll = cand, ll_c
        if abs(dll) < tol and small:
            converged = True
            break
    return theta, ll, n_iter, converged


# --------------------------------------------------------------------------- multi-kernel
@dataclass
class MultiKernelFit:
    """AI-REML estimates of a model with several kernels (:func:`fit_kernels`).

    Attributes
    ----------
    sigma : numpy.ndarray
        ``(k,)`` variance of each kernel's component.
    sigma_e : float
        Residual variance.
    se : numpy.ndarray
        ``(k + 1,)`` standard errors of ``(sigma..., sigma_e)`` from the
        inverse average information (NaN for a component held at zero).
    cov : numpy.ndarray
        Inverse average-information matrix of the free parameters, embedded
        in ``(k + 1, k + 1)`` (NaN rows for held ones).
    loglik : float
        Maximised restricted log-likelihood.
    beta, se_beta : numpy.ndarray
        GLS fixed effects and their standard errors.
    py : numpy.ndarray
        ``P y`` of the training samples.
    mean_diag : numpy.ndarray
        ``tr(K_k)/n`` of each kernel.
    at_zero : numpy.ndarray
        Components whose estimate is zero (boundary).
    n, iterations : int
    converged : bool
    """

    sigma: np.ndarray
    sigma_e: float
    se: np.ndarray
    cov: np.ndarray
    loglik: float
    beta: np.ndarray
    se_beta: np.ndarray
    py: np.ndarray = field(repr=False)
    mean_diag: np.ndarray
    at_zero: np.ndarray
    n: int
    iterations: int
    converged: bool

    @property
    def shares(self) -> np.ndarray:
        """Share of the variance due to each kernel, ``s2_k m_k / (sum_j s2_j m_j + s2e)``."""
        v = self.sigma * self.mean_diag
        return v / (v.sum() + self.sigma_e)

    def share_se(self) -> np.ndarray:
        """Delta-method standard errors of :attr:`shares`."""
        k = self.sigma.size
        m = self.mean_diag
        tot = float((self.sigma * m).sum() + self.sigma_e)
        out = np.full(k, np.nan)
        cov = np.nan_to_num(self.cov)
        for j in range(k):
            grad = np.zeros(k + 1)
            grad[:k] = -self.sigma[j] * m[j] * m / tot**2
            grad[j] += m[j] / tot
            grad[k] = -self.sigma[j] * m[j] / tot**2
            if np.isfinite(self.se[: k + 1][grad != 0]).all():
                out[j] = delta_se(grad, cov)
        return out

    def blups(self, cross: Sequence[np.ndarray]) -> np.ndarray:
        """BLUPs ``s2_k K_k[c, t] P y`` of every component for samples ``c``.

        Parameters
        ----------
        cross : sequence of numpy.ndarray
            One ``(m, n)`` block per kernel: rows of the samples to predict,
            columns of the training samples (the training kernels themselves
            give the training samples' BLUPs).

        Returns
        -------
        numpy.ndarray
            ``(m, k)``; their row sums are the total genetic values.
        """
        return np.column_stack(
            [s * (np.asarray(c) @ self.py) for s, c in zip(self.sigma, cross, strict=True)]
        )

    def pev(
        self,
        k: int,
        kernels: Sequence[np.ndarray],
        cross: np.ndarray,
        k_cc_diag: np.ndarray,
        X: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Prediction-error variances and reliabilities of component ``k``'s BLUPs.

        Parameters
        ----------
        k : int
            Component.
        kernels : sequence of numpy.ndarray
            The training kernels of the fit.
        cross : numpy.ndarray
            ``(m, n)`` rows of kernel ``k`` for the samples to predict.
        k_cc_diag : numpy.ndarray
            Their diagonal of kernel ``k``.
        X : numpy.ndarray, optional
            The training design (default intercept).
        """
        n = self.n
        X = np.ones((n, 1)) if X is None else np.asarray(X, dtype=np.float64)
        V = _covariance(self.sigma, self.sigma_e, kernels)
        return blup_pev(kernels[k], cross, k_cc_diag, X, float(self.sigma[k]), self.sigma_e, V=V)

    def varcomp_rows(self, trait: str, model: str, names: Sequence[str]) -> list[dict]:
        """Rows ``model, trait, component, estimate, se`` (``sigma2_<name>``, ``h2_<name>``)."""
        rows = [
            dict(model=model, trait=trait, component=f"sigma2_{nm}", estimate=s, se=se)
            for nm, s, se in zip(names, self.sigma, self.se[:-1], strict=True)
        ]
        rows.append(
            dict(model=model, trait=trait, component="sigma2_e", estimate=self.sigma_e,
                 se=self.se[-1])
        )  # fmt: skip
        rows += [
            dict(model=model, trait=trait, component=f"h2_{nm}", estimate=h, se=se)
            for nm, h, se in zip(names, self.shares, self.share_se(), strict=True)
        ]
        rows.append(
            dict(model=model, trait=trait, component="loglik_reml", estimate=self.loglik, se=np.nan)
        )
        return rows


def _covariance(sigma: np.ndarray, sigma_e: float, kernels: Sequence[np.ndarray]) -> np.ndarray:
    V = sigma_e * np.eye(kernels[0].shape[0])
    for s, K in zip(sigma, kernels, strict=True):
        V += s * K
    return V


class _Dense:
    """REML pieces of ``y = X b + sum_k g_k + e`` at given variances (dense algebra)."""

    def __init__(self, y: np.ndarray, X: np.ndarray, kernels: Sequence[np.ndarray]):
        self.y, self.X, self.kernels = y, X, list(kernels)
        self.n, self.q = X.shape
        self.logdet_xx = float(np.linalg.slogdet(X.T @ X)[1])

    def setup(self, theta: np.ndarray) -> float:
        k = len(self.kernels)
        V = _covariance(theta[:k], float(theta[k]), self.kernels)
        c = sl.cho_factor(V, lower=True, check_finite=False)
        logdet_v = 2.0 * float(np.sum(np.log(np.diag(c[0]))))
        vx = sl.cho_solve(c, self.X, check_finite=False)
        xvx = self.X.T @ vx
        cx = sl.cho_factor(xvx, lower=True, check_finite=False)
        logdet_xvx = 2.0 * float(np.sum(np.log(np.diag(cx[0]))))
        self.cinv = sl.cho_solve(cx, np.eye(self.q), check_finite=False)
        vinv = sl.cho_solve(c, np.eye(self.n), check_finite=False)
        self.P = vinv - vx @ self.cinv @ vx.T
        self.P = 0.5 * (self.P + self.P.T)
        self.beta = self.cinv @ (vx.T @ self.y)
        self.py = self.P @ self.y
        ypy = float(self.y @ self.py)
        return -0.5 * ((self.n - self.q) * _LN2PI + logdet_v + logdet_xvx - self.logdet_xx + ypy)

    def score_ai(self) -> tuple[np.ndarray, np.ndarray]:
        P, py = self.P, self.py
        vpy = np.column_stack([*(K @ py for K in self.kernels), py])
        traces = np.array([*(np.sum(P * K) for K in self.kernels), np.trace(P)])
        score = -0.5 * traces + 0.5 * (vpy.T @ py)
        return score, average_information(vpy, lambda z: P @ z)


def fit_kernels(
    y: np.ndarray,
    kernels: Sequence[np.ndarray],
    X: np.ndarray | None = None,
    start: np.ndarray | None = None,
    max_iter: int = 200,
    tol: float = 1e-10,
    step_tol: float = 1e-8,
) -> MultiKernelFit:
    """REML estimates of a model with several kernels, by average information.

    Parameters
    ----------
    y : numpy.ndarray
        ``(n,)`` phenotypes (no missing values).
    kernels : sequence of numpy.ndarray
        ``(n, n)`` symmetric positive semi-definite kernels of the samples.
    X : numpy.ndarray, optional
        ``(n, q)`` full-rank fixed-effect design (default intercept).
    start : numpy.ndarray, optional
        Starting ``(s2_1, ..., s2_k, s2e)`` (default: the residual variance of
        the fixed effects split equally, each kernel's share divided by its
        mean diagonal).
    max_iter : int
    tol, step_tol : float
        Convergence in log-likelihood and parameters (:func:`ai_reml`).

    Returns
    -------
    MultiKernelFit
    """
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    X = np.ones((n, 1)) if X is None else np.asarray(X, dtype=np.float64)
    kernels = [np.asarray(K, dtype=np.float64) for K in kernels]
    if not kernels or any(K.shape != (n, n) for K in kernels):
        raise ValueError("every kernel must be (n, n) for the n records")
    k = len(kernels)
    if n - X.shape[1] < k + 2:
        raise ValueError(f"{n} records cannot estimate {k + 1} variances and the fixed effects")
    mean_diag = np.array([float(np.trace(K)) / n for K in kernels])
    if start is None:
        resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
        v = float(resid @ resid) / (n - X.shape[1])
        start = np.r_[v / (k + 1) / mean_diag, v / (k + 1)]
    floor = np.r_[np.zeros(k), 1e-10 * max(float(np.var(y)), 1e-300)]
    model = _Dense(y, X, kernels)
    with single_thread():
        theta, ll, iters, conv = ai_reml(
            np.asarray(start, dtype=np.float64),
            model.setup,
            model.score_ai,
            lambda c: np.maximum(c, floor),
            held=lambda th, sc: (th <= floor) & (sc < 0),
            max_iter=max_iter,
            tol=tol,
            step_tol=step_tol,
        )
        score, AI = model.score_ai()
    at_zero = theta[:k] <= 0.0
    free = np.r_[~at_zero, True]
    cov = np.full((k + 1, k + 1), np.nan)
    try:
        cov[np.ix_(free, free)] = np.linalg.inv(AI[np.ix_(free, free)])
    except np.linalg.LinAlgError:
        pass
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.where(np.diag(cov) >= 0, np.diag(cov), np.nan))
    return MultiKernelFit(
        sigma=theta[:k].copy(),
        sigma_e=float(theta[k]),
        se=se,
        cov=cov,
        loglik=float(ll),
        beta=model.beta,
        se_beta=np.sqrt(np.maximum(np.diag(model.cinv), 0.0)),
        py=model.py,
        mean_diag=mean_diag,
        at_zero=at_zero,
        n=n,
        iterations=iters,
        converged=conv,
    )


# --------------------------------------------------------------------------- multi-trait
def vech_index(t: int) -> list[tuple[int, int]]:
    """``(a, b)`` pairs ``a <= b`` of a ``t x t`` symmetric matrix, row by row."""
    return [(a, b) for a in range(t) for b in range(a, t)]


def _unvech(v: np.ndarray, t: int) -> np.ndarray:
    M = np.zeros((t, t))
    for k, (a, b) in enumerate(vech_index(t)):
        M[a, b] = M[b, a] = v[k]
    return M


def _vech(M: np.ndarray) -> np.ndarray:
    return np.array([M[a, b] for a, b in vech_index(M.shape[0])])


def _is_pd(M: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(M)
        return True
    except np.linalg.LinAlgError:
        return False


class _Rotated:
    """REML pieces of the rotated multi-trait model for given (Vg, Ve)."""

    def __init__(self, d: np.ndarray, Yr: np.ndarray, Xr: np.ndarray):
        self.d, self.Yr, self.Xr = d, Yr, Xr
        self.n, self.t = Yr.shape
        self.q = Xr.shape[1]

    def setup(self, Vg: np.ndarray, Ve: np.ndarray) -> float:
        d, X, Y = self.d, self.Xr, self.Yr
        S = d[:, None, None] * Vg[None] + Ve[None]
        L = np.linalg.cholesky(S)
        self.logdet_s = 2.0 * float(np.log(np.diagonal(L, axis1=1, axis2=2)).sum())
        Sinv = np.linalg.inv(S)
        self.Sinv = Sinv
        t, q = self.t, self.q
        C = np.einsum("iab,ik,il->akbl", Sinv, X, X).reshape(t * q, t * q)
        self.cC = sl.cho_factor(C, lower=True)
        self.logdet_c = 2.0 * float(np.log(np.diag(self.cC[0])).sum())
        self.Cinv = sl.cho_solve(self.cC, np.eye(t * q))
        w = np.einsum("iab,ib->ia", Sinv, Y)
        h = np.einsum("ik,ia->ak", X, w).reshape(-1)
        self.B = sl.cho_solve(self.cC, h).reshape(t, q).T  # (q, t)
        R = Y - X @ self.B
        self.Py = np.einsum("iab,ib->ia", Sinv, R)
        self.ypy = float(np.sum(R * self.Py))
        df = self.n * t - t * q
        return -0.5 * (self.logdet_s + self.logdet_c + self.ypy + df * np.log(2 * np.pi))

    def proj(self, U: np.ndarray) -> np.ndarray:
        """``P u`` for ``u`` of shape (n, t)."""
        w = np.einsum("iab,ib->ia", self.Sinv, U)
        h = np.einsum("ik,ia->ak", self.Xr, w).reshape(-1)
        s = (self.Cinv @ h).reshape(self.t, self.q).T  # (q, t)
        return w - np.einsum("iab,ib->ia", self.Sinv, self.Xr @ s)

    def score_ai(self) -> tuple[np.ndarray, np.ndarray]:
        t, q = self.t, self.q
        pairs = vech_index(t)
        Sinv, X, Py, d = self.Sinv, self.Xr, self.Py, self.d
        m = len(pairs)
        score = np.zeros(2 * m)
        us = []
        for comp in range(2):
            c = d if comp == 0 else np.ones_like(d)
            for k, (a, b) in enumerate(pairs):
                E = np.zeros((t, t))
                E[a, b] = E[b, a] = 1.0
                tr1 = float(np.sum(c * np.einsum("iab,ba->i", Sinv, E)))
                F = np.einsum("iab,bc,icd->iad", Sinv, E, Sinv)
                D = np.einsum("i,iab,ik,il->akbl", c, F, X, X).reshape(t * q, t * q)
                tr2 = float(np.sum(self.Cinv * D))
                u = c[:, None] * (Py @ E)
                quad = float(np.sum(Py * u))
                score[comp * m + k] = -0.5 * (tr1 - tr2) + 0.5 * quad
                us.append(u)
        pus = [self.proj(u) for u in us]
        AI = np.array([[0.5 * float(np.sum(ui * pj)) for pj in pus] for ui in us])
        return score, AI


def fit_multitrait(
    K: np.ndarray, Y: np.ndarray, X: np.ndarray, max_iter: int = 100, tol: float = 1e-8
) -> dict:
    """Multi-trait REML on complete records.

    Parameters
    ----------
    K : numpy.ndarray
        ``(n, n)`` kernel of the samples.
    Y : numpy.ndarray
        ``(n, t)`` phenotypes, no missing values.
    X : numpy.ndarray
        ``(n, q)`` fixed-effect design shared by the traits.
    max_iter, tol
        AI iterations and log-likelihood tolerance (:func:`ai_reml`; the
        parameters must also move by less than 1e-6 relative).

    Returns
    -------
    dict
        ``Vg, Ve`` (t x t), ``se_Vg, se_Ve``, ``B`` (q x t), ``se_B``,
        ``loglik``, ``iterations``, ``converged``, ``mean_diag``, the inverse
        AI matrix ``cov`` of ``(vech Vg, vech Ve)`` and ``py`` (``P y`` in
        the original sample order, ``(n, t)``).
    """
    with single_thread():
        return _fit_multitrait(K, Y, X, max_iter, tol)


def _fit_multitrait(K, Y, X, max_iter, tol) -> dict:
    n, t = Y.shape
    reml = KernelREML(K)
    d, W = reml.tri.eigh()
    d = np.maximum(d, 0.0)
    Yr = W.T @ reml.tri.qt(Y)
    Xr = W.T @ reml.tri.qt(X)
    # starting values: single-trait REML + phenotypic correlations
    vg0 = np.empty(t)
    ve0 = np.empty(t)
    for a in range(t):
        f = reml.fit(Y[:, a], X)
        vg0[a] = max(f.sigma_g, 1e-4 * np.var(Y[:, a]))
        ve0[a] = max(f.sigma_e, 1e-4 * np.var(Y[:, a]))
    rp = np.corrcoef(Y.T) if t > 1 else np.ones((1, 1))
    Vg = 0.8 * rp * np.sqrt(np.outer(vg0, vg0)) + np.diag(0.2 * vg0)
    Ve = 0.8 * rp * np.sqrt(np.outer(ve0, ve0)) + np.diag(0.2 * ve0)
    rot = _Rotated(d, Yr, Xr)
    m = t * (t + 1) // 2

    def split(theta):
        return _unvech(theta[:m], t), _unvech(theta[m:], t)

    def feasible(theta):
        Vg_c, Ve_c = split(theta)
        return theta if _is_pd(Vg_c) and _is_pd(Ve_c) else None

    theta, ll, n_iter, converged = ai_reml(
        np.concatenate([_vech(Vg), _vech(Ve)]),
        lambda th: rot.setup(*split(th)),
        rot.score_ai,
        feasible,
        max_iter=max_iter,
        tol=tol,
    )
    Vg, Ve = split(theta)
    score, AI = rot.score_ai()
    try:
        cov = np.linalg.inv(AI)
        se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    except np.linalg.LinAlgError:
        cov = np.full_like(AI, np.nan)
        se = np.full(2 * m, np.nan)
    py = reml.tri.q(W @ rot.Py)  # P y back in the original sample order, (n, t)
    q = X.shape[1]
    se_B = np.sqrt(np.maximum(np.diag(rot.Cinv), 0.0)).reshape(t, q).T
    return dict(
        Vg=Vg,
        Ve=Ve,
        se_Vg=_unvech(se[:m], t),
        se_Ve=_unvech(se[m:], t),
        B=rot.B,
        se_B=se_B,
        loglik=ll,
        iterations=n_iter,
        converged=converged,
        mean_diag=float(np.trace(K) / n),
        cov=cov,
        py=py,
    )
