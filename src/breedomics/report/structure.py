"""Section 2, structure and diversity (``results/census/``): PCA coloured by group,
ancestry at the chosen K, per-group diversity, Fst, LD decay, F_ROH per group, duplicate
clusters and the core set."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from breedomics.report import checks, plots
from breedomics.report.blocks import file_table, note, optional_table, stage_section
from breedomics.report.collect import Table
from breedomics.report.context import Context
from breedomics.report.fmt import number, to_float
from breedomics.report.html import Section, esc, facts

__all__ = ["structure"]


#: The captions of the section's tables, by id (one with a caption of its own aside).
_CAPTIONS = {
    "pca": "PC coordinates per accession (LD-pruned SNPs)",
    "admixture-cv": "Cross-validation error per K (the chosen K marked)",
    "diversity": (
        "Nucleotide diversity, Watterson's theta, Tajima's D, He/Ho, private alleles per group"
    ),
    "fst": "Pairwise Fst with block-jackknife standard error",
    "ld-summary": (
        "LD decay per group: r² at the first bin, Hill-Weir fit, half-decay distance (bp)"
    ),
    "roh": "F_ROH per group (per accession in the file)",
    "duplicates": "Clusters of near-identical accessions",
    "core": "The core set in selection order, with the cumulative allele coverage",
}


def _table(ctx: Context, table: Table, key: str, caption: str = "", **kw: Any) -> str:
    """``table`` linked to its census file, cut at the page's rows per table; its id
    made from ``key``, its caption that of :data:`_CAPTIONS` unless given."""
    caption = caption or _CAPTIONS[key]
    return file_table(ctx, table, ctx.uid(key), caption, max_rows=ctx.max_rows, **kw)


def _optional(ctx: Context, rel: str, key: str) -> str:
    """The census file ``rel`` as :func:`_table` shows it, or ``""`` when the run lacks it."""
    return optional_table(ctx, rel, key, _CAPTIONS[key], max_rows=ctx.max_rows)


def _pca(ctx: Context, pca: Table) -> str:
    """PC1 against PC2, coloured by group, and the coordinates."""
    var = ctx.run.table("census/pca.variance.tsv")
    explained = {}
    if var is not None:
        explained = {r["pc"]: to_float(r.get("variance_explained")) for r in var.records()}
    points = []
    for r in pca.records():
        x, y = to_float(r["PC1"]), to_float(r["PC2"])
        if x is None or y is None:
            continue
        g = r.get("group", "")
        points.append(
            plots.Point(x, y, g, f"{r['sample']} ({g}): PC1 {number(x)}, PC2 {number(y)}")
        )

    def axis(pc: str) -> str:
        v = explained.get(pc)
        return f"{pc} ({number(100 * v)} % of variance)" if v is not None else pc

    fig = plots.scatter(points, xlabel=axis("PC1"), ylabel=axis("PC2"), label="PCA, PC1 vs PC2")
    return (
        "<h3>Principal components</h3><p class=note>Hover over a point for the accession.</p>"
        f"<figure>{fig}</figure>" + _table(ctx, pca, "pca")
    )


def _ancestry(ctx: Context, adm: Table) -> str:
    """Ancestry at the chosen K (accessions by group) and the CV error per K; warns of
    accessions whose ancestry is another group's."""
    best = adm.where("best", "True")
    if not best.rows:
        return ""
    k = int(to_float(best.rows[0][best.columns.index("K")]) or 0)
    qcols = [f"Q{i}" for i in range(1, k + 1) if f"Q{i}" in best.columns]
    shown = best.select(["sample", "group", *qcols])
    recs = shown.records()
    # accessions by group, within a group by their largest component
    order = sorted(
        range(len(recs)),
        key=lambda i: (
            recs[i]["group"],
            max(range(len(qcols)), key=lambda j: to_float(recs[i][qcols[j]]) or 0),
            -(max(to_float(recs[i][q]) or 0 for q in qcols)),
        ),
    )
    labels = [recs[i]["sample"] for i in order]
    layers = [(q, [to_float(recs[i][q]) or 0 for i in order]) for q in qcols]
    blocks, start = [], 0
    for j in range(1, len(order) + 1):
        if j == len(order) or recs[order[j]]["group"] != recs[order[start]]["group"]:
            blocks.append((recs[order[start]]["group"], start, j))
            start = j
    fig = plots.stacked(
        labels, layers, ylabel="ancestry", label=f"ancestry at K = {k}", blocks=blocks, ymax=1.0
    )
    for sample, group, like in checks.admixture_outliers(best):
        ctx.warn(
            f"{sample} is labelled {group} but its ancestry (K = {k}) is that of {like}: "
            "mislabelled, or a seed-lot mix-up (admixture.tsv)."
        )
    return (
        f"<h3>Ancestry at the chosen K = {k}</h3><figure>{fig}</figure>"
        + _table(ctx, shown, "admixture", f"Ancestry proportions at K = {k}")
        + _optional(ctx, "census/admixture.cv.tsv", "admixture-cv")
    )


