"""breedomics gwas run: association of many traits with one genotype file.

Example:

    breedomics gwas run --geno results/genotypes/all --pheno config/phenotypes.tsv \\
        --covar config/covariates.tsv --pcs 3 --model mlm --loco --out results/gwas

Models: glm (least squares with covariates/PCs), mlm (exact per-variant REML
+ Wald test, as gemma -lmm 1; Zhou & Stephens 2012), mlm-p3d (variance
components fixed at the null estimate; EMMAX/P3D, Kang et al. 2010, Zhang et
al. 2010), farmcpu (multi-locus; Liu et al. 2016). --loco tests every
chromosome with the kinship of the others (Yang et al. 2014).
"""

from __future__ import annotations

import argparse
import sys
import time

from breedomics.errors import UserError

__all__ = ["add_arguments", "run"]

_EPILOG = """outputs in --out:
  <trait>.<model>.tsv.gz (+ .tbi, -meta.yaml)  GWAS-SSF summary statistics
  <trait>.<model>.leads.tsv                    lead variants and QTL intervals
  <trait>.<model>.manhattan.png / .qq.png      plots
  summary.<model>.tsv, thresholds.<model>.tsv  per-trait lambda, PVE, thresholds, hits
  samples.tsv                                  which samples were analysed and why not
  pcs.tsv, run.<model>.json                    PCs used, run record
  FarmCPU: <trait>.farmcpu.pseudo_qtns.tsv, .iterations.tsv
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``gwas`` sub-commands to ``parser``."""
    from breedomics.gwas import arguments as a

    sub = parser.add_subparsers(dest="gwas_command", metavar="SUBCOMMAND")
    sub.required = True
    p = a.subcommand(sub, "run", "association scan of all traits", __doc__, _EPILOG)
    io = p.add_argument_group("input and output")
    a.add_inputs(io, traits=True)
    io.add_argument("--out", required=True, help="output folder")
    io.add_argument("--kinship", help="use this kinship matrix instead of the GRM (no --loco)")
    sh = p.add_argument_group("scatter (see breedomics gwas kinship / gather)")
    for flag, text in (
        ("--grm", "GRM written by `gwas kinship` (instead of building it)"),
        ("--eigen", "kinship eigendecompositions written by `gwas kinship`"),
        ("--chromosomes", "comma-separated chromosomes to scan (a shard)"),
    ):
        sh.add_argument(flag, help=text)
    sh.add_argument(
        "--chromosome-group",
        metavar="K/N",
        help="scan the K-th of N groups of whole chromosomes (genome order, about equal "
        "length; see breedomics.gwas.shards.chromosome_groups)",
    )
    sh.add_argument(
        "--batch",
        help="comma-separated traits to scan; samples are matched on all traits, as in "
        "the unscattered run",
    )
    sh.add_argument(
        "--shard-out",
        help="write the shard state (JSON) for `gwas gather` instead of thresholds, "
        "leads, plots and summaries",
    )
    m = p.add_argument_group("model")
    a.add_model(m)
    m.add_argument("--pcs", type=int, default=0, help="add the top N GRM PCs as covariates")
    m.add_argument("--loco", action="store_true", help="leave-one-chromosome-out kinship")
    a.add_choice(m, "--null-method", ["reml", "ml"])
    a.add_filters(m)
    f = p.add_argument_group("FarmCPU")
    f.add_argument("--farmcpu-p-threshold", type=float, help="start threshold (0.01 / m)")
    a.add_number(f, "--farmcpu-qtn-threshold", 0.01)
    a.add_number(f, "--farmcpu-max-iter", 10)
    a.add_report(p.add_argument_group("significance and clumping"), permutations=True)
    r = p.add_argument_group("resources")
    a.add_number(r, "--chunk-size", 10000, "SNPs per chunk")
    r.add_argument(
        "--cache-mb",
        type=int,
        default=1024,
        help="keep the genotypes in memory up to this size between passes (VCF/BCF input;"
        " PLINK input only for FarmCPU: the other models decode the .bed at each pass)",
    )
    r.add_argument("--seed", type=int, default=1)
    from breedomics.gwas.annotate_cli import add_parser as add_annotate

    add_annotate(sub)
    from breedomics.gwas.shard_cli import add_parsers as add_shard_parsers

    add_shard_parsers(sub)


def _log(msg: str) -> None:
    print(f"[gwas {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run the requested sub-command."""
    from breedomics.gwas import annotate_cli, shard_cli

    commands = {
        "run": run_scan,
        "kinship": shard_cli.run_kinship,
        "gather": shard_cli.run_gather,
        "annotate": annotate_cli.run_annotate,
    }
    if args.gwas_command not in commands:  # pragma: no cover
        raise UserError(f"unknown gwas sub-command {args.gwas_command!r}")
    return commands[args.gwas_command](args)


def run_options(args: argparse.Namespace):
    """The :class:`~breedomics.gwas.run.RunOptions` of a parsed ``gwas run`` command line."""
    from breedomics.gwas.arguments import comma_list, inputs_from, options_from, report_from
    from breedomics.gwas.farmcpu import FarmCPUConfig
    from breedomics.gwas.run import RunOptions
    from breedomics.gwas.scan import ScanConfig

    return options_from(
        RunOptions,
        args,
        inputs=inputs_from(args),
        scan=options_from(
            ScanConfig,
            args,
            cache_bytes=args.cache_mb << 20,
            farmcpu=options_from(FarmCPUConfig, args, prefix="farmcpu_"),
        ),
        report=report_from(args),
        chromosomes=comma_list(args.chromosomes),
        batch=comma_list(args.batch),
        meff=not args.no_meff,
        command=" ".join(sys.argv),
    )


def run_scan(args: argparse.Namespace) -> int:
    """``breedomics gwas run``."""
    from breedomics.gwas.run import run_gwas

    run_gwas(run_options(args), _log)
    return 0
