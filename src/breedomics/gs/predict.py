"""Fit a model and predict: the one fitting step of ``gs cv`` and ``gs predict``.

:func:`fit_predict` fits any :class:`~breedomics.gs.models.GSModel` on
training samples and returns what its capabilities allow for the samples
to predict: genetic values (GEBVs), phenotype predictions ``x'b + GEBV``
(the fixed part from the training estimates and the covariates of the
predicted sample; models that fit covariates jointly with the markers
predict phenotypes themselves), prediction-error variances and reliabilities,
marker effects, variance components and fixed effects. Cross-validation
(:func:`breedomics.gs.cv.run_cv`) calls it per fold, trait and model;
:func:`predict_all` calls it once per trait (or once for a multi-trait
model) on every phenotyped sample to give GEBVs of every genotyped sample,
the selection candidates included (Meuwissen, Hayes & Goddard 2001,
*Genetics* 157:1819).

The fixed-effect design is the intercept plus the covariates
(:func:`fixed_design`; categorical columns dummy-coded with the levels of the
training samples, columns aliased with earlier ones dropped).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from breedomics.gs.data import Genotypes, design_matrix, full_rank_columns
from breedomics.gs.models import GSModel, make_model

__all__ = ["Prediction", "fixed_design", "fit_predict", "PredictResult", "predict_all"]


@dataclass
class Prediction:
    """What :func:`fit_predict` returns for the predicted samples.

    Attributes
    ----------
    model : str
        The model's label (e.g. ``GBLUP``).
    gebv : numpy.ndarray
        Genetic values, ``(m,)`` (``(m, t)`` for a multi-trait model).
    phenotype : numpy.ndarray or None
        ``x'b + GEBV`` (None without the design of the predicted samples).
    pev, reliability : numpy.ndarray
        NaN where the model gives none (or they were not asked for).
    varcomp : list of dict
        Variance-component rows.
    marker_effects : pandas.DataFrame or None
    beta, se_beta : numpy.ndarray
        Fixed effects of the design's columns and their SEs (NaN where the
        model has none); ``(q, t)`` for a multi-trait model.
    seconds : float
        Time to fit and predict.
    """

    model: str
    gebv: np.ndarray
    phenotype: np.ndarray | None
    pev: np.ndarray
    reliability: np.ndarray
    varcomp: list[dict]
    marker_effects: pd.DataFrame | None
    beta: np.ndarray
    se_beta: np.ndarray
    seconds: float


def fixed_design(
    covariates: pd.DataFrame | None, train: Sequence[str], targets: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Designs of the training and predicted samples, and the column names.

    Without covariates, an intercept. Categorical covariates are coded with
    the training samples' levels (an unknown level of a predicted sample is a
    :class:`~breedomics.errors.UserError`); columns aliased with earlier ones
    in the training design are dropped from both.
    """
    if covariates is None:
        return np.ones((len(train), 1)), np.ones((len(targets), 1)), ["intercept"]
    Xtr, names, levels = design_matrix(covariates, train)
    keep = full_rank_columns(Xtr)
    Xte, _, _ = design_matrix(covariates, targets, levels=levels)
    return Xtr[:, keep], Xte[:, keep], [names[i] for i in keep]


def fit_predict(
    model: GSModel,
    geno: Genotypes,
    train: np.ndarray,
    y: np.ndarray,
    X: np.ndarray,
    targets: np.ndarray,
    X_targets: np.ndarray | None = None,
    trait: str = "",
    reliability: bool = False,
    effects: bool = False,
    quiet: bool = False,
) -> Prediction:
    """Fit ``model`` on ``train`` and predict ``targets``.

    Parameters
    ----------
    model : GSModel
        A new model (:func:`~breedomics.gs.models.make_model`).
    geno : Genotypes
    train, targets : array of int
        Training and predicted samples (indices into ``geno``).
    y : numpy.ndarray
        Phenotypes of ``train`` (``(n, t)`` for a multi-trait model).
    X : numpy.ndarray
        Fixed-effect design of ``train``.
    X_targets : numpy.ndarray, optional
        Design of ``targets``, for phenotype predictions.
    trait : str
        Trait name of the variance-component rows.
    reliability : bool
        Compute PEVs and reliabilities (models with the capability).
    effects : bool
        Return the marker effects (models with the capability).
    quiet : bool
        Silence the models' warnings (e.g. REML at a bound in a CV fold).
    """
    caps = model.capabilities
    t0 = time.perf_counter()
    track = targets if reliability and caps.tracks_targets else None
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore", UserWarning)
        model.fit(geno, train, y, X, targets=track)
    gebv = model.predict(targets)
    phen = None
    if X_targets is not None:
        if caps.includes_fixed:
            phen = model.predict_phenotype(targets, X_targets)
        else:
            phen = X_targets @ model.beta + gebv
    if reliability and caps.reliability:
        pev, rel = model.reliability(targets)
    else:
        pev = rel = np.full(gebv.shape, np.nan)
    table = model.marker_effects() if effects and caps.marker_effects else None
    q = X.shape[1]
    if caps.multi_trait:
        beta, se_beta = np.asarray(model.beta), np.asarray(model.se_beta)
    else:
        beta, se_beta = model.fixed_effects(q)
    return Prediction(
        model=model.name,
        gebv=gebv,
        phenotype=phen,
        pev=pev,
        reliability=rel,
        varcomp=model.varcomp_rows(trait),
        marker_effects=table,
        beta=beta,
        se_beta=se_beta,
        seconds=time.perf_counter() - t0,
    )


