"""Growth curves (``phenome curves``) on simulated series with known parameters: recovery of
the growth rate and the inflection time, AICc model choice, outlier flights, a QTL on the
growth rate found by GWAS on the derived trait and missed on a late single date, bad
input, and the workflow wiring (dry run).
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from breedomics.errors import UserError
from breedomics.phenome.curves import CurveSettings, fit_curves
from breedomics.phenome.monotone import fit_monotone
from breedomics.phenome.series import SeriesColumns, read_series, series_from_frame
from breedomics.testing.growth import growth_value, simulate_series, true_max_rate

TIMES = np.linspace(10, 100, 15)


def _truth(n: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unit": [f"u{i:04d}" for i in range(n)],
            "model": rng.choice(["logistic", "gompertz"], n),
            "A": rng.normal(100, 10, n),
            "r": np.exp(rng.normal(np.log(0.08), 0.2, n)),
            "ti": rng.normal(50, 8, n),
        }
    )


def _fit(obs: pd.DataFrame, **kw):
    df = obs.assign(genotype=obs["unit"], line=np.arange(len(obs)) + 2)
    s = series_from_frame(df, 6)
    return s, fit_curves(s.t, s.y, s.obs, CurveSettings(**kw))


@pytest.fixture(scope="module")
def simulated():
    rng = np.random.default_rng(20)
    truth = _truth(400, rng)
    obs = simulate_series(truth, TIMES, rng, noise_sd=2.0, missing=0.1, outlier_flights=1)
    s, fits = _fit(obs)
    return truth.set_index("unit").loc[s.units], obs, s, fits


def test_rate_and_inflection_recovered(simulated):
    """15 dates, 10% missing, noise SD 2 (2% of the asymptote), one outlier flight hitting
    30% of the units by 8 SDs: max growth rate and inflection time correlate >= 0.95 with
    the truth (measured: printed)."""
    truth, _obs, _s, fits = simulated
    res = fits.traits
    rate = true_max_rate(truth["model"].to_numpy(), truth["A"].to_numpy(), truth["r"].to_numpy())
    ok = res["max_rate"].notna().to_numpy()
    r_rate = np.corrcoef(res["max_rate"][ok], rate[ok])[0, 1]
    r_ti = np.corrcoef(res["t_inflection"], truth["ti"])[0, 1]
    print(f"r(max rate) {r_rate:.4f}, r(inflection) {r_ti:.4f}, {int((~ok).sum())} NA")
    assert ok.mean() > 0.95
    assert r_rate >= 0.95 and r_ti >= 0.95


def test_aicc_picks_the_generating_model(simulated):
    truth, _obs, _s, fits = simulated
    agree = np.mean(fits.traits["model"].to_numpy() == truth["model"].to_numpy())
    print(f"AICc picks the generating model in {agree:.3f} of the units")
    assert agree >= 0.8


def test_outlier_flight_set_aside(simulated):
    """The shifted observations of the outlier flight are found, and few others."""
    _truth_, obs, s, fits = simulated
    planted = set(obs.attrs["outliers"])
    i, j = np.nonzero(fits.outlier & s.obs)
    flagged = set(zip(s.units[i], s.t[i, j], strict=True))
    recall = len(flagged & planted) / len(planted)
    precision = len(flagged & planted) / max(len(flagged), 1)
    print(f"outliers: recall {recall:.3f}, precision {precision:.3f}")
    assert recall >= 0.6 and precision >= 0.9


def test_no_outliers_without_them():
    rng = np.random.default_rng(3)
    truth = _truth(200, rng)
    obs = simulate_series(truth, TIMES, rng, noise_sd=2.0, missing=0.0, outlier_flights=0)
    _s, fits = _fit(obs)
    assert fits.outlier.sum() <= 0.005 * len(obs)


def test_monotone_spline_is_monotone_and_close():
    """Noisy logistic curves: the P-spline is non-decreasing and within the noise."""
    rng = np.random.default_rng(5)
    t = np.tile(np.linspace(0, 100, 20), (50, 1))
    true = growth_value("logistic", np.full(50, 100.0), np.full(50, 0.1), rng.normal(50, 5, 50),
                        t[0])  # fmt: skip
    y = true + rng.normal(0, 3, t.shape)
    fit = fit_monotone(t, y, np.ones_like(t), 0.0, 100.0, 10)
    grid = fit.value(np.linspace(0, 100, 300))
    assert np.all(np.diff(grid, axis=1) > -1e-6)
    rmse = np.sqrt(np.mean((fit.value_at(t) - true) ** 2))
    assert rmse < 2.0  # error of the fit below the noise SD of 3 (edf ~7 of 20 points: ~1.8)
    assert np.all((fit.edf > 3) & (fit.edf < 13))


def _pcs(dos: np.ndarray, k: int) -> np.ndarray:
    z = dos - dos.mean(axis=0)
    u, _s, _vt = np.linalg.svd(z, full_matrices=False)
    return u[:, :k]


def test_gwas_finds_rate_qtl_that_a_late_date_misses():
    """A QTL on the growth rate only (not the asymptote): GWAS (the GWAS engine's least
    squares with 3 genotype PCs) on the derived maximum growth rate passes Bonferroni at
    the QTL; on the value at the last flight, when the plots are near their asymptote,
    it does not."""
    from breedomics.core.standardise import impute_center
    from breedomics.gwas.lmm import AssocSet
    from breedomics.testing.simulate_gwas import simulate_structured
    from breedomics.testing.spec import GenomeSpec

    rng = np.random.default_rng(11)
    genome = GenomeSpec(n_samples=300, n_groups=3, n_snps=1000, n_chrom=5, seed=3)
    panel = simulate_structured(genome)
    dos = panel.dosage.astype(float)
    z, mean, _n = impute_center(dos)
    maf = np.minimum(mean / 2, 1 - mean / 2)
    cand = np.flatnonzero(maf > 0.3)
    qtl = int(rng.choice(cand))
    n = dos.shape[0]
    log_r = np.log(0.1) + 0.15 * (dos[:, qtl] - 1) + rng.normal(0, 0.06, n)
    g = np.repeat(np.arange(n), 2)  # two plots per line
    truth = pd.DataFrame(
        {
            "unit": [f"p{k:04d}" for k in range(2 * n)],
            "model": "logistic",
            "A": 100 + rng.normal(0, 3, n)[g] + rng.normal(0, 3, 2 * n),
            "r": np.exp(log_r[g] + rng.normal(0, 0.04, 2 * n)),
            "ti": 40 + rng.normal(0, 2, n)[g] + rng.normal(0, 1.5, 2 * n),
        }
    )
    days = np.arange(14, 92, 7)
    obs = simulate_series(truth, days, rng, noise_sd=1.5, missing=0.05, outlier_flights=1)
    _s, fits = _fit(obs, reference_time=91.0)
    unit_line = dict(zip(truth["unit"], g, strict=True))
    per_unit = fits.traits.assign(line=[unit_line[u] for u in _s.units])
    by_line = per_unit.groupby("line")[["max_rate", "at_reference"]].mean().to_numpy()
    w = np.c_[np.ones(n), _pcs(np.where(np.isnan(dos), np.nanmean(dos, 0), dos), 3)]
    res = AssocSet.build(["rate", "late"], np.arange(n), w, by_line, "glm").test(z)
    rate_p, late_p = res[0].nlog10p[qtl], res[1].nlog10p[qtl]
    bonf = -np.log10(0.05 / dos.shape[1])
    print(
        f"-log10 p at the QTL: max rate {rate_p:.2f}, day 91 {late_p:.2f} (Bonferroni {bonf:.2f})"
    )
    assert rate_p > bonf + 2
    assert late_p < bonf
    assert int(np.nanargmax(res[0].nlog10p)) == qtl


def _write(tmp_path, rows, header="plot\tgenotype\tday\theight"):
    path = tmp_path / "series.tsv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


COLS = SeriesColumns(unit="plot", time="day", value="height", genotype="genotype")


def _rows(unit="P1", geno="G1", days=range(10, 80, 10)):
    return [f"{unit}\t{geno}\t{d}\t{d * 1.5:.1f}" for d in days]


def test_bad_input_is_named(tmp_path):
    with pytest.raises(UserError, match=r"line 4, column 'day'.*non-numeric value 'x'"):
        read_series(_write(tmp_path, _rows()[:2] + ["P1\tG1\tx\t3"] + _rows()[3:]), COLS)
    with pytest.raises(UserError, match=r"line 3, column 'height'.*non-numeric"):
        read_series(_write(tmp_path, _rows()[:1] + ["P1\tG1\t20\ttall"]), COLS)
    with pytest.raises(UserError, match=r"lines 2, 9: unit 'P1' has 2 rows at time 10"):
        read_series(_write(tmp_path, _rows() + ["P1\tG1\t10\t5"]), COLS)
    with pytest.raises(UserError, match=r"lines 2, 9: unit 'P1' has more than one genotype"):
        read_series(_write(tmp_path, _rows() + ["P1\tG2\t99\t5"]), COLS)
    with pytest.raises(UserError, match=r"lines 3.*no time"):
        read_series(_write(tmp_path, _rows()[:1] + ["P1\tG1\tNA\t5"]), COLS)
    with pytest.raises(UserError, match=r"'days' is not a column"):
        read_series(_write(tmp_path, _rows()), SeriesColumns("plot", "days", "height"))
    with pytest.raises(UserError, match=r"no unit has 6 or more values"):
        read_series(_write(tmp_path, _rows(days=range(10, 50, 10))), COLS)


def test_short_units_skipped_and_listed(tmp_path):
    rows = (
        _rows()
        + _rows("P2", "G1", range(10, 40, 10))
        + ["P3\tG2\t10\tNA"]
        + _rows("P3", "G2", range(20, 90, 10))
    )
    s = read_series(_write(tmp_path, rows), COLS)
    assert list(s.units) == ["P1", "P3"] and s.n_missing == 1
    assert s.skipped.to_dict("records") == [
        {
            "unit": "P2",
            "n_points": 3,
            "lines": "9, 10, 11",
            "reason": "fewer than 6 values (min_points)",
        }
    ]


def test_cli_writes_traits_and_joins(tmp_path):
    rng = np.random.default_rng(2)
    truth = _truth(40, rng)
    obs = simulate_series(truth, TIMES, rng, noise_sd=1.0, missing=0.05, outlier_flights=1)
    obs["genotype"] = "G" + (obs["unit"].str[1:].astype(int) // 2).astype(str)
    series = tmp_path / "series.csv"
    obs.to_csv(series, index=False)
    base = tmp_path / "pheno.tsv"
    base.write_text("sample\tyield\nG0\t1.5\nGX\tNA\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "breedomics", "phenome", "curves", "--series", str(series),
           "--unit-col", "unit", "--genotype-col", "genotype", "--flight-col", "flight",
           "--name", "h", "--join-traits", "max_rate", "--join", f"{base}={out / 'j.tsv'}",
           "--out-dir", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    traits = pd.read_csv(out / "traits.tsv", sep="\t")
    assert list(traits.columns) == ["sample", "h_asymptote", "h_max_rate", "h_t_inflection",
                                    "h_auc", "h_at_reference"]  # fmt: skip
    assert len(traits) == 20 and traits["h_max_rate"].notna().all()
    joined = pd.read_csv(out / "j.tsv", sep="\t", index_col=0)
    assert list(joined.columns) == ["yield", "h_max_rate"] and len(joined) == 21
    assert np.isnan(joined.loc["GX", "h_max_rate"]) and joined.loc["G0", "yield"] == 1.5
    flights = pd.read_csv(out / "flights.tsv", sep="\t")
    assert flights["n_outliers"].max() >= 5 and "check its calibration" in proc.stderr
    units = pd.read_csv(out / "units.tsv", sep="\t")
    assert set(units["model"]) <= {"logistic", "gompertz", "pspline"}
    # a derived column that is already a trait is refused
    base.write_text("sample\th_max_rate\nG0\t1\n")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode != 0 and "already a trait" in proc.stderr


def test_workflow_plans_curves_and_feeds_gwas_and_gs(tmp_path):
    """Dry run with phenome.curves joined to GWAS and GS: the curves job is planned, the
    GWAS and GS jobs read the joined tables and scan/predict the derived traits, while
    the trial analysis keeps the trial traits only."""
    from conftest import PANEL, need_panel, panel_config, run_workflow

    need_panel("drone_height.tsv", "trials.tsv")
    curves = {
        "path": str(PANEL / "drone_height.tsv"),
        "name": "dh",
        "columns": {"unit": "plot", "time": "day", "value": "height_cm",
                    "genotype": "genotype", "flight": "flight"},
        "traits": ["max_rate", "t_inflection"],
        "reference_time": 91,
    }  # fmt: skip
    cfg = panel_config(
        PANEL,
        genotypes={"impute": "mean"},
        census={"enabled": False},
        gwas={"enabled": True, "phenotypes": str(PANEL / "phenotypes.tsv"), "models": ["mlm"]},
        gs={"enabled": True, "trials": str(PANEL / "trials.tsv"), "models": ["gblup"],
            "predict_models": ["gblup"], "repeats": 1,
            "trial_columns": {"replicate": "block", "plot": "plot", "row": "row", "col": "col"}},
        phenome={"curves": curves},
        report={"enabled": False},
    )  # fmt: skip
    text = run_workflow(tmp_path / "run", cfg, extra=["-n", "-p"], check=True).stdout
    assert "rule growth_curves:" in text
    job = text[text.index("rule growth_curves:") :].split("\nrule ")[0]
    assert "--join-traits max_rate,t_inflection" in job and "--reference-time 91" in job
    assert "results/phenome/curves/gwas_phenotypes.tsv" in job
    assert "results/phenome/spatial/blues.tsv=results/phenome/curves/gs_phenotypes.tsv" in job
    gwas = text[text.index("rule run_gwas:") :].split("\nrule ")[0]
    assert "--pheno results/phenome/curves/gwas_phenotypes.tsv" in gwas
    assert "dh_max_rate.mlm.tsv.gz" in gwas and "dh_t_inflection.mlm.tsv.gz" in gwas
    assert "results/gs/cv/dh_max_rate/gblup/rep1/cv_metrics.tsv" in text
    predict = text[text.index("rule predict_gs:") :].split("\nrule ")[0]
    assert "--phenotypes results/phenome/curves/gs_phenotypes.tsv" in predict
    assert "--traits yield,height,dh_max_rate,dh_t_inflection" in predict
    for rule in ("estimate_blues", "spatial_trials"):
        trial = text[text.index(f"rule {rule}:") :].split("\nrule ")[0]
        assert "--traits yield,height " in trial


def test_bad_curve_columns_stop_the_run(tmp_path):
    from conftest import PANEL, need_panel, panel_config

    from breedomics.validate import validate_run

    need_panel("drone_height.tsv")
    cfg = panel_config(
        PANEL,
        census={"enabled": False},
        gwas={"enabled": True, "phenotypes": str(PANEL / "phenotypes.tsv")},
        gs={"enabled": False},
        phenome={"curves": {"path": str(PANEL / "drone_height.tsv"), "columns": {"time": "days"}}},
    )
    with pytest.raises(UserError, match=r"phenome.curves.columns.time names 'days'"):
        validate_run(cfg, check_files=False)
    cfg["phenome"]["curves"]["columns"] = {"time": "day", "value": "height_cm"}
    cfg["phenome"]["curves"]["name"] = "yield"
    cfg["phenome"]["curves"]["traits"] = ["max_rate"]
    run = validate_run(cfg, check_files=False)
    assert run.curve_traits == ["yield_max_rate"]


def test_growth_traits_alone_can_be_the_gwas_traits():
    """gwas.phenotypes may be empty when phenome.curves joins gwas (a farm with weighings
    only): the derived traits are then the GWAS traits; not joined, it is still refused."""
    from conftest import PANEL, need_panel, panel_config

    from breedomics.validate import validate_run

    need_panel("drone_height.tsv")
    curves = {"path": str(PANEL / "drone_height.tsv"), "name": "dh", "traits": ["max_rate"],
              "columns": {"time": "day", "value": "height_cm", "genotype": "genotype"},
              "join": ["gwas"]}  # fmt: skip
    gwas = {"enabled": True, "phenotypes": ""}
    cfg = panel_config(PANEL, census={"enabled": False}, gs={"enabled": False}, gwas=gwas,
                       phenome={"curves": curves})  # fmt: skip
    run = validate_run(cfg, check_files=False)
    assert run.traits == [] and run.curve_traits == ["dh_max_rate"]
    curves["join"] = ["gs"]
    with pytest.raises(UserError, match=r"gwas.phenotypes is empty.*phenome.curves with join"):
        validate_run(cfg, check_files=False)


def test_selection_weights_and_directions_accept_derived_traits():
    """Curve-derived traits joined to GS are GS traits: gs.selection.weights and
    ``directions`` may name them; not joined to GS, the weights may not."""
    from conftest import PANEL, need_panel, panel_config

    from breedomics.validate import validate_run

    need_panel("drone_height.tsv")
    curves = {"path": str(PANEL / "drone_height.tsv"), "name": "dh", "traits": ["max_rate"],
              "columns": {"unit": "plot", "time": "day", "value": "height_cm",
                          "genotype": "genotype"}, "join": ["gs"]}  # fmt: skip
    cfg = panel_config(
        PANEL,
        census={"enabled": False},
        gwas={"enabled": False},
        gs={"enabled": True, "phenotypes": str(PANEL / "phenotypes.tsv"),
            "selection": {"weights": {"yield": 1.0, "dh_max_rate": 0.5}}},
        phenome={"curves": curves},
        directions={"dh_max_rate": "decrease"},
    )  # fmt: skip
    run = validate_run(cfg, check_files=False)
    assert run.curve_traits == ["dh_max_rate"] and "yield" in run.gs_traits
    cfg["phenome"]["curves"]["join"] = ["gwas"]
    with pytest.raises(UserError, match=r"gs.selection.weights names 'dh_max_rate'"):
        validate_run(cfg, check_files=False)
    cfg["gs"]["selection"]["weights"] = {"dh_asymptote": 1.0}
    cfg["phenome"]["curves"]["join"] = ["gs"]
    with pytest.raises(UserError, match=r"names 'dh_asymptote', which is not a GS trait"):
        validate_run(cfg, check_files=False)


def test_report_shows_the_growth_curves(tmp_path):
    """The breeding section's growth-curve block: units, models chosen and outliers
    counted from units.tsv, the derived traits summarised from traits.tsv (numbers
    recomputed here) and a warning naming the outlier flight."""
    from test_report_builder import _config, _genotypes_and_census, _page, _text, _tsv

    results = tmp_path / "results"
    _genotypes_and_census(results)
    _tsv(results / "gs/cv/cv_summary.tsv", ["trait", "model", "level", "pearson_mean",
         "pearson_sd"], [["yield", "GBLUP", "fold", 0.41, 0.05]])  # fmt: skip
    cur = results / "phenome/curves"
    _tsv(cur / "units.tsv", ["unit", "genotype", "model", "n_points", "n_outliers"],
         [["P1", "G1", "logistic", 12, 1], ["P2", "G1", "gompertz", 11, 0],
          ["P3", "G2", "logistic", 12, 2]])  # fmt: skip
    rates = [1.5, 2.25, 3.0]
    _tsv(cur / "traits.tsv", ["sample", "dh_max_rate"],
         [["G1", rates[0]], ["G2", rates[1]], ["G3", rates[2]], ["G4", "NA"]])  # fmt: skip
    _tsv(cur / "flights.tsv", ["flight", "time", "n_units", "n_outliers", "outlier_share"],
         [["F01", 14, 3, 0, 0.0], ["F08", 63, 3, 3, 1.0]])  # fmt: skip
    text = _text(_page(tmp_path, _config(tmp_path, gs={"enabled": True})))
    assert "Time-series traits: growth curves" in text
    assert re.search(r"units fitted\s+3\s+model chosen: gompertz\s+1\s+model chosen: "
                     r"logistic\s+2\s+observations set aside \(outliers\)\s+3", text)  # fmt: skip
    sd = np.std(rates, ddof=1)
    assert re.search(rf"dh_max_rate\s+3\s+2\.25\s+{sd:.6g}\s+1\.5\s+3\b", text)
    assert "flight(s) F08 (3 of 3)" in text and "F01 (" not in text


def test_pig_weighings_as_the_lab_has_them(tmp_path):
    """test-data/pig/weights.tsv (weekly weighings, animal = genotype id, lab column names,
    ages differing between animals, missed weighings, one mis-weighed session): the CLI
    picks Gompertz, recovers each animal's true curve (weights.truth.tsv) and sets the
    mis-weighed session's values aside."""
    from conftest import TEST_DATA

    pig = TEST_DATA / "pig"
    if not (pig / "weights.tsv").exists():
        pytest.skip("test-data/pig/weights.tsv missing: run scripts/make_test_data.py")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "breedomics", "phenome", "curves",
           "--series", str(pig / "weights.tsv"), "--unit-col", "animal",
           "--time-col", "age_days", "--value-col", "weight_kg", "--flight-col", "date",
           "--name", "weight", "--join-traits", "max_rate", "--join", f"={out / 'gwas.tsv'}",
           "--out-dir", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    # no phenotype table to join (--join =OUT): the derived traits alone
    alone = pd.read_csv(out / "gwas.tsv", sep="\t")
    assert list(alone.columns) == ["sample", "weight_max_rate"] and len(alone) == 12
    truth = pd.read_csv(pig / "weights.truth.tsv", sep="\t", index_col="animal")
    samples = pd.read_csv(pig / "samples.tsv", sep="\t")
    assert sorted(truth.index) == sorted(samples["sample"])
    traits = pd.read_csv(out / "traits.tsv", sep="\t", index_col="sample").loc[truth.index]
    units = pd.read_csv(out / "units.tsv", sep="\t")
    assert (units["model"] == "gompertz").mean() >= 0.9
    for name, corr, rel in (("asymptote", 0.95, 0.06), ("max_rate", 0.98, 0.03),
                            ("t_inflection", 0.95, 0.06)):  # fmt: skip
        est, true = traits[f"weight_{name}"], truth[name]
        assert np.corrcoef(est, true)[0, 1] >= corr, name
        assert (np.abs(est - true) / true).max() <= rel, name
    hit = {(a, d) for a, d in truth["misweighed"].dropna().items()}
    flagged = set(pd.read_csv(out / "outliers.tsv", sep="\t")[["unit", "flight"]].itertuples(
        index=False, name=None))  # fmt: skip
    assert len(hit) >= 3 and len(flagged & hit) >= 0.8 * len(hit) and len(flagged - hit) <= 1
    assert "check its calibration" in proc.stderr
