"""Simulated breeding populations, traits and field trials with known truth.

Used by the tests and benchmarks of the genomic-selection stage; every
function is seeded and vectorised.

* :func:`simulate_population` -- founder haplotypes in linkage equilibrium
  are dropped through ``generations`` of random mating in a small population
  (crossovers under Haldane's map function, 1 Morgan per chromosome), which
  builds linkage disequilibrium by drift (Sved 1971) and family structure;
  the last generation is ``n`` offspring of random matings.
* :func:`simulate_trait` -- QTL chosen among the markers, normal effects or a
  few large effects plus a polygenic background; residuals scaled to a given
  heritability.
* :func:`simulate_met` -- a multi-environment trial (genotype x environment x
  replicate) with environment, replicate, genotype, GxE and residual effects,
  optional missing plots and planted outliers (:mod:`breedomics.testing.trials`).

Variance shares and heritability come from :mod:`breedomics.testing.traits`.

References
----------
Haldane, J. B. S. (1919). The combination of linkage values and the calculation of
distances between the loci of linked factors. *J Genet* 8:299-309.

Sved, J. A. (1971). Linkage disequilibrium and homozygosity of chromosome segments in
finite populations. *Theor Popul Biol* 2:125-141.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from breedomics.testing.spec import DEFAULT_GENOME, GenomeSpec
from breedomics.testing.traits import variance_scale
from breedomics.testing.trials import (
    drop_plots,
    entry_mean_h2,
    outlier_plots,
    plot_values,
    rcbd_records,
)

__all__ = ["SimPopulation", "simulate_population", "simulate_trait", "simulate_met"]


@dataclass
class SimPopulation:
    """A simulated panel.

    Attributes
    ----------
    samples : list of str
    markers : pandas.DataFrame
        ``id, chrom, pos_morgan``.
    dosage : numpy.ndarray
        ``int8 (n, p)`` allele counts (polymorphic markers only).
    family : numpy.ndarray
        Full-sib family label of each sample.
    """

    samples: list[str]
    markers: pd.DataFrame
    dosage: np.ndarray
    family: np.ndarray


def _gametes(
    hap: np.ndarray,
    parents: np.ndarray,
    chrom_start: np.ndarray,
    pos: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """One gamete per entry of ``parents`` from parental haplotype pairs.

    ``hap`` is ``(n_ind, 2, p)``; crossovers are Poisson(1) per chromosome with
    uniform positions (Haldane), and chromosomes assort independently.
    """
    m = len(parents)
    p = hap.shape[2]
    n_chrom = len(chrom_start)
    chrom_end = np.append(chrom_start[1:], p)
    switch = np.zeros((m, p + 1), dtype=np.int8)
    # independent assortment: random phase at each chromosome start
    switch[:, chrom_start] = rng.integers(0, 2, size=(m, n_chrom), dtype=np.int8)
    n_co = rng.poisson(1.0, size=(m, n_chrom))
    rows = np.repeat(np.repeat(np.arange(m), n_chrom), n_co.ravel())
    chroms = np.repeat(np.tile(np.arange(n_chrom), m), n_co.ravel())
    if rows.size:
        u = rng.random(rows.size)
        # marker index of the first marker after the crossover, within the chromosome
        idx = np.empty(rows.size, dtype=np.int64)
        for c in range(n_chrom):
            sel = chroms == c
            cp = pos[chrom_start[c] : chrom_end[c]]
            idx[sel] = chrom_start[c] + np.searchsorted(cp, u[sel])
        np.add.at(switch, (rows, idx), 1)
    phase = (np.cumsum(switch[:, :p], axis=1, dtype=np.int64) & 1).astype(bool)
    h = hap[parents]
    return np.where(phase, h[:, 1, :], h[:, 0, :])


def simulate_population(
    genome: GenomeSpec = DEFAULT_GENOME, *, n_founders: int = 60, generations: int = 6
) -> SimPopulation:
    """Simulate related individuals genotyped at about ``genome.n_snps`` SNPs.

    Parameters
    ----------
    genome : GenomeSpec
        ``n_samples`` (required): individuals in the final generation; ``n_snps``
        (required): markers simulated, before dropping those with MAF < ``maf_min``
        (default 0.02) in the final generation; ``n_chrom`` (10) chromosomes of 1 Morgan,
        each with ``n_snps / n_chrom`` markers; ``seed``.
    n_founders : int
        Size of the random-mating population (sets the drift-driven LD).
    generations : int
        Generations of random mating before the final one.
    """
    genome = genome.resolve(
        "simulate_population", required=("n_samples", "n_snps"), n_chrom=10, maf_min=0.02
    )
    n, n_markers, n_chrom = genome.n_samples, genome.n_snps, genome.n_chrom
    min_maf, seed = genome.maf_min, genome.seed
    rng = np.random.default_rng(seed)
    per = int(np.ceil(n_markers / n_chrom))
    pos = np.concatenate([np.sort(rng.random(per)) for _ in range(n_chrom)])
    chrom = np.repeat(np.arange(1, n_chrom + 1), per)
    chrom_start = np.arange(n_chrom) * per
    p = pos.size
    freq = np.clip(rng.beta(0.6, 0.6, size=p), 0.05, 0.95)
    hap = (rng.random((n_founders, 2, p)) < freq).astype(np.int8)
    for _ in range(generations):
        sire = rng.integers(0, n_founders, n_founders)
        dam = (sire + rng.integers(1, n_founders, n_founders)) % n_founders
        g1 = _gametes(hap, sire, chrom_start, pos, rng)
        g2 = _gametes(hap, dam, chrom_start, pos, rng)
        hap = np.stack([g1, g2], axis=1)
    n_fam = max(1, n // 10)
    sire = rng.integers(0, n_founders, n_fam)
    dam = (sire + rng.integers(1, n_founders, n_fam)) % n_founders
    fam = rng.integers(0, n_fam, n)
    fam.sort()
    dosage = np.empty((n, p), dtype=np.int8)
    step = 2000
    for s in range(0, n, step):
        f = fam[s : s + step]
        dosage[s : s + step] = _gametes(hap, sire[f], chrom_start, pos, rng) + _gametes(
            hap, dam[f], chrom_start, pos, rng
        )
    af = dosage.mean(axis=0, dtype=np.float64) / 2.0
    keep = np.minimum(af, 1 - af) >= min_maf
    markers = pd.DataFrame(
        {
            "id": [f"snp{c}_{j}" for c, j in zip(chrom, range(p), strict=True)],
            "chrom": chrom,
            "pos_morgan": pos,
        }
    )[keep].reset_index(drop=True)
    samples = [f"ind{i:05d}" for i in range(n)]
    return SimPopulation(samples, markers, np.ascontiguousarray(dosage[:, keep]), fam)


def simulate_trait(
    dosage: np.ndarray,
    h2: float,
    n_qtl: int | None = None,
    large: int = 0,
    large_share: float = 0.8,
    seed: int = 1,
) -> dict:
    """Simulate a trait with known genetic values.

    Parameters
    ----------
    dosage : numpy.ndarray
        ``(n, p)`` allele counts.
    h2 : float
        Heritability: ``var(g) / (var(g) + var(e))`` in the sample.
    n_qtl : int, optional
        Number of polygenic QTL (default: all markers) with N(0, 1) effects.
    large : int
        Number of large-effect QTL in addition to the polygenic ones.
    large_share : float
        Share of the genetic variance explained jointly by the large QTL.
    seed : int

    Returns
    -------
    dict
        ``y`` (phenotype), ``g`` (true genetic value, mean 0), ``qtl`` (marker
        indices), ``effects`` (allele-substitution effects, same order),
        ``h2``.
    """
    rng = np.random.default_rng(seed)
    n, p = dosage.shape
    X = dosage.astype(np.float64)
    X -= X.mean(axis=0)
    n_poly = p if n_qtl is None else min(n_qtl, p)
    order = rng.permutation(p)
    big = order[:large]
    poly = order[large : large + n_poly] if n_qtl is not None else order[large:]
    g_poly = np.zeros(n)
    a_poly = rng.standard_normal(len(poly))
    if len(poly):
        g_poly = X[:, poly] @ a_poly
    g_big = np.zeros(n)
    a_big = np.zeros(large)
    if large:
        a_big = rng.standard_normal(large)
        a_big = np.sign(a_big) * (0.5 + np.abs(a_big))
        g_big = X[:, big] @ a_big
    if large and len(poly) and large_share < 1:
        sb = variance_scale(g_big, large_share)
        sp = variance_scale(g_poly, 1 - large_share)
    elif large:
        sb, sp = variance_scale(g_big, 1.0), 0.0
    else:
        sb, sp = 0.0, variance_scale(g_poly, 1.0)
    a_big *= sb
    a_poly *= sp
    g = g_big * sb + g_poly * sp
    g -= g.mean()
    scale = variance_scale(g, h2)
    g *= scale
    e = rng.standard_normal(n)
    e = (e - e.mean()) / e.std() * np.sqrt(1 - h2)
    y = g + e
    return dict(
        y=y,
        g=g,
        qtl=np.concatenate([big, poly]),
        effects=np.concatenate([a_big, a_poly]) * scale,
        h2=h2,
        large=big,
    )


def simulate_met(
    n_geno: int = 200,
    n_env: int = 6,
    n_rep: int = 2,
    var_g: float = 1.0,
    var_ge: float = 0.4,
    var_e: float = 1.0,
    env_sd: float = 2.0,
    rep_sd: float = 0.5,
    mean: float = 50.0,
    p_missing: float = 0.0,
    n_outliers: int = 0,
    outlier_shift: float = 8.0,
    seed: int = 1,
) -> tuple[pd.DataFrame, dict]:
    """Simulate a multi-environment trial laid out as RCBDs.

    Every genotype is planted in each replicate of each environment; plots
    are then dropped at random with probability ``p_missing``.

    Returns
    -------
    records : pandas.DataFrame
        ``plot, genotype, environment, rep, yield``.
    truth : dict
        ``g`` (Series by genotype), ``genotype_mean`` (``mean + g``),
        ``trial_mean`` (``mean + g + mean over environments of GxE``),
        ``H2_entry`` (entry-mean heritability of the balanced design),
        variance components and ``outliers`` (plot ids).
    """
    rng = np.random.default_rng(seed)
    genos = np.array([f"G{i:04d}" for i in range(n_geno)])
    envs = np.array([f"E{j:02d}" for j in range(n_env)])
    g = rng.normal(0, np.sqrt(var_g), n_geno)
    rec, index = rcbd_records(genos, envs, n_rep)
    y, eff = plot_values(g, index, n_env, n_rep, env_sd, rep_sd, var_ge, var_e, mean, rng)
    rec["yield"] = y
    if p_missing > 0:
        rec = rec[drop_plots(len(rec), p_missing, rng)].reset_index(drop=True)
    outliers = []
    if n_outliers:
        k, sign = outlier_plots(len(rec), n_outliers, rng)
        rec.loc[k, "yield"] += sign * outlier_shift * np.sqrt(var_e)
        outliers = rec.loc[k, "plot"].tolist()
    truth = dict(
        g=pd.Series(g, index=genos),
        genotype_mean=pd.Series(mean + g + eff["env"].mean() + eff["rep"].mean(), index=genos),
        trial_mean=pd.Series(mean + g + eff["ge"].mean(axis=1) + eff["env"].mean(), index=genos),
        H2_entry=entry_mean_h2(var_g, var_ge, var_e, n_env, n_rep),
        var_g=var_g,
        var_ge=var_ge,
        var_e=var_e,
        outliers=outliers,
    )
    return rec, truth
