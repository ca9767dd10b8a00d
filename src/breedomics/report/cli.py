"""``breedomics report``: the run's summary page, ``results/report/index.html``.

Example (what the workflow's ``build_report`` rule runs)::

    breedomics report --results results --config results/report/config.yaml \\
        --benchmarks benchmarks --rules results/report/rules.tsv \\
        --out results/report/index.html
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_arguments", "run"]

#: The page's size options: flag, least value, default, help (declared and checked from
#: here, so that the two agree).
_SIZES = (
    (
        "--manhattan-points",
        0,
        3000,
        "variants with p >= 1e-3 drawn per Manhattan plot (an even sample; 3000)",
    ),
    ("--max-table-rows", 1, 2000, "rows per table (2000)"),
)


def _pair(text: str) -> tuple[str, str]:
    name, sep, version = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VERSION, got {text!r}")
    return name, version


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``breedomics report``."""
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--results", required=True, type=Path, help="the run's results/ folder")
    parser.add_argument("--out", required=True, type=Path, help="the page to write (index.html)")
    parser.add_argument("--config", type=Path, help="the run's config YAML (defaults filled in)")
    parser.add_argument("--benchmarks", type=Path, help="the run's benchmarks/ folder")
    parser.add_argument(
        "--rules", type=Path, help="rule<TAB>benchmark pattern per line (names benchmark files)"
    )
    parser.add_argument(
        "--software",
        type=_pair,
        action="append",
        default=[],
        metavar="NAME=VERSION",
        help="a version to list (e.g. snakemake=9.1.0); repeatable",
    )
    parser.add_argument(
        "--configfile-used",
        action="append",
        default=[],
        metavar="FILE",
        help="a config file the run was started with (for the rerun command); repeatable",
    )
    for flag, _least, default, text in _SIZES:
        parser.add_argument(flag, type=int, default=default, help=text)
    parser.add_argument(
        "--no-tool-versions", action="store_true", help="do not ask the tools on PATH for versions"
    )
    parser.add_argument("--title", default="breedomics run report", help="the page's title")


def _check_sizes(args: argparse.Namespace) -> None:
    """Refuse a size option below its least value (:data:`_SIZES`)."""
    from breedomics.errors import UserError

    for flag, least, _default, _text in _SIZES:
        value = getattr(args, flag.removeprefix("--").replace("-", "_"))
        if value < least:
            raise UserError(f"{flag} must be >= {least}, got {value}")


def run(args: argparse.Namespace) -> int:
    """Write the page."""
    from breedomics.report.build import ReportOptions, build_report

    _check_sizes(args)
    out = build_report(
        ReportOptions(
            results=args.results,
            out=args.out,
            config=args.config,
            benchmarks=args.benchmarks,
            rules=args.rules,
            software=dict(args.software),
            configfiles=list(args.configfile_used),
            manhattan_points=args.manhattan_points,
            max_table_rows=args.max_table_rows,
            probe_tools=not args.no_tool_versions,
            title=args.title,
        )
    )
    print(f"report: {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0
