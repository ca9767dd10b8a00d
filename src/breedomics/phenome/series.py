"""Long tables of repeated measurements (one row per unit and date), checked and padded.

A lab's export (drone flights of plot height, repeated weighings of animals) has a unit
column (plot or animal), a time column (days after sowing or birth, or any number), a
value column and optionally a genotype (accession, animal) column, when several units
share a genotype, and a flight (date) id. Column names are mapped by the caller. Every
problem is found before any fit, and named by file, line and fix: a non-numeric or
missing time, a non-numeric value, a (unit, time) given twice, a unit with two
genotypes. Units with fewer than ``min_points`` values are skipped and listed (with
their lines), not an error; missing values are simply absent observations.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from breedomics.core import tables
from breedomics.errors import UserError

__all__ = ["SeriesColumns", "Series", "read_series", "series_from_frame"]


@dataclass
class SeriesColumns:
    """Column names of a long series table (``genotype``/``flight`` may be None)."""

    unit: str = "plot"
    time: str = "time"
    value: str = "value"
    genotype: str | None = None
    flight: str | None = None


@dataclass
class Series:
    """Units' series padded into ``(n_units, k)`` arrays (``k``: most points of a unit).

    Attributes
    ----------
    units : numpy.ndarray
        Unit ids (rows).
    genotypes : numpy.ndarray
        Genotype of each unit (the unit itself without a genotype column).
    t, y : numpy.ndarray
        Times and values (padding: the unit's first time, value 0).
    obs : numpy.ndarray
        True where a cell is an observation.
    flight : numpy.ndarray or None
        Flight id of each cell (``""`` in padding).
    lines : numpy.ndarray
        File line of each cell (0 in padding).
    skipped : pandas.DataFrame
        ``unit, n_points, lines, reason`` of the units left out.
    n_missing : int
        Rows without a value (dropped).
    """

    units: np.ndarray
    genotypes: np.ndarray
    t: np.ndarray
    y: np.ndarray
    obs: np.ndarray
    flight: np.ndarray | None
    lines: np.ndarray
    skipped: pd.DataFrame
    n_missing: int = 0


def _lines_text(lines, k: int = 4) -> str:
    lines = [int(x) for x in lines]
    more = f" and {len(lines) - k} more" if len(lines) > k else ""
    return ", ".join(map(str, lines[:k])) + more


def _check_duplicates(df: pd.DataFrame, path: str) -> None:
    dup = df.duplicated(["unit", "time"], keep=False)
    if dup.any():
        first = df[dup].sort_values("line").iloc[0]
        same = df[dup & (df["unit"] == first["unit"]) & (df["time"] == first["time"])]
        raise UserError(
            f"{path}, lines {_lines_text(same['line'])}: unit {first['unit']!r} has "
            f"{len(same)} rows at time {first['time']:g} ({int(dup.sum())} such rows in all); "
            "keep one value per unit and time (average repeated measurements, or give each "
            "flight its own time)"
        )


def _check_genotypes(df: pd.DataFrame, path: str) -> None:
    n_geno = df.groupby("unit", sort=False)["genotype"].nunique()
    bad = n_geno[n_geno > 1]
    if len(bad):
        u = bad.index[0]
        rows = df[df["unit"] == u]
        firsts = rows.drop_duplicates("genotype")
        raise UserError(
            f"{path}, lines {_lines_text(firsts['line'])}: unit {u!r} has more than one "
            f"genotype ({', '.join(map(repr, firsts['genotype'][:3]))}; {len(bad)} such "
            "unit(s)); a plot or animal is one genotype: fix the ids"
        )


def series_from_frame(df: pd.DataFrame, min_points: int, path: str = "table") -> Series:
    """Pad a checked long frame (``unit, genotype, time, value, flight, line``).

    Parameters
    ----------
    df : pandas.DataFrame
        One row per observation; ``value`` NaN where missing.
    min_points : int
        Units with fewer values are skipped (listed in ``Series.skipped``).
    path : str
        Source file, for messages.

    Returns
    -------
    Series
    """
    _check_duplicates(df, path)
    _check_genotypes(df, path)
    n_missing = int(df["value"].isna().sum())
    df = df[df["value"].notna()]
    counts = df.groupby("unit", sort=False).size()
    few = counts[counts < min_points]
    skipped = pd.DataFrame(
        {
            "unit": few.index.to_numpy(),
            "n_points": few.to_numpy(),
            "lines": [_lines_text(df.loc[df["unit"] == u, "line"], 6) for u in few.index],
            "reason": f"fewer than {min_points} values (min_points)",
        }
    )
    df = df[~df["unit"].isin(few.index)].sort_values(["unit", "time"], kind="stable")
    if df.empty:
        raise UserError(
            f"{path}: no unit has {min_points} or more values ({len(few)} unit(s) with "
            "fewer); give longer series or lower phenome.curves.min_points (--min-points)"
        )
    units, pos = np.unique(df["unit"].to_numpy(str), return_inverse=True)
    rank = df.groupby("unit", sort=False).cumcount().to_numpy()
    k = int(rank.max()) + 1
    shape = (len(units), k)
    obs = np.zeros(shape, dtype=bool)
    obs[pos, rank] = True
    t = np.zeros(shape)
    t[pos, rank] = df["time"].to_numpy(float)
    first = t[:, 0].copy()
    t = np.where(obs, t, first[:, None])
    y = np.zeros(shape)
    y[pos, rank] = df["value"].to_numpy(float)
    lines = np.zeros(shape, dtype=int)
    lines[pos, rank] = df["line"].to_numpy(int)
    flight = None
    if "flight" in df.columns:
        flight = np.full(shape, "", dtype=object)
        flight[pos, rank] = df["flight"].to_numpy(str)
    geno = df.drop_duplicates("unit").set_index("unit")["genotype"].reindex(units)
    return Series(
        units=units,
        genotypes=geno.to_numpy(str),
        t=t,
        y=y,
        obs=obs,
        flight=flight,
        lines=lines,
        skipped=skipped,
        n_missing=n_missing,
    )


def read_series(path: str | os.PathLike, columns: SeriesColumns, min_points: int = 6) -> Series:
    """Read, check and pad a long table of repeated measurements.

    Parameters
    ----------
    path : str or path-like
        TSV/CSV (plain or gzipped).
    columns : SeriesColumns
        Names of the unit, time, value (and optional genotype and flight) columns.
    min_points : int
        Units with fewer values are skipped and listed.

    Returns
    -------
    Series

    Raises
    ------
    UserError
        A missing column; a non-numeric time or value; a missing time; a unit and time
        given twice; a unit with two genotypes; no unit left. Each names file and lines.
    """
    p = str(path)
    raw = tables.read_table(
        p, "growth series", id_column=columns.unit, id_label="unit", unique_ids=False
    )
    num = tables.to_numeric(raw, [columns.time, columns.value], "column")
    lines = np.asarray(raw.attrs["lines"], dtype=int)
    no_time = num[columns.time].isna().to_numpy()
    if no_time.any():
        raise UserError(
            f"{p}, lines {_lines_text(lines[no_time])}, column {columns.time!r}: no time "
            f"({int(no_time.sum())} row(s)); give every row its time (e.g. days after sowing)"
        )
    df = pd.DataFrame(
        {
            "unit": raw[columns.unit].to_numpy(str),
            "time": num[columns.time].to_numpy(float),
            "value": num[columns.value].to_numpy(float),
            "line": lines,
        }
    )
    for key in ("genotype", "flight"):
        name = getattr(columns, key)
        if name and name not in raw.columns:
            raise UserError(
                f"{p}, line {raw.attrs['header_line']}: no {key} column {name!r} (the header "
                f"has {', '.join(raw.columns)}); fix phenome.curves.columns.{key} or the header"
            )
        if name:
            df[key] = raw[name].to_numpy(str)
    if not columns.genotype:
        df["genotype"] = df["unit"]
    return series_from_frame(df, min_points, p)
