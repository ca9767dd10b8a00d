"""Cross-validation of genomic prediction models.

Two schemes are provided, both written out as a fold table so that a run can
be repeated exactly or compared with another tool:

* repeated k-fold (each repeat a new random partition of the phenotyped
  samples), and
* leave-one-group-out (LOGO) over subpopulations/families/environments: the
  validation set is one group, the training set all others, which measures
  across-population prediction (e.g. Riedelsheimer et al. 2013, *Genetics*
  194:493).

For every model, trait, repeat and fold the validation predictions are
compared with the observed phenotypes (and, for simulations, with the true
genetic values): Pearson correlation (predictive ability), Spearman rank
correlation, the slope of the regression of observed on predicted values
(bias/dispersion: 1 = unbiased, < 1 = over-dispersed predictions; Mantysaari
et al. 2020, *J Anim Breed Genet* 137:3), and the mean squared error.
Metrics are computed per fold and on the predictions pooled over the folds of
each repeat; summaries give their mean and standard deviation across repeats
(or across groups for LOGO).

Predictions are ``x'b + GEBV``: the fixed part uses the training estimates of
the covariate effects and the covariates of the validation sample. Single-trait
models predict the validation samples phenotyped for the trait (the others have
nothing to be compared with, and a level of a fixed effect seen only in them is
not estimable); multi-trait GBLUP predicts every validation sample.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from breedomics.core.phenotypes import check_trait
from breedomics.core.progress import Progress, plural
from breedomics.errors import UserError
from breedomics.gs.data import Genotypes, read_table
from breedomics.gs.models import make_model
from breedomics.gs.predict import fit_predict, fixed_design

__all__ = [
    "kfold_folds",
    "group_folds",
    "make_folds",
    "read_folds",
    "select_repeat",
    "metrics",
    "metric_table",
    "CVResult",
    "run_cv",
    "gather",
    "summarise",
    "summary_lines",
    "plot_cv",
]

FOLD_COLUMNS = ["sample_id", "repeat", "fold"]


# --------------------------------------------------------------------------- folds
def kfold_folds(samples: Sequence[str], k: int, repeats: int = 1, seed: int = 1) -> pd.DataFrame:
    """Random k-fold partitions of ``samples``, one per repeat.

    Fold sizes differ by at most one. Raises :class:`UserError` if there are
    fewer samples than ``2 k`` (each fold needs validation samples and the
    training set must stay larger than any fold).
    """
    samples = list(samples)
    n = len(samples)
    if k < 2:
        raise UserError(f"--folds must be at least 2, got {k}")
    if repeats < 1:
        raise UserError(f"--repeats must be at least 1, got {repeats}")
    if n < 2 * k:
        raise UserError(
            f"too few samples for {k}-fold cross-validation: {n} phenotyped sample(s), "
            f"need at least {2 * k}; lower --folds or add phenotypes"
        )
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(repeats):
        fold = rng.permutation(np.arange(n) % k) + 1
        rows.append(pd.DataFrame({"sample_id": samples, "repeat": r + 1, "fold": fold}))
    return pd.concat(rows, ignore_index=True)


def group_folds(samples: Sequence[str], groups: pd.Series) -> pd.DataFrame:
    """Leave-one-group-out folds: fold = group label (one repeat).

    ``groups`` maps sample id -> group; every sample must have one, and at
    least two groups are needed.
    """
    samples = list(samples)
    missing = [s for s in samples if s not in groups.index or pd.isna(groups.get(s))]
    if missing:
        raise UserError(
            f"sample {missing[0]!r} has no group for leave-one-group-out CV "
            f"({len(missing)} sample(s) without a group); fill the group column"
        )
    g = groups.loc[samples].astype(str)
    if g.nunique() < 2:
        raise UserError(
            f"leave-one-group-out CV needs at least 2 groups, found {g.nunique()} "
            f"({', '.join(g.unique()[:3])})"
        )
    return pd.DataFrame({"sample_id": samples, "repeat": 1, "fold": g.to_numpy()})


def read_folds(path: str, samples: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a fold table (``sample_id``, optional ``repeat``, ``fold``).

    Written by ``breedomics gs cv``; a two-column table (sample, fold), such as
    the BGLR wheat ``cv_folds.tsv``, is read as one repeat.
    """
    df = read_table(path, what="fold", unique=False)
    df = df.rename(columns={df.columns[0]: "sample_id"})
    if "fold" not in df.columns:
        if df.shape[1] == 2:
            df = df.rename(columns={df.columns[1]: "fold"})
        else:
            raise UserError(f"fold file {path} needs a 'fold' column")
    if "repeat" not in df.columns:
        df["repeat"] = 1
    df = df[FOLD_COLUMNS].dropna()
    if samples is not None:
        known = set(samples)
        df = df[df["sample_id"].isin(known)]
    if df.empty:
        raise UserError(f"fold file {path} has no sample in common with the phenotyped samples")
    return df.reset_index(drop=True)


