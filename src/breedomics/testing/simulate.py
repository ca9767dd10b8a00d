"""Simulated breeding panels with known truth (msprime + gene dropping).

Two kinds of germplasm are simulated, each returned as a :class:`Panel` that
holds genotypes and the truth the census must recover:

* :func:`simulate_landraces` -- structured, inbred landraces (soybean, rice):
  ``n_groups`` demes split from an ancestral population and exchange migrants
  (coalescent with structure, Hudson 1990; msprime, Baumdicker et al. 2022,
  *Genetics* 220:iyab229). Each inbred line is homozygous for one simulated
  haplotype. Admixed lines are mosaics of held-out haplotypes of 2-3 groups
  with tract-wise realised proportions (the truth); planted duplicates are
  copies of a line with a few percent of genotypes changed under a new name.
* :func:`simulate_outbred` -- an outbred breed with inbreeding (Min pig):
  founder haplotypes from a panmictic msprime population are dropped through a
  random-mating pedigree and, in the last generation, through consanguineous
  matings (half-sib, full-sib, parent-offspring, two generations of full-sib)
  with crossovers drawn under Haldane's map function. Founder-haplotype labels
  are tracked along every chromosome, so each animal's realised inbreeding F
  (fraction of the genome identical by descent from the founders) and its
  autozygous segments are known exactly; the pedigree expectation (Wright
  1922) is reported too.

Expectations for the diversity statistics come from the demographic model:
the mean pairwise coalescence time within and between groups
(structured coalescent, computed exactly by a matrix exponential) gives
``E[pi] = 2 mu E[T_w]`` (Tajima 1983) and Hudson's ``Fst = 1 - E[T_w]/E[T_b]``
(Hudson, Slatkin & Maddison 1992). Genealogy-conditional expectations
(tskit branch statistics times ``mu``; Ralph et al. 2020, *Genetics* 215:779)
are given as well, including Watterson's theta (Watterson 1975). Haplotypes, variant
tables and missing calls come from :mod:`breedomics.testing.genomes`.

References
----------
Baumdicker, F. et al. (2022). Efficient ancestry and mutation simulation with msprime
1.0. *Genetics* 220:iyab229.

Hudson, R. R., Slatkin, M. & Maddison, W. P. (1992). Estimation of levels of gene flow
from DNA sequence data. *Genetics* 132:583-589.

Ralph, P., Thornton, K. & Kelleher, J. (2020). Efficiently summarizing relationships in
large samples: a general duality between statistics of genealogies and genomes.
*Genetics* 215:779-797.

Tajima, F. (1983). Evolutionary relationship of DNA sequences in finite populations.
*Genetics* 105:437-460.

Wright, S. (1922). Coefficients of inbreeding and relationship. *Am Nat* 56:330-338.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd

from breedomics.errors import UserError
from breedomics.testing.genomes import add_missing, coalescent_chromosome, variant_table
from breedomics.testing.spec import DEFAULT_GENOME, GenomeSpec

__all__ = [
    "Panel",
    "simulate_landraces",
    "simulate_outbred",
    "simulate_species",
    "write_vcf",
    "write_plink",
    "write_truth",
    "SPECIES_PRESETS",
]


@dataclass
class Panel:
    """A simulated genotype panel and its truth.

    Attributes
    ----------
    samples : list of str
        Sample names.
    variants : pandas.DataFrame
        ``chrom, pos, id, ref, alt``; ``ref`` is the ancestral allele.
    genotypes : numpy.ndarray
        ``int8`` array ``(n_samples, n_variants)``: ALT count 0/1/2, -1 missing.
    truth : pandas.DataFrame
        One row per sample: ``sample, group, kind, duplicate_of, F, F_pedigree``
        and ``q_<group>`` ancestry proportions (SNP fraction from each group).
    segments : pandas.DataFrame
        Autozygous (IBD-by-descent) segments ``sample, chrom, start, end`` (bp,
        half-open) of the outbred simulation; empty for landraces.
    expected : dict
        ``"groups"``: DataFrame per group with ``pi`` (demographic expectation
        per bp), ``pi_branch`` and ``theta_branch`` (genealogy-conditional);
        ``"fst"``: DataFrame per group pair with ``fst`` (demographic) and
        ``fst_branch``; ``"sequence_length"``, ``"mu"``.
    params : dict
        Simulation parameters.
    """

    samples: list[str]
    variants: pd.DataFrame
    genotypes: np.ndarray
    truth: pd.DataFrame
    segments: pd.DataFrame = field(default_factory=pd.DataFrame)
    expected: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    def dosage(self) -> np.ndarray:
        """Genotypes as float32 ALT dosage with NaN for missing."""
        d = self.genotypes.astype(np.float32)
        d[self.genotypes < 0] = np.nan
        return d

    @property
    def groups(self) -> list[str]:
        """Group names (the ``q_`` columns of :attr:`truth`)."""
        return [c[2:] for c in self.truth.columns if c.startswith("q_")]


# --------------------------------------------------------------------------- helpers
def _truth_table(samples, group, kind, duplicate_of, f, f_pedigree, **extra) -> pd.DataFrame:
    """:attr:`Panel.truth`: ``sample, group, kind, duplicate_of, F, F_pedigree``, then
    ``extra`` columns in order (scalars are broadcast)."""
    cols = {"sample": samples, "group": group, "kind": kind, "duplicate_of": duplicate_of}
    return pd.DataFrame({**cols, "F": f, "F_pedigree": f_pedigree, **extra})


def _expected(groups: pd.DataFrame, fst_rows: list[dict], sequence_length: int, mu: float):
    """:attr:`Panel.expected` from the per-group table and the group-pair Fst rows."""
    return {
        "groups": groups,
        "fst": pd.DataFrame(fst_rows, columns=["group1", "group2", "fst", "fst_branch"]),
        "sequence_length": sequence_length,
        "mu": mu,
    }


def _a_n(n: int) -> float:
    return float(np.sum(1.0 / np.arange(1, n)))


# --------------------------------------------------------------------------- landraces
def _landrace_demography(
    n_groups: int, ne: float, ne_anc: float, split_time: float, migration: float
):
    import msprime

    dem = msprime.Demography()
    names = [f"G{i + 1}" for i in range(n_groups)]
    for nm in names:
        dem.add_population(name=nm, initial_size=ne)
    dem.add_population(name="ANC", initial_size=ne_anc)
    if n_groups > 1 and migration > 0:
        dem.set_symmetric_migration_rate(names, migration)
    dem.add_population_split(time=split_time, derived=names, ancestral="ANC")
    dem.sort_events()
    return dem, names


def _pairwise_coalescence_times(
    n_groups: int, ne: float, ne_anc: float, split_time: float, migration: float
) -> tuple[float, float]:
    """Mean coalescence time (generations) of two lineages within / between groups.

    Two lineages in the symmetric structured coalescent (Notohara 1990) are in
    state S (same group) or D (different groups); S coalesces at rate 1/(2N),
    moves to D at rate 2(K-1)m, D moves to S at rate 2m. Before the split time
    T the time spent uncoalesced is the integral of the transition matrix
    (Van Loan 1978); after it both lineages are in the ancestral population
    and need another 2 N_anc generations on average.
    """
    from scipy.linalg import expm

    k, m = n_groups, migration if n_groups > 1 else 0.0
    q = np.array(
        [
            [-(1 / (2 * ne) + 2 * (k - 1) * m), 2 * (k - 1) * m, 1 / (2 * ne)],
            [2 * m, -2 * m, 0.0],
            [0.0, 0.0, 0.0],
        ]
    )
    big = np.zeros((6, 6))
    big[:3, :3] = q
    big[:3, 3:] = np.eye(3)
    e = expm(big * split_time)
    integral, p_t = e[:3, 3:], e[:3, :3]
    out = []
    for start in (0, 1):
        alive = integral[start, 0] + integral[start, 1]
        out.append(alive + (1 - p_t[start, 2]) * 2 * ne_anc)
    return out[0], out[1]


def _mosaic_labels(
    length: int, n_tracts_mean: float, q: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Tract starts and source labels of one admixed chromosome."""
    n_break = rng.poisson(n_tracts_mean)
    starts = np.r_[0, np.sort(rng.integers(1, length, n_break))]
    labels = rng.choice(len(q), size=len(starts), p=q)
    return starts, labels


