"""PCA against ``plink2 --pca``; the census GRM job's table.

The GRM itself is tested against the brute-force VanRaden formula in
``tests/test_core_grm.py``.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from breedomics.census.grm import census_grm, grm_table
from breedomics.census.pca import pca
from breedomics.core.genotypes import read_dosage, write_bed
from breedomics.core.grm import vanraden_grm
from breedomics.errors import UserError
from breedomics.testing.simulate import simulate_landraces, simulate_outbred, write_plink
from breedomics.testing.spec import GenomeSpec


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pca")
    genome = GenomeSpec(n_groups=5, n_chrom=4, chrom_length=1_500_000, missing_rate=0.01, seed=2)
    p = simulate_landraces(genome, lines_per_group=40, n_admixed=10, n_duplicates=0)
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


def test_grm_table_is_the_census_matrix(tmp_path):
    """The job's table is the double-precision core GRM, rows and columns in sheet order."""
    genome = GenomeSpec(n_samples=30, n_chrom=2, chrom_length=2_000_000, missing_rate=0.02, seed=3)
    p = simulate_outbred(genome, n_founders=10, generations=1)
    prefix = write_plink(p, tmp_path / "ob")
    order = p.samples[::-1]
    res = census_grm(prefix, order, chunk_size=333)
    tab = grm_table(res)
    assert list(tab["sample"]) == order and list(tab.columns[1:]) == order
    _, d = read_dosage(prefix, order)
    np.testing.assert_allclose(tab.iloc[:, 1:].to_numpy(), vanraden_grm(d), rtol=1e-12, atol=1e-14)


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
