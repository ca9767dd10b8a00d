"""``breedomics omics``: molecular-trait QTL (eQTL, mQTL) around ``breedomics gwas run``.

Three steps per dataset (one feature table: expression, metabolites, ...):

``prepare``
    Feature table -> QC'd, transformed phenotype table, hidden-factor covariates,
    feature table with positions and QC reasons, sample report.
``breedomics gwas run`` (not here)
    Maps every feature in one pass: ``--pheno phenotypes.tsv --covar covariates.tsv``
    (plus ``--pcs N`` genotype PCs), ``--model mlm-p3d`` or ``glm``.
``summarise``
    Per-feature leads with q-values, cis and trans tables, trans hotspots, a map.

Example::

    breedomics omics prepare --features expression.bed.gz --geno results/genotypes/genotypes \\
        --transform inverse_normal --hidden-factors 5 --out results/omics/expression
    breedomics gwas run --geno results/genotypes/genotypes \\
        --pheno results/omics/expression/phenotypes.tsv \\
        --covar results/omics/expression/covariates.tsv --pcs 3 --model mlm-p3d --no-plots \\
        --out results/omics/expression/qtl
    breedomics omics summarise --features results/omics/expression/features.tsv \\
        --qtl-dir results/omics/expression/qtl --model mlm-p3d --out results/omics/expression
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import pandas as pd

from breedomics.errors import UserError

__all__ = ["add_arguments", "run"]


def _log(msg: str) -> None:
    print(f"[omics {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``omics`` sub-commands to ``parser``."""
    sub = parser.add_subparsers(dest="omics_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser(
        "prepare",
        help="QC, transform and hidden factors of one feature table",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--features",
        required=True,
        help="samples x features TSV (first column sample id) or phenotype BED "
        "(#chr start end feature_id samples...); plain, gzipped or .parquet",
    )
    p.add_argument("--geno", required=True, help="genotypes (PLINK prefix or VCF): sample ids")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--transform",
        choices=["inverse_normal", "log2", "none"],
        default="inverse_normal",
        help="per feature (inverse_normal)",
    )
    p.add_argument("--pseudocount", type=float, default=1.0, help="for log2 (1)")
    p.add_argument("--hidden-factors", type=int, default=5, help="top PCs of the features (5)")
    p.add_argument(
        "--keep-genetic-factors",
        action="store_true",
        help="use every hidden factor as a covariate, also those associated with a variant "
        "(by default these are reported and left out: they carry trans hotspots)",
    )
    p.add_argument(
        "--factor-alpha", type=float, default=0.05, help="for the factor-genotype test (0.05)"
    )
    p.add_argument("--max-missing", type=float, default=0.2, help="per feature (0.2)")
    p.add_argument("--min-observed", type=int, default=10, help="per feature (10)")
    p.add_argument(
        "--min-expression",
        type=float,
        help="a value above this counts as expressed (e.g. 0.1 TPM; default: no check)",
    )
    p.add_argument(
        "--min-expressed-fraction",
        type=float,
        default=0.2,
        help="fraction of samples that must be expressed (0.2)",
    )
    s = sub.add_parser(
        "summarise",
        help="cis/trans QTL tables, q-values and hotspots of a dataset's scan",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--features", required=True, help="features.tsv of `omics prepare`")
    s.add_argument("--qtl-dir", required=True, help="--out folder of `gwas run`")
    s.add_argument("--model", default="mlm-p3d", help="the scan's model (mlm-p3d)")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--name", default="", help="dataset name for the plot title")
    s.add_argument("--cis-window", type=int, default=1_000_000, help="bp (1000000)")
    s.add_argument(
        "--trans-distance",
        type=int,
        default=5_000_000,
        help="a trans variant is on another chromosome or this far (5000000)",
    )
    s.add_argument("--fdr", type=float, default=0.05, help="q-value threshold (0.05)")
    s.add_argument("--hotspot-window", type=int, default=500_000, help="bp (500000)")
    s.add_argument("--hotspot-min-features", type=int, default=5, help="(5)")
    s.add_argument(
        "--cis-correction",
        choices=["variants", "meff"],
        default="variants",
        help="correct the cis lead for the number of cis variants, or for their effective "
        "number from LD (meff, eigenMT-style; needs --geno) (variants)",
    )
    s.add_argument(
        "--geno",
        help="genotypes (PLINK prefix or VCF): for --cis-correction meff, and to flag trans "
        "leads in LD with the feature's cis lead",
    )
    s.add_argument(
        "--trans-max-r2-cis",
        type=float,
        default=0.05,
        help="a trans lead with at least this r2 with the feature's significant cis lead is "
        "class trans_cis_ld, not counted as trans (0.05; needs --geno)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the requested sub-command."""
    if args.omics_command == "prepare":
        return run_prepare(args)
    return run_summarise(args)


def run_prepare(args: argparse.Namespace) -> int:
    """``breedomics omics prepare``."""
    from breedomics.core import genotypes as gt
    from breedomics.omics.features import (
        check_feature_chromosomes,
        genotype_chromosomes,
        read_feature_table,
    )

    t0 = time.time()
    if not 0 <= args.max_missing < 1:
        raise UserError(f"--max-missing must be in [0, 1), got {args.max_missing}")
    if args.hidden_factors < 0:
        raise UserError(f"--hidden-factors must be >= 0, got {args.hidden_factors}")
    table = read_feature_table(args.features)
    _log(
        f"{table.path}: {table.values.shape[1]} features x {table.values.shape[0]} samples"
        + (" (phenotype BED)" if table.positions is not None else "")
    )
    geno_samples = gt.read_samples(args.geno)
    if table.positions is not None:
        off = check_feature_chromosomes(
            table.positions, genotype_chromosomes(str(args.geno)), table.path, str(args.geno)
        )
        if off:
            _log(
                f"warning: {len(off)} feature(s) on chromosomes the genotypes lack (no cis "
                f"variants), e.g. {off[0]!r}"
            )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prep = _prepare(args, table, geno_samples)
    for w in caught:
        _log(f"warning: {w.message}")
    _write_prepared(args, prep, t0)
    return 0


def _prepare(args, table, geno_samples):
    from breedomics.omics.features import QCOptions, prepare_dataset

    return prepare_dataset(
        table,
        geno_samples,
        QCOptions(
            max_missing=args.max_missing,
            min_expression=args.min_expression,
            min_expressed_fraction=args.min_expressed_fraction,
            min_observed=args.min_observed,
        ),
        method=args.transform,
        n_factors=args.hidden_factors,
        pseudocount=args.pseudocount,
        geno_path=str(args.geno),
        geno_scan=not args.keep_genetic_factors,
        factor_alpha=args.factor_alpha,
    )


def _write_prepared(args, prep, t0: float) -> None:
    os.makedirs(args.out, exist_ok=True)
    prep.phenotypes.to_csv(
        os.path.join(args.out, "phenotypes.tsv"), sep="\t", na_rep="NA", float_format="%.6g"
    )
    # with no hidden factor the file has only the sample column: do not pass it as --covar
    prep.covariates.to_csv(os.path.join(args.out, "covariates.tsv"), sep="\t", float_format="%.6g")
    prep.features.to_csv(
        os.path.join(args.out, "features.tsv"),
        sep="\t",
        index=False,
        na_rep="NA",
        float_format="%.6g",
    )
    prep.samples.to_csv(os.path.join(args.out, "samples.tsv"), sep="\t", index=False)
    prep.factors.to_csv(
        os.path.join(args.out, "hidden_factors.tsv"), sep="\t", index=False, float_format="%.6g"
    )
    removed = prep.features[prep.features["status"] != "kept"]
    unmatched = prep.samples[~prep.samples["analysed"]]
    for r in removed.itertuples(index=False):
        _log(f"feature {r.feature_id} removed: {r.reason}")
    for reason, grp in unmatched.groupby("reason"):
        _log(f"{len(grp)} sample(s) not analysed ({reason}): {', '.join(grp['sample'][:5])}")
    with open(os.path.join(args.out, "prepare.json"), "w") as fh:
        json.dump(
            {
                "command": " ".join(sys.argv),
                "features": int(len(prep.features)),
                "features_kept": int(prep.phenotypes.shape[1]),
                "samples_analysed": int(prep.phenotypes.shape[0]),
                "transform": args.transform,
                "hidden_factors": args.hidden_factors,
                "seconds": round(time.time() - t0, 2),
            },
            fh,
            indent=2,
        )
    for r in prep.factors.itertuples(index=False):
        if not getattr(r, "used", True):
            _log(
                f"hidden factor {r.factor} is associated with {r.lead_variant} "
                f"(-log10 p = {r.neg_log_10_p_value:.1f}): left out of the covariates"
            )
    _log(
        f"{prep.phenotypes.shape[1]} of {len(prep.features)} features kept, "
        f"{prep.phenotypes.shape[0]} samples, {prep.covariates.shape[1]} of "
        f"{args.hidden_factors} hidden factors used; "
        f"done in {time.time() - t0:.1f} s"
    )


def run_summarise(args: argparse.Namespace) -> int:
    """``breedomics omics summarise``."""
    from breedomics.omics.summarise import SummaryOptions, plot_map, summarise

    t0 = time.time()
    if not 0 < args.fdr < 1:
        raise UserError(f"--fdr must be in (0, 1), got {args.fdr}")
    if not os.path.exists(args.features):
        raise UserError(f"feature table {args.features} does not exist (run `omics prepare`)")
    feats = pd.read_csv(args.features, sep="\t", dtype={"chrom": str, "feature_id": str})
    opts = SummaryOptions(
        model=args.model,
        cis_window=args.cis_window,
        trans_distance=args.trans_distance,
        fdr=args.fdr,
        hotspot_window=args.hotspot_window,
        hotspot_min_features=args.hotspot_min_features,
        cis_correction=args.cis_correction,
        geno=args.geno,
        trans_max_r2_cis=args.trans_max_r2_cis,
    )
    tables = summarise(feats, args.qtl_dir, opts)
    os.makedirs(args.out, exist_ok=True)
    names = {
        "features": "qtl_features.tsv",
        "cis": "cis.tsv",
        "trans": "trans.tsv",
        "hotspots": "hotspots.tsv",
        "summary": "summary.tsv",
    }
    for key, name in names.items():
        tables[key].to_csv(
            os.path.join(args.out, name), sep="\t", index=False, na_rep="NA", float_format="%.6g"
        )
    plot_map(tables, os.path.join(args.out, "qtl_map.png"), args.name or "molecular QTL")
    s = tables["summary"].iloc[0]
    _log(
        f"{s['n_features_tested']} features: {s.get('n_cis_features', 0)} with a cis QTL, "
        f"{s['n_trans_features']} with a trans QTL, {s['n_hotspots']} hotspot(s) at FDR "
        f"{args.fdr}; done in {time.time() - t0:.1f} s"
    )
    return 0