def make_folds(
    pheno: pd.DataFrame,
    samples: Sequence[str],
    k: int = 5,
    repeats: int = 1,
    seed: int = 1,
    group_col: str | None = None,
    groups: str | None = None,
    pheno_path: str = "the phenotype table",
) -> pd.DataFrame:
    """Repeated k-fold folds of ``samples``, or leave-one-group-out over ``group_col``.

    The group column is read from the table ``groups`` (sample id first) if
    given, else from the phenotype table ``pheno``.
    """
    if not group_col:
        return kfold_folds(samples, k, repeats, seed=seed)
    gt = pheno
    if groups:
        gt = read_table(groups, what="group")
        gt = gt.set_index(gt.columns[0])
    if group_col not in gt.columns:
        raise UserError(f"group column {group_col!r} not found in {groups or pheno_path}")
    gt.index = gt.index.astype(str)
    return group_folds(samples, gt[group_col])


def select_repeat(folds: pd.DataFrame, repeat: int | None, path: str = "the fold file"):
    """The folds of one repeat (all of them if ``repeat`` is None)."""
    if repeat is None:
        return folds
    if repeat not in set(folds["repeat"]):
        raise UserError(
            f"--repeat {repeat} is not in {path} (repeats "
            f"{', '.join(map(str, sorted(set(folds['repeat']))))})"
        )
    return folds[folds["repeat"] == repeat].reset_index(drop=True)


# --------------------------------------------------------------------------- metrics
def metrics(obs: np.ndarray, pred: np.ndarray) -> dict:
    """Pearson r, Spearman rho, slope of obs on pred, intercept, MSE and n."""
    obs = np.asarray(obs, dtype=float)
    pred = np.asarray(pred, dtype=float)
    n = obs.size
    out = dict(n=n, pearson=np.nan, spearman=np.nan, slope=np.nan, mse=np.nan)
    if n == 0:
        return out
    out["mse"] = float(np.mean((obs - pred) ** 2))
    if n >= 3 and np.std(pred) > 0 and np.std(obs) > 0:
        out["pearson"] = float(np.corrcoef(obs, pred)[0, 1])
        # Spearman: Pearson of average ranks (scipy.stats.spearmanr; pandas ranks spare
        # each job the scipy.stats import)
        ranks = pd.DataFrame({"obs": obs, "pred": pred}).rank()
        out["spearman"] = float(np.corrcoef(ranks["obs"], ranks["pred"])[0, 1])
        c = np.cov(obs, pred)
        out["slope"] = float(c[0, 1] / c[1, 1])
    return out


# --------------------------------------------------------------------------- runner
@dataclass
class CVResult:
    """Outputs of :func:`run_cv`.

    Attributes
    ----------
    folds : pandas.DataFrame
        ``sample_id, repeat, fold``.
    predictions : pandas.DataFrame
        ``model, trait, repeat, fold, sample_id, observed, predicted, gebv``
        (+ ``true_g`` when the truth is given).
    metrics : pandas.DataFrame
        ``model, trait, repeat, fold, level`` (``fold`` or ``repeat``) and the
        metrics of :func:`metrics` (+ ``*_true`` versus the truth).
    varcomp : pandas.DataFrame
        Variance components per model, trait, repeat and fold.
    timing : pandas.DataFrame
        Seconds per model, trait, repeat and fold.
    """

    folds: pd.DataFrame
    predictions: pd.DataFrame
    metrics: pd.DataFrame
    varcomp: pd.DataFrame
    timing: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        return summarise(self.metrics)


