"""Growth curves on the breeding-values section (``results/phenome/curves/``): how many
units were fitted, which model AICc chose, the observations set aside (a flight with many
of them is warned about), and the derived traits per genotype (mean, SD, range)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from breedomics.report.blocks import file_table, optional_table
from breedomics.report.collect import Table
from breedomics.report.context import Context
from breedomics.report.fmt import number, to_float
from breedomics.report.html import facts

__all__ = ["CURVES", "curves_block", "trait_summary"]

#: Folder of the growth-curve tables under ``results/``.
CURVES = "phenome/curves"


def trait_summary(traits: Table) -> Table:
    """One row per derived trait of ``traits.tsv``: genotypes with a value, mean, SD, range."""
    rows = []
    for name in traits.columns[1:]:
        v = np.array([x for x in map(to_float, traits.column(name)) if x is not None])
        if v.size == 0:
            rows.append([name, "0", "", "", "", ""])
            continue
        sd = float(v.std(ddof=1)) if v.size > 1 else float("nan")
        rows.append([name, str(v.size), *(f"{x:.6g}" for x in (v.mean(), sd, v.min(), v.max()))])
    return Table(["trait", "n_genotypes", "mean", "sd", "min", "max"], rows, traits.path)


def _flight_warnings(ctx: Context, flights: Table | None) -> None:
    if flights is None:
        return
    bad = [
        f"{r['flight']} ({r.get('n_outliers')} of {r.get('n_units')})"
        for r in flights.records()
        if (to_float(r.get("outlier_share")) or 0.0) > 0.1
    ]
    if bad:
        ctx.warn(
            f"Growth curves: more than 10% of the values of flight(s) {', '.join(bad)} were "
            f"set aside as outliers ({CURVES}/flights.tsv): check their calibration."
        )


def curves_block(ctx: Context) -> str:
    """The growth-curve block (``""`` when the run fitted none)."""
    units = ctx.run.table(f"{CURVES}/units.tsv")
    if units is None:
        return ""
    chosen = Counter(units.column("model"))
    n_out = sum(int(to_float(x) or 0) for x in units.column("n_outliers"))
    items = [("units fitted", number(len(units)))]
    items += [(f"model chosen: {m}", number(n)) for m, n in sorted(chosen.items())]
    items.append(("observations set aside (outliers)", number(n_out)))
    out = [
        "<h3>Time-series traits: growth curves</h3>",
        "<p>Every unit's series was fitted with logistic and Gompertz curves and a monotone "
        "P-spline; AICc chose the curve, and its asymptote, maximum growth rate, time of "
        "the inflection, area under the curve and value at the reference time were "
        "averaged per genotype.</p>",
        facts(items),
    ]
    traits = ctx.run.table(f"{CURVES}/traits.tsv")
    if traits is not None:
        caption = "Derived traits per genotype (means over its units)"
        out.append(
            file_table(
                ctx,
                trait_summary(traits),
                ctx.uid("curve-traits"),
                caption,
                rel=f"{CURVES}/traits.tsv",
            )  # fmt: skip
        )
    flights = ctx.run.table(f"{CURVES}/flights.tsv")
    _flight_warnings(ctx, flights)
    out.append(
        optional_table(
            ctx,
            f"{CURVES}/flights.tsv",
            "curve-flights",
            "Per flight: values, outliers set aside and their share",
        )  # fmt: skip
    )
    return "".join(out)
