"""Reads a run and writes its summary page: the sections in order, the warning box filled
in from every section's checks, one self-contained HTML file."""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from breedomics.errors import UserError
from breedomics.report.assets import CSS, JS
from breedomics.report.breeding import breeding
from breedomics.report.collect import RunFiles, read_rule_patterns
from breedomics.report.collection import WARNINGS_SLOT, collection, warning_box
from breedomics.report.context import Context
from breedomics.report.html import esc, page
from breedomics.report.loci import loci
from breedomics.report.molecular import molecular
from breedomics.report.provenance import provenance, software_versions
from breedomics.report.stages import stages
from breedomics.report.structure import structure

__all__ = ["ReportOptions", "build_report", "load_run_config", "render_report"]


@dataclass
class ReportOptions:
    """What the page is made from and how.

    Attributes
    ----------
    results, benchmarks
        The run's folders, as :class:`~breedomics.report.collect.RunFiles` reads them
        (benchmarks: run time and memory per rule).
    out
        The page to write (links to the run's files are relative to its folder).
    config
        The run's config as YAML (defaults are filled in from the schema).
    rules
        ``rule<TAB>benchmark pattern`` lines, so benchmark files are named by rule.
    software
        Versions known to the caller (``{"snakemake": "9.1.0"}``).
    configfiles
        The config files the run was started with (for the rerun command).
    manhattan_points, max_table_rows
        Points drawn per Manhattan plot besides those with p < 1e-3; rows per table.
    probe_tools
        Ask the tools on PATH for their versions.
    title
        The page's title.
    """

    results: Path
    out: Path
    config: Path | None = None
    benchmarks: Path | None = None
    rules: Path | None = None
    software: Mapping[str, str] = field(default_factory=dict)
    configfiles: Sequence[str] = ()
    manhattan_points: int = 3000
    max_table_rows: int = 2000
    probe_tools: bool = True
    title: str = "breedomics run report"


def load_run_config(path: Path | None) -> dict:
    """The run's config: the YAML file completed with the schema's defaults (as the run
    saw it); ``{}`` without a file."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise UserError(f"Config '{path}' does not exist: give the run's config YAML (--config).")
    try:
        from breedomics.config import load_config

        return load_config(path)
    except (UserError, FileNotFoundError):
        # a config of another version of the schema: show it as it is
        with open(path) as fh:
            data = yaml.safe_load(fh) or {}
        if not isinstance(data, dict):
            raise UserError(f"Config '{path}' is not a mapping of keys to values.") from None
        return data


def render_report(options: ReportOptions) -> str:
    """The page's HTML for ``options`` (nothing written)."""
    results = Path(options.results)
    if not results.is_dir():
        raise UserError(
            f"Results folder '{results}' does not exist: give the run's results/ (--results)."
        )
    out = Path(options.out)
    config = load_run_config(options.config)
    run = RunFiles(results, out.parent, options.benchmarks)
    ctx = Context(
        run=run,
        config=config,
        stages=stages(run, config),
        max_rows=options.max_table_rows,
        manhattan_points=options.manhattan_points,
    )
    patterns = (
        read_rule_patterns(options.rules) if options.rules and Path(options.rules).is_file() else {}
    )
    sections = [collection(ctx), structure(ctx), loci(ctx), breeding(ctx), molecular(ctx)]
    sections.append(
        provenance(
            ctx,
            config_path=Path(options.config) if options.config else None,
            versions=software_versions(options.software, probe=options.probe_tools),
            patterns=patterns,
            configfiles=options.configfiles,
        )
    )
    sections[0].body = sections[0].body.replace(WARNINGS_SLOT, warning_box(ctx.warnings), 1)
    ran = [s.name for s in ctx.stages.values() if s.ran]
    skipped = [s for s in ctx.stages.values() if not s.ran]
    banner = '<p class="stages">' + "".join(f'<span class="ran">{esc(n)}</span>' for n in ran)
    banner += "".join(
        f'<span class="skipped" title="{esc(s.why)}">{esc(s.name)}: did not run</span>'
        for s in skipped
    )
    banner += "</p>"
    if skipped:
        banner += (
            "<p class=note>"
            + " ".join(f"{esc(s.title)} did not run: {esc(s.why)}." for s in skipped)
            + "</p>"
        )
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    subtitle = f"Results in {os.path.abspath(results)}; page written {when}."
    return page(options.title, subtitle, sections, CSS, JS, banner)


def build_report(options: ReportOptions) -> Path:
    """Write the page (atomically: a partial page never replaces a good one); returns
    its path."""
    text = render_report(options)
    out = Path(options.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
