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
import sys
import time

__all__ = ["add_arguments", "run"]


def _log(msg: str) -> None:
    print(f"[omics {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``omics`` sub-commands to ``parser``."""
    from breedomics.gwas.arguments import add_choice, add_number, subcommand

    sub = parser.add_subparsers(dest="omics_command", metavar="SUBCOMMAND", required=True)

    def command(name: str, help: str, features: str) -> argparse.ArgumentParser:
        """A sub-command's parser with the feature table each of these reads first:
        ``--features`` (required, help ``features``)."""
        c = subcommand(sub, name, help, __doc__)
        c.add_argument("--features", required=True, help=features)
        return c

    p = command(
        "prepare",
        "QC, transform and hidden factors of one feature table",
        "samples x features TSV (first column sample id) or phenotype BED "
        "(#chr start end feature_id samples...); plain, gzipped or .parquet",
    )
    p.add_argument("--geno", required=True, help="genotypes (PLINK prefix or VCF): sample ids")
    p.add_argument("--out", required=True, help="output folder")
    add_choice(p, "--transform", ["inverse_normal", "log2", "none"], "per feature")
    add_number(p, "--pseudocount", 1.0, "for log2")
    add_number(p, "--hidden-factors", 5, "top PCs of the features")
    p.add_argument(
        "--keep-genetic-factors",
        action="store_true",
        help="use every hidden factor as a covariate, also those associated with a variant "
        "(by default these are reported and left out: they carry trans hotspots)",
    )
    add_number(p, "--factor-alpha", 0.05, "for the factor-genotype test")
    add_number(p, "--max-missing", 0.2, "per feature")
    add_number(p, "--min-observed", 10, "per feature")
    p.add_argument(
        "--min-expression",
        type=float,
        help="a value above this counts as expressed (e.g. 0.1 TPM; default: no check)",
    )
    add_number(p, "--min-expressed-fraction", 0.2, "fraction of samples that must be expressed")
    add_choice(
        p,
        "--normalise",
        ["none", "tmm", "deseq"],
        "the table holds raw read counts: GTEx filters, then TMM (edgeR) or "
        "median-of-ratios (DESeq2) normalisation before --transform",
    )
    p.add_argument(
        "--gene-lengths",
        help="with --normalise: feature_id, length (bp) table for the TPM filter "
        "(default: the filter is on CPM)",
    )
    add_number(
        p,
        "--min-tpm",
        0.1,
        "with --normalise: TPM (CPM without lengths) >= this in --min-expressed-fraction "
        "of samples",
    )
    add_number(
        p,
        "--min-reads",
        6.0,
        "with --normalise: reads >= this in --min-expressed-fraction of samples",
    )
    p.add_argument(
        "--covariates",
        help="known covariates: TSV with a sample column, one column per covariate "
        "(text columns one-hot); used with the hidden factors",
    )
    d = command(
        "prepare-metabolites",
        "drift correction (QC-RLSC), QC filters and imputation of a raw metabolite run",
        "raw intensities, injections x features TSV (first column the injection id: "
        "samples, QC pools and blanks); NA or 0 = not detected",
    )
    d.add_argument(
        "--injections",
        required=True,
        help="injection sheet: columns sample, batch, order, type (sample, qc or blank)",
    )
    d.add_argument("--out", required=True, help="output folder")
    add_number(d, "--qc-rsd-max", 0.3, "QC RSD after correction")
    add_number(d, "--blank-ratio-min", 3.0, "sample median / blank median a feature needs")
    add_number(d, "--max-missing", 0.2, "in the samples")
    d.add_argument(
        "--missing",
        choices=["auto", "half_min", "knn"],
        default="auto",
        help="imputation: per feature by a test of missing below detection (auto), "
        "half the minimum (half_min), k nearest samples (knn)",
    )
    add_number(d, "--k", 10, "neighbours of knn")
    d.add_argument("--name", default="metabolites", help="dataset name for the plot title")
    s = command(
        "summarise",
        "cis/trans QTL tables, q-values and hotspots of a dataset's scan",
        "features.tsv of `omics prepare`",
    )
    s.add_argument("--qtl-dir", required=True, help="--out folder of `gwas run`")
    s.add_argument("--model", default="mlm-p3d", help="the scan's model (mlm-p3d)")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--name", default="", help="dataset name for the plot title")
    add_number(s, "--cis-window", 1_000_000, "bp")
    add_number(
        s, "--trans-distance", 5_000_000, "a trans variant is on another chromosome or this far"
    )
    add_number(s, "--fdr", 0.05, "q-value threshold")
    add_number(s, "--hotspot-window", 500_000, "bp")
    add_number(s, "--hotspot-min-features", 5)
    add_choice(
        s,
        "--cis-correction",
        ["variants", "meff"],
        "correct the cis lead for the number of cis variants, or for their effective "
        "number from LD (meff, eigenMT-style; needs --geno)",
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
    k = command(
        "kernel",
        "relationship kernel of a dataset's features, for GS model mkgblup",
        "phenotypes.tsv of `omics prepare`",
    )
    k.add_argument("--geno", required=True, help="genotypes (PLINK prefix or VCF): kernel rows")
    k.add_argument("--out", required=True, help="kernel TSV (sample, one column per sample)")
    from breedomics.omics.map_cli import add_map_parser

    add_map_parser(sub)
    from breedomics.omics.link_cli import add_link_parser

    add_link_parser(sub)


def run(args: argparse.Namespace) -> int:
    """Run the requested sub-command."""
    if args.omics_command == "prepare":
        return run_prepare(args)
    if args.omics_command == "kernel":
        return run_kernel(args)
    if args.omics_command == "prepare-metabolites":
        return run_prepare_metabolites(args)
    if args.omics_command == "map":
        from breedomics.omics.map_cli import run_map

        return run_map(args)
    if args.omics_command == "link":
        from breedomics.omics.link_cli import run_link

        return run_link(args)
    return run_summarise(args)


def run_kernel(args: argparse.Namespace) -> int:
    """``breedomics omics kernel``."""
    from breedomics.core.genotypes import read_samples
    from breedomics.omics.kernel import feature_kernel, read_layer, write_kernel

    features = read_layer(args.features)
    kernel = feature_kernel(features, read_samples(args.geno))
    write_kernel(kernel, args.out)
    n = int((kernel.to_numpy().diagonal() > 0).sum())
    _log(f"kernel of {features.shape[1]} features: {n} of {len(kernel)} genotyped samples")
    return 0


def run_prepare_metabolites(args: argparse.Namespace) -> int:
    """``breedomics omics prepare-metabolites``: corrected.tsv, drift_report.tsv, drift.png."""
    import json
    import os

    from breedomics.omics import drift
    from breedomics.omics.features import read_feature_table

    table = read_feature_table(args.features)
    inj = drift.match_injections(table, drift.read_injections(args.injections), args.injections)
    opts = drift.DriftOptions(
        qc_rsd_max=args.qc_rsd_max,
        blank_ratio_min=args.blank_ratio_min,
        max_missing=args.max_missing,
        missing=args.missing,
        k=args.k,
    )
    res = drift.prepare_metabolites(table, inj, opts)
    os.makedirs(args.out, exist_ok=True)
    res.table.to_csv(os.path.join(args.out, "corrected.tsv"), sep="\t", float_format="%.6g")
    res.report.to_csv(
        os.path.join(args.out, "drift_report.tsv"), sep="\t", index=False, float_format="%.6g"
    )
    drift.plot_drift(res, os.path.join(args.out, "drift.png"), args.name)
    with open(os.path.join(args.out, "drift.json"), "w") as fh:
        json.dump(res.summary, fh, indent=1)
    s = res.summary
    _log(
        f"{s['kept']} of {s['features']} features kept ({s['samples']} samples, {s['qc']} QC, "
        f"{s['blanks']} blanks in {len(s['batches'])} batches); batch R2 "
        f"{s['batch_r2_before']:.3f} -> {s['batch_r2_after']:.3f}, median QC RSD "
        f"{s['median_qc_rsd_before']:.3f} -> {s['median_qc_rsd_after']:.3f}; imputation "
        + ", ".join(f"{k} {v}" for k, v in s["imputation"].items())
    )
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    """``breedomics omics prepare``."""
    from breedomics.gwas.arguments import options_from
    from breedomics.omics import run
    from breedomics.omics.features import QCOptions

    qc = options_from(QCOptions, args)
    opts = options_from(run.PrepareOptions, args, qc=qc, command=" ".join(sys.argv))
    run.run_prepare(opts, _log)
    return 0


def run_summarise(args: argparse.Namespace) -> int:
    """``breedomics omics summarise``."""
    from breedomics.gwas.arguments import options_from
    from breedomics.omics import run
    from breedomics.omics.summarise import SummaryOptions

    opts = options_from(SummaryOptions, args)
    title = args.name or "molecular QTL"
    run.run_summarise(args.features, args.qtl_dir, args.out, opts, title, _log)
    return 0
