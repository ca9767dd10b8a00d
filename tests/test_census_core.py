"""Core collection: coverage beats random subsets and is near the optimum."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from breedomics.census.core import allele_presence, core_collection, coverage, greedy_core
from breedomics.errors import UserError
from breedomics.testing.simulate import simulate_landraces, write_plink
from breedomics.testing.spec import GenomeSpec


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    genome = GenomeSpec(n_groups=4, n_chrom=2, chrom_length=1_500_000, missing_rate=0.01, seed=6)
    p = simulate_landraces(genome, lines_per_group=30, n_admixed=6, n_duplicates=4)
    return p, write_plink(p, tmp_path_factory.mktemp("core") / "lr")


def test_core_beats_random(panel):
    p, prefix = panel
    core, summary = core_collection(prefix, p.samples, size=12, n_random=100, chunk_size=3000)
    s = summary.iloc[0]
    # independent coverage from the genotypes
    d = p.dosage()
    pres = allele_presence(d)
    seen = pres.any(axis=0)
    members = [p.samples.index(x) for x in core["sample"]]
    direct = pres[members][:, seen].any(axis=0).mean()
    assert s["core_coverage"] == pytest.approx(direct)
    assert s["n_alleles"] == seen.sum()
    assert s["core_coverage"] > s["random_max"]
    assert s["fraction_random_ge_core"] == 0
    assert np.all(np.diff(core["coverage"]) >= 0)
    # a core spans the groups
    groups = p.truth.set_index("sample").loc[core["sample"], "group"]
    assert groups.nunique() >= 4


def test_greedy_near_optimum():
    rng = np.random.default_rng(2)
    pres = rng.random((12, 300)) < rng.random(300) * 0.5
    packed = np.packbits(pres, axis=1)
    total = int(pres.any(axis=0).sum())
    order, gains = greedy_core(packed, 3)
    best = max(coverage(packed, c, total) for c in itertools.combinations(range(12), 3))
    got = coverage(packed, order, total)
    assert got >= (1 - 1 / np.e) * best
    assert got >= 0.97 * best
    assert sum(gains) == pres[order].any(axis=0).sum()


def test_required_and_errors(panel):
    p, prefix = panel
    core, _ = core_collection(prefix, p.samples, size=5, required=[p.samples[7]], n_random=10)
    assert core["sample"].iloc[0] == p.samples[7]
    with pytest.raises(UserError, match="core size"):
        core_collection(prefix, p.samples, size=len(p.samples) + 1)
    with pytest.raises(UserError, match="required"):
        core_collection(prefix, p.samples, size=5, required=["nobody"])


def test_memory_budget_uses_every_kth_snp(panel):
    """Under a memory budget the core is the exact core of every k-th SNP, and
    its coverage still tracks the all-SNP coverage closely."""
    p, prefix = panel
    n, m = len(p.samples), p.genotypes.shape[1]
    budget = (2 * n * (m // 7)) // 8  # bytes for about a seventh of the SNPs
    core, summary = core_collection(
        prefix, p.samples, size=12, n_random=20, chunk_size=997, max_bytes=budget
    )
    s = summary.iloc[0]
    step = -(-m // max(1, budget * 8 // (2 * n)))
    assert step >= 7 and s["snps_total"] == m
    assert s["snps_used"] == len(range(0, m, step))
    # independent: greedy core on the kept columns of the dosage matrix
    pres = allele_presence(p.dosage()[:, ::step])
    seen = pres.any(axis=0)
    packed = np.packbits(pres[:, seen], axis=1)
    order, _ = greedy_core(packed, 12)
    assert list(core["sample"]) == [p.samples[i] for i in order]
    assert s["n_alleles"] == seen.sum()
    full, full_summary = core_collection(prefix, p.samples, size=12, n_random=20)
    assert full_summary.iloc[0]["snps_used"] == m
    assert abs(s["core_coverage"] - full_summary.iloc[0]["core_coverage"]) < 0.03
