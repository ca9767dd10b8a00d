"""Exact MLM, P3D and LOCO against ``gemma -lmm 1`` and closed forms.

On a simulated structured panel of inbred lines (msprime island model) the
same genotypes, phenotype, covariates and kinship are given to GEMMA 0.98.5
and to ``breedomics.gwas``: the Wald -log10 p must correlate with r >= 0.999,
betas agree within 1e-3 relative, the REML PVE within 0.01; per-variant REML
lambda and log-likelihoods are compared as well. LOCO is compared with GEMMA
run on the leave-one-chromosome-out kinship, per-trait missing phenotypes
with GEMMA's own masking, and P3D with an explicit GLS computation.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest

from breedomics.core.genotypes import read_dosage, write_bed
from breedomics.core.grm import eigh_psd, top_pcs
from breedomics.core.standardise import impute_center
from breedomics.gwas.kinship import read_kinship
from breedomics.gwas.lmm import AssocSet, exact_alt_loglik
from breedomics.gwas.phenotypes import add_pcs, prepare
from breedomics.gwas.results import read_sumstats
from breedomics.gwas.scan import GenotypeSource, ScanConfig, build_grm, scan
from breedomics.testing.simulate_gwas import simulate_structured, simulate_traits
from breedomics.testing.spec import GenomeSpec

pytestmark = pytest.mark.skipif(shutil.which("gemma") is None, reason="gemma not installed")


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlm")
    g = simulate_structured(
        GenomeSpec(n_samples=300, n_snps=3000, n_chrom=6, seed=21), segments=5, inbred=True
    )
    ph, q = simulate_traits(
        g.dosage, g.variants, n_traits=2, n_qtl=6, h2_qtl=0.3, h2_poly=0.3,
        groups=g.groups, group_var=0.1, seed=9,
    )  # fmt: skip
    ph.index = g.samples
    rng = np.random.default_rng(8)
    ph.loc[rng.choice(g.samples, 45, replace=False), "trait2"] = np.nan
    write_bed(tmp / "g", g.variants, [g.dosage], g.samples)
    cov = pd.DataFrame({"env": rng.normal(size=len(g.samples)).round(4)}, index=g.samples)
    data = prepare(g.samples, ph, cov)
    src = GenotypeSource(str(tmp / "g"), data.samples)
    grm, _ = build_grm(src, loco=True)
    data = add_pcs(data, top_pcs(eigh_psd(grm.matrix()), 2))
    return tmp, g, data, src, grm


def _gemma(tmp, name, kin, covar, pheno_col=1, snps=None, extra=()):
    cmd = ["gemma", "-bfile", str(tmp / "g"), "-k", str(kin), "-c", str(covar), "-lmm", "1"]
    cmd += ["-p", str(tmp / "gemma.pheno"), "-n", str(pheno_col), "-o", name, *extra]
    if snps is not None:
        cmd += ["-snps", str(snps)]
    proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assoc = pd.read_csv(tmp / "output" / f"{name}.assoc.txt", sep="\t")
    log = (tmp / "output" / f"{name}.log.txt").read_text()

    def val(key):
        return float(re.search(r"## " + re.escape(key) + r" = *([-0-9.e+]+)", log).group(1))

    return assoc, {
        k: val(k)
        for k in (
            "REMLE log-likelihood in the null model",
            "MLE log-likelihood in the null model",
            "pve estimate in the null model",
            "se(pve) in the null model",
        )
    }


def _gemma_inputs(tmp, data, kin):
    np.savetxt(tmp / "K.txt", kin, fmt="%.12g")
    data.covariates.to_csv(tmp / "covar.txt", sep="\t", header=False, index=False)
    data.traits.to_csv(tmp / "gemma.pheno", sep="\t", header=False, index=False, na_rep="NA")
    return tmp / "K.txt", tmp / "covar.txt"


def _compare(ours: pd.DataFrame, gem: pd.DataFrame):
    m = ours.merge(gem, left_on="variant_id", right_on="rs")
    assert len(m) == len(gem) > 0
    nl_g = -np.log10(m["p_wald"].to_numpy())
    nl = m["neg_log_10_p_value"].to_numpy()
    assert np.corrcoef(nl, nl_g)[0, 1] >= 0.999
    assert np.max(np.abs(nl - nl_g)) < 1e-3
    # relative to |beta|, or to its standard error for a beta near 0 (where the rotation
    # in single precision moves the 8th decimal of a beta of 1e-6)
    rel = np.abs(m["beta_x"] - m["beta_y"]) / np.maximum(np.abs(m["beta_y"]), m["se"])
    assert rel.max() < 1e-3, m.loc[rel.idxmax(), ["variant_id", "beta_x", "beta_y"]]
    np.testing.assert_allclose(m["standard_error"], m["se"], rtol=1e-4)
    assert (m["effect_allele"] == m["allele1"]).all()
    np.testing.assert_allclose(m["effect_allele_frequency"], m["af"], atol=6e-4)
    return m


def test_exact_mlm_matches_gemma_lmm1(panel):
    tmp, g, data, src, grm = panel
    kin = grm.matrix()
    kfile, cfile = _gemma_inputs(tmp, data, kin)
    gem, log = _gemma(tmp, "t1", kfile, cfile, 1)
    res = scan(src, data, tmp / "exact", ScanConfig(model="mlm", maf=0.0), grm=grm)
    ours = read_sumstats(res[0].path)
    _compare(ours, gem)
    nm = res[0].null
    assert abs(nm.pve - log["pve estimate in the null model"]) < 0.01
    assert nm.pve == pytest.approx(log["pve estimate in the null model"], abs=1e-5)
    assert nm.pve_se == pytest.approx(log["se(pve) in the null model"], rel=1e-3)
    assert nm.loglik_reml == pytest.approx(log["REMLE log-likelihood in the null model"], abs=1e-3)
    assert nm.loglik_ml == pytest.approx(log["MLE log-likelihood in the null model"], abs=1e-3)


def test_per_variant_reml_lambda_and_loglik_match_gemma(panel):
    tmp, g, data, src, grm = panel
    kin = grm.matrix()
    kfile, cfile = _gemma_inputs(tmp, data, kin)
    gem, _ = _gemma(tmp, "t1b", kfile, cfile, 1)
    e = eigh_psd(kin)
    w = data.covariates.to_numpy()
    y = data.traits[["trait1"]].to_numpy()
    ts = AssocSet.build(["trait1"], np.arange(len(y)), w, y, "exact", e)
    _v, x = read_dosage(str(tmp / "g"), data.samples)
    z, mean, _n = impute_center(x)
    r = ts.test(z)[0]
    np.testing.assert_allclose(r.lam, gem["l_remle"], rtol=2e-4)
    # GEMMA's logl_H1 adds the constants d/2 (log d - log 2 pi - 1) + 1/2 log|X'X|
    n, c = w.shape
    d = n - c - 1
    xf = z + mean
    logdet = np.array(
        [np.linalg.slogdet(np.column_stack([w, xf[:, j]]).T @ np.column_stack([w, xf[:, j]]))[1]
         for j in range(xf.shape[1])]
    )  # fmt: skip
    full = r.loglik + 0.5 * d * (np.log(d) - np.log(2 * np.pi) - 1) + 0.5 * logdet
    np.testing.assert_allclose(full, gem["logl_H1"], atol=2e-4 * np.abs(gem["logl_H1"]).max())
    # the returned lambda maximises the exact REML likelihood (no interpolation error)
    xt = e.U.T @ z[:, :200]
    yt = np.repeat(e.U.T @ y, 200, axis=1)
    u = np.log(r.lam[:200])
    ll0, xpx, xpy, _ = exact_alt_loglik(e.s, e.U.T @ w, xt, yt, u)
    np.testing.assert_allclose(ll0, r.loglik[:200], rtol=1e-9, atol=1e-7)
    # interpolated xPy carries an absolute error ~1e-9 of se (see breedomics.gwas.lmm)
    np.testing.assert_allclose(xpy / xpx, r.beta[:200], rtol=1e-7, atol=1e-8 * r.se[:200].max())
    for h in (-1e-3, 1e-3):
        assert np.all(exact_alt_loglik(e.s, e.U.T @ w, xt, yt, u + h)[0] <= ll0 + 1e-9)


def test_trait_without_heritability_matches_gemma_and_dense_search(panel):
    """A pure-noise trait has a flat likelihood in lambda: per-variant optima land
    far from the null estimate, on the wider intervals around GEMMA's grid
    points. Both GEMMA and a dense exact search must agree."""
    tmp, g, data, src, grm = panel
    rng = np.random.default_rng(17)
    noise = pd.DataFrame({"noise": rng.normal(size=len(data.samples))}, index=data.samples)
    one = data.__class__(data.samples, noise, data.covariates, data.report)
    kin = grm.matrix()
    kfile, cfile = _gemma_inputs(tmp, one, kin)
    gem, log = _gemma(tmp, "noise", kfile, cfile, 1)
    res = scan(src, one, tmp / "noise", ScanConfig(model="mlm", maf=0.0), grm=grm)
    _compare(read_sumstats(res[0].path), gem)
    # dense exact search on 300 variants: our optimum is the global one
    e = eigh_psd(kin)
    w = one.covariates.to_numpy()
    y = noise.to_numpy()
    ts = AssocSet.build(["noise"], np.arange(len(y)), w, y, "exact", e)
    _v, x = read_dosage(str(tmp / "g"), one.samples)
    z, _mean, _n = impute_center(x[:, :300])
    r = ts.test(z)[0]
    xt = e.U.T @ z
    yt = np.repeat(e.U.T @ y, 300, axis=1)
    wt = e.U.T @ w
    best = np.full(300, -np.inf)
    for u in np.linspace(np.log(1e-5), np.log(1e5), 1201):
        best = np.maximum(best, exact_alt_loglik(e.s, wt, xt, yt, np.full(300, u))[0])
    assert np.all(r.loglik >= best - 1e-7)


def test_gemma_kinship_file_and_missing_phenotypes(panel):
    """Trait 2 has 45 missing values: GEMMA drops them itself, we mask per trait."""
    tmp, g, data, src, grm = panel
    _kfile, cfile = _gemma_inputs(tmp, data, grm.matrix())
    proc = subprocess.run(
        ["gemma", "-bfile", str(tmp / "g"), "-p", str(tmp / "gemma.pheno"), "-gk", "1", "-o", "gk"],
        cwd=tmp, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0
    kg = tmp / "output" / "gk.cXX.txt"
    kin = read_kinship(kg, data.samples, g.samples)
    # VanRaden = GEMMA's centred GRM x constant (ours: single-precision products)
    scale = np.trace(grm.matrix()) / np.trace(kin)
    np.testing.assert_allclose(
        grm.matrix(), kin * scale, rtol=0, atol=1e-5 * np.abs(grm.matrix()).max()
    )
    gem, log = _gemma(tmp, "t2", kg, cfile, 2)
    res = scan(src, data, tmp / "gk", ScanConfig(model="mlm", maf=0.0), kinship=kin)
    r2 = next(r for r in res if r.trait == "trait2")
    assert r2.n_samples == 255
    m = _compare(read_sumstats(r2.path), gem)
    assert (m["n"] == 255).all()
    assert abs(r2.null.pve - log["pve estimate in the null model"]) < 1e-3


def test_loco_matches_gemma_on_loco_kinship(panel):
    tmp, g, data, src, grm = panel
    chrom = "3"
    kfile, cfile = _gemma_inputs(tmp, data, grm.matrix(chrom))
    ids = g.variants.loc[g.variants["chrom"] == chrom, "id"]
    ids.to_csv(tmp / "snps3.txt", index=False, header=False)
    gem, log = _gemma(tmp, "loco3", kfile, cfile, 1, snps=tmp / "snps3.txt")
    res = scan(src, data, tmp / "loco", ScanConfig(model="mlm", loco=True, maf=0.0), grm=grm)
    ours = read_sumstats(res[0].path)
    _compare(ours[ours["chromosome"] == chrom], gem)
    assert res[0].loco_nulls[chrom].pve == pytest.approx(
        log["pve estimate in the null model"], abs=1e-4
    )
    # LOCO kinship of chromosome 3 really excludes its SNPs
    _v, x = read_dosage(str(tmp / "g"), data.samples)
    keep = (g.variants["chrom"] != chrom).to_numpy()
    z, mean, _n = impute_center(x[:, keep])
    p = mean / 2
    ref = z @ z.T / np.sum(2 * p * (1 - p))
    np.testing.assert_allclose(grm.matrix(chrom), ref, rtol=0, atol=1e-6 * np.abs(ref).max())


def test_p3d_is_gls_with_null_lambda(panel):
    tmp, g, data, src, grm = panel
    kin = grm.matrix()
    res = scan(src, data, tmp / "p3d", ScanConfig(model="mlm-p3d", maf=0.0), grm=grm)
    ours = read_sumstats(res[0].path)
    lam = res[0].null.lam
    _v, x = read_dosage(str(tmp / "g"), data.samples)
    w = data.covariates.to_numpy()
    y = data.traits["trait1"].to_numpy()
    hinv = np.linalg.inv(lam * kin + np.eye(len(y)))
    from scipy import stats

    for j in np.random.default_rng(0).choice(x.shape[1], 25, replace=False):
        xx = np.column_stack([w, x[:, j]])
        a = xx.T @ hinv @ xx
        b = np.linalg.solve(a, xx.T @ hinv @ y)
        resid = y - xx @ b
        d = len(y) - xx.shape[1]
        s2 = resid @ hinv @ resid / d
        se = np.sqrt(np.linalg.inv(a)[-1, -1] * s2)
        p = 2 * stats.t.sf(abs(b[-1] / se), d)
        assert ours["beta"].iloc[j] == pytest.approx(b[-1], rel=1e-5)
        assert ours["standard_error"].iloc[j] == pytest.approx(se, rel=1e-5)
        assert ours["neg_log_10_p_value"].iloc[j] == pytest.approx(-np.log10(p), rel=1e-4)


def test_many_traits_in_one_pass_equal_single_runs(panel):
    tmp, g, data, src, grm = panel
    both = scan(src, data, tmp / "both", ScanConfig(model="mlm", maf=0.0), grm=grm)
    for k, t in enumerate(["trait1", "trait2"]):
        one = data.__class__(data.samples, data.traits[[t]], data.covariates, data.report)
        single = scan(src, one, tmp / f"one{t}", ScanConfig(model="mlm", maf=0.0), grm=grm)
        a = read_sumstats(both[k].path)
        b = read_sumstats(single[0].path)
        np.testing.assert_allclose(a["beta"], b["beta"], rtol=1e-10)
        np.testing.assert_allclose(a["neg_log_10_p_value"], b["neg_log_10_p_value"], rtol=1e-10)


def test_more_traits_than_one_block(panel):
    """20 traits (two blocks of the stacked products) equal two-trait runs."""
    tmp, g, data, src, grm = panel
    rng = np.random.default_rng(3)
    y = data.traits["trait1"].to_numpy()
    many = pd.DataFrame(
        {f"t{k}": y + rng.normal(scale=0.5 + 0.1 * k, size=len(y)) for k in range(20)},
        index=data.samples,
    )
    big = data.__class__(data.samples, many, data.covariates, data.report)
    res = scan(src, big, tmp / "many", ScanConfig(model="mlm", maf=0.0), grm=grm)
    for k in (0, 17, 19):
        one = data.__class__(data.samples, many[[f"t{k}"]], data.covariates, data.report)
        ref = scan(src, one, tmp / f"many{k}", ScanConfig(model="mlm", maf=0.0), grm=grm)
        a, b = read_sumstats(res[k].path), read_sumstats(ref[0].path)
        np.testing.assert_allclose(a["beta"], b["beta"], rtol=1e-10)
        np.testing.assert_allclose(a["neg_log_10_p_value"], b["neg_log_10_p_value"], rtol=1e-10)


def test_non_psd_kinship_gets_ridge_and_warning(panel):
    tmp, g, data, src, grm = panel
    kin = grm.matrix()
    s, u = np.linalg.eigh(kin)
    s[0] = -0.05 * s[-1]  # a clearly negative eigenvalue
    bad = (u * s) @ u.T
    with pytest.warns(UserWarning, match=r"not positive semi-definite.*adding a ridge of"):
        e = eigh_psd(bad, "kinship")
    assert e.ridge == pytest.approx(0.05 * s[-1], rel=1e-4)  # |min| + 1e-6 max
    assert e.s.min() >= 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = scan(src, data, tmp / "ridge", ScanConfig(model="mlm-p3d", maf=0.0), kinship=bad)
        fixed = bad + e.ridge * np.eye(len(bad))
        ref = scan(src, data, tmp / "ridge2", ScanConfig(model="mlm-p3d", maf=0.0), kinship=fixed)
    a, b = read_sumstats(res[0].path), read_sumstats(ref[0].path)
    assert np.isfinite(a["neg_log_10_p_value"]).all()
    # same model up to the zero band of eigh_psd (one eigenvalue of 1e-6 x max)
    np.testing.assert_allclose(
        a["neg_log_10_p_value"], b["neg_log_10_p_value"], rtol=1e-4, atol=1e-5
    )
