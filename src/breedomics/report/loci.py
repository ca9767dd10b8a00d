"""Section 3, loci behind traits (``results/gwas/<model>/``): per trait and model the
interactive Manhattan plot, the QQ plot with lambda, the lead loci with their interval,
favourable allele and its frequency per group (the groups lacking it and the best
donor), and the candidate genes with the consequences."""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from breedomics.gwas.annotate import CANDIDATE_GENE_COLUMNS
from breedomics.report import checks, plots
from breedomics.report.blocks import file_table, note, stage_section
from breedomics.report.collect import Table
from breedomics.report.context import Context
from breedomics.report.fmt import number, to_float
from breedomics.report.html import Section, esc, facts

__all__ = ["LACKING", "lead_table", "loci", "manhattan_points", "qq_points"]

#: A group whose favourable-allele frequency is below this lacks the allele.
LACKING = 0.05
#: -log10 p from which every variant is drawn (the rest are thinned).
KEEP_NEGLOGP = 3.0
#: QQ points: every one of the smallest p-values, then evenly spaced ranks.
QQ_TOP, QQ_REST = 500, 500


def read_sumstats(path: Path) -> pd.DataFrame:
    """chromosome, base_pair_location, p_value, neg_log_10_p_value, variant_id of a
    GWAS-SSF file (the -log10 p recomputed when the file lacks it)."""
    head = pd.read_csv(path, sep="\t", nrows=0).columns
    cols = [
        c
        for c in ("chromosome", "base_pair_location", "p_value", "neg_log_10_p_value", "variant_id")
        if c in head
    ]
    df = pd.read_csv(path, sep="\t", usecols=cols, dtype={"chromosome": str, "variant_id": str})
    df = df.dropna(subset=["p_value"])
    if "neg_log_10_p_value" not in df:
        df["neg_log_10_p_value"] = -np.log10(df["p_value"].clip(lower=1e-300))
    if "variant_id" not in df:
        df["variant_id"] = df["chromosome"] + ":" + df["base_pair_location"].astype(str)
    return df


def manhattan_points(
    df: pd.DataFrame, leads: Table | None, max_background: int
) -> tuple[list[plots.ManhattanPoint], list[tuple[str, float, float]]]:
    """The points drawn: every variant with -log10 p >= :data:`KEEP_NEGLOGP`, an evenly
    strided subset of the rest (at most ``max_background``), and the leads (flagged).
    Returns the points and the chromosomes (name, first, last position) in file order."""
    chroms = list(OrderedDict.fromkeys(df["chromosome"]))
    index = {c: i for i, c in enumerate(chroms)}
    spans = df.groupby("chromosome", sort=False)["base_pair_location"].agg(["min", "max"])
    strong = df["neg_log_10_p_value"] >= KEEP_NEGLOGP
    rest = np.flatnonzero(~strong.to_numpy())
    if len(rest) > max_background:
        rest = (
            rest[np.linspace(0, len(rest) - 1, max_background).astype(int)]
            if max_background
            else rest[:0]
        )
    keep = np.sort(np.concatenate([np.flatnonzero(strong.to_numpy()), rest]))
    lead_ids: dict[str, dict[str, str]] = {}
    if leads is not None:
        lead_ids = {r["lead_variant"]: r for r in leads.records() if r.get("lead_variant")}
    pts = []
    sub = df.iloc[keep]
    for c, pos, p, nl, v in zip(
        sub["chromosome"],
        sub["base_pair_location"],
        sub["p_value"],
        sub["neg_log_10_p_value"],
        sub["variant_id"],
        strict=True,
    ):
        if v in lead_ids:
            continue
        pts.append(plots.ManhattanPoint(index[c], float(pos), float(nl), v, float(p)))
    for v, r in lead_ids.items():
        c = r.get("chromosome", "")
        pos, nl, p = (
            to_float(r.get("base_pair_location")),
            to_float(r.get("neg_log_10_p_value")),
            to_float(r.get("p_value")),
        )
        if c not in index or pos is None or p is None:
            continue
        if nl is None:
            nl = -math.log10(max(p, 1e-300))
        pts.append(
            plots.ManhattanPoint(
                index[c],
                pos,
                nl,
                v,
                p,
                lead=r.get("qtl") or "lead",
                lo=to_float(r.get("interval_start")),
                hi=to_float(r.get("interval_end")),
            )
        )
    chrom_spans = [(c, float(spans.loc[c, "min"]), float(spans.loc[c, "max"])) for c in chroms]
    return pts, chrom_spans


