"""The spatial trial model (SpATS: Rodriguez-Alvarez et al. 2018, Spatial Statistics 23:52)
on simulated fields with known genetic values: accuracy against the block model, the
generalised heritability, REML against an independent dense REML, and bad coordinates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from breedomics.core import tables
from breedomics.errors import UserError
from breedomics.gs.blue import fit_met
from breedomics.phenome.psanova import Marginal, spatial_design
from breedomics.phenome.spatial import fit_spatial_trial
from breedomics.phenome.trials import analyse_trials
from breedomics.phenome.variogram import variogram
from breedomics.testing.field import simulate_field


def _accuracy(fit_table: pd.DataFrame, g: np.ndarray) -> float:
    idx = fit_table["genotype"].str[1:].astype(int).to_numpy()
    return float(np.corrcoef(fit_table["blue"], g[idx])[0, 1])


def _spatial_and_block(seed: int, trend_sd: float, rc_sd: float) -> tuple[float, float, float]:
    rec, g = simulate_field(150, 2, 10, 15, np.random.default_rng(seed), trend_sd=trend_sd,
                            row_sd=rc_sd, col_sd=rc_sd)  # fmt: skip
    rec["environment"] = "E1"
    sp_fit = fit_spatial_trial(rec, "y")
    block = fit_met(rec, "y", rep="block").genotypes
    return _accuracy(sp_fit.genotypes, g), _accuracy(block, g), sp_fit.h2


@pytest.fixture(scope="module")
def trend_runs():
    return np.array([_spatial_and_block(s, 1.5, 0.4) for s in range(3)])


@pytest.fixture(scope="module")
def flat_runs():
    return np.array([_spatial_and_block(s, 0.0, 0.0) for s in range(3)])


def test_spatial_beats_block_model_under_a_trend(trend_runs):
    """Trend SD 1.5 x the error SD, row/column SD 0.4: the spatial BLUEs correlate with
    the true genetic values at least 0.05 better than the block model's (mean of 3
    fields); printed numbers are the measured ones."""
    sp_r, bl_r = trend_runs[:, 0].mean(), trend_runs[:, 1].mean()
    print(f"trend: spatial r {sp_r:.4f}, block r {bl_r:.4f}")
    assert sp_r >= bl_r + 0.05


def test_spatial_no_worse_without_a_trend(flat_runs):
    """No trend, no row/column effects: at most 0.01 below the block model (mean of 3)."""
    sp_r, bl_r = flat_runs[:, 0].mean(), flat_runs[:, 1].mean()
    print(f"flat: spatial r {sp_r:.4f}, block r {bl_r:.4f}")
    assert sp_r >= bl_r - 0.01


def test_generalised_heritability_matches_the_simulation(trend_runs, flat_runs):
    """var_g = var_e = 1, 2 replicates: H2 = 1 / (1 + 1/2); mean over 6 fields within 0.03."""
    h2 = np.concatenate([trend_runs[:, 2], flat_runs[:, 2]]).mean()
    print(f"H2 {h2:.4f} (simulated {2 / 3:.4f})")
    assert abs(h2 - 2 / 3) <= 0.03


# ------------------------------------------------------------------ dense REML
def _dense_reml(y, Xf, Z, lams, start):
    """Maximise the restricted likelihood of ``V = s2e I + Z G Z'``, ``G^-1 = sum_k
    lams_k / s2_k``, written directly with dense matrices (analytic gradient)."""
    n, K = y.size, lams.shape[0]

    def parts(v):
        s2, s2e = v[:K], v[K]
        gcov = 1.0 / (lams.T @ (1.0 / s2))
        V = s2e * np.eye(n) + (Z * gcov) @ Z.T
        Vi = np.linalg.inv(V)
        XtVi = Xf.T @ Vi
        A = XtVi @ Xf
        P = Vi - XtVi.T @ np.linalg.solve(A, XtVi)
        Py = P @ y
        ll = -0.5 * (np.linalg.slogdet(V)[1] + np.linalg.slogdet(A)[1] + y @ Py
                     + (n - Xf.shape[1]) * np.log(2 * np.pi))  # fmt: skip
        ZtPy, dZPZ = Z.T @ Py, np.einsum("ij,ij->j", Z, P @ Z)
        grad = np.empty(K + 1)  # d ll / d variance
        for k in range(K):
            dg = gcov**2 * lams[k] / s2[k] ** 2
            grad[k] = 0.5 * (-(dg * dZPZ).sum() + (dg * ZtPy**2).sum())
        grad[K] = 0.5 * (-np.trace(P) + Py @ Py)
        return ll, grad

    vy = float(y.var())
    lo, hi = 1e-12 * vy, 1e8 * vy  # the bounds of breedomics.core.spatial

    def neg_log(t):
        ll, gr = parts(np.exp(t))
        return -ll, -gr * np.exp(t)

    def neg_lin(v):
        ll, gr = parts(v)
        return -ll, -gr

    opts = {"ftol": 1e-15, "gtol": 1e-11, "maxiter": 5000}
    r = minimize(neg_log, np.log(start), jac=True, method="L-BFGS-B",
                 bounds=[(np.log(lo), np.log(hi))] * (K + 1), options=opts)  # fmt: skip
    r = minimize(neg_lin, np.exp(r.x), jac=True, method="L-BFGS-B",
                 bounds=[(lo, hi)] * (K + 1), options=opts)  # fmt: skip
    return r.x, -r.fun, hi


def test_reml_agrees_with_dense_reml():
    """SAP's variance components equal a dense REML maximiser's to 1e-4 (6 x 10 plots);
    an infinite variance (a smoothing parameter at zero) must be infinite in both."""
    rec, _g = simulate_field(30, 2, 6, 5, np.random.default_rng(5), trend_sd=1.0,
                             row_sd=0.7, col_sd=0.7)  # fmt: skip
    fit = fit_spatial_trial(rec, "y", segments=(4, 4))
    r = rec["row"].to_numpy(float)
    c = rec["col"].to_numpy(float)
    d = spatial_design(Marginal.build(r, 4), Marginal.build(c, 4), r, c)
    R = (r[:, None] == np.unique(r)).astype(float)
    C = (c[:, None] == np.unique(c)).astype(float)
    Z = np.hstack([d.Z, R, C])
    qs, q = d.Z.shape[1], Z.shape[1]
    lam = np.zeros((8, q))
    lam[:6, :qs] = d.precisions
    lam[6, qs : qs + R.shape[1]] = 1.0
    lam[7, qs + R.shape[1] :] = 1.0
    gi = np.unique(rec["genotype"], return_inverse=True)[1]
    Xf = np.hstack([np.eye(30)[gi], d.X])
    y = rec["y"].to_numpy()
    with threadpool_limits(1):
        dense, ll, hi = _dense_reml(y, Xf, Z, lam, np.full(9, y.var() / 3))
    sap = np.concatenate([fit.fixed.s2, [fit.fixed.s2e]])
    print("SAP  ", np.array2string(sap, precision=6))
    print("dense", np.array2string(dense, precision=6))
    print(f"max |diff| {np.abs(sap - dense).max():.2e}")
    assert fit.fixed.converged
    assert fit.fixed.loglik >= ll - 1e-7  # SAP reaches the maximum
    assert sap[1:].max() > 0.1  # the comparison includes non-zero components
    # a variance at the upper bound is an unpenalised direction (REML estimate infinite)
    inside = dense < 0.5 * hi
    assert (sap[~inside] > 0.5 * hi).all()
    np.testing.assert_allclose(sap[inside], dense[inside], rtol=0, atol=1e-4)


# ------------------------------------------------------------------ outputs
def test_trend_variogram_and_stage_two(tmp_path):
    rec, g = simulate_field(40, 2, 5, 8, np.random.default_rng(3), trend_sd=1.0)
    two = pd.concat([rec.assign(environment="E1"),
                     rec.assign(environment="E2", y=rec["y"] + 5)], ignore_index=True)  # fmt: skip
    res = analyse_trials(two, ["y"], rep="block")
    assert set(res.heritability["model"]) == {"spatial"}
    # the fitted trend follows the simulated one on the plots
    t = res.trend[res.trend.environment == "E1"].merge(rec, on=["row", "col"])
    assert np.corrcoef(t["trend_x"], t["trend_y"])[0, 1] > 0.7
    assert res.blues["n_env"].eq(2).all() and (res.blues["se_blue"] > 0).all()
    # identical trials (shifted): stage 2 gives the per-trial BLUE contrasts, no GxE
    s1 = res.stage1[res.stage1.environment == "E1"].set_index("genotype")["blue"]
    s2 = res.blues.set_index("genotype")["blue"]
    np.testing.assert_allclose(s2 - s2.mean(), s1 - s1.mean(), atol=1e-6)
    vg = variogram(np.array([1, 1, 2, 2]), np.array([1, 2, 1, 2]), np.array([0.0, 1.0, 0.0, 1.0]))
    sv = vg.set_index(["row_lag", "col_lag"])["semivariance"]
    assert sv[(1, 0)] == 0.0 and sv[(0, 1)] == 0.5 and sv[(1, 1)] == 0.5


def test_trials_without_coordinates_keep_the_block_model():
    rec, _g = simulate_field(30, 2, 5, 6, np.random.default_rng(1))
    rec["environment"] = "E1"
    rec["row"] = np.nan
    rec["col"] = np.nan
    res = analyse_trials(rec, ["y"], rep="block")
    met = fit_met(rec, "y", rep="block", gxe=False).genotypes
    assert set(res.stage1["model"]) == {"block"}
    np.testing.assert_allclose(res.blues["blue"], met["blue"])


# ------------------------------------------------------------------ bad input
def _write(tmp_path, rows: list[str]):
    p = tmp_path / "trials.tsv"
    p.write_text("plot\tgenotype\tenvironment\trow\tcol\ty\n" + "\n".join(rows) + "\n")
    rec = tables.infer_types(tables.read_table(p, "trial records"), ["y"], "trait")
    return p, rec


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("P4\tG1\tE1\t\t2\t1.0", r"line 5: plot without a 'row'/'col' coordinate .* give every"),
        ("P4\tG1\tE1\t1\t1\t1.0", r"lines 2 and 5: two plots of trial 'E1' at row 1, col 1 .* fix"),
        ("P4\tG1\tE1\tA\t2\t1.0", r"line 5, column 'row': plot coordinate 'row' has the non-num"),
    ],
)
def test_bad_coordinates_name_file_line_and_fix(tmp_path, bad, message):
    good = ["P1\tG1\tE1\t1\t1\t1.0", "P2\tG2\tE1\t1\t2\t2.0", "P3\tG3\tE1\t2\t1\t3.0"]
    p, rec = _write(tmp_path, good + [bad])
    with pytest.raises(UserError, match=message) as exc:
        analyse_trials(rec, ["y"])
    assert str(p) in str(exc.value)