def _coalescent_genome(genome: GenomeSpec) -> tuple:
    """``n_chrom, chrom_length, ne, mu, rho`` of a resolved spec (the coalescent's genome)."""
    return genome.n_chrom, genome.chrom_length, genome.ne, genome.mu, genome.rho


def simulate_landraces(
    genome: GenomeSpec = DEFAULT_GENOME,
    *,
    lines_per_group: int = 50,
    n_admixed: int = 16,
    n_duplicates: int = 10,
    ne_anc: float | None = None,
    split_time: float = 4_000,
    migration: float = 2e-5,
    discordance: float = 0.02,
    admixed_tracts: float = 6.0,
    prefix: str = "L",
) -> Panel:
    """Simulate structured inbred landraces with admixed lines and duplicates.

    Parameters
    ----------
    genome : GenomeSpec
        ``n_groups`` (default 4) landrace groups (demes) of size ``ne`` (5,000);
        ``n_chrom`` (5) chromosomes of ``chrom_length`` bp (4,000,000); ``mu`` and
        ``rho`` (1e-8); ``missing_rate`` (0); ``seed``. The number of samples is set by
        the design below, and every segregating site is kept (``n_samples``, ``n_snps``
        and ``maf_min`` are not taken).
    lines_per_group : int
        Inbred lines sampled per group.
    n_admixed : int
        Admixed lines: half two-way (proportion uniform in [0.2, 0.8]), half
        three-way (Dirichlet(1, 1, 1)); requires ``n_groups >= 2`` (3 for three-way).
    n_duplicates : int
        Planted duplicates: copies of randomly chosen lines (without
        replacement) with a fraction ``discordance`` of genotypes changed.
    ne_anc : float, optional
        Diploid effective size of the ancestral population (default ``ne * n_groups``).
    split_time : float
        Generations since the groups split.
    migration : float
        Symmetric backward migration rate between every pair of groups.
    discordance : float
        Genotype discordance of planted duplicates.
    admixed_tracts : float
        Mean number of ancestry tracts per chromosome of an admixed line.
    prefix : str
        Sample-name prefix.

    Returns
    -------
    Panel
        Lines are coded diploid homozygous (0 or 2). ``truth.F`` is 1.
    """
    import msprime

    genome = genome.resolve(
        "simulate_landraces", n_groups=4, n_chrom=5, chrom_length=4_000_000, ne=5_000,
        mu=1e-8, rho=1e-8, missing_rate=0.0,
    )  # fmt: skip
    n_chrom, chrom_length, ne, mu, rho = _coalescent_genome(genome)
    n_groups, missing_rate, seed = genome.n_groups, genome.missing_rate, genome.seed
    if n_groups < 1 or lines_per_group < 2:
        raise UserError("simulate_landraces needs n_groups >= 1 and lines_per_group >= 2")
    if n_admixed and n_groups < 2:
        raise UserError("admixed lines need n_groups >= 2")
    rng = np.random.default_rng(seed)
    ne_anc = ne * n_groups if ne_anc is None else ne_anc
    dem, names = _landrace_demography(n_groups, ne, ne_anc, split_time, migration)
    n_held = 3 if n_admixed else 0
    per_group = lines_per_group + n_held * max(1, n_admixed)
    samples = [msprime.SampleSet(per_group, population=nm, ploidy=1) for nm in names]

    # admixture targets
    targets = []
    for a in range(n_admixed):
        q = np.zeros(n_groups)
        if a % 2 == 0 or n_groups < 3:
            src = rng.choice(n_groups, 2, replace=False)
            x = rng.uniform(0.2, 0.8)
            q[src] = [x, 1 - x]
        else:
            src = rng.choice(n_groups, 3, replace=False)
            q[src] = rng.dirichlet(np.ones(3))
        targets.append(q)

    geno_parts, var_parts = [], []
    adm_counts = np.zeros((n_admixed, n_groups))
    pi_b = np.zeros(n_groups)
    seg_b = np.zeros(n_groups)
    div_b = np.zeros((n_groups, n_groups))
    for c in range(n_chrom):
        chrom = str(c + 1)
        seed_c = seed * 1000 + c + 1
        ts, hap, pos = coalescent_chromosome(samples, dem, chrom_length, rho, mu, seed_c)
        # genealogy-conditional expectations over the panel lines only
        line_sets = [
            np.arange(g * per_group, g * per_group + lines_per_group) for g in range(n_groups)
        ]
        pi_b += ts.diversity(line_sets, mode="branch", span_normalise=False) * mu
        seg_b += ts.segregating_sites(line_sets, mode="branch", span_normalise=False) * mu
        if n_groups > 1:
            idx = [(i, j) for i in range(n_groups) for j in range(i + 1, n_groups)]
            d = ts.divergence(line_sets, indexes=idx, mode="branch", span_normalise=False) * mu
            for (i, j), val in zip(idx, np.atleast_1d(d), strict=True):
                div_b[i, j] += val
                div_b[j, i] += val
        lines = np.concatenate([hap[s] for s in line_sets], axis=0) * 2
        rows = [lines]
        # admixed lines: tract mosaics of held-out haplotypes
        for a, q in enumerate(targets):
            donors = [
                g * per_group + lines_per_group + a * n_held + rng.integers(n_held)
                for g in range(n_groups)
            ]
            starts, labels = _mosaic_labels(chrom_length, admixed_tracts, q, rng)
            lab_at = labels[np.searchsorted(starts, pos - 1, side="right") - 1]
            rows.append((hap[np.asarray(donors)[lab_at], np.arange(len(pos))] * 2)[None, :])
            adm_counts[a] += np.bincount(lab_at, minlength=n_groups)
        geno_parts.append(np.concatenate(rows, axis=0).astype(np.int8))
        var_parts.append(variant_table(chrom, pos, rng))

    geno = np.concatenate(geno_parts, axis=1)
    variants = pd.concat(var_parts, ignore_index=True)
    n_lines = n_groups * lines_per_group
    names_out = [
        f"{prefix}{names[g]}_{i + 1:03d}" for g in range(n_groups) for i in range(lines_per_group)
    ]
    names_out += [f"{prefix}ADM_{a + 1:03d}" for a in range(n_admixed)]
    q_true = np.zeros((n_lines + n_admixed, n_groups))
    q_true[np.arange(n_lines), np.repeat(np.arange(n_groups), lines_per_group)] = 1.0
    if n_admixed:
        q_true[n_lines:] = adm_counts / adm_counts.sum(axis=1, keepdims=True)
    group = [names[g] for g in range(n_groups) for _ in range(lines_per_group)]
    group += ["admixed"] * n_admixed
    kind = ["line"] * n_lines + ["admixed"] * n_admixed
    dup_of = [""] * (n_lines + n_admixed)

    # planted duplicates
    if n_duplicates > n_lines:
        raise UserError(f"n_duplicates={n_duplicates} exceeds the {n_lines} lines")
    src = rng.choice(n_lines, n_duplicates, replace=False)
    dups = geno[src].copy()
    flip = rng.random(dups.shape) < discordance
    # a changed genotype takes one of the two other codes
    dups[flip] = (dups[flip] + rng.integers(1, 3, flip.sum())) % 3
    geno = np.concatenate([geno, dups], axis=0)
    for k, s in enumerate(src):
        names_out.append(f"{prefix}DUP_{k + 1:03d}")
        group.append(group[s])
        kind.append("duplicate")
        dup_of.append(names_out[s])
    q_true = np.vstack([q_true, q_true[src]])
    add_missing(geno, missing_rate, rng)

    truth = _truth_table(names_out, group, kind, dup_of, 1.0, np.nan)
    for g, nm in enumerate(names):
        truth[f"q_{nm}"] = q_true[:, g]

    seq_len = n_chrom * chrom_length
    t_within, t_between = _pairwise_coalescence_times(n_groups, ne, ne_anc, split_time, migration)
    t_w = np.full(n_groups, t_within)
    a_n = _a_n(lines_per_group)
    groups_df = pd.DataFrame(
        {
            "group": names,
            "n": lines_per_group,
            "pi": 2 * mu * t_w,
            "pi_branch": pi_b / seq_len,
            "theta_branch": seg_b / seq_len / a_n,
        }
    )
    fst_rows = []
    for i in range(n_groups):
        for j in range(i + 1, n_groups):
            t_b = t_between
            hw_b = (pi_b[i] + pi_b[j]) / 2
            fst_rows.append(
                {
                    "group1": names[i],
                    "group2": names[j],
                    "fst": 1 - (t_w[i] + t_w[j]) / 2 / t_b,
                    "fst_branch": 1 - hw_b / div_b[i, j],
                }
            )
    expected = _expected(groups_df, fst_rows, seq_len, mu)
    params = dict(
        kind="landraces", n_groups=n_groups, lines_per_group=lines_per_group,
        n_admixed=n_admixed, n_duplicates=n_duplicates, n_chrom=n_chrom,
        chrom_length=chrom_length, ne=ne, ne_anc=ne_anc, split_time=split_time,
        migration=migration, mu=mu, rho=rho, discordance=discordance,
        missing_rate=missing_rate, seed=seed,
    )  # fmt: skip
    return Panel(names_out, variants, geno, truth, pd.DataFrame(), expected, params)