def _diversity(ctx: Context, div: Table) -> str:
    """He and Ho per group, diversity along the genome, and the per-group statistics."""
    recs = div.records()
    fig = plots.bars(
        [r["group"] for r in recs],
        [
            ("expected heterozygosity He", [to_float(r.get("he")) for r in recs]),
            ("observed heterozygosity Ho", [to_float(r.get("ho")) for r in recs]),
        ],
        ylabel="heterozygosity",
        label="diversity per group",
    )
    png = plots.image(ctx.run.data_uri("census/diversity.png"), "diversity along the genome")
    return (
        "<h3>Diversity per group</h3>"
        f'<div class="row"><figure>{fig}</figure><figure>{png}</figure></div>'
        + _table(ctx, div, "diversity")
    )


def _fst(ctx: Context, fst: Table) -> str:
    """Pairwise Fst as a heatmap and a table."""
    groups = list(dict.fromkeys(fst.column("group1") + fst.column("group2")))
    value = {}
    for r in fst.records():
        value[(r["group1"], r["group2"])] = value[(r["group2"], r["group1"])] = to_float(r["fst"])
    matrix = [[value.get((a, b)) if a != b else 0.0 for b in groups] for a in groups]
    fig = plots.heatmap(groups, matrix, label="pairwise Fst", value_label="Fst")
    return f"<h3>Differentiation between groups (Hudson Fst)</h3><figure>{fig}</figure>" + _table(
        ctx, fst, "fst"
    )


def _ld(ctx: Context, ld: Table) -> str:
    """Mean r² against distance per group, and the fitted decay (when summarised)."""
    series: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for r in ld.records():
        x, y = to_float(r["mid"]), to_float(r["mean_r2"])
        if x is not None and y is not None:
            series[r["group"]][0].append(x / 1000)
            series[r["group"]][1].append(y)
    fig = plots.lines(
        [(g, xs, ys) for g, (xs, ys) in series.items()],
        xlabel="distance (kb)",
        ylabel="mean r²",
        label="LD decay per group",
    )
    return f"<h3>Linkage disequilibrium decay</h3><figure>{fig}</figure>" + _optional(
        ctx, "census/ld_decay.summary.tsv", "ld-summary"
    )


def _roh(ctx: Context, roh: Table) -> str:
    """F_ROH per accession by group, and its summary per group."""
    by: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for r in roh.records():
        f = to_float(r["f_roh"])
        if f is not None:
            by[r["group"]].append((r["sample"], f))
    fig = plots.strip(
        [
            (g, [f for _s, f in v], [f"{s} ({g}): F_ROH {number(f)}" for s, f in v])
            for g, v in by.items()
        ],
        ylabel="F_ROH",
        label="F_ROH per group",
        ymin=0.0,
    )
    rows = []
    for g, v in by.items():
        fs = [f for _s, f in v]
        rows.append(
            [
                g,
                str(len(fs)),
                f"{statistics.fmean(fs):.6g}",
                f"{statistics.median(fs):.6g}",
                f"{min(fs):.6g}",
                f"{max(fs):.6g}",
            ]
        )
    table = Table(
        ["group", "n_samples", "mean_f_roh", "median_f_roh", "min_f_roh", "max_f_roh"],
        rows,
        roh.path,
    )
    return (
        "<h3>Runs of homozygosity: F_ROH per group</h3>"
        "<p class=note>Hover over a point for the accession; the bar is the group mean.</p>"
        f"<figure>{fig}</figure>" + _table(ctx, table, "roh")
    )


