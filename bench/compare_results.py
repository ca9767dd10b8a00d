#!/usr/bin/env python3
"""Compare two ``results/`` folders of the workflow: the same files, equal tables and calls.

Used to show that a refactoring changes no result (issue 13): run the default workflow
before and after, then

    python bench/compare_results.py BEFORE/results AFTER/results [--tol 1e-10]

Tables (``*.tsv``, ``*.tsv.gz``, ``*.csv``, ``*.txt`` with a header) are compared cell by
cell: numbers to ``--tol`` (absolute, or relative to the larger magnitude when that is
above 1), everything else exactly. VCF/BCF files are compared by their records
(``bcftools view -H``). Images, HTML reports, logs, Snakemake's own files and wall-clock
timings are not compared, only required to exist on both sides. Exit status 0 when
everything agrees, 1 otherwise, with one line per difference.
"""

from __future__ import annotations

import argparse
import gzip
import math
import subprocess
import sys
from pathlib import Path

#: Compared as tables, cell by cell.
TABLE_SUFFIXES = (".tsv", ".tsv.gz", ".csv", ".csv.gz")
#: Compared by their records.
VCF_SUFFIXES = (".vcf.gz", ".vcf", ".bcf")
#: Only required to exist: images, reports, indexes, binaries, logs, timings.
EXIST_ONLY = (
    ".png",
    ".svg",
    ".pdf",
    ".html",
    ".tbi",
    ".csi",
    ".bai",
    ".crai",
    ".log",
    ".bed",
    ".bim",
    ".fam",
    ".pgen",
    ".pvar",
    ".psam",
    ".parquet",
    ".npy",
    ".npz",
    ".zip",
    ".json",
)
#: Tables of run times: different on every run.
TIMINGS = ("timing.tsv", "benchmark.tsv")


def files(root: Path) -> set[str]:
    """Relative paths of every file under ``root``."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _text(path: Path) -> str:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def cells_equal(a: str, b: str, tol: float) -> bool:
    """Equal text, or two numbers within ``tol`` (relative above magnitude 1); NaN == NaN."""
    if a == b:
        return True
    x, y = _number(a), _number(b)
    if x is None or y is None:
        return False
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return abs(x - y) <= tol * max(1.0, abs(x), abs(y))


def compare_table(a: Path, b: Path, tol: float) -> str | None:
    """The first difference between two tables, or None."""
    la, lb = _text(a).splitlines(), _text(b).splitlines()
    if len(la) != len(lb):
        return f"{len(la)} lines vs {len(lb)}"
    sep = "," if ".csv" in a.name else "\t"
    for i, (ra, rb) in enumerate(zip(la, lb, strict=True), start=1):
        if ra == rb:
            continue
        ca, cb = ra.split(sep), rb.split(sep)
        if len(ca) != len(cb):
            return f"line {i}: {len(ca)} fields vs {len(cb)}"
        for j, (x, y) in enumerate(zip(ca, cb, strict=True), start=1):
            if not cells_equal(x, y, tol):
                return f"line {i}, field {j}: {x!r} vs {y!r}"
    return None


def compare_text(a: Path, b: Path, tol: float) -> str | None:
    """Text reports (bcftools stats, summaries): numbers to ``tol``, words exactly.

    Lines naming the command line or input paths (bcftools stats' ``# The command``) are
    skipped: the two runs live in different folders.
    """

    def lines(path: Path) -> list[str]:
        return [
            ln for ln in _text(path).splitlines() if not ln.startswith(("# The command", "# This"))
        ]

    ra, rb = lines(a), lines(b)
    if len(ra) != len(rb):
        return f"{len(ra)} lines vs {len(rb)}"
    for i, (x, y) in enumerate(zip(ra, rb, strict=True), start=1):
        xs, ys = x.split(), y.split()
        same = len(xs) == len(ys) and all(
            cells_equal(u, v, tol) for u, v in zip(xs, ys, strict=True)
        )
        if not same:
            return f"line {i}: {x[:80]!r} vs {y[:80]!r}"
    return None


def vcf_records(path: Path) -> list[str]:
    out = subprocess.run(
        ["bcftools", "view", "-H", str(path)], capture_output=True, text=True, check=True
    )
    return out.stdout.splitlines()


def compare(before: Path, after: Path, tol: float = 1e-10) -> list[str]:
    """Differences between two result folders, one line each (empty: they agree)."""
    fa, fb = files(before), files(after)
    problems = [f"only in {before}: {p}" for p in sorted(fa - fb)]
    problems += [f"only in {after}: {p}" for p in sorted(fb - fa)]
    for rel in sorted(fa & fb):
        name = Path(rel).name
        if name.endswith(TIMINGS) or name.endswith(EXIST_ONLY):
            continue
        a, b = before / rel, after / rel
        if name.endswith(TABLE_SUFFIXES):
            diff = compare_table(a, b, tol)
        elif name.endswith(VCF_SUFFIXES):
            diff = None if vcf_records(a) == vcf_records(b) else "VCF records differ"
        elif name.endswith(".txt"):
            diff = compare_text(a, b, tol)
        else:
            continue
        if diff:
            problems.append(f"{rel}: {diff}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path, help="results/ folder of the first run")
    ap.add_argument("after", type=Path, help="results/ folder of the second run")
    ap.add_argument("--tol", type=float, default=1e-10, help="numeric tolerance (1e-10)")
    args = ap.parse_args(argv)
    problems = compare(args.before, args.after, args.tol)
    for line in problems:
        print(line)
    n = len(files(args.before) & files(args.after))
    print(f"{n} files in both; {len(problems)} differences (tolerance {args.tol:g})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
