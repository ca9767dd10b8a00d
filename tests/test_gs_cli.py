"""`breedomics gs blue | cv | predict | select` end to end, selection rules, input errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from breedomics.cli import main
from breedomics.core.genotypes import write_bed
from breedomics.gs.data import Genotypes
from breedomics.gs.select import select_top, selection_index
from breedomics.testing.simulate_gs import simulate_met, simulate_population, simulate_trait
from breedomics.testing.spec import GenomeSpec


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small dense algebra in one BLAS thread: on a shared, loaded machine extra
    threads spin and slow these tests down by an order of magnitude."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A genotyped panel (PLINK), MET records for 240 of its 300 lines, two traits."""
    root = tmp_path_factory.mktemp("gs")
    pop = simulate_population(GenomeSpec(n_samples=300, n_snps=1500, seed=41))
    m = pop.markers
    variants = pd.DataFrame(
        {
            "chrom": m["chrom"].astype(str),
            "pos": np.arange(len(m)) + 1,
            "id": m["id"],
            "ref": "A",
            "alt": "C",
        }
    )
    write_bed(root / "panel", variants, [pop.dosage.astype(np.float32)], pop.samples)
    t1 = simulate_trait(pop.dosage, 0.6, n_qtl=200, seed=1)
    t2 = simulate_trait(pop.dosage, 0.4, n_qtl=200, seed=2)
    rec1, _ = simulate_met(n_geno=300, n_env=4, n_rep=2, seed=5)
    rec2, _ = simulate_met(n_geno=300, n_env=4, n_rep=2, seed=6)
    # genotype effects of the MET = simulated genetic values of the panel
    gi = rec1["genotype"].str[1:].astype(int).to_numpy()
    rec = rec1[["plot", "genotype", "environment", "rep"]].copy()
    rec["genotype"] = np.array(pop.samples)[gi]
    rec["yield"] = rec1["yield"] + 3.0 * t1["g"][gi]
    rec["height"] = rec2["yield"] + 3.0 * t2["g"][gi]
    rec = rec[gi < 240]  # lines 240..299 genotyped only: selection candidates
    rec.to_csv(root / "plots.tsv", sep="\t", index=False)
    return root, pop


def _run(argv):
    return main(["gs", *argv])


