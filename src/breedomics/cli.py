"""Command-line entry point: ``breedomics <command>``.

Each command lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their command runs, so a
missing optional dependency of one command never breaks another.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from breedomics import __version__
from breedomics.errors import UserError

#: command name -> (module, one-line help[, suffix]); with a suffix the module exposes
#: ``add_<suffix>_arguments`` and ``run_<suffix>`` instead of ``add_arguments``/``run``.
COMMANDS: dict[str, tuple[str, ...]] = {
    "eval-calls": (
        "breedomics.calling.evalcalls",
        "genotype-aware precision/recall/F1 of a call set against a truth VCF",
    ),
    "refine-calls": (
        "breedomics.calling.refine",
        "refine low-coverage genotypes from their likelihoods with a population haplotype model",
    ),
    "estimate-inbreeding": (
        "breedomics.calling.inbreeding",
        "per-sample inbreeding coefficient from genotype likelihoods; the inbred lines",
    ),
    "merge-gvcfs": (
        "breedomics.calling.gvcf_merge",
        "incremental calling: merge and call the cohort's gVCFs at its candidate positions",
    ),
    "fill-gvcf-indels": (
        "breedomics.calling.gvcf",
        "incremental calling: give samples missing at a merged indel their own likelihoods",
    ),
    "make-regions": (
        "breedomics.calling.regions",
        "split a reference into calling regions at N runs and pack them into jobs",
    ),
    "write-ploidy": (
        "breedomics.calling.ploidy",
        "write bcftools/freebayes ploidy and sex files for X/Y-aware calling",
    ),
    "normalise-genotypes": (
        "breedomics.genotypes.normalise",
        "sort, harmonise chromosome names, set aside unplaced and resolve duplicate variants",
    ),
    "genotype-qc": (
        "breedomics.genotypes.qc",
        "sample and variant QC (call rate, heterozygosity, F, sex check, MAF, HWE)",
    ),
    "impute": (
        "breedomics.genotypes.impute",
        "impute missing genotypes with Beagle 5 (small contigs passed through)",
    ),
    "mask-genotypes": (
        "breedomics.genotypes.imputeqc",
        "hide a seeded fraction of called genotypes to measure imputation accuracy",
        "mask",
    ),
    "impute-accuracy": (
        "breedomics.genotypes.imputeqc",
        "concordance and dosage r2 of imputed vs. masked genotypes",
        "accuracy",
    ),
    "init": (
        "breedomics.init",
        "write a working config folder for your own genotypes or reads (species preset)",
    ),
    "check-inputs": (
        "breedomics.sheets",
        "validate config, sample and unit sheets and the reference before a run",
    ),
    "census": (
        "breedomics.census.cli",
        "germplasm census: QC, PCA, GRM, ancestry, diversity, Fst, LD, ROH, duplicates, core set",
    ),
    "gwas": (
        "breedomics.gwas.cli",
        "genome-wide association: GLM, MLM (exact/P3D, LOCO), FarmCPU-style multi-locus",
    ),
    "omics": (
        "breedomics.omics.cli",
        "molecular-trait QTL (eQTL/mQTL): prepare feature tables, cis/trans summary, hotspots",
    ),
    "gs": (
        "breedomics.gs.cli",
        "genomic selection: BLUEs, GBLUP/rrBLUP, BayesB/C, RKHS, cross-validation, ranking",
    ),
    "phenome": (
        "breedomics.phenome.cli",
        "field trials: spatial (SpATS P-spline) BLUEs, heritability and field maps per trial",
    ),
    "report": (
        "breedomics.report.cli",
        "the run's summary page: one self-contained HTML file (results/report/index.html)",
    ),
}


def add_subcommands(parser: argparse.ArgumentParser, dest: str, table: dict) -> None:
    """Add a command's sub-commands to its ``parser``: ``table`` maps every sub-command
    name to its ``(add(subparsers), run(args))``; the chosen name is ``args.<dest>``."""
    sub = parser.add_subparsers(dest=dest, metavar="SUBCOMMAND", required=True)
    for add, _ in table.values():
        add(sub)


def run_subcommand(args: argparse.Namespace, dest: str, table: dict) -> int:
    """Run the sub-command of :func:`add_subcommands`'s ``table`` named in ``args.<dest>``."""
    return table[getattr(args, dest)][1](args)


def _load(module: str):
    return importlib.import_module(module)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breedomics", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"breedomics {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text, *_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        # Arguments are added lazily when this command is the one being run.
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in COMMANDS:
        args = parser.parse_args(argv)
        parser.print_help()
        return 2
    name = argv[0]
    module_name, help_text, *suffix = COMMANDS[name]
    module = _load(module_name)
    add = getattr(module, f"add_{suffix[0]}_arguments" if suffix else "add_arguments")
    run = getattr(module, f"run_{suffix[0]}" if suffix else "run")
    sub = argparse.ArgumentParser(prog=f"breedomics {name}", description=help_text)
    add(sub)
    args = sub.parse_args(argv[1:])
    try:
        return int(run(args) or 0)
    except UserError as exc:
        print(f"breedomics {name}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