def _duplicates(ctx: Context, clusters: Table) -> str:
    """Clusters of near-identical accessions (each one a warning)."""
    n = len(clusters.rows)
    if n:
        ibs = ctx.section("census").get("duplicate_ibs")
        ctx.warn(
            f"{n} duplicate cluster(s): accessions with IBS >= "
            f"{number(ibs) if ibs else 'the threshold'} "
            f"that are likely one accession under several names "
            f"({checks.names([m.replace(',', ' = ') for m in clusters.column('members')], 4)}; "
            "duplicates.clusters.tsv)."
        )
    png = plots.image(ctx.run.data_uri("census/duplicates.png"), "pairwise identity by state")
    return (
        "<h3>Duplicate accessions</h3>"
        + facts(
            [
                ("duplicate clusters", number(n)),
                (
                    "accessions in them",
                    number(sum(to_float(v) or 0 for v in clusters.column("n_members"))),
                ),
            ]
        )
        + f"<figure>{png}</figure>"
        + _table(ctx, clusters, "duplicates", empty="No duplicate accessions")
    )


def _core(ctx: Context, core: Table) -> str:
    """The core set, its allele coverage and how random sets of its size compare."""
    summ = ctx.run.table("census/core.summary.tsv")
    items = []
    if summ is not None and summ.rows:
        s = summ.records()[0]
        items = [
            ("core size", number(s.get("core_size"))),
            ("alleles covered by the core", number(s.get("core_coverage"))),
            ("random sets of that size (mean)", number(s.get("random_mean"))),
            ("random sets as good as the core", number(s.get("fraction_random_ge_core"))),
        ]
    png = plots.image(ctx.run.data_uri("census/core.png"), "core set coverage against random sets")
    return (
        "<h3>Core set</h3>" + facts(items) + f"<figure>{png}</figure>" + _table(ctx, core, "core")
    )


#: What section 2 answers.
_QUESTION = (
    "How is the collection structured (groups, ancestry), how diverse is each group, "
    "how far apart are they, which accessions are duplicates, and which few "
    "accessions keep most of the diversity?"
)


#: The section's parts in order: the census file each is made from, the columns it
#: needs there (a part without its file, or with a file lacking them, is left out), and
#: the function making it.
_PARTS: tuple[tuple[str, tuple[str, ...], Callable[[Context, Table], str]], ...] = (
    ("census/pca.tsv", ("sample", "PC1", "PC2"), _pca),
    ("census/admixture.tsv", ("sample", "K"), _ancestry),
    ("census/diversity.tsv", (), _diversity),
    ("census/fst.tsv", ("group1", "group2", "fst"), _fst),
    ("census/ld_decay.tsv", ("group", "mid", "mean_r2"), _ld),
    ("census/roh.tsv", ("sample", "group", "f_roh"), _roh),
    ("census/duplicates.clusters.tsv", (), _duplicates),
    ("census/core.tsv", (), _core),
)


def _body(ctx: Context) -> str:
    """Every part whose census file is there, then the link to the GRM."""
    parts = []
    for rel, columns, part in _PARTS:
        table = ctx.run.table(rel)
        if table is not None and table.has(*columns):
            parts.append(part(ctx, table))
    body = "".join(parts) or note("No census tables in the results.")
    return body + (
        f'<p>Genomic relationships (VanRaden GRM, square matrix): <a class="source" '
        f'href="{esc(ctx.run.link("census/grm.tsv"))}">census/grm.tsv</a>.</p>'
        if ctx.run.exists("census/grm.tsv")
        else ""
    )


def structure(ctx: Context) -> Section:
    """Section 2."""
    return stage_section(ctx, "census", "structure", "Structure and diversity", _QUESTION, _body)
