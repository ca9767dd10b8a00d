"""Simulated growth series (drone flights, repeated weighings) with known curves.

Each unit (plot, animal) follows a logistic or Gompertz curve with its own asymptote
``A``, rate ``r`` and inflection time ``t_i`` (the ``(A, r, t_i)`` forms of Zwietering
et al. 1990, :mod:`breedomics.phenome.growth`), observed on a set of dates with
Gaussian noise; some observations are missing, and on a few "outlier flights" a share of
the units is shifted (a miscalibrated flight). The true maximum growth rate is
``A r / 4`` (logistic) or ``A r / e`` (Gompertz), at ``t_i``.

References
----------
Zwietering MH, Jongenburger I, Rombouts FM, van 't Riet K (1990) Modeling of the
bacterial growth curve. *Appl Environ Microbiol* 56:1875-1881.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["growth_value", "true_max_rate", "simulate_series"]


def growth_value(
    model: str, a: np.ndarray, r: np.ndarray, ti: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """Values ``(n, k)`` of curves with parameters ``a, r, ti`` (``(n,)``) at times ``t``."""
    u = r[:, None] * (np.asarray(t, dtype=float)[None, :] - ti[:, None])
    if model == "logistic":
        return a[:, None] / (1.0 + np.exp(-u))
    if model == "gompertz":
        return a[:, None] * np.exp(-np.exp(-u))
    raise ValueError(f"unknown growth model {model!r}")


def true_max_rate(model: np.ndarray, a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Steepest slope of each curve: ``A r / 4`` (logistic) or ``A r / e`` (Gompertz)."""
    return np.where(np.asarray(model) == "logistic", a * r / 4.0, a * r / np.e)


def simulate_series(
    truth: pd.DataFrame,
    times: np.ndarray,
    rng: np.random.Generator,
    noise_sd: float,
    missing: float = 0.1,
    outlier_flights: int = 1,
    outlier_share: float = 0.3,
    outlier_shift: float = 8.0,
    digits: int = 3,
) -> pd.DataFrame:
    """Observations of every unit's curve on ``times``: a long table.

    Parameters
    ----------
    truth : pandas.DataFrame
        One row per unit: ``unit, model, A, r, ti`` (``model``: logistic or gompertz).
    times : numpy.ndarray
        Flight (weighing) times.
    rng : numpy.random.Generator
        Draws, in order: the noise, the missing cells, the outlier flights, the units
        hit on each and the sign of their shift.
    noise_sd : float
        Measurement error SD.
    missing : float
        Share of (unit, time) cells not observed.
    outlier_flights : int
        Flights (times, never the first or last) on which ``outlier_share`` of the units
        are shifted by ``outlier_shift`` error SDs (random sign per flight).
    digits : int
        Decimals of the values written.

    Returns
    -------
    pandas.DataFrame
        ``unit, flight, time, value`` (observed cells only) with ``attrs["outliers"]``:
        the ``(unit, time)`` pairs shifted.
    """
    times = np.asarray(times, dtype=float)
    n, k = len(truth), len(times)
    a, r, ti = (truth[c].to_numpy(float) for c in ("A", "r", "ti"))
    model = truth["model"].to_numpy(str)
    y = np.empty((n, k))
    for m in np.unique(model):
        rows = model == m
        y[rows] = growth_value(m, a[rows], r[rows], ti[rows], times)
    y += rng.normal(0.0, noise_sd, (n, k))
    seen = rng.random((n, k)) >= missing
    hit = np.zeros((n, k), dtype=bool)
    flights = rng.choice(np.arange(1, k - 1), outlier_flights, replace=False)
    for j in flights:
        units = rng.random(n) < outlier_share
        sign = rng.choice([-1.0, 1.0])
        y[units, j] += sign * outlier_shift * noise_sd
        hit[units, j] = True
    hit &= seen
    ui, tj = np.nonzero(seen)
    out = pd.DataFrame(
        {
            "unit": truth["unit"].to_numpy()[ui],
            "flight": [f"F{j + 1:02d}" for j in tj],
            "time": times[tj],
            "value": np.round(y[ui, tj], digits),
        }
    )
    hi, hj = np.nonzero(hit)
    out.attrs["outliers"] = list(zip(truth["unit"].to_numpy()[hi], times[hj], strict=True))
    return out
