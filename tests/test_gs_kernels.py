"""RKHS (Gaussian kernel), scikit-learn baselines and fixed covariates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist

from breedomics.gs.cv import kfold_folds, run_cv
from breedomics.gs.data import Genotypes, gaussian_kernel, squared_distances
from breedomics.gs.rkhs import RKHS
from breedomics.testing.simulate_gs import simulate_population, simulate_trait
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
    pop = simulate_population(GenomeSpec(n_samples=500, n_snps=1200, seed=17))
    return pop, Genotypes.from_dosage(pop.dosage, pop.samples, pop.markers["id"])


def test_gaussian_kernel_equals_direct_marker_distances(panel):
    pop, geno = panel
    ref = np.arange(0, 500, 2)
    h = 0.7
    K = gaussian_kernel(squared_distances(geno.grm()), h, ref=ref)
    M = pop.dosage.astype(np.float64)
    D = cdist(M, M, "sqeuclidean")  # raw dosages: centring does not change distances
    sub = D[np.ix_(ref, ref)]
    mean = sub.sum() / (ref.size * (ref.size - 1))
    np.testing.assert_allclose(K, np.exp(-h * D / mean), rtol=1e-5, atol=1e-8)


def test_rkhs_beats_gblup_on_epistatic_trait(panel):
    pop, geno = panel
    rng = np.random.default_rng(4)
    Z = geno.Z.astype(np.float64)
    a = rng.choice(geno.p, 5, replace=False)
    b = rng.choice(geno.p, 5, replace=False)
    g = (Z[:, a] * Z[:, b]) @ rng.normal(size=5)  # additive x additive epistasis, 5 pairs
    g = (g - g.mean()) / g.std() * np.sqrt(0.7)
    y = g + rng.normal(0, np.sqrt(0.3), geno.n)
    ph = pd.DataFrame({"y": y}, index=geno.samples)
    truth = pd.DataFrame({"y": g}, index=geno.samples)
    folds = kfold_folds(geno.samples, 4, 1, seed=2)
    cv = run_cv(geno, ph, ["y"], ["gblup", "rkhs"], folds, truth=truth)
    acc = cv.metrics[cv.metrics["level"] == "repeat"].set_index("model")["pearson_true"]
    assert acc["RKHS"] > acc["GBLUP"] + 0.05, acc
    bw = cv.varcomp[cv.varcomp["component"] == "bandwidth"]["estimate"]
    assert len(bw) == 4
    # the selected bandwidth is the best of the inner cross-validation
    m = RKHS(bandwidths=(0.1, 1.0, 4.0), inner_folds=4, seed=3)
    tr = np.arange(400)
    m.fit(geno, tr, y[tr])
    assert m.bandwidth == max(m.inner_scores, key=m.inner_scores.get)
    single = RKHS(bandwidths=(0.5,)).fit(geno, tr, y[tr])
    assert single.bandwidth == 0.5 and single.inner_scores == {}


def test_sklearn_baselines_and_covariates(panel):
    pop, geno = panel
    tr = simulate_trait(pop.dosage, 0.6, n_qtl=5, large=0, seed=8)
    env = np.array(["north", "south", "east"])[np.arange(geno.n) % 3]
    shift = pd.Series({"north": 0.0, "south": 3.0, "east": -2.0})
    y = tr["y"] + shift[env].to_numpy()
    ph = pd.DataFrame({"y": y}, index=geno.samples)
    cov = pd.DataFrame({"env": env}, index=geno.samples)
    truth = pd.DataFrame({"y": tr["g"]}, index=geno.samples)
    folds = kfold_folds(geno.samples, 3, 1, seed=1)
    with_cov = run_cv(
        geno,
        ph,
        ["y"],
        ["gblup", "rf", "gbm"],
        folds,
        covariates=cov,
        truth=truth,
        options={"trees": 100},
    )
    without = run_cv(geno, ph, ["y"], ["gblup"], folds)
    rep_with = with_cov.metrics[with_cov.metrics["level"] == "repeat"].set_index("model")
    rep_without = without.metrics[without.metrics["level"] == "repeat"].set_index("model")
    # environment as a fixed covariate: far better phenotype prediction, and the
    # GEBVs themselves track the true genetic values
    assert rep_with.loc["GBLUP", "pearson"] > rep_without.loc["GBLUP", "pearson"] + 0.2
    assert rep_with.loc["GBLUP", "pearson_true"] > 0.6
    vc = with_cov.predictions
    assert set(vc["model"]) == {"GBLUP", "RandomForest", "GradientBoosting"}
    for m in ("RandomForest", "GradientBoosting"):
        assert rep_with.loc[m, "pearson"] > 0.5
        assert rep_with.loc[m, "pearson_true"] > 0.3


def test_closed_form_fold_predictions_equal_refits(panel):
    """Inner-CV predictions from the whole training set's fit equal explicit refits
    without each fold (same variance components; fixed effects re-estimated)."""
    from breedomics.core.reml import KernelREML
    from breedomics.gs.data import gaussian_kernel, squared_distances

    pop, geno = panel
    rng = np.random.default_rng(11)
    n = 120
    K = gaussian_kernel(squared_distances(geno.grm()[:n, :n]), 0.5)
    X = np.column_stack([np.ones(n), rng.normal(size=n), (np.arange(n) % 3 == 0)])
    y = X @ [1.0, 0.5, -2.0] + rng.multivariate_normal(np.zeros(n), 3.0 * K) + rng.normal(size=n)
    reml = KernelREML(K)
    fit = reml.fit(y, X)
    assert not fit.boundary and fit.sigma_g > 0.5  # a real genetic term to predict
    fold = rng.permutation(np.arange(n) % 4)
    pred = reml.cv_predictions(y, X, fit, fold)
    for f in range(4):
        tr, te = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        Ktr = K[np.ix_(tr, tr)]
        V = fit.sigma_g * Ktr + fit.sigma_e * np.eye(tr.size)
        Vi = np.linalg.inv(V)
        b = np.linalg.solve(X[tr].T @ Vi @ X[tr], X[tr].T @ Vi @ y[tr])
        u = fit.sigma_g * K[np.ix_(te, tr)] @ Vi @ (y[tr] - X[tr] @ b)
        np.testing.assert_allclose(pred[te], X[te] @ b + u, rtol=1e-8, atol=1e-8)
