"""Escaping and the page skeleton: every text from a file goes through :func:`esc`, and
:func:`page` wraps the sections in one document with the CSS and JavaScript inlined."""

from __future__ import annotations

import html as _html
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Section", "esc", "facts", "page", "slug"]


def esc(text: object) -> str:
    """``text`` safe inside HTML text and attribute values (``<>&"'`` escaped)."""
    return _html.escape("" if text is None else str(text), quote=True)


def slug(*parts: object) -> str:
    """An HTML id from ``parts``: letters, digits and ``-`` only."""
    out = []
    for ch in "-".join(str(p) for p in parts).lower():
        out.append(ch if ch.isascii() and ch.isalnum() else "-")
    return "-".join(filter(None, "".join(out).split("-"))) or "x"


@dataclass
class Section:
    """One section of the page: its anchor, title, the question it answers, its body
    (HTML), and whether its stage ran (a section of a stage that did not run says so)."""

    key: str
    title: str
    question: str
    body: str
    ran: bool = True


def facts(items: Sequence[tuple[str, str]]) -> str:
    """Key numbers as a definition list: (what, value) pairs, both escaped."""
    inner = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in items)
    return f'<dl class="facts">{inner}</dl>'


def page(
    title: str, subtitle: str, sections: Sequence[Section], css: str, js: str, banner: str = ""
) -> str:
    """The whole document."""
    nav = "".join(
        f'<li><a href="#{esc(s.key)}">{esc(s.title)}</a>'
        f"{'' if s.ran else ' <span class=did-not-run>(did not run)</span>'}</li>"
        for s in sections
    )
    body = "".join(
        f'<section id="{esc(s.key)}" class="{"ran" if s.ran else "not-run"}">'
        f"<h2>{i}. {esc(s.title)}</h2><p class=question>{esc(s.question)}</p>{s.body}</section>"
        for i, s in enumerate(sections, 1)
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # no request of any kind leaves the page, even by mistake
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title><style>{css}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p class=subtitle>{esc(subtitle)}</p>{banner}"
        f"<nav><ol>{nav}</ol></nav></header><main>{body}</main>"
        f"<script>{js}</script></body></html>\n"
    )