def qq_points(neglogp: np.ndarray) -> list[tuple[int, float]]:
    """(rank, -log10 p) for the QQ plot: the :data:`QQ_TOP` smallest p-values, then
    :data:`QQ_REST` evenly spaced ranks."""
    v = np.sort(np.asarray(neglogp, dtype=float))[::-1]
    n = len(v)
    ranks = np.arange(min(n, QQ_TOP))
    if n > QQ_TOP:
        ranks = np.concatenate([ranks, np.unique(np.linspace(QQ_TOP, n - 1, QQ_REST).astype(int))])
    return [(int(r) + 1, float(v[r])) for r in ranks]


def lead_table(leads: Table, candidates: Table | None) -> Table:
    """One row per lead: its locus (interval), effect, the favourable allele with its
    frequency overall and per group, the groups lacking it (below :data:`LACKING`), the
    group with it most often (a donor), and the candidate genes."""
    by_lead: dict[str, list[dict[str, str]]] = {}
    if candidates is not None:
        for r in candidates.records():
            by_lead.setdefault(r.get("lead_variant", ""), []).append(r)
    freq_cols = [
        c
        for c in (candidates.columns if candidates is not None else [])
        if c.startswith("favourable_allele_frequency.")
    ]
    groups = [c.split(".", 1)[1] for c in freq_cols]
    cols = [
        "qtl",
        "lead_variant",
        "p_value",
        "favourable_allele",
        "favourable_allele_frequency",
        *freq_cols,
        "groups_lacking",
        "donor_group",
        "candidate_genes",
        "chromosome",
        "base_pair_location",
        "interval_start",
        "interval_end",
        "n_clumped",
        "effect_allele",
        "beta",
    ]
    rows = []
    for r in leads.records():
        cand = by_lead.get(r.get("lead_variant", ""), [])
        c0 = cand[0] if cand else {}
        freqs = [to_float(c0.get(c)) for c in freq_cols]
        lacking = [g for g, f in zip(groups, freqs, strict=True) if f is not None and f < LACKING]
        known = [(f, g) for g, f in zip(groups, freqs, strict=True) if f is not None]
        donor = max(known)[1] if known else ""
        genes = list(
            dict.fromkeys(
                c.get("gene_name") or c.get("gene_id", "") for c in cand if c.get("gene_id")
            )
        )
        row = {
            **r,
            **{
                k: c0.get(k, "")
                for k in ("favourable_allele", "favourable_allele_frequency", *freq_cols)
            },
        }
        row["groups_lacking"] = ", ".join(lacking) if lacking else "none"
        row["donor_group"] = donor
        row["candidate_genes"] = ", ".join(genes)
        rows.append([row.get(c, "") for c in cols])
    return Table(cols, rows, leads.path)


#: The columns of the candidate-gene table: the lead, the gene, the interval searched.
_GENE_COLS = ["qtl", "lead_variant", *CANDIDATE_GENE_COLUMNS, "search_start", "search_end"]


def _lead_linked(ctx: Context, table: Table, table_id: str, caption: str, **kw: Any) -> str:
    """``table`` linked to its file, each row marked with its lead (``data-lead``) so that
    a click on the Manhattan plot selects that lead's rows."""
    li = table.columns.index("lead_variant") if "lead_variant" in table.columns else None
    attrs = [{"data-lead": r[li]} if li is not None else {} for r in table.rows]
    return file_table(ctx, table, table_id, caption, row_attrs=attrs, max_rows=ctx.max_rows, **kw)


