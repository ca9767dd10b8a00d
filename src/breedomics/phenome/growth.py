"""Three-parameter sigmoid growth curves fitted to many units at once.

Models (Zwietering et al. 1990, in the ``(A, r, t_i)`` form: asymptote, rate
constant, time of the inflection)::

    logistic   f(t) = A / (1 + exp(-r (t - t_i)))      max growth rate A r / 4
    Gompertz   f(t) = A exp(-exp(-r (t - t_i)))        max growth rate A r / e

Both start at 0 and rise to ``A``; the steepest slope is at ``t_i``. Every unit (plot,
animal) has its own parameters, fitted by weighted least squares with a batched
Levenberg-Marquardt iteration (Marquardt 1963): the units' normal equations are
``(n_units, 3, 3)`` stacks solved together, and each unit keeps its own damping, so a
unit that has converged is simply left alone. The parameters are ``(log A, log r,
t_i)``, which keeps ``A`` and ``r`` positive.

References
----------
Marquardt DW (1963) An algorithm for least-squares estimation of nonlinear parameters.
*J Soc Ind Appl Math* 11:431-441.

Zwietering MH, Jongenburger I, Rombouts FM, van 't Riet K (1990) Modeling of the
bacterial growth curve. *Appl Environ Microbiol* 56:1875-1881.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MODELS", "GrowthFit", "curve_value", "fit_growth", "max_rate"]

#: The parametric models, by name.
MODELS = ("logistic", "gompertz")
_EXP_CLIP = 50.0


def _value_and_jacobian(
    model: str, theta: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Curve values ``(n, k)`` and their derivatives by ``(log A, log r, t_i)`` ``(n, k, 3)``."""
    a = np.exp(theta[:, 0:1])
    r = np.exp(theta[:, 1:2])
    dt = t - theta[:, 2:3]
    u = np.clip(r * dt, -_EXP_CLIP, _EXP_CLIP)
    if model == "logistic":
        s = 1.0 / (1.0 + np.exp(-u))
        f = a * s
        dfdu = f * (1.0 - s)
    elif model == "gompertz":
        e = np.exp(-u)
        f = a * np.exp(-e)
        dfdu = f * e
    else:
        raise ValueError(f"unknown growth model {model!r}")
    jac = np.stack([f, dfdu * r * dt, -dfdu * r], axis=-1)
    return f, jac


def curve_value(model: str, theta: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Values of ``model`` with parameters ``theta`` (``(n, 3)``: log A, log r, t_i).

    Parameters
    ----------
    model : str
        ``"logistic"`` or ``"gompertz"``.
    theta : numpy.ndarray
        ``(n, 3)`` parameters per unit.
    t : numpy.ndarray
        ``(n, k)`` times (or ``(k,)``, shared by every unit).

    Returns
    -------
    numpy.ndarray
        ``(n, k)`` values.
    """
    t = np.broadcast_to(t, (theta.shape[0], np.shape(t)[-1]))
    return _value_and_jacobian(model, theta, t)[0]


def max_rate(model: str, theta: np.ndarray) -> np.ndarray:
    """Steepest slope ``A r / 4`` (logistic) or ``A r / e`` (Gompertz), at ``t_i``."""
    ar = np.exp(theta[:, 0] + theta[:, 1])
    return ar / 4.0 if model == "logistic" else ar / np.e


@dataclass
class GrowthFit:
    """Result of :func:`fit_growth`.

    Attributes
    ----------
    model : str
    theta : numpy.ndarray
        ``(n, 3)``: ``log A, log r, t_i``.
    rss : numpy.ndarray
        Weighted residual sum of squares per unit.
    converged : numpy.ndarray
        Per unit, the relative change of the RSS fell below the tolerance, or no step
        improved it any more (the damping grew past 1e10).
    """

    model: str
    theta: np.ndarray
    rss: np.ndarray
    converged: np.ndarray


def _bounds(t: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    obs = w > 0
    tmin = np.where(obs, t, np.inf).min(axis=1)
    tmax = np.where(obs, t, -np.inf).max(axis=1)
    span = np.maximum(tmax - tmin, 1e-9)
    ymax = np.maximum(np.where(obs, np.abs(y), 0.0).max(axis=1), 1e-9)
    lo = np.c_[np.log(ymax * 1e-3), np.log(0.01 / span), tmin - 2 * span]
    hi = np.c_[np.log(ymax * 20.0), np.log(200.0 / span), tmax + 2 * span]
    return lo, hi


def fit_growth(
    model: str,
    t: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    theta0: np.ndarray,
    max_iter: int = 100,
    tol: float = 1e-9,
) -> GrowthFit:
    """Weighted least-squares fit of a growth model to every unit (batched Levenberg-Marquardt).

    Parameters
    ----------
    model : str
        ``"logistic"`` or ``"gompertz"``.
    t, y, w : numpy.ndarray
        ``(n, k)`` times, values and weights of each unit's observations (weight 0:
        missing or rejected; the padded cells of short units).
    theta0 : numpy.ndarray
        ``(n, 3)`` starting values ``log A, log r, t_i`` (e.g. from the monotone
        smoother, :func:`breedomics.phenome.curves.start_values`).
    max_iter : int
        Iterations at most.
    tol : float
        Relative RSS change under which a unit has converged.

    Returns
    -------
    GrowthFit
    """
    y = np.where(w > 0, y, 0.0)
    lo, hi = _bounds(t, y, w)
    theta = np.clip(np.asarray(theta0, dtype=float), lo, hi)
    f, jac = _value_and_jacobian(model, theta, t)
    rss = np.einsum("nk,nk->n", w, (y - f) ** 2)
    lam = np.full(len(theta), 1e-3)
    done = np.zeros(len(theta), dtype=bool)
    eye = np.eye(3)
    for _ in range(max_iter):
        act = ~done
        if not act.any():
            break
        ja, wa, ra = jac[act], w[act], (y - f)[act]
        jw = ja * wa[..., None]
        jtj = np.einsum("nkp,nkq->npq", jw, ja)
        g = np.einsum("nkp,nk->np", jw, ra)
        diag = np.einsum("npp->np", jtj)
        damp = lam[act, None] * (diag + 1e-9 * diag.max(axis=1, keepdims=True) + 1e-12)
        step = np.linalg.solve(jtj + damp[..., None] * eye, g[..., None])[..., 0]
        new = np.clip(theta[act] + step, lo[act], hi[act])
        f_new, jac_new = _value_and_jacobian(model, new, t[act])
        rss_new = np.einsum("nk,nk->n", wa, (y[act] - f_new) ** 2)
        better = rss_new <= rss[act]
        idx = np.flatnonzero(act)
        up = idx[better]
        rel = (rss[up] - rss_new[better]) / np.maximum(rss[up], 1e-300)
        theta[up], f[up], jac[up] = new[better], f_new[better], jac_new[better]
        rss[up] = rss_new[better]
        lam[up] = np.maximum(lam[up] / 10.0, 1e-12)
        lam[idx[~better]] *= 10.0
        done[up[rel < tol]] = True
        done[lam > 1e10] = True
    return GrowthFit(model=model, theta=theta, rss=rss, converged=done)
