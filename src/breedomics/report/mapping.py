"""The molecular-QTL mapping at scale of one dataset (``results/omics/<dataset>/mapping/``,
written by ``breedomics omics map``, rule ``map_omics_scale``), shown in section 5 under
the dataset: per mode that ran (its ``<mode>.json``) the counts and the strongest
results, recomputed from the mode's tables.

``cis`` / ``cis_independent``
    features tested, variant-feature pairs tested (the cis windows' variants), features
    with a cis lead at ``q <= --fdr``; the strongest leads of ``cis.tsv`` (by the
    beta-approximated permutation p-value); the independent signals of
    ``cis_independent.tsv``.
``cis_nominal``
    pairs, features and variants tested (``cis_nominal/*.parquet``), the strongest pairs.
``trans``
    the pairs of ``trans.parquet`` (``p < --pval-threshold``), the features and variants
    they involve, the strongest pairs.

The settings (FDR, window, permutations, p threshold) are read from the command line
kept in ``<mode>.json``, with the defaults of ``omics map`` for those it does not name.
A mode whose files are absent leaves its part out; a dataset without ``mapping/``
gets nothing.
"""

from __future__ import annotations

import argparse
import functools
import json
import shlex
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from breedomics.omics.map_cli import MODES
from breedomics.report.blocks import file_table, note
from breedomics.report.collect import Table
from breedomics.report.context import Context
from breedomics.report.fmt import number, to_float
from breedomics.report.html import esc, facts

__all__ = ["LEAD_ROWS", "command_option", "mapping_block", "read_parquet_pairs"]

#: Rows of the strongest leads / pairs shown (the rest are in the file, said under it).
LEAD_ROWS = 20

#: What each mode is, in a few words.
_WHAT = {
    "cis": "cis permutation leads (beta-approximated p, Storey q)",
    "cis_nominal": "every cis pair (nominal p)",
    "trans": "every variant x every feature, pairs below the p threshold",
    "cis_independent": "cis leads, then conditionally independent signals",
}

#: Header text of the shown columns (tensorQTL's names in the files).
_LABELS = {
    "phenotype_id": "feature",
    "variant_id": "variant",
    "tss_distance": "distance to TSS (bp)",
    "slope": "slope",
    "slope_se": "slope SE",
    "pval_nominal": "nominal p",
    "pval_perm": "permutation p",
    "pval_beta": "beta p",
    "qval": "q",
    "rank": "signal",
    "pval": "p",
    "b": "slope",
    "b_se": "slope SE",
    "r2": "r2",
    "af": "allele frequency",
}

_LEAD_COLUMNS = [
    "phenotype_id",
    "variant_id",
    "tss_distance",
    "slope",
    "pval_nominal",
    "pval_perm",
    "pval_beta",
    "qval",
]
_SIGNAL_COLUMNS = [
    "phenotype_id",
    "rank",
    "variant_id",
    "tss_distance",
    "slope",
    "pval_nominal",
    "pval_beta",
]
_TRANS_COLUMNS = ["phenotype_id", "variant_id", "pval", "b", "b_se", "r2", "af"]
_NOMINAL_COLUMNS = ["phenotype_id", "variant_id", "tss_distance", "slope", "pval_nominal"]


def command_option(command: str, flag: str) -> str | bool | None:
    """The value of ``flag`` (``--fdr``) in a command line: the text after it (or after
    ``=``), ``True`` for a flag without a value, ``None`` when absent (the last one
    wins, as argparse)."""
    try:
        tokens = shlex.split(command)
    except ValueError:
        tokens = command.split()
    found: str | bool | None = None
    for i, tok in enumerate(tokens):
        if tok == flag:
            nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
            found = nxt if nxt and not nxt.startswith("--") else True
        elif tok.startswith(flag + "="):
            found = tok.split("=", 1)[1]
    return found


@functools.cache
def _map_parser() -> argparse.ArgumentParser:
    """``omics map``'s own parser: its defaults are the page's (one place for them)."""
    from breedomics.omics.map_cli import add_map_parser

    return add_map_parser(argparse.ArgumentParser(add_help=False).add_subparsers())


def _setting(summary: dict, name: str) -> Any:
    """Option ``--<name>`` of the run (``name`` with ``_``: its argparse dest), else the
    default of ``omics map``."""
    value = command_option(str(summary.get("command", "")), "--" + name.replace("_", "-"))
    return _map_parser().get_default(name) if value is None else value


