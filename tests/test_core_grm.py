"""The genetics core: dosage standardisation and the VanRaden GRM against closed forms.

* standardisation (:mod:`breedomics.core.standardise`) on a hand-made matrix whose
  means, kept columns and centred values are written out;
* the GRM (:mod:`breedomics.core.grm`) against the brute-force numpy formula of
  VanRaden (2008) on a simulated outbred pedigree with missing calls: streamed from a
  PLINK file in odd-sized chunks, dense, from the centred matrix of genomic
  selection, in double and single precision, standardised for PCA, with a MAF
  threshold; LOCO parts add up to the whole and each LOCO matrix is the brute-force
  GRM of the other chromosomes.
"""

from __future__ import annotations

import numpy as np
import pytest

from breedomics.core.genotypes import read_dosage, read_variants
from breedomics.core.grm import accumulate_grm, grm_from_centred, vanraden_grm, vanraden_scale
from breedomics.core.standardise import centre, dosage_means, impute_center, maf_mask, standardise
from breedomics.errors import UserError
from breedomics.gs.data import Genotypes
from breedomics.testing.simulate import simulate_outbred, write_plink
from breedomics.testing.spec import GenomeSpec

NAN = np.nan


def brute_vanraden(d: np.ndarray, min_maf: float = 0.0, standardized: bool = False):
    """VanRaden (2008) method 1 written out: frequencies of the called samples, missing
    calls set to 2p, SNPs with MAF <= min_maf (or no call) left out."""
    d = np.asarray(d, dtype=np.float64)
    called = ~np.isnan(d)
    p = np.nansum(d, axis=0) / (2 * called.sum(axis=0))
    use = called.any(axis=0) & (np.minimum(p, 1 - p) > min_maf)
    z = np.where(called, d, 2 * p)[:, use] - 2 * p[use]
    if standardized:
        z = z / np.sqrt(2 * p[use] * (1 - p[use]))
        return z @ z.T / use.sum()
    return z @ z.T / (2 * np.sum(p[use] * (1 - p[use])))


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    genome = GenomeSpec(n_samples=60, n_chrom=3, chrom_length=2_000_000, missing_rate=0.02, seed=9)
    p = simulate_outbred(genome, n_founders=20, generations=2)
    prefix = write_plink(p, tmp_path_factory.mktemp("grm") / "ob")
    variants, d = read_dosage(prefix)
    return p, prefix, variants, d


# --------------------------------------------------------------------------- standardise
#: 4 samples x 6 SNPs: common, missing call, monomorphic, all heterozygous, all missing,
#: MAF exactly 1/8 (one copy in eight)
X = np.array(
    [
        [0, 2, 2, 1, NAN, 0],
        [1, NAN, 2, 1, NAN, 0],
        [2, 1, 2, 1, NAN, 1],
        [1, 0, 2, 1, NAN, 0],
    ],
    dtype=np.float32,
)


def test_means_and_maf_rule_closed_form():
    mean, n_obs = dosage_means(X)
    np.testing.assert_array_equal(n_obs, [4, 3, 4, 4, 0, 4])
    np.testing.assert_allclose(mean, [1.0, 1.0, 2.0, 1.0, 0.0, 0.25])
    p = mean / 2
    # census/GWAS: MAF > min_maf; GS: MAF >= min_maf (here at exactly 1/8)
    assert maf_mask(p, 0.125).tolist() == [True, True, False, True, False, False]
    assert maf_mask(p, 0.125, inclusive=True).tolist() == [True, True, False, True, False, True]
    assert not maf_mask(np.array([np.nan]), 0.0).any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_centre_closed_form(dtype):
    c = centre(X, dtype=dtype)
    assert c.keep.tolist() == [True, True, False, True, False, True]
    assert c.z.dtype == dtype and c.z.flags.c_contiguous
    want = np.array(
        [[-1, 1, 0, -0.25], [0, 0, 0, -0.25], [1, 0, 0, 0.75], [0, -1, 0, -0.25]]
    )  # missing call -> mean -> 0
    np.testing.assert_array_equal(c.z, want.astype(dtype))
    np.testing.assert_array_equal(c.freq, [0.5, 0.5, 0.5, 0.125])
    np.testing.assert_array_equal(c.n_obs, [4, 3, 4, 4])
    # GS also drops a column that does not vary (all heterozygous) and keeps MAF == min_maf
    gs = centre(X, 0.125, inclusive=True, min_variance=1e-12, dtype=dtype)
    assert gs.keep.tolist() == [True, True, False, False, False, True]
    np.testing.assert_array_equal(gs.z, want[:, [0, 1, 3]].astype(dtype))
    w = standardise(c.z.astype(np.float64), c.freq)
    np.testing.assert_allclose(w[:, 3], want[:, 3] / np.sqrt(2 * 0.125 * 0.875))


def test_gs_markers_follow_the_core_rules():
    g = Genotypes.from_dosage(X, list("abcd"), [f"m{j}" for j in range(6)], min_maf=0.125)
    assert g.markers == ["m0", "m1", "m5"]
    np.testing.assert_array_equal(g.freq, [0.5, 0.5, 0.125])
    assert g.scale == pytest.approx(2 * (0.25 + 0.25 + 0.125 * 0.875))


def test_impute_center_keeps_every_column():
    z, mean, n_obs = impute_center(X)
    assert z.shape == X.shape and z.dtype == np.float64
    np.testing.assert_array_equal(mean, [1.0, 1.0, 2.0, 1.0, 0.0, 0.25])
    np.testing.assert_array_equal(z[:, 4], 0.0)  # no call: 0, not NaN
    np.testing.assert_array_equal(z[1, 1], 0.0)
    np.testing.assert_array_equal(n_obs, [4, 3, 4, 4, 0, 4])
    buf = np.empty(X.size + 5)
    z2, _, _ = impute_center(X, out=buf)
    np.testing.assert_array_equal(z2, z)


