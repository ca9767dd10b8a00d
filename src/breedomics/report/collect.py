"""The run's files as plain tables: what the sections read, nothing computed yet.

:class:`RunFiles` finds files under ``results/`` (and ``benchmarks/``), reads each TSV
once into a :class:`Table` (text cells, as written) and gives the link to it relative to
the page. Readers for the two non-TSV formats the page shows: ``bcftools stats`` output
and Snakemake benchmark files.
"""

from __future__ import annotations

import base64
import csv
import gzip
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from breedomics.report.fmt import to_float

__all__ = [
    "RunFiles",
    "Table",
    "benchmark_rule",
    "read_bcftools_stats",
    "read_benchmarks",
    "read_rule_patterns",
    "read_tsv",
]


@dataclass
class Table:
    """A table as text: its header and rows (every row as long as the header).

    ``path`` is the file it came from (``None`` for a table made on the page).
    """

    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def has(self, *names: str) -> bool:
        """Whether every column in ``names`` is present."""
        return all(n in self.columns for n in names)

    def column(self, name: str) -> list[str]:
        """The cells of one column (``[]`` when the column is absent)."""
        if name not in self.columns:
            return []
        i = self.columns.index(name)
        return [r[i] for r in self.rows]

    def numbers(self, name: str) -> list[float | None]:
        """One column as numbers (``None`` where a cell is missing or text)."""
        return [to_float(v) for v in self.column(name)]

    def records(self) -> list[dict[str, str]]:
        """Rows as ``{column: cell}``."""
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]

    def where(self, name: str, value: str) -> Table:
        """The rows whose ``name`` cell is ``value`` (same columns, same source)."""
        if name not in self.columns:
            return Table(list(self.columns), [], self.path)
        i = self.columns.index(name)
        return Table(list(self.columns), [r for r in self.rows if r[i] == value], self.path)

    def select(self, names: Sequence[str]) -> Table:
        """Only the columns in ``names`` that exist, in that order."""
        idx = [self.columns.index(n) for n in names if n in self.columns]
        return Table(
            [self.columns[i] for i in idx], [[r[i] for i in idx] for r in self.rows], self.path
        )


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", newline="")
    return open(path, newline="")


def read_tsv(path: str | os.PathLike, header: bool = True) -> Table:
    """A tab-separated file (plain or gzipped) as a :class:`Table`.

    Short rows are padded with empty cells and long rows cut, so a ragged file still
    shows; without ``header`` the columns are named ``1``, ``2``, ...
    """
    path = Path(path)
    csv.field_size_limit(sys.maxsize)
    with _open_text(path) as fh:
        rows = [r for r in csv.reader(fh, delimiter="\t") if r and any(c.strip() for c in r)]
    if not rows:
        return Table([], [], path)
    if header:
        columns, body = [c.strip() for c in rows[0]], rows[1:]
    else:
        width = max(len(r) for r in rows)
        columns, body = [str(i + 1) for i in range(width)], rows
    n = len(columns)
    return Table(columns, [(r + [""] * n)[:n] for r in body], path)


class RunFiles:
    """The files of one run, read on demand, each TSV once.

    Parameters
    ----------
    results
        The run's ``results/`` folder.
    page_dir
        The folder the page is written to: links are relative to it.
    benchmarks
        The run's ``benchmarks/`` folder, if any.
    """

    def __init__(self, results: Path, page_dir: Path, benchmarks: Path | None = None):
        self.results = Path(results)
        self.page_dir = Path(page_dir)
        self.benchmarks = Path(benchmarks) if benchmarks else None
        self._tables: dict[Path, Table | None] = {}

    def path(self, rel: str) -> Path:
        """``results/<rel>``."""
        return self.results / rel

    def exists(self, rel: str) -> bool:
        """Whether ``results/<rel>`` is a file."""
        return self.path(rel).is_file()

    def glob(self, pattern: str) -> list[Path]:
        """Files under ``results/`` matching ``pattern``, sorted."""
        return sorted(p for p in self.results.glob(pattern) if p.is_file())

    def table(self, rel: str | Path) -> Table | None:
        """The TSV ``results/<rel>`` (or a path) as a table; ``None`` when absent."""
        path = rel if isinstance(rel, Path) else self.path(rel)
        if path not in self._tables:
            self._tables[path] = read_tsv(path) if path.is_file() else None
        return self._tables[path]

    def link(self, target: str | Path) -> str:
        """The URL of ``results/<target>`` (or a path) relative to the page, escaped."""
        path = target if isinstance(target, Path) else self.path(target)
        rel = os.path.relpath(Path(path).resolve(), self.page_dir.resolve())
        return quote(Path(rel).as_posix())

    def data_uri(self, rel: str | Path, mime: str = "image/png") -> str | None:
        """A file as a ``data:`` URI (``None`` when absent or empty)."""
        path = rel if isinstance(rel, Path) else self.path(rel)
        if not path.is_file() or path.stat().st_size == 0:
            return None
        return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def read_bcftools_stats(path: str | os.PathLike) -> dict[str, Table]:
    """``bcftools stats`` output as one table per section (``SN``, ``TSTV``, ``PSC``...).

    Column names come from the ``# PSC\\t[2]id\\t[3]sample...`` comment lines, without
    the ``[n]`` prefixes; the section code and ``id`` columns are dropped.
    """
    headers: dict[str, list[str]] = {}
    rows: dict[str, list[list[str]]] = {}
    with open(path) as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line:
                continue
            if line.startswith("# "):
                parts = line[2:].split("\t")
                if len(parts) > 1 and re.match(r"\[\d+\]", parts[1]):
                    headers[parts[0].rstrip(",")] = [re.sub(r"^\[\d+\]", "", p) for p in parts[1:]]
                continue
            parts = line.split("\t")
            rows.setdefault(parts[0], []).append(parts[1:])
    out = {}
    for code, body in rows.items():
        cols = headers.get(code) or [str(i + 2) for i in range(max(len(r) for r in body))]
        n = len(cols)
        body = [(r + [""] * n)[:n] for r in body]
        if cols and cols[0] == "id":
            cols, body = cols[1:], [r[1:] for r in body]
        out[code] = Table(cols, body, Path(path))
    return out


