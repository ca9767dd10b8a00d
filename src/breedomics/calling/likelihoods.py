"""Genotype likelihoods of VCF/BCF records (cyvcf2), as the calling modules read them.

``bcftools call`` keeps ``FORMAT/PL`` (phred-scaled), freebayes writes ``FORMAT/GL``
(log10); both become likelihoods on a linear scale per genotype 0/0, 0/1, 1/1 of a
biallelic record, with the ploidy of each call, for the inbreeding estimate
(:mod:`breedomics.calling.inbreeding`) and the haplotype refinement
(:mod:`breedomics.calling.refine`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["FLOAT_MISSING", "INT_MISSING", "biallelic", "likelihood_tag", "likelihoods"]

#: htslib's missing and vector-end values of integer and float FORMAT fields.
INT_MISSING = np.iinfo(np.int32).min
INT_END = INT_MISSING + 1
FLOAT_MISSING = np.array([0x7F800001], dtype=np.uint32).view(np.float32)[0]


def likelihood_tag(header: str) -> str | None:
    """``PL`` (bcftools) or ``GL`` (freebayes), whichever the header declares first."""
    for tag in ("PL", "GL"):
        if f"##FORMAT=<ID={tag}," in header:
            return tag
    return None


def likelihoods(records: list, n: int, tag: str) -> tuple[np.ndarray, np.ndarray]:
    """Genotype likelihoods and per-record ploidy of biallelic records.

    Returns ``gl`` (M x N x 3, ``L(0/0), L(0/1), L(1/1)``; a haploid call as
    ``(L0, 0, L1)``; equal likelihoods where the genotype is missing) and the ploidy of
    each call (M x N: 2, 1, or 0 for a missing call without likelihoods, e.g. a
    female's Y).
    """
    M = len(records)
    gl = np.ones((M, n, 3))
    rec_ploidy = np.zeros((M, n), dtype=np.int64)
    for m, v in enumerate(records):
        gt = v.genotype.array()[:, :-1]  # allele indices; -1 missing, -2 vector end
        width = (gt != -2).sum(axis=1)
        called = ((gt >= 0) | (gt == -2)).all(axis=1) & (width > 0)
        raw = v.format(tag)
        if raw is None:
            rec_ploidy[m] = np.where(called, width, 0)
            continue
        if tag == "PL":
            present = (raw != INT_MISSING) & (raw != INT_END)
            lik = np.where(present, 10.0 ** (-np.where(present, raw, 0) / 10.0), 0.0)
        else:  # GL: log10 likelihoods, missing/end are NaN payloads
            present = np.isfinite(raw)
            lik = np.where(present, 10.0 ** np.where(present, raw, 0.0), 0.0)
        if lik.shape[1] < 3:
            pad = np.zeros((n, 3 - lik.shape[1]), dtype=bool)
            lik = np.concatenate([lik, pad.astype(float)], axis=1)
            present = np.concatenate([present, pad], axis=1)
        n_lik = present[:, :3].sum(axis=1)
        hap = n_lik == 2
        lik = lik[:, :3].copy()
        lik[hap] = np.stack([lik[hap, 0], np.zeros(hap.sum()), lik[hap, 1]], axis=1)
        plo = np.where(n_lik == 3, 2, np.where(hap, 1, np.where(called, width, 0)))
        usable = called & (n_lik >= 2) & (lik.max(axis=1) > 0)
        gl[m, usable] = lik[usable]
        rec_ploidy[m] = plo
    return gl, rec_ploidy


def biallelic(v, only_pass: bool = False) -> bool:
    """True for a biallelic, non-symbolic record (PASS or ``.`` only with ``only_pass``)."""
    if len(v.ALT) != 1 or v.ALT[0] in ("*", "<*>", ".", ""):
        return False
    if only_pass and v.FILTER not in (None, "PASS"):
        return False
    return True