# --------------------------------------------------------------------------- GRM
def test_vanraden_closed_form_small():
    m = np.array([[0, 1], [2, 1], [1, 2]], dtype=float)
    expect = np.array([[20, -16, -4], [-16, 20, -4], [-4, -4, 8]]) / 17
    np.testing.assert_allclose(vanraden_grm(m), expect, atol=1e-12)


def test_streamed_grm_equals_brute_force(panel):
    p, prefix, _, d = panel
    expect = brute_vanraden(d)
    res = accumulate_grm(prefix, p.samples, dtype=np.float64, chunk_size=777)
    np.testing.assert_allclose(res.matrix(), expect, rtol=1e-9, atol=1e-12)
    called = ~np.isnan(d)
    pf = np.nansum(d, axis=0) / (2 * called.sum(axis=0))
    assert res.n_snps == ((pf > 0) & (pf < 1)).sum()
    assert res.n_snps + res.n_skipped == d.shape[1]
    # single precision: products rounded to float32, summed in double
    res32 = accumulate_grm(prefix, p.samples, chunk_size=777)
    np.testing.assert_allclose(res32.matrix(), expect, rtol=1e-5, atol=1e-6)
    # inbred animals have larger self-relationship: diag - 1 tracks realised F
    assert np.corrcoef(np.diag(res.matrix()) - 1, p.truth["F"])[0, 1] > 0.8


def test_maf_threshold_and_standardised_grm(panel):
    p, prefix, _, d = panel
    got = accumulate_grm(prefix, p.samples, min_maf=0.1, dtype=np.float64, chunk_size=500)
    np.testing.assert_allclose(got.matrix(), brute_vanraden(d, 0.1), rtol=1e-9, atol=1e-12)
    std = accumulate_grm(prefix, p.samples, method="standardized", dtype=np.float64)
    np.testing.assert_allclose(std.matrix(), brute_vanraden(d, standardized=True), rtol=1e-9)
    with pytest.raises(UserError, match="unknown GRM method"):
        vanraden_grm(d, method="yang")


def test_streamed_equals_dense_equals_centred(panel):
    """The three entry points are one computation: a file in chunks, an in-memory
    dosage matrix in blocks, and genomic selection's centred marker matrix."""
    p, prefix, _, d = panel
    sub = p.samples[::2]
    rows = np.arange(0, len(p.samples), 2)
    streamed = accumulate_grm(prefix, sub, dtype=np.float64, chunk_size=301).matrix()
    dense = vanraden_grm(d[rows], block=1000)
    np.testing.assert_allclose(dense, streamed, rtol=1e-12, atol=1e-14)
    c = centre(d[rows])
    np.testing.assert_allclose(
        grm_from_centred(c.z, vanraden_scale(c.freq), block=256), streamed, rtol=1e-12, atol=1e-14
    )
    gs = Genotypes.from_dosage(d[rows], sub)  # float32, GS rules: same SNPs here
    assert gs.p == c.z.shape[1]
    np.testing.assert_allclose(gs.grm(), streamed, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        vanraden_grm(d[rows], dtype=np.float32), gs.grm(), rtol=1e-6, atol=1e-7
    )


def test_loco_parts_add_up(panel):
    p, prefix, variants, d = panel
    res = accumulate_grm(prefix, p.samples, loco=True, dtype=np.float64, chunk_size=700)
    whole = accumulate_grm(prefix, p.samples, dtype=np.float64, chunk_size=700)
    assert res.chromosomes == ["1", "2", "3"]
    np.testing.assert_allclose(sum(res.chrom_num.values()), res.num, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(res.num, whole.num, rtol=1e-12, atol=1e-10)
    assert sum(res.chrom_den.values()) == pytest.approx(res.den, rel=1e-12)
    assert sum(res.chrom_snps.values()) == res.n_snps == whole.n_snps
    np.testing.assert_allclose(res.matrix(), whole.matrix(), rtol=1e-12, atol=1e-12)
    chrom = variants["chrom"].astype(str).to_numpy()
    for c in res.chromosomes:
        np.testing.assert_allclose(
            res.matrix(c), brute_vanraden(d[:, chrom != c]), rtol=1e-9, atol=1e-12
        )
    assert np.array_equal(res.matrix("not_a_chromosome"), res.matrix())


def test_loco_limits_and_errors(panel, tmp_path):
    p, prefix, variants, d = panel
    one = variants["chrom"].astype(str) == "1"
    chunks = [(variants[one], d[:, one.to_numpy()])]
    res = accumulate_grm(chunks, p.samples, loco=True)
    with pytest.raises(UserError, match="no SNP left"):
        res.matrix("1")
    with pytest.raises(UserError, match="more than 2 chromosomes"):
        accumulate_grm(prefix, p.samples, loco=True, max_chromosomes=2)
    ids = set(read_variants(prefix)["id"].iloc[::3])
    got = accumulate_grm(prefix, p.samples, snp_ids=ids, dtype=np.float64)
    keep = variants["id"].isin(ids).to_numpy()
    np.testing.assert_allclose(got.matrix(), brute_vanraden(d[:, keep]), rtol=1e-9)
    mono = [(variants.iloc[:5], np.zeros((len(p.samples), 5), np.float32))]
    with pytest.raises(UserError, match="no polymorphic SNP"):
        accumulate_grm(mono, p.samples)
