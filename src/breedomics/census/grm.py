"""The census relationship-matrix job: the GRM of the analysed samples, as a table and a heatmap.

The matrix is built by the genetics core (:func:`breedomics.core.grm.accumulate_grm`):

* VanRaden (2008, *J Dairy Sci* 91:4414) method 1:
  ``G = Z Z' / (2 sum_j p_j (1 - p_j))`` with ``Z = M - 2p`` (ALT dosage
  centred on twice the ALT frequency);
* standardised (Patterson, Price & Reich 2006, *PLoS Genet* 2:e190; Yang et
  al. 2011, *Am J Hum Genet* 88:76): ``K = W W' / m`` with
  ``W_ij = (x_ij - 2p_j) / sqrt(2 p_j (1 - p_j))``, the matrix whose
  eigenvectors are the principal components (``plink2 --pca``).

Missing genotypes are mean-imputed (set to 0 after centring). SNPs that are
all-missing or have MAF ``<= min_maf`` among the analysed samples (with 0:
the monomorphic ones) are skipped and counted. The census forms every chunk's
product in double precision.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from breedomics.core.grm import GRM, accumulate_grm

__all__ = ["census_grm", "grm_table", "plot_grm"]


def census_grm(
    geno: str | os.PathLike, samples: Sequence[str], *, method: str = "vanraden",
    min_maf: float = 0.0, chunk_size: int = 10000, progress: str = "census grm",
) -> GRM:  # fmt: skip
    """The census GRM of a genotype file (double-precision products).

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
    progress : str
        Label of the progress lines (:mod:`breedomics.core.progress`).

    Returns
    -------
    GRM
        ``matrix()`` is the relationship matrix; ``n_snps`` and ``n_skipped``
        count the SNPs used and left out.
    """
    return accumulate_grm(
        geno,
        samples,
        method=method,
        min_maf=min_maf,
        dtype=np.float64,
        chunk_size=chunk_size,
        progress=progress,
    )


def grm_table(res: GRM) -> pd.DataFrame:
    """Square TSV layout: a ``sample`` column then one column per sample."""
    df = pd.DataFrame(res.matrix(), columns=res.samples)
    df.insert(0, "sample", res.samples)
    return df


def plot_grm(res: GRM, labels: np.ndarray, path: str | os.PathLike) -> str:
    """Heatmap of the GRM with samples ordered by group."""
    from breedomics.census._common import figure, save_figure

    order = np.argsort(np.asarray(labels, dtype=str), kind="stable")
    fig, ax = figure(figsize=(7, 6))
    mat = res.matrix()[np.ix_(order, order)]
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
