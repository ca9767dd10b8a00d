"""``breedomics phenome curves``: growth curves of repeated measurements -> derived traits.

Input: a long table (one row per unit and date: plot or animal, time, value; optional
genotype and flight columns). Outputs (in ``--out-dir``): ``traits.tsv`` (``sample`` +
one column per derived trait, the per-genotype means: a phenotype table ``gwas`` and
``gs`` read), ``units.tsv`` (per unit: chosen model, points, outliers, RMSE, derived
traits, AICc of every model), ``outliers.tsv`` (observations set aside), ``skipped.tsv``
(units with too few values), ``flights.tsv`` (with a flight column: outliers per flight)
and ``settings.json``; with ``--join BASE=OUT`` each phenotype table ``BASE`` is written
to ``OUT`` with the ``--join-traits`` columns added (``--join =OUT``: no table, ``OUT`` is
``sample`` + those columns, e.g. a farm whose GWAS traits are the growth traits alone).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from breedomics.errors import UserError

__all__ = ["add_curves", "run_curves"]


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _csv(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def add_curves(sub) -> None:
    """Add the ``curves`` subcommand to the ``phenome`` subparsers ``sub``."""
    from breedomics.phenome.curves import ALL_MODELS, DERIVED_TRAITS

    p = sub.add_parser("curves", help="growth curves of repeated measurements -> traits")
    p.add_argument("--series", required=True, help="long table: one row per unit and date")
    p.add_argument("--unit-col", default="plot", help="unit (plot, animal) column")
    p.add_argument("--time-col", default="time", help="time column (numbers, e.g. days)")
    p.add_argument("--value-col", default="value", help="measured value column")
    p.add_argument("--genotype-col", help="genotype column (units of one genotype averaged)")
    p.add_argument("--flight-col", help="flight/date id column (outliers counted per flight)")
    p.add_argument("--models", default=",".join(ALL_MODELS), help="candidate models")
    p.add_argument("--reference-time", type=float, help="time of the at_reference trait")
    p.add_argument("--auc-range", help="START,END of the area under the curve")
    p.add_argument("--min-points", type=int, default=6, help="fewer values: unit skipped")
    p.add_argument("--outlier-z", type=float, default=3.5, help="robust z of an outlier (0: off)")
    p.add_argument("--segments", type=int, default=10, help="P-spline B-spline segments")
    p.add_argument("--name", default="curve", help="prefix of the derived trait columns")
    p.add_argument(
        "--join-traits",
        default=",".join(DERIVED_TRAITS),
        help="derived traits added to the --join tables",
    )
    p.add_argument(
        "--join",
        action="append",
        default=[],
        metavar="BASE=OUT",
        help="write phenotype table BASE with the derived traits added to OUT (empty BASE: "
        "the derived traits alone)",
    )
    p.add_argument("--out-dir", required=True)


def _settings(args) -> object:
    from breedomics.phenome.curves import CurveSettings

    auc = None
    if args.auc_range:
        try:
            lo, hi = (float(x) for x in args.auc_range.split(","))
        except ValueError:
            raise UserError(
                f"--auc-range {args.auc_range!r}: give START,END (two numbers)"
            ) from None
        auc = (lo, hi)
    return CurveSettings(
        models=tuple(_csv(args.models)),
        reference_time=args.reference_time,
        auc_range=auc,
        outlier_z=args.outlier_z,
        segments=args.segments,
    )


def _outlier_table(series, fits) -> pd.DataFrame:
    i, j = np.nonzero(fits.outlier & series.obs)
    df = pd.DataFrame(
        {
            "unit": series.units[i],
            "line": series.lines[i, j],
            "time": series.t[i, j],
            "value": series.y[i, j],
            "fitted": fits.fitted[i, j],
        }
    )
    if series.flight is not None:
        df.insert(2, "flight", series.flight[i, j])
    return df


def _flight_table(series, fits) -> pd.DataFrame:
    obs = series.obs
    df = pd.DataFrame(
        {"flight": series.flight[obs], "time": series.t[obs], "outlier": (fits.outlier & obs)[obs]}
    )
    out = df.groupby("flight", sort=True).agg(
        time=("time", "median"), n_units=("outlier", "size"), n_outliers=("outlier", "sum")
    )
    out["outlier_share"] = out["n_outliers"] / out["n_units"]
    return out.reset_index()


def run_curves(args: argparse.Namespace) -> int:
    """Run ``phenome curves``."""
    from breedomics.phenome.curves import DERIVED_TRAITS, fit_curves
    from breedomics.phenome.derived import genotype_means, join_traits
    from breedomics.phenome.series import SeriesColumns, read_series

    settings = _settings(args)
    join_traits_ = _csv(args.join_traits)
    bad = [t for t in join_traits_ if t not in DERIVED_TRAITS]
    if bad:
        raise UserError(f"--join-traits names {bad[0]!r}; choose from {', '.join(DERIVED_TRAITS)}")
    joins = []
    for spec in args.join:
        base, sep, dest = spec.partition("=")
        if not (sep and dest):
            raise UserError(f"--join {spec!r}: give BASE=OUT (phenotype table = output)")
        joins.append((base or None, dest))
    cols = SeriesColumns(
        unit=args.unit_col,
        time=args.time_col,
        value=args.value_col,
        genotype=args.genotype_col,
        flight=args.flight_col,
    )
    series = read_series(args.series, cols, args.min_points)
    for r in series.skipped.itertuples():
        _log(
            f"{args.series}, lines {r.lines}: unit {r.unit!r} skipped, {r.n_points} value(s) "
            f"< --min-points {args.min_points}; give it more dates or lower min_points"
        )
    if series.n_missing:
        _log(f"{args.series}: {series.n_missing} row(s) without a value left out")
    t0 = time.perf_counter()
    fits = fit_curves(series.t, series.y, series.obs, settings)
    _log(f"{len(series.units)} units fitted in {time.perf_counter() - t0:.2f} s")
    units = fits.traits.copy()
    units.insert(0, "unit", series.units)
    units.insert(1, "genotype", series.genotypes)
    means = genotype_means(units, series.genotypes, list(DERIVED_TRAITS), args.name)

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def tsv(df: pd.DataFrame, name: str) -> None:
        df.to_csv(out / name, sep="\t", index=False, float_format="%.6g", na_rep="NA")

    tsv(means.drop(columns="n_units"), "traits.tsv")
    tsv(units, "units.tsv")
    tsv(_outlier_table(series, fits), "outliers.tsv")
    tsv(series.skipped, "skipped.tsv")
    if series.flight is not None:
        flights = _flight_table(series, fits)
        tsv(flights, "flights.tsv")
        for r in flights[flights["outlier_share"] > 0.1].itertuples():
            _log(
                f"flight {r.flight} (time {r.time:g}): {r.n_outliers} of {r.n_units} "
                "values set aside as outliers; check its calibration"
            )
    names = [f"{args.name}_{t}" for t in join_traits_]
    for base, dest in joins:
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        join_traits(base, means, names).to_csv(dest, sep="\t", index=False)
    from breedomics import __version__

    settings_out = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    settings_out.update(
        breedomics_version=__version__,
        time=time.strftime("%Y-%m-%dT%H:%M:%S"),
        auc_range=list(fits.auc_range),
        reference_time=fits.reference_time,
    )
    (out / "settings.json").write_text(json.dumps(settings_out, indent=2, default=str) + "\n")
    counts = units["model"].value_counts().to_dict()
    _log(f"models chosen: {counts}; {int(units['n_outliers'].sum())} outlier(s) set aside")
    return 0