def run_cv(
    geno: Genotypes,
    pheno: pd.DataFrame,
    traits: Sequence[str],
    models: Sequence[str],
    folds: pd.DataFrame,
    covariates: pd.DataFrame | None = None,
    options: dict | None = None,
    truth: pd.DataFrame | None = None,
    log: Callable[[str], None] | None = None,
) -> CVResult:
    """Cross-validate ``models`` on ``traits``.

    Every model is fitted and predicted by :func:`breedomics.gs.predict.fit_predict`,
    as ``gs predict`` does: single-trait models per trait on the training samples
    phenotyped for it, multi-trait models once per fold on the training samples with
    any trait.

    Parameters
    ----------
    geno : Genotypes
        Panel containing every sample of ``folds``.
    pheno : pandas.DataFrame
        Phenotypes indexed by sample id.
    traits, models : sequence of str
        Trait columns and model names (:mod:`breedomics.gs.models`).
    folds : pandas.DataFrame
        ``sample_id, repeat, fold`` (:func:`kfold_folds`, :func:`group_folds`,
        :func:`read_folds`).
    covariates : pandas.DataFrame, optional
        Fixed covariates indexed by sample id.
    options : dict, optional
        Model options (:func:`breedomics.gs.models.make_model`). ``single``
        (float32 REML reduction) defaults to True here.
    truth : pandas.DataFrame, optional
        True genetic values (columns = traits) for simulations.
    log : callable, optional
        Progress messages.
    """
    log = log or (lambda m: None)
    options = dict(options or {})
    # float32 tridiagonalisation in the folds: twice as fast, h2 agrees to ~1e-6
    options.setdefault("single", True)
    traits = list(traits)
    folds = folds.copy()
    folds["sample_id"] = folds["sample_id"].astype(str)
    in_geno = set(geno.samples)
    absent = [s for s in folds["sample_id"].unique() if s not in in_geno]
    if absent:
        raise UserError(
            f"sample {absent[0]!r} of the fold table is not genotyped "
            f"({len(absent)} such sample(s)); drop it from the phenotypes/folds"
        )
    for t in traits:
        check_trait(pheno[t].to_numpy(dtype=float), t, "phenotype table")
    pred_rows, vc_rows, time_rows = [], [], []
    cache: dict = {}

    def record(p, rep, fold, trait, samples, observed, gebv, predicted, seconds, n_train):
        pred_rows.append(
            pd.DataFrame(
                {
                    "model": p.model,
                    "trait": trait,
                    "repeat": rep,
                    "fold": fold,
                    "sample_id": samples,
                    "observed": observed,
                    "predicted": predicted,
                    "gebv": gebv,
                }
            )
        )
        time_rows.append(
            dict(model=p.model, trait=trait, repeat=rep, fold=fold, seconds=seconds,
                 n_train=n_train)
        )  # fmt: skip

    multi = {n: make_model(n, options, traits=traits).capabilities.multi_trait for n in models}
    splits = folds.groupby(["repeat", "fold"], sort=True)
    n_single = sum(not multi[n] for n in models)
    n_fits = splits.ngroups * (n_single * len(traits) + len(models) - n_single)
    n_rep, n_fold = folds["repeat"].nunique(), folds["fold"].nunique()
    label = f"gs cv ({', '.join(models)}; {plural(len(traits), 'trait')}, {n_rep} x {n_fold} folds)"
    progress = Progress(n_fits, label, "fits")
    for (rep, fold), test_df in splits:
        test_s = test_df["sample_id"].tolist()
        rep_s = folds.loc[folds["repeat"] == rep, "sample_id"]
        train_all = rep_s[~rep_s.isin(set(test_s))].tolist()
        for t in traits:
            train_s, test_t, ytr, yte = _trait_split(pheno, t, train_all, test_s, rep, fold)
            Xtr, Xte, _ = fixed_design(covariates, train_s, test_t)
            for name in [n for n in models if not multi[n]]:
                t0 = time.perf_counter()
                model = make_model(name, options, cache)
                p = fit_predict(
                    model, geno, geno.index(train_s), ytr, Xtr, geno.index(test_t), Xte,
                    trait=t, quiet=True,
                )  # fmt: skip
                secs = time.perf_counter() - t0
                record(p, rep, fold, t, test_t, yte, p.gebv, p.phenotype, secs, len(train_s))
                vc_rows += [{**row, "repeat": rep, "fold": fold} for row in p.varcomp]
                log(f"  repeat {rep} fold {fold} {t} {p.model}: {secs:.1f}s")
                progress.update(1)
        for name in [n for n in models if multi[n]]:
            any_obs = pheno.loc[train_all, traits].notna().any(axis=1).to_numpy()
            train_s = [s for s, o in zip(train_all, any_obs, strict=True) if o]
            Xtr, Xte, _ = fixed_design(covariates, train_s, test_s)
            Y = pheno.loc[train_s, traits].to_numpy(dtype=float)
            model = make_model(name, options, cache, traits=traits)
            p = fit_predict(model, geno, geno.index(train_s), Y, Xtr, geno.index(test_s), Xte)
            for k, t in enumerate(traits):
                record(p, rep, fold, t, test_s, pheno.loc[test_s, t].to_numpy(float),
                       p.gebv[:, k], p.phenotype[:, k], p.seconds / len(traits),
                       len(train_s))  # fmt: skip
            vc_rows += [{**row, "repeat": rep, "fold": fold} for row in p.varcomp]
            log(f"  repeat {rep} fold {fold} {p.model}: {p.seconds:.1f}s")
            progress.update(1)
    progress.close()

    preds = pd.concat(pred_rows, ignore_index=True)
    if truth is not None:
        preds["true_g"] = [
            truth.at[s, t] if t in truth.columns else np.nan
            for s, t in zip(preds["sample_id"], preds["trait"], strict=True)
        ]
    return CVResult(
        folds=folds[FOLD_COLUMNS].reset_index(drop=True),
        predictions=preds,
        metrics=metric_table(preds),
        varcomp=pd.DataFrame(vc_rows),
        timing=pd.DataFrame(time_rows),
    )


