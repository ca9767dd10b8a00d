"""Outliers and the across-trial stage of the spatial path (``phenome spatial``):

* the leverages of the SAP fit equal the diagonal of the dense hat matrix;
* the planted outliers of the test panel's trials (``trials.truth.tsv``) and of simulated
  fields (:mod:`breedomics.testing.field`) are flagged exactly, and dropping them refits;
* the random-genotype second stage (variances, Cullis H2) equals a dense REML of the
  two-stage model written with numpy/scipy;
* lab exports: every column the spatial path reads can be renamed (the same results),
  ``outliers.tsv`` has the columns of ``gs blue``'s, and plots missing coordinates are
  reported with the file and their lines.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from breedomics import sheets
from breedomics.cli import main as cli
from breedomics.core import tables
from breedomics.core.outliers import holm
from breedomics.core.spatial import fit_sap
from breedomics.core.stagewise import stage_two_varcomp
from breedomics.errors import UserError
from breedomics.phenome.spatial import fit_spatial_trial
from breedomics.phenome.trials import analyse_trials
from breedomics.testing.field import simulate_field

PANEL = Path(__file__).resolve().parents[1] / "test-data/soybean/panel"


def test_holm_against_hand_computed_values():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4x, 3x, 2x, 1x with the running maximum
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02])


def test_sap_leverage_is_the_dense_hat_diagonal():
    rng = np.random.default_rng(2)
    n, ng, q = 40, 8, 6
    gi = rng.integers(0, ng, n)
    gi[:ng] = np.arange(ng)
    X = rng.normal(size=(n, 2))
    Z = rng.normal(size=(n, q))
    lam = np.vstack([np.r_[np.ones(3), np.zeros(3)], np.r_[np.zeros(3), np.ones(3)]])
    y = rng.normal(size=n) + Z @ rng.normal(size=q)
    for random in (False, True):
        Xr = np.hstack([np.ones((n, 1)), X]) if random else X
        f = fit_sap(y, gi, ng, Xr, Z, lam, ["a", "b"], random, leverage=True)
        M = np.hstack([np.eye(ng)[gi], Xr, Z])
        pen = np.r_[np.full(ng, f.s2e / f.s2g if random else 0.0), np.zeros(Xr.shape[1]),
                    f.s2e * (lam.T @ (1.0 / f.s2))]  # fmt: skip
        C = M.T @ M + np.diag(pen)
        hat = np.einsum("ij,ji->i", M, np.linalg.solve(C, M.T))
        np.testing.assert_allclose(f.leverage, hat, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(M @ np.linalg.solve(C, M.T @ y), f.fitted, atol=1e-8)


# ------------------------------------------------------------------ planted outliers
@pytest.fixture(scope="module")
def panel_yield():
    raw = tables.read_table(PANEL / "trials.tsv", "trial records")
    rec = tables.infer_types(raw, ["yield"], "trait")
    res = analyse_trials(rec, ["yield"], rep="block", segments=(8, 6), id_column="plot",
                         drop_outliers=True)  # fmt: skip
    return rec, res


def test_panel_planted_outliers_are_flagged_and_dropped(panel_yield):
    """``make_test_data.py`` shifts 3 yield plots by 8 error SDs: the spatial path flags
    exactly those (Holm, 5%) and refits their trials without them."""
    rec, res = panel_yield
    truth = pd.read_csv(PANEL / "trials.truth.tsv", sep="\t").set_index("trait")
    planted = set(truth.loc["yield", "outlier_plots"].split(","))
    flagged = set(res.outliers["plot"])
    print(res.outliers[["plot", "environment", "studentised", "p_holm"]].to_string())
    assert flagged == planted
    assert res.outliers["dropped"].all() and (res.outliers["p_holm"] < 0.05).all()
    assert res.residuals["outlier"].sum() == 3 and len(res.residuals) == rec["yield"].notna().sum()
    # the refitted trials: fewer plots, and a higher H2 than with the outliers kept
    env = res.outliers["environment"].iat[0]
    sub = rec[rec["environment"] == env]
    kept = fit_spatial_trial(sub, "yield", segments=(8, 6))
    h2 = res.heritability.set_index("environment").loc[env, "H2"]
    print(f"{env}: H2 {kept.h2:.4f} with the outliers, {h2:.4f} without")
    assert h2 > kept.h2 + 0.005
    n_env = res.stage1[res.stage1["environment"] == env]
    assert len(n_env) == sub["genotype"].nunique()


def _field_with_outliers(seed: int, env: str, n_out: int = 2, shift: float = 8.0):
    rng = np.random.default_rng(seed)
    rec, g = simulate_field(120, 2, 10, 12, rng, trend_sd=1.0, row_sd=0.4, col_sd=0.4)
    idx = rng.choice(len(rec), n_out, replace=False)
    rec.loc[idx, "y"] += shift * rng.choice([-1.0, 1.0], n_out)
    rec["plot"] = env + "_" + rec["plot"]
    return rec.assign(environment=env), set(rec.loc[idx, "plot"])


def test_simulated_fields_outliers_flagged_exactly():
    """Two simulated fields of 240 plots (trend, row/column effects, var_g = var_e = 1),
    two plots each shifted by 8 error SDs (the shift of the test panel's outliers):
    exactly those four are flagged (seeds 11, 12). Power is not 1: a shifted plot's
    random-genotype residual keeps about half the shift when its genotype has two plots
    (seeds 11-18: 15 of 16 found, no false flag)."""
    a, pa = _field_with_outliers(11, "E1")
    b, pb = _field_with_outliers(12, "E2")
    rec = pd.concat([a, b], ignore_index=True)
    res = analyse_trials(rec, ["y"], rep="block", id_column="plot")
    print(res.outliers[["plot", "studentised", "p_holm"]].to_string())
    assert set(res.outliers["plot"]) == pa | pb
    assert not res.residuals["dropped"].any()
    clean = res.residuals[~res.residuals["outlier"]]
    assert clean["studentised"].abs().max() < 4.0


# ------------------------------------------------------------------ second stage
def _dense_stage_two(y, se, gi, ei, ng):
    """REML of ``y = X b + Z g + ge + d`` with dense ``V`` (Nelder-Mead on the logs)."""
    n = y.size
    levels = np.unique(ei)
    X = np.column_stack([np.ones(n)] + [(ei == lv) * 1.0 for lv in levels[1:]])
    Z = np.eye(ng)[gi]

    def P_of(t):
        s2g, tau = np.exp(t)
        V = np.diag(se**2 + tau) + s2g * Z @ Z.T
        Vi = np.linalg.inv(V)
        A = X.T @ Vi @ X
        return V, A, Vi - Vi @ X @ np.linalg.solve(A, X.T @ Vi)

    def nll(t):
        V, A, P = P_of(t)
        return 0.5 * (np.linalg.slogdet(V)[1] + np.linalg.slogdet(A)[1] + y @ P @ y)

    r = minimize(nll, [0.0, -1.0], method="Nelder-Mead",
                 options={"xatol": 1e-11, "fatol": 1e-14, "maxiter": 20000})  # fmt: skip
    s2g, tau = np.exp(r.x)
    _V, _A, P = P_of(r.x)
    pev = s2g * np.eye(ng) - s2g**2 * Z.T @ P @ Z
    d = np.diag(pev)
    v_blup = (d[:, None] + d[None, :] - 2 * pev)[~np.eye(ng, dtype=bool)].mean()
    return s2g, tau, 1.0 - v_blup / (2 * s2g)


def test_stage_two_variances_and_h2_match_a_dense_reml():
    rng = np.random.default_rng(4)
    ng, ne = 15, 3
    cells = [(g, e) for g in range(ng) for e in range(ne) if rng.random() > 0.15]
    gi = np.array([c[0] for c in cells])
    ei = np.array([c[1] for c in cells])
    se = rng.uniform(0.4, 1.0, gi.size)
    y = (10 + np.array([0.0, 2.0, -1.0])[ei] + rng.normal(0, 1.5, ng)[gi]
         + rng.normal(0, 0.7, gi.size) + rng.normal(0, se))  # fmt: skip
    fit = stage_two_varcomp(y, se, gi, ei, ng)
    s2g, tau, h2 = _dense_stage_two(y, se, gi, ei, ng)
    print(f"s2G {fit.s2g:.7f} / {s2g:.7f}, s2GE {fit.s2ge:.7f} / {tau:.7f}, "
          f"H2 {fit.h2_cullis:.7f} / {h2:.7f}")  # fmt: skip
    assert tau > 0.1  # an interior GxE variance
    np.testing.assert_allclose([fit.s2g, fit.s2ge, fit.h2_cullis], [s2g, tau, h2], atol=1e-4)
    assert np.isfinite(fit.se_s2g) and np.isfinite(fit.se_s2ge)


# ------------------------------------------------------------------ lab exports
LAB = {"plot": "PlotID", "genotype": "Entry", "environment": "Trial", "block": "Rep",
       "row": "Range", "col": "Pass", "stand": "Stand count", "y": "Yield (t/ha)"}  # fmt: skip


def _lab_file(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    a, _ = _field_with_outliers(21, "E1", n_out=1)
    b, _ = _field_with_outliers(22, "E2", n_out=1)
    rec = pd.concat([a, b], ignore_index=True).drop(columns="trend")
    rec["stand"] = np.random.default_rng(3).integers(18, 23, len(rec))
    path = tmp_path / "lab.csv"
    rec.rename(columns=LAB).to_csv(path, index=False)
    return path, rec


def _spatial_cli(path: Path, out: Path, *extra: str) -> int:
    return cli(["phenome", "spatial", "--records", str(path), "--out-dir", str(out),
                "--segments-row", "5", "--segments-col", "5", "--no-plot", *extra])  # fmt: skip


def test_lab_export_column_names_are_mapped(tmp_path):
    """A CSV with the column names of a phenotyping program: mapping every column (plot,
    genotype, trial, replicate, coordinates, covariate, trait) gives the results of the
    default names; ``outliers.tsv`` has exactly the columns of ``gs blue``'s."""
    path, rec = _lab_file(tmp_path)
    plain = tmp_path / "plain.tsv"
    rec.to_csv(plain, sep="\t", index=False)
    names = {"--traits": "y", "--genotype-col": "genotype", "--env-col": "environment",
             "--rep-col": "block", "--id-col": "plot", "--row-col": "row", "--col-col": "col",
             "--covariates": "stand"}  # fmt: skip
    flags = [x for flag, key in names.items() for x in (flag, LAB[key])]
    assert _spatial_cli(path, tmp_path / "lab", *flags) == 0
    assert _spatial_cli(plain, tmp_path / "plain", "--traits", "y", "--rep-col", "block",
                        "--id-col", "plot", "--covariates", "stand") == 0  # fmt: skip
    lab = pd.read_csv(tmp_path / "lab/blues_long.tsv", sep="\t")
    ref = pd.read_csv(tmp_path / "plain/blues_long.tsv", sep="\t")
    np.testing.assert_allclose(lab["blue"], ref["blue"], rtol=1e-9)
    out_lab = pd.read_csv(tmp_path / "lab/outliers.tsv", sep="\t")
    assert len(out_lab) >= 1 and out_lab[LAB["plot"]].str.startswith("E").all()
    assert cli(["gs", "blue", "--records", str(plain), "--traits", "y", "--rep-col", "block",
                "--id-col", "plot", "--out-dir", str(tmp_path / "blue")]) == 0  # fmt: skip
    blue_cols = (tmp_path / "blue/outliers.tsv").read_text().splitlines()[0]
    assert (tmp_path / "plain/outliers.tsv").read_text().splitlines()[0] == blue_cols
    met = pd.read_csv(tmp_path / "plain/varcomp_met.tsv", sep="\t")
    assert list(met.columns) == ["trait", "component", "estimate", "se"]
    assert {"s2G", "s2GE", "s2e", "H2_cullis"} <= set(met["component"])


def test_plots_missing_coordinates_name_file_lines_and_fix(tmp_path):
    path, rec = _lab_file(tmp_path)
    text = path.read_text().splitlines()
    cols = text[0].split(",")
    r = cols.index(LAB["row"])
    for k in (3, 9):  # file lines 4 and 10 (trial E1) lose their row
        parts = text[k].split(",")
        parts[r] = ""
        text[k] = ",".join(parts)
    path.write_text("\n".join(text) + "\n")
    raw = tables.read_table(path, "trial records")
    recs = tables.infer_types(raw, [LAB["y"]], "trait")
    with pytest.raises(UserError) as exc:
        analyse_trials(recs, [LAB["y"]], LAB["genotype"], LAB["environment"], LAB["row"],
                       LAB["col"])  # fmt: skip
    msg = str(exc.value)
    assert str(path) in msg and "lines 4, 10:" in msg and "2 of its 240 plots" in msg
    assert "give every plot of the trial its row and column" in msg


def test_covariates_are_not_traits_and_must_exist(tmp_path):
    """``check-inputs`` (:func:`sheets.trial_traits`): the spatial covariates
    (``gs.spatial.covariates``) are left out of the traits; a missing one is named."""
    _path, rec = _lab_file(tmp_path)
    plain = tmp_path / "plain.tsv"
    rec.rename(columns={"y": "grain"}).to_csv(plain, sep="\t", index=False)
    design = {"genotype": "genotype", "environment": "environment", "replicate": "block",
              "plot": "plot", "row": "row", "col": "col"}  # fmt: skip
    assert sheets.trial_traits(plain, design) == ["grain", "stand"]
    assert sheets.trial_traits(plain, design, covariates=["stand"]) == ["grain"]
    with pytest.raises(UserError, match=r"line 1: no column 'Stand' \(gs.spatial.covariates\)"):
        sheets.trial_traits(plain, design, covariates=["Stand"])
