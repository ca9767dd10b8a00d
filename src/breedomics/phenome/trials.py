"""Stage-wise analysis of trials: a spatial or block model per trial, then the genotype
means over trials weighted by the first stage's standard errors.

Stage 1 fits, per trait and trial (environment), the SpATS model of
:mod:`breedomics.phenome.spatial` when the trial's plots have row/column coordinates,
and otherwise the block model of :func:`breedomics.gs.blue.fit_met` restricted to the
trial (replicates/blocks fixed).

Model choice (trials with coordinates): the spatial model's extra terms cost accuracy
when the field has no trend (REML puts small positive variances on the smooth and
row/column terms by chance, and the fixed linear surface costs degrees of freedom: on
72 simulated flat fields of 300 plots its BLUEs correlated 0.0060 +- 0.0009 (SE) less
with the true genetic values than the block model's; with the choice below 0.0008 +-
0.0005, 3 of the 72 trials keeping the spatial model by chance, while under a strong
trend every trial keeps it: ``tests/test_spatial.py``). So a trial keeps the spatial
model only when the data show a spatial trend, by two tests of the terms it adds to the
block model:

* random smooth surface and row/column effects: the REML likelihood-ratio test of
  :func:`breedomics.phenome.spatial.spatial_lrt` (same fixed part in both fits; boundary
  mixture of chi-squares, Self & Liang 1987);
* fixed linear surface ``r, c, r c`` and covariates: the exact F-test of adding them to
  genotypes + replicates/blocks (:func:`linear_trend_test`, ordinary least squares: the
  two models have no random term but the residual).

The spatial model is kept when either p-value is below ``choice_alpha / 2`` (Bonferroni:
on a field without trend the block model is left with probability at most
``choice_alpha``); otherwise the trial gets the block model it would get without
coordinates. The chosen model and both statistics are in the ``heritability`` table
(``model, lrt, lrt_df, p_lrt, f_linear, p_linear``); the spatial fit's variances, trend
and variogram are reported for every trial with coordinates, chosen or not.

Stage 2 (:func:`breedomics.core.stagewise.fit_stage_two`;
Piepho et al. 2012, *Biometrical Journal* 54:844) combines the per-trial BLUEs with
weights ``1 / (SE^2 + s2GE)``; the same stage with random genotypes
(:func:`breedomics.core.stagewise.stage_two_varcomp`) gives the across-trial genotype
and GxE variances and heritabilities.

Outliers: the studentised conditional residuals of every trial's fit (spatial or block
model) are tested together per trait with the Bonferroni-Holm procedure of
:mod:`breedomics.core.outliers`, as the block model of :mod:`breedomics.gs.blue` does;
with ``drop_outliers`` the trials holding flagged plots are refitted once without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.linalg as sl
from scipy.special import fdtrc

from breedomics.core.outliers import outlier_test
from breedomics.core.stagewise import fit_stage_two, stage_two_varcomp
from breedomics.errors import UserError
from breedomics.gs.blue import check_record_columns, fit_met
from breedomics.phenome.layout import check_coordinates, spatial_environments
from breedomics.phenome.spatial import fit_spatial_trial
from breedomics.phenome.variogram import variogram

__all__ = ["LinearTest", "TrialColumns", "TrialResults", "analyse_trials", "linear_trend_test"]


#: Model-choice columns of the ``heritability`` table (module docstring).
CHOICE_COLUMNS = ["lrt", "lrt_df", "p_lrt", "f_linear", "p_linear"]


@dataclass
class TrialResults:
    """Long tables of :func:`analyse_trials` (each with ``trait`` and, per trial,
    ``environment`` columns).

    ``residuals`` holds every analysed plot of the first fit (identifiers, ``row, col``,
    observed, fitted, residual, studentised, ``p_holm``, ``outlier``, ``dropped``; fitted
    values and residuals of the random-genotype fit, the ones tested, as in the block
    model);
    ``outliers`` its flagged plots in the columns of ``gs blue``'s ``outliers.tsv``;
    ``varcomp_met`` the across-trial variance components and heritabilities (long:
    ``trait, component, estimate, se`` as ``gs blue``'s ``varcomp.tsv``).
    """

    stage1: pd.DataFrame
    blues: pd.DataFrame
    stage2: pd.DataFrame
    varcomp: pd.DataFrame
    heritability: pd.DataFrame
    trend: pd.DataFrame
    residuals: pd.DataFrame
    variogram: pd.DataFrame
    outliers: pd.DataFrame
    varcomp_met: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _tag(df: pd.DataFrame, env: str, trait: str) -> pd.DataFrame:
    df = df.copy()
    df.insert(0, "trait", trait)
    df.insert(0, "environment", env)
    return df


@dataclass
class LinearTest:
    """F-test of :func:`linear_trend_test`: statistic, degrees of freedom, p-value."""

    f: float
    df1: int
    df2: int
    p: float


def _absorb(groups: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``M`` minus its group means (the genotypes' fixed effects projected out)."""
    counts = np.bincount(groups).astype(float)
    means = np.zeros((counts.size, M.shape[1]))
    np.add.at(means, groups, M)
    return M - (means / np.maximum(counts, 1.0)[:, None])[groups]


def _residual(M: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, int]:
    """Least-squares residual of ``y`` on the columns of ``M`` and their rank."""
    if M.shape[1] == 0:
        return y, 0
    Q, R, _piv = sl.qr(M, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    rank = int((d > 1e-9 * d.max()).sum()) if d.size and d.max() > 0 else 0
    Q = Q[:, :rank]
    return y - Q @ (Q.T @ y), rank


@dataclass(frozen=True)
class TrialColumns:
    """Column names of the plot records: genotype, trial (environment), plot coordinates
    and the block model's replicates and blocks (None: not in the design)."""

    genotype: str = "genotype"
    environment: str = "environment"
    row: str = "row"
    col: str = "col"
    rep: str | None = None
    block: str | None = None


def linear_trend_test(
    records: pd.DataFrame,
    trait: str,
    columns: TrialColumns = TrialColumns(),
    covariates: Sequence[str] = (),
) -> LinearTest:
    """F-test of the spatial model's fixed terms against the block model's.

    Full model: genotypes + replicates + blocks within replicates (the block model's fixed
    part) + the linear surface ``r, c, r c`` of the plot coordinates (the fixed part of the
    PS-ANOVA P-spline: it spans the same space with the intercept) + covariates; reduced:
    without the last two. Genotypes are absorbed (within-genotype deviations), the rest
    by pivoted QR, so the degrees of freedom are ranks (terms confounded with the design
    count for nothing). ``F = ((RSS_0 - RSS_1) / df1) / (RSS_1 / df2)``, ``df2 = n -``
    rank of the full model; NaN with ``p = 1`` when there is nothing to test.
    """
    rec = records[records[trait].notna()]
    y = rec[trait].to_numpy(dtype=float)
    gi = np.unique(rec[columns.genotype].astype(str).to_numpy(), return_inverse=True)[1]
    design = []
    if columns.rep:
        design.append(rec[columns.rep].astype(str).to_numpy())
    if columns.block:
        b = rec[columns.block].astype(str).to_numpy()
        design.append(np.char.add(np.char.add(rec[columns.rep].astype(str).to_numpy(), "\t"), b)
                      if columns.rep else b)  # fmt: skip
    D = [(f[:, None] == np.unique(f)).astype(float) for f in design]
    D = np.hstack(D) if D else np.zeros((y.size, 0))
    r = rec[columns.row].to_numpy(dtype=float)
    c = rec[columns.col].to_numpy(dtype=float)
    r, c = r - r.mean(), c - c.mean()
    L = np.column_stack([r, c, r * c, rec[list(covariates)].to_numpy(dtype=float)])
    ya, Da, La = _absorb(gi, y[:, None])[:, 0], _absorb(gi, D), _absorb(gi, L)
    e0, k0 = _residual(Da, ya)
    e1, k1 = _residual(np.hstack([Da, La]), ya)
    ng = int(gi.max()) + 1
    df1, df2 = k1 - k0, y.size - ng - k1
    rss0, rss1 = float(e0 @ e0), float(e1 @ e1)
    if df1 <= 0 or df2 <= 0 or rss1 <= 0:
        return LinearTest(float("nan"), df1, df2, 1.0)
    f = max(0.0, (rss0 - rss1) / df1) / (rss1 / df2)
    return LinearTest(f, df1, df2, float(fdtrc(df1, df2, f)))


@dataclass
class _Trial:
    """Stage 1 of one trial and trait: the spatial or the block model."""

    model: str
    genotypes: pd.DataFrame
    h2: float
    ed_genotype: float
    s2e: float
    fitted: np.ndarray
    studentised: np.ndarray
    spatial: object = None
    linear: LinearTest | None = None


def _fit_trial(sub, trait, columns: TrialColumns, spatial_kw, choice_alpha) -> _Trial:
    c = columns
    f = lin = None
    if spatial_kw is not None:
        f = fit_spatial_trial(sub, trait, c.genotype, c.row, c.col, **spatial_kw)
        lin = linear_trend_test(sub, trait, c, spatial_kw["covariates"])
        if choice_alpha is None or min(f.p_lrt, lin.p) < choice_alpha / 2:
            s2e = float(f.varcomp.set_index("component").loc["residual", "variance"])
            return _Trial("spatial", f.genotypes, f.h2, f.random.ed_group, s2e,
                          f.residuals["fitted_random"].to_numpy(),
                          f.residuals["studentised"].to_numpy(),
                          f, lin)  # fmt: skip
    m = fit_met(sub, trait, c.genotype, c.environment, c.rep, c.block, gxe=False)
    v = m.varcomp.set_index("component")["estimate"]
    fitted, stud = m.residuals["fitted"].to_numpy(), m.residuals["studentised"].to_numpy()
    h2 = float(v["H2_cullis"])
    return _Trial("block", m.genotypes, h2, np.nan, float(v["s2e"]), fitted, stud, f, lin)


def _choice_row(f: _Trial) -> tuple:
    """``lrt, lrt_df, p_lrt, f_linear, p_linear`` of a trial (NaN without coordinates)."""
    if f.spatial is None:
        return (np.nan, np.nan, np.nan, np.nan, np.nan)
    s, lin = f.spatial, f.linear
    return (s.lrt, s.lrt_df, s.p_lrt, lin.f, lin.p)


def _varcomp_met(trait: str, t: pd.DataFrame, s2e: list[float]) -> pd.DataFrame:
    """Across-trial components of one trait (:func:`stage_two_varcomp`), long format."""
    names, gi = np.unique(t["genotype"].astype(str).to_numpy(), return_inverse=True)
    ei = np.unique(t["environment"].to_numpy(), return_inverse=True)[1]
    vc = stage_two_varcomp(t["blue"].to_numpy(), t["se_blue"].to_numpy(), gi, ei, names.size)
    rows = [
        ("s2G", vc.s2g, vc.se_s2g),
        ("s2GE", vc.s2ge, vc.se_s2ge),
        ("s2e", float(np.mean(s2e)), np.nan),
        ("se2_stage1", vc.mean_se2, np.nan),
        ("H2_cullis", vc.h2_cullis, np.nan),
        ("H2_standard", vc.h2_standard, np.nan),
        ("loglik_reml", vc.loglik, np.nan),
    ]
    out = pd.DataFrame(rows, columns=["component", "estimate", "se"])
    out.insert(0, "trait", trait)
    return out


def analyse_trials(
    records: pd.DataFrame,
    traits: Sequence[str],
    genotype: str = "genotype",
    environment: str = "environment",
    row: str = "row",
    col: str = "col",
    rep: str | None = None,
    block: str | None = None,
    covariates: Sequence[str] = (),
    segments: tuple[int | None, int | None] = (None, None),
    row_col_effects: bool = True,
    max_lag: int = 10,
    alpha: float = 0.05,
    threshold: float | None = None,
    drop_outliers: bool = False,
    id_column: str | None = None,
    choice_alpha: float | None = 0.05,
) -> TrialResults:
    """Both stages for every trait, with the outlier test of the block model.

    Parameters
    ----------
    records : pandas.DataFrame
        Plot records (as read by :func:`breedomics.core.tables.read_table`).
    traits : sequence of str
    genotype, environment, row, col : str
        Column names.
    rep, block : str, optional
        Replicate/block columns of the block model (trials without coordinates).
    covariates : sequence of str
        Numeric plot covariates fitted as fixed in the spatial model.
    segments : tuple
        B-spline segments along rows and columns (None: automatic).
    row_col_effects : bool
        Random row and column effects in the spatial model.
    max_lag : int
        Largest displacement of the residual variogram.
    alpha : float
        Family-wise level of the Bonferroni-Holm test of the studentised residuals; the
        family is a trait's plots over all trials, as in :func:`breedomics.gs.blue.fit_met`.
    threshold : float, optional
        Flag ``|studentised residual| > threshold`` instead of Holm.
    drop_outliers : bool
        Refit the trials with flagged plots once without them (they stay in the tables).
    id_column : str, optional
        Plot identifier column copied to the residual and outlier tables.
    choice_alpha : float, optional
        Level of the choice between the spatial and the block model of a trial with
        coordinates (module docstring); None: the spatial model for every such trial.
    """
    check_record_columns(
        records, (genotype, environment, *traits, *covariates, rep, block, id_column)
    )
    rec = check_coordinates(records, row, col, environment)
    spatial = spatial_environments(rec, row, environment)
    envs = sorted(set(rec[environment].astype(str)))
    env_col = rec[environment].astype(str).to_numpy()
    skw = {"covariates": covariates, "segments": segments, "row_col_effects": row_col_effects}
    columns = TrialColumns(genotype, environment, row, col, rep, block)
    ids = [c for c in (id_column, genotype, environment, rep, block) if c]
    s1, vcs, h2s, trends, resids, vgs, outs, mets = [], [], [], [], [], [], [], []
    for trait in traits:
        subs = {e: rec[(env_col == e) & rec[trait].notna().to_numpy()] for e in envs}
        subs = {e: sub for e, sub in subs.items() if len(sub)}
        fits = {}
        for e, sub in subs.items():
            kw = skw if e in spatial else None
            fits[e] = _fit_trial(sub, trait, columns, kw, choice_alpha)
        if not fits:
            continue
        # one outlier family per trait over all trials, as the block model
        test = outlier_test(np.concatenate([f.studentised for f in fits.values()]), alpha,
                            threshold)  # fmt: skip
        tabs, k = [], 0
        for e, sub in subs.items():
            f, n = fits[e], len(sub)
            tab = sub[ids].copy()
            tab.insert(len(ids), "trait", trait)
            if e in spatial:
                tab["row"], tab["col"] = sub[row].to_numpy(), sub[col].to_numpy()
            tab["observed"] = sub[trait].to_numpy(float)
            tab["fitted"] = f.fitted
            tab["residual"] = tab["observed"] - f.fitted
            tab["studentised"] = f.studentised
            tab["p_holm"] = test.p_holm[k : k + n]
            tab["outlier"] = test.outlier[k : k + n]
            tab["dropped"] = drop_outliers & tab["outlier"]
            k += n
            tabs.append(tab)
        tab = pd.concat(tabs, ignore_index=True)
        resids.append(tab)
        out_cols = [*ids, "trait", "observed", "fitted", "residual", "studentised", "p_holm",
                    "outlier", "dropped"]  # fmt: skip
        outs.append(tab.loc[tab["outlier"], out_cols])
        trial_s2e = []
        for e, sub, t in zip(subs, subs.values(), tabs, strict=True):
            f = fits[e]
            if drop_outliers and t["outlier"].any():
                kw = skw if e in spatial else None
                keep = ~t["outlier"].to_numpy()
                f = _fit_trial(sub[keep], trait, columns, kw, choice_alpha)
            gen = f.genotypes[["genotype", "blue", "se_blue"]].assign(model=f.model)
            s1.append(_tag(gen, e, trait))
            h2s.append((e, trait, f.model, f.h2, len(f.genotypes), f.ed_genotype,
                        *_choice_row(f)))  # fmt: skip
            trial_s2e.append(f.s2e)
            if f.spatial is not None:
                sf = f.spatial
                vcs.append(_tag(sf.varcomp, e, trait))
                trends.append(_tag(sf.trend, e, trait))
                vg = variogram(sf.residuals["row"], sf.residuals["col"],
                               sf.residuals["residual"], max_lag)  # fmt: skip
                vgs.append(_tag(vg, e, trait))
        t1 = pd.concat([x for x in s1 if x["trait"].iat[0] == trait], ignore_index=True)
        mets.append(_varcomp_met(trait, t1, trial_s2e))
    if not s1:
        raise UserError("no trait has any record in the trial records")
    stage1 = pd.concat(s1, ignore_index=True)
    blues, st2 = [], []
    for trait in traits:
        t = stage1[stage1["trait"] == trait]
        if t.empty:
            continue
        names, gi = np.unique(t["genotype"].astype(str).to_numpy(), return_inverse=True)
        ei = np.unique(t["environment"].to_numpy(), return_inverse=True)[1]
        fit = fit_stage_two(t["blue"].to_numpy(), t["se_blue"].to_numpy(), gi, ei, names.size)
        blues.append(
            pd.DataFrame(
                {
                    "genotype": names,
                    "trait": trait,
                    "blue": fit.blue,
                    "se_blue": fit.se,
                    "n_env": np.bincount(gi, minlength=names.size),
                }
            )
        )
        st2.append((trait, int(ei.max() + 1), fit.s2ge, fit.loglik))
    h2 = pd.DataFrame(h2s, columns=["environment", "trait", "model", "H2", "n_genotypes",
                                    "ed_genotype", *CHOICE_COLUMNS])  # fmt: skip

    def cat(parts: list[pd.DataFrame]) -> pd.DataFrame:
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    return TrialResults(
        stage1=stage1,
        blues=pd.concat(blues, ignore_index=True),
        stage2=pd.DataFrame(st2, columns=["trait", "n_env", "s2GE", "loglik_reml"]),
        varcomp=cat(vcs),
        heritability=h2,
        trend=cat(trends),
        residuals=cat(resids),
        variogram=cat(vgs),
        outliers=cat(outs),
        varcomp_met=cat(mets),
    )
