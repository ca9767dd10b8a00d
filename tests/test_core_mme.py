"""REML by Henderson's mixed-model equations (core.mme) against independent truths.

* A balanced one-way random model, whose REML estimates are the ANOVA estimates
  (``s2e = MSW``, ``s2u = (MSB - MSW) / n`` when positive), with closed-form
  restricted log-likelihood, BLUPs and information.
* A small unbalanced design with groups and cells nested in them, against the
  restricted log-likelihood written directly from ``V`` (dense, no absorption)
  and maximised by brute force, and against the dense inverse of the MME.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from breedomics.core import mme as core_mme
from breedomics.core.mme import (
    MME,
    NestedDesign,
    fit_reml,
    independent_columns,
    reml_standard_errors,
    restricted_loglik,
)


@pytest.fixture(autouse=True)
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        yield


@pytest.fixture(params=["dense", "sparse"])
def storage(request, monkeypatch):
    """Both storages of the fixed effects (sparse above ``DENSE_MAX``)."""
    if request.param == "sparse":
        monkeypatch.setattr(core_mme, "DENSE_MAX", 0)
    return request.param


# --------------------------------------------------------------------------- one-way ANOVA
def test_balanced_one_way_reml_is_the_anova_solution(storage):
    a, n = 15, 4
    rng = np.random.default_rng(11)
    group = np.repeat(np.arange(a), n)
    y = 3.0 + rng.normal(0.0, 1.2, a)[group] + rng.normal(0.0, 1.0, a * n)
    means = np.bincount(group, weights=y) / n
    grand = y.mean()
    ssb = n * np.sum((means - grand) ** 2)
    ssw = np.sum((y - means[group]) ** 2)
    msb, msw = ssb / (a - 1), ssw / (a * (n - 1))
    assert msb > msw  # a positive ANOVA estimate: the REML maximum is interior
    s2e, s2u = msw, (msb - msw) / n
    lam = s2e + n * s2u

    d = NestedDesign.from_codes(y, np.ones((a * n, 1)), group, x_names=["mu"])
    fit = fit_reml(d, cell_effects=False)
    assert fit.s2_cell is None
    assert fit.s2e == pytest.approx(s2e, rel=1e-6)
    assert fit.s2_group == pytest.approx(s2u, rel=1e-6)
    # l_R = -1/2 [(N-1) log 2pi + a(n-1) log s2e + (a-1) log lam + log N + SSB/lam + SSW/s2e]
    N = a * n
    ll = -0.5 * (
        (N - 1) * np.log(2 * np.pi)
        + a * (n - 1) * np.log(s2e)
        + (a - 1) * np.log(lam)
        + np.log(N)
        + ssb / lam
        + ssw / s2e
    )
    assert fit.loglik == pytest.approx(ll, abs=1e-8)
    # BLUE of the mean and shrunken group means
    m = fit.mme(d)
    assert m.beta[0] == pytest.approx(grand, abs=1e-10)
    np.testing.assert_allclose(m.u_group, n * s2u / lam * (means - grand), atol=1e-6)
    # at the maximum the observed information equals the expected one
    var_s2e = 2 * s2e**2 / (a * (n - 1))
    var_s2u = 2 / n**2 * (lam**2 / (a - 1) + s2e**2 / (a * (n - 1)))
    se = reml_standard_errors(d, fit.theta, cell_effects=False)
    np.testing.assert_allclose(se, np.sqrt([var_s2u, var_s2e]), rtol=1e-5)


# --------------------------------------------------------------------------- nested, unbalanced
@pytest.fixture(scope="module")
def nested():
    """Eight groups in three environments, 1-3 records per cell, some cells empty."""
    rng = np.random.default_rng(5)
    rows = []
    for g in range(8):
        for e in range(3):
            if (g + e) % 5 == 4:
                continue
            rows += [(g, e)] * int(rng.integers(1, 4))
    group = np.array([r[0] for r in rows])
    env = np.array([r[1] for r in rows])
    ncell = 24
    cell_of = np.full(ncell, -1)
    codes = group * 3 + env
    used = np.unique(codes)
    cell_of[used] = np.arange(used.size)
    cell = cell_of[codes]
    X = np.column_stack([np.ones(len(rows)), env == 1, env == 2]).astype(float)
    u = rng.normal(0.0, 1.0, 8)
    c = rng.normal(0.0, 0.7, used.size)
    y = X @ np.array([10.0, 1.0, -1.5]) + u[group] + c[cell] + rng.normal(0, 0.8, len(rows))
    Z1 = np.eye(8)[group]
    Z2 = np.eye(used.size)[cell]
    return dict(y=y, X=X, group=group, cell=cell, Z1=Z1, Z2=Z2)


def _v(t, Z1, Z2, with_cells):
    s2u, s2e = t[0], t[-1]
    v = s2u * Z1 @ Z1.T + s2e * np.eye(Z1.shape[0])
    return v + t[1] * Z2 @ Z2.T if with_cells else v


def _dense_reml_loglik(t, y, X, Z1, Z2, with_cells=True) -> float:
    """Patterson & Thompson's restricted log-likelihood straight from ``V``."""
    Vinv = np.linalg.inv(_v(t, Z1, Z2, with_cells))
    xvx = X.T @ Vinv @ X
    proj = Vinv - Vinv @ X @ np.linalg.solve(xvx, X.T @ Vinv)
    logdets = np.linalg.slogdet(Vinv)[1] - np.linalg.slogdet(xvx)[1]
    df = y.size - X.shape[1]
    return -0.5 * (df * np.log(2 * np.pi) - logdets + y @ proj @ y)