def test_pipeline_blue_cv_predict_select(project, capsys):
    root, pop = project
    out = root / "blue"
    assert (
        _run(
            [
                "blue",
                "--records",
                str(root / "plots.tsv"),
                "--traits",
                "yield,height",
                "--rep-col",
                "rep",
                "--id-col",
                "plot",
                "--out-dir",
                str(out),
            ]
        )
        == 0
    )
    for f in (
        "blues.tsv",
        "blups.tsv",
        "blues_long.tsv",
        "varcomp.tsv",
        "residuals.tsv",
        "outliers.tsv",
        "settings.json",
    ):
        assert (out / f).exists(), f
    blues = pd.read_csv(out / "blues.tsv", sep="\t")
    assert list(blues.columns) == ["sample_id", "yield", "height"] and len(blues) == 240
    vc = pd.read_csv(out / "varcomp.tsv", sep="\t")
    assert set(vc["component"]) >= {"s2G", "s2GE", "s2e", "H2_cullis"}

    cvdir = root / "cv"
    assert (
        _run(
            [
                "cv",
                "--genotypes",
                str(root / "panel"),
                "--phenotypes",
                str(out / "blues.tsv"),
                "--models",
                "gblup,bayesc,mtgblup",
                "--folds",
                "3",
                "--repeats",
                "2",
                "--iterations",
                "200",
                "--burn-in",
                "50",
                "--out-dir",
                str(cvdir),
            ]
        )
        == 0
    )
    folds = pd.read_csv(cvdir / "folds.tsv", sep="\t", dtype={"sample_id": str})
    assert len(folds) == 480 and set(folds["repeat"]) == {1, 2}
    summ = pd.read_csv(cvdir / "cv_summary.tsv", sep="\t")
    assert set(summ["model"]) == {"GBLUP", "BayesC", "MT-GBLUP"}
    rep = summ[summ["level"] == "repeat"].set_index(["model", "trait"])
    assert rep.loc[("GBLUP", "yield"), "pearson_mean"] > 0.3
    assert np.isfinite(rep["pearson_sd"]).all()  # spread across the 2 repeats
    assert (cvdir / "cv_accuracy.png").stat().st_size > 1000
    settings = json.loads((cvdir / "settings.json").read_text())
    assert settings["models_resolved"] == ["gblup", "bayesc", "mtgblup"]
    # the written folds reproduce the run
    cv2 = root / "cv2"
    assert (
        _run(
            [
                "cv",
                "--genotypes",
                str(root / "panel"),
                "--phenotypes",
                str(out / "blues.tsv"),
                "--traits",
                "yield",
                "--fold-file",
                str(cvdir / "folds.tsv"),
                "--no-plot",
                "--out-dir",
                str(cv2),
            ]
        )
        == 0
    )
    a = pd.read_csv(cvdir / "cv_metrics.tsv", sep="\t")
    b = pd.read_csv(cv2 / "cv_metrics.tsv", sep="\t")
    key = (a["model"] == "GBLUP") & (a["trait"] == "yield")
    np.testing.assert_allclose(a.loc[key, "pearson"].to_numpy(), b["pearson"].to_numpy())

    pdir = root / "pred"
    assert (
        _run(
            [
                "predict",
                "--genotypes",
                str(root / "panel"),
                "--phenotypes",
                str(out / "blues.tsv"),
                "--model",
                "gblup",
                "--out-dir",
                str(pdir),
            ]
        )
        == 0
    )
    gebv = pd.read_csv(pdir / "gebv.tsv", sep="\t", dtype={"sample_id": str})
    assert len(gebv) == 300  # every genotyped line, phenotyped or not
    assert gebv[["yield", "height", "yield.reliability"]].notna().all().all()
    assert gebv["yield.reliability"].iloc[240:].mean() < gebv["yield.reliability"].iloc[:240].mean()
    eff = pd.read_csv(pdir / "marker_effects.tsv", sep="\t")
    assert len(eff) == 2 * len(pop.markers)
    vcp = pd.read_csv(pdir / "varcomp.tsv", sep="\t")
    assert {"sigma2_g", "sigma2_e", "h2"} <= set(vcp["component"]) and vcp["se"].notna().any()

    sel = root / "selected.tsv"
    assert (
        _run(
            [
                "select",
                "--gebv",
                str(pdir / "gebv.tsv"),
                "--weights",
                "yield=1,height=0.5",
                "--standardize",
                "--top",
                "15",
                "--max-kinship",
                "0.0",
                "--genotypes",
                str(root / "panel"),
                "--out",
                str(sel),
            ]
        )
        == 0
    )
    s = pd.read_csv(sel, sep="\t", dtype={"sample_id": str})
    chosen = s[s["selected"]]
    assert len(chosen) == 15
    G = Genotypes.from_dosage(pop.dosage, pop.samples).grm()
    pos = [pop.samples.index(x) for x in chosen["sample_id"]]
    sub = G[np.ix_(pos, pos)]
    assert (sub.sum() - np.trace(sub)) / (15 * 14) <= 1e-9
    naive = [pop.samples.index(x) for x in s["sample_id"][:15]]
    subn = G[np.ix_(naive, naive)]
    assert (subn.sum() - np.trace(subn)) / (15 * 14) > 0.0


