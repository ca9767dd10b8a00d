"""Growth curves of many units (plots, animals): robust fits, model choice, derived traits.

Every unit's series is fitted with up to three models: the logistic and Gompertz curves
(:mod:`breedomics.phenome.growth`, Zwietering et al. 1990) and a monotone P-spline
(:mod:`breedomics.phenome.monotone`, Eilers & Marx 1996; Bollaerts et al. 2006). All
units are fitted together (batched linear algebra).

Outliers (e.g. a badly calibrated drone flight): the monotone P-spline is first fitted
with Huber weights (``c = 1.345`` robust SDs; three IRLS rounds, Huber 1964), the unit's
residual scale is ``1.4826 * MAD`` of its residuals times ``sqrt(n / (n - edf))`` (the
residuals of a smoother with ``edf`` degrees of freedom are smaller than the errors), at
least the median scale over units (so that a unit fitted almost exactly does not flag
ordinary points), and an
observation more than ``outlier_z`` scales from that robust fit is set aside (one round of
outlier rejection). Every model is then fitted by least squares to the same kept points,
so their AICc values (Hurvich & Tsai 1989) compare like with like::

    AICc = n log(RSS / n) + 2 p + 2 p (p + 1) / (n - p - 1)

with ``p = 4`` for the parametric models (3 parameters and the error variance) and
``edf + 1`` for the P-spline. The model with the smallest AICc is the unit's curve.
Missing dates are simply absent points (each unit has its own times).

Derived traits of the chosen curve
----------------------------------
asymptote
    ``A`` of the logistic/Gompertz curve; the fitted value at the unit's last time for
    the P-spline.
max_rate
    The steepest slope (``A r / 4``, ``A r / e``; the largest derivative within the
    unit's time range for the P-spline). Missing when no kept observation of the unit
    lies on the rise (fitted value between 10% and 90% of the asymptote): a curve that
    jumps between two dates has no identified slope.
t_inflection
    Time of the steepest slope.
auc
    Area under the fitted curve over the common time range (by default the times every
    fitted unit covers), trapezoids on 201 points.
at_reference
    Fitted value at the reference time (missing for units whose times do not span it).

References
----------
Huber PJ (1964) Robust estimation of a location parameter. *Ann Math Stat* 35:73-101.

Hurvich CM, Tsai CL (1989) Regression and time series model selection in small samples.
*Biometrika* 76:297-307.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from breedomics.errors import UserError
from breedomics.phenome.growth import MODELS, curve_value, fit_growth, max_rate
from breedomics.phenome.monotone import MonotoneFit, fit_monotone

__all__ = [
    "ALL_MODELS",
    "DERIVED_TRAITS",
    "CurveSettings",
    "CurveFits",
    "aicc",
    "fit_curves",
    "start_values",
]

#: Every model name (``pspline``: the monotone P-spline).
ALL_MODELS = (*MODELS, "pspline")
#: The derived traits, in output order.
DERIVED_TRAITS = ("asymptote", "max_rate", "t_inflection", "auc", "at_reference")
_HUBER_C = 1.345
_BISQUARE_C = 4.685
_HUBER_ROUNDS, _ROBUST_ROUNDS, _CURVE_ROUNDS = 2, 4, 2
_GRID = 401
_AUC_POINTS = 201


@dataclass
class CurveSettings:
    """Options of :func:`fit_curves`.

    Attributes
    ----------
    models : tuple of str
        Candidate models (of :data:`ALL_MODELS`).
    reference_time : float or None
        Time of the ``at_reference`` trait (None: the latest time every fitted unit
        covers).
    auc_range : tuple of float or None
        ``(start, end)`` of the area under the curve (None: the common time range).
    outlier_z : float
        Robust z-score past which an observation is set aside (0: keep every point).
    segments : int
        B-spline segments of the monotone P-spline.
    """

    models: tuple[str, ...] = ALL_MODELS
    reference_time: float | None = None
    auc_range: tuple[float, float] | None = None
    outlier_z: float = 3.5
    segments: int = 10


@dataclass
class CurveFits:
    """Result of :func:`fit_curves` (one row per unit in ``traits``).

    Attributes
    ----------
    traits : pandas.DataFrame
        ``model, n_points, n_outliers, n_rise`` (kept points on the rise, 10-90% of
        the asymptote), ``rmse``, the derived traits and ``aicc_<model>``
        of every candidate model.
    outlier : numpy.ndarray
        ``(n, k)`` observations set aside.
    fitted : numpy.ndarray
        ``(n, k)`` values of the chosen curve at the unit's times.
    params : dict
        ``{model: (n, 3)}`` parameters ``log A, log r, t_i`` of the parametric models.
    auc_range : tuple of float
    reference_time : float
    edf : numpy.ndarray
        Effective degrees of freedom of each unit's monotone P-spline.
    """

    traits: pd.DataFrame
    outlier: np.ndarray
    fitted: np.ndarray
    params: dict = field(default_factory=dict)
    auc_range: tuple[float, float] = (0.0, 0.0)
    reference_time: float = 0.0
    edf: np.ndarray | None = None


def aicc(rss: np.ndarray, n: np.ndarray, p: np.ndarray | float) -> np.ndarray:
    """Corrected Akaike criterion of a Gaussian fit (Hurvich & Tsai 1989).

    ``n log(RSS/n) + 2p + 2p(p+1)/(n-p-1)``; infinite when ``n <= p + 1``.
    """
    n = np.asarray(n, dtype=float)
    p = np.broadcast_to(np.asarray(p, dtype=float), n.shape)
    ok = n > p + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        val = n * np.log(np.maximum(rss, 1e-300) / n) + 2 * p + 2 * p * (p + 1) / (n - p - 1)
    return np.where(ok, val, np.inf)


def _unit_range(t: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    obs = w > 0
    return np.where(obs, t, np.inf).min(axis=1), np.where(obs, t, -np.inf).max(axis=1)


def _slopes(values: np.ndarray, grid: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, ...]:
    """Largest slope of each row of ``values`` on ``grid`` within ``inside``, and its time."""
    slope = np.where(inside, np.gradient(values, grid, axis=1), -np.inf)
    j = np.argmax(slope, axis=1)
    return slope[np.arange(len(j)), j], grid[j], j


def start_values(spline: MonotoneFit, t: np.ndarray, w: np.ndarray, model: str) -> np.ndarray:
    """Starting values ``log A, log r, t_i`` of a growth model from the monotone smoother.

    ``t_i`` is the time of the smoother's steepest slope ``s``; ``A`` is the larger of
    its last value and ``c f(t_i)`` (``c = 2`` logistic, ``e`` Gompertz: the curve's
    value at the inflection is ``A / c``); ``r = c s / A``.
    """
    grid = np.linspace(spline.lo, spline.hi, _GRID)
    first, last = _unit_range(t, w)
    inside = (grid >= first[:, None]) & (grid <= last[:, None])
    f = spline.value(grid)
    s, ti, j = _slopes(f, grid, inside)
    c = 2.0 if model == "logistic" else np.e
    f_last = spline.value_at(last[:, None])[:, 0]
    a = np.maximum(np.maximum(f_last, c * f[np.arange(len(j)), j]), 1e-6)
    span = np.maximum(last - first, 1e-9)
    r = np.maximum(c * s / a, 0.05 / span)
    return np.c_[np.log(a), np.log(r), ti]


def _robust_rejection(
    t: np.ndarray, y: np.ndarray, obs: np.ndarray, s: CurveSettings, lo: float, hi: float
) -> np.ndarray:
    """Observations more than ``outlier_z`` robust scales from a Huber-weighted smoother."""
    if s.outlier_z <= 0:
        return np.zeros_like(obs)
    w = obs.astype(float)
    for step in range(_ROBUST_ROUNDS):
        fit = fit_monotone(t, y, w, lo, hi, s.segments)
        z = _robust_z(y - fit.value_at(t), obs, fit.edf)
        if step < _HUBER_ROUNDS:
            w = np.minimum(1.0, _HUBER_C / np.maximum(z, 1e-12))
        else:  # Tukey's bisquare: gross outliers get no weight
            w = np.clip(1.0 - (z / _BISQUARE_C) ** 2, 0.0, None) ** 2
        w = np.where(obs, w, 0.0)
    return obs & (z > s.outlier_z)


def _mad(res: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Median absolute residual of each row over its observations."""
    return np.nanmedian(np.where(obs, np.abs(res), np.nan), axis=1)


