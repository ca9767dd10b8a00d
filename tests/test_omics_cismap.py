"""Mapping at scale (breedomics.omics.cismap, ``breedomics omics map``) against independent truths.

* nominal p, slope and standard error of every cis pair = a dense least-squares fit of
  ``y ~ 1 + covariates + g`` per pair (numpy lstsq, scipy t distribution);
* the beta-approximated permutation p-value = the brute-force permutation p-value of
  the same small case (many more permutations, dense regressions) within Monte-Carlo
  error; the beta fit = scipy's Newton/secant root of the df cost and scipy's beta MLE;
* planted cis-QTL are recovered at q <= 0.05 and nulls are not;
* trans pairs = the dense scan of every pair thresholded;
* two planted independent cis signals of one feature = the conditional leads.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from breedomics.core.genotypes import write_bed
from breedomics.omics import cismap

N, M_CHROM, SPACING = 160, 300, 2_000  # samples, variants per chromosome, bp apart
WINDOW = 40_000  # 41 variants per cis window


def _simulate(tmp, seed=11, n_feat=24, n_qtl=8, second=False, weak=0):
    """Two chromosomes of independent variants, features every 40 kb, covariates; the
    first ``n_qtl`` features have a strong cis-QTL, the next ``weak`` a weak one."""
    rng = np.random.default_rng(seed)
    m = 2 * M_CHROM
    freq = rng.uniform(0.08, 0.5, size=m)
    dos = rng.binomial(2, freq, size=(N, m)).astype(np.float32)
    dos[rng.random((N, m)) < 0.01] = np.nan  # a few missing calls
    chrom = np.repeat(["1", "2"], M_CHROM)
    pos = np.tile(np.arange(1, M_CHROM + 1) * SPACING, 2)
    variants = pd.DataFrame(
        {
            "chrom": chrom,
            "pos": pos,
            "id": [f"{c}_{p}" for c, p in zip(chrom, pos, strict=True)],
            "ref": "A",
            "alt": "G",
        }
    )
    samples = [f"S{i:03d}" for i in range(N)]
    write_bed(tmp / "geno", variants, [dos], samples)
    cov = rng.normal(size=(N, 3))
    g = np.where(np.isnan(dos), np.nanmean(dos, axis=0), dos)
    f_chrom = np.repeat(["1", "2"], n_feat // 2)
    tss = np.tile(np.arange(n_feat // 2) * 40_000 + 60_001, 2)
    y = rng.normal(size=(N, n_feat)) + cov @ rng.normal(size=(3, n_feat))
    causal = {}
    for f in range(n_qtl + weak):
        v = int(np.flatnonzero((chrom == f_chrom[f]) & (np.abs(pos - tss[f]) < 10_000))[0])
        y[:, f] += (0.8 if f < n_qtl else 0.4) * (g[:, v] - g[:, v].mean()) / g[:, v].std()
        causal[f"G{f:02d}"] = variants["id"][v]
    if second:  # a second independent signal of feature 0, 20 kb from the first
        v2 = int(np.flatnonzero((chrom == f_chrom[0]) & (pos == tss[0] + 20_000 - 1))[0])
        y[:, 0] += 0.7 * (g[:, v2] - g[:, v2].mean()) / g[:, v2].std()
        causal["G00b"] = variants["id"][v2]
    bed = pd.DataFrame(
        {
            "#chr": f_chrom,
            "start": tss - 1,
            "end": tss,
            "phenotype_id": [f"G{f:02d}" for f in range(n_feat)],
        }
    )
    bed = pd.concat([bed, pd.DataFrame(y.T, columns=samples)], axis=1)
    bed.to_csv(tmp / "pheno.bed", sep="\t", index=False, float_format="%.8g")
    pd.DataFrame(cov, index=pd.Index(samples, name="sample"), columns=["c1", "c2", "c3"]).to_csv(
        tmp / "cov.tsv", sep="\t", float_format="%.10g"
    )
    return {
        "geno": str(tmp / "geno"),
        "pheno": str(tmp / "pheno.bed"),
        "cov": str(tmp / "cov.tsv"),
        "g": g,
        "y": pd.read_csv(tmp / "pheno.bed", sep="\t").iloc[:, 4:].to_numpy().T,
        "c": pd.read_csv(tmp / "cov.tsv", sep="\t", index_col=0).to_numpy(),
        "variants": variants,
        "tss": tss,
        "f_chrom": f_chrom,
        "causal": causal,
    }


def _ols(y, g, c):
    """Dense OLS of y ~ 1 + c + g: slope, se, two-sided p (per column of g)."""
    n = len(y)
    out = []
    for j in range(g.shape[1]):
        x = np.column_stack([np.ones(n), c, g[:, j]])
        beta, rss, *_ = np.linalg.lstsq(x, y, rcond=None)
        dof = n - x.shape[1]
        s2 = float(rss[0]) / dof
        se = np.sqrt(s2 * np.linalg.inv(x.T @ x)[-1, -1])
        t = beta[-1] / se
        out.append((beta[-1], se, 2 * stats.t.sf(abs(t), dof)))
    return np.array(out)


def _opts(**kw):
    base = {"window": WINDOW, "nperm": 1000, "seed": 5, "batch_size": 7, "chunk_size": 137}
    base.update(kw)
    return cismap.MapOptions(**base)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return _simulate(tmp_path_factory.mktemp("cismap"))


def _data(sim) -> cismap.MapData:
    """The simulated genotypes, features and covariates, as every mode reads them."""
    ph = cismap.read_phenotypes(sim["pheno"])
    return cismap.MapData(sim["geno"], ph, cismap.read_covariates(sim["cov"]))


@pytest.fixture(scope="module")
def cis(sim):
    return cismap.map_cis(_data(sim), _opts())


def _window(sim, f):
    v = sim["variants"]
    sel = (v["chrom"] == sim["f_chrom"][f]) & ((v["pos"] - sim["tss"][f]).abs() <= WINDOW)
    return np.flatnonzero(sel.to_numpy())


def test_cis_nominal_pairs_equal_dense_least_squares(sim, tmp_path):
    files = cismap.map_cis_nominal(_data(sim), _opts(), str(tmp_path))
    assert sorted(p.rsplit("/", 1)[1] for p in files) == ["1.parquet", "2.parquet"]
    pairs = pd.concat([pd.read_parquet(p) for p in files])
    assert list(pairs.columns) == cismap.NOMINAL_COLUMNS
    for f in (0, 5, 13, 23):
        w = _window(sim, f)
        got = pairs[pairs["phenotype_id"] == f"G{f:02d}"]
        assert list(got["variant_id"]) == list(sim["variants"]["id"].iloc[w])
        want = _ols(sim["y"][:, f], sim["g"][:, w], sim["c"])
        np.testing.assert_allclose(got["slope"], want[:, 0], rtol=2e-4, atol=1e-6)
        np.testing.assert_allclose(got["slope_se"], want[:, 1], rtol=2e-4)
        np.testing.assert_allclose(
            -np.log10(got["pval_nominal"]), -np.log10(want[:, 2]), rtol=2e-4, atol=1e-5
        )
        np.testing.assert_array_equal(
            got["tss_distance"], sim["variants"]["pos"].iloc[w] - sim["tss"][f]
        )


def test_cis_lead_matches_dense_fit_and_planted_qtl_are_found(sim, cis):
    assert list(cis.columns) == cismap.CIS_COLUMNS
    assert len(cis) == 24
    for f in (0, 3, 17):
        row = cis[cis["phenotype_id"] == f"G{f:02d}"].iloc[0]
        w = _window(sim, f)
        want = _ols(sim["y"][:, f], sim["g"][:, w], sim["c"])
        k = int(np.argmin(want[:, 2]))
        assert row["variant_id"] == sim["variants"]["id"].iloc[w[k]]
        assert row["num_var"] == len(w)
        np.testing.assert_allclose(row["slope"], want[k, 0], rtol=1e-4)
        np.testing.assert_allclose(row["pval_nominal"], want[k, 2], rtol=1e-3)
    sig = cis.set_index("phenotype_id")["qval"] <= 0.05
    planted = [f"G{f:02d}" for f in range(8)]
    assert sig[planted].all()
    for pid in planted:
        assert cis.set_index("phenotype_id").loc[pid, "variant_id"] == sim["causal"][pid]
    # the 16 nulls: none strong, at most 2 false discoveries among 10 (16 uniform p's:
    # the smallest two are ~0.02 here, q 0.04-0.05)
    assert sig.drop(planted).sum() <= 2
    assert cis.set_index("phenotype_id")["pval_beta"].drop(planted).min() > 0.005
    # the nominal threshold: a significant feature's lead passes its own threshold
    s = cis[cis["qval"] <= 0.05]
    assert (s["pval_nominal"] <= s["pval_nominal_threshold"]).all()


def test_pval_beta_matches_brute_force_permutations(sim, cis):
    """Brute force: 4000 fresh permutations of each phenotype, dense max r2 of each."""
    rng = np.random.default_rng(99)
    n_b = 4000
    c1 = np.column_stack([np.ones(N), sim["c"]])
    q, _ = np.linalg.qr(c1)
    checked = 0
    for f in range(8, 24):  # null features (p spread over (0, 1))
        w = _window(sim, f)
        g = sim["g"][:, w]
        gr = g - q @ (q.T @ g)
        gr /= np.linalg.norm(gr, axis=0)
        y = sim["y"][:, f]
        yr = y - q @ (q.T @ y)
        r2_obs = np.max((gr.T @ yr) ** 2) / (yr @ yr)
        perm = np.argsort(rng.random((n_b, N)), axis=1)
        yp = y[perm].T  # (N, n_b): permuted, then residualised as tensorQTL
        ypr = yp - q @ (q.T @ yp)
        r2 = np.max((gr.T @ ypr) ** 2, axis=0) / np.sum(ypr**2, axis=0)
        p_bf = (np.sum(r2 >= r2_obs) + 1) / (n_b + 1)
        row = cis[cis["phenotype_id"] == f"G{f:02d}"].iloc[0]
        se = np.sqrt(p_bf * (1 - p_bf) / n_b) + np.sqrt(p_bf * (1 - p_bf) / 1000)
        assert abs(row["pval_beta"] - p_bf) < 4 * se + 0.05 * p_bf, (f, row["pval_beta"], p_bf)
        assert abs(row["pval_perm"] - p_bf) < 4 * se + 1e-3, (f, row["pval_perm"], p_bf)
        checked += 1
    assert checked == 16


def _reference_beta(r2_perm, r2_nom, dof):
    """tensorQTL's recipe with scipy: root in log df of log(beta shape 1 from moments)
    (scipy.optimize.newton without derivative), then scipy's beta MLE."""

    def pval(r2, df):
        t = np.sqrt(df * r2 / (1 - r2))
        return 2 * stats.t.sf(t, df)

    def log_shape1(log_df):
        p = pval(r2_perm, np.exp(log_df))
        m, v = p.mean(), p.var()
        return np.log(m * (m * (1 - m) / v - 1))

    df = np.exp(optimize.newton(log_shape1, np.log(dof), tol=1e-4, maxiter=50))
    p = pval(r2_perm, df)
    a, b, _loc, _scale = stats.beta.fit(p, floc=0, fscale=1)
    p_true = pval(r2_nom, df)
    return df, a, b, stats.beta.cdf(p_true, a, b)


