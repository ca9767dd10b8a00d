"""Linear mixed models for GWAS: null REML/ML fit and per-variant Wald tests.

Model (Zhou & Stephens 2012, *Nat Genet* 44:821, "GEMMA"):

.. math:: y = W\\alpha + x\\beta + u + \\epsilon,\\quad
          u \\sim N(0, \\lambda\\tau^{-1}K),\\quad \\epsilon \\sim N(0, \\tau^{-1}I)

With ``K = U diag(s) U^T`` decomposed once, every quantity is a weighted sum
over eigen-components with weights ``w_i = 1 / (lambda s_i + 1)`` of the
rotated data ``U^T W``, ``U^T y``, ``U^T x``. Writing ``P`` for the REML
projection given ``W``,

* ``xPx = x'Hx - x'HW (W'HW)^-1 W'Hx`` and likewise ``xPy``, ``yPy``
  (``H = diag(w)`` in the rotated space),
* REML log-likelihood of the model with ``x`` (``d = n - c - 1``)::

    l_R = -1/2 sum log(lambda s + 1) - 1/2 log|W'HW| - 1/2 log xPx
          - d/2 log(yPy - xPy^2 / xPx) + const

* Wald test: ``beta = xPy / xPx``, ``se^2 = (yPy - xPy^2/xPx) / (d xPx)``,
  ``F = beta^2 / se^2 ~ F(1, d)``.

Three ways to test variants share this code:

``exact``
    ``lambda`` is re-estimated by REML for every variant and trait, as
    ``gemma -lmm 1`` does. The search follows GEMMA: the log-likelihood is
    evaluated on GEMMA's grid of ten log-intervals over ``[1e-5, 1e5]``; the
    optimum is then refined inside ``[u0 - 0.75, u0 + 0.75]`` (``u = ln
    lambda``, ``u0`` the null estimate) on a Chebyshev interpolant (10 nodes)
    of the per-variant sufficient statistics ``xPx(u)`` and ``xPy(u)``
    (built from sums of logistic functions of ``u``, analytic in a strip of
    half-width ``pi`` around the real axis, so the interpolation error decays
    like ``8.5^-10``, ~1e-9 of the terms' scale) with a safeguarded Newton
    iteration. Variants whose best grid point outside the refined interval
    beats the refined optimum, or whose optimum sits on the edge of that
    interval, are re-optimised by exact evaluation (golden-section search
    around the best grid point). All variants and traits are handled
    together with BLAS-3 products. Because ``xPy`` is a difference of terms
    of order one, a beta near zero (``|beta| << se``) carries an absolute,
    not relative, error of ~1e-9 se.
``p3d``
    ``lambda`` fixed at the null estimate (population parameters previously
    determined; Zhang et al. 2010, *Nat Genet* 42:355; EMMAX, Kang et al.
    2010, *Nat Genet* 42:348): one weighted regression per variant.
``glm``
    ``lambda = 0`` and no rotation (ordinary least squares with covariates).

Null variance components are estimated by REML (default) or ML with the
core's single-kernel REML (:func:`fit_null`, :mod:`breedomics.core.reml`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.polynomial.chebyshev import chebder

from breedomics.core import reml
from breedomics.core.grm import Eigen
from breedomics.core.workspace import WorkArrays
from breedomics.errors import UserError
from breedomics.gwas.pvalues import neglog10_p_f1

__all__ = [
    "U_MIN",
    "U_MAX",
    "NullModel",
    "fit_null",
    "AssocSet",
    "AssocResult",
    "exact_alt_loglik",
]

#: Bounds of ln(lambda) searched (GEMMA's -lmin 1e-5 / -lmax 1e5).
U_MIN = reml.GEMMA_SEARCH.lo
U_MAX = reml.GEMMA_SEARCH.hi
#: GEMMA's grid: ten regions of equal width in log10 lambda.
COARSE_U = np.log(10.0) * np.arange(-5.0, 6.0)
#: Half-width (in ln lambda) and node count of the Chebyshev refinement interval.
FINE_HALF = 0.75
FINE_NODES = 10
#: Nodes of the wider interval (two grid regions) used when the optimum is elsewhere.
SECOND_NODES = 20
_TRAIT_BLOCK = 16


# --------------------------------------------------------------------------- null model
@dataclass
class NullModel(reml.RemlFit):
    """Null-model (no variant) REML/ML fit of one trait.

    A :class:`breedomics.core.reml.RemlFit`; its fields also go by GEMMA's names (``lam``,
    ``vg = sigma_g``, ``ve = sigma_e``, ``pve = h2`` on the scale
    ``trace(K)/n``, ``pve_se`` from the observed information of ``lambda``,
    ``beta_se``, ``at_bound`` when ``lambda`` is 1e-5 or 1e5):

    Attributes
    ----------
    trait : str
    loglik_reml, loglik_ml : float
        Maximised REML and ML log-likelihoods (each at its own optimum,
        as GEMMA reports them).
    c : int
        Fixed effects.
    """

    trait: str = ""
    loglik_reml: float = float("nan")
    loglik_ml: float = float("nan")
    c: int = 0

    vg = property(lambda self: self.sigma_g)
    ve = property(lambda self: self.sigma_e)
    pve = property(lambda self: self.h2)
    pve_se = property(lambda self: self.se_h2)
    beta_se = property(lambda self: self.se_beta)
    at_bound = property(lambda self: self.boundary)

    @property
    def u(self) -> float:
        return float(np.log(self.lam))


def fit_null(trait: str, s: np.ndarray, wt: np.ndarray, yt: np.ndarray, trace_mean: float,
             method: str = "reml", **options) -> NullModel:  # fmt: skip
    """Fit the null model (no variant) of ``trait`` by REML or ML.

    The core's eigen-form fit, :func:`breedomics.core.reml.fit_eigen` (same
    parameters and ``options``: ``n``, ``moments`` for low-rank kinships,
    ``logdet_wtw``), on GEMMA's range (:data:`~breedomics.core.reml.GEMMA_SEARCH`:
    201 points of ``ln lambda`` in ``[ln 1e-5, ln 1e5]``, refined by Brent's
    method). The log-likelihood of the other method is maximised too, as GEMMA
    reports both.
    """
    c = wt.shape[1]
    n = options.get("n") or len(yt)
    moments = options.get("moments")
    if moments is None:
        moments = reml.eigen_moments(np.column_stack([wt, yt]))
    logdet_wtw = options.get("logdet_wtw")
    if logdet_wtw is None:
        logdet_wtw = float(np.linalg.slogdet(wt.T @ wt)[1])
    fit = reml.fit_eigen(s, wt, yt, trace_mean, method, n, moments, logdet_wtw)
    other = "ml" if method == "reml" else "reml"
    ll_other = reml.maximise_ratio(
        lambda lam: reml.eigen_loglik(lam, s, moments, n, c, logdet_wtw, other)[0],
        reml.GEMMA_SEARCH,
    )[1]
    ll = {method: fit.loglik, other: ll_other}
    return NullModel(**vars(fit), trait=trait, loglik_reml=ll["reml"], loglik_ml=ll["ml"], c=c)


# --------------------------------------------------------------------------- per-lambda pieces
@dataclass
class _LamStats:
    """SNP-independent pieces at a set of lambdas (one trait or shared)."""

    u: np.ndarray  # (L,)
    w: np.ndarray  # (n, L) weights
    r: np.ndarray  # (L, c, n): L^-1 W' H
    ry: np.ndarray  # (L, c, T): L^-1 W' H y
    ypy: np.ndarray  # (L, T)
    f0: np.ndarray  # (L,)  -1/2 sumlog - 1/2 logdet(W'HW)


def _lam_stats(s: np.ndarray, wt: np.ndarray, yt: np.ndarray, u: np.ndarray) -> _LamStats:
    lam = np.exp(u)
    w = 1.0 / (s[:, None] * lam[None, :] + 1.0)  # (n, L)
    a_ww = np.einsum("il,ia,ib->lab", w, wt, wt)
    chol = np.linalg.cholesky(a_ww)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    hw = wt.T[None, :, :] * w.T[:, None, :]  # (L, c, n)
    r = np.linalg.solve(chol, hw)  # chol lower-triangular: L^-1 W'H
    ry = r @ yt  # (L, c, T)
    a_yy = w.T @ (yt**2)  # (L, T)
    ypy = a_yy - np.einsum("lct,lct->lt", ry, ry)
    f0 = -0.5 * np.log1p(s[None, :] * lam[:, None]).sum(axis=1) - 0.5 * logdet
    return _LamStats(u, w, r, ry, ypy, f0)


class _Stack:
    """Several (lambdas, traits) groups evaluated with two stacked GEMMs.

    Skinny products ``(rows x n) @ (n x m)`` are memory-bound; stacking all
    rows reads the rotated genotypes once per chunk instead of once per group.
    """

    def __init__(self, parts: list[tuple[_LamStats, np.ndarray, np.ndarray]]):
        """``parts``: (lambda pieces, rotated traits (n, T), their ``ry`` (L, c, T))."""
        rows_x, rows_2, self.meta = [], [], []
        for ls, yt, ry in parts:
            nl, c, n = ls.r.shape
            t = yt.shape[1]
            rows_x.append(ls.r.reshape(nl * c, n))
            rows_x.append((ls.w.T[:, None, :] * yt.T[None, :, :]).reshape(nl * t, n))
            rows_2.append(ls.w.T)
            self.meta.append((ry, nl, c, t))
        self.gx = np.ascontiguousarray(np.vstack(rows_x))
        self.g2 = np.ascontiguousarray(np.vstack(rows_2))

    def eval(self, xt: np.ndarray, x2: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(xPx (L, m), xPy (L, T, m)), ...]`` per group."""
        px = self.gx @ xt
        p2 = self.g2 @ x2
        out, ix, i2 = [], 0, 0
        for ry, nl, c, t in self.meta:
            m = xt.shape[1]
            rx = px[ix : ix + nl * c].reshape(nl, c, m)
            ix += nl * c
            a_xy = px[ix : ix + nl * t].reshape(nl, t, m)
            ix += nl * t
            a_xx = p2[i2 : i2 + nl]
            i2 += nl
            xpx = a_xx - np.einsum("lcm,lcm->lm", rx, rx)
            xpy = a_xy - np.einsum("lcm,lct->ltm", rx, ry)
            out.append((xpx, xpy))
        return out


