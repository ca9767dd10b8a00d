"""Inline plots: SVG drawn here (no plotting library, so the page stays small and every
mark can carry a ``<title>`` tooltip) and PNGs of the run inlined as ``data:`` URIs.

Every function returns the markup of one figure; all text is escaped. Coordinates are
in the SVG's own units (``viewBox``); the page's CSS scales the figure to its column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from breedomics.report.fmt import number
from breedomics.report.html import esc

__all__ = [
    "PALETTE",
    "Frame",
    "ManhattanPoint",
    "Point",
    "bars",
    "colour",
    "heatmap",
    "hbars",
    "image",
    "lines",
    "manhattan",
    "qq",
    "scatter",
    "stacked",
    "strip",
    "ticks",
]

#: Colours of groups, series and clusters, in order (matplotlib's tab10).
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def colour(i: int) -> str:
    """The ``i``-th colour of the palette (cycling)."""
    return PALETTE[i % len(PALETTE)]


def _f(x: float) -> str:
    """A coordinate, short."""
    return f"{x:.1f}".rstrip("0").rstrip(".") if abs(x) < 1e6 else f"{x:.0f}"


def ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering ``lo..hi``."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = mag
    for m in (1, 2, 2.5, 5, 10):
        step = m * mag
        if (hi - lo) / step <= n:
            break
    start = math.ceil(lo / step - 1e-9) * step
    out = []
    v = start
    while v <= hi + step * 1e-9:
        out.append(round(v, 12))
        v += step
    return out


def _open(width: float, height: float, label: str, cls: str = "") -> str:
    return (
        f'<svg class="plot {esc(cls)}" viewBox="0 0 {_f(width)} {_f(height)}" '
        f'role="img" aria-label="{esc(label)}">'
    )


def _text(
    x: float, y: float, text: str, anchor: str = "middle", cls: str = "", rotate: bool = False
) -> str:
    rot = f' transform="rotate(-90 {_f(x)} {_f(y)})"' if rotate else ""
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}"{c}{rot}>{esc(text)}</text>'


@dataclass
class Frame:
    """A plotting area inside an SVG: data ranges mapped onto pixel boxes, and its axes."""

    width: float
    height: float
    xlo: float
    xhi: float
    ylo: float
    yhi: float
    left: float = 60
    right: float = 15
    top: float = 15
    bottom: float = 45

    def __post_init__(self) -> None:
        if not self.xhi > self.xlo:
            self.xhi = self.xlo + 1
        if not self.yhi > self.ylo:
            self.yhi = self.ylo + 1

    @property
    def x0(self) -> float:
        return self.left

    @property
    def x1(self) -> float:
        return self.width - self.right

    @property
    def y0(self) -> float:
        return self.height - self.bottom

    @property
    def y1(self) -> float:
        return self.top

    def x(self, v: float) -> float:
        """Pixel x of data value ``v``."""
        return self.x0 + (v - self.xlo) / (self.xhi - self.xlo) * (self.x1 - self.x0)

    def y(self, v: float) -> float:
        """Pixel y of data value ``v``."""
        return self.y0 - (v - self.ylo) / (self.yhi - self.ylo) * (self.y0 - self.y1)

    def axes(
        self, xlabel: str = "", ylabel: str = "", xticks: bool = True, yticks: bool = True
    ) -> str:
        """Axis lines, ticks with labels, and axis titles."""
        out = [f'<path class="axis" d="M{_f(self.x0)} {_f(self.y1)}V{_f(self.y0)}H{_f(self.x1)}"/>']
        if yticks:
            for t in ticks(self.ylo, self.yhi):
                y = self.y(t)
                out.append(f'<path class="grid" d="M{_f(self.x0)} {_f(y)}H{_f(self.x1)}"/>')
                out.append(_text(self.x0 - 5, y + 4, number(t), "end", "tick"))
        if xticks:
            for t in ticks(self.xlo, self.xhi):
                x = self.x(t)
                out.append(f'<path class="axis" d="M{_f(x)} {_f(self.y0)}v4"/>')
                out.append(_text(x, self.y0 + 16, number(t), "middle", "tick"))
        if xlabel:
            out.append(_text((self.x0 + self.x1) / 2, self.height - 8, xlabel, cls="label"))
        if ylabel:
            out.append(_text(14, (self.y0 + self.y1) / 2, ylabel, cls="label", rotate=True))
        return "".join(out)


def _legend(names: Sequence[str], x: float, y: float, colours: Sequence[str] | None = None) -> str:
    out = []
    for i, name in enumerate(names):
        c = colours[i] if colours else colour(i)
        yy = y + 16 * i
        out.append(f'<rect x="{_f(x)}" y="{_f(yy - 9)}" width="10" height="10" fill="{c}"/>')
        out.append(_text(x + 14, yy, name, "start", "legend"))
    return "".join(out)


def _legend_width(names: Sequence[str]) -> float:
    return 30 + 6.5 * max((len(n) for n in names), default=0)


@dataclass
class Point:
    """A point of a scatter plot: position, its group (colour) and its tooltip."""

    x: float
    y: float
    group: str
    title: str


def scatter(
    points: Sequence[Point],
    *,
    xlabel: str,
    ylabel: str,
    label: str,
    groups: Sequence[str] | None = None,
) -> str:
    """Points coloured by group, each with its tooltip (hover shows e.g. the accession)."""
    groups = list(groups or dict.fromkeys(p.group for p in points))
    lw = _legend_width(groups)
    xs = [p.x for p in points] or [0.0]
    ys = [p.y for p in points] or [0.0]
    padx = (max(xs) - min(xs)) * 0.05 or 1
    pady = (max(ys) - min(ys)) * 0.05 or 1
    fr = Frame(
        640 + lw, 420, min(xs) - padx, max(xs) + padx, min(ys) - pady, max(ys) + pady, right=lw + 10
    )
    out = [_open(fr.width, fr.height, label, "scatter"), fr.axes(xlabel, ylabel)]
    index = {g: i for i, g in enumerate(groups)}
    out.append('<g class="points">')
    for p in points:
        out.append(
            f'<circle cx="{_f(fr.x(p.x))}" cy="{_f(fr.y(p.y))}" r="4" '
            f'fill="{colour(index.get(p.group, 0))}"><title>{esc(p.title)}</title></circle>'
        )
    out.append("</g>")
    out.append(_legend(groups, fr.x1 + 15, fr.y1 + 10))
    out.append("</svg>")
    return "".join(out)


def bars(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    ylabel: str,
    label: str,
    errors: Sequence[Sequence[float | None]] | None = None,
    ymax: float | None = None,
    ymin: float = 0.0,
) -> str:
    """Grouped vertical bars: one group per category, one bar per series, optional
    error bars (+- the value in ``errors``); every bar has its value as tooltip."""
    names = [s[0] for s in series]
    lw = _legend_width(names) if len(names) > 1 else 0
    top = (
        max(
            (v + (errors[j][i] or 0 if errors else 0))
            for j, (_n, vals) in enumerate(series)
            for i, v in enumerate(vals)
            if v is not None
        )
        if any(v is not None for _n, vals in series for v in vals)
        else 1.0
    )
    hi = ymax if ymax is not None else top * 1.1 or 1.0
    width = max(560, 70 * len(categories) * max(1, len(series)) ** 0.5) + lw
    fr = Frame(min(width, 900 + lw), 320, ymin, 1, ymin, hi, right=lw + 10, bottom=50)
    out = [_open(fr.width, fr.height, label, "bars"), fr.axes("", ylabel, xticks=False)]
    n = max(1, len(categories))
    slot = (fr.x1 - fr.x0) / n
    bw = slot * 0.8 / max(1, len(series))
    for i, cat in enumerate(categories):
        for j, (name, vals) in enumerate(series):
            v = vals[i] if i < len(vals) else None
            if v is None:
                continue
            x = fr.x0 + slot * i + slot * 0.1 + bw * j
            y = fr.y(max(min(v, hi), ymin))
            tip = f"{cat} {name}: {number(v)}".strip()
            err = errors[j][i] if errors and i < len(errors[j]) else None
            if err is not None:
                tip += f" ± {number(err)}"
            out.append(
                f'<rect x="{_f(x)}" y="{_f(min(y, fr.y0))}" width="{_f(bw)}" '
                f'height="{_f(abs(fr.y0 - y))}" fill="{colour(j)}"><title>{esc(tip)}</title></rect>'
            )
            if err:
                xm = x + bw / 2
                ya, yb = fr.y(min(v + err, hi)), fr.y(max(v - err, ymin))
                out.append(
                    f'<path class="err" d="M{_f(xm)} {_f(ya)}V{_f(yb)}M{_f(xm - 3)} {_f(ya)}h6'
                    f'M{_f(xm - 3)} {_f(yb)}h6"/>'
                )
        out.append(_text(fr.x0 + slot * (i + 0.5), fr.y0 + 16, _short(cat, 18), cls="tick"))
    if len(names) > 1:
        out.append(_legend(names, fr.x1 + 15, fr.y1 + 10))
    out.append("</svg>")
    return "".join(out)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def hbars(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    xlabel: str,
    label: str,
    colours: Sequence[str] | None = None,
    notes: Sequence[str] | None = None,
) -> str:
    """Horizontal bars, one per label (value written at the bar's end)."""
    lab_w = min(260, 20 + 6.5 * max((len(s) for s in labels), default=4))
    hi = max([v for v in values if v is not None] or [1.0]) * 1.15 or 1.0
    fr = Frame(
        760,
        40 + 22 * len(labels) + 30,
        0,
        hi,
        0,
        max(1, len(labels)),
        left=lab_w,
        bottom=40,
        top=10,
    )
    out = [_open(fr.width, fr.height, label, "hbars"), fr.axes(xlabel, "", yticks=False)]
    step = (fr.y0 - fr.y1) / max(1, len(labels))
    for i, (lab, v) in enumerate(zip(labels, values, strict=True)):
        y = fr.y1 + step * i + step * 0.15
        w = fr.x(v or 0) - fr.x0
        tip = f"{lab}: {number(v)}" + (f" ({notes[i]})" if notes and notes[i] else "")
        c = colours[i] if colours else colour(0)
        out.append(
            f'<rect x="{_f(fr.x0)}" y="{_f(y)}" width="{_f(max(w, 0))}" height="{_f(step * 0.7)}" '
            f'fill="{c}"><title>{esc(tip)}</title></rect>'
        )
        out.append(_text(fr.x0 - 6, y + step * 0.5, _short(lab, 40), "end", "tick"))
        out.append(_text(fr.x0 + max(w, 0) + 4, y + step * 0.5, number(v), "start", "tick"))
    out.append("</svg>")
    return "".join(out)


def stacked(
    labels: Sequence[str],
    layers: Sequence[tuple[str, Sequence[float]]],
    *,
    ylabel: str,
    label: str,
    blocks: Sequence[tuple[str, int, int]] = (),
    ymax: float | None = None,
) -> str:
    """Stacked bars, one per label (e.g. ancestry per accession, genotype classes per
    sample); ``blocks`` (name, first, end) mark runs of bars (groups) under the axis."""
    names = [n for n, _v in layers]
    lw = _legend_width(names)
    n = max(1, len(labels))
    totals = [sum((vals[i] or 0) for _n, vals in layers) for i in range(len(labels))]
    hi = ymax if ymax is not None else (max(totals, default=1.0) or 1.0)
    fr = Frame(880 + lw, 300, 0, n, 0, hi, right=lw + 10, bottom=60)
    out = [_open(fr.width, fr.height, label, "stacked"), fr.axes("", ylabel, xticks=False)]
    slot = (fr.x1 - fr.x0) / n
    gap = slot * 0.15 if slot > 6 else 0
    for i, lab in enumerate(labels):
        base = 0.0
        for j, (name, vals) in enumerate(layers):
            v = vals[i] or 0
            if v <= 0:
                continue
            ya, yb = fr.y(base + v), fr.y(base)
            out.append(
                f'<rect x="{_f(fr.x0 + slot * i)}" y="{_f(ya)}" width="{_f(max(slot - gap, 0.5))}" '
                f'height="{_f(yb - ya)}" '
                f'fill="{colour(j)}"><title>{esc(f"{lab} {name}: {number(v)}")}</title></rect>'
            )
            base += v
        if not blocks and slot >= 12:
            out.append(_text(fr.x0 + slot * (i + 0.5), fr.y0 + 14, _short(lab, 10), cls="tick"))
    for name, start, end in blocks:
        xa, xb = fr.x0 + slot * start, fr.x0 + slot * end
        out.append(f'<path class="axis" d="M{_f(xa)} {_f(fr.y0)}v10M{_f(xb)} {_f(fr.y0)}v10"/>')
        out.append(
            _text((xa + xb) / 2, fr.y0 + 20, _short(name, max(3, int((xb - xa) / 7))), cls="tick")
        )
    out.append(_legend(names, fr.x1 + 15, fr.y1 + 10))
    out.append("</svg>")
    return "".join(out)


def lines(
    series: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    *,
    xlabel: str,
    ylabel: str,
    label: str,
    ymin: float | None = 0.0,
) -> str:
    """One line (with point markers) per series."""
    names = [s[0] for s in series]
    lw = _legend_width(names)
    xs = [x for _n, xx, _y in series for x in xx] or [0.0, 1.0]
    ys = [y for _n, _x, yy in series for y in yy] or [0.0, 1.0]
    lo = min(ys) if ymin is None else min(ymin, min(ys))
    fr = Frame(640 + lw, 340, min(xs), max(xs), lo, max(ys) * 1.05 or 1.0, right=lw + 10)
    out = [_open(fr.width, fr.height, label, "lines"), fr.axes(xlabel, ylabel)]
    for j, (name, xx, yy) in enumerate(series):
        pts = [(fr.x(x), fr.y(y)) for x, y in zip(xx, yy, strict=True)]
        if not pts:
            continue
        d = "M" + "L".join(f"{_f(a)} {_f(b)}" for a, b in pts)
        out.append(f'<path class="line" d="{d}" stroke="{colour(j)}"/>')
        for (a, b), x, y in zip(pts, xx, yy, strict=True):
            out.append(
                f'<circle cx="{_f(a)}" cy="{_f(b)}" r="2.5" fill="{colour(j)}">'
                f"<title>{esc(f'{name}: {number(x)}, {number(y)}')}</title></circle>"
            )
    out.append(_legend(names, fr.x1 + 15, fr.y1 + 10))
    out.append("</svg>")
    return "".join(out)


def heatmap(
    names: Sequence[str], matrix: Sequence[Sequence[float | None]], *, label: str, value_label: str
) -> str:
    """A square matrix (e.g. pairwise Fst) as coloured cells with their values."""
    n = max(1, len(names))
    cell = max(28, min(60, 480 / n))
    lab_w = 20 + 6.5 * max((len(s) for s in names), default=2)
    size = lab_w + cell * n + 20
    vals = [v for row in matrix for v in row if v is not None]
    hi = max(vals, default=1.0) or 1.0
    out = [_open(size + 120, lab_w + cell * n + 20, label, "heatmap")]
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            x, y = lab_w + cell * j, 10 + cell * i
            if v is None:
                out.append(
                    f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(cell)}" height="{_f(cell)}" '
                    'class="empty"/>'
                )
                continue
            t = max(0.0, min(1.0, v / hi))
            fill = _ramp(t)
            tip = f"{names[i]} – {names[j]}: {value_label} {number(v)}"
            out.append(
                f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(cell)}" height="{_f(cell)}" '
                f'fill="{fill}">'
                f"<title>{esc(tip)}</title></rect>"
            )
            if cell >= 34:
                cls = "cell dark" if t > 0.55 else "cell"
                out.append(_text(x + cell / 2, y + cell / 2 + 4, number(v), cls=cls))
    for i, name in enumerate(names):
        out.append(_text(lab_w - 5, 10 + cell * (i + 0.5) + 4, _short(name, 20), "end", "tick"))
        out.append(_text(lab_w + cell * (i + 0.5), 10 + cell * n + 14, _short(name, 8), cls="tick"))
    # colour key
    kx = lab_w + cell * n + 30
    for k in range(10):
        out.append(
            f'<rect x="{_f(kx)}" y="{_f(10 + 12 * (9 - k))}" width="14" height="12" '
            f'fill="{_ramp(k / 9)}"/>'
        )
    out.append(_text(kx + 18, 20, number(hi), "start", "tick"))
    out.append(_text(kx + 18, 128, "0", "start", "tick"))
    out.append(_text(kx, 145, value_label, "start", "tick"))
    out.append("</svg>")
    return "".join(out)