@pytest.mark.parametrize("with_cells", [True, False])
def test_restricted_loglik_equals_the_dense_formula(nested, storage, with_cells):
    d = NestedDesign.from_codes(nested["y"], nested["X"], nested["group"], nested["cell"])
    for t in ([0.7, 0.3, 1.1], [2.0, 0.05, 0.4], [0.01, 1.5, 2.5]):
        t = np.array(t if with_cells else [t[0], t[2]])
        dense = _dense_reml_loglik(
            t, nested["y"], nested["X"], nested["Z1"], nested["Z2"], with_cells
        )
        assert restricted_loglik(d, t, with_cells) == pytest.approx(dense, abs=1e-9)


def test_reml_maximum_equals_brute_force(nested, storage):
    d = NestedDesign.from_codes(nested["y"], nested["X"], nested["group"], nested["cell"])
    fit = fit_reml(d)
    args = (nested["y"], nested["X"], nested["Z1"], nested["Z2"])
    brute = minimize(
        lambda x: -_dense_reml_loglik(np.exp(x), *args),
        np.zeros(3),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 20000},
    )
    np.testing.assert_allclose(fit.theta, np.exp(brute.x), rtol=1e-5)
    assert fit.loglik == pytest.approx(-brute.fun, abs=1e-9)


def test_mme_solutions_equal_the_dense_inverse(nested, storage):
    y, X, Z1, Z2 = nested["y"], nested["X"], nested["Z1"], nested["Z2"]
    d = NestedDesign.from_codes(y, X, nested["group"], nested["cell"])
    s2u, s2c, s2e = 0.9, 0.4, 0.6
    m = MME(d, s2e / s2u, s2e / s2c)
    W = np.hstack([X, Z1, Z2])
    p, q1 = X.shape[1], Z1.shape[1]
    ridge = np.r_[np.zeros(p), np.full(q1, s2e / s2u), np.full(Z2.shape[1], s2e / s2c)]
    Cinv = np.linalg.inv(W.T @ W + np.diag(ridge))
    sol = Cinv @ W.T @ y
    np.testing.assert_allclose(m.beta, sol[:p], atol=1e-10)
    np.testing.assert_allclose(m.u_group, sol[p : p + q1], atol=1e-10)
    np.testing.assert_allclose(m.u_cell, sol[p + q1 :], atol=1e-10)
    np.testing.assert_allclose(m.fitted(), W @ sol, atol=1e-10)
    block = Cinv[p : p + q1, p : p + q1]
    np.testing.assert_allclose(m.pev_group(), np.diag(block), atol=1e-12)
    assert m.sum_c_group() == pytest.approx(block.sum(), abs=1e-10)
    np.testing.assert_allclose(m.leverage(), np.einsum("ij,jk,ik->i", W, Cinv, W), atol=1e-12)
    # the BLUP is s2u Z1'P y (Henderson 1975)
    Vinv = np.linalg.inv(_v([s2u, s2c, s2e], Z1, Z2, True))
    proj = Vinv - Vinv @ X @ np.linalg.solve(X.T @ Vinv @ X, X.T @ Vinv)
    np.testing.assert_allclose(m.u_group, s2u * Z1.T @ proj @ y, atol=1e-10)
    # fixed groups: the GLS estimates of the group effects (intercept left out)
    gls = MME(d, 0.0, s2e / s2c, intercept=False)
    A = np.hstack([Z1, X[:, 1:]])
    Vc = np.linalg.inv(_v([0.0, s2c, s2e], Z1, Z2, True))
    cov = np.linalg.inv(A.T @ Vc @ A)
    np.testing.assert_allclose(gls.u_group, (cov @ A.T @ Vc @ y)[:q1], atol=1e-10)
    np.testing.assert_allclose(s2e * gls.pev_group(), np.diag(cov)[:q1], atol=1e-10)
    assert gls.dropped == []


# --------------------------------------------------------------------------- columns
def test_independent_columns_keep_the_earlier_ones():
    rng = np.random.default_rng(0)
    lev = np.arange(12) % 3
    D = np.eye(3)[lev]
    x = rng.normal(size=12)
    X = np.column_stack([np.ones(12), D, D[:, 0] + 2 * x, x, np.zeros(12)])
    # intercept, two dummies (the third = 1 - the others), the combination, not x
    np.testing.assert_array_equal(independent_columns(X.T @ X), [0, 1, 2, 4])
    assert independent_columns(np.zeros((0, 0))).size == 0
    from breedomics.gs.data import full_rank_columns

    np.testing.assert_array_equal(full_rank_columns(X), [0, 1, 2, 4])


def test_cells_must_be_nested_in_groups():
    with pytest.raises(ValueError, match="nested"):
        NestedDesign.from_codes(np.zeros(3), np.ones((3, 1)), [0, 1, 1], [0, 0, 1])
