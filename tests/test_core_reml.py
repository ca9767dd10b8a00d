"""The core's REML: single kernel (eigen and tridiagonal forms), multi-kernel AI-REML, BLUP/PEV.

Truths: the restricted log-likelihood written directly from its formula and
maximised by scipy (brute force), Henderson's mixed-model equations, dense
definitions of the average information and of the prediction-error variance,
and simulated variance components. The single-kernel fits are compared with
GEMMA in ``test_gwas_mlm.py`` and ``test_gs_gblup.py``; the multi-trait AI-REML
with GEMMA's mvLMM in ``test_gs_mtgblup.py``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.linalg as sl
from scipy import optimize

from breedomics.core import aireml, reml
from breedomics.core.linalg import single_thread


def _kernel(rng, n, p, maf=0.05):
    f = rng.uniform(maf, 0.5, p)
    m = rng.binomial(2, f, size=(n, p)).astype(float)
    z = m - m.mean(0)
    return z @ z.T / (2 * np.sum(f * (1 - f)))


def _reml_loglik(theta, y, X, kernels):
    """-1/2 [(n-q) log 2pi + log|V| + log|X'V^-1X| - log|X'X| + y'Py], straight from the formula."""
    n, q = X.shape
    V = theta[-1] * np.eye(n) + sum(t * K for t, K in zip(theta[:-1], kernels, strict=True))
    c = sl.cho_factor(V)
    vx, vy = sl.cho_solve(c, X), sl.cho_solve(c, y)
    xvx = X.T @ vx
    ypy = y @ vy - (X.T @ vy) @ np.linalg.solve(xvx, X.T @ vy)  # y'P y
    return -0.5 * (
        (n - q) * np.log(2 * np.pi)
        + 2 * np.sum(np.log(np.diag(c[0])))
        + np.linalg.slogdet(xvx)[1]
        - np.linalg.slogdet(X.T @ X)[1]
        + ypy
    )


def _brute_force(y, X, kernels, starts):
    """Maximise the formula over log-variances from several starts (Nelder-Mead)."""
    with single_thread():  # small matrices: BLAS threads only add contention
        return _nelder_mead(y, X, kernels, starts)


def _nelder_mead(y, X, kernels, starts):
    best = None
    for s in starts:
        res = optimize.minimize(
            lambda x: -_reml_loglik(np.exp(x), y, X, kernels),
            np.log(s),
            method="Nelder-Mead",
            options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 20000, "maxfev": 20000},
        )
        if best is None or res.fun < best.fun:
            best = res
    return np.exp(best.x), -best.fun


def _simulate(seed, n, markers, factors, features, truth, covariate):
    """A marker kernel, a second kernel (e.g. transcriptome: linear in other features),
    and a trait with components of variance ``truth`` (kernel 1, kernel 2, residual)."""
    rng = np.random.default_rng(seed)
    K1 = _kernel(rng, n, markers)
    F = rng.standard_normal((n, factors)) @ rng.standard_normal((factors, features))
    F -= F.mean(0)
    K2 = F @ F.T / np.trace(F @ F.T) * n
    X = np.column_stack([np.ones(n), rng.normal(size=n)]) if covariate else np.ones((n, 1))
    g1 = np.linalg.cholesky(K1 + 1e-8 * np.eye(n)) @ rng.standard_normal(n) * np.sqrt(truth[0])
    g2 = np.linalg.cholesky(K2 + 1e-8 * np.eye(n)) @ rng.standard_normal(n) * np.sqrt(truth[1])
    b = np.array([3.0, 0.5]) if covariate else np.array([10.0])
    y = X @ b + g1 + g2 + rng.normal(0, np.sqrt(truth[2]), n)
    return dict(K1=K1, K2=K2, X=X, y=y, g1=g1, g2=g2)


@pytest.fixture(scope="module")
def data():
    return _simulate(11, 200, 600, 40, 300, (0.5, 0.3, 0.4), covariate=True)


