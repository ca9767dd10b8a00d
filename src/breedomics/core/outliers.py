"""Outlying plots of a fitted mixed model: studentised conditional residuals tested with
the Bonferroni-Holm procedure (Bernal-Vasquez, Utz & Piepho 2016, *Theor Appl Genet*
129:787).

A plot's conditional residual ``e_hat`` (observed minus all fitted effects, random ones
included) has variance ``s2e (1 - q)`` with ``q`` its leverage in the mixed-model
equations (``q = w' C^-1 w``, ``w`` its row of the full design and ``C`` the coefficient
matrix scaled by ``1 / s2e``); the studentised residual ``e_hat / sqrt(s2e (1 - q))`` is
compared with the standard normal, and the two-sided p-values of a trait's plots are
adjusted together by Holm's step-down procedure (Holm 1979, *Scand J Stat* 6:65). Used
by the block model (:mod:`breedomics.gs.blue`) and the spatial model
(:mod:`breedomics.phenome.trials`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

__all__ = ["OutlierTest", "holm", "outlier_test", "studentise"]


def holm(p: np.ndarray) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values.

    Parameters
    ----------
    p : numpy.ndarray
        Raw p-values of one family of tests.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, in the order of ``p``.
    """
    p = np.asarray(p, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def studentise(residual: np.ndarray, s2e: float, leverage: np.ndarray) -> np.ndarray:
    """Internally studentised conditional residuals ``e / sqrt(s2e (1 - q))``.

    Parameters
    ----------
    residual : numpy.ndarray
        Conditional residuals.
    s2e : float
        Residual variance.
    leverage : numpy.ndarray
        Leverage ``q`` of each record (clipped to ``[0, 1)``).
    """
    q = np.clip(np.asarray(leverage, dtype=float), 0.0, 1.0 - 1e-12)
    return np.asarray(residual, dtype=float) / np.sqrt(s2e * (1.0 - q))


@dataclass
class OutlierTest:
    """Result of :func:`outlier_test`: two-sided Holm-adjusted p-values and flags."""

    p_holm: np.ndarray
    outlier: np.ndarray


def outlier_test(
    studentised: np.ndarray, alpha: float = 0.05, threshold: float | None = None
) -> OutlierTest:
    """Flag outlying records from their studentised residuals.

    Parameters
    ----------
    studentised : numpy.ndarray
        Studentised residuals of one family (one trait's plots).
    alpha : float
        Family-wise level of the Bonferroni-Holm test.
    threshold : float, optional
        Flag ``|studentised| > threshold`` instead.

    Returns
    -------
    OutlierTest
    """
    s = np.asarray(studentised, dtype=float)
    padj = holm(2.0 * ndtr(-np.abs(s)))  # two-sided normal p (scipy's norm.sf)
    flag = np.abs(s) > threshold if threshold is not None else padj < alpha
    return OutlierTest(padj, np.asarray(flag, dtype=bool))
