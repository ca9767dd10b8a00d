"""``breedomics gs``: genomic selection from trial records to ranked candidates.

Subcommands
-----------
``blue``
    Multi-environment trial records -> per-genotype BLUEs/BLUPs, variance
    components, entry-mean heritability, outlier table.
``cv``
    Cross-validate models (GBLUP/rrBLUP, RKHS, BayesB, BayesC, random forest,
    gradient boosting, multi-trait GBLUP) by repeated k-fold or
    leave-one-group-out; fold assignments always written.
``predict``
    Fit one model on all phenotyped samples; GEBVs and reliabilities for all
    genotyped candidates, marker effects, variance components.
``select``
    Selection index over traits, top-N with an optional mean-kinship cap.
``folds``
    Write the fold table once, so that CV jobs scattered over traits, models
    and repeats (``cv --fold-file --repeat``) share the same folds.
``gather-cv``
    Combine scattered ``cv`` output folders into one set of tables and a plot.

Every subcommand writes ``settings.json`` (arguments, version, time) next to
its outputs so a run can be repeated.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from breedomics.cli import add_subcommands, run_subcommand
from breedomics.core import tables
from breedomics.errors import UserError

__all__ = ["add_arguments", "run"]


# --------------------------------------------------------------------------- helpers
def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _csv(text: str | None) -> list[str] | None:
    if text is None:
        return None
    out = [t.strip() for t in text.split(",") if t.strip()]
    return out or None


def _write_settings(out: Path, args: argparse.Namespace, extra: dict | None = None) -> None:
    from breedomics import __version__

    d = {k: v for k, v in vars(args).items() if not k.startswith("_") and not callable(v)}
    d = {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}
    d["breedomics_version"] = __version__
    d["time"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    if extra:
        d.update(extra)
    (out / "settings.json").write_text(json.dumps(d, indent=2, default=str) + "\n")


def _tsv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, sep="\t", index=False, na_rep="NA", float_format="%.6g")


def _outdir(path: str) -> Path:
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p


def _genotype_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--genotypes", required=True, help="PLINK, VCF/BCF or dosage TSV(.gz)")
    p.add_argument("--min-maf", type=float, default=0.0, help="drop markers with MAF below this")
    p.add_argument("--dosage-scale", type=float, default=1.0, help="multiply TSV dosages by this")


def _model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model settings")
    g.add_argument(
        "--covariates",
        help="TSV or CSV of fixed covariates (sample id first; text columns "
        "are dummy-coded), e.g. PCs, sex, environment",
    )
    g.add_argument(
        "--categorical",
        help="covariate columns to treat as categorical although "
        "numeric (e.g. slaughter group codes), comma-separated",
    )
    g.add_argument("--iterations", type=int, default=6000, help="MCMC iterations (BayesB/C)")
    g.add_argument("--burn-in", type=int, default=1000)
    g.add_argument("--thin", type=int, default=5)
    g.add_argument("--pi", type=float, default=0.99, help="prior share of zero-effect markers")
    g.add_argument("--fixed-pi", action="store_true", help="do not sample pi")
    g.add_argument("--h2-prior", type=float, default=0.5)
    g.add_argument(
        "--bandwidths", help="RKHS bandwidth grid, comma-separated (default 0.1,0.25,0.5,1,2,4)"
    )
    g.add_argument("--trees", type=int, default=500, help="trees (rf) / iterations (gbm)")
    g.add_argument(
        "--kernels",
        help="mkgblup: kernel tables (sample id first, one column per sample) fitted with "
        "the GRM, comma-separated",
    )
    g.add_argument("--seed", type=int, default=1)
    g.add_argument(
        "--exact-reml",
        action="store_true",
        help="cv: tridiagonalise fold kernels in float64 (default float32, 2x faster); "
        "predict always uses float64",
    )


def _options(args, samples: list[str] | None = None) -> dict:
    """Model options; the ``--kernels`` are read for the genotyped ``samples``."""
    from breedomics.gs.mkgblup import read_kernels

    bw = _csv(args.bandwidths)
    paths = _csv(getattr(args, "kernels", None))
    return {
        "kernels": read_kernels(paths, samples) if paths and samples else None,
        "single": not args.exact_reml,
        "seed": args.seed,
        "bandwidths": [float(b) for b in bw] if bw else None,
        "trees": args.trees,
        "mcmc": dict(
            n_iter=args.iterations,
            burn_in=args.burn_in,
            thin=args.thin,
            pi=args.pi,
            estimate_pi=not args.fixed_pi,
            h2_prior=args.h2_prior,
        ),
    }


def _load_inputs(args):
    from breedomics.gs.inputs import load_inputs

    return load_inputs(
        args.genotypes,
        args.phenotypes,
        _csv(args.traits),
        covariates=getattr(args, "covariates", None),
        categorical=_csv(getattr(args, "categorical", None)) or (),
        exclude=[c for c in [getattr(args, "group_col", None)] if c],
        min_maf=args.min_maf,
        dosage_scale=args.dosage_scale,
        log=_log,
    )


def _log_summary(summary: pd.DataFrame, level: str) -> None:
    from breedomics.gs.cv import summary_lines

    for line in summary_lines(summary, level):
        _log(line)


# --------------------------------------------------------------------------- blue
def _add_blue(sub) -> None:
    p = sub.add_parser("blue", help="MET records -> BLUEs/BLUPs, variance components, H2, outliers")
    p.add_argument("--records", required=True, help="plot-level TSV/CSV")
    p.add_argument("--traits", required=True, help="comma-separated trait columns")
    # dest = the parameter of breedomics.gs.blue.fit_met
    p.add_argument("--genotype-col", dest="genotype", default="genotype")
    p.add_argument("--env-col", dest="environment", default="environment")
    p.add_argument("--rep-col", dest="rep", help="replicate column (fixed within environment)")
    p.add_argument(
        "--block-col", dest="block", help="block column (fixed within environment/replicate)"
    )
    p.add_argument("--id-col", dest="id_column", help="plot id column copied to the outlier table")
    p.add_argument("--environments", help="only these environment levels (comma-separated)")
    p.add_argument("--gxe", choices=["auto", "yes", "no"], default="auto")
    p.add_argument("--alpha", type=float, default=0.05, help="Bonferroni-Holm outlier level")
    p.add_argument("--threshold", type=float, help="flag |studentised residual| > this instead")
    p.add_argument("--drop-outliers", action="store_true", help="refit without flagged plots")
    p.add_argument("--out-dir", required=True)


def _run_blue(args) -> int:
    from breedomics.gs.blue import met_blues, wide_tables

    traits = _csv(args.traits) or []
    rec = tables.infer_types(tables.read_table(args.records, "trial records"), traits, "trait")
    gxe = {"auto": None, "yes": True, "no": False}[args.gxe]
    names = ("genotype", "environment", "rep", "block", "alpha", "threshold", "drop_outliers")
    kw = {k: getattr(args, k) for k in (*names, "id_column")}
    gen, vc, res = met_blues(rec, traits, environments=_csv(args.environments), gxe=gxe, **kw)
    out = _outdir(args.out_dir)
    _tsv(gen, out / "blues_long.tsv")
    blues, blups = wide_tables(gen, traits)
    _tsv(blues, out / "blues.tsv")
    _tsv(blups, out / "blups.tsv")
    _tsv(vc, out / "varcomp.tsv")
    _tsv(res, out / "residuals.tsv")
    _tsv(res[res["outlier"]], out / "outliers.tsv")
    _write_settings(out, args)
    for t in traits:
        v = vc[vc["trait"] == t].set_index("component")["estimate"]
        n_out = int(res.loc[res["trait"] == t, "outlier"].sum())
        _log(
            f"{t}: H2 (Cullis) {v['H2_cullis']:.3f}, s2G {v['s2G']:.4g}, "
            f"s2e {v['s2e']:.4g}, {n_out} outlier(s)"
        )
    return 0


def _fold_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--group-col", help="leave-one-group-out over this column")
    p.add_argument("--groups", help="TSV holding --group-col (default: the phenotype table)")


def _new_folds(args, pheno: pd.DataFrame, phenotyped: list[str]) -> pd.DataFrame:
    """Repeated k-fold, or leave-one-group-out with ``--group-col``."""
    from breedomics.gs.cv import make_folds

    return make_folds(
        pheno, phenotyped, args.folds, args.repeats, args.seed,
        group_col=args.group_col, groups=args.groups, pheno_path=args.phenotypes,
    )  # fmt: skip


# --------------------------------------------------------------------------- cv
def _add_cv(sub) -> None:
    from breedomics.gs.models import ALL_MODELS

    p = sub.add_parser("cv", help="cross-validate prediction models")
    _genotype_args(p)
    p.add_argument("--phenotypes", required=True, help="TSV/CSV, sample id first, one column/trait")
    p.add_argument("--traits", help="comma-separated (default: all numeric columns)")
    p.add_argument(
        "--models",
        default="gblup",
        help="comma-separated: " + ", ".join(ALL_MODELS) + ", layer:<name> (the --kernels "
        "table <name>.* alone, without the GRM)",
    )
    _fold_args(p)
    p.add_argument("--fold-file", help="use these folds (sample_id, [repeat,] fold)")
    p.add_argument(
        "--repeat", type=int, help="with --fold-file: run only this repeat (scatter over repeats)"
    )
    p.add_argument("--truth", help="TSV of true genetic values (simulations): *_true metrics")
    p.add_argument("--no-plot", action="store_true")
    _model_args(p)
    p.add_argument("--out-dir", required=True)


def _run_cv(args) -> int:
    from breedomics.gs.cv import plot_cv, read_folds, run_cv, select_repeat
    from breedomics.gs.data import read_table
    from breedomics.gs.models import parse_models

    models = parse_models(args.models)
    inp = _load_inputs(args)
    pheno, traits = inp.pheno, inp.traits
    phenotyped = pheno.index[pheno[traits].notna().any(axis=1)].tolist()
    if args.fold_file:
        # keep unphenotyped samples of the table: an empty fold must be reported, not dropped
        folds = select_repeat(read_folds(args.fold_file, list(pheno.index)), args.repeat,
                              args.fold_file)  # fmt: skip
    elif args.repeat is not None:
        raise UserError("--repeat needs --fold-file (the folds of every repeat must be fixed)")
    else:
        folds = _new_folds(args, pheno, phenotyped)
    truth = None
    if args.truth:
        truth = read_table(args.truth, what="truth")
        truth = truth.set_index(truth.columns[0])
        truth.index = truth.index.astype(str)
    out = _outdir(args.out_dir)
    _tsv(folds, out / "folds.tsv")  # written first: the run can be reproduced even if it fails
    _log(
        f"cross-validation: {len(phenotyped)} phenotyped samples, "
        f"{folds['repeat'].nunique()} repeat(s) x {folds['fold'].nunique()} fold(s), "
        f"models {', '.join(models)}, traits {', '.join(traits)}"
    )
    res = run_cv(
        inp.geno, pheno, traits, models, folds,
        covariates=inp.covariates, options=_options(args, inp.geno.samples), truth=truth,
        log=_log,
    )  # fmt: skip
    summary = _write_cv(res, out, args.no_plot, plot_cv)
    _write_settings(
        out,
        args,
        {
            "models_resolved": models,
            "traits_resolved": traits,
            "n_markers": inp.geno.p,
            "n_genotyped": inp.geno.n,
        },
    )
    lev = "repeat" if folds["repeat"].nunique() > 1 or args.group_col is None else "fold"
    _log_summary(summary, lev)
    return 0


def _write_cv(res, out: Path, no_plot: bool, plot_cv) -> pd.DataFrame:
    """Write the tables of a CV result (and its plot); return the summary."""
    for k in ("predictions", "metrics"):
        _tsv(getattr(res, k), out / f"cv_{k}.tsv")
    summary = res.summary()
    _tsv(summary, out / "cv_summary.tsv")
    for k in ("varcomp", "timing"):
        _tsv(getattr(res, k), out / f"cv_{k}.tsv")
    if not no_plot:
        plot_cv(res, str(out / "cv_accuracy.png"))
    return summary


# --------------------------------------------------------------------------- predict
def _add_predict(sub) -> None:
    from breedomics.gs.models import ALL_MODELS

    p = sub.add_parser("predict", help="fit on all phenotyped samples; GEBVs for all genotyped")
    _genotype_args(p)
    p.add_argument("--phenotypes", required=True)
    p.add_argument("--traits", help="comma-separated (default: all numeric columns)")
    p.add_argument("--model", default="gblup", help=", ".join(ALL_MODELS))
    _model_args(p)
    p.add_argument("--out-dir", required=True)


def _run_predict(args) -> int:
    from breedomics.gs.models import parse_models
    from breedomics.gs.predict import predict_all

    (model_name,) = parse_models(args.model)[:1]
    inp = _load_inputs(args)
    out = _outdir(args.out_dir)
    res = predict_all(
        inp.geno, inp.pheno, inp.traits, model_name, inp.covariates,
        _options(args, inp.geno.samples), log=_log,
    )  # fmt: skip
    _tsv(res.long, out / "gebv_long.tsv")
    _tsv(res.wide, out / "gebv.tsv")
    if res.marker_effects is not None:
        _tsv(res.marker_effects, out / "marker_effects.tsv")
    _tsv(res.varcomp, out / "varcomp.tsv")
    _tsv(res.fixed, out / "fixed_effects.tsv")
    _write_settings(
        out,
        args,
        {
            "model_resolved": res.model,
            "traits_resolved": inp.traits,
            "n_markers": inp.geno.p,
            "n_genotyped": inp.geno.n,
        },
    )
    _log(f"GEBVs for {inp.geno.n} genotyped samples written to {out / 'gebv.tsv'}")
    return 0


# --------------------------------------------------------------------------- select
def _add_select(sub) -> None:
    p = sub.add_parser("select", help="selection index and top-N with a kinship cap")
    p.add_argument("--gebv", required=True, help="gebv.tsv from `breedomics gs predict`")
    p.add_argument("--weights", required=True, help="trait=weight,... (e.g. yield=1,height=-0.3)")
    p.add_argument("--standardize", action="store_true", help="weights on standardised GEBVs")
    p.add_argument("--top", type=int, required=True, help="number to select")
    p.add_argument(
        "--max-kinship",
        type=float,
        help="cap on the mean off-diagonal GRM relationship among the selected",
    )
    p.add_argument("--genotypes", help="genotype panel for the GRM (PLINK/VCF/TSV)")
    p.add_argument("--dosage-scale", type=float, default=1.0)
    p.add_argument("--grm", help="GRM as TSV (sample id first, then one column per sample)")
    p.add_argument("--candidates", help="file with candidate ids (one per line) to rank")
    p.add_argument("--out", required=True, help="output TSV (ranking with a selected column)")


def _run_select(args) -> int:
    from breedomics.gs.select import parse_weights, rank_candidates

    res = rank_candidates(
        args.gebv, parse_weights(args.weights), args.top,
        standardize=args.standardize, max_kinship=args.max_kinship, grm_path=args.grm,
        genotypes=args.genotypes, dosage_scale=args.dosage_scale, candidates=args.candidates,
    )  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _tsv(res, out)
    meta = vars(args).copy()
    meta["n_selected"] = res.attrs.get("n_selected", int(res["selected"].sum()))
    (out.parent / (out.stem + ".settings.json")).write_text(json.dumps(meta, indent=2, default=str))
    k = int(res["selected"].sum())
    if k < args.top:
        _log(
            f"warning: only {k} of {args.top} candidates fit under --max-kinship "
            f"{args.max_kinship}; raise the cap or lower --top"
        )
    _log(f"selected {k} candidate(s); ranking written to {out}")
    return 0


# --------------------------------------------------------------------------- folds
def _add_folds(sub) -> None:
    p = sub.add_parser("folds", help="write k-fold or leave-one-group-out fold assignments")
    p.add_argument("--phenotypes", required=True, help="TSV/CSV, sample id first, one column/trait")
    p.add_argument("--traits", help="comma-separated (default: all numeric columns)")
    p.add_argument(
        "--genotyped", help="genotyped sample ids: a PLINK .fam or a sheet with the id first"
    )
    _fold_args(p)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True, help="fold table (sample_id, repeat, fold)")


def _run_folds(args) -> int:
    from breedomics.core.phenotypes import match_samples
    from breedomics.gs.inputs import genotyped_ids, read_phenotypes

    exclude = [args.group_col] if args.group_col else []
    pheno, traits = read_phenotypes(args.phenotypes, _csv(args.traits), exclude=exclude)
    if args.genotyped:
        matched, _ = match_samples(
            list(pheno.index), genotyped_ids(args.genotyped), args.phenotypes, args.genotyped
        )
        pheno = pheno.loc[matched]
    phenotyped = pheno.index[pheno[traits].notna().any(axis=1)].tolist()
    folds = _new_folds(args, pheno, phenotyped)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    _tsv(folds, tmp)
    tmp.replace(out)  # never a half-written fold table
    _log(
        f"{len(phenotyped)} phenotyped sample(s) in {folds['repeat'].nunique()} repeat(s) x "
        f"{folds['fold'].nunique()} fold(s) -> {out}"
    )
    return 0


# --------------------------------------------------------------------------- gather-cv
def _add_gather_cv(sub) -> None:
    p = sub.add_parser("gather-cv", help="combine scattered `gs cv` output folders")
    p.add_argument("--inputs", nargs="+", required=True, help="`gs cv` output folders")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--out-dir", required=True)


def _run_gather_cv(args) -> int:
    from breedomics.gs.cv import gather, plot_cv

    res = gather(args.inputs)
    out = _outdir(args.out_dir)
    summary = _write_cv(res, out, args.no_plot, plot_cv)
    lev = "repeat" if "repeat" in set(summary["level"]) else "fold"
    _log_summary(summary, lev)
    return 0


# --------------------------------------------------------------------------- entry
_SUB = {
    "blue": (_add_blue, _run_blue),
    "cv": (_add_cv, _run_cv),
    "predict": (_add_predict, _run_predict),
    "select": (_add_select, _run_select),
    "folds": (_add_folds, _run_folds),
    "gather-cv": (_add_gather_cv, _run_gather_cv),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``gs`` subcommands to ``parser``."""
    add_subcommands(parser, "gs_command", _SUB)


def run(args: argparse.Namespace) -> int:
    """Run the chosen ``gs`` subcommand."""
    return run_subcommand(args, "gs_command", _SUB)
