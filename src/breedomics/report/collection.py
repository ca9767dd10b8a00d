"""Section 1, the collection: accessions and variants in, passed and removed at each QC
step (with reasons), imputation accuracy, the call set's quality when the run started
from reads, and the warning box (filled in last, from every section's checks)."""

from __future__ import annotations

from collections import Counter

from breedomics.report import checks, plots
from breedomics.report.blocks import did_not_run, file_table, note
from breedomics.report.collect import Table, read_bcftools_stats
from breedomics.report.context import Context
from breedomics.report.fmt import number, to_float
from breedomics.report.html import Section, esc, facts

__all__ = ["WARNINGS_SLOT", "collection", "qc_steps", "warning_box"]

#: Where the warning box goes; replaced once every section has added its warnings.
WARNINGS_SLOT = "<!-- breedomics:warnings -->"
#: ``bcftools stats`` of the PASS calls: the call set's tables link to it.
_PASS_STATS = "qc/bcftools/all.pass.stats.txt"


def _reason_counts(table: Table | None) -> Counter:
    if table is None:
        return Counter()
    return Counter(
        part.split()[0]
        for reason in table.column("reason")
        for part in reason.split("; ")
        if part.strip()
    )


def qc_steps(summary: Table, sample_qc: Table | None, removed: Table | None) -> Table:
    """One row per QC step of ``summary.tsv``: ``step, input, kept, removed, reasons``
    (reason counts from ``sample_qc.tsv`` for accessions, ``variants_removed.tsv`` for
    variants)."""
    reasons = {"samples": _reason_counts(sample_qc), "variants": _reason_counts(removed)}
    rows = []
    for r in summary.records():
        what, n_in, kept = r.get("what", ""), to_float(r.get("input")), to_float(r.get("kept"))
        gone = "" if n_in is None or kept is None else str(int(n_in - kept))
        why = reasons.get(what, Counter())
        if what.startswith("normalise:"):
            parts = what.split(":")
            why_text = " ".join(parts[1:]).replace("_", " ")
        else:
            why_text = "; ".join(f"{k}: {v}" for k, v in why.most_common())
        label = {
            "samples": "accessions (sample QC)",
            "variants": "variants (variant QC)",
            "entry_variants": "variants in the genotype file",
        }.get(what, what)
        rows.append([label, r.get("input", ""), r.get("kept", ""), gone, why_text])
    return Table(["step", "input", "kept", "removed", "reasons"], rows, summary.path)


def warning_box(warnings: list[str]) -> str:
    """The warning box: every warning, or that there are none."""
    if not warnings:
        return (
            '<div class="warnings none" id="warnings"><h4>Warnings</h4>'
            "<p>No warnings: nothing in the tables below looks off.</p></div>"
        )
    items = "".join(f"<li>{esc(w)}</li>" for w in warnings)
    return (
        f'<div class="warnings" id="warnings"><h4>Warnings ({len(warnings)})</h4>'
        f"<ul>{items}</ul></div>"
    )


