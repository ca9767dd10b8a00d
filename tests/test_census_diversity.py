"""Diversity and Fst: scikit-allel agreement (1e-6) and msprime truth."""

from __future__ import annotations

import allel
import numpy as np
import pandas as pd
import pytest

from breedomics.census._common import Groups, load_groups
from breedomics.census.diversity import diversity
from breedomics.census.fst import pairwise_fst
from breedomics.errors import UserError
from breedomics.testing.simulate import simulate_outbred, simulate_species, write_plink
from breedomics.testing.spec import GenomeSpec


@pytest.fixture(scope="module")
def landraces(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lr")
    panel = simulate_species("soybean", seed=3, n_admixed=0, n_duplicates=0)
    prefix = write_plink(panel, tmp / "soy")
    sheet = tmp / "groups.tsv"
    panel.truth[["sample", "group"]].to_csv(sheet, sep="\t", index=False)
    return panel, prefix, load_groups(prefix, sheet)


@pytest.fixture(scope="module")
def outbred(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ob")
    genome = GenomeSpec(
        n_samples=80, n_chrom=3, chrom_length=4_000_000, ne=1500, missing_rate=0.02, seed=5
    )
    panel = simulate_outbred(genome, n_founders=30, generations=2)
    prefix = write_plink(panel, tmp / "pig")
    labels = np.array(["A", "B", "C"], dtype=object)[np.arange(80) % 3]
    return panel, prefix, Groups(panel.samples, labels, ["A", "B", "C"])


def _allel_counts(panel, members, inbred):
    g = panel.genotypes[members]
    if inbred:  # one haplotype per line
        hap = np.where(g < 0, -1, g // 2).T[:, :, None]
        return allel.GenotypeArray(hap).count_alleles(max_allele=1), None
    a = np.full(g.shape + (2,), -1, dtype=np.int8)
    a[g == 0] = [0, 0]
    a[g == 1] = [0, 1]
    a[g == 2] = [1, 1]
    ga = allel.GenotypeArray(a.transpose(1, 0, 2))
    return ga.count_alleles(max_allele=1), ga


def _check_against_allel(panel, groups, genome, windows, inbred, window):
    v = panel.variants
    for gname in groups.names:
        members = np.flatnonzero(groups.labels == gname)
        idx = [panel.samples.index(groups.samples[i]) for i in members]
        ac, ga = _allel_counts(panel, idx, inbred)
        row = genome.set_index("group").loc[gname]
        pi_sum = theta_sum = span_sum = 0.0
        for c in pd.unique(v["chrom"]):
            sel = (v["chrom"] == c).to_numpy()
            pos = v["pos"].to_numpy()[sel]
            span = pos[-1] - pos[0] + 1
            pi_sum += allel.sequence_diversity(pos, ac[sel]) * span
            theta_sum += allel.watterson_theta(pos, ac[sel]) * span
            span_sum += span
            stop = int(pos[-1])
            wpi, wins, _, _ = allel.windowed_diversity(
                pos, ac[sel], size=window, start=1, stop=stop
            )
            wth, _, _, _ = allel.windowed_watterson_theta(
                pos, ac[sel], size=window, start=1, stop=stop
            )
            wd, _, _ = allel.windowed_tajima_d(pos, ac[sel], size=window, start=1, stop=stop)
            ours = windows[(windows["group"] == gname) & (windows["chrom"] == c)].set_index("start")
            truth = pd.DataFrame({"pi": wpi, "th": wth, "d": wd}, index=wins[:, 0])
            truth = truth.loc[ours.index]
            np.testing.assert_allclose(ours["pi"], truth["pi"], rtol=1e-6, atol=1e-12)
            np.testing.assert_allclose(ours["theta_w"], truth["th"], rtol=1e-6, atol=1e-12)
            np.testing.assert_allclose(ours["tajima_d"], truth["d"], rtol=1e-6, atol=1e-9)
        assert row["pi"] == pytest.approx(pi_sum / span_sum, rel=1e-6)
        assert row["theta_w"] == pytest.approx(theta_sum / span_sum, rel=1e-6)
        assert row["tajima_d"] == pytest.approx(allel.tajima_d(ac), rel=1e-6)
        if ga is not None:
            ho = np.nanmean(allel.heterozygosity_observed(ga))
            af = ac.to_frequencies()
            called = ac.sum(axis=1) > 0
            he = np.mean(allel.heterozygosity_expected(af[called], ploidy=2))
            assert row["ho"] == pytest.approx(ho, rel=1e-6)
            assert row["he"] == pytest.approx(he, rel=1e-6)


def test_landrace_diversity_allel_and_truth(landraces):
    panel, prefix, groups = landraces
    genome, windows = diversity(prefix, groups, inbred=True, window=250_000, chunk_size=7000)
    _check_against_allel(panel, groups, genome, windows, True, 250_000)
    # against the msprime expectation over the full simulated sequence
    lengths = {str(c + 1): panel.params["chrom_length"] for c in range(panel.params["n_chrom"])}
    g2, _ = diversity(prefix, groups, inbred=True, lengths=lengths)
    exp = panel.expected["groups"].set_index("group")
    for r in g2.itertuples():
        assert r.pi == pytest.approx(exp.loc[r.group, "pi"], rel=0.05)
        assert r.pi == pytest.approx(exp.loc[r.group, "pi_branch"], rel=0.05)
        assert r.theta_w == pytest.approx(exp.loc[r.group, "theta_branch"], rel=0.05)
        assert r.ho == 0.0 and r.private_alleles > 0


def test_landrace_fst(landraces):
    panel, prefix, groups = landraces
    tab = pairwise_fst(prefix, groups, inbred=True, blen=500)
    exp = panel.expected["fst"].set_index(["group1", "group2"])
    for r in tab.itertuples():
        i = [groups.samples.index(s) for s in np.array(groups.samples)[groups.labels == r.group1]]
        j = [groups.samples.index(s) for s in np.array(groups.samples)[groups.labels == r.group2]]
        ac1, _ = _allel_counts(panel, i, True)
        ac2, _ = _allel_counts(panel, j, True)
        fst, se, _, _ = allel.average_hudson_fst(ac1, ac2, 500)
        assert r.fst == pytest.approx(fst, abs=1e-6)
        assert r.se == pytest.approx(se, rel=1e-6)
        assert abs(r.fst - exp.loc[(r.group1, r.group2), "fst_branch"]) < 0.02
    assert abs(tab["fst"].mean() - exp["fst"].mean()) < 0.02


def test_outbred_diploid_stats(outbred):
    panel, prefix, groups = outbred
    genome, windows = diversity(prefix, groups, inbred=False, window=500_000)
    _check_against_allel(panel, groups, genome, windows, False, 500_000)
    # private alleles, recomputed from scikit-allel counts
    acs = [_allel_counts(panel, np.flatnonzero(groups.labels == g), False)[0] for g in "ABC"]
    pres = np.stack([np.asarray(a) > 0 for a in acs])  # (3, m, 2)
    only = pres.sum(axis=0) == 1
    expect = (pres & only).sum(axis=(1, 2))
    np.testing.assert_array_equal(genome["private_alleles"].to_numpy(), expect)
    tab = pairwise_fst(prefix, groups, blen=300)
    for r in tab.itertuples():
        a1 = acs["ABC".index(r.group1)]
        a2 = acs["ABC".index(r.group2)]
        fst, se, _, _ = allel.average_hudson_fst(a1, a2, 300)
        assert r.fst == pytest.approx(fst, abs=1e-6)
        assert r.se == pytest.approx(se, rel=1e-5)


def test_bad_inputs(outbred, tmp_path):
    panel, prefix, groups = outbred
    one = Groups(groups.samples, np.array(["all"] * len(groups.samples), dtype=object), ["all"])
    with pytest.raises(UserError, match="two groups"):
        pairwise_fst(prefix, one)
    g1, _ = diversity(prefix, one)
    assert "private alleles need two or more groups" in g1.loc[0, "note"]
    sheet = tmp_path / "g.tsv"
    sheet.write_text("sample\tgroup\nP0001\tA\nnobody\tB\n")
    with pytest.raises(UserError, match="nobody"):
        load_groups(prefix, sheet)
    # monomorphic data: diversity 0 and Tajima's D reported as undefined
    from breedomics.core.genotypes import write_bed

    mono = tmp_path / "mono"
    write_bed(mono, panel.variants.iloc[:50], [np.zeros((4, 50), np.float32)], list("abcd"))
    g, w = diversity(mono, load_groups(mono))
    assert g.loc[0, "pi"] == 0 and np.isnan(g.loc[0, "tajima_d"])
    assert "tajima_d undefined" in g.loc[0, "note"]
    allmiss = tmp_path / "miss"
    write_bed(allmiss, panel.variants.iloc[:5], [np.full((4, 5), np.nan, np.float32)], list("abcd"))
    with pytest.raises(UserError, match="no SNP has a genotype call"):
        diversity(allmiss, load_groups(allmiss))
