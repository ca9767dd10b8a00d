"""Multi-environment trial (MET) preprocessing: BLUEs/BLUPs of genotypes.

Plot records are fitted with the linear mixed model::

    y = 1 mu + env + rep(env) [+ block(env:rep)] + G + GxE + e
    G ~ N(0, s2G I),  GxE ~ N(0, s2GE I),  e ~ N(0, s2e I)

with environments and replicates (and incomplete blocks) fixed, in sum-to-zero
coding. This module builds that design from the plot records (genotypes as the
groups, genotype x environment as the cells nested in them); the variance
components are estimated by :mod:`breedomics.core.mme`: REML (Patterson &
Thompson 1971) from Henderson's mixed-model equations with GxE cells, then
genotypes, absorbed analytically, so a trial with tens of thousands of plots and
genotypes costs O(N) per likelihood evaluation plus a small dense system for the
fixed effects (stored sparse when large: SoyNAM's sets within environments are
1,867 columns over 62,572 plots); standard errors come from the observed
information (numerical Hessian of the restricted log-likelihood).

Outputs per trait and genotype:

* **BLUE** -- genotype fixed, GxE random (variances from the REML fit): the
  genotype's mean over the environments (sum-to-zero coding of environments
  and replicates), with its standard error; the usual input of a second,
  genomic stage (Piepho et al. 2012, *Biom J* 54:844).
* **BLUP** -- ``mu + g_hat`` from the random-genotype fit, with prediction
  error variance and reliability.
* **Heritability** on an entry-mean basis: Cullis, Smith & Coombes (2006,
  *JABES* 11:381) ``H2 = 1 - v_BLUP / (2 s2G)`` with ``v_BLUP`` the mean
  PEV of pairwise BLUP differences (valid for unbalanced data), and the
  standard ``s2G / (s2G + s2GE/e + s2e/(e r))`` with harmonic means of the
  numbers of environments and plots per genotype.
* **Outliers** -- internally studentised conditional residuals
  ``e_hat / (s_e sqrt(1 - q))`` (``q`` = leverage of the plot in the mixed
  model equations, :meth:`breedomics.core.mme.MME.leverage`) tested with the
  Bonferroni-Holm procedure at level ``alpha`` (Bernal-Vasquez, Utz & Piepho
  2016, *Theor Appl Genet* 129:787) or against a fixed threshold. They are
  written to a table and only removed (with a refit) when asked.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from breedomics.core.linalg import single_thread
from breedomics.core.mme import (
    MME,
    NestedDesign,
    fit_reml,
    independent_columns,
    reml_standard_errors,
)
from breedomics.core.outliers import outlier_test, studentise
from breedomics.errors import UserError

__all__ = ["MetFit", "check_record_columns", "fit_met", "met_blues", "wide_tables"]


def _sum_to_zero(
    levels: np.ndarray, parent: np.ndarray | None = None
) -> tuple[sp.csc_matrix, list]:
    """Sparse sum-to-zero contrast columns of a factor, nested within ``parent`` if given.

    Sparse because nested factors have many levels (SoyNAM: 1,848 sets within 19
    environments over 62,572 plots, 0.9 GB as a dense design).
    """
    levels = np.asarray(levels).astype(str)
    n = levels.size
    nested = parent is not None
    parent = np.full(n, "") if parent is None else np.asarray(parent).astype(str)
    pcode, _ = pd.factorize(parent)
    rows, cols, vals, names = [], [], [], []
    k = 0
    order = np.argsort(pcode, kind="stable")
    bounds = np.flatnonzero(np.diff(pcode[order])) + 1
    for grp in np.split(order, bounds):
        if grp.size == 0:
            continue
        lv, code = np.unique(levels[grp], return_inverse=True)
        if lv.size < 2:
            continue
        last = lv.size - 1
        ordinary = code < last
        # a record at level l < last: +1 in column l; at the last level: -1 in all
        rows.append(grp[ordinary])
        cols.append(k + code[ordinary])
        vals.append(np.ones(int(ordinary.sum())))
        lastrec = grp[~ordinary]
        rows.append(np.repeat(lastrec, last))
        cols.append(np.tile(np.arange(k, k + last), lastrec.size))
        vals.append(np.full(lastrec.size * last, -1.0))
        p = parent[grp[0]]
        names += [f"{p}:{x}" if nested else str(x) for x in lv[:-1]]
        k += last
    if k == 0:
        return sp.csc_matrix((n, 0)), []
    m = sp.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, k)
    )
    return m, names


@dataclass
class MetFit:
    """Result of :func:`fit_met` for one trait.

    Attributes
    ----------
    genotypes : pandas.DataFrame
        Per genotype: ``blue, se_blue, blup, pev, reliability, n_plots, n_env``.
    varcomp : pandas.DataFrame
        ``component, estimate, se`` for ``s2G, s2GE, s2e`` and the
        heritabilities ``H2_cullis``, ``H2_standard``.
    residuals : pandas.DataFrame
        Per record: identifiers, observed, fitted, residual, studentised
        residual, Holm-adjusted p-value and ``outlier`` flag (+ ``dropped``).
    loglik : float
    """

    trait: str
    genotypes: pd.DataFrame
    varcomp: pd.DataFrame
    residuals: pd.DataFrame
    loglik: float


def _design(
    rec: pd.DataFrame, trait: str, gcol: str, ecol: str, rcol, bcol
) -> tuple[NestedDesign, np.ndarray]:
    """The trial as a :class:`~breedomics.core.mme.NestedDesign` (genotypes as groups,
    genotype x environment as cells; environments, replicates and blocks fixed in
    sum-to-zero coding), and the genotype names in group order."""
    y = rec[trait].to_numpy(dtype=float)
    env = rec[ecol].astype(str).to_numpy()
    cols = [sp.csc_matrix(np.ones((len(rec), 1)))]
    names = ["mu"]
    E, en = _sum_to_zero(env)
    cols.append(E)
    names += [f"env[{x}]" for x in en]
    parent = env  # replicates within environments, blocks within environment:replicate
    for col, label in ((rcol, "rep"), (bcol, "block")):
        if not col:
            continue
        lev = rec[col].astype(str).to_numpy()
        M, mn = _sum_to_zero(lev, parent)
        cols.append(M)
        names += [f"{label}[{x}]" for x in mn]
        parent = np.char.add(np.char.add(parent, ":"), lev)
    F = sp.hstack(cols, format="csc")
    # columns in order, skipping those dependent on earlier ones (the intercept stays first)
    keep = independent_columns((F.T @ F).toarray())
    F = F[:, keep]
    names = [names[i] for i in keep]
    geno = rec[gcol].astype(str).to_numpy()
    genotypes, gi = np.unique(geno, return_inverse=True)
    ci, _ = pd.factorize(pd.MultiIndex.from_arrays([gi, env]))
    design = NestedDesign.from_codes(y, F, gi, np.asarray(ci, dtype=np.int64), names)
    return design, genotypes


def check_record_columns(records: pd.DataFrame, columns: Sequence[str | None]) -> None:
    """Stop with a :class:`UserError` at the first of ``columns`` (``None``: not used)
    missing from the trial records; the block model and the two-stage trial analysis
    name their columns the same way."""
    for c in columns:
        if c is not None and c not in records.columns:
            raise UserError(
                f"column {c!r} is not in the trial records (columns: "
                f"{', '.join(map(str, records.columns[:12]))})"
            )


def fit_met(*args, **kw) -> MetFit:
    """Fit the MET mixed model to one trait (see :func:`_fit_met` for parameters)."""
    with single_thread():  # small dense algebra: BLAS threads only add contention
        return _fit_met(*args, **kw)


def _fit_met(
    records: pd.DataFrame,
    trait: str,
    genotype: str = "genotype",
    environment: str = "environment",
    rep: str | None = None,
    block: str | None = None,
    gxe: bool | None = None,
    alpha: float = 0.05,
    threshold: float | None = None,
    drop_outliers: bool = False,
    id_column: str | None = None,
) -> MetFit:
    """Fit the MET mixed model to one trait; BLUEs, BLUPs, H2 and outliers.

    Parameters
    ----------
    records : pandas.DataFrame
        One row per plot.
    trait : str
        Column to analyse (missing values are skipped).
    genotype, environment, rep, block : str
        Column names (``rep``/``block`` optional, fixed within environment).
    gxe : bool, optional
        Fit the GxE term. Default: when at least 5% of genotype x environment
        cells have more than one plot (GxE is separable from the residual only
        through replicated cells); otherwise GxE is part of the residual.
    alpha : float
        Family-wise level of the Bonferroni-Holm outlier test.
    threshold : float, optional
        Flag ``|studentised residual| > threshold`` instead of Holm.
    drop_outliers : bool
        Refit once without the flagged plots (they stay in the table).
    id_column : str, optional
        Plot identifier column copied to the residual table.
    """
    check_record_columns(records, (genotype, environment, trait, rep, block))
    rec = records[records[trait].notna()].copy()
    if not pd.api.types.is_numeric_dtype(rec[trait]):
        raise UserError(f"trait {trait!r} is not numeric in the trial records")
    if rec.empty:
        raise UserError(f"trait {trait!r} has no records")
    for c in (genotype, environment) + ((rep,) if rep else ()) + ((block,) if block else ()):
        if rec[c].isna().any():
            raise UserError(
                f"column {c!r} is missing on {int(rec[c].isna().sum())} record(s) "
                f"with a {trait!r} value; fill or drop them"
            )
    y = rec[trait].to_numpy(dtype=float)
    if np.ptp(y) == 0:
        raise UserError(f"trait {trait!r} is constant ({y[0]:g}) in all records; drop it")
    n_geno = rec[genotype].nunique()
    if n_geno < 3:
        raise UserError(f"trait {trait!r}: only {n_geno} genotype(s) recorded; need at least 3")
    cell_n = rec.groupby([genotype, environment]).size()
    if gxe is None:
        # GxE is only separable from the residual through replicated cells; with a
        # handful of them (e.g. unreplicated trials with a few repeated lines) its
        # REML estimate is unstable, so it is fitted when >= 5% of cells are replicated
        gxe = bool(rec[environment].nunique() > 1 and (cell_n > 1).mean() >= 0.05)
    elif gxe and not (cell_n > 1).any():
        raise UserError(
            f"trait {trait!r}: every genotype has one plot per environment, so GxE "
            "cannot be separated from the residual; run without --gxe (or add replicates)"
        )
    dropped = np.zeros(len(rec), dtype=bool)
    for _attempt in range(2 if drop_outliers else 1):
        use = ~dropped
        d, genotypes = _design(rec[use], trait, genotype, environment, rep, block)
        vcomp = fit_reml(d, cell_effects=gxe)
        s2g, s2ge, s2e, ll = vcomp.s2_group, vcomp.s2_cell, vcomp.s2e, vcomp.loglik
        mme = vcomp.mme(d)
        resid = d.y - mme.fitted()
        stud = studentise(resid, s2e, mme.leverage())
        test = outlier_test(stud, alpha, threshold)
        padj, flag = test.p_holm, test.outlier
        if _attempt == 0:
            res_tab = rec[[c for c in (id_column, genotype, environment, rep, block) if c]].copy()
            res_tab["trait"] = trait
            res_tab["observed"] = rec[trait].to_numpy(float)
            for col in ("fitted", "residual", "studentised", "p_holm"):
                res_tab[col] = np.nan
            res_tab["outlier"] = False
            idx_use = np.flatnonzero(use)
            res_tab.iloc[idx_use, res_tab.columns.get_loc("fitted")] = d.y - resid
            res_tab.iloc[idx_use, res_tab.columns.get_loc("residual")] = resid
            res_tab.iloc[idx_use, res_tab.columns.get_loc("studentised")] = stud
            res_tab.iloc[idx_use, res_tab.columns.get_loc("p_holm")] = padj
            res_tab.iloc[idx_use, res_tab.columns.get_loc("outlier")] = flag
            if drop_outliers:
                dropped = res_tab["outlier"].to_numpy(bool)
                if not dropped.any():
                    break
    res_tab["dropped"] = dropped

    se = reml_standard_errors(d, vcomp.theta, gxe)
    # BLUPs (random genotypes)
    pev = s2e * mme.pev_group()
    mu = mme.beta[0]
    blup = mu + mme.u_group
    rel = np.clip(1.0 - pev / s2g, 0.0, 1.0)
    n = d.n_group.size
    v_blup = s2e * (2 * n * np.sum(mme.pev_group()) - 2 * mme.sum_c_group()) / (n * (n - 1))
    h2_cullis = 1.0 - v_blup / (2.0 * s2g)
    n_env_g = np.bincount(d.cell_group, minlength=n)
    e_h = 1.0 / np.mean(1.0 / n_env_g)
    er_h = 1.0 / np.mean(1.0 / d.n_group)
    h2_std = s2g / (s2g + (s2ge or 0.0) / e_h + s2e / er_h)
    # BLUEs (fixed genotypes, GxE random with the REML variance)
    blue_mme = MME(d, 0.0, (s2e / s2ge) if gxe else None, intercept=False)
    if blue_mme.dropped:
        warnings.warn(
            f"trait {trait!r}: {len(blue_mme.dropped)} fixed effect(s) aliased with groups of "
            f"genotypes left out of the BLUE model ({', '.join(blue_mme.dropped[:3])}"
            f"{', ...' if len(blue_mme.dropped) > 3 else ''}); BLUEs of genotypes in "
            "different groups then include the group's block effect; include the plots of "
            "check varieties grown in every block so that block effects are estimable",
            stacklevel=2,
        )
    blue = blue_mme.u_group
    se_blue = np.sqrt(s2e * blue_mme.pev_group())
    gen = pd.DataFrame(
        {
            "genotype": genotypes,
            "trait": trait,
            "blue": blue,
            "se_blue": se_blue,
            "blup": blup,
            "pev": pev,
            "reliability": rel,
            "n_plots": d.n_group,
            "n_env": n_env_g,
        }
    )
    comps = [("s2G", s2g, se[0])]
    if gxe:
        comps.append(("s2GE", s2ge, se[1]))
    comps.append(("s2e", s2e, se[-1]))
    comps += [
        ("H2_cullis", h2_cullis, np.nan),
        ("H2_standard", h2_std, np.nan),
        ("loglik_reml", ll, np.nan),
    ]
    vc = pd.DataFrame(comps, columns=["component", "estimate", "se"])
    vc.insert(0, "trait", trait)
    return MetFit(trait, gen, vc, res_tab.reset_index(drop=True), ll)


def met_blues(
    records: pd.DataFrame,
    traits: Sequence[str],
    environments: Sequence[str] | None = None,
    **kw,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Run :func:`fit_met` for several traits.

    Parameters
    ----------
    records : pandas.DataFrame
    traits : sequence of str
    environments : sequence of str, optional
        Restrict to these environment levels; an unknown level is a
        :class:`UserError`.
    **kw
        Passed to :func:`fit_met` (``genotype``, ``environment``, ``rep``...).

    Returns
    -------
    genotypes, varcomp, residuals : pandas.DataFrame
        Long tables over traits.
    """
    ecol = kw.get("environment", "environment")
    if ecol not in records.columns:
        raise UserError(f"environment column {ecol!r} is not in the trial records")
    if environments:
        known = set(records[ecol].astype(str))
        unknown = [e for e in environments if e not in known]
        if unknown:
            raise UserError(
                f"unknown environment level(s) {', '.join(unknown)}; the records have "
                f"{', '.join(sorted(known)[:20])}"
            )
        records = records[records[ecol].astype(str).isin(set(environments))]
    gens, vcs, res = [], [], []
    for t in traits:
        f = fit_met(records, t, **kw)
        gens.append(f.genotypes)
        vcs.append(f.varcomp)
        res.append(f.residuals)
    return (
        pd.concat(gens, ignore_index=True),
        pd.concat(vcs, ignore_index=True),
        pd.concat(res, ignore_index=True),
    )


def wide_tables(
    genotypes: pd.DataFrame, traits: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """BLUEs and BLUPs as one row per genotype (``sample_id``) and one column per trait.

    ``genotypes`` is the long table of :func:`met_blues`; the BLUE table is the
    phenotype table of the genomic stage (``gs cv``/``gs predict``).
    """
    out = []
    for value in ("blue", "blup"):
        wide = genotypes.pivot(index="genotype", columns="trait", values=value)[list(traits)]
        wide.index.name = "sample_id"
        out.append(wide.reset_index())
    return out[0], out[1]
