"""Section 5, molecular QTL (``results/omics/<dataset>/``): per dataset the QTL counts
(features tested, significant, cis, trans), the cis/trans map and the trans hotspots;
for a metabolite dataset with an injection sheet, the drift correction before the
mapping (QC RSD and batch R2 before/after, features removed by reason, the plot); for a
dataset mapped at scale (``mapping/<mode>.json``), that mapping's counts and strongest
cis leads / trans pairs (:mod:`breedomics.report.mapping`)."""

from __future__ import annotations

import json
from collections import Counter

from breedomics.report import plots
from breedomics.report.blocks import file_table, optional_table, stage_section
from breedomics.report.collect import Table
from breedomics.report.context import Context
from breedomics.report.fmt import number, to_float
from breedomics.report.html import Section, esc, facts
from breedomics.report.mapping import mapping_block

__all__ = ["molecular", "summary_table"]

_SUMMARY = [
    "n_features",
    "n_features_tested",
    "n_features_removed",
    "model",
    "fdr",
    "n_significant_features",
    "n_cis_features",
    "n_trans_features",
    "n_trans_leads",
    "n_trans_leads_cis_ld",
    "n_hotspots",
]


def summary_table(ctx: Context, datasets: list[str]) -> Table:
    """Every dataset's ``summary.tsv`` as one row per dataset (missing counts: NA)."""
    rows = []
    for d in datasets:
        t = ctx.run.table(f"omics/{d}/summary.tsv")
        rec = t.records()[0] if t is not None and t.rows else {}
        rows.append([d, *[rec.get(c, "NA") for c in _SUMMARY]])
    return Table(["dataset", *_SUMMARY], rows)


def _reason_kind(reason: str) -> str:
    """``QC RSD 0.41 > 0.3; blank ratio 1.1 < 3`` -> ``QC RSD, blank ratio``."""
    kinds = []
    for part in reason.split(";"):
        words = part.strip().split()
        if not words:
            continue
        if words[0] == "missing":
            kinds.append("missing")
        elif words[:2] == ["QC", "RSD"] or words[:2] == ["blank", "ratio"]:
            kinds.append(" ".join(words[:2]))
        else:
            kinds.append(part.strip())
    return ", ".join(kinds)


def drift_block(ctx: Context, name: str) -> str:
    """The drift correction of one dataset (``drift/drift.json`` and its report, plot);
    empty when the dataset had no injection sheet."""
    run = ctx.run
    base = f"omics/{name}/drift"
    if not run.exists(f"{base}/drift.json"):
        return ""
    with open(run.path(f"{base}/drift.json")) as fh:
        s = json.load(fh)
    rep = run.table(f"{base}/drift_report.tsv")
    removed = Counter(
        _reason_kind(r.get("reason", ""))
        for r in (rep.records() if rep is not None else [])
        if r.get("status") == "removed"
    )

    def pair(a: str, b: str) -> str:
        return f"{number(s.get(a, 'NA'))} -> {number(s.get(b, 'NA'))}"

    rows = [
        ("injections", f"{s.get('samples', 'NA')} samples, {s.get('qc', 'NA')} QC pools, "
         f"{s.get('blanks', 'NA')} blanks in {len(s.get('batches', []))} batches"),
        ("features kept", f"{s.get('kept', 'NA')} of {s.get('features', 'NA')}"),
        ("median QC RSD before -> after", pair("median_qc_rsd_before", "median_qc_rsd_after")),
        ("batch R2 before -> after", pair("batch_r2_before", "batch_r2_after")),
    ]  # fmt: skip
    for why, k in sorted(removed.items()):
        rows.append((f"removed: {why}", str(k)))
    png = plots.image(run.data_uri(f"{base}/drift.png"), f"drift correction of {name}")
    return "<h4>Drift correction (QC-RLSC)</h4>" + facts(rows) + f"<figure>{png}</figure>"