# --------------------------------------------------------------------------- outbred
class _Chrom:
    """One chromosome copy as founder-haplotype labels on tracts (starts, labels)."""

    __slots__ = ("starts", "labels")

    def __init__(self, starts: np.ndarray, labels: np.ndarray):
        self.starts = starts
        self.labels = labels

    def label_at(self, x: np.ndarray) -> np.ndarray:
        return self.labels[np.searchsorted(self.starts, x, side="right") - 1]


def _meiosis(a: _Chrom, b: _Chrom, length: int, morgans: float, rng) -> _Chrom:
    """Gamete from copies a, b: Poisson crossovers (Haldane), random first copy."""
    xo = np.sort(rng.uniform(0, length, rng.poisson(morgans))).astype(np.int64)
    first = rng.integers(2)
    bps = np.unique(np.concatenate([[0], a.starts, b.starts, xo]))
    which = (first + np.searchsorted(xo, bps, side="right")) % 2
    lab = np.where(which == 0, a.label_at(bps), b.label_at(bps))
    keep = np.r_[True, lab[1:] != lab[:-1]]
    return _Chrom(bps[keep], lab[keep])


def _ibd(a: _Chrom, b: _Chrom, length: int) -> list[tuple[int, int]]:
    """Segments [start, end) where both copies carry the same founder label."""
    bps = np.unique(np.concatenate([a.starts, b.starts]))
    same = a.label_at(bps) == b.label_at(bps)
    ends = np.r_[bps[1:], length]
    out = []
    for s, e, f in zip(bps, ends, same, strict=True):
        if f:
            if out and out[-1][1] == s:
                out[-1] = (out[-1][0], int(e))
            else:
                out.append((int(s), int(e)))
    return out