def _common_range(first: np.ndarray, last: np.ndarray, s: CurveSettings) -> tuple[float, float]:
    lo, hi = (float(first.max()), float(last.min())) if s.auc_range is None else s.auc_range
    if not hi > lo:
        raise UserError(
            f"the units' time ranges have no common part ({lo:g} to {hi:g}); set "
            "phenome.curves.auc_range (--auc-range START,END) to the span to integrate"
        )
    return lo, hi


def fit_curves(t: np.ndarray, y: np.ndarray, obs: np.ndarray, settings: CurveSettings) -> CurveFits:
    """Fit every unit's growth curve, choose a model by AICc, derive the traits.

    Parameters
    ----------
    t, y : numpy.ndarray
        ``(n, k)`` times and values, each unit's observations in a row (padded).
    obs : numpy.ndarray
        ``(n, k)`` boolean: an observation (False: padding).
    settings : CurveSettings

    Returns
    -------
    CurveFits
    """
    s = settings
    unknown = [m for m in s.models if m not in ALL_MODELS]
    if unknown or not s.models:
        raise UserError(
            f"unknown growth model(s) {unknown or 'none'}; choose from {', '.join(ALL_MODELS)}"
        )
    lo, hi = float(t[obs].min()), float(t[obs].max())
    outlier = _robust_rejection(t, y, obs, s, lo, hi)
    fit = _fit_models(t, y, obs & ~outlier, s, lo, hi)
    for _ in range(_CURVE_ROUNDS if s.outlier_z > 0 else 0):  # the chosen curves' residuals
        p = np.where(fit.traits["model"].to_numpy() == "pspline", 1.0 + fit.edf, 4.0)
        again = obs & (_robust_z(y - fit.fitted, obs, p) > s.outlier_z)
        if np.array_equal(again, outlier):
            break
        outlier = again
        fit = _fit_models(t, y, obs & ~outlier, s, lo, hi)
    fit.outlier = outlier
    out = fit.traits
    out.insert(1, "n_points", obs.sum(axis=1))
    out.insert(2, "n_outliers", outlier.sum(axis=1))
    return fit