def _genotype_part(ctx: Context) -> str:
    run = ctx.run
    summary = run.table("genotypes/qc/summary.tsv")
    sample_qc = run.table("genotypes/qc/sample_qc.tsv")
    removed = run.table("genotypes/qc/variants_removed.tsv")
    mating = ctx.section("genome").get("mating") or "outbred"
    out = ["<h3>Genotype QC</h3>"]
    if summary is None:
        return out[0] + note("No genotype QC summary in the results.")
    rec = {r["what"]: r for r in summary.records() if "what" in r}
    items = []
    if "samples" in rec:
        s_in, s_kept = to_float(rec["samples"]["input"]), to_float(rec["samples"]["kept"])
        items += [
            ("accessions in", number(s_in)),
            ("passed QC", number(s_kept)),
            ("removed", number((s_in or 0) - (s_kept or 0))),
        ]
    if "entry_variants" in rec:
        items.append(("variants in the file", number(rec["entry_variants"]["input"])))
    if "variants" in rec:
        items.append(("variants kept", number(rec["variants"]["kept"])))
    acc = run.table("genotypes/imputation_accuracy.tsv")
    if acc is not None:
        for r in acc.records():
            if r.get("maf_bin") == "all":
                items.append(("imputation concordance", number(r.get("concordance"))))
                items.append(("imputation dosage r²", number(r.get("dosage_r2"))))
    out.append(facts(items))
    steps = qc_steps(summary, sample_qc, removed)
    # the funnel: accessions and variants, each from input to kept
    figs = []
    for what, title in (("samples", "accessions"), ("variants", "variants")):
        if what not in rec:
            continue
        counts = _reason_counts(sample_qc if what == "samples" else removed)
        labels = [f"{title} in", *[f"removed: {k}" for k in counts], f"{title} kept"]
        values = [
            to_float(rec[what]["input"]) or 0,
            *counts.values(),
            to_float(rec[what]["kept"]) or 0,
        ]
        colours = [plots.colour(0)] + [plots.colour(3)] * len(counts) + [plots.colour(2)]
        figs.append(
            "<figure>"
            + plots.hbars(
                labels, values, xlabel=title, label=f"{title} through QC", colours=colours
            )
            + "</figure>"
        )
    out.append(f'<div class="row">{"".join(figs)}</div>')
    caption = "QC steps: in, kept and removed, with the reasons"
    out.append(file_table(ctx, steps, ctx.uid("qc-steps"), caption, max_rows=ctx.max_rows))
    if sample_qc is not None:
        ctx.warnings.extend(checks.sample_qc_warnings(sample_qc, mating))
        status = sample_qc.column("status")
        order = sorted(range(len(sample_qc.rows)), key=lambda i: status[i] != "removed")
        shown = Table(sample_qc.columns, [sample_qc.rows[i] for i in order], sample_qc.path)
        attrs = [{"class": "removed"} if status[i] == "removed" else {} for i in order]
        caption = (
            "Accessions: call rate, heterozygosity, inbreeding, sex check (removed ones first)"
        )
        table_id = ctx.uid("sample-qc")
        out.append(
            file_table(ctx, shown, table_id, caption, max_rows=ctx.max_rows, row_attrs=attrs)
        )
    if removed is not None:
        counts = _reason_counts(removed)
        rows = [[k, str(v)] for k, v in counts.most_common()]
        caption = "Variants removed, by reason (every variant and its values in the file)"
        table_id = ctx.uid("variants-removed")
        by_reason = Table(["reason", "variants"], rows, removed.path)
        out.append(file_table(ctx, by_reason, table_id, caption, empty="No variant was removed"))
    if acc is not None:
        ctx.warnings.extend(checks.imputation_warnings(acc))
        bins = [r for r in acc.records() if r.get("maf_bin") != "all"]
        out.append("<h4>Imputation accuracy (masked genotypes)</h4>")
        out.append(
            "<figure>"
            + plots.bars(
                [r["maf_bin"] for r in bins],
                [
                    ("concordance", [to_float(r.get("concordance")) for r in bins]),
                    ("dosage r²", [to_float(r.get("dosage_r2")) for r in bins]),
                ],
                ylabel="accuracy",
                label="imputation accuracy by minor allele frequency",
                ymax=1.0,
            )
            + "</figure>"
        )
        caption = "Imputation accuracy by minor allele frequency bin"
        out.append(file_table(ctx, acc, ctx.uid("imputation"), caption))
    return "".join(out)


def _stats_row(name: str, stats: dict[str, Table]) -> list[str]:
    sn = {
        r.get("key", "").rstrip(":"): r.get("value", "")
        for r in stats.get("SN", Table([])).records()
    }
    tstv = stats.get("TSTV", Table([])).records()
    ts = to_float(tstv[0].get("ts")) if tstv else None
    tv = to_float(tstv[0].get("tv")) if tstv else None
    ratio = f"{ts / tv:.6g}" if ts is not None and tv else "NA"
    return [
        name,
        sn.get("number of samples", ""),
        sn.get("number of records", ""),
        sn.get("number of SNPs", ""),
        sn.get("number of indels", ""),
        sn.get("number of multiallelic sites", ""),
        "" if ts is None else str(int(ts)),
        "" if tv is None else str(int(tv)),
        ratio,
    ]


