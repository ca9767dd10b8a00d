"""Section 2, structure and diversity (``results/census/``): PCA coloured by group,
ancestry at the chosen K, per-group diversity, Fst, LD decay, F_ROH per group, duplicate
clusters and the core set."""

from __future__ import annotations

import statistics
from collections import defaultdict

from breedomics.report import checks, plots
from breedomics.report.collect import Table
from breedomics.report.context import Context
from breedomics.report.fmt import number, to_float
from breedomics.report.html import Section, esc, facts
from breedomics.report.tables import render_table

__all__ = ["structure"]


def _table(ctx: Context, table: Table, rel: str, key: str, caption: str, **kw) -> str:
    return render_table(
        table,
        ctx.uid(key),
        source=ctx.run.link(rel),
        source_label=rel,
        caption=caption,
        max_rows=ctx.max_rows,
        **kw,
    )


def _pca(ctx: Context) -> str:
    pca = ctx.run.table("census/pca.tsv")
    if pca is None or not pca.has("sample", "PC1", "PC2"):
        return ""
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
        f"<figure>{fig}</figure>"
        + _table(ctx, pca, "census/pca.tsv", "pca", "PC coordinates per accession (LD-pruned SNPs)")
    )


def _ancestry(ctx: Context) -> str:
    adm = ctx.run.table("census/admixture.tsv")
    if adm is None or not adm.has("sample", "K"):
        return ""
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
    cv = ctx.run.table("census/admixture.cv.tsv")
    out = [
        f"<h3>Ancestry at the chosen K = {k}</h3>",
        f"<figure>{fig}</figure>",
        _table(ctx, shown, "census/admixture.tsv", "admixture", f"Ancestry proportions at K = {k}"),
    ]
    if cv is not None:
        out.append(
            _table(
                ctx,
                cv,
                "census/admixture.cv.tsv",
                "admixture-cv",
                "Cross-validation error per K (the chosen K marked)",
            )
        )
    return "".join(out)


def _diversity(ctx: Context) -> str:
    div = ctx.run.table("census/diversity.tsv")
    if div is None:
        return ""
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
        + _table(
            ctx,
            div,
            "census/diversity.tsv",
            "diversity",
            "Nucleotide diversity, Watterson's theta, Tajima's D, He/Ho, private alleles per group",
        )
    )


def _fst(ctx: Context) -> str:
    fst = ctx.run.table("census/fst.tsv")
    if fst is None or not fst.has("group1", "group2", "fst"):
        return ""
    groups = list(dict.fromkeys(fst.column("group1") + fst.column("group2")))
    value = {}
    for r in fst.records():
        value[(r["group1"], r["group2"])] = value[(r["group2"], r["group1"])] = to_float(r["fst"])
    matrix = [[value.get((a, b)) if a != b else 0.0 for b in groups] for a in groups]
    fig = plots.heatmap(groups, matrix, label="pairwise Fst", value_label="Fst")
    return f"<h3>Differentiation between groups (Hudson Fst)</h3><figure>{fig}</figure>" + _table(
        ctx, fst, "census/fst.tsv", "fst", "Pairwise Fst with block-jackknife standard error"
    )


def _ld(ctx: Context) -> str:
    ld = ctx.run.table("census/ld_decay.tsv")
    if ld is None or not ld.has("group", "mid", "mean_r2"):
        return ""
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
    summ = ctx.run.table("census/ld_decay.summary.tsv")
    out = ["<h3>Linkage disequilibrium decay</h3>", f"<figure>{fig}</figure>"]
    if summ is not None:
        out.append(
            _table(
                ctx,
                summ,
                "census/ld_decay.summary.tsv",
                "ld-summary",
                "LD decay per group: r² at the first bin, Hill-Weir fit, half-decay distance (bp)",
            )
        )
    return "".join(out)


def _roh(ctx: Context) -> str:
    roh = ctx.run.table("census/roh.tsv")
    if roh is None or not roh.has("sample", "group", "f_roh"):
        return ""
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
        ["group", "n_samples", "mean_f_roh", "median_f_roh", "min_f_roh", "max_f_roh"], rows
    )
    return (
        "<h3>Runs of homozygosity: F_ROH per group</h3>"
        "<p class=note>Hover over a point for the accession; the bar is the group mean.</p>"
        f"<figure>{fig}</figure>"
        + _table(ctx, table, "census/roh.tsv", "roh", "F_ROH per group (per accession in the file)")
    )


def _duplicates(ctx: Context) -> str:
    clusters = ctx.run.table("census/duplicates.clusters.tsv")
    if clusters is None:
        return ""
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
        + _table(
            ctx,
            clusters,
            "census/duplicates.clusters.tsv",
            "duplicates",
            "Clusters of near-identical accessions",
            empty="No duplicate accessions",
        )
    )


def _core(ctx: Context) -> str:
    core = ctx.run.table("census/core.tsv")
    if core is None:
        return ""
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
        "<h3>Core set</h3>"
        + facts(items)
        + f"<figure>{png}</figure>"
        + _table(
            ctx,
            core,
            "census/core.tsv",
            "core",
            "The core set in selection order, with the cumulative allele coverage",
        )
    )


def structure(ctx: Context) -> Section:
    """Section 2."""
    st = ctx.stages["census"]
    question = (
        "How is the collection structured (groups, ancestry), how diverse is each group, "
        "how far apart are they, which accessions are duplicates, and which few "
        "accessions keep most of the diversity?"
    )
    if not st.ran:
        body = f'<p class="note">Did not run: {esc(st.why)}.</p>'
        return Section("structure", "Structure and diversity", question, body, False)
    parts = [
        _pca(ctx),
        _ancestry(ctx),
        _diversity(ctx),
        _fst(ctx),
        _ld(ctx),
        _roh(ctx),
        _duplicates(ctx),
        _core(ctx),
    ]
    body = "".join(p for p in parts if p) or '<p class="note">No census tables in the results.</p>'
    body += (
        f'<p>Genomic relationships (VanRaden GRM, square matrix): <a class="source" '
        f'href="{esc(ctx.run.link("census/grm.tsv"))}">census/grm.tsv</a>.</p>'
        if ctx.run.exists("census/grm.tsv")
        else ""
    )
    return Section("structure", "Structure and diversity", question, body, True)
