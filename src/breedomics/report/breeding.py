"""Section 4, breeding values (``results/gs/``): cross-validated accuracy per model and
trait with its spread, BLUE heritabilities and trial outliers of the model that made the
GS phenotypes (the spatial model of ``results/phenome/spatial/`` when it did, see
:mod:`breedomics.report.trials`), and the ranked selection with index, GEBVs,
reliabilities and the kinship cap."""

from __future__ import annotations

import json

from breedomics.report import plots
from breedomics.report.blocks import file_table, note, stage_section
from breedomics.report.context import Context
from breedomics.report.curves import curves_block
from breedomics.report.fmt import number, to_float
from breedomics.report.html import Section, esc, facts
from breedomics.report.trials import (
    heritability_table,
    outlier_block,
    spatial_block,
    spatial_phenotypes,
)

__all__ = ["breeding", "heritability_table"]

#: Ranks shown in the selection index plot.
TOP_PLOTTED = 40


def _cv(ctx: Context) -> str:
    rel = "gs/cv/cv_summary.tsv"
    cv = ctx.run.table(rel)
    if cv is None:
        return ""
    folds = cv.where("level", "fold") if "level" in cv.columns else cv
    recs = folds.records()
    traits = list(dict.fromkeys(r["trait"] for r in recs))
    models = list(dict.fromkeys(r["model"] for r in recs))
    value = {(r["model"], r["trait"]): r for r in recs}
    series = [
        (m, [to_float(value.get((m, t), {}).get("pearson_mean")) for t in traits]) for m in models
    ]
    errors = [[to_float(value.get((m, t), {}).get("pearson_sd")) for t in traits] for m in models]
    fig = plots.bars(
        traits,
        series,
        errors=errors,
        ylabel="accuracy (Pearson r)",
        label="genomic prediction accuracy",
        ymax=1.0,
    )
    items = [
        (f"{m} accuracy, {t}", number(value[(m, t)].get("pearson_mean")))
        for m in models
        for t in traits
        if (m, t) in value
    ]
    caption = (
        "Accuracy, rank correlation, bias (slope) and MSE per model and trait, over folds and "
        "repeats"
    )
    return (
        "<h3>Prediction accuracy (cross-validation)</h3>"
        + facts(items)
        + "<p class=note>Bars: mean Pearson correlation between predicted and observed values "
        "over the validation folds; whiskers: their standard deviation.</p>"
        + f"<figure>{fig}</figure>"
        + file_table(ctx, cv, ctx.uid("cv"), caption)
    )


def _blue(ctx: Context) -> str:
    """The trial model that made the GS phenotypes: the spatial model's results when the
    run has them (:mod:`breedomics.report.trials`), then the block model's heritabilities
    for comparison; else the block model's results with its outliers."""
    if spatial_phenotypes(ctx):
        return spatial_block(ctx) + _block_model(ctx, comparison=True)
    return _block_model(ctx, comparison=False)


def _block_model(ctx: Context, comparison: bool) -> str:
    rel = "gs/blue/varcomp.tsv"
    vc = ctx.run.table(rel)
    if vc is None:
        return ""
    h2 = heritability_table(vc)
    recs = h2.records()
    out = ["<h3>Trials: BLUEs and heritability</h3>"]
    if comparison:
        out.append(
            "<p class=note>The block model (replicates fixed, no field trend), for "
            "comparison: its BLUEs are not the GS phenotypes; its outliers are in "
            "gs/blue/outliers.tsv.</p>"
        )
    elif vc.rows:
        out.append("<p>The GS phenotypes are the <strong>block model</strong>'s BLUEs.</p>")
    items = [
        (f"H² (Cullis), {r['trait']}", number(r.get("H2_cullis"))) for r in recs if "H2_cullis" in r
    ]
    out.append(facts(items))
    if "H2_cullis" in h2.columns:
        series = [("H² Cullis", [to_float(r.get("H2_cullis")) for r in recs])]
        if "H2_standard" in h2.columns:
            series.append(("H² standard", [to_float(r.get("H2_standard")) for r in recs]))
        fig = plots.bars(
            [r["trait"] for r in recs],
            series,
            ylabel="entry-mean heritability",
            label="heritability per trait",
            ymax=1.0,
        )
        out.append(f"<figure>{fig}</figure>")
    caption = "Variance components (genotype, GxE, residual) and heritability per trait"
    out.append(file_table(ctx, h2, ctx.uid("varcomp"), caption))
    if not comparison:
        out.append(outlier_block(ctx, "gs/blue/outliers.tsv"))
    return "".join(out)


