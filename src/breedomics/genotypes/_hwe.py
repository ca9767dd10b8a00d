"""Compiled exact Hardy-Weinberg test (numba), for every variant of a chunk at once.

Kept apart from :mod:`breedomics.genotypes.qc` so that importing it does not import numba;
compiled on first use and cached on disk (``cache=True``). The test is the exact test of
Wigginton, Cutler and Abecasis (2005, Am J Hum Genet 76:887): the probabilities of every
heterozygote count given the allele counts, by their recurrence from the most likely one,
and the p-value as the sum of those no more likely than the observed table.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["hwe_exact_into"]


@numba.njit(cache=True, nogil=True)
def _hwe_one(n_het: int, n_hom1: int, n_hom2: int) -> float:
    n = n_het + n_hom1 + n_hom2
    if n == 0:
        return 1.0
    rare = 2 * min(n_hom1, n_hom2) + n_het
    probs = np.zeros(rare + 1)
    mid = rare * (2 * n - rare) // (2 * n)
    if (rare - mid) % 2:
        mid += 1
    probs[mid] = 1.0
    homr = (rare - mid) // 2
    homc = n - mid - homr
    h = mid
    while h > 1:
        probs[h - 2] = probs[h] * h * (h - 1) / (4.0 * (homr + 1) * (homc + 1))
        h -= 2
        homr += 1
        homc += 1
    homr = (rare - mid) // 2
    homc = n - mid - homr
    h = mid
    while h <= rare - 2:
        probs[h + 2] = probs[h] * 4.0 * homr * homc / ((h + 2) * (h + 1))
        h += 2
        homr -= 1
        homc -= 1
    total = probs.sum()
    limit = probs[n_het] * (1 + 1e-9)
    p = 0.0
    for k in range(rare + 1):
        if probs[k] <= limit:
            p += probs[k]
    return min(1.0, p / total)


@numba.njit(cache=True, nogil=True)
def hwe_exact_into(
    n_het: np.ndarray, n_hom1: np.ndarray, n_hom2: np.ndarray, out: np.ndarray
) -> None:
    """``out[i]``: exact HWE p-value of genotype counts ``n_het[i], n_hom1[i], n_hom2[i]``."""
    for i in range(out.shape[0]):
        out[i] = _hwe_one(n_het[i], n_hom1[i], n_hom2[i])
