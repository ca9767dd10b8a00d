"""Stage-wise analysis of trials: a spatial or block model per trial, then the genotype
means over trials weighted by the first stage's standard errors.

Stage 1 fits, per trait and trial (environment), the SpATS model of
:mod:`breedomics.phenome.spatial` when the trial's plots have row/column coordinates,
and otherwise the block model of :func:`breedomics.gs.blue.fit_met` restricted to the
trial (replicates/blocks fixed). Stage 2 (:func:`breedomics.core.stagewise.fit_stage_two`;
Piepho et al. 2012, *Biometrical Journal* 54:844) combines the per-trial BLUEs with
weights ``1 / (SE^2 + s2GE)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from breedomics.core.stagewise import fit_stage_two
from breedomics.errors import UserError
from breedomics.gs.blue import fit_met
from breedomics.phenome.layout import check_coordinates, spatial_environments
from breedomics.phenome.spatial import fit_spatial_trial
from breedomics.phenome.variogram import variogram

__all__ = ["TrialResults", "analyse_trials"]


@dataclass
class TrialResults:
    """Long tables of :func:`analyse_trials` (each with ``trait`` and, per trial,
    ``environment`` columns)."""

    stage1: pd.DataFrame
    blues: pd.DataFrame
    stage2: pd.DataFrame
    varcomp: pd.DataFrame
    heritability: pd.DataFrame
    trend: pd.DataFrame
    residuals: pd.DataFrame
    variogram: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _tag(df: pd.DataFrame, env: str, trait: str) -> pd.DataFrame:
    df = df.copy()
    df.insert(0, "trait", trait)
    df.insert(0, "environment", env)
    return df


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
) -> TrialResults:
    """Both stages for every trait.

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
    """
    for c in (genotype, environment, *traits, *covariates):
        if c not in records.columns:
            raise UserError(
                f"column {c!r} is not in the trial records (columns: "
                f"{', '.join(map(str, records.columns[:12]))})"
            )
    rec = check_coordinates(records, row, col, environment)
    spatial = spatial_environments(rec, row, environment)
    envs = sorted(set(rec[environment].astype(str)))
    env_col = rec[environment].astype(str).to_numpy()
    s1, vcs, h2s, trends, resids, vgs = [], [], [], [], [], []
    for trait in traits:
        for e in envs:
            sub = rec[env_col == e]
            if sub[trait].notna().sum() == 0:
                continue
            if e in spatial:
                f = fit_spatial_trial(
                    sub, trait, genotype, row, col, covariates, segments, row_col_effects
                )
                gen = f.genotypes[["genotype", "blue", "se_blue"]].assign(model="spatial")
                vcs.append(_tag(f.varcomp, e, trait))
                ed_g = f.random.ed_group
                h2s.append((e, trait, "spatial", f.h2, int(f.genotypes.shape[0]), ed_g))
                trends.append(_tag(f.trend, e, trait))
                resids.append(_tag(f.residuals, e, trait))
                vg = variogram(f.residuals["row"], f.residuals["col"], f.residuals["residual"],
                               max_lag)  # fmt: skip
                vgs.append(_tag(vg, e, trait))
            else:
                m = fit_met(sub, trait, genotype, environment, rep, block, gxe=False)
                gen = m.genotypes[["genotype", "blue", "se_blue"]].assign(model="block")
                v = m.varcomp.set_index("component")["estimate"]
                h2s.append((e, trait, "block", float(v["H2_cullis"]), len(m.genotypes), np.nan))
            s1.append(_tag(gen, e, trait))
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
    h2 = pd.DataFrame(
        h2s, columns=["environment", "trait", "model", "H2", "n_genotypes", "ed_genotype"]
    )

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
    )
