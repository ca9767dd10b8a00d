"""ROH and F_ROH against the realised inbreeding of a gene-dropping simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from breedomics.census.roh import runs_of_homozygosity
from breedomics.errors import UserError
from breedomics.testing.simulate import simulate_outbred, write_plink
from breedomics.testing.spec import GenomeSpec


@pytest.fixture(scope="module")
def pig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("roh")
    genome = GenomeSpec(
        n_samples=150, n_chrom=6, chrom_length=15_000_000, rho=6.67e-8, ne=1000, mu=1.5e-8,
        missing_rate=0.005, seed=4,
    )  # fmt: skip
    p = simulate_outbred(genome, n_founders=40, generations=3)
    return p, write_plink(p, tmp / "pig")


def test_froh_tracks_realised_f(pig):
    p, prefix = pig
    per, seg = runs_of_homozygosity(prefix, p.samples, chunk_size=4000)
    assert list(per["sample"]) == p.samples
    r = np.corrcoef(per["f_roh"], p.truth["F"])[0, 1]
    assert r >= 0.9, r
    # F_ROH is on the scale of F (founder-relative IBD), not just correlated
    assert abs(per["f_roh"].mean() - p.truth["F"].mean()) < 0.03
    # mean by mating type increases with the pedigree coefficient
    by = per.assign(fp=p.truth["F_pedigree"]).groupby("fp")["f_roh"].mean()
    assert np.all(np.diff(by.to_numpy()) > -0.02)
    # segment bookkeeping
    assert (seg["length"] >= 1_000_000).all() and (seg["n_het"] <= 1).all()
    tot = seg.groupby("sample")["length"].sum().reindex(p.samples, fill_value=0)
    np.testing.assert_allclose(tot.to_numpy(), per["roh_bp"].to_numpy())


def test_segments_overlap_truth(pig):
    p, prefix = pig
    _, seg = runs_of_homozygosity(prefix, p.samples)
    truth = p.segments[(p.segments["end"] - p.segments["start"]) >= 3_000_000]
    # each long true autozygous tract is mostly covered by detected ROH
    covered = []
    called = {k: g for k, g in seg.groupby(["sample", "chrom"])}
    for t in truth.itertuples():
        g = called.get((t.sample, t.chrom))
        if g is None:
            covered.append(0.0)
            continue
        ov = np.clip(
            np.minimum(g["end"], t.end) - np.maximum(g["start"], t.start + 1) + 1, 0, None
        ).sum()
        covered.append(ov / (t.end - t.start))
    assert len(covered) > 50
    assert np.median(covered) > 0.9


def test_inbred_lines_and_errors(tmp_path):
    from breedomics.core.genotypes import write_bed

    v = pd.DataFrame({"chrom": "1", "pos": np.arange(1, 201) * 10_000, "id": "x",
                      "ref": "A", "alt": "C"})  # fmt: skip
    rng = np.random.default_rng(0)
    d = rng.choice([0.0, 2.0], size=(3, 200)).astype(np.float32)
    d[1, ::2] = 1.0  # a heterozygous sample has no ROH
    write_bed(tmp_path / "lines", v, [d], ["a", "b", "c"])
    per, _ = runs_of_homozygosity(tmp_path / "lines", ["a", "b", "c"], min_snps=20)
    assert per.loc[0, "f_roh"] == pytest.approx(1.0)
    assert per.loc[1, "f_roh"] == 0.0
    with pytest.raises(UserError, match="not in genotype file"):
        runs_of_homozygosity(tmp_path / "lines", ["a", "zz"])
