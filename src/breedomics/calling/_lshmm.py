"""Compiled haploid Li-Stephens HMM of the genotype refinement (numba).

Kept apart from :mod:`breedomics.calling.refine` so that importing the package does
not import numba; the kernel is compiled on first use and cached on disk
(``cache=True``), once per machine and argument types.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["haploid_update"]


@numba.njit(cache=True, nogil=True)
def haploid_update(
    H: np.ndarray,
    states: np.ndarray,
    emis: np.ndarray,
    switch: np.ndarray,
    err: float,
    u: np.ndarray,
    post: np.ndarray,
    new_hap: np.ndarray,
    alpha: np.ndarray,
) -> float:
    """Posterior and a sample of one haplotype copied from ``states`` (Li & Stephens 2003).

    The hidden state at site ``m`` is the panel haplotype ``k`` the target copies
    (``H[m, states[k]]``, 0/1). Between sites ``m-1`` and ``m`` the target switches to
    a uniformly drawn haplotype with probability ``switch[m]``; a copied allele is
    miscopied with probability ``err``. The observation at site ``m`` is the data's
    likelihood of each allele of the target, ``emis[m, a]`` (from the genotype
    likelihoods, the sample's other haplotype held fixed: the haploid update of
    GLIMPSE, Rubinacci et al. 2021, *Nat Genet* 53:120).

    Forward-backward gives ``post[m] = P(allele 1 at m | data, panel)``; a haplotype is
    then drawn from the joint posterior by backward sampling of the copying path
    (``u[m, 0:3]``: uniform draws, so the caller's seeded generator makes it
    reproducible) and written to ``new_hap``. ``alpha`` (M x K, float32) is scratch
    space for the scaled forward probabilities.

    Returns the expected number of sites where the target's allele differs from the
    copied haplotype's (the Baum-Welch statistic of ``err``).
    """
    M = H.shape[0]
    K = states.shape[0]
    inv_k = 1.0 / K
    ok = 1.0 - err
    # forward: alpha[m, k] = P(state k at m | data up to m), normalised per site
    beta = np.empty(K)
    tmp = np.empty(K)
    for m in range(M):
        e0 = emis[m, 0]
        e1 = emis[m, 1]
        em0 = ok * e0 + err * e1  # the state carries allele 0
        em1 = err * e0 + ok * e1  # the state carries allele 1
        s = 0.0
        if m == 0:
            for k in range(K):
                v = inv_k * (em1 if H[0, states[k]] else em0)
                tmp[k] = v
                s += v
        else:
            r = switch[m]
            for k in range(K):
                v = ((1.0 - r) * alpha[m - 1, k] + r * inv_k) * (em1 if H[m, states[k]] else em0)
                tmp[k] = v
                s += v
        if s <= 0.0:  # no state explains the data (cannot happen with err > 0): reset
            for k in range(K):
                tmp[k] = inv_k
            s = 1.0
        for k in range(K):
            alpha[m, k] = tmp[k] / s
    # backward: beta[k] = P(data after m | state k at m), scaled
    for k in range(K):
        beta[k] = 1.0
    mismatches = 0.0
    for m in range(M - 1, -1, -1):
        e0 = emis[m, 0]
        e1 = emis[m, 1]
        em0 = ok * e0 + err * e1
        em1 = err * e0 + ok * e1
        # P(allele 1 | state, data at m) for a state carrying 0 / 1
        p1_if0 = err * e1 / em0 if em0 > 0 else 0.0
        p1_if1 = ok * e1 / em1 if em1 > 0 else 0.0
        tot = 0.0
        p1 = 0.0
        mis = 0.0
        for k in range(K):
            g = alpha[m, k] * beta[k]
            tot += g
            if H[m, states[k]]:
                p1 += g * p1_if1
                mis += g * (1.0 - p1_if1)
            else:
                p1 += g * p1_if0
                mis += g * p1_if0
        post[m] = p1 / tot if tot > 0 else e1 / (e0 + e1)
        if tot > 0:
            mismatches += mis / tot
        if m > 0:
            r = switch[m]
            s = 0.0
            for k in range(K):
                v = (em1 if H[m, states[k]] else em0) * beta[k]
                tmp[k] = v
                s += v
            mx = 0.0
            for k in range(K):
                v = (1.0 - r) * tmp[k] + r * inv_k * s
                beta[k] = v
                if v > mx:
                    mx = v
            if mx > 0:
                for k in range(K):
                    beta[k] /= mx
    # backward sampling of the copying path, then of the allele given the state
    z = _draw(alpha, M - 1, K, u[M - 1, 0])
    for m in range(M - 1, -1, -1):
        e0 = emis[m, 0]
        e1 = emis[m, 1]
        if H[m, states[z]]:
            p1 = ok * e1 / (err * e0 + ok * e1)
        else:
            p1 = err * e1 / (ok * e0 + err * e1)
        new_hap[m] = 1 if u[m, 2] < p1 else 0
        if m > 0:
            r = switch[m]
            stay = (1.0 - r) * alpha[m - 1, z]
            if u[m, 1] * (stay + r * inv_k) >= stay:  # a switch: any state, by alpha
                z = _draw(alpha, m - 1, K, u[m - 1, 0])
    return mismatches


@numba.njit(cache=True, nogil=True)
def _draw(alpha: np.ndarray, m: int, K: int, x: float) -> int:
    """Index ``k`` drawn with probability ``alpha[m, k]`` (rows sum to 1) from uniform ``x``."""
    c = 0.0
    for k in range(K):
        c += alpha[m, k]
        if x < c:
            return k
    return K - 1
