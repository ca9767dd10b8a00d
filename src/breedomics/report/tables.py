"""Table HTML: a filter box, the source link, and a table whose headers sort it (the
page's JavaScript). Cells are escaped; numeric cells are written by the page's number
rule and keep the file's value as their sort key (``data-v``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from breedomics.report.collect import Table
from breedomics.report.fmt import is_missing, number, to_float
from breedomics.report.html import esc

__all__ = ["TEXT_COLUMNS", "render_table"]

#: Columns shown as text even when every value looks like a number (identifiers).
TEXT_COLUMNS = frozenset(
    {
        "sample",
        "sample_id",
        "sample1",
        "sample2",
        "genotype",
        "group",
        "group1",
        "group2",
        "chrom",
        "chromosome",
        "new_chrom",
        "cluster",
        "members",
        "qtl",
        "id",
        "new_id",
        "lead_variant",
        "variant_id",
        "top_variant",
        "feature_id",
        "trait",
        "gene_id",
        "gene_name",
        "hotspot",
        "rule",
        "factor",
        "plot",
        "environment",
        "block",
        "pc",
        "version",
    }
)


def _numeric(name: str, values: Sequence[str]) -> bool:
    if name in TEXT_COLUMNS:
        return False
    seen = False
    for v in values:
        if is_missing(v):
            continue
        if to_float(v) is None:
            return False
        seen = True
    return seen


def render_table(
    table: Table,
    table_id: str,
    *,
    source: str | None = None,
    source_label: str | None = None,
    caption: str = "",
    max_rows: int = 2000,
    row_attrs: Sequence[Mapping[str, str]] | None = None,
    labels: Mapping[str, str] | None = None,
    empty: str = "no rows",
) -> str:
    """A table with its filter box and source link.

    Parameters
    ----------
    table
        The rows to show, in order (only the first ``max_rows``, said so under it).
    table_id
        The HTML id (unique on the page).
    source, source_label
        The link to the file it came from (relative to the page) and its text.
    row_attrs
        Per row, extra ``data-*``/``class`` attributes (e.g. ``data-lead`` for the lead
        tables the Manhattan plot selects in).
    labels
        Header text per column (default: the column name).
    empty
        What to say instead of a table with no rows.
    """
    link = (
        f'<a class="source" href="{esc(source)}">{esc(source_label or source)}</a>'
        if source
        else ""
    )
    cap = f'<p class="caption">{esc(caption)}</p>' if caption else ""
    if not table.rows:
        return f'<div class="table-block">{cap}<p class="note">{esc(empty)}.</p>{link}</div>'
    rows = table.rows[:max_rows]
    numeric = [_numeric(c, [r[i] for r in rows]) for i, c in enumerate(table.columns)]
    labels = labels or {}
    head = "".join(
        f'<th class="{"num" if numeric[i] else "text"}" title="click to sort">'
        f"{esc(labels.get(c, c))}</th>"
        for i, c in enumerate(table.columns)
    )
    body = []
    for k, r in enumerate(rows):
        attrs = ""
        if row_attrs is not None and k < len(row_attrs):
            attrs = "".join(f' {esc(a)}="{esc(v)}"' for a, v in row_attrs[k].items())
        cells = []
        for i, v in enumerate(r):
            if numeric[i] and to_float(v) is not None:
                cells.append(f'<td class="num" data-v="{esc(v.strip())}">{esc(number(v))}</td>')
            elif numeric[i]:
                cells.append(f'<td class="num">{esc(number(v))}</td>')
            else:
                cells.append(f"<td>{esc(v)}</td>")
        body.append(f"<tr{attrs}>{''.join(cells)}</tr>")
    shown = len(rows)
    more = (
        f'<p class="note">The first {shown} of {len(table.rows)} rows; all of them are in the '
        "file.</p>"
        if len(table.rows) > shown
        else ""
    )
    count = f"{shown} rows" if shown != 1 else "1 row"
    return (
        f'<div class="table-block">{cap}<div class="table-tools">'
        f'<input type="search" class="filter" placeholder="filter rows" aria-label="filter rows" '
        f'data-table="{esc(table_id)}"> <span class="count" '
        f'data-total="{shown}">{count}</span> {link}</div>'
        f'<div class="table-scroll"><table class="data" id="{esc(table_id)}" data-rows="{shown}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>{more}</div>"
    )
