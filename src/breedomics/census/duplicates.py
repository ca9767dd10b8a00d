"""Duplicate and near-identical accessions from pairwise identity by state.

IBS between two samples is ``1 - sum_j |g_1j - g_2j| / (2 m_12)`` over the
``m_12`` SNPs called in both (the "IBS distance" of PLINK ``--distance ibs``;
Purcell et al. 2007). All pairs are accumulated chunk by chunk as products of
genotype indicator matrices (BLAS). Pairs with IBS at or above a threshold
and enough shared calls are linked, and the connected components (single
linkage) are reported as duplicate clusters, with the evidence of every pair.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from breedomics.core.genotypes import iter_dosage_chunks
from breedomics.errors import UserError

__all__ = ["IBSResult", "pairwise_ibs", "ibs_from_dosage", "duplicate_clusters", "plot_ibs"]


@dataclass
class IBSResult:
    """Pairwise IBS and its evidence."""

    samples: list[str]
    ibs: np.ndarray  # (n, n) IBS similarity (NaN when no shared calls)
    n_shared: np.ndarray  # (n, n) SNPs called in both
    n_discordant: np.ndarray  # (n, n) SNPs with different genotypes


def _indicators(dos: np.ndarray) -> list[np.ndarray]:
    return [(dos == k).astype(np.float32) for k in (0, 1, 2)]


#: Elements per indicator block (float32): bounds the temporaries to ~5 x 32 MB whatever
#: the number of samples or the chunk size.
_BLOCK_ELEMENTS = 1 << 23


def _accumulate(dos: np.ndarray, dist: np.ndarray, disc: np.ndarray, shared: np.ndarray) -> None:
    """Add a chunk's pair counts; ``dist`` and ``disc`` get one triangle of the
    symmetric sums (finish with :func:`_symmetrize`), ``shared`` the full matrix."""
    n, m = dos.shape
    step = max(64, _BLOCK_ELEMENTS // max(n, 1))
    buf = np.empty((n, n), dtype=np.float32)  # the one n x n temporary
    for s in range(0, m, step):
        h0, h1, h2 = _indicators(np.rint(dos[:, s : s + step]))
        c = h0 + h1 + h2
        shared += np.matmul(c, c.T, out=buf)
        for x, y, w in ((h0, h1, 1), (h1, h2, 1), (h0, h2, 2)):
            np.matmul(x, y.T, out=buf)  # pairs with genotypes differing by w
            disc += buf
            dist += buf
            if w == 2:
                dist += buf


def _symmetrize(a: np.ndarray) -> np.ndarray:
    """``a + a.T`` in place, one block of rows at a time (no n x n temporary)."""
    n = a.shape[0]
    step = max(1, _BLOCK_ELEMENTS // max(n, 1))
    for i in range(0, n, step):
        rows = slice(i, min(i + step, n))
        blk = a[rows, i:] + a[i:, rows].T  # still untouched: rows and columns >= i
        a[rows, i:] = blk
        a[i:, rows] = blk.T
    return a


def ibs_from_dosage(dosage: np.ndarray) -> np.ndarray:
    """IBS similarity matrix of an in-memory dosage array ``(n, m)``."""
    n = dosage.shape[0]
    dist, disc, shared = np.zeros((n, n)), np.zeros((n, n)), np.zeros((n, n))
    _accumulate(np.asarray(dosage, dtype=np.float32), dist, disc, shared)
    _symmetrize(dist)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - dist / (2.0 * shared)


def pairwise_ibs(
    geno: str | os.PathLike, samples: Sequence[str], chunk_size: int = 10000
) -> IBSResult:
    """Stream a genotype file into pairwise IBS, shared-call and discordance counts.

    Parameters
    ----------
    geno : str or path-like
        Genotype file.
    samples : sequence of str
        Samples to compare.
    chunk_size : int
        SNPs per chunk.

    Returns
    -------
    IBSResult
    """
    n = len(samples)
    if n < 2:
        raise UserError(f"duplicate search needs at least 2 samples, got {n}")
    dist, disc, shared = np.zeros((n, n)), np.zeros((n, n)), np.zeros((n, n))
    for _, dos in iter_dosage_chunks(geno, chunk_size, samples, progress="census duplicates"):
        _accumulate(dos, dist, disc, shared)
    if not shared.any():
        raise UserError(f"{geno}: no genotype calls among the {n} analysed samples")
    # convert in place / one matrix at a time: n x n float64 matrices dominate memory
    disc = _symmetrize(disc).astype(np.int64)
    _symmetrize(dist)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(dist, shared, out=dist)
    dist *= -0.5
    dist += 1.0  # ibs = 1 - dist / (2 shared)
    shared = shared.astype(np.int64)
    return IBSResult(list(samples), dist, shared, disc)


def duplicate_clusters(
    res: IBSResult, threshold: float = 0.97, min_snps: int = 100
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Link pairs with IBS >= threshold (and >= min_snps shared calls) into clusters.

    Parameters
    ----------
    res : IBSResult
        Pairwise IBS.
    threshold : float
        Minimum IBS for two samples to be called duplicates.
    min_snps : int
        Minimum SNPs called in both samples for a pair to be judged.

    Returns
    -------
    pairs : pandas.DataFrame
        ``cluster, sample1, sample2, ibs, n_shared, n_discordant,
        discordance`` for linked pairs.
    clusters : pandas.DataFrame
        ``cluster, n_members, members, min_ibs, max_ibs`` (one row per cluster
        of two or more samples); cluster ids are 1-based in order of first member.
    """
    if not 0 < threshold <= 1:
        raise UserError(f"IBS threshold must be in (0, 1], got {threshold}")
    n = len(res.samples)
    iu, ju = np.triu_indices(n, 1)
    ok = (res.n_shared[iu, ju] >= min_snps) & (res.ibs[iu, ju] >= threshold)
    iu, ju = iu[ok], ju[ok]
    graph = coo_matrix((np.ones(len(iu)), (iu, ju)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    sizes = np.bincount(comp)
    multi = [c for c in dict.fromkeys(comp) if sizes[c] > 1]
    cid = {c: k + 1 for k, c in enumerate(multi)}
    s = np.array(res.samples, dtype=object)
    pairs = pd.DataFrame(
        {
            "cluster": [cid[comp[i]] for i in iu],
            "sample1": s[iu],
            "sample2": s[ju],
            "ibs": res.ibs[iu, ju],
            "n_shared": res.n_shared[iu, ju],
            "n_discordant": res.n_discordant[iu, ju],
        }
    )
    pairs["discordance"] = pairs["n_discordant"] / pairs["n_shared"]
    pairs = pairs.sort_values(["cluster", "ibs"], ascending=[True, False], kind="stable")
    rows = []
    for c in multi:
        members = np.flatnonzero(comp == c)
        sub = res.ibs[np.ix_(members, members)][np.triu_indices(len(members), 1)]
        rows.append(
            {
                "cluster": cid[c],
                "n_members": len(members),
                "members": ",".join(s[members]),
                "min_ibs": float(np.nanmin(sub)),
                "max_ibs": float(np.nanmax(sub)),
            }
        )
    clusters = pd.DataFrame(rows, columns=["cluster", "n_members", "members", "min_ibs", "max_ibs"])
    return pairs.reset_index(drop=True), clusters


def plot_ibs(res: IBSResult, threshold: float, path: str | os.PathLike) -> str:
    """Histogram of pairwise IBS with the duplicate threshold."""
    from breedomics.census._common import figure, save_figure

    iu = np.triu_indices(len(res.samples), 1)
    vals = res.ibs[iu]
    fig, ax = figure(figsize=(7, 4))
    ax.hist(vals[~np.isnan(vals)], bins=100, log=True)
    ax.axvline(threshold, color="r", ls="--", label=f"threshold {threshold}")
    ax.set_xlabel("pairwise IBS")
    ax.set_ylabel("pairs")
    ax.legend()
    return save_figure(fig, path)