def _ramp(t: float) -> str:
    """White to dark blue."""
    a = (247, 251, 255)
    b = (8, 48, 107)
    r, g, bl = (round(a[k] + (b[k] - a[k]) * t) for k in range(3))
    return f"#{r:02x}{g:02x}{bl:02x}"


def strip(
    groups: Sequence[tuple[str, Sequence[float], Sequence[str]]],
    *,
    ylabel: str,
    label: str,
    ymin: float | None = None,
    ymax: float | None = None,
) -> str:
    """Values per group as jittered points with the group mean (a bar): e.g. F_ROH."""
    vals = [v for _g, vv, _t in groups for v in vv] or [0.0, 1.0]
    lo = min(vals) if ymin is None else ymin
    hi = max(vals) if ymax is None else ymax
    pad = (hi - lo) * 0.05 or 0.05
    n = max(1, len(groups))
    fr = Frame(max(360, 110 * n + 80), 320, 0, n, lo - pad, hi + pad, bottom=50)
    out = [_open(fr.width, fr.height, label, "strip"), fr.axes("", ylabel, xticks=False)]
    slot = (fr.x1 - fr.x0) / n
    for i, (name, vv, titles) in enumerate(groups):
        cx = fr.x0 + slot * (i + 0.5)
        for k, (v, t) in enumerate(zip(vv, titles, strict=True)):
            jitter = ((k * 0.618034) % 1 - 0.5) * slot * 0.6
            out.append(
                f'<circle cx="{_f(cx + jitter)}" cy="{_f(fr.y(v))}" r="2.5" fill="{colour(i)}" '
                f'fill-opacity="0.6"><title>{esc(t)}</title></circle>'
            )
        if vv:
            m = sum(vv) / len(vv)
            out.append(
                f'<path class="mean" d="M{_f(cx - slot * 0.35)} {_f(fr.y(m))}h{_f(slot * 0.7)}">'
                f"<title>{esc(f'{name} mean {number(m)} (n={len(vv)})')}</title></path>"
            )
        out.append(_text(cx, fr.y0 + 16, _short(name, 16), cls="tick"))
    out.append("</svg>")
    return "".join(out)


