"""``breedomics phenome``: field-trial phenotypes.

Subcommands
-----------
``spatial``
    Plot records with row/column coordinates -> per trial and trait the SpATS model
    (BLUEs, standard errors, generalised heritability, effective dimensions, fitted
    trend, residual variogram); trials without coordinates get the block model, and so do
    trials with coordinates whose spatial terms fail both tests of the model choice (REML
    likelihood ratio of the random terms, F-test of the linear surface; each at
    ``--choice-alpha / 2``; :mod:`breedomics.phenome.trials`); the per-trial BLUEs are
    combined over trials by a weighted second stage.
``curves``
    Repeated measurements (drone flights, weighings) -> per unit logistic, Gompertz and
    monotone P-spline fits, AICc choice, derived traits averaged per genotype
    (:mod:`breedomics.phenome.curves_cli`).

Outputs of ``spatial`` (in ``--out-dir``): ``blues.tsv`` (one row per genotype, one
column per trait: the table ``gs cv``/``gs predict`` read), ``blues_long.tsv``,
``stage1_blues.tsv``, ``stage2.tsv``, ``heritability.tsv`` (per trial: ``model``
spatial/block, ``H2``, the model-choice statistics ``lrt, lrt_df, p_lrt, f_linear,
p_linear``), ``varcomp.tsv``
(per trial: variances and effective dimensions), ``varcomp_met.tsv`` (across trials:
``trait, component, estimate, se`` for ``s2G, s2GE, s2e, se2_stage1, H2_cullis,
H2_standard, loglik_reml``, the layout of ``gs blue``'s ``varcomp.tsv``),
``trend.tsv``, ``residuals.tsv`` (every plot with its studentised residual and outlier
test), ``outliers.tsv`` (the flagged plots, in the columns of ``gs blue``'s
``outliers.tsv``), ``variogram.tsv``, ``field_map.png``, ``variogram.png`` and
``settings.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from breedomics.cli import add_subcommands, run_subcommand
from breedomics.core import tables
from breedomics.phenome.curves_cli import _csv, _log, add_curves, run_curves

__all__ = ["add_arguments", "run"]


def _add_spatial(sub) -> None:
    p = sub.add_parser("spatial", help="spatial (SpATS) analysis of field trials + 2nd stage")
    p.add_argument("--records", required=True, help="plot-level TSV/CSV")
    p.add_argument("--traits", required=True, help="comma-separated trait columns")
    p.add_argument("--genotype-col", default="genotype")
    p.add_argument("--env-col", default="environment")
    p.add_argument("--row-col", default="row", help="row coordinate column (numbers)")
    p.add_argument("--col-col", default="col", help="column coordinate column (numbers)")
    p.add_argument("--rep-col", help="replicate column (block model of trials w/o coordinates)")
    p.add_argument("--block-col", help="block column (block model of trials w/o coordinates)")
    p.add_argument("--covariates", help="comma-separated plot covariate columns (fixed)")
    p.add_argument("--segments-row", type=int, default=0, help="B-spline segments (0: auto)")
    p.add_argument("--segments-col", type=int, default=0, help="B-spline segments (0: auto)")
    p.add_argument("--no-row-col-effects", action="store_true", help="no random row/col effects")
    p.add_argument(
        "--choice-alpha", type=float, default=0.05, help="level of the spatial/block choice"
    )
    p.add_argument(
        "--always-spatial", action="store_true", help="spatial model for every trial with coords"
    )
    p.add_argument("--max-lag", type=int, default=10, help="largest variogram displacement")
    p.add_argument("--id-col", help="plot id column copied to the residual/outlier tables")
    p.add_argument("--alpha", type=float, default=0.05, help="Bonferroni-Holm outlier level")
    p.add_argument("--threshold", type=float, help="flag |studentised residual| > this instead")
    p.add_argument("--drop-outliers", action="store_true", help="refit without flagged plots")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--out-dir", required=True)


def _run_spatial(args) -> int:
    from breedomics.phenome.trials import analyse_trials

    traits = _csv(args.traits)
    covs = _csv(args.covariates)
    raw = tables.read_table(args.records, "trial records")
    rec = tables.infer_types(raw, traits + covs, "trait or covariate")
    for c in (args.row_col, args.col_col):  # coordinates are checked with their own message
        if c in raw.columns:
            rec[c] = raw[c]
    res = analyse_trials(
        rec,
        traits,
        genotype=args.genotype_col,
        environment=args.env_col,
        row=args.row_col,
        col=args.col_col,
        rep=args.rep_col,
        block=args.block_col,
        covariates=covs,
        segments=(args.segments_row or None, args.segments_col or None),
        row_col_effects=not args.no_row_col_effects,
        max_lag=args.max_lag,
        alpha=args.alpha,
        threshold=args.threshold,
        drop_outliers=args.drop_outliers,
        id_column=args.id_col,
        choice_alpha=None if args.always_spatial else args.choice_alpha,
    )
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def tsv(df: pd.DataFrame, name: str) -> None:
        df.to_csv(out / name, sep="\t", index=False, float_format="%.6g")

    wide = res.blues.pivot(index="genotype", columns="trait", values="blue")[traits]
    wide.index.name = "sample_id"
    tsv(wide.reset_index(), "blues.tsv")
    tsv(res.blues, "blues_long.tsv")
    tsv(res.stage1, "stage1_blues.tsv")
    tsv(res.stage2, "stage2.tsv")
    tsv(res.heritability, "heritability.tsv")
    tsv(res.varcomp, "varcomp.tsv")
    tsv(res.trend, "trend.tsv")
    tsv(res.residuals, "residuals.tsv")
    tsv(res.variogram, "variogram.tsv")
    tsv(res.varcomp_met, "varcomp_met.tsv")
    tsv(res.outliers, "outliers.tsv")
    if not args.no_plot and not res.trend.empty:
        from breedomics.phenome.plots import plot_field_map, plot_variogram

        plot_field_map(res.trend, out / "field_map.png")
        plot_variogram(res.variogram, out / "variogram.png")
    from breedomics import __version__

    settings = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    settings.update(breedomics_version=__version__, time=time.strftime("%Y-%m-%dT%H:%M:%S"))
    (out / "settings.json").write_text(json.dumps(settings, indent=2, default=str) + "\n")
    for r in res.heritability.itertuples():
        why = ""
        if pd.notna(r.lrt):
            why = (
                f" (spatial terms: REML LRT {r.lrt:.2f} on {int(r.lrt_df)} variances, "
                f"p {r.p_lrt:.3g}; linear surface: F {r.f_linear:.2f}, p {r.p_linear:.3g})"
            )
        _log(f"{r.trait} {r.environment}: {r.model} model, H2 {r.H2:.3f}{why}")
    for t, v in res.varcomp_met.groupby("trait", sort=False):
        h2 = v.set_index("component")["estimate"]["H2_cullis"]
        n_out = int((res.residuals["trait"] == t).mul(res.residuals["outlier"]).sum())
        _log(f"{t} across trials: H2 (Cullis) {h2:.3f}, {n_out} outlier(s)")
    return 0


_SUB = {"spatial": (_add_spatial, _run_spatial), "curves": (add_curves, run_curves)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``phenome`` subcommands to ``parser``."""
    add_subcommands(parser, "phenome_command", _SUB)


def run(args: argparse.Namespace) -> int:
    """Run the chosen ``phenome`` subcommand."""
    return run_subcommand(args, "phenome_command", _SUB)
