"""Requests of the resource estimates against what a finished run's benchmarks measured.

Run in a workflow folder whose run has finished (``benchmarks/`` written by Snakemake per
job): a forced dry run evaluates every job's ``mem_mb``/``runtime`` request on the real
input (``breedomics.resources``, no cap), and each job's benchmark file gives its
``max_rss`` (MB) and wall time ``s``. Prints a Markdown table per rule (docs/cluster.md)::

    python bench/resources_table.py --workdir RUN [--configfile CFG] [--cores 2]

Jobs whose input is gone (temporary files) show no request and are left out.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

SNAKEFILE = Path(__file__).resolve().parents[1] / "workflow" / "Snakefile"


def dry_run_jobs(workdir: Path, configfile: str | None, cores: int) -> list[dict]:
    """Every job of a forced dry run: rule, benchmark file, threads, mem_mb, runtime."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(workdir)]
    cmd += ["-n", "--nolock", "--forceall", "--rerun-incomplete", "--cores", str(cores)]
    cmd += ["--workflow-profile", "none"] + (["--configfile", configfile] if configfile else [])
    env = dict(os.environ, SLURM_CONF=os.devnull)
    for var in ("BREEDOMICS_MAX_MEM_MB", "BREEDOMICS_MAX_THREADS", "BREEDOMICS_MAX_RUNTIME"):
        env.pop(var, None)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    jobs = []
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \w+:)", out):
        m = re.match(r"(?:local)?(?:rule|checkpoint) (\w+):", block)
        bench = re.search(r"^    benchmark: (\S+)", block, re.M)
        res = re.search(r"^    resources: (.*)$", block, re.M)
        if not (m and bench and res):
            continue
        values = dict(kv.split("=", 1) for kv in res.group(1).split(", ") if "=" in kv)
        if not values.get("mem_mb", "").isdigit():
            continue
        threads = re.search(r"^    threads: (\d+)", block, re.M)
        jobs.append(
            {
                "rule": m.group(1),
                "benchmark": workdir / bench.group(1),
                "threads": int(threads.group(1)) if threads else 1,
                "mem_mb": int(values["mem_mb"]),
                "runtime": int(values["runtime"]),
            }
        )
    return jobs


def measured(path: Path) -> tuple[float, float] | None:
    """(max_rss MB, wall seconds) of one benchmark file; None if the job did not run."""
    if not path.is_file():
        return None
    with open(path) as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    if not rows:
        return None
    rss = max(float(r["max_rss"]) if r["max_rss"] not in ("", "-", "NA") else 0 for r in rows)
    return rss, max(float(r["s"]) for r in rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--configfile")
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args(argv)
    per_rule: dict[str, list] = defaultdict(list)
    for job in dry_run_jobs(args.workdir.resolve(), args.configfile, args.cores):
        got = measured(job["benchmark"])
        if got is not None:
            per_rule[job["rule"]].append((job, *got))
    print("| rule | jobs | max_rss MB (max) | mem_mb asked | s (max) | runtime asked (min) |")
    print("|---|---|---|---|---|---|")
    for rule in sorted(per_rule):
        rows = per_rule[rule]
        rss = max(r[1] for r in rows)
        sec = max(r[2] for r in rows)
        mem = min(r[0]["mem_mb"] for r in rows)
        runtime = min(r[0]["runtime"] for r in rows)
        flag = " **over**" if rss > mem or sec > 60 * runtime else ""
        print(f"| {rule} | {len(rows)} | {rss:.0f} | {mem} | {sec:.1f} | {runtime}{flag} |")


if __name__ == "__main__":
    main()
