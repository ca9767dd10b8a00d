"""Simulated genotypes and traits with known QTL for GWAS tests and benchmarks.

Two genotype generators are provided:

* :func:`simulate_structured` -- a coalescent island model (msprime;
  Baumdicker et al. 2022, *Genetics* 220:iyab229) with ``n_groups`` demes
  exchanging migrants, so that the panel has population structure *and*
  realistic linkage disequilibrium. Lines can be inbred (one haplotype per
  line, coded 0/2 like soybean or rice accessions) or outbred diploids.
* :func:`iter_balding_nichols` -- a fast, streaming Balding-Nichols model
  (Balding & Nichols 1995, *Genetica* 96:3): group allele frequencies drawn
  around an ancestral frequency with a given Fst, no LD. Used to generate
  benchmark panels of any size (e.g. 1,200 x 5,000,000) chunk by chunk.

:func:`simulate_traits` adds quantitative traits with known QTL, an
infinitesimal polygenic background and a group (stratification) effect, and
returns the QTL truth. Haplotypes, group frequencies, genotypes and variant tables
come from :mod:`breedomics.testing.genomes` (whose References give the papers in full),
variance shares from :mod:`breedomics.testing.traits`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from breedomics.testing.genomes import (
    balding_nichols,
    binomial_genotypes,
    coalescent_chromosome,
    even_split,
    variant_table,
)
from breedomics.testing.spec import DEFAULT_GENOME, GenomeSpec
from breedomics.testing.traits import variance_scale

__all__ = [
    "SimGenotypes",
    "simulate_structured",
    "iter_balding_nichols",
    "simulate_traits",
]


@dataclass
class SimGenotypes:
    """A simulated genotype panel.

    Attributes
    ----------
    samples : list of str
        Sample names.
    variants : pandas.DataFrame
        ``chrom, pos, id, ref, alt`` (``alt`` is the counted allele).
    dosage : numpy.ndarray
        ``float32`` ALT dosage ``(n_samples, n_variants)``.
    groups : numpy.ndarray
        Deme index of every sample.
    """

    samples: list[str]
    variants: pd.DataFrame
    dosage: np.ndarray
    groups: np.ndarray


def simulate_structured(
    genome: GenomeSpec = DEFAULT_GENOME,
    *,
    migration: float = 5e-4,
    inbred: bool = True,
    segments: int = 1,
) -> SimGenotypes:
    """Simulate a structured panel with LD under a coalescent island model.

    Parameters
    ----------
    genome : GenomeSpec
        ``n_samples`` (default 300) lines or animals, split evenly over ``n_groups`` (4)
        demes of the island model;
        ``n_snps`` (3000) SNPs kept, spread evenly over the chromosomes (a random,
        position-sorted subset of the biallelic sites with MAF >= ``maf_min``, 0.05);
        ``n_chrom`` (10) chromosomes of ``chrom_length`` bp (2,000,000); ``ne`` (2,000)
        of each deme; ``mu`` (2e-8) and ``rho`` (1e-8); ``seed``.
    migration : float
        Symmetric backward migration rate between demes (smaller = more
        structure; ``4 ne m`` migrants per generation).
    inbred : bool
        One haplotype per line coded 0/2 (inbred lines) instead of diploids.
    segments : int
        Simulate each chromosome as this many independent (unlinked) pieces
        of ``chrom_length / segments`` bp of sequence each, laid end to end
        with a 10-fold gap (positions span ``10 x chrom_length``): LD then
        decays to background within a piece at a fraction of the cost of
        simulating a long chromosome.

    Returns
    -------
    SimGenotypes
    """
    import msprime

    genome = genome.resolve(
        "simulate_structured", n_samples=300, n_groups=4, n_snps=3000, n_chrom=10,
        chrom_length=2_000_000, ne=2_000, mu=2e-8, rho=1e-8, maf_min=0.05,
    )  # fmt: skip
    n_samples, n_groups, n_snps = genome.n_samples, genome.n_groups, genome.n_snps
    n_chrom, chrom_length, ne = genome.n_chrom, genome.chrom_length, genome.ne
    rho, mu, maf_min, seed = genome.rho, genome.mu, genome.maf_min, genome.seed
    rng = np.random.default_rng(seed)
    sizes = even_split(n_samples, n_groups)
    dem = msprime.Demography.island_model([ne] * n_groups, migration_rate=migration)
    ploidy = 1 if inbred else 2
    sample_sets = [
        msprime.SampleSet(int(k), population=dem.populations[g].name, ploidy=ploidy)
        for g, k in enumerate(sizes)
    ]
    per_chrom = even_split(n_snps, n_chrom)
    dos_parts, var_parts = [], []
    seg_len = chrom_length // segments
    for c in range(n_chrom):
        gparts, pparts = [], []
        for sgi in range(segments):
            seeds = seed * 1009 + c * 101 + sgi + 1, seed * 2003 + c * 101 + sgi + 1
            _, hap, pos = coalescent_chromosome(sample_sets, dem, seg_len, rho, mu, *seeds)
            pparts.append(pos + sgi * seg_len * (10 if segments > 1 else 1))
            # (sites, samples): a line carries two copies of its haplotype
            dos = hap * 2 if inbred else hap[0::2] + hap[1::2]
            gparts.append(np.ascontiguousarray(dos.T, dtype=np.float32))
        g = np.vstack(gparts)
        pos = np.concatenate(pparts)
        p = g.mean(axis=1) / 2
        ok = np.flatnonzero(np.minimum(p, 1 - p) >= maf_min)
        k = int(per_chrom[c])
        if len(ok) < k:
            raise ValueError(
                f"chromosome {c + 1}: only {len(ok)} SNPs with MAF >= {maf_min}; "
                "increase chrom_length or ne"
            )
        keep = np.sort(rng.choice(ok, k, replace=False))
        var_parts.append(variant_table(str(c + 1), pos[keep], rng))
        dos_parts.append(g[keep].T)
    groups = np.repeat(np.arange(n_groups), sizes)
    samples = [f"S{g + 1}_{i:04d}" for i, g in enumerate(groups)]
    variants = pd.concat(var_parts, ignore_index=True)
    return SimGenotypes(samples, variants, np.ascontiguousarray(np.hstack(dos_parts)), groups)


def iter_balding_nichols(
    genome: GenomeSpec = DEFAULT_GENOME,
    *,
    fst: float = 0.1,
    chunk_size: int = 20000,
    spacing: int = 1000,
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Stream a Balding-Nichols panel chunk by chunk (no LD, group structure).

    Ancestral frequencies are uniform on [0.05, 0.95]; group frequencies are
    ``Beta(p (1-F)/F, (1-p)(1-F)/F)``; genotypes are binomial. SNPs with
    sample MAF below ``maf_min`` are redrawn as monomorphic-free copies of
    their neighbours' frequencies (simply: re-drawn once, then kept).

    Parameters
    ----------
    genome : GenomeSpec
        ``n_samples`` and ``n_snps`` (required): the panel's size; ``n_groups`` (4):
        groups, over which the samples are split evenly; ``n_chrom`` (10)
        chromosomes (SNPs split evenly, ``spacing`` bp apart); ``maf_min`` (0.01): SNPs
        whose sample MAF falls below it are re-drawn once; ``seed``.
    fst : float
        Wright's Fst between groups.
    chunk_size : int
        SNPs per yielded chunk (chunks never straddle chromosomes).
    spacing : int
        Distance between consecutive SNPs (bp).

    Yields
    ------
    variants : pandas.DataFrame
    dosage : numpy.ndarray
        ``float32`` ``(n_samples, n_chunk)``.
    """
    genome = genome.resolve(
        "iter_balding_nichols", required=("n_samples", "n_snps"), n_groups=4, n_chrom=10,
        maf_min=0.01,
    )  # fmt: skip
    n_samples, n_groups, n_snps = genome.n_samples, genome.n_groups, genome.n_snps
    n_chrom = genome.n_chrom
    maf_min, seed = genome.maf_min, genome.seed
    rng = np.random.default_rng(seed)
    grp = np.repeat(np.arange(n_groups), even_split(n_samples, n_groups))
    per_chrom = even_split(n_snps, n_chrom)
    for c in range(n_chrom):
        chrom = str(c + 1)
        for start in range(0, int(per_chrom[c]), chunk_size):
            k = min(chunk_size, int(per_chrom[c]) - start)
            p = rng.uniform(0.05, 0.95, k)
            g = binomial_genotypes(balding_nichols(p, fst, n_groups, rng)[grp], rng)
            maf = g.mean(axis=0) / 2
            bad = np.flatnonzero(np.minimum(maf, 1 - maf) < maf_min)
            if len(bad):
                g[:, bad] = binomial_genotypes(np.full((n_samples, len(bad)), 0.5), rng)
            pos = (np.arange(start, start + k, dtype=np.int64) + 1) * spacing
            yield variant_table(chrom, pos, rng), g


