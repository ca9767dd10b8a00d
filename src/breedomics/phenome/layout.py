"""Checks of the plot coordinates of trial records, with messages naming file and line.

Within a trial (environment) every plot needs a numeric row and column coordinate and
no two plots may share one position; a trial whose plots all lack coordinates is fitted
without the spatial model (the block model of :mod:`breedomics.gs.blue`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from breedomics.core import tables
from breedomics.errors import UserError

__all__ = ["check_coordinates", "spatial_environments"]


def _line(records: pd.DataFrame, k: int) -> int:
    lines = records.attrs.get("lines") or []
    return int(lines[k]) if len(lines) == len(records) else k + 2


def check_coordinates(records: pd.DataFrame, row: str, col: str, environment: str) -> pd.DataFrame:
    """Trial records with ``row``/``col`` as numbers, after checking them.

    Parameters
    ----------
    records : pandas.DataFrame
        As read by :func:`breedomics.core.tables.read_table` (``attrs`` name the file
        and the line of every row).
    row, col, environment : str
        Column names.

    Raises
    ------
    UserError
        A missing coordinate column, a non-numeric coordinate, a trial with some plots
        without coordinates, or two plots of a trial at the same position; the message
        names the file, the line(s) and the fix.
    """
    path = records.attrs.get("path", "trial records")
    for c in (row, col, environment):
        if c not in records.columns:
            raise UserError(
                f"{path}, line {records.attrs.get('header_line', 1)}: no column {c!r} "
                f"(columns: {', '.join(map(str, records.columns[:12]))}); set "
                "gs.trial_columns.row/col to the coordinate columns or leave them empty"
            )
    out = records.copy()
    num = tables.to_numeric(records, [row, col], label="plot coordinate")
    out[row], out[col] = num[row].to_numpy(), num[col].to_numpy()
    env = records[environment].astype(str).to_numpy()
    has = out[row].notna().to_numpy() & out[col].notna().to_numpy()
    for e in pd.unique(env):
        m = env == e
        if has[m].any() and not has[m].all():
            bad = np.flatnonzero(m & ~has)
            lines = [str(_line(records, int(k))) for k in bad[:5]]
            where = ("line " if bad.size == 1 else "lines ") + ", ".join(lines)
            where += ", ..." if bad.size > 5 else ""
            raise UserError(
                f"{path}, {where}: plot without a {row!r}/{col!r} coordinate in trial "
                f"{e!r} ({bad.size} of its {int(m.sum())} plots); give every plot of the "
                "trial its row and column, or none (block model)"
            )
    key = pd.DataFrame({"e": env, "r": out[row], "c": out[col]})[has]
    dup = key.duplicated(keep=False).to_numpy()
    if dup.any():
        idx = key.index[dup]
        first = key.loc[idx].groupby(["e", "r", "c"]).head(2)
        ks = [records.index.get_loc(i) for i in first.index[:2]]
        e, r, c = first.iloc[0]
        raise UserError(
            f"{path}, lines {_line(records, ks[0])} and {_line(records, ks[1])}: two plots of "
            f"trial {e!r} at {row} {r:g}, {col} {c:g} ({int(dup.sum())} plots share a position); "
            "each plot of a trial needs its own row/column position: fix the coordinates"
        )
    return out


def spatial_environments(records: pd.DataFrame, row: str, environment: str) -> set[str]:
    """Environments whose plots have coordinates (after :func:`check_coordinates`)."""
    has = records[row].notna().to_numpy()
    return set(records.loc[has, environment].astype(str))