def test_beta_approximation_equals_scipy_recipe():
    rng = np.random.default_rng(4)
    n, dof, v = 200, 195, 60
    r2_perm, r2_nom = [], []
    for _ in range(3):
        g = rng.normal(size=(n, v))
        g[:, 1:] += 0.7 * g[:, :-1]  # some LD
        g = (g - g.mean(0)) / np.linalg.norm(g - g.mean(0), axis=0)
        y = rng.normal(size=(n, 500))
        y = (y - y.mean(0)) / np.linalg.norm(y - y.mean(0), axis=0)
        r2_perm.append(np.max((g.T @ y) ** 2, axis=0))
        r2_nom.append(np.quantile(r2_perm[-1], 0.97))
    got = cismap.beta_approx(np.array(r2_perm), np.array(r2_nom), dof)
    for i in range(3):
        df, a, b, pb = _reference_beta(r2_perm[i], r2_nom[i], dof)
        np.testing.assert_allclose(got["true_df"][i], df, rtol=1e-3)
        np.testing.assert_allclose(got["beta_shape1"][i], a, rtol=2e-3)
        np.testing.assert_allclose(got["beta_shape2"][i], b, rtol=2e-3)
        np.testing.assert_allclose(got["pval_beta"][i], pb, rtol=2e-3)