def simulate_traits(
    dosage: np.ndarray,
    variants: pd.DataFrame,
    n_traits: int = 1,
    n_qtl: int = 10,
    h2_qtl: float = 0.3,
    h2_poly: float = 0.3,
    groups: np.ndarray | None = None,
    group_var: float = 0.0,
    maf_qtl: float = 0.1,
    min_qtl_distance: int = 500_000,
    seed: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate quantitative traits with known QTL.

    ``y = sum_q x_q b_q + g_poly + s_group + e`` where the QTL part explains
    ``h2_qtl`` of the phenotypic variance (equal expected shares), the
    infinitesimal background ``g_poly`` (all SNPs, normal effects) explains
    ``h2_poly``, a fixed group shift (stratification, confounded with
    structure) explains ``group_var`` and the rest is Gaussian noise.

    Parameters
    ----------
    dosage : numpy.ndarray
        ``(n_samples, n_variants)`` dosage without missing values.
    variants : pandas.DataFrame
        Variant table (``chrom, pos, id``).
    n_traits, n_qtl : int
        Number of traits and of QTL per trait.
    h2_qtl, h2_poly, group_var : float
        Variance fractions (sum < 1).
    groups : numpy.ndarray, optional
        Group index per sample (needed if ``group_var > 0``).
    maf_qtl : float
        Minimum MAF of a QTL.
    min_qtl_distance : int
        Minimum distance (bp) between QTL of the same trait on a chromosome.
    seed : int
        Random seed.

    Returns
    -------
    phenotypes : pandas.DataFrame
        Columns ``trait1 ... traitT`` (index: sample order of ``dosage``).
    qtl : pandas.DataFrame
        ``trait, id, chrom, pos, index, effect, var_explained``.
    """
    rng = np.random.default_rng(seed)
    n, m = dosage.shape
    x = dosage.astype(np.float64)
    p = x.mean(axis=0) / 2
    maf = np.minimum(p, 1 - p)
    z = x - 2 * p
    sd = z.std(axis=0)
    sd[sd == 0] = 1
    chrom = variants["chrom"].astype(str).to_numpy()
    pos = variants["pos"].to_numpy()
    phen = {}
    truth = []
    e_noise = 1 - h2_qtl - h2_poly - group_var
    if e_noise <= 0:
        raise ValueError("h2_qtl + h2_poly + group_var must be < 1")
    for t in range(n_traits):
        cand = rng.permutation(np.flatnonzero(maf >= maf_qtl))
        chosen: list[int] = []
        for j in cand:
            if len(chosen) == n_qtl:
                break
            if any(
                chrom[j] == chrom[i] and abs(pos[j] - pos[i]) < min_qtl_distance for i in chosen
            ):
                continue
            chosen.append(int(j))
        q = np.asarray(sorted(chosen), dtype=np.int64)
        y = np.zeros(n)
        if len(q):
            b = rng.normal(size=len(q)) * rng.choice([-1, 1], len(q))
            zq = z[:, q] / sd[q]
            gq = zq @ b
            scale = variance_scale(gq, h2_qtl) if gq.var() > 0 else 0.0
            gq *= scale
            y += gq
            b_std = b * scale
            ve = (zq * b_std).var(axis=0)
            for k, j in enumerate(q):
                truth.append(
                    {
                        "trait": f"trait{t + 1}",
                        "id": variants["id"].iloc[j],
                        "chrom": chrom[j],
                        "pos": int(pos[j]),
                        "index": int(j),
                        "effect": float(b_std[k] / sd[j]),
                        "var_explained": float(ve[k]),
                    }
                )
        if h2_poly > 0:
            gp = (z / sd) @ rng.normal(size=m)
            y += gp * variance_scale(gp, h2_poly)
        if group_var > 0 and groups is not None:
            shift = rng.normal(size=int(groups.max()) + 1)[groups]
            if shift.var() > 0:
                y += (shift - shift.mean()) * variance_scale(shift, group_var)
        y += rng.normal(size=n) * np.sqrt(e_noise)
        phen[f"trait{t + 1}"] = y
    return pd.DataFrame(phen), pd.DataFrame(
        truth, columns=["trait", "id", "chrom", "pos", "index", "effect", "var_explained"]
    )
