"""Monotone (non-decreasing) P-splines fitted to many units at once.

Each unit's curve is a cubic B-spline on knots shared by every unit, with a
second-order difference penalty on its coefficients (a P-spline, Eilers & Marx 1996)
and the shape constraint of Eilers (2005) / Bollaerts, Eilers & van Mechelen (2006): an
asymmetric penalty ``kappa * sum_j v_j (a_{j+1} - a_j)^2`` with ``v_j = 1`` where the
difference is negative and 0 elsewhere, iterated until the set of penalised differences
is stable (a few rounds). With non-decreasing coefficients the spline is non-decreasing
(the shape-constrained P-splines of Pya & Wood 2015 reparameterise instead; the penalty
gives the same shape with ordinary linear solves).

The smoothing parameter of every unit is chosen by generalised cross-validation (Craven &
Wahba 1979) on a grid, relative to the size of the unit's ``B'WB`` (so the grid does not
depend on the number of dates or the weights); the effective degrees of freedom
(trace of the hat matrix) of the constrained fit are the complexity used by AICc.

References
----------
Bollaerts K, Eilers PHC, van Mechelen I (2006) Simple and multiple P-splines regression
with shape constraints. *Br J Math Stat Psychol* 59:451-469.

Craven P, Wahba G (1979) Smoothing noisy data with spline functions. *Numer Math*
31:377-403.

Eilers PHC (2005) Unimodal smoothing. *J Chemometrics* 19:317-328.

Eilers PHC, Marx BD (1996) Flexible smoothing with B-splines and penalties. *Stat Sci*
11:89-121.

Pya N, Wood SN (2015) Shape constrained additive models. *Stat Comput* 25:543-559.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import BSpline

__all__ = ["MonotoneFit", "bspline_basis", "fit_monotone"]

_DEGREE = 3
#: log10 of the smoothing parameters tried (relative to the mean diagonal of B'WB).
_LOG_LAMBDAS = np.arange(-3.0, 3.5, 0.5)
#: Weight of the asymmetric (shape) penalty, relative to the mean diagonal of B'WB.
_KAPPA = 1e6


def bspline_basis(x: np.ndarray, lo: float, hi: float, nseg: int) -> np.ndarray:
    """Cubic B-spline basis on ``nseg`` equal segments of ``[lo, hi]`` (Eilers & Marx 1996).

    Parameters
    ----------
    x : numpy.ndarray
        Points (clipped into ``[lo, hi]``).
    lo, hi : float
        Domain.
    nseg : int
        Number of segments; the basis has ``nseg + 3`` functions.

    Returns
    -------
    numpy.ndarray
        ``(len(x), nseg + 3)`` dense basis.
    """
    dx = (hi - lo) / nseg
    knots = lo + dx * np.arange(-_DEGREE, nseg + _DEGREE + 1)
    x = np.clip(np.asarray(x, dtype=float).ravel(), lo, hi)
    return BSpline.design_matrix(x, knots, _DEGREE).toarray()


@dataclass
class MonotoneFit:
    """Result of :func:`fit_monotone`.

    Attributes
    ----------
    coef : numpy.ndarray
        ``(n, q)`` B-spline coefficients (non-decreasing) per unit.
    edf : numpy.ndarray
        Effective degrees of freedom per unit.
    rss : numpy.ndarray
        Weighted residual sum of squares per unit.
    log_lambda : numpy.ndarray
        Chosen ``log10`` relative smoothing parameter per unit.
    lo, hi : float
        Domain of the basis.
    nseg : int
        Segments of the basis.
    """

    coef: np.ndarray
    edf: np.ndarray
    rss: np.ndarray
    log_lambda: np.ndarray
    lo: float
    hi: float
    nseg: int

    def value(self, x: np.ndarray) -> np.ndarray:
        """Fitted curves at the points ``x`` shared by every unit: ``(n, len(x))``."""
        return self.coef @ bspline_basis(x, self.lo, self.hi, self.nseg).T

    def value_at(self, t: np.ndarray) -> np.ndarray:
        """Fitted curves at each unit's own times ``t`` ``(n, k)``."""
        b = bspline_basis(t, self.lo, self.hi, self.nseg).reshape(*t.shape, -1)
        return np.einsum("nkq,nq->nk", b, self.coef)


def _solve(lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    return np.linalg.solve(lhs, rhs[..., None])[..., 0]


def fit_monotone(
    t: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    lo: float,
    hi: float,
    nseg: int = 10,
    max_iter: int = 30,
) -> MonotoneFit:
    """Non-decreasing P-spline of every unit (batched; smoothing chosen by GCV per unit).

    Parameters
    ----------
    t, y, w : numpy.ndarray
        ``(n, k)`` times, values and weights (0: missing, rejected or padding).
    lo, hi : float
        Domain of the shared B-spline basis (every unit's times inside it).
    nseg : int
        B-spline segments.
    max_iter : int
        Rounds of the asymmetric penalty at most.

    Returns
    -------
    MonotoneFit
    """
    n, k = t.shape
    y = np.where(w > 0, y, 0.0)
    b = bspline_basis(t, lo, hi, nseg).reshape(n, k, -1)
    q = b.shape[2]
    bw = b * w[..., None]
    btwb = np.einsum("nkq,nkp->nqp", bw, b)
    btwy = np.einsum("nkq,nk->nq", bw, y)
    scale = np.einsum("nqq->n", btwb) / q
    d2 = np.diff(np.eye(q), 2, axis=0)
    d1 = np.diff(np.eye(q), 1, axis=0)
    p2 = d2.T @ d2
    neff = (w > 0).sum(axis=1)

    def fit(pen: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lhs = btwb + pen
        coef = _solve(lhs, btwy)
        res = y - np.einsum("nkq,nq->nk", b, coef)
        rss = np.einsum("nk,nk->n", w, res**2)
        edf = np.einsum("nqq->n", np.linalg.solve(lhs, btwb))
        return coef, rss, edf

    best = np.full(n, np.inf)
    log_lam = np.zeros(n)
    for ll in _LOG_LAMBDAS:
        lam = scale * 10.0**ll
        _c, rss, edf = fit(lam[:, None, None] * p2)
        gcv = neff * rss / np.maximum(neff - edf, 0.5) ** 2
        better = gcv < best
        best[better], log_lam[better] = gcv[better], ll
    lam = scale * 10.0**log_lam
    kappa = scale * _KAPPA
    v = np.zeros((n, q - 1))
    for _ in range(max_iter):
        pen = lam[:, None, None] * p2 + kappa[:, None, None] * np.einsum("jq,nj,jp->nqp", d1, v, d1)
        coef, rss, edf = fit(pen)
        v_new = (np.diff(coef, axis=1) < 0).astype(float)
        if not np.any(v_new > v):
            break
        v = np.maximum(v, v_new)  # once penalised, kept: the iteration cannot cycle
    return MonotoneFit(
        coef=coef, edf=edf, rss=rss, log_lambda=log_lam, lo=float(lo), hi=float(hi), nseg=nseg
    )
