"""Trial analysis on the breeding-values section: the outlying plots of either trial model,
and the spatial model's results (``results/phenome/spatial/``) when they made the GS
phenotypes: per-trial generalised heritability and effective dimensions, the across-trial
variance components and heritability, the outliers and the field map (inlined PNG)."""

from __future__ import annotations

from collections.abc import Mapping

from breedomics.report import checks, plots
from breedomics.report.blocks import file_table, optional_table
from breedomics.report.collect import Table
from breedomics.report.context import Context
from breedomics.report.fmt import number, to_float
from breedomics.report.html import esc, facts

__all__ = [
    "SPATIAL",
    "heritability_table",
    "outlier_block",
    "spatial_block",
    "spatial_phenotypes",
]

#: Folder of the spatial model's tables under ``results/``.
SPATIAL = "phenome/spatial"


def outlier_block(ctx: Context, rel: str) -> str:
    """The outlier table ``rel`` (``gs/blue/outliers.tsv`` or the spatial model's), with a
    warning naming the flagged plots (by the table's first column: the plot id when the
    run maps one, else the genotype)."""
    outl = ctx.run.table(rel)
    if outl is None:
        return ""
    if outl.rows:
        key = outl.columns[0]
        flagged = [
            f"{r.get(key)} ({r.get('genotype', r.get(key))}, {r.get('trait')})"
            for r in outl.records()
        ]
        dropped = sum(r.get("dropped") == "True" for r in outl.records())
        ctx.warn(
            f"{len(outl.rows)} trial plot(s) flagged as outliers (studentised residual, "
            f"Holm): {checks.names(flagged, 5)} ({rel}; "
            f"{'dropped and refitted' if dropped else 'kept: gs.drop_outliers is off'})."
        )
    caption = "Outlying plots (studentised residual, Bonferroni-Holm)"
    return file_table(ctx, outl, ctx.uid("outliers"), caption, empty="No outlying plot")


def spatial_phenotypes(ctx: Context) -> bool:
    """Whether the run's GS phenotypes are the spatial model's: the config gives plot
    coordinates (``gs.trial_columns.row/col``) and the spatial tables are there."""
    cols = ctx.section("gs").get("trial_columns")
    cols = cols if isinstance(cols, Mapping) else {}
    configured = bool(ctx.section("gs").get("trials") and cols.get("row") and cols.get("col"))
    return configured and ctx.run.table(f"{SPATIAL}/heritability.tsv") is not None


def heritability_table(varcomp: Table) -> Table:
    """A long ``varcomp.tsv`` (trait, component, estimate: ``gs/blue/`` or the spatial
    model's ``varcomp_met.tsv``) as one row per trait."""
    comps = list(dict.fromkeys(varcomp.column("component")))
    by: dict[str, dict[str, str]] = {}
    for r in varcomp.records():
        by.setdefault(r["trait"], {})[r["component"]] = r.get("estimate", "")
    rows = [[t, *[v.get(c, "") for c in comps]] for t, v in by.items()]
    return Table(["trait", *comps], rows, varcomp.path)


def _per_trial(ctx: Context, h2: Table) -> str:
    recs = h2.records()
    traits = list(dict.fromkeys(r["trait"] for r in recs))
    envs = list(dict.fromkeys(r["environment"] for r in recs))
    value = {(r["trait"], r["environment"]): to_float(r.get("H2")) for r in recs}
    series = [(t, [value.get((t, e)) for e in envs]) for t in traits]
    fig = plots.bars(envs, series, ylabel="generalised H²", label="H² per trial", ymax=1.0)
    caption = (
        "Per trial and trait: the model (spatial, or block for trials without coordinates "
        "or without a significant spatial trend: REML likelihood ratio lrt / p_lrt of the "
        "spatial random terms, F-test f_linear / p_linear of the linear surface), "
        "generalised heritability ED_g / m_g and the genotypes' effective dimension"
    )
    return (
        "<p class=note>Generalised heritability of every trial (Oakey et al. 2006; "
        "Rodriguez-Alvarez et al. 2018): the effective dimension of the random genotype "
        "term over the number of genotypes.</p>"
        + f"<figure>{fig}</figure>"
        + file_table(ctx, h2, ctx.uid("spatial-h2"), caption)
    )


def spatial_block(ctx: Context) -> str:
    """The spatial model's block of the section (``""`` when the run has none)."""
    h2 = ctx.run.table(f"{SPATIAL}/heritability.tsv")
    if h2 is None:
        return ""
    out = ["<h3>Trials: spatial model (SpATS) and heritability</h3>"]
    out.append(
        "<p>The GS phenotypes are the <strong>spatial model</strong>'s BLUEs "
        f'(<a class="source" href="{esc(ctx.run.link(f"{SPATIAL}/blues.tsv"))}">'
        f"{SPATIAL}/blues.tsv</a>): per trial a 2-D P-spline of the plot coordinates with "
        "random row and column effects (SpATS), then the genotype means over trials "
        "weighted by their standard errors. The block model's tables (gs/blue/) are not "
        "used.</p>"
    )
    met = ctx.run.table(f"{SPATIAL}/varcomp_met.tsv")
    items = []
    if met is not None:
        wide = heritability_table(met)
        for r in wide.records():
            items.append((f"H² across trials (Cullis), {r['trait']}", number(r.get("H2_cullis"))))
    n_env = len(set(h2.column("environment")))
    items.append(("trials", number(n_env)))
    out.append(facts(items))
    out.append(_per_trial(ctx, h2))
    if met is not None:
        caption = (
            "Across trials (second stage, genotypes random): genotype, GxE and mean "
            "first-stage residual variances, mean squared SE of the trial BLUEs, heritability"
        )
        out.append(file_table(ctx, heritability_table(met), ctx.uid("spatial-met"), caption))
    out.append(
        optional_table(
            ctx,
            f"{SPATIAL}/varcomp.tsv",
            "spatial-varcomp",
            "Per trial: variance and effective dimension of every term of the spatial model",
        )
    )
    out.append(outlier_block(ctx, f"{SPATIAL}/outliers.tsv"))
    png = plots.image(ctx.run.data_uri(f"{SPATIAL}/field_map.png"), "fitted spatial trend")
    out.append(
        "<h4>Field map</h4><p class=note>The fitted trend (smooth surface plus row and "
        f"column effects) of every trial, on the plot grid.</p><figure>{png}</figure>"
    )
    return "".join(out)
