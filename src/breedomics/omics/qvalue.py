"""Storey q-values: the false discovery rate of every p-value threshold.

Implements Storey & Tibshirani (2003), *Statistical significance for genomewide
studies*, PNAS 100:9440, as the ``qvalue`` R package does by default: the proportion
of true null hypotheses ``pi0`` is estimated from the p-values above a grid of
``lambda`` values, ``pi0(lambda) = #{p > lambda} / (m (1 - lambda))``, smoothed by a
natural cubic smoothing spline with 3 degrees of freedom and read at the largest
``lambda`` (Remark B of the paper); then ``q(p_i) = min_{t >= p_i} pi0 m t / #{p <= t}``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pi0_lambda", "pi0_storey", "qvalues"]

#: The qvalue package's default grid of lambda.
LAMBDAS = np.round(np.arange(0.05, 0.951, 0.05), 10)


def pi0_lambda(p: np.ndarray, lambdas: np.ndarray = LAMBDAS) -> np.ndarray:
    """``#{p > lambda} / (m (1 - lambda))`` for every ``lambda``."""
    p = np.sort(np.asarray(p, dtype=np.float64))
    m = len(p)
    above = m - np.searchsorted(p, lambdas, side="right")
    return above / (m * (1 - np.asarray(lambdas)))


def _penalty(x: np.ndarray) -> np.ndarray:
    """``K = Q R^-1 Q^T``: roughness penalty of the natural cubic spline through ``x``.

    ``sum (y - f)^2 + lam * integral f''^2`` is minimised by ``f = (I + lam K)^-1 y``
    (Green & Silverman 1994, *Nonparametric Regression and Generalized Linear
    Models*, section 2.3), the spline R's ``smooth.spline`` fits with all knots.
    """
    n = len(x)
    h = np.diff(x)
    q = np.zeros((n, n - 2))
    j = np.arange(n - 2)
    q[j, j] = 1 / h[:-1]
    q[j + 1, j] = -1 / h[:-1] - 1 / h[1:]
    q[j + 2, j] = 1 / h[1:]
    r = np.diag((h[:-1] + h[1:]) / 3) + np.diag(h[1:-1] / 6, 1) + np.diag(h[1:-1] / 6, -1)
    return q @ np.linalg.solve(r, q.T)


def _smooth_df(x: np.ndarray, y: np.ndarray, df: float) -> np.ndarray:
    """Natural cubic smoothing spline of ``y`` on ``x`` with ``df`` effective degrees of freedom.

    The effective degrees of freedom are ``trace((I + lam K)^-1) = sum 1 / (1 + lam d)``
    over the eigenvalues ``d`` of the penalty; the ``lam`` giving ``df`` is found by
    bisection on ``log(lam)``, as R's ``smooth.spline(x, y, df = df)`` does.
    """
    d, u = np.linalg.eigh(_penalty(np.asarray(x, dtype=np.float64)))
    d = np.clip(d, 0.0, None)
    lo, hi = -12.0, 12.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if np.sum(1 / (1 + 10.0**mid * d)) > df:
            lo = mid
        else:
            hi = mid
    lam = 10.0 ** ((lo + hi) / 2)
    return u @ ((u.T @ y) / (1 + lam * d))


def pi0_storey(
    p: np.ndarray,
    lambdas: np.ndarray | float = LAMBDAS,
    smooth_df: float = 3.0,
) -> float:
    """Storey & Tibshirani (2003) estimate of the proportion of true nulls.

    Parameters
    ----------
    p : numpy.ndarray
        p-values in [0, 1] (NaN ignored).
    lambdas : numpy.ndarray or float
        The ``lambda`` grid (default 0.05, 0.10, ..., 0.95); a single value gives
        the fixed-``lambda`` estimator of Storey (2002), *JRSS B* 64:479.
    smooth_df : float
        Degrees of freedom of the cubic smoothing spline through ``pi0(lambda)``.

    Returns
    -------
    float
        ``pi0`` in (0, 1]: the smoothed ``pi0(lambda)`` at the largest ``lambda``,
        capped at 1 (and at least ``1/m``, so q-values stay defined).
    """
    p = np.asarray(p, dtype=np.float64)
    p = p[np.isfinite(p)]
    if len(p) == 0:
        return 1.0
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    lam = np.atleast_1d(np.asarray(lambdas, dtype=np.float64))
    raw = pi0_lambda(p, lam)
    if len(lam) == 1:
        pi0 = raw[0]
    else:
        if lam.max() >= p.max():
            # no p-value above the top lambdas: their pi0(lambda) = 0 says nothing
            lam_ok = lam < p.max()
            lam, raw = (lam[lam_ok], raw[lam_ok]) if lam_ok.sum() >= 4 else (lam, raw)
        pi0 = _smooth_df(lam, raw, smooth_df)[-1] if len(lam) >= 4 else raw[-1]
    return float(min(max(pi0, 1.0 / len(p)), 1.0))


def qvalues(p: np.ndarray, pi0: float | None = None) -> np.ndarray:
    """Storey q-values of ``p`` (NaN stays NaN).

    ``q_i = min_{j: p_j >= p_i} min(1, pi0 m p_j / r_j)`` with ``r_j`` the number of
    p-values ``<= p_j`` (ties share the largest rank), as in Storey & Tibshirani
    (2003) and the ``qvalue`` package.

    Parameters
    ----------
    p : numpy.ndarray
        p-values.
    pi0 : float, optional
        Proportion of nulls; estimated with :func:`pi0_storey` when None
        (``pi0 = 1`` gives the Benjamini-Hochberg adjusted p-values).

    Returns
    -------
    numpy.ndarray
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    x = p[ok]
    m = len(x)
    if m == 0:
        return out
    if pi0 is None:
        pi0 = pi0_storey(x)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    rank = np.searchsorted(xs, xs, side="right")  # ties: the largest rank
    q = pi0 * m * xs / rank
    q = np.minimum.accumulate(q[::-1])[::-1]
    res = np.empty(m)
    res[order] = np.minimum(q, 1.0)
    out[ok] = res
    return out