def test_trans_pairs_equal_dense_scan_thresholded(sim, tmp_path):
    data = _data(sim)
    thr = 1e-2
    out = tmp_path / "trans.parquet"
    n = cismap.map_trans(data, _opts(pval_threshold=thr), str(out))
    got = pd.read_parquet(out)
    assert list(got.columns) == cismap.TRANS_COLUMNS and len(got) == n
    ids = sim["variants"]["id"].to_numpy()
    want = []
    for f in range(0, 24, 3):
        res = _ols(sim["y"][:, f], sim["g"], sim["c"])
        hit = np.flatnonzero(res[:, 2] < thr)
        want += [(ids[v], f"G{f:02d}", res[v, 2], res[v, 0]) for v in hit]
    want = pd.DataFrame(want, columns=["variant_id", "phenotype_id", "p_ols", "b_ols"])
    sub = got[got["phenotype_id"].isin([f"G{f:02d}" for f in range(0, 24, 3)])]
    merged = want.merge(sub, on=["variant_id", "phenotype_id"], how="outer", indicator=True)
    assert len(merged) > 40
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    np.testing.assert_allclose(merged["pval"], merged["p_ols"], rtol=1e-3)
    np.testing.assert_allclose(merged["b"], merged["b_ols"], rtol=1e-3)
    # cis pairs left out on request
    out2 = tmp_path / "trans_nocis.parquet"
    cismap.map_trans(data, _opts(pval_threshold=thr, exclude_cis=True), str(out2))
    no_cis = pd.read_parquet(out2)
    v = sim["variants"].set_index("id")
    f_idx = no_cis["phenotype_id"].str[1:].astype(int).to_numpy()
    same = v.loc[no_cis["variant_id"], "chrom"].to_numpy() == sim["f_chrom"][f_idx]
    dist = np.abs(v.loc[no_cis["variant_id"], "pos"].to_numpy() - sim["tss"][f_idx])
    assert not (same & (dist <= WINDOW)).any()
    assert len(no_cis) < len(got)