def _call_part(ctx: Context) -> str:
    run = ctx.run
    files = {
        "called (all.filtered)": "qc/bcftools/all.filtered.stats.txt",
        "kept (PASS)": _PASS_STATS,
    }
    parsed = {k: read_bcftools_stats(run.path(v)) for k, v in files.items() if run.exists(v)}
    if not parsed:
        return "<h3>Call set</h3>" + note("No bcftools stats in results/qc/bcftools/.")
    rows = [_stats_row(k, v) for k, v in parsed.items()]
    summary = Table(
        ["call set", "samples", "variants", "SNPs", "indels", "multiallelic", "ts", "tv", "ts/tv"],
        rows,
    )
    items = []
    for (name, *_), row in zip(parsed.items(), rows, strict=True):
        items.append((f"variants {name.split()[0]}", number(row[2])))
    if rows:
        items.append(("Ti/Tv (PASS SNPs)", number(rows[-1][8])))
    out = ["<h3>Call set (reads to VCF)</h3>", facts(items)]
    caption = "Variants called and kept, transitions/transversions"
    out.append(file_table(ctx, summary, ctx.uid("callset"), caption, rel=_PASS_STATS))
    stats = parsed.get("kept (PASS)") or next(iter(parsed.values()))
    psc = stats.get("PSC")
    if psc is not None and psc.rows:
        n_records = int(to_float(rows[-1][2]) or 0)
        per = []
        for r in psc.records():
            ref, alt, het = (to_float(r.get(k)) or 0 for k in ("nRefHom", "nNonRefHom", "nHets"))
            ts, tv = to_float(r.get("nTransitions")) or 0, to_float(r.get("nTransversions")) or 0
            miss = to_float(r.get("nMissing")) or 0
            per.append(
                [
                    r.get("sample", ""),
                    str(int(ref)),
                    str(int(alt)),
                    str(int(het)),
                    f"{het / alt:.6g}" if alt else "NA",
                    f"{ts / tv:.6g}" if tv else "NA",
                    r.get("nIndels", ""),
                    r.get("average depth", ""),
                    str(int(miss)),
                    f"{miss / n_records:.6g}" if n_records else "NA",
                    r.get("nSingletons", ""),
                ]
            )
        table = Table(
            [
                "sample",
                "hom_ref",
                "hom_alt",
                "het",
                "het/hom_alt",
                "ts/tv",
                "indels",
                "mean_depth",
                "missing",
                "missing_fraction",
                "singletons",
            ],
            per,
        )
        ctx.warnings.extend(
            checks.call_set_warnings(
                psc,
                n_records,
                ctx.section("genome").get("mating") or "outbred",
                None,
            )
        )
        samples = [r[0] for r in per]
        out.append(
            "<figure>"
            + plots.stacked(
                samples,
                [
                    ("hom ref", [to_float(r[1]) for r in per]),
                    ("hom alt", [to_float(r[2]) for r in per]),
                    ("het", [to_float(r[3]) for r in per]),
                    ("missing", [to_float(r[8]) for r in per]),
                ],
                ylabel="SNP genotypes (PASS)",
                label="genotype classes per sample",
            )
            + "</figure>"
        )
        caption = "Per sample (PASS set): genotype classes, het/hom, Ti/Tv, depth, missingness"
        out.append(
            file_table(
                ctx,
                table,
                ctx.uid("callset-samples"),
                caption,
                rel=_PASS_STATS,
                label=f"{_PASS_STATS} (PSC)",
                max_rows=ctx.max_rows,
            )
        )
    inbreeding = run.table("calls/inbreeding.tsv")
    if inbreeding is not None and inbreeding.rows:
        mating = ctx.section("genome").get("mating") or "outbred"
        ctx.warnings.extend(checks.inbreeding_warnings(inbreeding, mating))
        lines = [r["sample"] for r in inbreeding.records() if r.get("line") == "True"]
        if mating == "outbred" and lines:
            fate = {
                "homozygous": "resolved to the likelier homozygote",
                "missing": "set missing",
                "keep": "kept",
            }[ctx.section("calling").get("inbred_het", "homozygous")]
            out.append(
                f"<p>{len(lines)} of {len(inbreeding.rows)} samples are inbred lines "
                f"(inbreeding coefficient from their likelihoods, "
                f"<code>calls/inbreeding.tsv</code>): {esc(checks.names(lines))}; their "
                f"heterozygous calls were {fate} (calling.inbred_het).</p>"
            )
    if run.exists("qc/multiqc_report.html"):
        out.append(
            '<p>Read and alignment QC: <a class="source" '
            f'href="{esc(run.link("qc/multiqc_report.html"))}">'
            "qc/multiqc_report.html</a> (MultiQC).</p>"
        )
    return "".join(out)


def collection(ctx: Context) -> Section:
    """Section 1 (the warning box is a slot, filled by the page builder)."""
    parts = [WARNINGS_SLOT]
    st = ctx.stages
    for key, part in (("genotypes", _genotype_part), ("reads", _call_part)):
        if st[key].ran:
            parts.append(part(ctx))
        else:
            parts.append(f"<h3>{esc(st[key].title)}</h3>" + did_not_run(st[key]))
    ran = st["genotypes"].ran or st["reads"].ran
    return Section(
        "collection",
        "The collection",
        "How many accessions and variants went in, how many passed QC and why the others "
        "did not; how accurate imputation is; whether the call set looks right.",
        "".join(parts),
        ran,
    )
