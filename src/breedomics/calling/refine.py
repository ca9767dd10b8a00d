"""Population-aware genotype refinement from genotype likelihoods (``breedomics refine-calls``).

At 5-8x (skim sequencing of many accessions) two to four reads cannot tell a
heterozygote from a homozygote: most errors of a call set are genotype errors, not
missed sites. Samples of one breeding population share long haplotypes, so the
reads of the other samples tell which alleles a sample probably carries. This
module recomputes every genotype from its likelihoods (``FORMAT/PL`` of
``bcftools call``) and a haplotype model of the population, the way Beagle 4.1
(``gl=``; Browning & Browning 2016, *Am J Hum Genet* 98:116), GLIMPSE (Rubinacci
et al. 2021, *Nat Genet* 53:120) or STITCH refine low-coverage calls:

1. Per site the ALT allele frequency is estimated from the likelihoods by EM
   (Hardy-Weinberg; haploid calls count one allele); each sample starts from its
   most probable genotype under that prior, heterozygotes phased at random.
2. Gibbs sampling over haplotypes (GLIMPSE's scheme): in turn, each haplotype of each
   sample is updated with the sample's other haplotype held fixed, by a haploid
   Li-Stephens HMM (Li & Stephens 2003, *Genetics* 165:2213) whose states are the
   current haplotypes of all other samples (``K = 2(N-1)`` for N diploid samples, or
   the ``max_states`` closest to the haplotype by Hamming distance) and whose
   emissions are the genotype likelihoods of the sample given its other haplotype.
   A new haplotype is drawn from the posterior (forward filtering, backward sampling).
3. After ``burnin`` rounds each update also adds its posterior allele probabilities,
   combined with the fixed other haplotype, to the sample's genotype probabilities
   (Rao-Blackwellised), which are averaged over the remaining rounds.

The output is the same VCF with ``GT`` set to the most probable genotype, ``FORMAT/GP``
(genotype posteriors), ``FORMAT/DS`` (ALT dosage), ``GQ`` recomputed from ``GP`` and
``INFO/RINFO``, the IMPUTE information measure of the site (Marchini & Howie 2010,
*Nat Rev Genet* 11:499): 1 minus the ratio of the posterior genotype variance to the
binomial variance at the estimated frequency; 1 = the genotypes are certain, near 0 =
they carry no information beyond the allele frequency. ``INFO/AC``, ``AN``, ``AF``
and ``F_MISSING`` are recomputed when the header has them.

Ploidy: a sample's number of haplotypes per chromosome is its largest ``GT`` ploidy
there (males' X and Y are haploid when called with the workflow's ploidy file; a
female without a Y genotype has none and is left alone); a haploid call inside a
diploid chromosome (a pseudo-autosomal boundary) can only be homozygous. With
``inbred=True`` (``genome.mating: inbred``) every line is one haplotype: only the
homozygous likelihoods are used and genotypes are written as ``0/0`` or ``1/1``.
A genotype whose ``GT`` is missing (no reads, or set missing by an earlier filter) is
treated as having no data and gets its posterior from the panel alone.

The input is read one chromosome at a time (memory: the chromosome's records plus
``sites x haplotypes`` bytes and ``sites x K`` floats of HMM scratch). Runs are
deterministic for a given ``seed``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from breedomics.calling.inbreeding import (
    allele_frequencies,
    inbreeding_table,
    read_diploid_likelihoods,
)
from breedomics.calling.likelihoods import (
    FLOAT_MISSING,
    INT_MISSING,
    biallelic,
    likelihood_tag,
    likelihoods,
)
from breedomics.errors import UserError

__all__ = [
    "RefineSettings",
    "info_score",
    "refine_genotypes",
    "refine_vcf",
]


#: Copying error estimated from the data (``error = 0``): start and bounds.
ERROR_START = 0.05
ERROR_MIN = 0.001
ERROR_MAX = 0.3


@dataclass(frozen=True)
class RefineSettings:
    """Settings of the refinement (the ``calling.refine`` block of the config).

    Attributes
    ----------
    iterations : int
        Gibbs rounds in all (each updates every haplotype of every sample once).
    burnin : int
        Rounds at the start whose posteriors are not averaged (``< iterations``).
    error : float
        Probability that a copied allele differs from the copied haplotype (mutation,
        and errors of the other samples' current haplotypes). 0 (the default): estimated
        from the data, after every round, as the expected rate of such differences over
        all updates of the round (the Baum-Welch update of a Li-Stephens error rate;
        Beagle and GLIMPSE also estimate theirs), starting from ``ERROR_START`` and kept
        within [``ERROR_MIN``, ``ERROR_MAX``]. Small panels of diverged or inbred
        samples copy poorly and get a large error (the likelihoods then dominate);
        a breed's panel of shared haplotypes gets a small one.
    ne : float
        Effective population size of the Li-Stephens switch rate: between sites
        ``d`` bp apart a haplotype switches with probability
        ``1 - exp(-4 ne r d / K)`` with ``r = cm_per_mb * 1e-8`` per bp.
    cm_per_mb : float
        Recombination rate (cM/Mb) used for every chromosome (no genetic map).
    max_states : int
        At most this many haplotypes (the closest by Hamming distance) are the HMM
        states of one update; 0 = all other samples' haplotypes.
    inbred_f : float
        A diploid sample whose genome-wide inbreeding coefficient (from the likelihoods,
        :mod:`breedomics.calling.inbreeding`, which also asks for enough expected
        heterozygous sites) is at least this is modelled as one haplotype (an inbred line
        in a mixed panel); above 1: never. Not used when the lines are given.
    seed : int
        Seed of the random draws.
    """

    iterations: int = 12
    burnin: int = 4
    error: float = 0.0
    ne: float = 10_000.0
    cm_per_mb: float = 1.0
    max_states: int = 400
    inbred_f: float = 0.95
    seed: int = 20240917

    def check(self) -> None:
        """Raise :class:`UserError` on out-of-range settings."""
        if self.iterations < 1 or not 0 <= self.burnin < self.iterations:
            raise UserError(
                f"refinement: need iterations >= 1 and 0 <= burnin < iterations "
                f"(got iterations {self.iterations}, burnin {self.burnin})."
            )
        if not 0 <= self.error < 0.5:
            raise UserError(
                f"refinement: error must be in [0, 0.5) (0 = estimated), got {self.error}."
            )
        if self.ne <= 0 or self.cm_per_mb <= 0:
            raise UserError("refinement: ne and cm_per_mb must be positive.")
        if self.inbred_f < 0:
            raise UserError("refinement: inbred_f must be >= 0 (above 1: off).")
        if self.max_states < 0:
            raise UserError("refinement: max_states must be >= 0 (0 = all haplotypes).")


# --------------------------------------------------------------------------- model


def _prior_posterior(gl: np.ndarray, ploidy: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Genotype posteriors from the likelihoods and the Hardy-Weinberg frequency prior."""
    q = 1.0 - p
    prior = np.where(
        (ploidy == 2)[None, :, None],
        np.stack([q * q, 2 * p * q, p * p], axis=1)[:, None, :],
        np.stack([q, p, np.zeros_like(p)], axis=1)[:, None, :],
    )
    post = gl * prior
    post /= post.sum(axis=2, keepdims=True)
    post[:, ploidy == 0, :] = 0.0
    return post


def refine_genotypes(
    gl: np.ndarray,
    ploidy: np.ndarray,
    positions: np.ndarray,
    settings: RefineSettings | None = None,
) -> np.ndarray:
    """Genotype posteriors of one chromosome from likelihoods and the population's haplotypes.

    Gibbs sampling of haplotypes with haploid Li-Stephens HMM updates (Li & Stephens
    2003; the sampler of GLIMPSE, Rubinacci et al. 2021), initialised from the
    most probable genotypes under a Hardy-Weinberg prior at the EM allele frequency
    (the role of the reference panel in GLIMPSE); see the module documentation.

    Parameters
    ----------
    gl : ndarray, shape (M, N, 3)
        Genotype likelihoods (not log; any positive scale per sample and site) of
        0/0, 0/1, 1/1; a haploid sample uses the first two entries (allele 0, 1).
        No data = equal likelihoods. A diploid sample's haploid call (e.g. at a
        pseudo-autosomal boundary) is given as ``(L0, 0, L1)``.
    ploidy : ndarray, shape (N,)
        Haplotypes per sample on this chromosome: 0 (no copy: left out), 1 or 2.
    positions : ndarray, shape (M,)
        Positions of the sites (sorted), for the switch rate.
    settings : RefineSettings, optional
        Model and sampler settings (defaults: :class:`RefineSettings`).

    Returns
    -------
    ndarray, shape (M, N, 3)
        Posterior genotype probabilities (rows sum to 1; haploid samples in the first
        two entries; zeros for ploidy 0). A sample with no other haplotype to copy
        from gets the Hardy-Weinberg posterior at the estimated frequency.
    """
    from breedomics.calling._lshmm import haploid_update  # numba: compiled on first use

    s = settings or RefineSettings()
    s.check()
    gl = np.asarray(gl, dtype=np.float64)
    ploidy = np.asarray(ploidy, dtype=np.int64)
    positions = np.asarray(positions, dtype=np.float64)
    M, N = gl.shape[:2]
    if gl.ndim != 3 or gl.shape[2] != 3 or ploidy.shape != (N,) or positions.shape != (M,):
        raise ValueError("refine_genotypes: gl must be (M, N, 3), ploidy (N,), positions (M,)")
    if np.any((ploidy < 0) | (ploidy > 2)):
        raise ValueError("refine_genotypes: ploidy must be 0, 1 or 2")
    gl = gl.copy()
    gl[:, ploidy == 1, 2] = 0.0
    scale = gl.max(axis=2, keepdims=True)
    bad = ~np.isfinite(scale[..., 0]) | (scale[..., 0] <= 0)
    gl[bad] = np.array([1.0, 1.0, 1.0])
    scale[bad] = 1.0
    gl /= scale
    gl[:, ploidy == 1, 2] = 0.0
    if M == 0:
        return np.zeros((0, N, 3))

    p = allele_frequencies(gl, ploidy)
    prior_post = _prior_posterior(gl, ploidy, p)

    # haplotype slots: sample i owns slots hap_of[i, :ploidy[i]]
    hap_of = np.full((N, 2), -1, dtype=np.int64)
    owner = []
    for i in range(N):
        for j in range(ploidy[i]):
            hap_of[i, j] = len(owner)
            owner.append(i)
    owner_arr = np.asarray(owner, dtype=np.int64)
    n_hap = len(owner)
    rng = np.random.default_rng(s.seed)
    H = np.zeros((M, max(n_hap, 1)), dtype=np.uint8)
    g0 = prior_post.argmax(axis=2)
    for i in range(N):
        if ploidy[i] == 2:
            g = g0[:, i]
            first = rng.random(M) < 0.5  # a het's ALT on the first or second slot
            H[:, hap_of[i, 0]] = (g == 2) | ((g == 1) & first)
            H[:, hap_of[i, 1]] = (g == 2) | ((g == 1) & ~first)
        elif ploidy[i] == 1:
            H[:, hap_of[i, 0]] = g0[:, i] == 1

    acc = np.zeros((M, N, 3))
    n_acc = np.zeros(N)
    gaps = np.diff(positions, prepend=positions[0])
    rate = 4.0 * s.ne * s.cm_per_mb * 1e-8
    post = np.empty(M)
    new_hap = np.empty(M, dtype=np.uint8)
    emis = np.empty((M, 2))
    site = np.arange(M)
    alpha: np.ndarray | None = None
    err = s.error if s.error > 0 else ERROR_START
    for it in range(s.iterations):
        mis_sum = sites_sum = 0.0
        for i in range(N):
            if ploidy[i] == 0:
                continue
            others = np.flatnonzero(owner_arr != i)
            if others.size == 0:
                continue
            for j in range(ploidy[i]):
                slot = hap_of[i, j]
                if ploidy[i] == 2:
                    x = H[:, hap_of[i, 1 - j]].astype(np.int64)
                    emis[:, 0] = gl[site, i, x]
                    emis[:, 1] = gl[site, i, x + 1]
                else:
                    emis[:] = gl[:, i, :2]
                states = others
                if 0 < s.max_states < others.size:
                    dist = (H[:, others] != H[:, [slot]]).sum(axis=0)
                    states = np.sort(others[np.argsort(dist, kind="stable")[: s.max_states]])
                K = states.size
                switch = -np.expm1(-rate * gaps / K)
                if alpha is None or alpha.shape[1] < K:
                    alpha = np.empty((M, K), dtype=np.float32)
                u = rng.random((M, 3))
                mis = haploid_update(H, states, emis, switch, err, u, post, new_hap, alpha)
                mis_sum += mis
                sites_sum += M
                H[:, slot] = new_hap
                if it < s.burnin:
                    continue
                if ploidy[i] == 2:
                    acc[site, i, x] += 1.0 - post
                    acc[site, i, x + 1] += post
                else:
                    acc[:, i, 0] += 1.0 - post
                    acc[:, i, 1] += post
                n_acc[i] += 1
        if s.error == 0 and sites_sum > 0:  # Baum-Welch update of the copying error
            err = float(np.clip(mis_sum / sites_sum, ERROR_MIN, ERROR_MAX))
    out = prior_post.copy()
    done = n_acc > 0
    out[:, done, :] = acc[:, done, :] / n_acc[done][None, :, None]
    return out


def info_score(gp: np.ndarray, ploidy: np.ndarray) -> np.ndarray:
    """IMPUTE information measure per site (Marchini & Howie 2010, *Nat Rev Genet* 11:499).

    ``1 - sum_i Var(G_i) / (n_alleles theta (1 - theta))`` with ``theta`` the mean
    posterior ALT dosage per allele; 1 where fewer than half a minor allele is expected
    (``n_alleles min(theta, 1 - theta) < 0.5``: a fixed site); clipped to [0, 1].

    Parameters
    ----------
    gp : ndarray, shape (M, N, 3)
        Genotype posteriors as returned by :func:`refine_genotypes`.
    ploidy : ndarray, shape (N,)
        Haplotypes per sample (0 = left out).
    """
    keep = ploidy > 0
    g = gp[:, keep, :]
    ds = g[:, :, 1] + 2 * g[:, :, 2]
    e2 = g[:, :, 1] + 4 * g[:, :, 2]
    n_alleles = ploidy[keep].sum()
    if n_alleles == 0:
        return np.ones(gp.shape[0])
    theta = ds.sum(axis=1) / n_alleles
    denom = n_alleles * theta * (1 - theta)
    var = (e2 - ds * ds).sum(axis=1)
    info = 1.0 - var / np.maximum(denom, 1e-300)
    # under half an expected minor allele the ratio is noise: the site is (near) fixed
    fixed = n_alleles * np.minimum(theta, 1 - theta) < 0.5
    return np.clip(np.where(fixed, 1.0, info), 0.0, 1.0)


# --------------------------------------------------------------------------- VCF I/O

#: Header lines the refinement adds: (kind, tag, number, description).
HEADER_TAGS = (
    ("FORMAT", "GP", "G",
     "Genotype posterior probabilities (breedomics refine-calls: Li-Stephens haplotype model)"),
    ("FORMAT", "DS", "A", "Posterior ALT allele dosage (breedomics refine-calls)"),
    ("INFO", "RINFO", "1",
     "Refinement information measure: 1 - posterior genotype variance / binomial "
     "variance (IMPUTE info); 1 = genotypes certain"),
)  # fmt: skip


def _chunks(vcf, path: Path) -> Iterator[tuple[str, list]]:
    """Records of the VCF grouped by chromosome (each chromosome must be contiguous)."""
    seen: set[str] = set()
    chrom, buf = None, []
    for v in vcf:
        if v.CHROM != chrom:
            if chrom is not None:
                yield chrom, buf
            if v.CHROM in seen:
                raise UserError(
                    f"{path}: records of {v.CHROM} are not contiguous; sort the file "
                    f"(bcftools sort) before refine-calls."
                )
            seen.add(v.CHROM)
            chrom, buf = v.CHROM, []
        buf.append(v)
    if chrom is not None:
        yield chrom, buf


@dataclass
class RefineStats:
    """What :func:`refine_vcf` did (printed to the log)."""

    records: int = 0
    refined: int = 0
    passed_through: int = 0
    changed_genotypes: int = 0
    filled_genotypes: int = 0
    inbred_samples: set[int] = field(default_factory=set)
    seconds: float = 0.0


def refine_vcf(
    vcf_in: Path,
    vcf_out: Path,
    settings: RefineSettings | None = None,
    inbred: bool = False,
    only_pass: bool = False,
    lines: list[str] | None = None,
) -> RefineStats:
    """Refine every biallelic record of ``vcf_in`` and write ``vcf_out`` (bgzipped VCF).

    Parameters
    ----------
    vcf_in : Path
        Calls with ``FORMAT/PL`` (``bcftools call``), split to biallelic records
        (``bcftools norm -m -any``), sorted. Multiallelic and symbolic records, and with
        ``only_pass`` records whose FILTER is set, are written unchanged and do not
        inform the others.
    vcf_out : Path
        Output (``.vcf.gz`` bgzipped and tabix-indexed, ``.bcf`` BCF, else plain VCF);
        every input record is written, in order.
    settings : RefineSettings, optional
        Model settings.
    inbred : bool
        One haplotype per sample (inbred lines); genotypes become ``0/0`` or ``1/1``.
    only_pass : bool
        Refine only PASS (or ``.``) records.
    lines : list of str, optional
        The samples to model as inbred lines (``estimate-inbreeding --lines-out``);
        default: found here with ``settings.inbred_f``.

    Returns
    -------
    RefineStats
    """
    from cyvcf2 import VCF, Writer

    s = settings or RefineSettings()
    s.check()
    t0 = time.perf_counter()
    vcf_in = Path(vcf_in)
    if not vcf_in.exists():
        raise UserError(f"{vcf_in}: no such file (the calls to refine).")
    try:
        vcf = VCF(str(vcf_in))
    except (OSError, Exception) as exc:
        raise UserError(f"{vcf_in}: cannot read as VCF/BCF ({exc}).") from exc
    header = vcf.raw_header
    tag = likelihood_tag(header)
    if tag is None:
        raise UserError(
            f"{vcf_in}: no FORMAT/PL or FORMAT/GL (genotype likelihoods). Refinement needs "
            f"the calls of bcftools call (which keeps mpileup's PL) or freebayes (GL); do "
            f"not drop them before refining."
        )
    samples = list(vcf.samples)
    n = len(samples)
    if n < 2:
        raise UserError(
            f"{vcf_in}: {n} sample(s); population-aware refinement needs at least two "
            f"(switch it off with calling.refine.enabled: false)."
        )
    has = {tag: f"##INFO=<ID={tag}," in header for tag in ("AC", "AN", "AF", "F_MISSING")}
    has_gq = "##FORMAT=<ID=GQ," in header
    for kind, tag_id, number, text in HEADER_TAGS:
        add = vcf.add_format_to_header if kind == "FORMAT" else vcf.add_info_to_header
        add({"ID": tag_id, "Number": number, "Type": "Float", "Description": text})
    if lines is not None:
        unknown = sorted(set(lines) - set(samples))
        if unknown:
            raise UserError(
                f"refine-calls: inbred lines not in {vcf_in}: {', '.join(unknown[:5])}; "
                f"pass the lines file made from these calls (estimate-inbreeding)."
            )
        is_line = np.isin(samples, list(lines))
    elif not inbred and s.inbred_f <= 1:
        gl_f, _ = read_diploid_likelihoods(vcf_in, only_pass)
        is_line = inbreeding_table(gl_f, samples, min_f=s.inbred_f)["line"].to_numpy()
    else:
        is_line = np.zeros(n, dtype=bool)
    vcf_out = Path(vcf_out)
    vcf_out.parent.mkdir(parents=True, exist_ok=True)
    name = vcf_out.name
    mode = "wz" if name.endswith(".gz") else "wb" if name.endswith(".bcf") else "w"
    writer = Writer(str(vcf_out), vcf, mode=mode)
    stats = RefineStats()
    for chrom, records in _chunks(vcf, vcf_in):
        keep = [m for m, v in enumerate(records) if biallelic(v, only_pass)]
        sub = [records[m] for m in keep]
        if sub:
            gl, rec_ploidy = likelihoods(sub, n, tag)
            ploidy = rec_ploidy.max(axis=0)
            # an inbred line is one haplotype: only its homozygous likelihoods count
            one_hap = (ploidy == 2) & (inbred | is_line)
            stats.inbred_samples |= set(np.flatnonzero(one_hap).tolist())
            model_ploidy = np.where(one_hap, 1, ploidy)
            one = model_ploidy == 1
            gl[:, one] = np.stack([gl[:, one, 0], gl[:, one, 2], 0 * gl[:, one, 0]], axis=2)
            gp = refine_genotypes(gl, model_ploidy, np.array([v.POS for v in sub]), s)
            # diploid layout of the posteriors (a line's two copies: 0/0 or 1/1)
            full = gp.copy()
            full[:, one_hap] = np.stack(
                [gp[:, one_hap, 0], 0 * gp[:, one_hap, 0], gp[:, one_hap, 1]], axis=2
            )
            info = info_score(full, ploidy)
            for m, v in enumerate(sub):
                _write_posteriors(v, full[m], ploidy, rec_ploidy[m], info[m], has, has_gq,
                                  stats)  # fmt: skip
        stats.refined += len(sub)
        stats.passed_through += len(records) - len(sub)
        for v in records:
            writer.write_record(v)
        stats.records += len(records)
        print(f"{chrom}: {len(records)} records, {len(sub)} refined", file=sys.stderr)
    writer.close()
    vcf.close()
    if mode == "wz":  # bgzipped: tabix index beside it (.tbi)
        import pysam

        pysam.tabix_index(str(vcf_out), preset="vcf", force=True)
    stats.seconds = time.perf_counter() - t0
    return stats


def _write_posteriors(
    v, gp: np.ndarray, ploidy: np.ndarray, rec_ploidy: np.ndarray, info: float,
    has: dict[str, bool], has_gq: bool, stats: RefineStats,
) -> None:  # fmt: skip
    """Set GT, GP, DS (and GQ, AC/AN/AF/F_MISSING) of one record from its posteriors."""
    n = len(ploidy)
    old = v.genotype.array()
    gts = []
    # cyvcf2 writes a NaN payload as missing: a haploid genotype's GP is "p0,p1,."
    gp_out = np.full((n, 3), FLOAT_MISSING, dtype=np.float32)
    ds = np.full((n, 1), FLOAT_MISSING, dtype=np.float32)
    gq = np.full((n, 1), INT_MISSING, dtype=np.int32)
    ac = an = 0
    n_missing = 0
    for i in range(n):
        was = old[i, :-1]
        was_called = bool((was >= 0).any() and not (was == -1).any())
        if ploidy[i] == 0:
            gts.append([-1] * max(int((was != -2).sum()), 1) + [False])
            gp_out[i, 0] = FLOAT_MISSING
            n_missing += 1
            continue
        if ploidy[i] == 2 and rec_ploidy[i] == 1:  # haploid call in a diploid sample
            probs = np.array([gp[i, 0], gp[i, 2]])
            probs = probs / probs.sum() if probs.sum() > 0 else np.array([0.5, 0.5])
            out_ploidy = 1
        elif ploidy[i] == 1:
            probs = gp[i, :2]
            out_ploidy = 1
        else:
            probs = gp[i]
            out_ploidy = 2
        best = int(np.argmax(probs))
        if out_ploidy == 2:
            alleles = [[0, 0], [0, 1], [1, 1]][best]
            dosage = probs[1] + 2 * probs[2]
        else:
            alleles = [best]
            dosage = probs[1]
        new = np.array(alleles)
        if not was_called:
            stats.filled_genotypes += 1
        elif sorted(was[was >= 0].tolist()) != alleles:
            stats.changed_genotypes += 1
        gts.append([*alleles, False])
        gp_out[i, : len(probs)] = probs
        ds[i, 0] = dosage
        err = 1.0 - float(probs[best])
        gq[i, 0] = 99 if err <= 10**-9.9 else min(99, int(round(-10 * math.log10(err))))
        ac += int(new.sum())
        an += len(alleles)
    v.genotypes = gts
    v.set_format("GP", gp_out)
    v.set_format("DS", ds)
    if has_gq:
        v.set_format("GQ", gq)
    v.INFO["RINFO"] = float(round(info, 4))
    if has["AC"]:
        v.INFO["AC"] = ac
    if has["AN"]:
        v.INFO["AN"] = an
    if has["AF"]:
        v.INFO["AF"] = float(ac / an) if an else 0.0
    if has["F_MISSING"]:
        v.INFO["F_MISSING"] = float(n_missing / n)


# --------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``refine-calls`` options."""
    d = RefineSettings()
    parser.add_argument("vcf", type=Path, help="calls with FORMAT/PL (bcftools call), biallelic")
    parser.add_argument("--out", type=Path, required=True, help="refined VCF (.vcf.gz / .bcf)")
    parser.add_argument("--iterations", type=int, default=d.iterations, help="Gibbs rounds")
    parser.add_argument("--burnin", type=int, default=d.burnin, help="rounds not averaged")
    parser.add_argument(
        "--error", type=float, default=d.error, help="copying error rate (0: estimated)"
    )
    parser.add_argument("--ne", type=float, default=d.ne, help="effective population size")
    parser.add_argument(
        "--cm-per-mb", type=float, default=d.cm_per_mb, help="recombination rate (cM/Mb)"
    )
    parser.add_argument(
        "--max-states", type=int, default=d.max_states,
        help="HMM states per update: the closest haplotypes (0 = all)",
    )  # fmt: skip
    parser.add_argument(
        "--inbred-f", type=float, default=d.inbred_f,
        help="model a sample with inbreeding coefficient >= this as one haplotype",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument(
        "--inbred", action="store_true", help="inbred lines: one haplotype per sample"
    )
    parser.add_argument(
        "--lines", type=Path,
        help="samples to model as inbred lines, one per line (estimate-inbreeding "
        "--lines-out); default: estimated here with --inbred-f",
    )  # fmt: skip
    parser.add_argument(
        "--only-pass", action="store_true", help="refine PASS records only; others unchanged"
    )


def run(args: argparse.Namespace) -> int:
    """Refine ``args.vcf`` into ``args.out`` and print a summary."""
    settings = RefineSettings(
        iterations=args.iterations, burnin=args.burnin, error=args.error, ne=args.ne,
        cm_per_mb=args.cm_per_mb, max_states=args.max_states, inbred_f=args.inbred_f,
        seed=args.seed,
    )  # fmt: skip
    lines = None
    if args.lines is not None:
        if not args.lines.exists():
            raise UserError(f"{args.lines}: no such file (the inbred lines to model).")
        lines = [x.strip() for x in args.lines.read_text().splitlines() if x.strip()]
    st = refine_vcf(args.vcf, args.out, settings, inbred=args.inbred,
                    only_pass=args.only_pass, lines=lines)  # fmt: skip
    print(
        f"refine-calls: {st.records} records, {st.refined} refined, "
        f"{st.passed_through} passed through; {st.changed_genotypes} genotypes changed, "
        f"{st.filled_genotypes} missing genotypes filled; "
        f"{len(st.inbred_samples)} samples modelled as inbred lines; {st.seconds:.1f} s"
    )
    return 0
