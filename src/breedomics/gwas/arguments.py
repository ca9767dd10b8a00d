"""Command-line options shared by the ``breedomics gwas`` and ``breedomics omics`` commands.

Each block of options is written once here and added to every sub-command that takes
it (``gwas run`` and ``gwas gather`` read the same inputs, filters and report options;
``gwas kinship`` the same inputs), together with the functions that turn the parsed
options back into the library's option objects.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # the option objects' modules load the scan; the parsers do not need it
    from breedomics.gwas.options import ReportOptions
    from breedomics.gwas.run import GwasInputs

#: ``--model`` choices: the keys of :data:`breedomics.gwas.scan.MODEL_MODES`.
MODELS = ("glm", "mlm", "mlm-p3d", "farmcpu")

T = TypeVar("T")

__all__ = [
    "MODELS",
    "subcommand",
    "options_from",
    "comma_list",
    "add_number",
    "add_choice",
    "add_inputs",
    "add_model",
    "add_filters",
    "add_report",
    "inputs_from",
    "report_from",
]


def subcommand(sub, name: str, help: str, doc: str, epilog: str | None = None):
    """A sub-command parser whose description is the module docstring ``doc`` as written."""
    return sub.add_parser(
        name,
        help=help,
        description=doc,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def options_from(cls: type[T], args: argparse.Namespace, prefix: str = "", **values) -> T:
    """An options dataclass filled from the parsed options of the same names.

    Field ``max_missing`` takes ``--max-missing`` (``args.max_missing``), or
    ``args.<prefix>max_missing`` with a ``prefix``; ``values`` give the fields whose
    options are named or typed otherwise, and fields without an option keep their
    defaults.
    """
    kw = {}
    for f in dataclasses.fields(cls):
        if f.name not in values and hasattr(args, prefix + f.name):
            kw[f.name] = getattr(args, prefix + f.name)
    return cls(**kw, **values)


def comma_list(text: str | None) -> list[str] | None:
    """``"a, b,"`` -> ``["a", "b"]``; None or ``""`` (not given) is None."""
    if not text:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def _with_default(help: str, default: object) -> str:
    """``help`` followed by ``(default)`` (a float in ``%g`` form: ``3.0`` as ``3``)."""
    shown = f"({default:g})" if isinstance(default, float) else f"({default})"
    return f"{help} {shown}" if help else shown


def add_number(g, flag: str, default: int | float, help: str = "", **kw) -> None:
    """A numeric option of its default's type, whose help ends with the default.

    ``add_number(g, "--fdr", 0.05, "q-value threshold")`` is ``--fdr`` (a float,
    0.05 when not given) with the help ``q-value threshold (0.05)``.
    """
    g.add_argument(
        flag, type=type(default), default=default, help=_with_default(help, default), **kw
    )


def add_choice(g, flag: str, choices: list[str], help: str = "") -> None:
    """An option of fixed ``choices`` whose default is the first, named at the end of its
    help: ``add_choice(g, "--null-method", ["reml", "ml"])`` has the help ``(reml)``."""
    g.add_argument(flag, choices=choices, default=choices[0], help=_with_default(help, choices[0]))


def add_inputs(g, traits: bool = False) -> None:
    """``--geno --pheno --covar [--traits] --allow-unmatched``."""
    g.add_argument("--geno", required=True, help="PLINK 1 prefix (.bed/.bim/.fam) or VCF/BCF")
    g.add_argument("--pheno", required=True, help="TSV/CSV: sample + one column per trait")
    g.add_argument("--covar", help="TSV/CSV: sample + covariates (text = categorical)")
    if traits:
        g.add_argument("--traits", help="comma-separated traits to analyse (default: all columns)")
    g.add_argument(
        "--allow-unmatched",
        action="store_true",
        help="analyse only samples in both genotypes and phenotypes (others are listed in "
        "samples.tsv) instead of stopping",
    )


def add_model(g, required: bool = False) -> None:
    """``--model`` (mlm by default)."""
    g.add_argument(
        "--model",
        choices=list(MODELS),
        required=required,
        default=None if required else "mlm",
        help=None if required else "(mlm)",
    )


def add_filters(g) -> None:
    """``--maf --max-missing``: per-trait variant filters."""
    add_number(g, "--maf", 0.01, "minimum MAF per trait")
    add_number(g, "--max-missing", 0.1, "maximum missing rate per trait")


def add_report(g, permutations: bool = False) -> None:
    """Threshold, family-wise error rate, [permutations and M_eff,] clumping, plots."""
    g.add_argument(
        "--threshold",
        choices=["bonferroni", "meff", "permutation"],
        default="bonferroni",
        help="threshold used for leads; all are written to thresholds.<model>.tsv",
    )
    add_number(g, "--alpha", 0.05, "family-wise error rate")
    if permutations:
        g.add_argument("--permutations", type=int, default=0, help="permutations (0 = none)")
        add_number(g, "--meff-block", 300, "SNPs per M_eff block")
        g.add_argument("--no-meff", action="store_true", help="skip the M_eff thresholds")
    g.add_argument("--clump-p2", type=float, default=0.01)
    g.add_argument("--clump-r2", type=float, default=0.1)
    g.add_argument("--clump-kb", type=float, default=250.0)
    g.add_argument("--no-plots", action="store_true")


def inputs_from(args: argparse.Namespace) -> GwasInputs:
    """The :class:`~breedomics.gwas.run.GwasInputs` of parsed :func:`add_inputs` options."""
    from breedomics.gwas.run import GwasInputs

    return options_from(GwasInputs, args, traits=comma_list(getattr(args, "traits", None)))


def report_from(args: argparse.Namespace) -> ReportOptions:
    """The :class:`~breedomics.gwas.report.ReportOptions` of parsed :func:`add_report`."""
    from breedomics.gwas.options import ReportOptions

    return options_from(ReportOptions, args, plots=not args.no_plots)