def _trait_split(pheno, t, train_all, test_s, rep, fold):
    """Training samples phenotyped for ``t``, and the validation samples that are.

    Validation samples without the trait have nothing to be compared with and are
    not predicted (their fixed-effect levels may not even occur in training).
    """
    ytr_all = pheno.loc[train_all, t].to_numpy(dtype=float)
    yte_all = pheno.loc[test_s, t].to_numpy(dtype=float)
    if not np.isfinite(yte_all).any():
        raise UserError(
            f"no phenotyped sample for trait {t!r} in repeat {rep}, fold {fold} "
            f"({len(test_s)} validation sample(s), all missing); use fewer folds "
            "or assign folds among samples phenotyped for this trait"
        )
    ok = np.isfinite(ytr_all)
    train_s = [s for s, o in zip(train_all, ok, strict=True) if o]
    if len(train_s) < 5:
        raise UserError(
            f"trait {t!r}, repeat {rep}, fold {fold}: only {len(train_s)} phenotyped "
            "training sample(s); need at least 5"
        )
    check_trait(ytr_all[ok], t, f"training set of repeat {rep}, fold {fold}")
    seen = np.isfinite(yte_all)
    test_t = [s for s, o in zip(test_s, seen, strict=True) if o]
    return train_s, test_t, ytr_all[ok], yte_all[seen]


