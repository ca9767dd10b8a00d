"""PCA against ``plink2 --pca`` and the VanRaden GRM against its closed form."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from breedomics.census.grm import accumulate_grm, vanraden_grm
from breedomics.census.pca import pca
from breedomics.core.genotypes import write_bed
from breedomics.errors import UserError
from breedomics.testing.simulate import simulate_landraces, simulate_outbred, write_plink


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pca")
    p = simulate_landraces(
        n_groups=5, lines_per_group=40, n_admixed=10, n_duplicates=0, n_chrom=4,
        chrom_length=1_500_000, seed=2, missing_rate=0.01,
    )  # fmt: skip
    prefix = write_plink(p, tmp / "sim")
    t = p.truth
    keep: list[str] = []
    # unequal group sizes give distinct eigenvalues, so PCs are identifiable
    for g, k in zip(["G1", "G2", "G3", "G4", "G5"], [40, 30, 20, 12, 6], strict=True):
        keep += list(t.loc[t.group == g, "sample"][:k])
    keep += list(t.loc[t.kind == "admixed", "sample"])
    return p, prefix, keep, tmp


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed")
def test_pca_matches_plink2(panel):
    p, prefix, keep, tmp = panel
    pd.DataFrame({"f": keep, "i": keep}).to_csv(
        tmp / "keep.txt", sep="\t", header=False, index=False
    )
    subprocess.run(
        ["plink2", "--bfile", prefix, "--keep", str(tmp / "keep.txt"), "--pca", "4",
         "--out", str(tmp / "pl")],
        check=True, capture_output=True,
    )  # fmt: skip
    ref = pd.read_csv(tmp / "pl.eigenvec", sep="\t").set_index("IID").loc[keep]
    scores, var = pca(prefix, keep, n_pcs=4, chunk_size=3000)
    assert list(scores["sample"]) == keep
    for i in range(1, 5):
        r = np.corrcoef(ref[f"PC{i}"], scores[f"PC{i}"])[0, 1]
        assert abs(r) >= 0.99, (i, r)
    plv = np.loadtxt(tmp / "pl.eigenval")
    # same eigenvalue ratios (plink2 scales the matrix and treats missing calls differently)
    np.testing.assert_allclose(var["eigenvalue"] / var["eigenvalue"][0], plv / plv[0], rtol=1e-2)
    assert np.all(np.diff(var["variance_explained"]) <= 0)


def test_vanraden_closed_form_small():
    m = np.array([[0, 1], [2, 1], [1, 2]], dtype=float)
    expect = np.array([[20, -16, -4], [-16, 20, -4], [-4, -4, 8]]) / 17
    np.testing.assert_allclose(vanraden_grm(m), expect, atol=1e-12)


def test_vanraden_streamed_equals_formula(tmp_path):
    p = simulate_outbred(n_animals=60, n_founders=20, generations=2, n_chrom=2,
                         chrom_length=3_000_000, missing_rate=0.02, seed=9)  # fmt: skip
    prefix = write_plink(p, tmp_path / "ob")
    d = p.dosage()
    called = ~np.isnan(d)
    pfreq = np.nansum(d, axis=0) / (2 * called.sum(axis=0))
    poly = (pfreq > 0) & (pfreq < 1)
    z = np.where(called, d, 2 * pfreq)[:, poly] - 2 * pfreq[poly]
    expect = z @ z.T / (2 * np.sum(pfreq[poly] * (1 - pfreq[poly])))
    res = accumulate_grm(prefix, p.samples, "vanraden", chunk_size=777)
    np.testing.assert_allclose(res.matrix, expect, rtol=1e-9, atol=1e-12)
    assert res.n_snps == poly.sum()
    # inbred animals have larger self-relationship: diag - 1 tracks realised F
    r = np.corrcoef(np.diag(res.matrix) - 1, p.truth["F"])[0, 1]
    assert r > 0.8


def test_bad_inputs(panel, tmp_path):
    p, prefix, keep, _ = panel
    mono = tmp_path / "mono"
    write_bed(mono, p.variants.iloc[:20], [np.ones((5, 20), np.float32)], list("abcde"))
    with pytest.raises(UserError, match="no polymorphic SNP"):
        pca(mono, list("abcde"))
    with pytest.raises(UserError, match="not in genotype file"):
        pca(prefix, keep[:5] + ["ghost"])
    with pytest.raises(UserError, match="at least 3 samples"):
        pca(prefix, keep[:2])
