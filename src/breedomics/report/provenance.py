"""Section 6, how it was made: the config, the software and its versions, run time and
memory per rule (``benchmarks/``), and how to rerun."""

from __future__ import annotations

import importlib.metadata
import platform
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from breedomics import __version__
from breedomics.report import plots
from breedomics.report.collect import Table, read_benchmarks
from breedomics.report.context import Context
from breedomics.report.fmt import number, to_float
from breedomics.report.html import Section, esc, facts
from breedomics.report.tables import render_table

__all__ = ["TOOLS", "provenance", "software_versions", "tool_version"]

#: Command-line tools of the workflow: name -> (command, regex of the version in its output).
TOOLS: dict[str, tuple[list[str], str]] = {
    "bcftools": (["bcftools", "--version"], r"^bcftools (\S+)"),
    "samtools": (["samtools", "--version"], r"^samtools (\S+)"),
    "bwa": (["bwa"], r"Version: (\S+)"),
    "fastp": (["fastp", "--version"], r"fastp (\S+)"),
    "freebayes": (["freebayes", "--version"], r"v(\d[\d.]*)"),
    "plink2": (["plink2", "--version"], r"PLINK (v\S+)"),
    "beagle": (["beagle"], r"(beagle\.\S+\.jar \(version [^)]+\))"),
}
#: Python packages whose versions are listed (when installed where the report runs).
PACKAGES = (
    "snakemake",
    "multiqc",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "matplotlib",
    "cyvcf2",
    "pysam",
)
#: Rules shown in the run-time plot.
TOP_RULES = 25


def tool_version(command: Sequence[str], pattern: str, timeout: float = 20) -> str | None:
    """The version a tool prints (``None``: not on PATH, or no version in its output)."""
    if shutil.which(command[0]) is None:
        return None
    try:
        proc = subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            errors="replace",
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(pattern, proc.stdout + "\n" + proc.stderr, re.M)
    return m.group(1) if m else None


def software_versions(given: Mapping[str, str] | None = None, probe: bool = True) -> Table:
    """``software, version, source``: breedomics and Python, ``given`` versions (e.g.
    Snakemake's, passed by the workflow), installed Python packages, and the tools found
    on PATH where the report runs (``probe``)."""
    rows = [
        ["breedomics", __version__, "this checkout"],
        ["python", platform.python_version(), "the report job"],
    ]
    given = dict(given or {})
    for name, version in given.items():
        rows.append([name, version, "the workflow"])
    for pkg in PACKAGES:
        if pkg in given:
            continue
        try:
            rows.append([pkg, importlib.metadata.version(pkg), "Python package"])
        except importlib.metadata.PackageNotFoundError:
            continue
    if probe:
        for name, (cmd, pattern) in TOOLS.items():
            v = tool_version(cmd, pattern)
            if v:
                rows.append([name, v, "on PATH of the report job"])
    return Table(["software", "version", "source"], rows)


def _benchmarks(ctx: Context, patterns: Mapping[str, str]) -> str:
    folder = ctx.run.benchmarks
    if folder is None or not folder.is_dir():
        return '<h3>Run time and memory</h3><p class="note">No benchmarks folder.</p>'
    table = read_benchmarks(folder, patterns)
    if not table.rows:
        return '<h3>Run time and memory</h3><p class="note">No benchmark files.</p>'
    recs = table.records()
    total = sum(to_float(r["total_s"]) or 0 for r in recs)
    jobs = sum(int(to_float(r["jobs"]) or 0) for r in recs)
    peak = max(recs, key=lambda r: to_float(r["max_rss_mb"]) or 0)
    items = [
        ("jobs", number(jobs)),
        ("job time, summed (min)", number(total / 60)),
        ("longest rule", f"{recs[0]['rule']} ({number(to_float(recs[0]['total_s']))} s)"),
        ("peak memory", f"{peak['rule']} ({number(to_float(peak['max_rss_mb']))} MB)"),
    ]
    top = recs[:TOP_RULES]
    fig = plots.hbars(
        [r["rule"] for r in top],
        [to_float(r["total_s"]) or 0 for r in top],
        xlabel="seconds (all jobs of the rule)",
        label="run time per rule",
        notes=[f"{r['jobs']} jobs, max RSS {r['max_rss_mb']} MB" for r in top],
    )
    link = ctx.run.link(folder)
    return (
        "<h3>Run time and memory per rule</h3>"
        + facts(items)
        + f"<figure>{fig}</figure>"
        + render_table(
            table,
            ctx.uid("benchmarks"),
            source=link + "/",
            source_label="benchmarks/",
            caption=(
                "Per rule: jobs, wall-clock seconds (summed and longest job), peak memory "
                "(max RSS, MB), CPU seconds"
            ),
            max_rows=ctx.max_rows,
        )
    )


def provenance(
    ctx: Context,
    *,
    config_path: Path | None,
    versions: Table,
    patterns: Mapping[str, str],
    configfiles: Sequence[str] = (),
) -> Section:
    """Section 6."""
    text = yaml.safe_dump(dict(ctx.config), sort_keys=False, default_flow_style=False)
    link = ""
    if config_path is not None and config_path.is_file():
        href = esc(ctx.run.link(config_path))
        link = f' (<a class="source" href="{href}">{esc(config_path.name)}</a>)'
    used = " ".join(configfiles) or "config/config.yaml"
    saved = str(config_path) if config_path is not None else "results/report/config.yaml"
    rerun = "\n".join(
        [
            "# the whole run again (only what changed is rerun), from the repository root:",
            f"snakemake --cores 8 --configfile {used}",
            "# exactly these settings (the config as the run saw it, defaults filled in):",
            f"snakemake --cores 8 --configfile {saved}",
            "# this page only:",
            "snakemake --cores 1 --forcerun build_report results/report/index.html",
            "# Snakemake's own report (plots and tables by stage):",
            "snakemake --report report.zip",
        ]
    )
    body = (
        f"<h3>Configuration</h3><p>The run's config with the defaults filled in{link}:</p>"
        f'<pre class="config">{esc(text)}</pre>'
        "<h3>Software</h3>"
        + render_table(versions, ctx.uid("software"), caption="Versions")
        + _benchmarks(ctx, patterns)
        + f'<h3>How to rerun</h3><pre class="config">{esc(rerun)}</pre>'
    )
    return Section(
        "provenance",
        "How it was made",
        "With which settings and software was this run made, what did each step cost in "
        "time and memory, and how do I run it again?",
        body,
        True,
    )
