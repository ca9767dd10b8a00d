"""Duplicate detection: every planted duplicate found, no false duplicate."""

from __future__ import annotations

import numpy as np
import pytest

from breedomics.census.duplicates import duplicate_clusters, ibs_from_dosage, pairwise_ibs
from breedomics.errors import UserError
from breedomics.testing.simulate import simulate_landraces, simulate_outbred, write_plink
from breedomics.testing.spec import GenomeSpec


def _truth_pairs(panel):
    t = panel.truth[panel.truth["kind"] == "duplicate"]
    return {frozenset((a, b)) for a, b in zip(t["sample"], t["duplicate_of"], strict=True)}


def test_planted_duplicates_landraces(tmp_path):
    genome = GenomeSpec(
        n_groups=4, n_chrom=3, chrom_length=2_000_000, ne=3000, missing_rate=0.02, seed=8
    )
    p = simulate_landraces(
        genome, lines_per_group=40, n_admixed=10, n_duplicates=15, discordance=0.03
    )
    prefix = write_plink(p, tmp_path / "lr")
    res = pairwise_ibs(prefix, p.samples, chunk_size=5000)
    # IBS equals the direct formula over jointly called SNPs
    d = p.dosage()
    for i, j in [(0, 1), (5, 170), (3, p.samples.index(p.truth["duplicate_of"].iloc[-1]))]:
        ok = ~np.isnan(d[i]) & ~np.isnan(d[j])
        assert res.ibs[i, j] == pytest.approx(1 - np.abs(d[i, ok] - d[j, ok]).mean() / 2)
        assert res.n_shared[i, j] == ok.sum()
        assert res.n_discordant[i, j] == (d[i, ok] != d[j, ok]).sum()
    np.testing.assert_allclose(ibs_from_dosage(d[:20]), res.ibs[:20, :20])
    pairs, clusters = duplicate_clusters(res, threshold=0.97)
    found = {frozenset((a, b)) for a, b in zip(pairs["sample1"], pairs["sample2"], strict=True)}
    assert found == _truth_pairs(p)
    assert len(clusters) == 15 and (clusters["n_members"] == 2).all()
    assert pairs["discordance"].between(0.01, 0.05).all()


def test_no_false_duplicates_outbred(tmp_path):
    # a pig-like genome (6 Morgans); close inbred relatives stay below the threshold
    genome = GenomeSpec(n_samples=120, n_chrom=6, chrom_length=12_000_000, rho=8e-8, seed=3)
    p = simulate_outbred(genome, n_founders=30, generations=2)
    prefix = write_plink(p, tmp_path / "ob")
    res = pairwise_ibs(prefix, p.samples)
    pairs, clusters = duplicate_clusters(res)
    assert len(pairs) == 0 and len(clusters) == 0
    assert np.nanmax(res.ibs[np.triu_indices(len(p.samples), 1)]) < 0.96


def test_bad_threshold(tmp_path):
    genome = GenomeSpec(n_samples=10, n_chrom=1, chrom_length=2_000_000, seed=3)
    p = simulate_outbred(genome, n_founders=8, generations=1)
    prefix = write_plink(p, tmp_path / "s")
    res = pairwise_ibs(prefix, p.samples)
    with pytest.raises(UserError, match="threshold"):
        duplicate_clusters(res, threshold=1.5)
    with pytest.raises(UserError, match="at least 2"):
        pairwise_ibs(prefix, p.samples[:1])


@pytest.mark.parametrize("block", [50, 1 << 23])
def test_blockwise_ibs_equals_brute_force(monkeypatch, block):
    """Column blocks and the in-place symmetrisation give exactly the pairwise IBS."""
    from breedomics.census import duplicates as dup

    monkeypatch.setattr(dup, "_BLOCK_ELEMENTS", block)
    rng = np.random.default_rng(3)
    d = rng.integers(0, 3, (40, 500)).astype(np.float32)
    d[rng.random(d.shape) < 0.05] = np.nan
    ref = np.empty((40, 40))
    for i in range(40):
        for j in range(40):
            ok = ~np.isnan(d[i]) & ~np.isnan(d[j])
            ref[i, j] = 1 - np.abs(d[i, ok] - d[j, ok]).sum() / (2 * ok.sum())
    np.testing.assert_array_equal(dup.ibs_from_dosage(d), ref)