#: last-generation mating types: (name, pedigree F of the offspring)
_MATINGS = {
    "random": 0.0,
    "half_sib": 0.125,
    "full_sib": 0.25,
    "parent_offspring": 0.25,
    "full_sib_2gen": 0.375,
}


def simulate_outbred(
    genome: GenomeSpec = DEFAULT_GENOME,
    *,
    n_founders: int = 50,
    generations: int = 3,
    mating_probs: dict[str, float] | None = None,
    prefix: str = "P",
) -> Panel:
    """Simulate an outbred breed with pedigree inbreeding (gene dropping).

    Parameters
    ----------
    genome : GenomeSpec
        ``n_samples`` (default 300): genotyped animals, all from the last generation;
        ``n_chrom`` (10) chromosomes of ``chrom_length`` bp (20,000,000), of genetic
        length ``rho * chrom_length`` Morgans; ``ne`` (2,000) of the founder population;
        ``mu`` (1e-8) and ``rho`` (5e-8); ``n_snps`` (default all): SNPs kept at random
        among those with founder MAF >= ``maf_min`` (0), an array-like panel;
        ``missing_rate`` (0); ``seed``.
    n_founders : int
        Founder animals (``2 * n_founders`` msprime haplotypes).
    generations : int
        Random-mating generations (population size ``n_founders``) before the
        genotyped generation.
    mating_probs : dict, optional
        Probabilities of the last-generation mating types ``random``,
        ``half_sib``, ``full_sib``, ``parent_offspring``, ``full_sib_2gen``
        (default 0.3, 0.2, 0.2, 0.15, 0.15).
    prefix : str
        Sample-name prefix.

    Returns
    -------
    Panel
        ``truth.F`` is the realised IBD fraction relative to the founders,
        ``truth.F_pedigree`` Wright's pedigree coefficient of the mating type
        (ignoring background relatedness), ``segments`` the autozygous tracts.
    """
    import msprime

    genome = genome.resolve(
        "simulate_outbred", n_samples=300, n_snps=None, n_chrom=10, chrom_length=20_000_000,
        ne=2_000, mu=1e-8, rho=5e-8, maf_min=0.0, missing_rate=0.0,
    )  # fmt: skip
    n_chrom, chrom_length, ne, mu, rho = _coalescent_genome(genome)
    n_animals, n_snps, maf_min = genome.n_samples, genome.n_snps, genome.maf_min
    missing_rate, seed = genome.missing_rate, genome.seed
    if n_founders < 4:
        raise UserError("simulate_outbred needs n_founders >= 4")
    rng = np.random.default_rng(seed)
    probs = mating_probs or {
        "random": 0.3,
        "half_sib": 0.2,
        "full_sib": 0.2,
        "parent_offspring": 0.15,
        "full_sib_2gen": 0.15,
    }
    unknown = set(probs) - set(_MATINGS)
    if unknown:
        raise UserError(f"unknown mating type(s) {sorted(unknown)}; use {sorted(_MATINGS)}")
    mtypes = list(probs)
    p = np.array([probs[k] for k in mtypes], dtype=float)
    p /= p.sum()
    morgans = rho * chrom_length

    # individual = list of (paternal, maternal) _Chrom per chromosome
    def founder(i: int):
        return [
            (
                _Chrom(np.array([0]), np.array([2 * i])),
                _Chrom(np.array([0]), np.array([2 * i + 1])),
            )
            for _ in range(n_chrom)
        ]

    def child(sire, dam):
        return [
            (
                _meiosis(*sire[c], chrom_length, morgans, rng),
                _meiosis(*dam[c], chrom_length, morgans, rng),
            )
            for c in range(n_chrom)
        ]

    pop = [founder(i) for i in range(n_founders)]
    half = n_founders // 2
    for _ in range(generations):
        males, females = pop[:half], pop[half:]
        pop = [
            child(males[rng.integers(len(males))], females[rng.integers(len(females))])
            for _ in range(n_founders)
        ]
    males, females = pop[:half], pop[half:]

    def pick(group):
        return group[rng.integers(len(group))]

    animals, mating, f_ped = [], [], []
    for _ in range(n_animals):
        mt = mtypes[rng.choice(len(mtypes), p=p)]
        s, d = pick(males), pick(females)
        if mt == "random":
            x = child(s, d)
        elif mt == "half_sib":
            x = child(child(s, d), child(s, pick(females)))
        elif mt == "full_sib":
            x = child(child(s, d), child(s, d))
        elif mt == "parent_offspring":
            x = child(s, child(s, d))
        else:  # full_sib_2gen
            a, b = child(s, d), child(s, d)
            x = child(child(a, b), child(a, b))
        animals.append(x)
        mating.append(mt)
        f_ped.append(_MATINGS[mt])

    names = [f"{prefix}{i + 1:04d}" for i in range(n_animals)]
    dem = msprime.Demography.isolated_model([ne])
    geno_parts, var_parts, seg_rows = [], [], []
    ibd_len = np.zeros(n_animals)
    for c in range(n_chrom):
        chrom = str(c + 1)
        seed_c = seed * 1000 + c + 1
        _, hap, pos = coalescent_chromosome(n_founders, dem, chrom_length, rho, mu, seed_c)
        if maf_min > 0:
            f = hap.mean(axis=0)
            ok = np.minimum(f, 1 - f) >= maf_min
            hap, pos = hap[:, ok], pos[ok]
        cols = np.arange(len(pos))
        g = np.empty((n_animals, len(pos)), dtype=np.int8)
        for i, x in enumerate(animals):
            pa, ma = x[c]
            g[i] = hap[pa.label_at(pos - 1), cols] + hap[ma.label_at(pos - 1), cols]
            for s0, e0 in _ibd(pa, ma, chrom_length):
                seg_rows.append((names[i], chrom, s0, e0))
                ibd_len[i] += e0 - s0
        geno_parts.append(g)
        var_parts.append(variant_table(chrom, pos, rng))
    geno = np.concatenate(geno_parts, axis=1)
    variants = pd.concat(var_parts, ignore_index=True)
    if n_snps is not None and n_snps < len(variants):
        keep = np.sort(rng.choice(len(variants), n_snps, replace=False))
        geno, variants = geno[:, keep], variants.iloc[keep].reset_index(drop=True)
    geno = np.ascontiguousarray(geno)
    add_missing(geno, missing_rate, rng)
    f_real = ibd_len / (n_chrom * chrom_length)
    truth = _truth_table(names, "breed", "animal", "", f_real, f_ped, mating=mating, q_breed=1.0)
    segments = pd.DataFrame(seg_rows, columns=["sample", "chrom", "start", "end"])
    groups_df = pd.DataFrame({"group": ["breed"], "n": [n_animals], "pi": [4 * ne * mu]})
    expected = _expected(groups_df, [], n_chrom * chrom_length, mu)
    params = dict(
        kind="outbred", n_animals=n_animals, n_founders=n_founders, generations=generations,
        n_chrom=n_chrom, chrom_length=chrom_length, ne=ne, mu=mu, rho=rho,
        mating_probs=probs, n_snps=n_snps, maf_min=maf_min, missing_rate=missing_rate,
        seed=seed,
    )  # fmt: skip
    return Panel(names, variants, geno, truth, segments, expected, params)


