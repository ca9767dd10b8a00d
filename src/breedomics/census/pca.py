"""Principal component analysis from the streamed standardised GRM.

The ``n x n`` matrix ``K = W W' / m`` of standardised genotypes (Patterson,
Price & Reich 2006) is accumulated chunk by chunk with BLAS and
eigendecomposed (LAPACK ``syevd``); PC scores are the eigenvectors, as in
EIGENSOFT and ``plink2 --pca``. Variance explained is ``lambda_k / trace(K)``,
the share of the total standardised genotype variance.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from breedomics.census.grm import census_grm
from breedomics.errors import UserError

__all__ = ["pca", "pca_from_grm", "plot_pca"]


def pca_from_grm(k: np.ndarray, n_pcs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top eigenpairs of a symmetric GRM.

    Returns
    -------
    vectors : numpy.ndarray
        ``(n, n_pcs)`` unit eigenvectors, sign fixed so the largest-magnitude
        entry of each is positive.
    values : numpy.ndarray
        ``(n_pcs,)`` eigenvalues, decreasing.
    explained : numpy.ndarray
        ``values / trace(k)``.
    """
    n = k.shape[0]
    if n_pcs < 1 or n_pcs > n - 1:
        raise UserError(f"number of PCs must be between 1 and n_samples - 1 = {n - 1}")
    if not np.trace(k) > 0:
        raise UserError("PCA undefined: no polymorphic SNP varies among the analysed samples")
    vals, vecs = np.linalg.eigh(k)
    order = np.argsort(vals)[::-1][:n_pcs]
    vals, vecs = vals[order], vecs[:, order]
    flip = np.sign(vecs[np.abs(vecs).argmax(axis=0), np.arange(n_pcs)])
    return vecs * flip, vals, vals / np.trace(k)


def pca(
    geno: str | os.PathLike, samples: Sequence[str], *, n_pcs: int = 10, min_maf: float = 0.0,
    chunk_size: int = 10000,
) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """PCA of a genotype file.

    Parameters
    ----------
    geno : str or path-like
        Genotype file (LD pruning beforehand is recommended).
    samples : sequence of str
        Samples to analyse.
    n_pcs : int
        Number of PCs (capped at ``n_samples - 1``).
    min_maf : float
        Skip SNPs with MAF ``<= min_maf``.
    chunk_size : int
        SNPs per chunk.

    Returns
    -------
    scores : pandas.DataFrame
        ``sample, PC1..PCk``.
    variance : pandas.DataFrame
        ``pc, eigenvalue, variance_explained, n_snps``.
    """
    if len(samples) < 3:
        raise UserError(f"PCA needs at least 3 samples, got {len(samples)}")
    n_pcs = min(n_pcs, len(samples) - 1)
    res = census_grm(
        geno,
        samples,
        method="standardized",
        min_maf=min_maf,
        chunk_size=chunk_size,
        progress="census pca",
    )
    vecs, vals, expl = pca_from_grm(res.matrix(), n_pcs)
    scores = pd.DataFrame(vecs, columns=[f"PC{i + 1}" for i in range(n_pcs)])
    scores.insert(0, "sample", list(samples))
    variance = pd.DataFrame(
        {
            "pc": [f"PC{i + 1}" for i in range(n_pcs)],
            "eigenvalue": vals,
            "variance_explained": expl,
            "n_snps": res.n_snps,
        }
    )
    return scores, variance


def plot_pca(
    scores: pd.DataFrame, variance: pd.DataFrame, labels: np.ndarray, path: str | os.PathLike
) -> str:
    """PC1/PC2 and PC3/PC4 scatter coloured by group, plus a scree plot."""
    from breedomics.census._common import figure, save_figure

    fig, axes = figure(ncols=3, figsize=(14, 4.5))
    lab = np.asarray(labels, dtype=str)
    pairs = [(1, 2), (3, 4)]
    for ax, (a, b) in zip(axes[:2], pairs, strict=True):
        ca, cb = f"PC{a}", f"PC{b}"
        if cb not in scores:
            ax.set_axis_off()
            continue
        for g in dict.fromkeys(lab):
            s = lab == g
            ax.scatter(scores.loc[s, ca], scores.loc[s, cb], s=8, label=g)
        ev = variance.set_index("pc")["variance_explained"]
        ax.set_xlabel(f"{ca} ({100 * ev[ca]:.1f}%)")
        ax.set_ylabel(f"{cb} ({100 * ev[cb]:.1f}%)")
    if len(set(lab)) <= 15:
        axes[0].legend(fontsize=7, markerscale=2)
    axes[2].bar(np.arange(len(variance)) + 1, 100 * variance["variance_explained"])
    axes[2].set_xlabel("PC")
    axes[2].set_ylabel("variance explained (%)")
    return save_figure(fig, path)
