"""Per-genotype derived traits of growth curves, and their join to a phenotype table.

A genotype's value of a derived trait is the mean over its units (plots, animals) with
a value (missing units are left out; ``n_units`` counts those fitted). The mean is used
instead of a BLUE: units of one genotype share the series' design, and the GWAS/GS
stages fit the genotypes' own models. Trait columns are named ``<name>_<trait>`` (e.g.
``drone_height_max_rate``).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from breedomics.core import tables
from breedomics.errors import UserError

__all__ = ["genotype_means", "join_traits"]


def genotype_means(
    units: pd.DataFrame, genotypes: np.ndarray, traits: list[str], name: str
) -> pd.DataFrame:
    """Mean of each derived trait over every genotype's units.

    Parameters
    ----------
    units : pandas.DataFrame
        One row per unit with the derived trait columns.
    genotypes : numpy.ndarray
        Genotype of each unit.
    traits : list of str
        Derived traits to average.
    name : str
        Prefix of the output columns.

    Returns
    -------
    pandas.DataFrame
        ``sample, n_units, <name>_<trait>...``, one row per genotype (sorted).
    """
    df = units[traits].copy()
    df.insert(0, "sample", np.asarray(genotypes, dtype=str))
    grp = df.groupby("sample", sort=True)
    out = grp[traits].mean()
    out.columns = [f"{name}_{t}" for t in traits]
    out.insert(0, "n_units", grp.size())
    return out.reset_index()


def join_traits(
    base: str | os.PathLike | None, derived: pd.DataFrame, columns: list[str]
) -> pd.DataFrame:
    """A phenotype table (``sample`` + traits) with derived trait columns added.

    Samples of either table are kept (an outer join; NA where a table has no value).
    The base table's cells are kept as written. ``base`` None: ``sample`` and the derived
    columns alone (the derived traits are the only traits).

    Raises
    ------
    UserError
        A derived column already in the base table.
    """
    add = derived.set_index("sample")[columns].map(lambda v: "NA" if pd.isna(v) else f"{v:.6g}")
    if base is None:
        return add.reset_index()
    table = tables.read_table(base, "phenotype", id_column=0)
    idc = table.columns[0]
    clash = [c for c in columns if c in table.columns]
    if clash:
        raise UserError(
            f"{base}: column {clash[0]!r} is already a trait of the phenotype table; rename "
            "the curves' traits (phenome.curves.name) or the column"
        )
    add.index.name = idc
    base_df = table.set_index(idc)
    out = base_df.join(add, how="outer")
    return out.fillna("NA").reset_index()