def _trait(ctx: Context, model: str, trait: str, summ: dict[str, str]) -> str:
    run = ctx.run
    base = f"gwas/{model}/{trait}.{model}"
    leads = run.table(f"{base}.leads.tsv")
    cands = run.table(f"{base}.candidates.tsv")
    lam = to_float(summ.get("lambda_gc"))
    p_thr = to_float(summ.get("p_threshold"))
    out = [f"<h4>{esc(trait)} — {esc(model)}</h4>"]
    items = [
        ("accessions", number(summ.get("n_samples"))),
        ("variants tested", number(summ.get("n_variants_tested"))),
        ("lambda", number(lam)),
        ("threshold p", number(p_thr)),
        ("significant variants", number(summ.get("n_significant"))),
        ("lead loci", number(summ.get("n_leads"))),
    ]
    if leads is not None and leads.rows:
        top = min(leads.records(), key=lambda r: to_float(r.get("p_value")) or 1.0)
        items.append(("top lead", f"{top['lead_variant']} (p {number(top.get('p_value'))})"))
    out.append(facts(items))
    stats_path = run.path(f"{base}.tsv.gz")
    plot_id = ctx.uid("manhattan", trait, model)
    leads_id = ctx.uid("leads", trait, model)
    genes_id = ctx.uid("genes", trait, model)
    if stats_path.is_file():
        df = read_sumstats(stats_path)
        pts, chroms = manhattan_points(df, leads, ctx.manhattan_points)
        mh = plots.manhattan(
            pts,
            chroms,
            threshold=-math.log10(p_thr) if p_thr else None,
            label=f"Manhattan plot of {trait} ({model})",
            plot_id=plot_id,
            leads_table=leads_id,
            genes_table=genes_id if cands is not None and cands.rows else "",
        )
        qq = plots.qq(
            qq_points(df["neg_log_10_p_value"].to_numpy()),
            len(df),
            lam=lam,
            label=f"QQ plot of {trait} ({model})",
        )
        n_drawn = len(pts)
        out.append(
            f'<div class="mh-tools"><button type="button" id="{esc(plot_id)}-reset">whole '
            "genome</button>"
            f'<span class="mh-info" id="{esc(plot_id)}-info">Click a point: its locus is '
            "highlighted "
            f"in the tables below ({n_drawn} of {len(df)} variants drawn: every one with p below "
            f"1e-3, an even sample of the rest).</span></div>"
            f'<div class="row"><figure style="flex:3 1 600px">{mh}</figure>'
            f'<figure style="flex:1 1 300px">{qq}</figure></div>'
        )
    else:
        out.append(note("No summary statistics file for this trait."))
    if leads is not None:
        caption = "Lead loci: interval, effect, favourable allele and its frequency per group"
        table = lead_table(leads, cands)
        out.append(
            _lead_linked(ctx, table, leads_id, caption, empty="No locus passed the threshold")
        )
    if cands is not None and cands.rows:
        caption = (
            "Candidate genes near each lead, with the consequences of the lead and its LD partners"
        )
        out.append(_lead_linked(ctx, cands.select(_GENE_COLS), genes_id, caption))
    return "".join(out)


#: What section 3 answers.
_QUESTION = (
    "Which loci move each trait, how sure are we (lambda, threshold), which genes lie "
    "there, which allele to select for and which groups lack it (the donors to use)?"
)


def _body(ctx: Context) -> str:
    """Per model (configured ones first) its summary table, then every trait's part."""
    out = []
    models = [p.parent.name for p in ctx.run.glob("gwas/*/summary.*.tsv")]
    configured = list(ctx.section("gwas").get("models") or [])
    models = [m for m in configured if m in models] + [m for m in models if m not in configured]
    for model in models:
        rel = f"gwas/{model}/summary.{model}.tsv"
        summary = ctx.run.table(rel)
        if summary is None:
            continue
        ctx.warnings.extend(checks.lambda_warnings(summary))
        shown = summary.select(
            [
                "trait",
                "model",
                "n_samples",
                "n_variants_tested",
                "lambda_gc",
                "pve",
                "threshold_method",
                "p_threshold",
                "n_significant",
                "n_leads",
                "n_qtl_regions",
            ]
        )
        out.append(f"<h3>Model {esc(model)}</h3>")
        caption = "Per trait: samples, variants, lambda, threshold, hits"
        out.append(file_table(ctx, shown, ctx.uid("gwas-summary", model), caption))
        for r in summary.records():
            out.append(_trait(ctx, model, r.get("trait", ""), r))
    return "".join(out) or note("No GWAS summaries in the results.")


def loci(ctx: Context) -> Section:
    """Section 3."""
    return stage_section(ctx, "gwas", "loci", "Loci behind traits", _QUESTION, _body)
