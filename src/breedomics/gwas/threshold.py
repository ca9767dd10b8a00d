"""Genome-wide significance thresholds.

* **Bonferroni**: ``alpha / M`` over the ``M`` variants tested.
* **Effective number of independent tests**: the genome is cut into blocks
  of at most ``block_size`` consecutive SNPs within a chromosome (the LD
  between blocks is ignored, as in Li et al. 2012's GEC); in each block the
  eigenvalues ``l_i`` of the SNP correlation matrix give

  - Li & Ji (2005, *Heredity* 95:221):
    ``M_eff = sum_i [ I(l_i >= 1) + (l_i - floor(l_i)) ]``;
  - Gao et al. (2008, *Genet Epidemiol* 32:361, simpleM): the number of
    leading eigenvalues explaining 99.5 % of the block's variance.

  Block values are summed and the threshold is ``alpha / M_eff``.
* **Permutation**: the ``alpha`` quantile of the genome-wide minimum p-value
  over permutations of the whitened null residuals
  (:meth:`breedomics.gwas.lmm.AssocSet.enable_permutations`).
"""

from __future__ import annotations

import numpy as np

from breedomics.gwas.pvalues import neglog10_p_f1

__all__ = ["MeffAccumulator", "bonferroni", "permutation_threshold", "meff_block"]


def bonferroni(alpha: float, m: int) -> float:
    """Bonferroni p-value threshold ``alpha / m``."""
    return alpha / max(int(m), 1)


def meff_block(x: np.ndarray) -> tuple[float, float]:
    """Li-Ji and Gao effective numbers of tests of one block of SNPs.

    Parameters
    ----------
    x : numpy.ndarray
        ``(n, k)`` dosages (no missing values; monomorphic columns ignored).

    Returns
    -------
    li_ji, gao : float
    """
    sd = x.std(axis=0)
    x = x[:, sd > 0]
    k = x.shape[1]
    if k == 0:
        return 0.0, 0.0
    if k == 1:
        return 1.0, 1.0
    r = np.corrcoef(x, rowvar=False)
    ev = np.clip(np.linalg.eigvalsh(r), 0.0, None)[::-1]
    # Li-Ji's f(l) jumps at integers: snap rounding noise (2.9999999 -> 3) first
    ev = np.where(np.abs(ev - np.round(ev)) < 1e-8, np.round(ev), ev)
    li_ji = float(np.sum((ev >= 1).astype(float) + (ev - np.floor(ev))))
    cum = np.cumsum(ev) / ev.sum()
    gao = float(np.searchsorted(cum, 0.995) + 1)
    return li_ji, gao


class MeffAccumulator:
    """Accumulate M_eff over a stream of SNP chunks.

    Parameters
    ----------
    block_size : int
        Maximum SNPs per block (blocks never cross chromosomes).
    max_samples : int
        Use at most this many samples (a fixed random subset) for the
        correlations; 500 samples estimate r to about +-0.045, plenty for
        the eigenvalue spectrum that M_eff summarises.
    seed : int
        Seed of the sample subset.
    """

    def __init__(self, block_size: int = 300, max_samples: int = 500, seed: int = 1):
        self.block_size = block_size
        self.max_samples = max_samples
        self.seed = seed
        self._chrom: str | None = None
        self._buf: list[np.ndarray] = []
        self._nbuf = 0
        self._rows: np.ndarray | None = None
        self.li_ji = 0.0
        self.gao = 0.0
        self.n_snps = 0
        #: per-block (li_ji, gao, n_snps), in stream order: a scattered scan's gather
        #: re-adds them in genome order, giving the same floating-point sums
        self.blocks: list[tuple[float, float, int]] = []

    def add(self, chrom: str, z: np.ndarray) -> None:
        """Add a run of SNPs of one chromosome (``(n, k)``, imputed)."""
        if self._rows is None:
            n = z.shape[0]
            rng = np.random.default_rng(self.seed)
            self._rows = (
                np.sort(rng.choice(n, self.max_samples, replace=False))
                if n > self.max_samples
                else np.arange(n)
            )
        if chrom != self._chrom:
            self._flush()
            self._chrom = chrom
        z = z[self._rows]
        start = 0
        while start < z.shape[1]:
            take = min(self.block_size - self._nbuf, z.shape[1] - start)
            self._buf.append(z[:, start : start + take])
            self._nbuf += take
            start += take
            if self._nbuf >= self.block_size:
                self._flush()

    def _flush(self) -> None:
        if self._nbuf:
            li, gao = meff_block(np.hstack(self._buf))
            self.li_ji += li
            self.gao += gao
            self.n_snps += self._nbuf
            self.blocks.append((float(li), float(gao), self._nbuf))
        self._buf, self._nbuf = [], 0

    def finish(self) -> dict[str, float]:
        """Close the last block; return ``{"li_ji": ..., "gao": ..., "n_snps": ...}``."""
        self._flush()
        return {"li_ji": self.li_ji, "gao": self.gao, "n_snps": self.n_snps}


def permutation_threshold(max_f: np.ndarray, df: float, alpha: float) -> float:
    """P-value threshold from permutation maxima of the Wald F statistic.

    Parameters
    ----------
    max_f : numpy.ndarray
        Genome-wide maximum F of every permutation.
    df : float
        Denominator degrees of freedom of the test.
    alpha : float
        Family-wise error rate.

    Returns
    -------
    float
        The ``alpha`` quantile of the permutation minimum p-values.
    """
    nl = neglog10_p_f1(np.asarray(max_f, dtype=float), df)
    q = np.quantile(nl, 1 - alpha)
    return float(10.0**-q)