def test_greedy_kinship_cap_properties():
    rng = np.random.default_rng(3)
    n = 60
    A = rng.normal(size=(n, 200))
    G = A @ A.T / 200
    ids = [f"c{i}" for i in range(n)]
    idx = pd.Series(rng.normal(size=n), index=ids)
    cap = 0.02
    res = select_top(idx, 10, G, ids, max_kinship=cap)
    assert list(res["index"]) == sorted(idx, reverse=True)
    chosen = [ids.index(s) for s in res.loc[res["selected"], "sample_id"]]
    sub = G[np.ix_(chosen, chosen)]
    k = len(chosen)
    assert (sub.sum() - np.trace(sub)) / (k * (k - 1)) <= cap + 1e-12
    # every skipped candidate ranked before the last selected one would have broken the cap
    last = res.index[res["selected"]].max()
    sel_so_far: list[int] = []
    for r in range(last + 1):
        p = ids.index(res.loc[r, "sample_id"])
        trial = sel_so_far + [p]
        sub = G[np.ix_(trial, trial)]
        m = (sub.sum() - np.trace(sub)) / (len(trial) * (len(trial) - 1)) if len(trial) > 1 else 0
        if res.loc[r, "selected"]:
            sel_so_far = trial
        else:
            assert m > cap
    # index: weights on raw and standardised GEBVs
    gebv = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [10.0, 0.0, 5.0]}, index=["x", "y", "z"])
    np.testing.assert_allclose(selection_index(gebv, {"a": 1, "b": 0.1}), [2.0, 2.0, 3.5])
    z = selection_index(gebv, {"a": 1}, standardize=True)
    np.testing.assert_allclose(z, [-1, 0, 1])


def test_cli_input_errors(project, tmp_path, capsys):
    root, pop = project
    ph = pd.DataFrame({"sample_id": pop.samples[:6], "y": np.arange(6.0)})
    ph.to_csv(tmp_path / "few.tsv", sep="\t", index=False)
    assert (
        _run(
            [
                "cv",
                "--genotypes",
                str(root / "panel"),
                "--phenotypes",
                str(tmp_path / "few.tsv"),
                "--folds",
                "5",
                "--out-dir",
                str(tmp_path / "o1"),
            ]
        )
        == 1
    )
    assert "too few samples for 5-fold" in capsys.readouterr().err

    ph = pd.DataFrame({"sample_id": pop.samples[:50], "y": 2.5})
    ph.to_csv(tmp_path / "flat.tsv", sep="\t", index=False)
    assert (
        _run(
            [
                "cv",
                "--genotypes",
                str(root / "panel"),
                "--phenotypes",
                str(tmp_path / "flat.tsv"),
                "--out-dir",
                str(tmp_path / "o2"),
            ]
        )
        == 1
    )
    assert "trait 'y'" in capsys.readouterr().err

    assert (
        _run(
            [
                "blue",
                "--records",
                str(root / "plots.tsv"),
                "--traits",
                "yield",
                "--environments",
                "E00,Mars",
                "--out-dir",
                str(tmp_path / "o3"),
            ]
        )
        == 1
    )
    assert "unknown environment level(s) Mars" in capsys.readouterr().err

    # fold whose validation samples have no phenotype
    rng = np.random.default_rng(0)
    ph = pd.DataFrame({"sample_id": pop.samples[:40], "y": rng.normal(size=40)})
    ph.loc[30:, "y"] = np.nan
    ph.to_csv(tmp_path / "holes.tsv", sep="\t", index=False)
    folds = pd.DataFrame({"sample_id": pop.samples[:40], "fold": [1] * 10 + [2] * 20 + [3] * 10})
    folds.to_csv(tmp_path / "folds.tsv", sep="\t", index=False)
    assert (
        _run(
            [
                "cv",
                "--genotypes",
                str(root / "panel"),
                "--phenotypes",
                str(tmp_path / "holes.tsv"),
                "--fold-file",
                str(tmp_path / "folds.tsv"),
                "--out-dir",
                str(tmp_path / "o4"),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "no phenotyped sample for trait 'y' in repeat 1, fold 3" in err

    assert (
        _run(
            [
                "cv",
                "--genotypes",
                str(root / "panel"),
                "--phenotypes",
                str(tmp_path / "few.tsv"),
                "--models",
                "gblup,deepnet",
                "--out-dir",
                str(tmp_path / "o5"),
            ]
        )
        == 1
    )
    assert "unknown model 'deepnet'" in capsys.readouterr().err