def _selection(ctx: Context) -> str:
    rel = "gs/selection.tsv"
    sel = ctx.run.table(rel)
    if sel is None:
        return ""
    settings = {}
    sp = ctx.run.path("gs/selection.settings.json")
    if sp.is_file():
        try:
            settings = json.loads(sp.read_text())
        except ValueError:
            settings = {}
    recs = sel.records()
    chosen = [r for r in recs if r.get("selected") == "True"]
    items = [
        ("candidates ranked", number(len(recs))),
        ("selected", number(len(chosen))),
    ]
    if chosen:
        items.append(("first selected", chosen[0].get("sample_id", "")))
    if settings.get("max_kinship") is not None:
        items.append(("kinship cap", number(settings["max_kinship"])))
    if settings.get("weights"):
        items.append(("index weights", str(settings["weights"])))
    if settings.get("gebv"):
        items.append(
            (
                "GEBVs from",
                str(settings["gebv"]).split("/")[-2]
                if "/" in str(settings["gebv"])
                else str(settings["gebv"]),
            )
        )
    # the ranks down to the last one selected (at most TOP_PLOTTED)
    last = max((i for i, r in enumerate(recs) if r.get("selected") == "True"), default=-1)
    top = recs[: min(TOP_PLOTTED, max(last + 1, 10))]
    index = [to_float(r.get("index")) for r in top]
    fig = ""
    if index and all(v is not None and v >= 0 for v in index):
        fig = plots.hbars(
            [f"{r.get('rank')}. {r.get('sample_id')}" for r in top],
            [v or 0.0 for v in index],
            xlabel="selection index",
            label="selection index of the top candidates",
            colours=[
                plots.colour(2) if r.get("selected") == "True" else plots.colour(7) for r in top
            ],
            notes=["selected" if r.get("selected") == "True" else "not selected" for r in top],
        )
    attrs = [{"class": "chosen"} if r.get("selected") == "True" else {} for r in recs]
    caption = (
        "Candidates ranked by the selection index: GEBVs, reliabilities, mean kinship, selected"
    )
    return (
        "<h3>Selection</h3>"
        + facts(items)
        + "<p class=note>The candidates down to the last one selected. Green: selected; "
        "grey: ranked above it but left out by the kinship cap (mean kinship with those "
        "already selected above the cap).</p>"
        + (f"<figure>{fig}</figure>" if fig else "")
        + file_table(
            ctx, sel, ctx.uid("selection"), caption, row_attrs=attrs, max_rows=ctx.max_rows
        )
        + "".join(
            f"<p>GEBVs of every genotyped candidate ({esc(p.parent.name)}): "
            '<a class="source" '
            f'href="{esc(ctx.run.link(p))}">gs/predict/{esc(p.parent.name)}/gebv.tsv</a></p>'
            for p in ctx.run.glob("gs/predict/*/gebv.tsv")
        )
    )


#: What section 4 answers.
_QUESTION = (
    "How well do genomic predictions forecast performance, how heritable are the "
    "traits in the trials, and which candidates to select?"
)


def _body(ctx: Context) -> str:
    """Accuracy, trials, growth curves, selection: those the run has."""
    parts = (_cv(ctx), _blue(ctx), curves_block(ctx), _selection(ctx))
    return "".join(parts) or note("No GS tables.")


def breeding(ctx: Context) -> Section:
    """Section 4."""
    return stage_section(ctx, "gs", "breeding", "Breeding values", _QUESTION, _body)