def test_single_kernel_forms_equal_brute_force_reml(data):
    """Eigen form, tridiagonal form and the formula maximised by scipy agree (REML and ML)."""
    K, X, y = data["K1"], data["X"], data["y"]
    n = len(y)
    fine = replace(reml.KERNEL_SEARCH, xatol=1e-11)
    tri = reml.KernelREML(K).fit(y, X, search=fine)
    s, U = np.linalg.eigh(K)
    eig = reml.fit_eigen(np.maximum(s, 0), U.T @ X, U.T @ y, np.trace(K) / n)
    theta, ll = _brute_force(y, X, [K], [(1.0, 1.0), (0.1, 2.0)])
    np.testing.assert_allclose([tri.sigma_g, tri.sigma_e], theta, rtol=1e-5)
    np.testing.assert_allclose([eig.sigma_g, eig.sigma_e], theta, rtol=1e-5)
    assert tri.loglik == pytest.approx(ll, abs=1e-8)
    assert eig.loglik == pytest.approx(ll, abs=1e-8)
    np.testing.assert_allclose(tri.beta, eig.beta, rtol=1e-6)
    np.testing.assert_allclose(tri.se_beta, eig.se_beta, rtol=1e-5)
    assert tri.h2 == pytest.approx(eig.h2, abs=1e-7)
    # ML: the same eigen-form search with the ML likelihood; s2e divides by n
    ml = reml.fit_eigen(np.maximum(s, 0), U.T @ X, U.T @ y, np.trace(K) / n, method="ml")

    def ml_ll(x):
        V = np.exp(x[0]) * K + np.exp(x[1]) * np.eye(n)
        r = y - X @ np.linalg.solve(X.T @ np.linalg.solve(V, X), X.T @ np.linalg.solve(V, y))
        return 0.5 * (n * np.log(2 * np.pi) + np.linalg.slogdet(V)[1] + r @ np.linalg.solve(V, r))

    opts = {"xatol": 1e-10, "fatol": 1e-12, "maxiter": 5000}
    with single_thread():
        res = optimize.minimize(ml_ll, np.log([1.0, 1.0]), method="Nelder-Mead", options=opts)
    np.testing.assert_allclose([ml.sigma_g, ml.sigma_e], np.exp(res.x), rtol=1e-5)
    assert ml.loglik == pytest.approx(-res.fun, abs=1e-8)