# --------------------------------------------------------------------------- presets
#: Species-like default panels used by ``scripts/make_test_data.py`` and the default run:
#: the simulator (``kind``), its :class:`GenomeSpec` (``genome``) and its own options.
SPECIES_PRESETS: dict[str, dict] = {
    "soybean": dict(
        kind="landraces",
        genome=GenomeSpec(n_groups=4, n_chrom=10, chrom_length=2_000_000, ne=3_000),
        lines_per_group=60, n_admixed=20, n_duplicates=12, split_time=3_000, migration=2e-5,
        prefix="GM",
    ),
    "rice": dict(
        kind="landraces",
        genome=GenomeSpec(n_groups=5, n_chrom=12, chrom_length=1_500_000, ne=3_000),
        lines_per_group=50, n_admixed=20, n_duplicates=12, split_time=5_000, migration=1e-5,
        prefix="OS",
    ),
    "pig": dict(
        kind="outbred",
        genome=GenomeSpec(
            n_samples=300, n_chrom=10, chrom_length=20_000_000, ne=1_000, mu=1.5e-8, rho=5e-8
        ),
        n_founders=50, generations=3, prefix="MIN",
    ),
}  # fmt: skip

_GENOME_FIELDS = frozenset(f.name for f in fields(GenomeSpec))