def read_rule_patterns(path: str | os.PathLike) -> dict[str, str]:
    """``rule<TAB>benchmark pattern`` lines (written by the workflow) as a mapping."""
    out: dict[str, str] = {}
    for row in read_tsv(path, header=False).rows:
        if len(row) >= 2 and row[0] and row[1]:
            out[row[0]] = row[1]
    return out


def _pattern_regex(pattern: str) -> tuple[re.Pattern[str], int]:
    """A Snakemake file pattern (``benchmarks/gwas/{model}.tsv``) as a regex, and the
    number of its literal characters (more literal text: a more specific pattern)."""
    regex, literal, depth = [], 0, 0
    for ch in pattern:
        if ch == "{":
            if depth == 0:
                regex.append("(.+?)")  # a wildcard, its constraint ({x,[a-z]{0,9}}) skipped
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        elif depth == 0:
            regex.append(re.escape(ch))
            literal += 1
    return re.compile("".join(regex) + "$"), literal


def benchmark_rule(rel: str, patterns: Mapping[str, str]) -> str:
    """The rule that wrote benchmark file ``rel`` (``benchmarks/...``): the most specific
    of the rules' benchmark patterns that matches; without one, the file's folder and
    name up to the first dot (``gwas/annotate``)."""
    best, best_literal = "", -1
    for rule, pattern in patterns.items():
        regex, literal = _pattern_regex(pattern)
        if regex.match(rel) and literal > best_literal:
            best, best_literal = rule, literal
    if best:
        return best
    p = Path(rel)
    parent = p.parent.name if p.parent.name != "benchmarks" else ""
    return f"{parent}/{p.name.split('.')[0]}".strip("/")


def read_benchmarks(folder: Path, patterns: Mapping[str, str] | None = None) -> Table:
    """Run time and memory per rule from Snakemake's benchmark files.

    One row per rule: ``rule, jobs, total_s, max_s, max_rss_mb, cpu_time_s`` (the
    benchmark's ``s``, ``max_rss`` and ``cpu_time`` columns summed or maximised over the
    rule's jobs; repeated benchmarks count their first line). Sorted by ``total_s``.
    """
    folder = Path(folder)
    stats: dict[str, list[float]] = {}
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    for path in files:
        try:
            table = read_tsv(path)
        except (OSError, UnicodeDecodeError):
            continue
        if not table.rows or "s" not in table.columns:
            continue
        rec = table.records()[0]
        rel = (Path("benchmarks") / path.relative_to(folder)).as_posix()
        rule = benchmark_rule(rel, patterns or {})
        s = to_float(rec.get("s")) or 0.0
        rss = to_float(rec.get("max_rss")) or 0.0
        cpu = to_float(rec.get("cpu_time")) or 0.0
        acc = stats.setdefault(rule, [0, 0.0, 0.0, 0.0, 0.0])
        acc[0] += 1
        acc[1] += s
        acc[2] = max(acc[2], s)
        acc[3] = max(acc[3], rss)
        acc[4] += cpu
    rows = [
        [rule, str(int(a[0])), f"{a[1]:.2f}", f"{a[2]:.2f}", f"{a[3]:.2f}", f"{a[4]:.2f}"]
        for rule, a in sorted(stats.items(), key=lambda kv: -kv[1][1])
    ]
    return Table(["rule", "jobs", "total_s", "max_s", "max_rss_mb", "cpu_time_s"], rows, folder)
