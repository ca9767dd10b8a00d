"""BayesB / BayesC samplers: the compiled sweep against the full conditionals, exact
posterior on a tiny problem, and a large-QTL trait."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from breedomics.gs._gibbs import gibbs_sweep
from breedomics.gs.bayes import BayesB, BayesC, effective_sample_size, geweke_z
from breedomics.gs.cv import kfold_folds, run_cv
from breedomics.gs.data import Genotypes
from breedomics.testing.simulate_gs import simulate_population, simulate_trait
from breedomics.testing.spec import GenomeSpec


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small dense algebra in one BLAS thread: on a shared, loaded machine extra
    threads spin and slow these tests down by an order of magnitude."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        yield


def _exact_posterior(Z, y, s2b, s2e, pi):
    """Posterior inclusion probabilities and means by enumerating all models.

    Intercept with a flat prior (integrated out, REML-style), ``beta_j | delta_j = 1
    ~ N(0, s2b)``, ``P(delta_j = 1) = 1 - pi``.
    """
    n, p = Z.shape
    one = np.ones(n)
    logw, means = [], []
    for gamma in itertools.product([0, 1], repeat=p):
        idx = np.flatnonzero(gamma)
        V = s2e * np.eye(n) + s2b * Z[:, idx] @ Z[:, idx].T
        Vi = np.linalg.inv(V)
        Vi1 = Vi @ one
        P = Vi - np.outer(Vi1, Vi1) / (one @ Vi1)
        ll = -0.5 * (np.linalg.slogdet(V)[1] + np.log(one @ Vi1) + y @ P @ y)
        lp = idx.size * np.log(1 - pi) + (p - idx.size) * np.log(pi)
        logw.append(ll + lp)
        b = np.zeros(p)
        b[idx] = s2b * Z[:, idx].T @ P @ y
        means.append(b)
    w = np.exp(np.array(logw) - max(logw))
    w /= w.sum()
    gam = np.array(list(itertools.product([0, 1], repeat=p)))
    return w @ gam, w @ np.array(means)


def _reference_sweep(Z, y_minus_fixed, beta, var, s2e, pi, logu, z):
    """Single-site Gibbs sweep written from the full conditionals (plain NumPy).

    For each marker in turn, with all other effects at their current values:
    ``w = y* - sum_{k != j} z_k beta_k``; ``P(delta_j = 1 | rest) / P(delta_j = 0 | rest)
    = (1 - pi)/pi * N(w; 0, s2e I + var_j z_j z_j') / N(w; 0, s2e I)`` (the effect
    integrated out), evaluated with dense linear algebra; ``beta_j | delta_j = 1``
    is normal with precision ``z_j'z_j / s2e + 1 / var_j``.
    """
    n, p = Z.shape
    beta = beta.copy()
    for j in range(p):
        zj = Z[:, j]
        w = y_minus_fixed - Z @ beta + zj * beta[j]
        V1 = s2e * np.eye(n) + var[j] * np.outer(zj, zj)
        ld1 = np.linalg.slogdet(V1)[1]
        q1 = w @ np.linalg.solve(V1, w)
        ld0 = n * np.log(s2e)
        q0 = w @ w / s2e
        log_odds = np.log((1 - pi) / pi) - 0.5 * (ld1 - ld0) - 0.5 * (q1 - q0)
        if logu[j] < log_odds:
            prec = zj @ zj / s2e + 1.0 / var[j]
            beta[j] = (zj @ w / s2e) / prec + z[j] / np.sqrt(prec)
        else:
            beta[j] = 0.0
    return beta, y_minus_fixed - Z @ beta


# float64 marker matrix: the kernel is the exact sampler to round-off; float32 (as in the
# fits): its dot products are summed in float32 (~1e-7 relative), like the former BLAS sgemv
@pytest.mark.parametrize("zdtype, atol", [(np.float64, 1e-10), (np.float32, 1e-6)])
def test_compiled_sweep_equals_full_conditional_reference(zdtype, atol):
    rng = np.random.default_rng(42)
    n, p = 9, 14
    Z = rng.normal(size=(n, p)).astype(zdtype).astype(np.float64)
    ystar = Z[:, :3] @ np.array([1.0, -0.7, 0.4]) + rng.normal(0, 0.5, n)
    pi, s2e = 0.5, 0.4
    var = rng.uniform(0.05, 0.5, p)  # per-marker variances (BayesB; BayesC: all equal)
    beta0 = np.where(rng.random(p) < 0.4, rng.normal(0, 0.5, p), 0.0)
    for _ in range(3):  # several sweeps: markers enter, leave and change
        u = rng.random(p)
        logu = np.log(u / (1 - u))
        z = rng.normal(size=p)
        b_ref, e_ref = _reference_sweep(Z, ystar, beta0, var, s2e, pi, logu, z)
        Zt = np.ascontiguousarray(Z.T.astype(zdtype))
        xx = np.einsum("ij,ij->i", Zt, Zt, dtype=np.float64)
        beta = beta0.copy()
        e = ystar - Z @ beta0
        changed = gibbs_sweep(Zt, xx, beta, var, e, s2e, np.log((1 - pi) / pi), logu, z)
        np.testing.assert_allclose(beta, b_ref, rtol=0, atol=atol)
        np.testing.assert_allclose(e, e_ref, rtol=0, atol=atol)
        assert changed == int(np.sum(beta != beta0))
        assert 0 < np.sum(beta != 0) < p  # both outcomes of the inclusion test occur
        beta0 = b_ref


@pytest.mark.parametrize("cls", [BayesC, BayesB])
def test_sampler_matches_exact_posterior(cls):
    pop = simulate_population(GenomeSpec(n_samples=70, n_snps=400, n_chrom=1, seed=5))
    geno_all = Genotypes.from_dosage(pop.dosage, pop.samples, pop.markers["id"])
    cols = np.arange(100, 106)  # six linked (correlated) markers
    geno = geno_all.subset_markers(cols)
    Z = geno.Z.astype(np.float64)
    rng = np.random.default_rng(8)
    y = 3.0 + Z @ np.array([0.0, 0.6, 0.0, 0.0, -0.4, 0.0]) + rng.normal(0, 1.0, geno.n)
    pi, h2p = 0.6, 0.4
    # with nu -> infinity the variances stay at their documented prior values
    vy = y.var()
    s2b = h2p * vy / ((1 - pi) * (Z**2).sum() / geno.n)
    s2e = vy * (1 - h2p)
    pip_exact, mean_exact = _exact_posterior(Z, y, s2b, s2e, pi)
    model = cls(
        n_iter=25000,
        burn_in=1000,
        thin=1,
        pi=pi,
        estimate_pi=False,
        h2_prior=h2p,
        nu=1e8,
        nu_e=1e8,
        estimate_scale=False,
        seed=3,
    )
    model.fit(geno, np.arange(geno.n), y)
    np.testing.assert_allclose(model.pip, pip_exact, atol=0.03)
    np.testing.assert_allclose(model.effects, mean_exact, atol=0.03)
    assert model.fixed[0] == pytest.approx(np.mean(y - Z @ mean_exact), abs=0.05)


def test_bayesb_beats_gblup_on_large_qtl_trait():
    pop = simulate_population(GenomeSpec(n_samples=500, n_snps=1500, seed=31))
    geno = Genotypes.from_dosage(pop.dosage, pop.samples, pop.markers["id"])
    tr = simulate_trait(pop.dosage[:, :], 0.5, n_qtl=100, large=5, large_share=0.8, seed=6)
    # QTL indices refer to simulated markers; all are kept (MAF filter already applied)
    ph = pd.DataFrame({"y": tr["y"]}, index=geno.samples)
    truth = pd.DataFrame({"y": tr["g"]}, index=geno.samples)
    folds = kfold_folds(geno.samples, 3, 1, seed=4)
    opts = {"mcmc": dict(n_iter=1000, burn_in=200, thin=2)}
    cv = run_cv(geno, ph, ["y"], ["gblup", "bayesb"], folds, options=opts, truth=truth)
    m = cv.metrics[cv.metrics["level"] == "fold"].groupby("model")[["pearson_true", "pearson"]]
    acc = m.mean()
    print(acc)
    assert acc.loc["BayesB", "pearson_true"] > acc.loc["GBLUP", "pearson_true"] + 0.05
    assert acc.loc["BayesB", "pearson"] > acc.loc["GBLUP", "pearson"]
    # MCMC diagnostics are reported for every fit
    vc = cv.varcomp[cv.varcomp["model"] == "BayesB"]
    s2e = vc[vc["component"] == "s2e"]
    assert (s2e["ess"] > 50).all()
    assert s2e["geweke_z"].abs().max() < 4


def test_seeded_and_diagnostics():
    pop = simulate_population(GenomeSpec(n_samples=200, n_snps=500, seed=2))
    geno = Genotypes.from_dosage(pop.dosage, pop.samples, pop.markers["id"])
    tr = simulate_trait(pop.dosage, 0.6, n_qtl=10, seed=1)
    kw = dict(n_iter=600, burn_in=100, thin=2)
    a = BayesC(seed=7, **kw).fit(geno, np.arange(200), tr["y"])
    b = BayesC(seed=7, **kw).fit(geno, np.arange(200), tr["y"])
    c = BayesC(seed=8, **kw).fit(geno, np.arange(200), tr["y"])
    np.testing.assert_array_equal(a.effects, b.effects)
    assert not np.array_equal(a.effects, c.effects)
    assert len(a.trace) == 500
    assert {"s2e", "var_g", "n_in_model", "pi"} <= set(a.diagnostics["quantity"])
    # diagnostics on chains with known behaviour
    rng = np.random.default_rng(0)
    iid = rng.normal(size=4000)
    assert effective_sample_size(iid) == pytest.approx(4000, rel=0.15)
    ar = np.zeros(4000)
    for t in range(1, 4000):  # AR(1), rho = 0.9: ESS ~ n (1 - rho) / (1 + rho)
        ar[t] = 0.9 * ar[t - 1] + rng.normal()
    assert effective_sample_size(ar) == pytest.approx(4000 * 0.1 / 1.9, rel=0.35)
    assert abs(geweke_z(iid)) < 3
    assert abs(geweke_z(np.concatenate([iid[:400] + 3.0, iid[400:]]))) > 5