def test_search_bounds_and_grid_kept_apart():
    """A flat likelihood ends at the lower bound; the two callers' searches differ as declared."""
    rng = np.random.default_rng(3)
    n = 120
    K = _kernel(rng, n, 300)
    # no kernel signal: lambda ends at the lower bound for some samples
    with pytest.warns(UserWarning, match="boundary"):
        fits = [reml.KernelREML(K).fit(rng.standard_normal(n)) for _ in range(6)]
    low = [f for f in fits if f.lam < 1e-4]
    assert low and all(f.boundary for f in low)
    assert all(np.isnan(f.se_h2) for f in low)
    assert reml.GEMMA_SEARCH.points == 201 and reml.KERNEL_SEARCH.points == 41
    np.testing.assert_allclose(reml.GEMMA_SEARCH.ratio(reml.GEMMA_SEARCH.grid())[[0, -1]],
                               [1e-5, 1e5], rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(reml.KERNEL_SEARCH.ratio(reml.KERNEL_SEARCH.grid())[[0, -1]],
                               [1e-5, 1e5], rtol=1e-12)  # fmt: skip
    # maximise_ratio on a known concave function of log10 lambda: optimum found to xatol
    t, v, at = reml.maximise_ratio(lambda lam: -((np.log10(lam) - 1.234) ** 2), reml.KERNEL_SEARCH)
    assert t == pytest.approx(1.234, abs=1e-6) and v == pytest.approx(0, abs=1e-10) and not at
    t, v, at = reml.maximise_ratio(lambda lam: -np.log(lam), reml.GEMMA_SEARCH)
    assert at and t == pytest.approx(np.log(1e-5), abs=1e-6)


def test_average_information_and_pev_equal_dense_definitions(data):
    K, X, y = data["K1"], data["X"], data["y"]
    n = len(y)
    t = 160  # training samples; the others are candidates
    f = reml.KernelREML(K[:t, :t]).fit(y[:t], X[:t])
    V = f.sigma_g * K[:t, :t] + f.sigma_e * np.eye(t)
    Vi = np.linalg.inv(V)
    Xt = X[:t]
    P = Vi - Vi @ Xt @ np.linalg.solve(Xt.T @ Vi @ Xt, Xt.T @ Vi)
    py = P @ y[:t]
    np.testing.assert_allclose(f.py, py, rtol=1e-7, atol=1e-10)
    # AI_kl = 1/2 y'P V_k P V_l P y with V_g = K, V_e = I
    vk = [K[:t, :t] @ py, py]
    ai = np.array([[0.5 * a @ P @ b for b in vk] for a in vk])
    np.testing.assert_allclose(f.ai, ai, rtol=1e-7)
    # PEV = s2g K_cc - s2g^2 K_ct P K_tc; BLUP = s2g K_ct P y equals the MME solution
    c = np.arange(t, n)
    pev, rel = reml.blup_pev(K[:t, :t], K[np.ix_(c, range(t))], np.diag(K)[c], Xt,
                             f.sigma_g, f.sigma_e)  # fmt: skip
    Kct = K[np.ix_(c, range(t))]
    want = f.sigma_g * np.diag(K)[c] - f.sigma_g**2 * np.einsum("ij,jk,ik->i", Kct, P, Kct)
    np.testing.assert_allclose(pev, want, rtol=1e-7)
    np.testing.assert_allclose(rel, 1 - want / (f.sigma_g * np.diag(K)[c]), atol=1e-9)
    Kj = K + 1e-6 * np.eye(n)  # full-rank joint kernel: training and candidates
    lam = f.sigma_e / f.sigma_g
    Z = np.eye(n)[:t]
    Ki = np.linalg.inv(Kj)
    mme = np.block([[Xt.T @ Xt, Xt.T @ Z], [Z.T @ Xt, Z.T @ Z + lam * Ki]])
    sol = np.linalg.solve(mme, np.r_[Xt.T @ y[:t], Z.T @ y[:t]])
    Vj = f.sigma_g * Kj[:t, :t] + f.sigma_e * np.eye(t)
    Vji = np.linalg.inv(Vj)
    b = np.linalg.solve(Xt.T @ Vji @ Xt, Xt.T @ Vji @ y[:t])
    blup = f.sigma_g * Kj[:, :t] @ Vji @ (y[:t] - Xt @ b)
    np.testing.assert_allclose(sol[2:], blup, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(f.sigma_g * Kct @ f.py, blup[c], rtol=1e-4, atol=1e-4)


def test_one_kernel_ai_reml_equals_single_kernel_reml(data):
    K, X, y = data["K1"], data["X"], data["y"]
    fine = replace(reml.KERNEL_SEARCH, xatol=1e-11)
    single = reml.KernelREML(K).fit(y, X, search=fine)
    mk = aireml.fit_kernels(y, [K], X)
    assert mk.converged
    np.testing.assert_allclose([mk.sigma[0], mk.sigma_e], [single.sigma_g, single.sigma_e],
                               rtol=1e-6)  # fmt: skip
    assert mk.loglik == pytest.approx(single.loglik, abs=1e-8)
    np.testing.assert_allclose(mk.beta, single.beta, rtol=1e-6)
    np.testing.assert_allclose(mk.se[[0, 1]], [single.se_sigma_g, single.se_sigma_e], rtol=1e-4)
    assert mk.shares[0] == pytest.approx(single.h2, abs=1e-7)
    assert mk.share_se()[0] == pytest.approx(single.se_h2, rel=1e-4)


def test_two_kernel_reml_maximum_equals_brute_force(data):
    K1, K2, X, y = data["K1"], data["K2"], data["X"], data["y"]
    mk = aireml.fit_kernels(y, [K1, K2], X)
    assert mk.converged and not mk.at_zero.any()
    theta, ll = _brute_force(y, X, [K1, K2], [(0.5, 0.5, 0.5), (0.1, 1.0, 0.2)])
    assert mk.loglik >= ll - 1e-7
    assert mk.loglik == pytest.approx(_reml_loglik(np.r_[mk.sigma, mk.sigma_e], y, X, [K1, K2]),
                                      abs=1e-9)  # fmt: skip
    np.testing.assert_allclose(np.r_[mk.sigma, mk.sigma_e], theta, rtol=1e-3)


def test_two_kernels_recover_simulated_components():
    """Components of known size are recovered within their SEs; BLUPs track each component."""
    truth = np.array([0.5, 0.3, 0.4])
    n = 700
    d = _simulate(2024, n, 1500, 60, 400, truth, covariate=False)
    K1, K2, y, g1, g2 = d["K1"], d["K2"], d["y"], d["g1"], d["g2"]
    mk = aireml.fit_kernels(y, [K1, K2])
    est = np.r_[mk.sigma, mk.sigma_e]
    assert np.all(np.abs(est - truth) < 3 * mk.se), (est, mk.se)
    b = mk.blups([K1, K2])
    assert np.corrcoef(b[:, 0], g1)[0, 1] > 0.6
    assert np.corrcoef(b[:, 1], g2)[0, 1] > 0.6
    # PEVs of each component agree with the dense definition
    V = est[0] * K1 + est[1] * K2 + est[2] * np.eye(n)
    Vi = np.linalg.inv(V)
    X = np.ones((n, 1))
    P = Vi - Vi @ X @ np.linalg.solve(X.T @ Vi @ X, X.T @ Vi)
    pev, rel = mk.pev(1, [K1, K2], K2[:5], np.diag(K2)[:5])
    want = est[1] * np.diag(K2)[:5] - est[1] ** 2 * np.einsum("ij,jk,ik->i", K2[:5], P, K2[:5])
    np.testing.assert_allclose(pev, want, rtol=1e-6)
    rows = mk.varcomp_rows("y", "MK-GBLUP", ["G", "T"])
    assert [r["component"] for r in rows] == [
        "sigma2_G", "sigma2_T", "sigma2_e", "h2_G", "h2_T", "loglik_reml",
    ]  # fmt: skip


def test_a_null_component_stays_at_zero_at_the_constrained_maximum(data):
    """A kernel without signal: the estimate is on the boundary and no feasible point is better."""
    rng = np.random.default_rng(7)
    K1, X = data["K1"], data["X"]
    n = len(X)
    noise = _kernel(rng, n, 200)
    g = np.linalg.cholesky(K1 + 1e-8 * np.eye(n)) @ rng.standard_normal(n)
    y = X @ np.array([1.0, 0.0]) + g + rng.standard_normal(n) * 0.7
    best = None
    for seed in range(6):  # a null kernel's estimate is zero for some samples, small otherwise
        noise = _kernel(np.random.default_rng(100 + seed), n, 200)
        mk = aireml.fit_kernels(y, [K1, noise], X)
        if mk.at_zero[1]:
            best = (mk, noise)
            break
    assert best is not None
    mk, noise = best
    assert mk.sigma[1] == 0.0 and np.isnan(mk.se[1]) and mk.converged
    # the formula maximised over the other two variances with the null one at zero
    theta, ll = _brute_force(y, X, [K1], [(1.0, 0.5)])
    assert mk.loglik == pytest.approx(ll, abs=1e-6)
    np.testing.assert_allclose([mk.sigma[0], mk.sigma_e], theta, rtol=1e-3)
    # and moving the null component up lowers the likelihood
    up = _reml_loglik(np.r_[mk.sigma[0], 1e-3, mk.sigma_e], y, X, [K1, noise])
    assert up < mk.loglik