def simulate_species(species: str, seed: int = 1, **overrides) -> Panel:
    """Simulate the preset panel of a species (``soybean``, ``rice``, ``pig``).

    Parameters
    ----------
    species : str
        Key of :data:`SPECIES_PRESETS`.
    seed : int
        Random seed.
    **overrides
        Parameters overriding the preset: :class:`GenomeSpec` fields (``n_chrom=2``)
        or the simulator's own options.
    """
    if species not in SPECIES_PRESETS:
        raise UserError(f"unknown species {species!r}; choose one of {sorted(SPECIES_PRESETS)}")
    kw = {**SPECIES_PRESETS[species], **overrides}
    kind = kw.pop("kind")
    genome = {k: kw.pop(k) for k in _GENOME_FIELDS & kw.keys()}
    genome = replace(kw.pop("genome"), **genome, seed=seed)
    fn = simulate_landraces if kind == "landraces" else simulate_outbred
    return fn(genome, **kw)


# --------------------------------------------------------------------------- writers
_GT_STR = np.array(["0/0", "0/1", "1/1", "./."])


def write_vcf(
    panel: Panel,
    path: str | os.PathLike,
    chunk_size: int = 5000,
    source: str = "breedomics.testing.simulate",
) -> str:
    """Write the panel as a bgzipped, tabix-indexed VCF (``.vcf.gz``).

    Parameters
    ----------
    panel : Panel
        Simulated panel.
    path : str or path-like
        Output path; ``.vcf.gz`` is appended if missing.
    chunk_size : int
        Variants formatted per chunk.
    source : str
        Value of the ``##source`` header line.

    Returns
    -------
    str
        The path written.
    """
    import pysam

    path = str(path)
    if not path.endswith(".vcf.gz"):
        path += ".vcf.gz"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    v = panel.variants
    lengths = v.groupby("chrom", sort=False)["pos"].max()
    header = ["##fileformat=VCFv4.2", f"##source={source}"]
    header += [f"##contig=<ID={c},length={int(m) + 1}>" for c, m in lengths.items()]
    header.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    header.append(
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(panel.samples)
    )
    tmp = path[: -len(".gz")]
    with open(tmp, "w") as fh:
        fh.write("\n".join(header) + "\n")
        for start in range(0, len(v), chunk_size):
            stop = min(start + chunk_size, len(v))
            codes = panel.genotypes[:, start:stop].T.astype(np.int64)
            codes[codes < 0] = 3
            strs = _GT_STR[codes]
            sub = v.iloc[start:stop]
            lines = [
                f"{c}\t{p}\t{i}\t{r}\t{a}\t.\tPASS\t.\tGT\t" + "\t".join(row)
                for (c, p, i, r, a), row in zip(
                    sub[["chrom", "pos", "id", "ref", "alt"]].itertuples(index=False),
                    strs,
                    strict=True,
                )
            ]
            fh.write("\n".join(lines) + "\n")
    pysam.tabix_compress(tmp, path, force=True)
    os.unlink(tmp)
    pysam.tabix_index(path, preset="vcf", force=True)
    return path


