"""P-values that do not underflow, their text form, and genomic inflation.

Wald statistics of single-variant tests follow ``F(1, d)`` (equivalently a
squared Student ``t_d``). Strong QTL in breeding panels easily reach
``p < 1e-308``, below the smallest double, so p-values are carried as
``-log10 p``. The tail is the regularised incomplete beta
``p = I_x(d/2, 1/2)`` with ``x = d / (d + F)``: SciPy's ``betainc`` while
``p > 1e-300`` and, beyond, its continued fraction evaluated in log space
(Lentz's method; Press et al., *Numerical Recipes*, 3rd ed., section 6.4).
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["neglog10_p_f1", "format_p", "inflation_lambda", "neglog10_from_p"]

_LN10 = np.log(10.0)
#: Median of the 1-df chi-square distribution (chi2_k quantile q = 2 P^-1(k/2, q);
#: scipy.special rather than scipy.stats, whose import costs a second per CLI call).
CHI2_MEDIAN = float(2.0 * special.gammaincinv(0.5, 0.5))


def _log_betainc_cf(a: np.ndarray, b: float, x: np.ndarray, iters: int = 300) -> np.ndarray:
    """log I_x(a, b) by the continued fraction (valid for x < (a+1)/(a+b+2))."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 - qab * x / qap
    d = np.where(np.abs(d) < tiny, tiny, d)
    d = 1.0 / d
    h = d.copy()
    for m in range(1, iters + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = 1.0 + aa / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = 1.0 + aa / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        de = d * c
        h *= de
        if np.all(np.abs(de - 1.0) < 1e-15):
            break
    lbeta = special.betaln(a, b)
    return a * np.log(x) + b * np.log1p(-x) - lbeta + np.log(h) - np.log(a)


def neglog10_p_f1(fstat: np.ndarray, df: np.ndarray | float) -> np.ndarray:
    """``-log10`` of the upper tail of ``F(1, df)`` without underflow.

    Parameters
    ----------
    fstat : numpy.ndarray
        Wald F statistics (``beta^2 / se^2``); NaN propagates.
    df : numpy.ndarray or float
        Denominator degrees of freedom.

    Returns
    -------
    numpy.ndarray
        ``-log10 p``.
    """
    f = np.asarray(fstat, dtype=np.float64)
    d = np.broadcast_to(np.asarray(df, dtype=np.float64), f.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        # p = I_x(d/2, 1/2), x = d / (d + F): the upper tail of F(1, d)
        out = -np.log10(special.betainc(d / 2.0, 0.5, d / (d + np.maximum(f, 0.0))))
        bad = np.isfinite(f) & ~(np.isfinite(out) & (out < 300))
        if bad.any():
            fb, db = f[bad], d[bad]
            x = db / (db + fb)
            out[bad] = -_log_betainc_cf(db / 2.0, 0.5, x) / _LN10
    out[np.isnan(f)] = np.nan
    return out + 0.0  # no "-0"


def neglog10_from_p(p: np.ndarray) -> np.ndarray:
    """``-log10 p`` of ordinary p-values (0 maps to +inf)."""
    with np.errstate(divide="ignore"):
        return -np.log10(np.asarray(p, dtype=np.float64))


def format_p(nl10: np.ndarray, digits: int = 6) -> list[str]:
    """Text p-values from ``-log10 p``, exact below the double range.

    Parameters
    ----------
    nl10 : numpy.ndarray
        ``-log10 p``.
    digits : int
        Significant digits.

    Returns
    -------
    list of str
        E.g. ``"0.0123"``, ``"3.2e-12"``, ``"4.51e-1234"``; ``"NA"`` for NaN.
    """
    out = []
    for v in np.asarray(nl10, dtype=np.float64):
        if not np.isfinite(v):
            out.append("NA" if np.isnan(v) else "0")
        elif v < 300:
            out.append(f"{10.0**-v:.{digits}g}")
        else:
            e = int(np.ceil(v))
            mant = 10.0 ** (e - v)
            if mant >= 9.999995:
                mant, e = 1.0, e - 1
            out.append(f"{mant:.{digits - 1}f}".rstrip("0").rstrip(".") + f"e-{e}")
    return out


def inflation_lambda(nl10: np.ndarray) -> float:
    """Genomic inflation factor (Devlin & Roeder 1999, *Biometrics* 55:997).

    Parameters
    ----------
    nl10 : numpy.ndarray
        ``-log10 p`` of all tested variants (NaN ignored).

    Returns
    -------
    float
        ``median(chi2_1 quantile of p) / 0.4549``.
    """
    v = np.asarray(nl10, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan")
    med = np.median(v)
    chi2 = 2.0 * special.gammainccinv(0.5, 10.0**-med)
    return float(chi2 / CHI2_MEDIAN)
