"""Helpers shared by the census jobs: sample groups, streaming, tables, plots."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from breedomics.core import tables
from breedomics.core.genotypes import (
    genotype_format,
    iter_dosage_chunks,
    plink_prefix,
    read_samples,
)
from breedomics.errors import UserError


@dataclass
class Groups:
    """Samples to analyse and their group labels (sample order = analysis order)."""

    samples: list[str]
    labels: np.ndarray  # (n,) str
    names: list[str]  # distinct group names, in order of first appearance

    @property
    def index(self) -> np.ndarray:
        """(n,) int group index of each sample."""
        pos = {g: i for i, g in enumerate(self.names)}
        return np.array([pos[g] for g in self.labels], dtype=np.int64)

    def indicator(self) -> np.ndarray:
        """(n, n_groups) float64 0/1 membership matrix."""
        m = np.zeros((len(self.samples), len(self.names)))
        m[np.arange(len(self.samples)), self.index] = 1.0
        return m


def load_groups(
    geno: str | os.PathLike,
    sheet: str | os.PathLike | None = None,
    sample_col: str = "sample",
    group_col: str = "group",
) -> Groups:
    """Samples and groups from a TSV sheet (``sample``, ``group`` columns).

    Without a sheet every sample of the genotype file is analysed as group
    ``all``. With one, only the samples it lists are analysed, in sheet order;
    a sample missing from the genotype file is an error that names it.
    """
    present = read_samples(geno)
    if sheet is None:
        return Groups(present, np.array(["all"] * len(present), dtype=object), ["all"])
    df = tables.read_table(sheet, "group sheet", comment="#")
    line = df.attrs["lines"]
    for col in (sample_col, group_col):
        if col not in df.columns:
            raise UserError(
                f"group sheet {sheet} has no column {col!r} (columns: {', '.join(df.columns)}); "
                f"it needs columns {sample_col!r} and {group_col!r} (tab- or comma-separated)"
            )
    df = df[[sample_col, group_col]]
    bad = df[(df[group_col] == "") | (df[sample_col] == "")]
    if len(bad):
        raise UserError(
            f"group sheet {sheet}: line {line[bad.index[0]]} has an empty sample or group; fill it"
        )
    dup = df[sample_col].duplicated()
    if dup.any():
        raise UserError(
            f"group sheet {sheet}: sample {df[sample_col][dup].iloc[0]!r} is listed twice "
            f"(line {line[int(np.flatnonzero(dup.to_numpy())[0])]}); keep one row per sample"
        )
    have = set(present)
    for i, s in enumerate(df[sample_col]):
        if s not in have:
            raise UserError(
                f"group sheet {sheet}: sample {s!r} (line {line[i]}) is not in genotype file "
                f"{geno}; fix the name or remove the row"
            )
    labels = df[group_col].to_numpy(dtype=object)
    names = list(dict.fromkeys(labels))
    return Groups(df[sample_col].tolist(), labels, names)


def stream(
    geno: str | os.PathLike,
    samples: Sequence[str],
    chunk_size: int = 10000,
    chroms: Collection[str] | None = None,
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """:func:`breedomics.core.genotypes.iter_dosage_chunks` restricted to ``samples``.

    With ``chroms``, only the variants on those chromosomes are yielded (the
    per-chromosome scatter of the workflow). For a PLINK fileset only their
    rows of the ``.bed`` are read; a VCF/BCF is streamed and filtered.
    """
    all_samples = read_samples(geno)
    subset = None if list(samples) == all_samples else list(samples)
    if chroms is None:
        yield from iter_dosage_chunks(geno, chunk_size=chunk_size, samples=subset)
        return
    wanted = set(chroms)
    if genotype_format(geno) != "plink":
        for variants, dos in iter_dosage_chunks(geno, chunk_size=chunk_size, samples=subset):
            sel = variants["chrom"].isin(wanted).to_numpy()
            if sel.all():
                yield variants, dos
            elif sel.any():
                yield variants[sel], np.ascontiguousarray(dos[:, sel])
        return
    from breedomics.core.genotypes import _decode_bed, _open_bed, _sample_index

    prefix = plink_prefix(geno)
    names, starts, counts = bim_blocks(prefix)
    bed = _open_bed(prefix, len(all_samples), int(counts.sum()))
    idx = _sample_index(str(geno), all_samples, subset)
    for name, first, count in zip(names, starts, counts, strict=True):
        if name not in wanted:
            continue
        # only this chromosome's rows of the .bim are read: memory does not grow
        # with the number of SNPs elsewhere in the genome
        bim = _read_bim_rows(prefix, int(first), int(count))
        for start in range(0, int(count), chunk_size):
            stop = min(start + chunk_size, int(count))
            block = bed[first + start : first + stop]
            yield bim.iloc[start:stop], _decode_bed(block, len(all_samples), idx)


def bim_blocks(prefix: str, chunk_rows: int = 1_000_000) -> tuple[np.ndarray, ...]:
    """Chromosome blocks of a PLINK ``.bim``: names, first row and row count of each.

    Only the first column is read, in chunks, so memory stays flat for any
    number of SNPs. A chromosome split over several blocks is returned as
    several blocks (callers decide whether that is an error).
    """
    names: list[str] = []
    counts: list[int] = []
    reader = pd.read_csv(
        prefix + ".bim", sep=r"\s+", header=None, usecols=[0], dtype=str,
        keep_default_na=False, chunksize=chunk_rows,
    )  # fmt: skip
    for chunk in reader:
        c = chunk[0].to_numpy()
        cut = np.r_[0, np.flatnonzero(c[1:] != c[:-1]) + 1]
        n = np.diff(np.r_[cut, len(c)])
        for name, k in zip(c[cut], n, strict=True):
            if names and names[-1] == name:
                counts[-1] += int(k)
            else:
                names.append(str(name))
                counts.append(int(k))
    counts_a = np.array(counts, dtype=np.int64)
    starts = np.r_[0, np.cumsum(counts_a)[:-1]].astype(np.int64)
    return np.array(names, dtype=object), starts, counts_a


def _read_bim_rows(prefix: str, first: int, count: int) -> pd.DataFrame:
    """Rows ``first .. first+count-1`` of a ``.bim`` as :func:`read_variants` columns.

    The index is the global variant index, as :func:`iter_dosage_chunks` gives it.
    """
    from breedomics.core.genotypes import _bim_csv, _bim_variants

    bim = _bim_variants(_bim_csv(prefix, skiprows=first, nrows=count))
    bim.index = pd.RangeIndex(first, first + count)
    return bim


def standardize_chunk(
    dos: np.ndarray, min_maf: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre a dosage chunk on ``2p`` and set missing to 0 (mean imputation).

    Returns the centred float64 array ``(n, m_kept)``, the ALT frequencies ``p``
    of the kept SNPs and the boolean mask of kept SNPs. SNPs with no calls or
    with minor-allele frequency ``<= min_maf`` (monomorphic when 0) are dropped.
    """
    called = ~np.isnan(dos)
    nc = called.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.nansum(dos, axis=0, dtype=np.float64) / (2.0 * nc)
    maf = np.minimum(p, 1 - p)
    keep = (nc > 0) & (maf > min_maf)
    x = dos[:, keep].astype(np.float64) - 2.0 * p[keep]
    x[np.isnan(x)] = 0.0
    return x, p[keep], keep


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> str:
    """Write a TSV with header (NaN written as ``NA``)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, sep="\t", index=False, na_rep="NA", float_format="%.8g")
    return str(path)


def figure(**kw):
    """A matplotlib figure on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(**kw)


def save_figure(fig, path: str | os.PathLike) -> str:
    import matplotlib.pyplot as plt

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
