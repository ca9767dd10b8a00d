"""LD decay: r^2 agrees with scikit-allel; fitted decay recovers 4 Ne r."""

from __future__ import annotations

import allel
import numpy as np
import pytest

from breedomics.census._common import Groups
from breedomics.census.ld import ld_decay
from breedomics.errors import UserError
from breedomics.testing.simulate import simulate_outbred, write_plink
from breedomics.testing.spec import GenomeSpec


def _panel(tmp_path, rho, seed=2, n_chrom=2):
    genome = GenomeSpec(
        n_samples=100, n_chrom=n_chrom, chrom_length=3_000_000, ne=1000, rho=rho, mu=2e-8,
        seed=seed,
    )  # fmt: skip
    p = simulate_outbred(genome, n_founders=50, generations=0, mating_probs={"random": 1})
    return p, write_plink(p, tmp_path / f"ld{rho}")


def test_bins_match_allel(tmp_path):
    p, prefix = _panel(tmp_path, 1e-8, n_chrom=1)
    labels = np.array(["a", "b"], dtype=object)[np.arange(100) % 2]
    groups = Groups(p.samples, labels, ["a", "b"])
    bins, summary = ld_decay(prefix, groups, max_dist=100_000, bin_size=10_000, chunk_size=700)
    pos = p.variants["pos"].to_numpy()
    for g in ["a", "b"]:
        gn = p.genotypes[labels == g].T  # (m, n)
        f = gn.mean(axis=1) / 2
        use = np.minimum(f, 1 - f) > 0.05
        r = allel.rogers_huff_r(gn[use])
        from scipy.spatial.distance import squareform

        r2 = squareform(r.astype(np.float64) ** 2, checks=False)
        pu = pos[use]
        i, j = np.triu_indices(len(pu), 1)
        d = pu[j] - pu[i]
        keep = d <= 100_000
        b = (d[keep] - 1) // 10_000
        exp_sum = np.bincount(b, weights=r2[i[keep], j[keep]], minlength=10)
        exp_cnt = np.bincount(b, minlength=10)
        ours = bins[bins["group"] == g]
        np.testing.assert_array_equal(ours["n_pairs"], exp_cnt)
        np.testing.assert_allclose(ours["mean_r2"], exp_sum / exp_cnt, rtol=1e-6)


def test_decay_recovers_recombination(tmp_path):
    out = {}
    for rho in (1e-8, 4e-8):
        p, prefix = _panel(tmp_path, rho)
        g = Groups(p.samples, np.array(["all"] * 100, dtype=object), ["all"])
        _, summary = ld_decay(prefix, g, max_dist=200_000, bin_size=5000)
        s = summary.iloc[0]
        # Hill-Weir fit recovers the population recombination rate 4 Ne r
        assert s["rho_per_bp"] == pytest.approx(4 * 1000 * rho, rel=0.3)
        out[rho] = s["half_decay_bp"]
    assert out[4e-8] < out[1e-8] / 2


def test_small_group_skipped_and_errors(tmp_path):
    p, prefix = _panel(tmp_path, 1e-8, n_chrom=1)
    labels = np.array(["big"] * 95 + ["tiny"] * 5, dtype=object)
    _, summary = ld_decay(prefix, Groups(p.samples, labels, ["big", "tiny"]), max_dist=50_000)
    tiny = summary.set_index("group").loc["tiny"]
    assert "skipped" in tiny["note"]
    with pytest.raises(UserError, match="bin_size"):
        ld_decay(prefix, Groups(p.samples, labels, ["big", "tiny"]), max_dist=10, bin_size=100)
