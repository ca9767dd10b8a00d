"""Pairwise Hudson Fst between groups with a block-jackknife standard error.

Hudson, Slatkin & Maddison (1992) Fst as formulated by Bhatia et al. (2013,
*Genome Res* 23:1514): per SNP, ``num = d_xy - (pi_x + pi_y) / 2`` and
``den = d_xy``; the genome-wide value is the ratio of averages
``sum(num) / sum(den)``, matching ``allel.average_hudson_fst`` (including its
jackknife over blocks of ``blen`` consecutive SNPs, Busing et al. 1999).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from breedomics.census._common import Groups
from breedomics.census.diversity import allele_counts
from breedomics.core.genotypes import iter_dosage_chunks
from breedomics.errors import UserError

__all__ = ["hudson_fst_components", "pairwise_fst", "plot_fst"]


def hudson_fst_components(
    ac1: np.ndarray, an1: np.ndarray, ac2: np.ndarray, an2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-SNP numerator and denominator of Hudson's Fst (biallelic).

    Parameters
    ----------
    ac1, an1, ac2, an2 : numpy.ndarray
        ALT counts and allele numbers of the two groups.

    Returns
    -------
    num, den : numpy.ndarray
        ``d_xy - (pi_1 + pi_2)/2`` and ``d_xy``; NaN where a group has fewer
        than two copies called (as scikit-allel).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        w1 = 2.0 * ac1 * (an1 - ac1) / (an1 * (an1 - 1.0))
        w2 = 2.0 * ac2 * (an2 - ac2) / (an2 * (an2 - 1.0))
        between = (ac1 * (an2 - ac2) + (an1 - ac1) * ac2) / (an1 * an2)
    w1 = np.where(an1 >= 2, w1, np.nan)
    w2 = np.where(an2 >= 2, w2, np.nan)
    between = np.where((an1 > 0) & (an2 > 0), between, np.nan)
    return between - (w1 + w2) / 2.0, between


def _jackknife_ratio(num: np.ndarray, den: np.ndarray) -> float:
    n = len(num)
    if n < 2:
        return float("nan")
    tn, td = num.sum(), den.sum()
    vj = (tn - num) / (td - den)
    return float(np.sqrt((n - 1) / n * np.sum((vj - vj.mean()) ** 2)))


def pairwise_fst(
    geno: str | os.PathLike,
    groups: Groups,
    inbred: bool = False,
    blen: int = 1000,
    chunk_size: int = 10000,
) -> pd.DataFrame:
    """Hudson Fst for every pair of groups, streamed over the genome.

    Parameters
    ----------
    geno : str or path-like
        Genotype file.
    groups : Groups
        Samples and groups; at least two groups, each with two or more samples.
    inbred : bool
        Count each accession as one haplotype.
    blen : int
        Block length (SNPs, counted along the file) for the jackknife SE.
    chunk_size : int
        SNPs per streamed chunk.

    Returns
    -------
    pandas.DataFrame
        ``group1, group2, n_snps, fst, se`` (``n_snps``: SNPs with a defined
        numerator).
    """
    ng = len(groups.names)
    if ng < 2:
        raise UserError(
            f"Fst needs at least two groups but the group sheet defines only "
            f"{groups.names[0]!r}; give a sheet with a 'group' column of two or more groups"
        )
    sizes = np.bincount(groups.index, minlength=ng)
    for g, s in zip(groups.names, sizes, strict=True):
        if s < 2:
            raise UserError(f"group {g!r} has {s} sample; Fst needs at least 2 per group")
    pairs = [(i, j) for i in range(ng) for j in range(i + 1, ng)]
    tot_num = np.zeros(len(pairs))
    tot_den = np.zeros(len(pairs))
    n_ok = np.zeros(len(pairs), dtype=np.int64)
    blocks: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    gidx = groups.index
    for variants, dos in iter_dosage_chunks(
        geno, chunk_size, groups.samples, progress="census fst"
    ):
        ac, an, _, _ = allele_counts(dos, gidx, ng, inbred)
        bidx = variants.index.to_numpy() // blen
        for k, (i, j) in enumerate(pairs):
            num, den = hudson_fst_components(ac[:, i], an[:, i], ac[:, j], an[:, j])
            ok = ~np.isnan(num) & ~np.isnan(den)
            tot_num[k] += num[ok].sum()
            tot_den[k] += den[ok].sum()
            n_ok[k] += ok.sum()
            nb = np.where(ok, num, 0.0)
            db = np.where(ok, den, 0.0)
            for b in np.unique(bidx):
                sel = bidx == b
                if b not in blocks:
                    blocks[b] = np.zeros((len(pairs), 2))
                blocks[b][k] += (nb[sel].sum(), db[sel].sum())
        for b, c in zip(*np.unique(bidx, return_counts=True), strict=True):
            counts[b] = counts.get(b, 0) + int(c)
    full = sorted(b for b, c in counts.items() if c == blen)
    rows = []
    for k, (i, j) in enumerate(pairs):
        if n_ok[k] == 0 or tot_den[k] == 0:
            raise UserError(
                f"Fst between {groups.names[i]!r} and {groups.names[j]!r} is undefined: no SNP "
                "is polymorphic or called in both groups"
            )
        if full:
            bn = np.array([blocks[b][k, 0] for b in full])
            bd = np.array([blocks[b][k, 1] for b in full])
            se = _jackknife_ratio(bn, bd)
        else:
            se = float("nan")
        rows.append(
            {
                "group1": groups.names[i],
                "group2": groups.names[j],
                "n_snps": int(n_ok[k]),
                "fst": tot_num[k] / tot_den[k],
                "se": se,
            }
        )
    return pd.DataFrame(rows)


def plot_fst(table: pd.DataFrame, path: str | os.PathLike) -> str:
    """Heatmap of pairwise Fst."""
    from breedomics.census._common import figure, save_figure

    names = list(dict.fromkeys(list(table["group1"]) + list(table["group2"])))
    pos = {g: i for i, g in enumerate(names)}
    mat = np.zeros((len(names), len(names)))
    for r in table.itertuples(index=False):
        mat[pos[r.group1], pos[r.group2]] = mat[pos[r.group2], pos[r.group1]] = r.fst
    fig, ax = figure(figsize=(1.2 + 0.6 * len(names), 1 + 0.6 * len(names)))
    im = ax.imshow(mat, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for a in range(len(names)):
        for b in range(len(names)):
            if a != b:
                ax.text(b, a, f"{mat[a, b]:.3f}", ha="center", va="center", fontsize=7, color="w")
    fig.colorbar(im, ax=ax, label="Hudson Fst")
    return save_figure(fig, path)