def image(uri: str | None, alt: str) -> str:
    """An inlined PNG (a ``data:`` URI), or a note when the run did not make it."""
    if not uri:
        return f'<p class="note">{esc(alt)}: no plot in the results.</p>'
    return f'<img class="png" src="{uri}" alt="{esc(alt)}">'


# --- GWAS -------------------------------------------------------------------------------


@dataclass
class ManhattanPoint:
    """A variant of a Manhattan plot: chromosome index (plot order), position, -log10 p,
    id, p; for a lead, ``lead`` is its QTL name and ``lo``-``hi`` its interval (bp)."""

    chrom: int
    pos: float
    neglogp: float
    variant: str
    p: float
    lead: str = ""
    lo: float | None = None
    hi: float | None = None


def manhattan(
    points: Sequence[ManhattanPoint],
    chroms: Sequence[tuple[str, float, float]],
    *,
    threshold: float | None,
    label: str,
    plot_id: str,
    leads_table: str,
    genes_table: str = "",
) -> str:
    """An interactive Manhattan plot (see the page's JavaScript).

    ``chroms``: (name, first, last position) per chromosome, in plot order; chromosomes
    are laid side by side, each as wide as its span. Clicking a point selects the lead
    of its locus (the lead whose interval holds it, else the nearest lead on its
    chromosome) in the tables ``leads_table`` and ``genes_table``; clicking a
    chromosome's name zooms onto it.
    """
    width, height = 960.0, 340.0
    spans = [max(b - a, 1.0) for _n, a, b in chroms] or [1.0]
    gap = sum(spans) * 0.01
    offsets, acc = [], 0.0
    for s in spans:
        offsets.append(acc)
        acc += s + gap
    total = max(acc - gap, 1.0)
    top = max([p.neglogp for p in points] + [threshold or 0.0, 1.0])
    fr = Frame(width, height, 0, total, 0, top * 1.08, left=55, bottom=50, top=12)

    def gx(c: int, pos: float) -> float:
        return fr.x(offsets[c] + pos - chroms[c][1])

    out = [
        f'<svg class="plot manhattan" id="{esc(plot_id)}" viewBox="0 0 {_f(width)} {_f(height)}" '
        f'role="img" aria-label="{esc(label)}" data-leads="{esc(leads_table)}" '
        f'data-genes="{esc(genes_table)}" data-x0="{_f(fr.x0)}" data-x1="{_f(fr.x1)}">',
        fr.axes("", "-log10 p", xticks=False),
        _text(
            14,
            fr.height - 8,
            "chromosome (click a name to zoom, a point to see its locus)",
            "start",
            "label",
        ),
    ]
    out.append('<g class="zoomable">')
    for c, (name, a, b) in enumerate(chroms):
        xa, xb = gx(c, a), gx(c, b)
        cls = "band odd" if c % 2 else "band"
        out.append(
            f'<rect class="{cls}" x="{_f(xa)}" y="{_f(fr.y1)}" width="{_f(max(xb - xa, 0.5))}" '
            f'height="{_f(fr.y0 - fr.y1)}" data-chrom="{esc(name)}" data-bp0="{_f(a)}" '
            f'data-bp1="{_f(b)}"/>'
        )
        out.append(
            f'<text class="chrom tick" x="{_f((xa + xb) / 2)}" y="{_f(fr.y0 + 16)}" '
            f'text-anchor="middle" data-lo="{_f(xa)}" data-hi="{_f(xb)}">{esc(name)}</text>'
        )
    out.append("</g>")
    if threshold is not None:
        y = fr.y(threshold)
        out.append(
            f'<path class="threshold" d="M{_f(fr.x0)} {_f(y)}H{_f(fr.x1)}">'
            f"<title>threshold -log10 p = {number(threshold)}</title></path>"
        )
    out.append('<g class="pts zoomable">')
    for p in points:
        if p.lead:
            continue
        cls = f"c{p.chrom % 2}"
        out.append(
            f'<circle class="{cls}" cx="{_f(gx(p.chrom, p.pos))}" cy="{_f(fr.y(p.neglogp))}" '
            'r="2.2" '
            f'data-v="{esc(p.variant)}" data-p="{number(p.p)}"/>'
        )
    out.append("</g>")
    out.append('<g class="leads zoomable">')
    for p in points:
        if not p.lead:
            continue
        tip = f"{p.lead} lead {p.variant}, p = {number(p.p)} (click: its row)"
        lo = gx(p.chrom, p.lo if p.lo is not None else p.pos)
        hi = gx(p.chrom, p.hi if p.hi is not None else p.pos)
        out.append(
            f'<circle class="lead" cx="{_f(gx(p.chrom, p.pos))}" cy="{_f(fr.y(p.neglogp))}" '
            'r="5.5" '
            f'data-v="{esc(p.variant)}" data-p="{number(p.p)}" data-lead="{esc(p.variant)}" '
            f'data-lo="{_f(lo)}" data-hi="{_f(hi)}">'
            f"<title>{esc(tip)}</title></circle>"
        )
    out.append("</g></svg>")
    return "".join(out)


