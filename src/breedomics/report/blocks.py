"""What the sections are built from besides plots: a table of one of the run's files with
the link to it, the same for a file the run may lack, a note, and the frame of a stage's
section (its body, or that the stage did not run and why). One place each, so that every
section links its tables and words its notes the same way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from breedomics.report.collect import Table
from breedomics.report.context import Context
from breedomics.report.html import Section, esc
from breedomics.report.stages import Stage
from breedomics.report.tables import render_table

__all__ = [
    "did_not_run",
    "file_table",
    "note",
    "optional_table",
    "source_of",
    "stage_section",
]


def note(text: str) -> str:
    """A note paragraph (``text`` escaped)."""
    return f'<p class="note">{esc(text)}</p>'


def did_not_run(stage: Stage) -> str:
    """The note of a stage that did not run, with the reason."""
    return note(f"Did not run: {stage.why}.")


def source_of(ctx: Context, table: Table) -> str | None:
    """The file ``table`` came from, relative to ``results/`` (``None`` for a table made
    on the page, or one from outside ``results/``)."""
    if table.path is None:
        return None
    try:
        return Path(table.path).relative_to(ctx.run.results).as_posix()
    except ValueError:
        return None


def file_table(
    ctx: Context,
    table: Table,
    table_id: str,
    caption: str,
    *,
    rel: str | None = None,
    label: str | None = None,
    **options: Any,
) -> str:
    """``table`` with the link to the run's file it shows: ``rel`` (default: the file it
    was read from, see :func:`source_of`); no link without one.

    ``label`` is the link's text (default: ``rel``). ``options`` are
    :func:`~breedomics.report.tables.render_table`'s others (``max_rows``,
    ``row_attrs``, ``empty``...).
    """
    rel = rel or source_of(ctx, table)
    return render_table(
        table,
        table_id,
        source=ctx.run.link(rel) if rel else None,
        source_label=label or rel,
        caption=caption,
        **options,
    )


def optional_table(ctx: Context, rel: str, key: str, caption: str, **options: Any) -> str:
    """The run's file ``rel`` as a table (its id made from ``key``), or ``""`` when the
    run has no such file (then no id is taken either)."""
    table = ctx.run.table(rel)
    if table is None:
        return ""
    return file_table(ctx, table, ctx.uid(key), caption, rel=rel, **options)


def stage_section(
    ctx: Context, stage: str, key: str, title: str, question: str, body: Callable[[Context], str]
) -> Section:
    """Section ``key`` of stage ``stage``: ``body(ctx)`` when the stage ran, else the note
    that it did not and why (``body`` is then not called: its files are not there)."""
    st = ctx.stages[stage]
    if not st.ran:
        return Section(key, title, question, did_not_run(st), False)
    return Section(key, title, question, body(ctx), True)