def test_independent_signals_are_the_two_planted_variants(tmp_path):
    # two weak cis-QTL set the significance threshold (the largest significant pval_beta)
    # where real data has it, well above the strong signals' p-values
    sim2 = _simulate(tmp_path, seed=3, n_feat=8, n_qtl=2, second=True, weak=2)
    data, opts = _data(sim2), _opts(nperm=300)
    cis = cismap.map_cis(data, opts)
    ind = cismap.map_independent(data, cis, opts)
    assert list(ind.columns) == cismap.INDEPENDENT_COLUMNS
    g0 = ind[ind["phenotype_id"] == "G00"].sort_values("rank")
    assert set(g0["variant_id"]) == {sim2["causal"]["G00"], sim2["causal"]["G00b"]}
    assert list(g0["rank"]) == [1, 2]
    g1 = ind[ind["phenotype_id"] == "G01"]
    assert list(g1["variant_id"]) == [sim2["causal"]["G01"]]


def test_cli_cis_mode_writes_table_and_summary(sim, tmp_path):
    from breedomics.cli import main

    out = tmp_path / "map"
    argv = ["omics", "map", "--mode", "cis", "--geno", sim["geno"], "--pheno", sim["pheno"]]
    argv += ["--covariates", sim["cov"], "--window", str(WINDOW), "--nperm", "200"]
    argv += ["--out", str(out)]
    assert main(argv) == 0
    cis = pd.read_csv(out / "cis.tsv", sep="\t")
    assert list(cis.columns) == cismap.CIS_COLUMNS and len(cis) == 24
    summary = json.loads((out / "cis.json").read_text())
    assert summary["features_mapped"] == 24 and summary["cis_qtl"] >= 8


def test_grouped_permutation_products_equal_single_ones():
    from breedomics.core.residualise import Residualiser, residualise_dosage

    rng = np.random.default_rng(8)
    n, m = 80, 60
    res = Residualiser(rng.normal(size=(n, 2)))
    g = residualise_dosage(rng.binomial(2, 0.3, size=(n, m)).astype(np.float32), res).g
    yc = rng.normal(size=(n, 3))
    yc -= yc.mean(axis=0)
    perms = cismap._permutations(n, 50, 1)
    lo, hi = np.array([0, 5, 10]), np.array([50, 55, 60])
    assert [list(x) for x in cismap._perm_groups(lo, hi, 50)] == [[0, 1, 2]]
    got = cismap._perm_r2_group(g, lo, hi, yc, perms, res)
    for j in range(3):
        want = cismap._perm_r2(g[lo[j] : hi[j]], yc[:, j], perms, res)
        np.testing.assert_allclose(got[j], want, rtol=1e-5)