@dataclass
class PredictResult:
    """Tables of :func:`predict_all`.

    Attributes
    ----------
    model : str
        The model's label.
    long : pandas.DataFrame
        ``sample_id, model, trait, phenotyped, gebv, pev, reliability``.
    wide : pandas.DataFrame
        One row per genotyped sample: a GEBV and a ``<trait>.reliability``
        column per trait.
    marker_effects : pandas.DataFrame or None
    varcomp, fixed : pandas.DataFrame
        Variance components; fixed effects ``model, trait, effect, estimate, se``.
    """

    model: str
    long: pd.DataFrame
    wide: pd.DataFrame
    marker_effects: pd.DataFrame | None
    varcomp: pd.DataFrame
    fixed: pd.DataFrame


def predict_all(
    geno: Genotypes,
    pheno: pd.DataFrame,
    traits: Sequence[str],
    model_name: str,
    covariates: pd.DataFrame | None = None,
    options: dict | None = None,
    log: Callable[[str], None] | None = None,
) -> PredictResult:
    """Fit ``model_name`` on all phenotyped samples; GEBVs of every genotyped sample.

    Parameters
    ----------
    geno : Genotypes
    pheno : pandas.DataFrame
        Phenotypes indexed by sample id (genotyped samples only).
    traits : sequence of str
    model_name : str
        A name of :mod:`breedomics.gs.models`; a multi-trait model is fitted
        to all traits at once (on the samples with any of them), a
        single-trait model to each trait on the samples that have it.
    covariates : pandas.DataFrame, optional
        Fixed covariates indexed by sample id.
    options : dict, optional
        Model options (:func:`~breedomics.gs.models.make_model`); the REML
        reduction is always float64 here (``single`` is ignored).
    log : callable, optional
        Progress messages.
    """
    log = log or (lambda m: None)
    options = {**(options or {}), "single": False}
    traits = list(traits)
    allidx = np.arange(geno.n)
    observed = {t: pheno.index[pheno[t].notna()].tolist() for t in traits}
    fits: list[tuple[str, list[str], list[str], Prediction]] = []
    model = make_model(model_name, options, traits=traits)
    if model.capabilities.multi_trait:
        train_s = pheno.index[pheno[traits].notna().any(axis=1)].tolist()
        Xtr, _, names = fixed_design(covariates, train_s, train_s[:1])
        y = pheno.loc[train_s, traits].to_numpy(float)
        p = fit_predict(model, geno, geno.index(train_s), y, Xtr, allidx, reliability=True)
        for k, t in enumerate(traits):
            one = Prediction(
                p.model, p.gebv[:, k], None, p.pev[:, k], p.reliability[:, k],
                p.varcomp if k == 0 else [], None, p.beta[:, k], p.se_beta[:, k], p.seconds,
            )  # fmt: skip
            fits.append((t, observed[t], names, one))
    else:
        for k, t in enumerate(traits):
            train_s = observed[t]
            Xtr, _, names = fixed_design(covariates, train_s, train_s[:1])
            model = model if k == 0 else make_model(model_name, options, traits=traits)
            y = pheno.loc[train_s, t].to_numpy(float)
            p = fit_predict(
                model, geno, geno.index(train_s), y, Xtr, allidx, trait=t,
                reliability=True, effects=True,
            )  # fmt: skip
            fits.append((t, train_s, names, p))
            log(f"{t}: fitted {p.model} on {len(train_s)} records")
    label = fits[0][3].model
    long_rows, eff_tabs, vc_rows, fixed_rows = [], [], [], []
    for t, train_s, names, p in fits:
        ph = set(train_s)
        long_rows.append(
            pd.DataFrame(
                {
                    "sample_id": geno.samples,
                    "trait": t,
                    "phenotyped": [s in ph for s in geno.samples],
                    "gebv": p.gebv,
                    "pev": p.pev,
                    "reliability": p.reliability,
                }
            )
        )
        if p.marker_effects is not None:
            eff = p.marker_effects.copy()
            eff.insert(0, "trait", t)
            eff_tabs.append(eff)
        vc_rows += p.varcomp
        fixed_rows += [
            dict(model=label, trait=t, effect=nm, estimate=p.beta[j], se=p.se_beta[j])
            for j, nm in enumerate(names)
        ]
    long = pd.concat(long_rows, ignore_index=True)
    long.insert(1, "model", label)
    wide = long.pivot(index="sample_id", columns="trait", values="gebv")[traits]
    rel = long.pivot(index="sample_id", columns="trait", values="reliability")[traits]
    rel.columns = [f"{c}.reliability" for c in rel.columns]
    wide = wide.join(rel).loc[geno.samples]
    wide.index.name = "sample_id"
    return PredictResult(
        model=label,
        long=long,
        wide=wide.reset_index(),
        marker_effects=pd.concat(eff_tabs, ignore_index=True) if eff_tabs else None,
        varcomp=pd.DataFrame(vc_rows),
        fixed=pd.DataFrame(fixed_rows),
    )