def _robust_z(res: np.ndarray, obs: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``|res|`` over the unit's robust scale: ``1.4826 MAD sqrt(n / (n - p))``, at least the
    median scale over units."""
    n_obs = obs.sum(axis=1)
    scale = 1.4826 * _mad(res, obs) * np.sqrt(n_obs / np.maximum(n_obs - p, 1.0))
    scale = np.maximum(scale, np.median(scale))
    return np.where(obs, np.abs(res), 0.0) / np.maximum(scale, 1e-300)[:, None]


def _fit_models(
    t: np.ndarray, y: np.ndarray, keep: np.ndarray, s: CurveSettings, lo: float, hi: float
) -> CurveFits:
    """Every candidate model fitted to the kept points; AICc choice; derived traits."""
    w = keep.astype(float)
    n_keep = keep.sum(axis=1)
    first, last = _unit_range(t, w)
    spline = fit_monotone(t, y, w, lo, hi, s.segments)
    grid = np.linspace(lo, hi, _GRID)
    inside = (grid >= first[:, None]) & (grid <= last[:, None])
    auc_lo, auc_hi = _common_range(first, last, s)
    ref = float(s.reference_time) if s.reference_time is not None else auc_hi
    auc_grid = np.linspace(auc_lo, auc_hi, _AUC_POINTS)
    pts = np.r_[auc_grid, ref]

    n = len(t)
    traits, crit, fitted, params = {}, {}, {}, {}
    for m in s.models:
        if m == "pspline":
            f_at = spline.value_at(t)
            rss, p = spline.rss, spline.edf + 1
            vals = spline.value(pts)
            rate, t_inf, _j = _slopes(spline.value(grid), grid, inside)
            asym = spline.value_at(last[:, None])[:, 0]
        else:
            g = fit_growth(m, t, y, w, start_values(spline, t, w, m))
            params[m] = g.theta
            f_at = curve_value(m, g.theta, t)
            rss, p = g.rss, 4.0
            vals = curve_value(m, g.theta, pts)
            rate, t_inf, asym = max_rate(m, g.theta), g.theta[:, 2], np.exp(g.theta[:, 0])
        crit[m] = aicc(rss, n_keep, p)
        fitted[m] = f_at
        traits[m] = np.c_[
            asym,
            rate,
            t_inf,
            np.trapezoid(vals[:, :-1], auc_grid, axis=1),
            np.where((ref >= first) & (ref <= last), vals[:, -1], np.nan),
            np.sqrt(rss / np.maximum(n_keep, 1)),
        ]
    names = list(s.models)
    table = np.stack([crit[m] for m in names], axis=1)
    best = np.argmin(table, axis=1)
    rows = np.arange(n)
    chosen = np.stack([traits[m] for m in names], axis=1)[rows, best]
    out = pd.DataFrame(chosen, columns=[*DERIVED_TRAITS, "rmse"])
    out.insert(0, "model", np.array(names)[best])
    for j, m in enumerate(names):
        out[f"aicc_{m}"] = table[:, j]
    fit_best = np.stack([fitted[m] for m in names], axis=0)[best, rows]
    frac = fit_best / out["asymptote"].to_numpy()[:, None]
    n_rise = (keep & (frac > 0.1) & (frac < 0.9)).sum(axis=1)
    out.insert(1, "n_rise", n_rise)
    out.loc[n_rise == 0, "max_rate"] = np.nan
    return CurveFits(
        traits=out,
        outlier=~keep,
        fitted=fit_best,
        params=params,
        auc_range=(auc_lo, auc_hi),
        reference_time=ref,
        edf=spline.edf,
    )
