"""GLM (least squares with covariates) against ``plink2 --glm`` and closed forms.

A structured diploid panel is simulated with msprime; two traits (one with
missing values, so every trait gets its own sample set), a numeric and a
categorical covariate and two PCs are analysed by ``breedomics.gwas`` and by
``plink2 --glm`` on the same .bed; p-values must agree with Pearson r >=
0.9999 on -log10 p, and betas/standard errors to printing precision.
"""

from __future__ import annotations

import shutil
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest

from breedomics.core.genotypes import write_bed
from breedomics.core.grm import eigh_psd, top_pcs
from breedomics.gwas.lmm import AssocSet
from breedomics.gwas.phenotypes import add_pcs, prepare
from breedomics.gwas.results import read_sumstats
from breedomics.gwas.scan import GenotypeSource, ScanConfig, build_grm, scan
from breedomics.testing.simulate_gwas import simulate_structured, simulate_traits
from breedomics.testing.spec import GenomeSpec

pytestmark = pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed")


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("glm")
    g = simulate_structured(
        GenomeSpec(n_samples=300, n_snps=3000, n_chrom=6, seed=11), segments=5, inbred=False
    )
    ph, _q = simulate_traits(
        g.dosage, g.variants, n_traits=2, groups=g.groups, group_var=0.1, seed=5
    )
    ph.index = g.samples
    rng = np.random.default_rng(2)
    ph.loc[rng.choice(g.samples, 40, replace=False), "trait2"] = np.nan
    write_bed(tmp / "g", g.variants, [g.dosage], g.samples)
    cov = pd.DataFrame(
        {
            "age": rng.normal(50, 10, len(g.samples)).round(3),
            "site": rng.choice(["north", "south", "west"], len(g.samples)),
        },
        index=g.samples,
    )
    return tmp, g, ph, cov


def _ours(tmp, g, ph, cov):
    from breedomics.gwas.phenotypes import read_covariates

    cov.rename_axis("sample").to_csv(tmp / "cov.tsv", sep="\t")
    cv = read_covariates(tmp / "cov.tsv")
    data = prepare(g.samples, ph, cv)
    src = GenotypeSource(str(tmp / "g"), data.samples)
    grm, _ = build_grm(src, False)
    data = add_pcs(data, top_pcs(eigh_psd(grm.matrix()), 2))
    res = scan(src, data, tmp / "out", ScanConfig(model="glm", maf=0.0))
    return data, res


def test_glm_matches_plink2(panel):
    tmp, g, ph, cov = panel
    data, res = _ours(tmp, g, ph, cov)
    # plink2 with exactly the same design (dummies and PCs from our run)
    c = data.covariates.drop(columns="intercept").copy()
    c.columns = [x.replace("=", "_") for x in c.columns]
    c.insert(0, "IID", data.samples)
    c.insert(0, "#FID", data.samples)
    c.to_csv(tmp / "plink.covar", sep="\t", index=False, na_rep="NA")
    p = ph.loc[data.samples].reset_index(names="IID")
    p.insert(0, "#FID", p["IID"])
    p.to_csv(tmp / "plink.pheno", sep="\t", index=False, na_rep="NA")
    proc = subprocess.run(
        [
            "plink2",
            "--bfile",
            str(tmp / "g"),
            "--pheno",
            str(tmp / "plink.pheno"),
            "--covar",
            str(tmp / "plink.covar"),
            "--glm",
            "hide-covar",
            "--threads",
            "2",
            "--out",
            str(tmp / "pl"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for r in res:
        pl = pd.read_csv(tmp / f"pl.{r.trait}.glm.linear", sep="\t")
        ours = read_sumstats(r.path)
        m = ours.merge(pl, left_on="variant_id", right_on="ID")
        assert len(m) == len(ours) == g.dosage.shape[1]
        assert (m["OBS_CT"] == r.n_samples).all()
        nl_pl = -np.log10(m["P"].to_numpy())
        nl = m["neg_log_10_p_value"].to_numpy()
        assert np.corrcoef(nl_pl, nl)[0, 1] >= 0.9999
        assert np.max(np.abs(nl_pl - nl)) < 1e-3
        sign = np.where(m["A1"] == m["effect_allele"], 1.0, -1.0)
        np.testing.assert_allclose(m["beta"], sign * m["BETA"], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(m["standard_error"], m["SE"], rtol=1e-4)
    assert res[1].n_samples == 260


def test_glm_with_missing_genotypes_is_least_squares_on_imputed_dosage():
    rng = np.random.default_rng(4)
    n, m = 120, 40
    x = rng.binomial(2, rng.uniform(0.1, 0.9, m), size=(n, m)).astype(float)
    x[rng.random((n, m)) < 0.05] = np.nan
    w = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = w @ np.array([1.0, 0.5, -0.3]) + 0.4 * np.nan_to_num(x[:, 3]) + rng.normal(size=n)
    z = x - np.nanmean(x, axis=0)
    z[np.isnan(z)] = 0.0
    ts = AssocSet.build(["y"], np.arange(n), w, y[:, None], "glm")
    r = ts.test(z)[0]
    for j in range(m):
        design = np.column_stack([w, z[:, j]])
        coef, rss, *_ = np.linalg.lstsq(design, y, rcond=None)
        df = n - design.shape[1]
        cov = np.linalg.inv(design.T @ design) * (rss[0] / df)
        from scipy import stats

        p = 2 * stats.t.sf(abs(coef[-1] / np.sqrt(cov[-1, -1])), df)
        assert r.beta[j] == pytest.approx(coef[-1], rel=1e-9)
        assert r.se[j] == pytest.approx(np.sqrt(cov[-1, -1]), rel=1e-9)
        assert r.nlog10p[j] == pytest.approx(-np.log10(p), rel=1e-8)


def test_monomorphic_and_rare_variants_filtered(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rng = np.random.default_rng(0)
        n = 80
        dos = rng.binomial(2, 0.4, size=(n, 6)).astype(np.float32)
        dos[:, 2] = 0  # monomorphic
        dos[:, 4] = 0
        dos[0, 4] = 1  # MAF 1/160 < 0.01
        samples = [f"s{i}" for i in range(n)]
        var = pd.DataFrame(
            {"chrom": "1", "pos": np.arange(1, 7) * 100, "id": list("abcdef"), "ref": "C"}
        ).assign(alt="T")
        write_bed(tmp_path / "g", var, [dos], samples)
        ph = pd.DataFrame({"y": rng.normal(size=n)}, index=samples)
        data = prepare(samples, ph)
        res = scan(
            GenotypeSource(str(tmp_path / "g"), samples),
            data,
            tmp_path / "o",
            ScanConfig(model="glm"),
        )
    ss = read_sumstats(res[0].path)
    assert list(ss["variant_id"]) == ["a", "b", "d", "f"]
    assert res[0].n_tested == 4 and res[0].n_filtered == 2
