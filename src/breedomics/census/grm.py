"""Genomic relationship matrices accumulated over streamed SNP chunks (BLAS).

* VanRaden (2008, *J Dairy Sci* 91:4414) method 1:
  ``G = Z Z' / (2 sum_j p_j (1 - p_j))`` with ``Z = M - 2p`` (ALT dosage
  centred on twice the ALT frequency).
* Standardised (Patterson, Price & Reich 2006, *PLoS Genet* 2:e190; Yang et
  al. 2010): ``K = W W' / m`` with ``W_ij = (x_ij - 2p_j) / sqrt(2 p_j (1 - p_j))``,
  the matrix whose eigenvectors are the principal components (``plink2 --pca``).

Missing genotypes are mean-imputed (set to 0 after centring). SNPs that are
all-missing or monomorphic among the analysed samples are skipped (they carry
no information) and counted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from breedomics.census._common import standardize_chunk, stream
from breedomics.errors import UserError

__all__ = ["GRMResult", "vanraden_grm", "accumulate_grm", "grm_table", "plot_grm"]


@dataclass
class GRMResult:
    """A relationship matrix and the SNPs that built it."""

    matrix: np.ndarray
    samples: list[str]
    n_snps: int
    n_skipped: int


def vanraden_grm(dosage: np.ndarray, p: np.ndarray | None = None) -> np.ndarray:
    """VanRaden (2008) method-1 GRM of an in-memory dosage matrix.

    Parameters
    ----------
    dosage : numpy.ndarray
        ``(n, m)`` ALT dosage, NaN for missing.
    p : numpy.ndarray, optional
        ALT frequencies (default: estimated from ``dosage``).

    Returns
    -------
    numpy.ndarray
        ``(n, n)`` GRM.
    """
    d = np.asarray(dosage, dtype=np.float64)
    if p is None:
        p = np.nanmean(d, axis=0) / 2.0
    z = d - 2.0 * p
    z[np.isnan(z)] = 0.0
    den = 2.0 * np.sum(p * (1 - p))
    if den <= 0:
        raise UserError("GRM undefined: no polymorphic SNP")
    return z @ z.T / den


def accumulate_grm(
    geno: str | os.PathLike,
    samples: Sequence[str],
    method: str = "vanraden",
    min_maf: float = 0.0,
    chunk_size: int = 10000,
) -> GRMResult:
    """Stream a genotype file into a GRM.

    Parameters
    ----------
    geno : str or path-like
        Genotype file.
    samples : sequence of str
        Samples, in output order.
    method : {"vanraden", "standardized"}
        VanRaden method 1, or the standardised matrix used for PCA.
    min_maf : float
        Skip SNPs with minor-allele frequency ``<= min_maf`` (0: only
        monomorphic ones).
    chunk_size : int
        SNPs per chunk; memory is ``O(n^2 + n * chunk_size)``.

    Returns
    -------
    GRMResult
    """
    if method not in ("vanraden", "standardized"):
        raise UserError(f"unknown GRM method {method!r}; use 'vanraden' or 'standardized'")
    n = len(samples)
    acc = np.zeros((n, n))
    den = 0.0
    used = skipped = 0
    for _, dos in stream(geno, samples, chunk_size):
        z, p, keep = standardize_chunk(dos, min_maf)
        skipped += int((~keep).sum())
        if z.shape[1] == 0:
            continue
        var = 2.0 * p * (1.0 - p)
        if method == "standardized":
            z /= np.sqrt(var)
            den += z.shape[1]
        else:
            den += var.sum()
        acc += z @ z.T
        used += z.shape[1]
    if used == 0:
        raise UserError(
            f"{geno}: no polymorphic SNP with calls among the {n} analysed samples "
            f"({skipped} SNPs skipped as monomorphic or all-missing); cannot build a GRM"
        )
    return GRMResult(acc / den, list(samples), used, skipped)


def grm_table(res: GRMResult) -> pd.DataFrame:
    """Square TSV layout: a ``sample`` column then one column per sample."""
    df = pd.DataFrame(res.matrix, columns=res.samples)
    df.insert(0, "sample", res.samples)
    return df


def plot_grm(res: GRMResult, labels: np.ndarray, path: str | os.PathLike) -> str:
    """Heatmap of the GRM with samples ordered by group."""
    from breedomics.census._common import figure, save_figure

    order = np.argsort(np.asarray(labels, dtype=str), kind="stable")
    fig, ax = figure(figsize=(7, 6))
    mat = res.matrix[np.ix_(order, order)]
    lim = np.percentile(np.abs(mat), 99)
    im = ax.imshow(mat, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    lab = np.asarray(labels, dtype=str)[order]
    edges = np.flatnonzero(lab[1:] != lab[:-1]) + 0.5
    for e in edges:
        ax.axhline(e, color="k", lw=0.4)
        ax.axvline(e, color="k", lw=0.4)
    starts = np.r_[0, np.ceil(edges)].astype(int)
    ends = np.r_[np.ceil(edges), len(lab)].astype(int)
    ax.set_xticks((starts + ends - 1) / 2, lab[starts], rotation=45, ha="right", fontsize=7)
    ax.set_yticks((starts + ends - 1) / 2, lab[starts], fontsize=7)
    ax.set_title(f"VanRaden GRM ({res.n_snps} SNPs)")
    fig.colorbar(im, ax=ax)
    return save_figure(fig, path)
