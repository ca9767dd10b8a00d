"""Helpers shared by the census jobs: sample groups, tables, plots.

Genotypes are streamed by :func:`breedomics.core.genotypes.iter_dosage_chunks`
(whole file or some chromosomes, rows in the order of the analysed samples).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from breedomics.core import tables
from breedomics.core.genotypes import read_samples
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
