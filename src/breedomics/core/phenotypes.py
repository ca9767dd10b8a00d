"""Phenotype and covariate tables: ids, traits, missing values, sample matching.

Every stage reads per-sample tables the same way (GWAS, genomic selection,
the workflow's input checks): the table is parsed by
:func:`breedomics.core.tables.read_table` (CSV or TSV, gzipped, BOM, CRLF,
padded cells; ``NA``, ``-``, ``.``, an empty cell and the other codes of
:data:`~breedomics.core.tables.NA_VALUES` are missing), one row per sample
and one column per trait or covariate, and every problem is a
:class:`~breedomics.errors.UserError` naming the file, line, trait or
covariate and sample at fault:

:func:`read_traits`
    Trait columns as ``float64`` (a non-numeric or infinite cell is an error
    naming its line, column, value and sample). The sample id is the column
    ``sample`` (GWAS, the workflow) or the first column whatever its name
    (genomic selection, which also reads BLUE tables with ``sample_id``).
:func:`read_covariates`
    Covariates typed per column: numeric columns as numbers, any other
    column as text (categorical), or forced to text when named.
:func:`dummy_columns`
    0/1 columns of a categorical covariate against its first level.
:func:`check_trait`
    A trait must have enough observed values and some variance.
:func:`match_samples`
    Which ids of a table are genotyped; a table sharing no id with the
    genotypes is an error quoting ids of both.

The same missing-value rule holds everywhere: a missing trait value leaves
that sample out of that trait only; a missing covariate value is kept as
missing here and refused (or the sample excluded) by the model that needs
the covariate.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from breedomics.core import tables
from breedomics.errors import UserError

__all__ = [
    "read_traits",
    "read_covariates",
    "dummy_columns",
    "check_trait",
    "match_samples",
]


def read_traits(
    path: str | os.PathLike,
    traits: Sequence[str] | None = None,
    *,
    id_column: str | int = "sample",
    exclude: Sequence[str] = (),
    keep_text: bool = False,
    what: str = "phenotype",
) -> tuple[pd.DataFrame, list[str]]:
    """Read a per-sample trait table.

    Parameters
    ----------
    path : str or path-like
        CSV/TSV, one row per sample.
    traits : sequence of str, optional
        Trait columns (each must exist and be numeric). Default: every column
        but the ids (``keep_text=False``), or every numeric column not in
        ``exclude`` (``keep_text=True``).
    id_column : str or int
        ``"sample"`` (GWAS, the workflow) or ``0`` (the first column,
        whatever its name; genomic selection).
    exclude : sequence of str
        Columns that are never default traits (e.g. a group column).
    keep_text : bool
        If False, return only the trait columns and require every one of
        them to be numeric. If True, return every column (text columns such
        as families stay text) and take the numeric ones as default traits.
    what : str
        What the table is, for messages.

    Returns
    -------
    table : pandas.DataFrame
        Indexed by the sample ids (``str``), in file order; traits ``float64``
        with NaN for missing.
    traits : list of str
    """
    df = tables.read_phenotypes(
        path, traits or None, what=what, id_column=id_column, label="trait", text_ok=keep_text
    )
    if traits:
        return df, list(traits)
    skip = set(exclude)
    names = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and c not in skip]
    if not names:
        raise UserError(f"{what} file {path}: no numeric trait column; name them with --traits")
    return df, names


def read_covariates(
    path: str | os.PathLike,
    *,
    id_column: str | int = "sample",
    categorical: Sequence[str] = (),
    what: str = "covariate",
) -> pd.DataFrame:
    """Read a per-sample covariate table.

    Parameters
    ----------
    path : str or path-like
        CSV/TSV, one row per sample.
    id_column : str or int
        As in :func:`read_traits`.
    categorical : sequence of str
        Numeric-looking columns to read as text (codes of groups, e.g.
        slaughter batches); each must be a column of the table.
    what : str
        For messages.

    Returns
    -------
    pandas.DataFrame
        Indexed by sample id; numeric columns ``float64``/``int64``, text
        columns ``object`` with None or NaN for missing.
    """
    df = tables.read_phenotypes(
        path, what=what, id_column=id_column, label="covariate", text_ok=True
    )
    for c in categorical:
        if c not in df.columns:
            raise UserError(f"--categorical column {c!r} is not in {path}")
        df[c] = df[c].astype("string").astype(object).where(df[c].notna(), None)
    return df


def dummy_columns(column: pd.Series, path: str | os.PathLike = "covariates") -> pd.DataFrame:
    """0/1 columns ``name=level`` for each level of a categorical covariate but the first.

    Levels are sorted; a missing value stays missing (NaN) in every column.
    A column with a single level is an error (it is collinear with the
    intercept).
    """
    miss = column.isna().to_numpy()
    levels = sorted(column[~miss].unique())
    if len(levels) < 2:
        raise UserError(
            f"{path}: categorical covariate {column.name!r} has a single level {levels[0]!r}; "
            "drop the column"
        )
    out = {}
    for lev in levels[1:]:
        d = (column == lev).astype(float)
        d[miss] = np.nan
        out[f"{column.name}={lev}"] = d
    return pd.DataFrame(out, index=column.index)


def check_trait(
    y: np.ndarray, trait: str, where: str, min_n: int = 3, n_fixed: int | None = None
) -> None:
    """Raise a :class:`UserError` if a trait cannot be analysed.

    Parameters
    ----------
    y : numpy.ndarray
        Values of the samples used (NaN = missing).
    trait : str
        Trait name.
    where : str
        File or subset (e.g. a fold's training set), for the message.
    min_n : int
        Fewest observed values.
    n_fixed : int, optional
        Fixed effects of the model: at least ``n_fixed + 3`` observed values
        are then needed (overrides ``min_n``).

    Raises
    ------
    UserError
        No observed value, too few, or constant (range at most 1e-12 of the
        largest magnitude).
    """
    v = y[np.isfinite(y)]
    if v.size == 0:
        raise UserError(
            f"{where}: trait {trait!r} has no observed value in any genotyped sample; "
            "check the column or drop the trait"
        )
    need = min_n if n_fixed is None else n_fixed + 3
    if v.size < need:
        model = "" if n_fixed is None else f" for a model with {n_fixed} fixed effects"
        raise UserError(
            f"{where}: trait {trait!r} has only {v.size} non-missing value(s){model}; "
            f"at least {need} are needed"
        )
    if np.ptp(v) <= 1e-12 * max(1.0, float(np.abs(v).max())):
        raise UserError(
            f"{where}: trait {trait!r} is constant ({v[0]:g} in all {v.size} observed samples); "
            "it has no variance to analyse: drop the trait"
        )


def match_samples(
    ids: Sequence[str],
    genotyped: Sequence[str],
    table: str | os.PathLike = "phenotypes",
    genotypes: str | os.PathLike = "the genotypes",
) -> tuple[list[str], list[str]]:
    """Split a table's sample ids into genotyped and not genotyped ones.

    Parameters
    ----------
    ids : sequence of str
        Sample ids of the table, in its order.
    genotyped : sequence of str
        Samples of the genotype file.
    table, genotypes : str or path-like
        Names of both, for the message.

    Returns
    -------
    matched, unmatched : list of str
        Ids of the table in its order.

    Raises
    ------
    UserError
        No id of the table is genotyped (quoting ids of both: usually the
        wrong id column or a naming scheme that differs).
    """
    check_near_matches(ids, genotyped, table, genotypes)
    geno = set(genotyped)
    matched = [s for s in ids if s in geno]
    unmatched = [s for s in ids if s not in geno]
    if ids and not matched:
        raise UserError(
            f"no sample of {table} is in {genotypes} ({table} has ids like "
            f"{', '.join(map(repr, list(ids)[:3]))}; {genotypes} has "
            f"{', '.join(map(repr, list(genotyped)[:3]))}); the sample id column must hold "
            f"the genotype sample ids{id_scheme_hint(ids, genotyped)}"
        )
    return matched, unmatched


def _id_key(s: str) -> str:
    """An id without case, spaces and underscores (``PI 548300``, ``pi_548300`` and
    ``PI548300`` share one)."""
    return "".join(str(s).lower().split()).replace("_", "")


def check_near_matches(
    ids: Sequence[str],
    genotyped: Sequence[str],
    table: str | os.PathLike = "phenotypes",
    genotypes: str | os.PathLike = "the genotypes",
) -> None:
    """Stop when ids of a table differ from genotyped ids only by case, spaces or
    underscores: they would otherwise be dropped as "not genotyped" while the others
    match, and the analysis would run on part of the samples without a word.

    Raises
    ------
    UserError
        Naming the first pairs, their count, and the fix.
    """
    geno = set(genotyped)
    by_key: dict[str, str] = {}
    for g in genotyped:
        by_key.setdefault(_id_key(g), g)
    ids_set = set(ids)
    pairs = [
        (s, by_key[_id_key(s)])
        for s in ids
        if s not in geno and _id_key(s) in by_key and by_key[_id_key(s)] not in ids_set
    ]
    if pairs:
        shown = ", ".join(f"{a!r} ({b!r} in {genotypes})" for a, b in pairs[:3])
        raise UserError(
            f"{table}: {len(pairs)} sample id(s) match genotyped samples only apart from "
            f"upper/lower case, spaces or underscores: {shown}"
            f"{' ...' if len(pairs) > 3 else ''}. They would be left out as not genotyped; "
            "write the ids exactly as in the genotype file"
        )


def id_scheme_hint(ids: Sequence[str], genotyped: Sequence[str]) -> str:
    """How a table's ids and the genotype file's differ, when most differ in one of the
    usual ways (PLINK's FID_IID sample names, case or spaces): a sentence for an error
    message, or ""."""
    ids = [str(s) for s in ids]
    half = max(1, len(ids) // 2)
    by_iid = {g.split("_", 1)[1] for g in genotyped if "_" in g}
    if sum(s in by_iid for s in ids) >= half:
        return (
            ". The genotype ids look like PLINK's FID_IID (plink --recode vcf and plink2 "
            "--export vcf join the family and sample ids with '_'): export with "
            "`plink2 --export vcf id-paste=iid`, or rename the samples "
            "(`bcftools reheader -s`)"
        )
    lower = {g.strip().lower() for g in genotyped}
    if sum(s.strip().lower() in lower for s in ids) >= half:
        return ". The ids match apart from upper/lower case or spaces: write them alike"
    return ""