def _dataset(ctx: Context, name: str) -> str:
    run = ctx.run
    base = f"omics/{name}"
    summ = run.table(f"{base}/summary.tsv")
    rec = summ.records()[0] if summ is not None and summ.rows else {}
    out = [f"<h3>{esc(name)}</h3>"]
    out.append(
        facts(
            [
                ("features tested", number(rec.get("n_features_tested"))),
                ("with a QTL (q <= FDR)", number(rec.get("n_significant_features"))),
                ("cis", number(rec.get("n_cis_features", "NA"))),
                ("trans", number(rec.get("n_trans_features", "NA"))),
                ("trans hotspots", number(rec.get("n_hotspots", "NA"))),
            ]
        )
    )
    png = plots.image(run.data_uri(f"{base}/qtl_map.png"), f"cis/trans map of {name}")
    out.append(f"<figure>{png}</figure>")
    caption = "Trans hotspots: windows where the trans QTL of many features cluster"
    hot = f"{base}/hotspots.tsv"
    empty = "No trans hotspot"
    out.append(
        optional_table(ctx, hot, f"hotspots-{name}", caption, empty=empty, max_rows=ctx.max_rows)
    )
    feats = run.table(f"{base}/qtl_features.tsv")
    if feats is not None:
        sig = feats.where("significant", "True")
        shown = sig.select(
            [
                "feature_id",
                "chrom",
                "start",
                "variant_id",
                "chromosome",
                "base_pair_location",
                "beta",
                "p_value",
                "q_value",
                "lead_class",
            ]
        )
        order = (
            sorted(
                range(len(shown.rows)),
                key=lambda i: to_float(shown.rows[i][shown.columns.index("p_value")]) or 1.0,
            )
            if "p_value" in shown.columns
            else range(len(shown.rows))
        )
        shown = Table(shown.columns, [shown.rows[i] for i in order], shown.path)
        caption = (
            "Features with a QTL (genome-wide lead, q-value, cis/trans class), strongest first"
        )
        empty = "No feature with a significant QTL"
        out.append(
            file_table(
                ctx,
                shown,
                ctx.uid("qtl-features", name),
                caption,
                empty=empty,
                max_rows=ctx.max_rows,
            )
        )
    out.append(drift_block(ctx, name))  # after the dataset's own facts (their heading)
    out.append(mapping_block(ctx, name))
    return "".join(out)


#: What section 5 answers.
_QUESTION = (
    "Which molecular traits (expression, metabolites) have a QTL, is it near the "
    "feature (cis) or far (trans), and where do trans QTL cluster (hotspots)?"
)


def _body(ctx: Context) -> str:
    """The counts of every dataset (configured ones first), then each dataset's part."""
    found = [p.parent.name for p in ctx.run.glob("omics/*/summary.tsv")]
    configured = list((ctx.section("omics").get("datasets") or {}).keys())
    datasets = [d for d in configured if d in found] + [d for d in found if d not in configured]
    table = summary_table(ctx, datasets)
    recs = table.records()
    fig = plots.bars(
        datasets,
        [
            ("cis", [to_float(r.get("n_cis_features")) or 0 for r in recs]),
            ("trans", [to_float(r.get("n_trans_features")) or 0 for r in recs]),
            ("hotspots", [to_float(r.get("n_hotspots")) or 0 for r in recs]),
        ],
        ylabel="features / hotspots",
        label="QTL counts per dataset",
    )
    rel = f"omics/{datasets[0]}/summary.tsv" if datasets else None
    return (
        f"<figure>{fig}</figure>"
        + file_table(
            ctx,
            table,
            ctx.uid("omics-summary"),
            "QTL counts per dataset",
            rel=rel,
            label=f"{rel} (one per dataset)" if rel else None,
        )
        + "".join(_dataset(ctx, d) for d in datasets)
    )


def molecular(ctx: Context) -> Section:
    """Section 5."""
    return stage_section(ctx, "omics", "omics", "Molecular QTL", _QUESTION, _body)