def _alt_ll(f0, ypy, xpx, xpy, d):
    with np.errstate(invalid="ignore", divide="ignore"):
        q = ypy - xpy**2 / xpx
        return f0 - 0.5 * np.log(xpx) - 0.5 * d * np.log(q)


def exact_alt_loglik(
    s: np.ndarray, wt: np.ndarray, xcols: np.ndarray, ycols: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact REML pieces of the model with one variant, per (variant, trait) pair.

    Parameters
    ----------
    s : numpy.ndarray
        Eigenvalues ``(n,)``.
    wt : numpy.ndarray
        Rotated covariates ``(n, c)``.
    xcols, ycols : numpy.ndarray
        Rotated variant and trait of every pair ``(n, F)``.
    u : numpy.ndarray
        ``ln lambda`` of every pair ``(F,)``.

    Returns
    -------
    loglik, xpx, xpy, ypy : numpy.ndarray
        Log-likelihood without the constant, and the three quadratic forms.
    """
    n, c = wt.shape
    lam = np.exp(u)
    w = 1.0 / (s[:, None] * lam[None, :] + 1.0)  # (n, F)
    a_ww = np.einsum("if,ia,ib->fab", w, wt, wt)
    wx, wy = w * xcols, w * ycols
    a_wx = wt.T @ wx  # (c, F)
    a_wy = np.einsum("ia,if->af", wt, wy)
    a_xx = np.einsum("if,if->f", wx, xcols)
    a_xy = np.einsum("if,if->f", wx, ycols)
    a_yy = np.einsum("if,if->f", wy, ycols)
    chol = np.linalg.cholesky(a_ww)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    bx = np.linalg.solve(chol, a_wx.T[:, :, None])[:, :, 0]
    by = np.linalg.solve(chol, a_wy.T[:, :, None])[:, :, 0]
    xpx = a_xx - (bx * bx).sum(1)
    xpy = a_xy - (bx * by).sum(1)
    ypy = a_yy - (by * by).sum(1)
    f0 = -0.5 * np.log1p(s[:, None] * lam[None, :]).sum(axis=0) - 0.5 * logdet
    ll = _alt_ll(f0, ypy, xpx, xpy, n - c - 1)
    return ll, xpx, xpy, ypy


# --------------------------------------------------------------------------- Chebyshev tools
def _cheb_nodes(k: int) -> np.ndarray:
    return np.cos(np.pi * (np.arange(k) + 0.5) / k)


def _cheb_dct(k: int) -> np.ndarray:
    j = np.arange(k)[:, None]
    kk = np.arange(k)[None, :]
    d = (2.0 / k) * np.cos(np.pi * j * (kk + 0.5) / k)
    d[0] /= 2.0
    return d


def _cheb_basis(t: np.ndarray, k: int, deriv: int = 2):
    """T_j(t), T_j'(t), T_j''(t) for j < k; t of any shape -> (k, *t.shape)."""
    t = np.asarray(t, dtype=np.float64)
    b0 = np.empty((k, *t.shape))
    b1 = np.zeros((k, *t.shape)) if deriv >= 1 else b0
    b2 = np.zeros((k, *t.shape)) if deriv >= 2 else b0
    b0[0] = 1.0
    if k > 1:
        b0[1] = t
        if deriv >= 1:
            b1[1] = 1.0
    for j in range(1, k - 1):
        b0[j + 1] = 2 * t * b0[j] - b0[j - 1]
        if deriv >= 1:
            b1[j + 1] = 2 * b0[j] + 2 * t * b1[j] - b1[j - 1]
        if deriv >= 2:
            b2[j + 1] = 4 * b1[j] + 2 * t * b2[j] - b2[j - 1]
    return b0, b1, b2


# --------------------------------------------------------------------------- test set
@dataclass
class AssocResult:
    """Per-variant results of one trait for one chunk.

    Attributes
    ----------
    beta, se : numpy.ndarray
        Effect of one more copy of the counted (ALT) allele and its s.e.
    nlog10p : numpy.ndarray
        ``-log10`` Wald p-value.
    lam : numpy.ndarray
        ``lambda`` used for every variant (exact: per-variant REML).
    loglik : numpy.ndarray
        REML log-likelihood of the model with the variant, without the
        constant terms (exact mode only, else NaN).
    """

    beta: np.ndarray
    se: np.ndarray
    nlog10p: np.ndarray
    lam: np.ndarray
    loglik: np.ndarray


@dataclass
class AssocSet:
    """Traits that share samples and a kinship decomposition.

    Build with :meth:`build`; then call :meth:`test` on centred dosages of
    the same samples (``n x m``). The rotation ``U^T x`` is done once per
    chunk for all traits.

    Attributes
    ----------
    traits : list of str
    idx : numpy.ndarray
        Rows (into the analysed samples) used by these traits.
    mode : str
        ``"exact"``, ``"p3d"`` or ``"glm"``.
    eig : Eigen or None
        Decomposition (None for ``glm``).
    wt, yt : numpy.ndarray
        Rotated covariates and traits.
    nulls : list of NullModel
        Null fits (empty for ``glm``).
    """

    traits: list[str]
    idx: np.ndarray
    mode: str
    eig: Eigen | None
    wt: np.ndarray
    yt: np.ndarray
    nulls: list[NullModel] = field(default_factory=list)
    _fixed: list = field(default_factory=list, repr=False)
    _coarse: _LamStats | None = field(default=None, repr=False)
    _fine: list = field(default_factory=list, repr=False)
    _perm: list = field(default_factory=list, repr=False)
    _stacks: list = field(default_factory=list, repr=False)
    _work: WorkArrays = field(default_factory=WorkArrays, repr=False)
    _ut32: np.ndarray | None = field(default=None, repr=False)
    _second: dict = field(default_factory=dict, repr=False)
    perm_max_f: np.ndarray | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return self.wt.shape[0]

    @property
    def c(self) -> int:
        return self.wt.shape[1]

    @classmethod
    def build(
        cls,
        traits: list[str],
        idx: np.ndarray,
        w: np.ndarray,
        y: np.ndarray,
        mode: str,
        eig: Eigen | None = None,
        null_method: str = "reml",
        context: str = "",
    ) -> AssocSet:
        """Rotate covariates and traits, fit null models, precompute lambdas.

        Parameters
        ----------
        traits : list of str
            Trait names (columns of ``y``).
        idx : numpy.ndarray
            Sample rows used (kept for the caller).
        w : numpy.ndarray
            ``(n, c)`` covariates of those samples (with intercept).
        y : numpy.ndarray
            ``(n, T)`` traits (no missing value).
        mode : str
            ``"exact"``, ``"p3d"`` or ``"glm"``.
        eig : Eigen, optional
            Kinship decomposition of those samples (required unless glm).
        null_method : str
            ``"reml"`` or ``"ml"`` for the null variance components.
        context : str
            Label for error messages.
        """
        if mode not in ("exact", "p3d", "glm"):
            raise ValueError(f"unknown mode {mode!r}")
        y = np.asarray(y, dtype=np.float64)
        w = np.asarray(w, dtype=np.float64)
        n, c = w.shape
        if n - c - 1 < 1:
            raise UserError(f"{context}: {n} samples are too few for {c} covariates")
        if mode == "glm":
            ts = cls(list(traits), idx, mode, None, w, y)
            ls = _lam_stats(np.zeros(n), w, y, np.array([-np.inf]))
            ts._fixed = [(np.arange(len(traits)), ls)]
            return ts
        if eig is None:
            raise ValueError("a kinship decomposition is needed for the mixed model")
        wt = eig.U.T @ w
        yt = eig.U.T @ y
        ts = cls(list(traits), idx, mode, eig, wt, yt)
        ts.nulls = [
            fit_null(t, eig.s, wt, yt[:, k], eig.trace_mean, null_method)
            for k, t in enumerate(traits)
        ]
        if mode == "p3d":
            for k, nm in enumerate(ts.nulls):
                ts._fixed.append(
                    (np.array([k]), _lam_stats(eig.s, wt, yt[:, [k]], np.array([nm.u])))
                )
            return ts
        ts._coarse = _lam_stats(eig.s, wt, yt, COARSE_U)
        for nm in ts.nulls:
            lo = min(max(nm.u - FINE_HALF, U_MIN), U_MAX - 2 * FINE_HALF)
            ts._fine.append(ts._interval(len(ts._fine), lo, lo + 2 * FINE_HALF, FINE_NODES))
        return ts

    # ----------------------------------------------------------------- permutations
    def enable_permutations(self, n_perm: int, seed: int = 1) -> None:
        """Prepare a permutation null of the genome-wide maximum statistic.

        Residuals of the null model are whitened with ``lambda`` fixed at
        its null estimate (0 for GLM), so that they are exchangeable under
        the null; they are permuted, projected off the covariates again, and
        every variant is tested against every permutation (Wald test with
        ``lambda`` fixed, i.e. P3D/EMMAX for the mixed models; Westfall &
        Young 1993 max-T; for whitened LMM residuals see Abney 2015, *Genet
        Epidemiol* 39:249). The maximum F over all variants of each
        permutation accumulates in :attr:`perm_max_f` (traits x permutations).

        Parameters
        ----------
        n_perm : int
            Number of permutations.
        seed : int
            Random seed.
        """
        rng = np.random.default_rng(seed)
        s = self.eig.s if self.eig is not None else np.zeros(self.n)
        self._perm = []
        for k in range(len(self.traits)):
            lam0 = self.nulls[k].lam if self.nulls else 0.0
            u0 = np.array([np.log(lam0)]) if lam0 > 0 else np.array([-np.inf])
            ls0 = _lam_stats(s, self.wt, self.yt[:, [k]], u0)
            sw = np.sqrt(ls0.w[:, 0])
            ws = self.wt * sw[:, None]
            q, _ = np.linalg.qr(ws)
            ystar = self.yt[:, k] * sw
            r = ystar - q @ (q.T @ ystar)
            idx = np.stack([rng.permutation(self.n) for _ in range(n_perm)], axis=1)
            rb = r[idx]  # (n, B)
            rb = rb - q @ (q.T @ rb)
            e = rb * sw[:, None]
            self._perm.append((ls0, e, (rb * rb).sum(axis=0)))
        self.perm_max_f = np.zeros((len(self.traits), n_perm))

    def _permute(self, xt: np.ndarray, x2: np.ndarray) -> None:
        d = self.n - self.c - 1
        for k, (ls0, e, ypy) in enumerate(self._perm):
            rx = ls0.r[0] @ xt
            xpx = (ls0.w.T @ x2)[0] - np.einsum("cm,cm->m", rx, rx)
            ok = xpx > 1e-8 * max(float(np.abs(xpx).max(initial=0.0)), 1e-300)
            if not ok.any():
                continue
            g = xt[:, ok].T @ e  # (m, B)
            b = g * g / xpx[ok, None]
            with np.errstate(invalid="ignore", divide="ignore"):
                f = d * b / (ypy[None, :] - b)
            f = np.where(np.isfinite(f), f, 0.0)
            np.maximum(self.perm_max_f[k], f.max(axis=0), out=self.perm_max_f[k])

    # ----------------------------------------------------------------- public
    @property
    def rotates(self) -> bool:
        """Whether :meth:`test` rotates the dosages (a mixed model), which then may come
        in single precision."""
        return self.eig is not None

    def rotate(self, z: np.ndarray) -> np.ndarray:
        """``U^T z`` (float64) for centred dosages of this set's samples.

        Single-precision ``z`` is rotated in single precision (BLAS ``sgemm``: half the
        time of the double product, the largest cost of the exact scan) and the result
        widened to double for the REML: each rotated value carries a relative rounding
        of ~1e-7 x sqrt(n), far below what moves a -log10 p in its fifth decimal.
        """
        if self.eig is None:
            return z
        shape = (self.eig.U.shape[1], z.shape[1])
        xt = self._work.get("xt", shape)
        if z.dtype != np.float32:
            return np.matmul(self.eig.U.T, z, out=xt)
        if self._ut32 is None:
            self._ut32 = np.ascontiguousarray(self.eig.U.T, dtype=np.float32)
        xt32 = np.matmul(self._ut32, z, out=self._work.get("xt32", shape, np.float32))
        np.copyto(xt, xt32)
        return xt

    def test(self, z: np.ndarray, rotated: bool = False) -> list[AssocResult]:
        """Test a chunk of variants for every trait of the set.

        Parameters
        ----------
        z : numpy.ndarray
            ``(n, m)`` mean-imputed, centred dosages of ``idx`` samples.
        rotated : bool
            ``z`` is already ``U^T z``.

        Returns
        -------
        list of AssocResult
            One per trait, in ``traits`` order.
        """
        if rotated:
            xt = np.asarray(z, dtype=np.float64)
        else:
            xt = self.rotate(z if z.dtype in (np.float32, np.float64) else z.astype(np.float64))
        x2 = np.multiply(xt, xt, out=self._work.get("x2", xt.shape))
        if self._perm:
            self._permute(xt, x2)
        if self.mode in ("glm", "p3d"):
            return self._test_fixed(xt, x2)
        return self._test_exact(xt, x2)

    # ----------------------------------------------------------------- fixed lambda
    def _wald(self, xpx, xpy, ypy):
        d = self.n - self.c - 1
        with np.errstate(invalid="ignore", divide="ignore"):
            bad = ~(xpx > 1e-8 * np.maximum(np.abs(xpx).max(initial=0.0), 1e-300))
            beta = xpy / xpx
            q = ypy - xpy * beta
            se = np.sqrt(q / (d * xpx))
            f = beta**2 / se**2
        beta[bad] = se[bad] = f[bad] = np.nan
        return beta, se, neglog10_p_f1(f, d)

    def _test_fixed(self, xt, x2) -> list[AssocResult]:
        m = xt.shape[1]
        out: list[AssocResult | None] = [None] * len(self.traits)
        if not self._stacks:
            self._stacks = [_Stack([(ls, self.yt[:, cols], ls.ry) for cols, ls in self._fixed])]
        for (cols, ls), (xpx, xpy) in zip(self._fixed, self._stacks[0].eval(xt, x2), strict=True):
            for j, k in enumerate(cols):
                beta, se, nl = self._wald(xpx[0], xpy[0, j], ls.ypy[0, j])
                lam = np.full(m, 0.0 if self.mode == "glm" else self.nulls[k].lam)
                out[k] = AssocResult(beta, se, nl, lam, np.full(m, np.nan))
        return out  # type: ignore[return-value]

    # ----------------------------------------------------------------- exact REML
    def _exact_blocks(self) -> list[tuple[np.ndarray, _Stack]]:
        """Traits in blocks of 16, each with one stack (coarse grid + refinements)."""
        if not self._stacks:
            assert self._coarse is not None
            for start in range(0, len(self.traits), _TRAIT_BLOCK):
                ks = np.arange(start, min(start + _TRAIT_BLOCK, len(self.traits)))
                parts = [(self._coarse, self.yt[:, ks], self._coarse.ry[:, :, ks])]
                parts += [
                    (self._fine[k]["ls"], self.yt[:, [k]], self._fine[k]["ls"].ry) for k in ks
                ]
                self._stacks.append((ks, _Stack(parts)))
        return self._stacks

    def _test_exact(self, xt, x2) -> list[AssocResult]:
        out = []
        for ks, stack in self._exact_blocks():
            parts = stack.eval(xt, x2)
            xpx_c, xpy_c = parts[0]  # coarse grid: (G, m), (G, T_block, m)
            for j, k in enumerate(ks):
                out.append(self._refine(xt, x2, int(k), xpx_c, xpy_c[:, j], *parts[1 + j]))
        return out

    def _interval(self, k: int, lo: float, hi: float, nodes: int) -> dict:
        """Chebyshev interval ``[lo, hi]`` of ln lambda for trait ``k`` (SNP-free parts)."""
        assert self.eig is not None
        mid, half = (lo + hi) / 2, (hi - lo) / 2
        ls = _lam_stats(self.eig.s, self.wt, self.yt[:, [k]], mid + half * _cheb_nodes(nodes))
        dct = _cheb_dct(nodes)
        return {
            "lo": lo,
            "hi": hi,
            "mid": mid,
            "half": half,
            "n": nodes,
            "ls": ls,
            "c_f0": dct @ ls.f0,
            "c_ypy": dct @ ls.ypy[:, 0],
        }

    def _secondary(self, k: int, g: int) -> dict:
        """Interval around coarse grid point ``g`` (its two neighbouring regions)."""
        key = (k, g)
        if key not in self._second:
            step = np.log(10.0)
            lo = max(COARSE_U[g] - step, U_MIN)
            hi = min(COARSE_U[g] + step, U_MAX)
            self._second[key] = self._interval(k, lo, hi, SECOND_NODES)
        return self._second[key]

    def _newton(self, iv: dict, xpx_n: np.ndarray, xpy_n: np.ndarray):
        """Maximise the interpolated REML log-likelihood on one interval.

        Parameters
        ----------
        iv : dict
            Interval from :meth:`_interval`.
        xpx_n, xpy_n : numpy.ndarray
            ``(N, m)`` exact values at the interval's Chebyshev nodes.

        Returns
        -------
        t, u, ll, xpx, xpy, ypy : numpy.ndarray
            Optimum in interval (t in [-1, 1]) and ln-lambda coordinates, the
            log-likelihood there and the quadratic forms of the Wald test.
        """
        d = self.n - self.c - 1
        nn = iv["n"]
        m = xpx_n.shape[1]
        ls_n = iv["ls"]
        dct = _cheb_dct(nn)
        cp = dct @ xpx_n
        cx = dct @ xpy_n
        cf0, cyy = iv["c_f0"], iv["c_ypy"]
        # exact log-likelihood at the nodes: start at the best node, bracketed
        # by its neighbours (nodes are in decreasing order of t)
        ll_n = _alt_ll(ls_n.f0[:, None], ls_n.ypy[:, [0]], xpx_n, xpy_n, d)
        ll_n = np.where(np.isfinite(ll_n), ll_n, -np.inf)
        g = np.argmax(ll_n, axis=0)
        nodes = _cheb_nodes(nn)
        ext = np.r_[1.0, nodes, -1.0]
        t = nodes[g].copy()
        hi = ext[g]
        lo = ext[g + 2]
        # derivative series (in t) once, so each Newton step needs only T_j(t)
        cp1, cp2 = chebder(cp, 1, axis=0), chebder(cp, 2, axis=0)
        cx1, cx2 = chebder(cx, 1, axis=0), chebder(cx, 2, axis=0)
        cy1, cy2 = chebder(cyy, 1), chebder(cyy, 2)
        cf1, cf2 = chebder(cf0, 1), chebder(cf0, 2)
        n1, n2 = nn - 1, nn - 2
        act = np.arange(m)
        series = (cp, cp1, cp2, cx, cx1, cx2)
        cur = series  # the series restricted to the active variants
        for _ in range(40):
            tt = t[act]
            b0 = _cheb_basis(tt, nn, deriv=0)[0]
            b1, b2 = b0[:n1], b0[:n2]
            p = np.einsum("km,km->m", cur[0], b0)
            p1 = np.einsum("km,km->m", cur[1], b1)
            p2 = np.einsum("km,km->m", cur[2], b2)
            x = np.einsum("km,km->m", cur[3], b0)
            x1 = np.einsum("km,km->m", cur[4], b1)
            x2_ = np.einsum("km,km->m", cur[5], b2)
            y0, y1, y2 = cyy @ b0, cy1 @ b1, cy2 @ b2
            f1, f2 = cf1 @ b1, cf2 @ b2
            with np.errstate(invalid="ignore", divide="ignore"):
                q = y0 - x * x / p
                q1 = y1 - 2 * x * x1 / p + x * x * p1 / p**2
                q2 = (
                    y2
                    - 2 * (x1 * x1 + x * x2_) / p
                    + 4 * x * x1 * p1 / p**2
                    + x * x * p2 / p**2
                    - 2 * x * x * p1 * p1 / p**3
                )
                l1 = f1 - 0.5 * p1 / p - 0.5 * d * q1 / q
                l2 = f2 - 0.5 * (p2 * p - p1 * p1) / p**2 - 0.5 * d * (q2 * q - q1 * q1) / q**2
            la, ha = lo[act], hi[act]
            la = np.where(l1 > 0, np.maximum(la, tt), la)
            ha = np.where(l1 < 0, np.minimum(ha, tt), ha)
            with np.errstate(invalid="ignore", divide="ignore"):
                tn = tt - l1 / l2
            ok = (l2 < 0) & (tn > la) & (tn < ha) & np.isfinite(tn)
            tn = np.where(ok, tn, 0.5 * (la + ha))
            lo[act], hi[act], t[act] = la, ha, tn
            done = (np.abs(tn - tt) < 1e-9) | (ha - la < 1e-9) | ~np.isfinite(l1)
            if done.all():
                break
            if done.any():
                keep = ~done
                act = act[keep]
                cur = tuple(c[:, keep] for c in cur)
        b0 = _cheb_basis(t, nn, deriv=0)[0]
        p = np.einsum("km,km->m", cp, b0)
        x = np.einsum("km,km->m", cx, b0)
        y0 = cyy @ b0
        ll = _alt_ll(cf0 @ b0, y0, p, x, d)
        return t, iv["mid"] + iv["half"] * t, ll, p, x, y0

    @staticmethod
    def _at_inner_edge(iv: dict, t: np.ndarray) -> np.ndarray:
        """Optimum on an interval end that is not a global search bound."""
        return ((t < -1 + 1e-9) & (iv["lo"] > U_MIN + 1e-9)) | (
            (t > 1 - 1e-9) & (iv["hi"] < U_MAX - 1e-9)
        )

    def _refine(self, xt, x2, k, xpx_c, xpy_c, xpx_n, xpy_n) -> AssocResult:
        """Per-variant REML optimum of trait ``k`` from grid and node values."""
        d = self.n - self.c - 1
        m = xt.shape[1]
        co = self._coarse
        assert co is not None
        fine = self._fine[k]
        t, u, ll, p, x, y0 = self._newton(fine, xpx_n, xpy_n[:, 0])
        # candidates outside the refined interval: coarse grid (exact values)
        ll_c = _alt_ll(co.f0[:, None], co.ypy[:, [k]], xpx_c, xpy_c, d)
        ll_c = np.where(np.isfinite(ll_c), ll_c, -np.inf)
        gbest = np.argmax(ll_c, axis=0)
        lbest = ll_c[gbest, np.arange(m)]
        tol = 1e-8 * np.maximum(np.abs(ll), 1.0)
        flag = self._at_inner_edge(fine, t) | (lbest > ll + tol) | ~np.isfinite(ll)
        flag &= np.isfinite(lbest)
        if flag.any():
            # re-optimise around the best grid point on a wider Chebyshev interval
            yk = self.yt[:, [k]]
            still = []
            for g in np.unique(gbest[flag]):
                j = np.flatnonzero(flag & (gbest == g))
                iv = self._secondary(k, int(g))
                ((xpx2, xpy2),) = _Stack([(iv["ls"], yk, iv["ls"].ry)]).eval(xt[:, j], x2[:, j])
                t2, u2, ll2, p2, xx2, yy2 = self._newton(iv, xpx2, xpy2[:, 0])
                better = ~np.isfinite(ll[j]) | (ll2 > ll[j])
                jj = j[better]
                u[jj], ll[jj], p[jj], x[jj], y0[jj] = (
                    u2[better], ll2[better], p2[better], xx2[better], yy2[better],
                )  # fmt: skip
                still.append(j[better & self._at_inner_edge(iv, t2)])
            rest = np.concatenate(still)
            if len(rest):  # rare: optimum beyond the neighbouring grid points
                u3, ll3, p3, x3, y3 = self._golden(xt[:, rest], k, u[rest])
                better = ll3 > ll[rest]
                jj = rest[better]
                u[jj], ll[jj], p[jj], x[jj], y0[jj] = (
                    u3[better], ll3[better], p3[better], x3[better], y3[better],
                )  # fmt: skip
        beta, se, nl = self._wald(p, x, y0)
        return AssocResult(beta, se, nl, np.exp(u), ll)

    def _golden(self, xcols: np.ndarray, k: int, u0: np.ndarray, iters: int = 60):
        """Exact golden-section search of ln lambda in [u0 - ln10, u0 + ln10]."""
        assert self.eig is not None
        s = self.eig.s
        f = xcols.shape[1]
        ycols = np.repeat(self.yt[:, [k]], f, axis=1)
        step = np.log(10.0)
        a = np.maximum(u0 - step, U_MIN)
        b = np.minimum(u0 + step, U_MAX)
        gr = (np.sqrt(5.0) - 1) / 2

        def ev(uu):
            return exact_alt_loglik(s, self.wt, xcols, ycols, uu)[0]

        c1 = b - gr * (b - a)
        c2 = a + gr * (b - a)
        f1, f2 = ev(c1), ev(c2)
        for _ in range(iters):
            left = f1 > f2  # maximum in [a, c2]
            b = np.where(left, c2, b)
            a = np.where(left, a, c1)
            nc1 = np.where(left, b - gr * (b - a), c2)
            nc2 = np.where(left, c1, a + gr * (b - a))
            newpt = np.where(left, nc1, nc2)
            fn = ev(newpt)
            f1, f2 = np.where(left, fn, f2), np.where(left, f1, fn)
            c1, c2 = nc1, nc2
        cand = np.stack([(a + b) / 2, np.full(f, U_MIN), np.full(f, U_MAX)])
        best_u = cand[0]
        best = ev(best_u)
        for cu in cand[1:]:
            v = ev(cu)
            upd = v > best
            best_u = np.where(upd, cu, best_u)
            best = np.where(upd, v, best)
        ll, xpx, xpy, ypy = exact_alt_loglik(s, self.wt, xcols, ycols, best_u)
        return best_u, ll, xpx, xpy, ypy