def metric_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Metrics per model, trait, repeat and fold (``level`` fold) and per repeat (pooled).

    Samples without an observed phenotype are left out.
    """
    ok = predictions["observed"].notna()
    rows = []
    for keys, df in predictions[ok].groupby(["model", "trait", "repeat", "fold"], sort=False):
        rows.append(_metric_row(keys, df, "fold"))
    for (m, t, r), df in predictions[ok].groupby(["model", "trait", "repeat"], sort=False):
        rows.append(_metric_row((m, t, r, "all"), df, "repeat"))
    return pd.DataFrame(rows)


def _metric_row(keys, df: pd.DataFrame, level: str) -> dict:
    m, t, r, f = keys
    row = dict(model=m, trait=t, repeat=r, fold=f, level=level)
    row.update(metrics(df["observed"], df["predicted"]))
    if "true_g" in df.columns and df["true_g"].notna().all():
        tm = metrics(df["true_g"], df["gebv"])
        row.update({f"{k}_true": v for k, v in tm.items() if k in ("pearson", "slope")})
    return row


def gather(folders: Sequence[str | Path]) -> CVResult:
    """Combine the output folders of scattered ``gs cv`` runs into one result.

    Every folder must hold the ``cv_*.tsv`` tables of a finished run; an empty
    table (e.g. the variance components of a random forest) adds nothing.
    """
    tabs: dict[str, list[pd.DataFrame]] = {k: [] for k in _TABLES}
    folds = []
    for d in map(Path, folders):
        for k in _TABLES:
            f = d / f"cv_{k}.tsv"
            if not f.exists():
                raise UserError(f"{f} is missing: {d} is not a finished `gs cv` output folder")
            try:
                tabs[k].append(pd.read_csv(f, sep="\t"))
            except pd.errors.EmptyDataError:
                pass
        if (d / "folds.tsv").exists():
            folds.append(pd.read_csv(d / "folds.tsv", sep="\t", dtype={"sample_id": str}))
    cat = {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in tabs.items()}
    fold_tab = pd.concat(folds, ignore_index=True).drop_duplicates() if folds else pd.DataFrame()
    return CVResult(fold_tab, cat["predictions"], cat["metrics"], cat["varcomp"], cat["timing"])


_TABLES = ("predictions", "metrics", "varcomp", "timing")


def summary_lines(summary: pd.DataFrame, level: str) -> list[str]:
    """One line per model and trait of a :func:`summarise` table at ``level``."""
    return [
        f"{r['model']:>16} {r['trait']:>12}: r = {r['pearson_mean']:.3f} "
        f"(sd {r['pearson_sd']:.3f}), slope {r['slope_mean']:.2f}"
        for _, r in summary[summary["level"] == level].iterrows()
    ]


def summarise(metric_table: pd.DataFrame) -> pd.DataFrame:
    """Mean and SD of each metric across repeats (pooled folds) and across folds.

    Returns one row per model, trait and ``level``: ``repeat`` summarises the
    per-repeat pooled metrics (spread = variation between repeats), ``fold``
    the per-fold metrics (spread = variation between folds or LOGO groups).
    """
    value_cols = [
        c
        for c in metric_table.columns
        if c not in ("model", "trait", "repeat", "fold", "level", "n")
    ]
    rows = []
    for (m, t, lev), df in metric_table.groupby(["model", "trait", "level"], sort=False):
        row = dict(model=m, trait=t, level=lev, n_units=len(df))
        for c in value_cols:
            v = df[c].to_numpy(dtype=float)
            row[f"{c}_mean"] = float(np.nanmean(v)) if np.isfinite(v).any() else np.nan
            row[f"{c}_sd"] = float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def plot_cv(result: CVResult, path: str) -> str:
    """Box plots of per-fold accuracy by model for each trait, plus obs-vs-pred scatter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    met = result.metrics[result.metrics["level"] == "fold"]
    traits = list(dict.fromkeys(met["trait"]))
    models = list(dict.fromkeys(met["model"]))
    fig, axes = plt.subplots(2, len(traits), figsize=(4.2 * len(traits), 7.5), squeeze=False)
    for k, t in enumerate(traits):
        ax = axes[0, k]
        data = [met.loc[(met.trait == t) & (met.model == m), "pearson"].dropna() for m in models]
        ax.boxplot(data, tick_labels=models)
        ax.set_title(f"{t}: per-fold Pearson r")
        ax.tick_params(axis="x", rotation=45)
        ax = axes[1, k]
        pr = result.predictions
        for m in models:
            d = pr[(pr.trait == t) & (pr.model == m) & (pr["repeat"] == pr["repeat"].min())]
            ax.scatter(d["predicted"], d["observed"], s=6, alpha=0.5, label=m)
        ax.set_xlabel("predicted")
        ax.set_ylabel("observed")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