def write_plink(panel: Panel, prefix: str | os.PathLike, chunk_size: int = 20000) -> str:
    """Write the panel as a PLINK 1 fileset (ALT = A1), via :func:`genotypes.write_bed`."""
    from breedomics.core.genotypes import write_bed

    g = panel.genotypes
    chunks = (
        np.where(g[:, s : s + chunk_size] < 0, np.nan, g[:, s : s + chunk_size]).astype(np.float32)
        for s in range(0, g.shape[1], chunk_size)
    )
    return write_bed(prefix, panel.variants, chunks, panel.samples)


def write_truth(panel: Panel, prefix: str | os.PathLike) -> list[str]:
    """Write truth tables as TSV: ``<prefix>.truth.tsv``, ``.segments.tsv``,
    ``.expected_groups.tsv``, ``.expected_fst.tsv``. Returns the paths."""
    prefix = str(prefix)
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    out = []
    for name, df in [
        ("truth", panel.truth),
        ("segments", panel.segments),
        ("expected_groups", panel.expected.get("groups", pd.DataFrame())),
        ("expected_fst", panel.expected.get("fst", pd.DataFrame())),
    ]:
        p = f"{prefix}.{name}.tsv"
        df.to_csv(p, sep="\t", index=False)
        out.append(p)
    return out
