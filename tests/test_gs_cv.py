"""Cross-validation: GBLUP accuracy against its closed-form expectation; folds; errors.

Truth used for the accuracy test
--------------------------------
Traits are simulated under the GBLUP model itself: every marker has an
effect ``a_j ~ N(0, s2g / (2 sum pq))``, so ``g = Z a ~ N(0, s2g G)`` exactly
given the genotypes, and ``e ~ N(0, (1 - h2) I)``. For a validation set ``v``
and training set ``t`` the BLUP with the true variance components has
``Cov(g_hat, g) = Var(g_hat) = s2g^2 G_vt P G_tv`` (Henderson 1975), so the
expected accuracy of one fold (correlation across its validation samples,
after centring with ``C = I - 11'/n_v``) is, to first order,
``sqrt(tr(C Var(g_hat)) / tr(C s2g G_vv))``. Unlike the Daetwyler et al.
(2008) formula, this needs no guess of the number of independent chromosome
segments ``M_e``: it is computed from the realised relationships of this
population. The realised accuracy (CV with REML re-estimated in every fold)
averaged over many simulated traits must match it within 0.03.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.linalg as sl

from breedomics.errors import UserError
from breedomics.gs.cv import group_folds, kfold_folds, metrics, read_folds, run_cv, summarise
from breedomics.gs.data import Genotypes, design_matrix
from breedomics.testing.simulate_gs import simulate_population
from breedomics.testing.spec import GenomeSpec


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small dense algebra in one BLAS thread: on a shared, loaded machine extra
    threads spin and slow these tests down by an order of magnitude."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def panel():
    pop = simulate_population(GenomeSpec(n_samples=1000, n_snps=3000, seed=7))
    return pop, Genotypes.from_dosage(pop.dosage, pop.samples, pop.markers["id"])


def _expected_accuracy(K, te, tr, s2g, s2e):
    c = sl.cho_factor(s2g * K[np.ix_(tr, tr)] + s2e * np.eye(tr.size))
    A = K[np.ix_(te, tr)]
    one = np.ones(tr.size)
    vi_a = sl.cho_solve(c, A.T)
    vi_1 = sl.cho_solve(c, one)
    a_p_a = A @ vi_a - np.outer(A @ vi_1, A @ vi_1) / (one @ vi_1)
    var_hat = s2g**2 * a_p_a
    C = np.eye(te.size) - 1.0 / te.size
    return float(np.sqrt(np.trace(C @ var_hat) / np.trace(C @ (s2g * K[np.ix_(te, te)]))))


def test_gblup_cv_accuracy_matches_closed_form(panel):
    pop, geno = panel
    K = geno.grm()
    m = np.trace(K) / geno.n
    rng = np.random.default_rng(3)
    n_rep = 24
    h2s = (0.2, 0.5, 0.8)
    ph, truth = {}, {}
    for h2 in h2s:
        s2g = h2 / m
        for r in range(n_rep):
            a = rng.normal(0.0, np.sqrt(s2g / geno.scale), geno.p)
            g = geno.Z.astype(np.float64) @ a
            name = f"h{h2}_{r}"
            ph[name] = 5.0 + g + rng.normal(0.0, np.sqrt(1 - h2), geno.n)
            truth[name] = g
    ph = pd.DataFrame(ph, index=geno.samples)
    truth = pd.DataFrame(truth, index=geno.samples)
    folds = kfold_folds(geno.samples, 5, 1, seed=1)
    cv = run_cv(geno, ph, list(ph.columns), ["gblup"], folds, truth=truth)
    met = cv.metrics[cv.metrics["level"] == "fold"].copy()
    met["h2"] = met["trait"].str.extract(r"h([0-9.]+)_")[0].astype(float)
    for h2 in h2s:
        s2g = h2 / m
        exp = {}
        for f, df in folds.groupby("fold"):
            te = geno.index(df["sample_id"].tolist())
            tr = np.setdiff1d(np.arange(geno.n), te)
            exp[f] = _expected_accuracy(K, te, tr, s2g, 1 - h2)
        sub = met[met["h2"] == h2]
        realised = sub["pearson_true"].mean()
        expected = np.mean([exp[f] for f in sub["fold"]])
        print(f"h2={h2}: realised {realised:.4f} expected {expected:.4f}")
        assert abs(realised - expected) < 0.03, (h2, realised, expected)
        # predictive ability against phenotypes is accuracy x sqrt(h2), roughly
        assert sub["pearson"].mean() == pytest.approx(realised * np.sqrt(h2), abs=0.05)
        # GBLUP with REML is close to unbiased (slope of y on y_hat ~ 1)
        assert sub["slope"].mean() == pytest.approx(1.0, abs=0.15)
    # REML h2 per fold recovers the simulated values
    vc = cv.varcomp[cv.varcomp["component"] == "h2"].copy()
    vc["h2"] = vc["trait"].str.extract(r"h([0-9.]+)_")[0].astype(float)
    for h2 in h2s:
        assert vc.loc[vc["h2"] == h2, "estimate"].mean() == pytest.approx(h2, abs=0.04)


def test_fold_tables_and_logo(panel, tmp_path):
    pop, geno = panel
    samples = geno.samples[:300]
    f = kfold_folds(samples, 4, repeats=3, seed=9)
    assert len(f) == 900
    for _, df in f.groupby("repeat"):
        sizes = df["fold"].value_counts()
        assert sizes.max() - sizes.min() <= 1
        assert df["sample_id"].is_unique
    a = f[f["repeat"] == 1]["fold"].to_numpy()
    b = f[f["repeat"] == 2]["fold"].to_numpy()
    assert (a != b).any()
    # round trip through a file, and reading a bare (sample, fold) table
    path = tmp_path / "folds.tsv"
    f.to_csv(path, sep="\t", index=False)
    back = read_folds(str(path))
    pd.testing.assert_frame_equal(back, f)
    f1 = f[f["repeat"] == 1][["sample_id", "fold"]]
    f1.to_csv(tmp_path / "two.tsv", sep="\t", index=False)
    assert read_folds(str(tmp_path / "two.tsv"))["repeat"].eq(1).all()

    # leave-one-family-out
    fam = pd.Series([f"fam{x}" for x in pop.family[:300]], index=samples)
    logo = group_folds(samples, fam)
    assert set(logo["fold"]) == set(fam)
    rng = np.random.default_rng(0)
    y = pd.DataFrame({"y": rng.normal(size=300)}, index=samples)
    groups = fam.value_counts()
    big = groups[groups >= 8].index[:4]
    keep = fam.isin(big)
    res = run_cv(geno, y, ["y"], ["gblup"], group_folds(list(fam[keep].index), fam[keep]))
    fold_level = res.metrics[res.metrics["level"] == "fold"]
    assert set(fold_level["fold"]) == set(big)
    summ = summarise(res.metrics)
    assert {"pearson_mean", "pearson_sd", "slope_mean", "mse_mean"} <= set(summ.columns)


def test_metrics_closed_forms():
    rng = np.random.default_rng(1)
    obs = rng.normal(size=200)
    m = metrics(obs, 2.0 * obs + 1.0)
    assert m["pearson"] == pytest.approx(1.0)
    assert m["spearman"] == pytest.approx(1.0)
    assert m["slope"] == pytest.approx(0.5)  # over-dispersed predictions
    assert m["mse"] == pytest.approx(np.mean((obs + 1.0) ** 2))


def test_cv_user_errors(panel):
    pop, geno = panel
    samples = geno.samples[:40]
    with pytest.raises(UserError, match="too few samples for 30-fold"):
        kfold_folds(samples, 30)
    with pytest.raises(UserError, match="at least 2"):
        kfold_folds(samples, 1)
    # a fold whose validation samples all lack the trait
    y = pd.DataFrame({"y": np.random.default_rng(0).normal(size=40)}, index=samples)
    folds = kfold_folds(samples, 4, seed=2)
    dead = folds.loc[folds["fold"] == 2, "sample_id"]
    y.loc[dead, "y"] = np.nan
    with pytest.raises(UserError, match="no phenotyped sample for trait 'y' in repeat 1, fold 2"):
        run_cv(geno, y, ["y"], ["gblup"], folds)
    # constant trait
    y2 = pd.DataFrame({"y": np.ones(40)}, index=samples)
    with pytest.raises(UserError, match="constant"):
        run_cv(geno, y2, ["y"], ["gblup"], kfold_folds(samples, 4))
    # unknown level of a categorical covariate at prediction time
    cov = pd.DataFrame({"env": ["A"] * 20 + ["B"] * 19 + ["C"]}, index=samples)
    _, _, levels = design_matrix(cov, samples[:39])
    with pytest.raises(UserError, match="level\\(s\\) C not seen"):
        design_matrix(cov, samples[39:], levels=levels)


def test_unphenotyped_validation_samples_are_not_predicted(panel):
    """A covariate level carried only by samples without the trait (the MSUPRP pig's
    slaughter group 32 lacks ph_24h) must not stop the CV: they are not predicted, and
    the phenotyped samples get exactly the predictions they get without them."""
    pop, geno = panel
    samples = geno.samples[:120]
    rng = np.random.default_rng(3)
    y = pd.DataFrame({"y": rng.normal(size=120)}, index=samples)
    cov = pd.DataFrame({"grp": ["a", "b", "c"] * 40}, index=samples)
    cov.iloc[100:, 0] = "z"  # a level seen only in the unphenotyped samples
    y.iloc[100:, 0] = np.nan
    folds = kfold_folds(samples, 4, seed=5)
    res = run_cv(geno, y, ["y"], ["gblup"], folds, covariates=cov)
    pred = res.predictions
    assert set(pred["sample_id"]) == set(samples[:100])
    assert pred["observed"].notna().all()
    # the same as a run that never saw the unphenotyped samples
    ref = run_cv(
        geno, y.iloc[:100], ["y"], ["gblup"], folds[folds["sample_id"].isin(samples[:100])],
        covariates=cov.iloc[:100],
    )  # fmt: skip
    a = pred.set_index("sample_id")["predicted"]
    b = ref.predictions.set_index("sample_id")["predicted"]
    np.testing.assert_allclose(a.loc[b.index], b, rtol=1e-8, atol=1e-10)
    # a phenotyped sample with an unseen level is still an error naming the level
    y2 = y.copy()
    y2.iloc[100, 0] = 1.0
    with pytest.raises(UserError, match="level\\(s\\) z not seen"):
        run_cv(geno, y2, ["y"], ["gblup"], folds, covariates=cov)