def _ascending(table: Table, *keys: str) -> Table:
    """``table`` sorted by ``keys`` (numbers, missing last), ties in file order."""

    def key(row: list[str]) -> tuple:
        out = []
        for k in keys:
            v = to_float(row[table.columns.index(k)]) if k in table.columns else None
            out.extend([v is None, v if v is not None else 0.0])
        return tuple(out)

    return Table(list(table.columns), sorted(table.rows, key=key), table.path)


def _rel(ctx: Context, path: Path) -> str:
    return path.relative_to(ctx.run.results).as_posix()


def read_parquet_pairs(paths: list[Path], columns: list[str], p_column: str, k: int) -> dict:
    """Pairs files (``trans.parquet``, ``cis_nominal/*.parquet``) summed up: ``pairs``,
    ``features`` and ``variants`` (distinct ids), and ``top``: the ``k`` pairs with the
    smallest ``p_column`` as a :class:`Table` of ``columns`` (cells: the values' full
    text), smallest first."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    n = 0
    features: set[str] = set()
    variants: set[str] = set()
    tops = []
    for path in paths:
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
        use = [c for c in columns if c in names]
        t = pf.read(columns=use)
        n += t.num_rows
        if "phenotype_id" in use:
            features.update(pc.unique(t.column("phenotype_id")).to_pylist())
        if "variant_id" in use:
            variants.update(pc.unique(t.column("variant_id")).to_pylist())
        if t.num_rows and p_column in use:
            tops.append(pc.take(t, pc.select_k_unstable(t, k, [(p_column, "ascending")])))
    rows: list[tuple[float, list[str]]] = []
    for part in tops:
        for rec in part.to_pylist():
            p = rec.get(p_column)
            cells = ["NA" if rec.get(c) is None else str(rec[c]) for c in columns]
            rows.append((float("inf") if p is None else p, cells))
    rows.sort(key=lambda r: r[0])  # stable: ties keep file order
    top = Table(list(columns), [r[1] for r in rows[:k]], paths[0] if paths else None)
    return {"pairs": n, "features": len(features), "variants": len(variants), "top": top}


def _cis_part(ctx: Context, name: str, mode: str, summary: dict, base: str) -> tuple[list, str]:
    """Facts and tables of ``cis.tsv`` (and ``cis_independent.tsv``)."""
    run = ctx.run
    cis = run.table(f"{base}/cis.tsv")
    if cis is None:
        return [], note(f"{base}/cis.tsv is missing: no cis leads to show.")
    fdr = to_float(_setting(summary, "fdr"))
    q = cis.numbers("qval")
    nvar = [v for v in cis.numbers("num_var") if v is not None]
    rows = [
        ("features tested", number(len(cis))),
        ("variant-feature pairs tested (cis windows)", number(sum(nvar)) if nvar else "NA"),
        (
            "cis variants per feature, median (range)",
            f"{number(statistics.median(nvar))} ({number(min(nvar))}-{number(max(nvar))})"
            if nvar
            else "NA",
        ),
        (
            f"features with a cis QTL (q <= {number(fdr)})",
            "NA" if fdr is None else number(sum(1 for v in q if v is not None and v <= fdr)),
        ),
        ("window, permutations", f"+-{number(_setting(summary, 'window'))} bp, "
         f"{number(_setting(summary, 'nperm'))}"),
    ]  # fmt: skip
    shown = _ascending(cis.select(_LEAD_COLUMNS), "pval_beta", "pval_nominal")
    tables = file_table(
        ctx,
        shown,
        ctx.uid("cis-leads", name),
        f"Strongest cis leads of {name}: one per feature, by beta-approximated permutation "
        f"p (significant: q <= {number(fdr)})",
        empty="No feature was mapped in cis",
        max_rows=LEAD_ROWS,
        labels=_LABELS,
    )
    if mode == "cis_independent":
        ind = run.table(f"{base}/cis_independent.tsv")
        if ind is None:
            tables += note(f"{base}/cis_independent.tsv is missing: no independent signals.")
        else:
            per = Counter(ind.column("phenotype_id"))
            multi = sum(1 for k in per.values() if k > 1)
            rows.append(("independent cis signals", number(len(ind))))
            rows.append(("features with 2 or more signals", number(multi)))
            tables += file_table(
                ctx,
                _ascending(ind.select(_SIGNAL_COLUMNS), "pval_beta", "pval_nominal"),
                ctx.uid("cis-signals", name),
                f"Conditionally independent cis signals of {name}, strongest first",
                empty="No independent signal (no significant feature)",
                max_rows=LEAD_ROWS,
                labels=_LABELS,
            )
    return rows, tables


def _pairs_part(ctx: Context, name: str, mode: str, summary: dict, base: str) -> tuple[list, str]:
    """Facts and tables of ``trans.parquet`` or ``cis_nominal/*.parquet``."""
    run = ctx.run
    if mode == "trans":
        paths = [run.path(f"{base}/trans.parquet")] if run.exists(f"{base}/trans.parquet") else []
        missing = f"{base}/trans.parquet"
        columns, p_column = _TRANS_COLUMNS, "pval"
    else:
        paths = run.glob(f"{base}/cis_nominal/*.parquet")
        missing = f"{base}/cis_nominal/*.parquet"
        columns, p_column = _NOMINAL_COLUMNS, "pval_nominal"
    if not paths:
        return [], note(f"{missing} is missing: no pairs to show.")
    try:
        got = read_parquet_pairs(paths, columns, p_column, LEAD_ROWS)
    except ImportError:
        return [], note(f"{missing} not read: pyarrow is not installed.")
    if mode == "trans":
        thr = number(_setting(summary, "pval_threshold"))
        cis_out = _setting(summary, "exclude_cis") is True
        rows = [
            (f"trans pairs with p < {thr}", number(got["pairs"])),
            ("features with a trans pair", number(got["features"])),
            ("variants in a trans pair", number(got["variants"])),
            ("cis pairs", "left out" if cis_out else "included"),
        ]
        pheno = _feature_count(ctx, name)
        if pheno is not None:
            rows.insert(0, ("features in the phenotype table", number(pheno)))
        caption = f"Strongest trans pairs of {name} (p < {thr}), strongest first"
        empty = f"No pair with p < {thr}"
        rel = _rel(ctx, paths[0])
    else:
        rows = [
            ("variant-feature pairs tested (cis windows)", number(got["pairs"])),
            ("features tested", number(got["features"])),
            ("variants tested", number(got["variants"])),
        ]
        caption = f"Strongest cis pairs of {name} (nominal p), strongest first"
        empty = "No cis pair"
        rel = _rel(ctx, paths[0].parent)
    table = file_table(
        ctx,
        got["top"],
        ctx.uid(f"{mode}-pairs", name),
        caption,
        rel=rel,
        empty=empty,
        max_rows=LEAD_ROWS,
        labels=_LABELS,
    )
    more = got["pairs"] - len(got["top"])
    if more > 0:
        table += note(f"{more} more pairs in {rel}.")
    return rows, table


def _feature_count(ctx: Context, name: str) -> int | None:
    """The features of the dataset's phenotype table (its header, less the sample column)."""
    path = ctx.run.path(f"omics/{name}/phenotypes.tsv")
    if not path.is_file():
        return None
    with open(path) as fh:
        header = fh.readline().rstrip("\n").split("\t")
    return max(len(header) - 1, 0)


def _mode_block(ctx: Context, name: str, mode: str) -> str:
    base = f"omics/{name}/mapping"
    with open(ctx.run.path(f"{base}/{mode}.json")) as fh:
        summary = json.load(fh)
    if mode in ("cis", "cis_independent"):
        rows, tables = _cis_part(ctx, name, mode, summary, base)
    else:
        rows, tables = _pairs_part(ctx, name, mode, summary, base)
    head = [("mode", f"{mode}: {_WHAT[mode]}")]
    tail = []
    if "dof" in summary:
        tail.append(("degrees of freedom", number(summary["dof"])))
    if "seconds" in summary:
        tail.append(("run time", f"{number(summary['seconds'])} s"))
    heading = f"<h4>{esc(name)}: QTL mapping at scale ({esc(mode)})</h4>"
    return heading + facts(head + rows + tail) + tables


def mapping_block(ctx: Context, name: str) -> str:
    """Dataset ``name``'s mapping at scale, one part per mode with a ``<mode>.json``;
    empty when the dataset was not mapped at scale."""
    return "".join(
        _mode_block(ctx, name, mode)
        for mode in MODES
        if ctx.run.exists(f"omics/{name}/mapping/{mode}.json")
    )