def qq(points: Sequence[tuple[int, float]], n_total: int, *, lam: float | None, label: str) -> str:
    """QQ plot: (rank, observed -log10 p) pairs, rank 1 the smallest p of ``n_total``
    (the caller may thin the ranks), against the uniform expectation -log10((rank-0.5)/n)."""
    n_total = max(n_total, 1)
    hi_exp = -math.log10(0.5 / n_total)
    hi_obs = max([v for _r, v in points] + [hi_exp, 1.0])
    fr = Frame(420, 380, 0, hi_exp * 1.05, 0, hi_obs * 1.05)
    out = [
        _open(fr.width, fr.height, label, "qq"),
        fr.axes("expected -log10 p", "observed -log10 p"),
    ]
    out.append(
        f'<path class="diag" d="M{_f(fr.x(0))} {_f(fr.y(0))}L{_f(fr.x(hi_exp))} '
        f'{_f(fr.y(hi_exp))}"/>'
    )
    for rank, v in points:
        e = -math.log10((rank - 0.5) / n_total)
        out.append(f'<circle cx="{_f(fr.x(e))}" cy="{_f(fr.y(v))}" r="2"/>')
    if lam is not None:
        out.append(_text(fr.x0 + 10, fr.y1 + 14, f"lambda = {number(lam)}", "start", "legend"))
    out.append("</svg>")
    return "".join(out)
