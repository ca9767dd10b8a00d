"""Building blocks of simulated genomes: coalescent haplotypes, structured allele
frequencies, variant tables, missing calls.

Every simulator of :mod:`breedomics.testing` makes its genotypes from these pieces, so a
variant table, a mutation model or the Balding-Nichols frequencies are written once.
Each function takes the caller's :class:`numpy.random.Generator` and draws from it in a
fixed order: a simulator that calls them in the same order gets the same numbers.

* Coalescent haplotypes (:func:`coalescent_chromosome`, :func:`mutated_haplotypes`):
  msprime genealogies (Baumdicker et al. 2022) with mutations under the binary
  (infinite-alleles-free, two-state) model on a discrete genome, read back as a haplotype
  matrix of 0/1 alleles.
* Structured allele frequencies (:func:`balding_nichols`): group frequencies drawn around
  an ancestral one with a given Fst (Balding & Nichols 1995), then binomial genotypes
  (:func:`binomial_genotypes`), i.e. Hardy-Weinberg within groups.
* Variant tables (:func:`variant_table`): ``chrom, pos, id, ref, alt`` with random
  distinct REF/ALT bases.

References
----------
Balding, D. J. & Nichols, R. A. (1995). A method for quantifying differentiation between
populations at multi-allelic loci and its implications for investigating identity and
paternity. *Genetica* 96:3-12.

Baumdicker, F. et al. (2022). Efficient ancestry and mutation simulation with msprime
1.0. *Genetics* 220:iyab229.

Hudson, R. R. (1990). Gene genealogies and the coalescent process. *Oxford Surveys in
Evolutionary Biology* 7:1-44.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "BASES",
    "even_split",
    "variant_table",
    "mutated_haplotypes",
    "coalescent_chromosome",
    "balding_nichols",
    "binomial_genotypes",
    "add_missing",
]

#: The four bases, indexed by the integer codes the variant tables draw.
BASES = np.array(list("ACGT"))


def even_split(total: int, parts: int) -> np.ndarray:
    """``total`` items split over ``parts`` as evenly as possible, the first parts larger.

    Parameters
    ----------
    total, parts : int
        Items (samples, SNPs) and groups (demes, chromosomes).

    Returns
    -------
    numpy.ndarray
        ``parts`` integer sizes summing to ``total``.
    """
    sizes = np.full(parts, total // parts)
    sizes[: total - sizes.sum()] += 1
    return sizes


def variant_table(chrom: str, pos: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Variant table of one chromosome with random, distinct REF and ALT bases.

    Parameters
    ----------
    chrom : str
        Chromosome name.
    pos : numpy.ndarray
        1-based positions.
    rng : numpy.random.Generator
        Draws the REF base, then the offset of ALT from it (1-3).

    Returns
    -------
    pandas.DataFrame
        ``chrom, pos, id, ref, alt`` with ids ``<chrom>_<pos>``.
    """
    ref = rng.integers(0, 4, len(pos))
    alt = (ref + rng.integers(1, 4, len(pos))) % 4
    return pd.DataFrame(
        {
            "chrom": chrom,
            "pos": pos.astype(np.int64),
            "id": [f"{chrom}_{p}" for p in pos],
            "ref": BASES[ref],
            "alt": BASES[alt],
        }
    )


def mutated_haplotypes(ts, mu: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Mutations on a genealogy, read back as haplotypes of biallelic sites.

    Parameters
    ----------
    ts : tskit.TreeSequence
        Genealogy of the sampled haplotypes (``msprime.sim_ancestry``).
    mu : float
        Mutation rate per bp per generation (binary 0/1 model, discrete genome).
    seed : int
        msprime's mutation seed.

    Returns
    -------
    haplotypes : numpy.ndarray
        ``int8 (n_haplotypes, n_sites)`` alleles 0/1, sample-node order.
    pos : numpy.ndarray
        1-based ``int64`` positions of the sites.
    """
    import msprime

    ts = msprime.sim_mutations(
        ts, rate=mu, model=msprime.BinaryMutationModel(), discrete_genome=True, random_seed=seed
    )
    g = ts.genotype_matrix().astype(np.int8)
    pos = ts.tables.sites.position.astype(np.int64) + 1
    keep = g.max(axis=1) <= 1
    return np.ascontiguousarray(g[keep].T), pos[keep]


def coalescent_chromosome(
    samples, demography, length: int, rho: float, mu: float, seed: int, mutation_seed=None
):
    """One diploid msprime chromosome: its genealogy and its biallelic haplotypes.

    Parameters
    ----------
    samples : int or list of msprime.SampleSet
        Sampled individuals (``msprime.sim_ancestry``'s ``samples``).
    demography : msprime.Demography
    length : int
        Sequence length (bp).
    rho, mu : float
        Recombination and mutation rates per bp per generation.
    seed : int
        Seed of the genealogy, and of the mutations unless ``mutation_seed`` is given.
    mutation_seed : int, optional
        Seed of the mutations.

    Returns
    -------
    ts : tskit.TreeSequence
        The genealogy (for branch statistics).
    haplotypes, pos : numpy.ndarray
        As :func:`mutated_haplotypes`.
    """
    import msprime

    ts = msprime.sim_ancestry(
        samples, demography=demography, ploidy=2, sequence_length=length,
        recombination_rate=rho, random_seed=seed,
    )  # fmt: skip
    hap, pos = mutated_haplotypes(ts, mu, seed if mutation_seed is None else mutation_seed)
    return ts, hap, pos


def balding_nichols(
    p: np.ndarray, fst: float, n_groups: int, rng: np.random.Generator
) -> np.ndarray:
    """Group allele frequencies around ancestral ones under the Balding-Nichols model.

    Each group's frequency is ``Beta(p (1 - F) / F, (1 - p) (1 - F) / F)``: mean ``p``,
    variance ``F p (1 - p)``, so ``F`` is Wright's Fst between the groups (the
    drift of ``n_groups`` demes split from one ancestral population).

    Parameters
    ----------
    p : numpy.ndarray
        Ancestral frequencies, one per SNP.
    fst : float
        Wright's Fst, in (0, 1).
    n_groups : int
        Number of groups.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        ``(n_groups, len(p))`` frequencies.
    """
    a = (1 - fst) / fst
    return rng.beta(p * a, (1 - p) * a, size=(n_groups, len(p)))


def binomial_genotypes(freq: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Diploid ALT counts drawn under Hardy-Weinberg from per-sample frequencies.

    Parameters
    ----------
    freq : numpy.ndarray
        ``(n_samples, n_snps)`` ALT frequency of each sample's group.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        ``float32`` counts 0/1/2.
    """
    return rng.binomial(2, freq).astype(np.float32)


def add_missing(geno: np.ndarray, rate: float, rng: np.random.Generator) -> None:
    """Set a fraction ``rate`` of the calls of ``geno`` to -1 (missing) at random, in place.

    Nothing is drawn when ``rate`` is 0.
    """
    if rate > 0:
        geno[rng.random(geno.shape) < rate] = -1
