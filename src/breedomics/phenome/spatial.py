"""One field trial fitted with the SpATS model: BLUEs, generalised heritability, trend.

Model (Rodriguez-Alvarez, Boer, van Eeuwijk & Eilers 2018, *Spatial Statistics*
23:52-71), for the plots of one trial with coordinates ``(row, col)``::

    y = genotype + covariates + f(row, col) + R(row) + C(col) + e

with ``f`` the PS-ANOVA 2-D P-spline of :mod:`breedomics.phenome.psanova` (fixed linear
terms, six smoothing variances), random row and column effects ``R ~ N(0, s2R I)``,
``C ~ N(0, s2C I)`` (one level per distinct row/column coordinate; optional) and
optional fixed covariates (e.g. stand count, centred). It is fitted twice by REML (SAP
algorithm, :func:`breedomics.core.spatial.fit_sap`):

* genotypes **fixed**: BLUEs (genotype means at the centre of the field and at the mean
  covariates, spatial and row/column effects at zero) and their standard errors;
* genotypes **random** ``N(0, s2g I)``: the generalised heritability
  ``H2 = ED_g / m_g`` (eq. 12 of the paper), the effective dimension of the genotype
  term over the number of genotypes.

Effective dimensions of every term, the fitted trend on the whole row x column grid and
the conditional residuals (for the variogram) are returned with them, and the REML
likelihood-ratio test of the spatial random terms (:func:`spatial_lrt`): the fixed-genotype
fit against the same fixed part (genotypes, linear surface, covariates) without the smooth
terms and the row/column effects, i.e. every spatial variance at zero. The two restricted
likelihoods share the fixed part, so they are comparable. The statistic is referred to the
boundary mixture ``sum_j C(K, j) 2^-K chi2_j`` of the K variances tested (Self & Liang
1987, *JASA* 82:605; Stram & Lee 1994, *Biometrics* 50:1171: K independent components at
zero), which is conservative for penalised-spline variances (most null statistics are near
zero: Crainiceanu & Ruppert 2004, *JRSS B* 66:165; on 60 simulated flat fields of 300 plots
its 95% quantile was 6.7 against the mixture's 10.2).
:mod:`breedomics.phenome.trials` uses it to choose between this model and the block model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import comb

import numpy as np
import pandas as pd
from scipy.special import chdtrc

from breedomics.core.linalg import single_thread
from breedomics.core.outliers import studentise
from breedomics.core.spatial import SAPFit, fit_sap
from breedomics.errors import UserError
from breedomics.phenome.psanova import Marginal, auto_segments, spatial_design

__all__ = ["SpatialTrialFit", "chibar_sf", "fit_spatial_trial", "spatial_lrt"]


@dataclass
class SpatialTrialFit:
    """Result of :func:`fit_spatial_trial`.

    Attributes
    ----------
    genotypes : pandas.DataFrame
        ``genotype, blue, se_blue, blup, pev, n_plots``.
    varcomp : pandas.DataFrame
        ``component, term, variance, ed, nominal`` for the smooth components, row and
        column effects, genotypes (random fit) and the residual.
    h2 : float
        Generalised heritability ``ED_g / m_g``.
    trend : pandas.DataFrame
        ``row, col, trend, row_col``: the fitted surface (deviation from its mean over
        the plots) and the row + column effects on every grid position.
    residuals : pandas.DataFrame
        Per plot: ``row, col, genotype, observed, fitted, residual`` of the fixed-genotype
        fit (the variogram's), ``fitted_random`` and ``studentised`` of the random-genotype
        fit (its conditional residual over ``sqrt(s2e (1 - leverage))``,
        :func:`breedomics.core.outliers.studentise`: the outlier test of the block model,
        whose genotypes are random too; with fixed genotypes the two plots of a genotype
        in a two-replicate trial have residuals of equal size and opposite sign).
    fixed, random : SAPFit
        The two REML fits.
    lrt : float
        REML likelihood-ratio statistic of the spatial random terms (:func:`spatial_lrt`).
    lrt_df : int
        Number of variances it tests (K: six smooth, plus row and column).
    p_lrt : float
        Its p-value under the boundary mixture (:func:`chibar_sf`).
    """

    genotypes: pd.DataFrame
    varcomp: pd.DataFrame
    h2: float
    trend: pd.DataFrame
    residuals: pd.DataFrame
    fixed: SAPFit
    random: SAPFit
    lrt: float = float("nan")
    lrt_df: int = 0
    p_lrt: float = float("nan")


def chibar_sf(stat: float, k: int) -> float:
    """``P(X >= stat)`` for ``X ~ sum_{j=0..k} C(k, j) 2^-k chi2_j`` (``chi2_0`` a point
    mass at zero): the null distribution of the likelihood-ratio statistic of ``k``
    independent variance components tested at zero (Self & Liang 1987; Stram & Lee 1994).
    """
    if not stat > 0:
        return 1.0
    return float(sum(comb(k, j) * chdtrc(j, stat) for j in range(1, k + 1)) / 2**k)


def spatial_lrt(fixed: SAPFit, y: np.ndarray, groups: np.ndarray, n_groups: int,
                X: np.ndarray, tol: float = 1e-9) -> tuple[float, int, float]:  # fmt: skip
    """REML likelihood-ratio test of the random terms of a fixed-group SAP fit.

    The model without them (same ``y``, groups and fixed ``X``; only the residual
    variance) is fitted by REML and ``2 (loglik_fixed - loglik_without)`` is returned with
    the number ``K`` of variances tested and the p-value :func:`chibar_sf`. The restricted
    likelihoods of :func:`breedomics.core.spatial.fit_sap` omit the same ``-1/2 log|X'X|``
    for both (the same fixed part), so the difference is the full one.
    """
    n = y.size
    null = fit_sap(y, groups, n_groups, X, np.zeros((n, 0)), np.zeros((0, 0)), [], tol=tol)
    k = len(fixed.names)
    stat = max(0.0, 2.0 * (fixed.loglik - null.loglik))
    return stat, k, chibar_sf(stat, k)


def _indicator(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    levels, code = np.unique(values, return_inverse=True)
    M = np.zeros((values.size, levels.size))
    M[np.arange(values.size), code] = 1.0
    return M, levels


def _varcomp(fit: SAPFit, fit_r: SAPFit, terms: list[str], nominal: list[int]) -> pd.DataFrame:
    rows = [
        (name, term, s2, ed, nom)
        for name, term, s2, ed, nom in zip(fit.names, terms, fit.s2, fit.ed, nominal, strict=True)
    ]
    rows.append(("genotype", "genotype", fit_r.s2g, fit_r.ed_group, fit_r.group.size))
    rows.append(("residual", "residual", fit.s2e, np.nan, np.nan))
    return pd.DataFrame(rows, columns=["component", "term", "variance", "ed", "nominal"])


def fit_spatial_trial(
    records: pd.DataFrame,
    trait: str,
    genotype: str = "genotype",
    row: str = "row",
    col: str = "col",
    covariates: Sequence[str] = (),
    segments: tuple[int | None, int | None] = (None, None),
    row_col_effects: bool = True,
    tol: float = 1e-9,
) -> SpatialTrialFit:
    """Fit the SpATS model to one trial and one trait.

    Parameters
    ----------
    records : pandas.DataFrame
        Plots of one trial with numeric, complete and unique coordinates (checked by
        :func:`breedomics.phenome.layout.check_coordinates`).
    trait : str
        Column analysed (plots with a missing value are left out).
    genotype, row, col : str
        Column names.
    covariates : sequence of str
        Numeric columns fitted as fixed covariates.
    segments : tuple
        B-spline segments along rows and columns (None: :func:`auto_segments`).
    row_col_effects : bool
        Fit random row and column effects.
    tol : float
        Convergence tolerance of the SAP iterations.

    Returns
    -------
    SpatialTrialFit

    References
    ----------
    Rodriguez-Alvarez MX, Boer MP, van Eeuwijk FA, Eilers PHC (2018) Correcting for
    spatial heterogeneity in plant breeding experiments with P-splines. *Spatial
    Statistics* 23:52-71.
    """
    rec = records[records[trait].notna()]
    for c in covariates:
        if rec[c].isna().any():
            raise UserError(
                f"covariate {c!r} is missing on {int(rec[c].isna().sum())} plot(s) with a "
                f"{trait!r} value; fill it in or drop the covariate"
            )
    y = rec[trait].to_numpy(dtype=float)
    r = rec[row].to_numpy(dtype=float)
    c = rec[col].to_numpy(dtype=float)
    nr, nc = np.unique(r).size, np.unique(c).size
    if nr < 4 or nc < 4:
        raise UserError(
            f"trait {trait!r}: the plots span {nr} row(s) and {nc} column(s); the spatial "
            "model needs at least 4 of each (leave the row/col columns empty for such trials)"
        )
    genos, gcode = np.unique(rec[genotype].astype(str).to_numpy(), return_inverse=True)
    if genos.size < 3:
        raise UserError(f"trait {trait!r}: only {genos.size} genotype(s); need at least 3")
    mr = Marginal.build(r, segments[0] or auto_segments(nr))
    mc = Marginal.build(c, segments[1] or auto_segments(nc))
    des = spatial_design(mr, mc, r, c)
    qs = des.Z.shape[1]
    Zs, names, terms = [des.Z], list(des.names), list(des.terms)
    nominal = [int((lam > 0).sum()) for lam in des.precisions]
    nominal[4] = nominal[5] = int((des.precisions[4] > 0).sum())
    if row_col_effects:
        for values, name in ((r, "row"), (c, "col")):
            M, _lv = _indicator(values)
            Zs.append(M)
            names.append(name)
            terms.append(name)
            nominal.append(M.shape[1])
    Z = np.hstack(Zs)
    lam = np.zeros((len(names), Z.shape[1]))
    lam[: des.precisions.shape[0], :qs] = des.precisions
    k0, off = des.precisions.shape[0], qs
    for j, M in enumerate(Zs[1:]):
        lam[k0 + j, off : off + M.shape[1]] = 1.0
        off += M.shape[1]
    cov = rec[list(covariates)].to_numpy(dtype=float).reshape(len(rec), -1)
    cov = cov - cov.mean(axis=0)
    X = np.hstack([des.X, cov])
    with single_thread():
        fixed = fit_sap(y, gcode, genos.size, X, Z, lam, names, tol=tol)
        lrt, lrt_df, p_lrt = spatial_lrt(fixed, y, gcode, genos.size, X, tol=tol)
        start = {"s2": fixed.s2, "s2e": fixed.s2e}
        Xr = np.hstack([np.ones((y.size, 1)), X])
        random = fit_sap(
            y, gcode, genos.size, Xr, Z, lam, names, True, tol=tol, start=start, leverage=True
        )
    h2 = random.ed_group / genos.size
    gen = pd.DataFrame(
        {
            "genotype": genos,
            "blue": fixed.group,
            "se_blue": np.sqrt(fixed.var_group),
            "blup": random.beta[0] + random.group,
            "pev": random.var_group,
            "n_plots": np.bincount(gcode, minlength=genos.size),
        }
    )
    vc = _varcomp(fixed, random, terms, nominal)
    # fitted trend on every grid position
    ur, uc = np.unique(r), np.unique(c)
    gr, gc = (a.ravel() for a in np.meshgrid(ur, uc, indexing="ij"))
    gdes = spatial_design(mr, mc, gr, gc)
    surface = gdes.X @ fixed.beta[:3] + gdes.Z @ fixed.u[:qs]
    at_plots = des.X @ fixed.beta[:3] + des.Z @ fixed.u[:qs]
    rowcol = np.zeros(gr.size)
    if row_col_effects:
        ue = fixed.u[qs:]
        rowcol = ue[np.searchsorted(ur, gr)] + ue[ur.size + np.searchsorted(uc, gc)]
    trend = pd.DataFrame(
        {"row": gr, "col": gc, "trend": surface - at_plots.mean(), "row_col": rowcol}
    )
    res = pd.DataFrame(
        {
            "row": r,
            "col": c,
            "genotype": genos[gcode],
            "observed": y,
            "fitted": fixed.fitted,
            "residual": y - fixed.fitted,
            "fitted_random": random.fitted,
            "studentised": studentise(y - random.fitted, random.s2e, random.leverage),
        }
    )
    return SpatialTrialFit(gen, vc, h2, trend, res, fixed, random, lrt, lrt_df, p_lrt)
