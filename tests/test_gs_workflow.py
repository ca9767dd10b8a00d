"""Genomic selection through the workflow: trial records -> BLUEs -> scattered CV ->
GEBVs -> a ranked selection with a kinship cap.

Runs on the simulated soybean panel (272 accessions, 12,000 SNPs) and its simulated
multi-environment trial (test-data/soybean/panel/trials.tsv: 4 environments x 2
blocks, known genetic values, variance components and planted outlier plots), with mean
imputation: GBLUP and BayesB, 3 folds x 2 repeats, GEBVs of GBLUP, the top 15 under a
kinship cap of 0.2. The run is the session's mean-imputed panel run (``mean_panel_run``
in conftest.py), which also holds the GWAS that test_gwas_annotate_workflow.py checks.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import GS_CAP as CAP
from conftest import GS_TOP as TOP
from conftest import REPO, run_workflow

from breedomics.core.genotypes import read_dosage

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def gs_run(mean_panel_run):
    root, cfg = mean_panel_run
    return root / "run", root / "panel", cfg


def _tsv(path, **kw):
    return pd.read_csv(path, sep="\t", **kw)


def test_blues_recover_genetic_values_and_heritability(gs_run):
    run, panel, _ = gs_run
    truth = _tsv(panel / "trials.truth.tsv", index_col=0)
    gv = _tsv(panel / "genetic_values.tsv", index_col=0)
    blues = _tsv(run / "results/gs/blue/blues.tsv", index_col=0)
    vc = _tsv(run / "results/gs/blue/varcomp.tsv")
    for trait in ("yield", "height"):
        g = gv.loc[blues.index, trait]
        # BLUE accuracy is bounded by sqrt(H2 entry mean); it must come close to it
        r = np.corrcoef(blues[trait], g)[0, 1]
        assert r >= 0.95 * np.sqrt(truth.loc[trait, "H2_entry"]), (trait, r)
        h2 = vc[(vc.trait == trait) & (vc.component == "H2_cullis")]["estimate"].iloc[0]
        assert abs(h2 - truth.loc[trait, "H2_entry"]) <= 0.05, (trait, h2)
    planted = set(truth.loc["yield", "outlier_plots"].split(","))
    flagged = _tsv(run / "results/gs/blue/outliers.tsv")
    assert set(flagged.loc[flagged.trait == "yield", "plot"]) == planted
    assert flagged[flagged.trait == "height"].empty


def test_cv_uses_one_fold_table(gs_run):
    run, _, _ = gs_run
    folds = _tsv(run / "results/gs/cv/folds.tsv", dtype={"sample_id": str})
    assert set(folds["repeat"]) == {1, 2} and set(folds["fold"]) == {1, 2, 3}
    pred = _tsv(run / "results/gs/cv/cv_predictions.tsv", dtype={"sample_id": str})
    merged = pred.merge(folds, on=["sample_id", "repeat"], suffixes=("", "_table"))
    assert len(merged) == len(pred) > 0
    assert (merged["fold"].astype(str) == merged["fold_table"].astype(str)).all()
    # every model x trait x repeat predicted each phenotyped sample exactly once
    counts = pred.groupby(["model", "trait", "repeat"])["sample_id"].agg(["size", "nunique"])
    assert len(counts) == 2 * 2 * 2
    assert (counts["size"] == counts["nunique"]).all()


def test_scattered_cv_equals_one_unscattered_run(gs_run, tmp_path):
    """Gathered GBLUP metrics equal a single `gs cv` over both repeats with the same folds."""
    run, _, cfg = gs_run
    out = tmp_path / "whole"
    subprocess.run(
        [sys.executable, "-m", "breedomics", "gs", "cv",
         "--genotypes", str(run / "results/genotypes/genotypes"),
         "--phenotypes", str(run / "results/gs/blue/blues.tsv"),
         "--models", "gblup", "--traits", "yield,height",
         "--fold-file", str(run / "results/gs/cv/folds.tsv"),
         "--seed", str(20240917), "--no-plot", "--out-dir", str(out)],
        check=True, capture_output=True, cwd=REPO,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": str(REPO / ".venv/bin") + ":/usr/bin:/bin"},
    )  # fmt: skip
    keys = ["model", "trait", "repeat", "fold", "level"]
    whole = _tsv(out / "cv_metrics.tsv")
    gathered = _tsv(run / "results/gs/cv/cv_metrics.tsv")
    gathered = gathered[gathered.model == "GBLUP"]
    assert len(whole) == len(gathered) > 0
    a = whole.astype({"fold": str}).sort_values(keys).reset_index(drop=True)
    b = gathered.astype({"fold": str}).sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(a[keys], b[keys])
    for col in ("pearson", "spearman", "slope", "mse"):
        np.testing.assert_allclose(a[col], b[col], rtol=1e-4, atol=1e-8, err_msg=col)


def test_bayesb_beats_gblup_on_few_large_qtl(gs_run):
    """`height` has 5 QTL (h2 0.7): the variable-selection model must win clearly."""
    run, _, _ = gs_run
    s = _tsv(run / "results/gs/cv/cv_summary.tsv")
    s = s[(s.level == "repeat") & (s.trait == "height")].set_index("model")
    assert s.loc["BayesB", "pearson_mean"] > s.loc["GBLUP", "pearson_mean"] + 0.1
    assert (run / "results/gs/cv/cv_accuracy.png").stat().st_size > 0


def test_selection_index_and_kinship_cap(gs_run):
    run, _, _ = gs_run
    gebv = _tsv(run / "results/gs/predict/gblup/gebv.tsv", index_col=0)
    assert gebv.index.size == 272 and gebv[["yield", "height"]].notna().all().all()
    sel = _tsv(run / "results/gs/selection.tsv")
    # index: +1 x standardised yield, -1 x standardised height (`directions`)
    z = (gebv[["yield", "height"]] - gebv[["yield", "height"]].mean()) / gebv[
        ["yield", "height"]
    ].std()
    expect = z["yield"] - z["height"]
    np.testing.assert_allclose(
        sel["index"], expect.loc[sel["sample_id"]].to_numpy(), rtol=1e-4, atol=1e-5
    )
    assert (np.diff(sel["index"]) <= 1e-12).all()
    chosen = sel.loc[sel["selected"], "sample_id"].tolist()
    assert len(chosen) == TOP
    # the cap holds under VanRaden's GRM computed here from the genotypes
    prefix = str(run / "results/genotypes/genotypes")
    _v, x = read_dosage(prefix)
    x = x.astype(np.float64)
    from breedomics.core.genotypes import read_samples

    samples = read_samples(prefix + ".fam")
    p = np.nanmean(x, axis=0) / 2
    zc = np.where(np.isnan(x), 2 * p, x) - 2 * p
    G = zc @ zc.T / (2 * np.sum(p * (1 - p)))
    pos = [samples.index(s) for s in chosen]
    sub = G[np.ix_(pos, pos)]
    mean_off = (sub.sum() - np.trace(sub)) / (TOP * (TOP - 1))
    assert mean_off <= CAP + 1e-6
    # and it bites: the plain top-N by index is more related than the cap allows
    plain = [samples.index(s) for s in sel["sample_id"].head(TOP)]
    sub = G[np.ix_(plain, plain)]
    assert (sub.sum() - np.trace(sub)) / (TOP * (TOP - 1)) > CAP


def test_rerun_does_nothing(gs_run):
    run, _, cfg = gs_run
    res = run_workflow(run, cfg, extra=["-n"], check=True)
    assert "Nothing to be done" in res.stdout + res.stderr
