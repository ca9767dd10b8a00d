"""Multi-environment trial BLUEs/BLUPs: simulation truth and a dense mixed-model check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from breedomics.errors import UserError
from breedomics.gs.blue import fit_met, met_blues
from breedomics.testing.simulate_gs import simulate_met


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small dense algebra in one BLAS thread: on a shared, loaded machine extra
    threads spin and slow these tests down by an order of magnitude."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        yield


@pytest.fixture(params=["dense", "sparse"])
def design_storage(request, monkeypatch):
    """Both storages of the fixed-effect design: dense for small trials, sparse when
    records x fixed effects is large (SoyNAM: 62,572 plots x 1,867 effects)."""
    import breedomics.core.mme as mme

    if request.param == "sparse":
        monkeypatch.setattr(mme, "DENSE_MAX", 0)
    return request.param


def test_met_recovers_genotype_means_and_heritability():
    rec, truth = simulate_met(
        n_geno=300,
        n_env=8,
        n_rep=3,
        var_g=1.0,
        var_ge=0.3,
        var_e=1.0,
        p_missing=0.05,
        n_outliers=12,
        seed=3,
    )
    fit = fit_met(rec, "yield", rep="rep", id_column="plot")
    g = fit.genotypes.set_index("genotype")
    true_mean = truth["genotype_mean"][g.index]
    assert np.corrcoef(g["blue"], true_mean)[0, 1] >= 0.95
    assert np.corrcoef(g["blup"], true_mean)[0, 1] >= 0.95
    # BLUEs are on the scale of the genotype means (sum-to-zero environments)
    assert g["blue"].mean() == pytest.approx(true_mean.mean(), abs=0.1)
    vc = fit.varcomp.set_index("component")["estimate"]
    assert vc["H2_cullis"] == pytest.approx(truth["H2_entry"], abs=0.05)
    assert vc["H2_standard"] == pytest.approx(truth["H2_entry"], abs=0.05)
    assert vc["s2G"] == pytest.approx(1.0, rel=0.2)
    assert vc["s2GE"] == pytest.approx(0.3, rel=0.25)
    assert vc["s2e"] == pytest.approx(1.0, rel=0.15)
    se = fit.varcomp.set_index("component")["se"]
    assert 0 < se["s2G"] < 0.2 and 0 < se["s2e"] < 0.05
    # planted outliers are flagged and written, not dropped
    res = fit.residuals
    flagged = set(res.loc[res["outlier"], "plot"])
    assert set(truth["outliers"]) <= flagged
    assert len(flagged - set(truth["outliers"])) <= 2
    assert len(res) == len(rec) and not res["dropped"].any()
    # dropping them refits without them and improves the residual variance
    fit2 = fit_met(rec, "yield", rep="rep", id_column="plot", drop_outliers=True)
    assert fit2.residuals["dropped"].sum() == len(flagged)
    s2e2 = fit2.varcomp.set_index("component").loc["s2e", "estimate"]
    assert s2e2 < vc["s2e"]


def _dense_reml(rec):
    """Independent dense REML of y = F b + Zg g + Zc c + e (no absorption tricks)."""
    y = rec["yield"].to_numpy(float)
    env = rec["environment"].to_numpy()
    rep = (rec["environment"] + ":" + rec["rep"]).to_numpy()
    # any full-rank parametrisation of env + rep(env) gives the same REML
    F = np.column_stack(
        [np.ones(len(y))]
        + [(env == e).astype(float) for e in np.unique(env)[1:]]
        + [(rep == r).astype(float) for r in np.unique(rep) if not r.endswith(":1")]
    )
    G = pd.get_dummies(rec["genotype"]).to_numpy(float)
    C = pd.get_dummies(rec["genotype"] + "|" + rec["environment"]).to_numpy(float)
    GG, CC = G @ G.T, C @ C.T

    def parts(theta):
        s2g, s2c, s2e = np.exp(theta)
        V = s2g * GG + s2c * CC + s2e * np.eye(len(y))
        Vi = np.linalg.inv(V)
        XtViX = F.T @ Vi @ F
        P = Vi - Vi @ F @ np.linalg.solve(XtViX, F.T @ Vi)
        return V, Vi, P, XtViX

    def nll(theta):
        V, Vi, P, XtViX = parts(theta)
        return 0.5 * (np.linalg.slogdet(V)[1] + np.linalg.slogdet(XtViX)[1] + y @ P @ y)

    res = minimize(
        nll,
        np.log([0.5, 0.2, 0.8]),
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 5000},
    )
    s2g, s2c, s2e = np.exp(res.x)
    V, Vi, P, _ = parts(res.x)
    g_blup = s2g * G.T @ P @ y
    var_resid = s2e**2 * np.diag(P)
    resid = s2e * P @ y
    return s2g, s2c, s2e, g_blup, resid / np.sqrt(var_resid), G, F, Vi, y


def test_absorbed_mme_equals_dense_mixed_model(design_storage):
    rec, _ = simulate_met(
        n_geno=30, n_env=3, n_rep=2, var_g=1.0, var_ge=0.5, var_e=0.8, p_missing=0.15, seed=9
    )
    fit = fit_met(rec, "yield", rep="rep")
    vc = fit.varcomp.set_index("component")["estimate"]
    s2g, s2c, s2e, g_blup, stud, G, F, Vi, y = _dense_reml(rec)
    assert vc["s2G"] == pytest.approx(s2g, rel=1e-3)
    assert vc["s2GE"] == pytest.approx(s2c, rel=1e-3)
    assert vc["s2e"] == pytest.approx(s2e, rel=1e-3)
    gen = fit.genotypes.set_index("genotype").loc[sorted(rec["genotype"].unique())]
    np.testing.assert_allclose(gen["blup"] - gen["blup"].mean(), g_blup - g_blup.mean(), atol=2e-3)
    np.testing.assert_allclose(fit.residuals["studentised"], stud, atol=2e-3)
    # BLUEs: genotype fixed (GLS), differences between genotypes are estimable
    s2c_V = s2c * (pd.get_dummies(rec["genotype"] + "|" + rec["environment"]).to_numpy(float))
    V2 = s2c_V @ s2c_V.T / s2c + s2e * np.eye(len(y))
    X2 = np.column_stack([G, F[:, 1:]])
    V2i = np.linalg.inv(V2)
    b = np.linalg.solve(X2.T @ V2i @ X2, X2.T @ V2i @ y)[: G.shape[1]]
    np.testing.assert_allclose(gen["blue"] - gen["blue"].iloc[0], b - b[0], atol=2e-3)


def test_met_user_errors():
    rec, _ = simulate_met(n_geno=20, n_env=3, n_rep=2, seed=1)
    with pytest.raises(UserError, match="unknown environment level\\(s\\) E07"):
        met_blues(rec, ["yield"], environments=["E00", "E07"], rep="rep")
    flat = rec.assign(yield_=5.0).rename(columns={"yield_": "flat"})
    with pytest.raises(UserError, match="constant"):
        fit_met(flat, "flat", rep="rep")
    with pytest.raises(UserError, match="column 'plotrep'"):
        fit_met(rec, "yield", rep="plotrep")
    one = rec[rec["rep"] == "1"]
    with pytest.raises(UserError, match="GxE cannot be separated"):
        fit_met(one, "yield", gxe=True)
    # without GxE replication the term is dropped automatically
    f = fit_met(one, "yield")
    assert "s2GE" not in set(f.varcomp["component"])


def test_blocks_aliased_with_families_are_dropped_from_the_blue_model(design_storage):
    """SoyNAM-like: each family's lines always grown in its own set (block) in every
    environment, so one combination of the set effects is aliased with the families'
    genotype effects and the fixed-genotype MME is singular. The aliased column is left
    out (with a warning) instead of failing in the Cholesky factorisation; the estimable
    BLUE contrasts (lines within a family) equal a dense least-squares fit of the full
    model (genotype + environment + set within environment; no GxE term, so they do not
    depend on the variance components)."""
    rng = np.random.default_rng(4)
    fams = {"A": [f"A{i}" for i in range(8)], "B": [f"B{i}" for i in range(8)]}
    rows = []
    for env in ("e1", "e2", "e3"):
        for fam, lines in fams.items():
            for g in lines:
                rows.append({"genotype": g, "environment": env, "set": fam})
    rec = pd.DataFrame(rows)
    gval = {g: rng.normal() for lines in fams.values() for g in lines}
    envv = {"e1": 0.0, "e2": 1.0, "e3": -2.0}
    setv = {("e1", "A"): 0.5, ("e2", "A"): -0.4, ("e3", "A"): 0.1}
    rec["y"] = [
        gval[g] + envv[e] + setv.get((e, f), 0.0) + rng.normal(0, 0.3)
        for g, e, f in zip(rec.genotype, rec.environment, rec["set"], strict=True)
    ]
    with pytest.warns(UserWarning, match="1 fixed effect.* aliased with groups of genotypes"):
        fit = fit_met(rec, "y", block="set", gxe=False)
    blue = fit.genotypes.set_index("genotype")["blue"]
    # dense least squares: genotype dummies, environment, set within environment
    G = pd.get_dummies(rec["genotype"]).astype(float)
    E = pd.get_dummies(rec["environment"]).astype(float).to_numpy()[:, 1:]
    S = pd.get_dummies(rec["environment"] + ":" + rec["set"]).astype(float).to_numpy()
    X = np.column_stack([G.to_numpy(), E, S])
    coef = np.linalg.lstsq(X, rec["y"].to_numpy(), rcond=None)[0][: G.shape[1]]
    ref = pd.Series(coef, index=G.columns)
    for lines in fams.values():
        np.testing.assert_allclose(
            (blue[lines] - blue[lines[0]]).to_numpy(), (ref[lines] - ref[lines[0]]).to_numpy(),
            atol=1e-8,
        )  # fmt: skip
