"""The molecular-trait QTL stage of the workflow on the simulated soybean panel.

The genotypes are those of the session's mean-imputed panel run (``mean_panel_run`` in
conftest.py, shared with the GWAS and GS workflow tests): they are copied into a new
working folder and only the omics rules are allowed to run, so this module adds the
three omics jobs per dataset and no other panel run (started in the background as soon
as the panel run has ended). The results are scored against the
simulation's truth (scripts/make_test_data.py --omics-only): power and empirical FDR of
the cis-eQTL, both trans hotspots, the mQTL.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import PANEL, background_run, copy_panel, panel_config, run_workflow

from breedomics.omics.summarise import CIS_COLUMNS, FEATURE_COLUMNS, HOTSPOT_COLUMNS, TRANS_COLUMNS

OMICS_RULES = ["prepare_omics", "map_omics_qtl", "summarise_omics"]
CIS_WINDOW = 250_000


def omics_config(panel: Path, **datasets) -> dict:
    return panel_config(
        panel,
        genotypes={"impute": "mean"},
        census={"enabled": False},
        gwas={"enabled": False, "pcs": 3},
        gs={"enabled": False},
        omics={
            "enabled": True,
            "model": "glm",
            "cis_window": CIS_WINDOW,
            "datasets": datasets
            or {
                "expression": {
                    "path": str(panel / "expression.bed.gz"),
                    "hidden_factors": 5,
                    "min_expression": 0.1,
                },
                "metabolites": {
                    "path": str(panel / "metabolites.tsv"),
                    "transform": "log2",
                    "hidden_factors": 3,
                },
            },
        },
    )


@background_run("omics_panel", after=("mean_panel",))
def _omics_run(root: Path, nice: bool, mean_panel: tuple[Path, dict]):
    """The omics rules on the genotypes of the shared mean-imputed panel run (started in
    the background when that run has ended)."""
    panel = copy_panel(root, "expression.bed.gz", "metabolites.tsv")
    src_root, _cfg = mean_panel
    run = root / "run"
    (run / "results" / "genotypes").mkdir(parents=True)
    for ext in (".bed", ".bim", ".fam"):
        shutil.copy(src_root / "run" / "results" / "genotypes" / f"genotypes{ext}",
                    run / "results" / "genotypes")  # fmt: skip
    cfg = omics_config(panel)
    targets = [
        f"results/omics/{ds}/{name}"
        for ds in ("expression", "metabolites")
        for name in ("qtl_features.tsv", "cis.tsv", "trans.tsv", "hotspots.tsv", "qtl_map.png")
    ]
    extra = ["--allowed-rules", *OMICS_RULES, "--"]  # "--": the targets are no rule names
    proc = run_workflow(run, cfg, *targets, extra=extra, check=True, nice=nice)
    return run / "results" / "omics", proc


@pytest.fixture(scope="module")
def omics_run(background):
    return background.result("omics_panel")


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"chrom": str, "chromosome": str})


def test_only_the_omics_jobs_ran_and_tables_have_documented_columns(omics_run):
    out, proc = omics_run
    assert "6 of 6 steps (100%) done" in proc.stderr + proc.stdout
    for ds in ("expression", "metabolites"):
        assert list(_read(out / ds / "qtl_features.tsv").columns) == FEATURE_COLUMNS
        assert list(_read(out / ds / "cis.tsv").columns) == CIS_COLUMNS
        assert list(_read(out / ds / "trans.tsv").columns) == TRANS_COLUMNS
        assert list(_read(out / ds / "hotspots.tsv").columns) == HOTSPOT_COLUMNS
        assert (out / ds / "qtl_map.png").stat().st_size > 10_000


def test_cis_eqtl_power_and_empirical_fdr(omics_run):
    out, _ = omics_run
    truth = pd.read_csv(PANEL / "expression.truth.tsv", sep="\t").set_index("feature_id")
    cis = _read(out / "expression" / "cis.tsv").set_index("feature_id")
    assert set(cis.index) == set(truth.index[truth["qc"] == "pass"])
    sig = cis[cis["q_value"] <= 0.05]
    true_cis = truth.index[truth["qtl_type"] == "cis"]
    power = sig.index.isin(true_cis).sum() / len(true_cis)
    fdr = (~sig.index.isin(true_cis)).mean()
    # measured: power 88/90, FDR 0
    assert power >= 0.85, power
    assert fdr <= 0.1, fdr
    assert sig["significant"].all() and not cis.loc[~cis.index.isin(sig.index), "significant"].any()
    # the leads sit on the planted variant's chromosome, within the window, with its sign
    hit = sig[sig.index.isin(true_cis)]
    t = truth.loc[hit.index]
    same_var = hit["base_pair_location"].to_numpy() == t["variant_pos"].to_numpy()
    assert same_var.mean() >= 0.5
    assert ((hit["beta"] > 0) == (t["beta"] > 0))[same_var].all()
    assert (hit["distance"].abs() <= CIS_WINDOW).all()


def test_both_trans_hotspots_are_found(omics_run):
    out, _ = omics_run
    truth = pd.read_csv(PANEL / "expression.truth.tsv", sep="\t", dtype={"variant_chrom": str})
    hs = _read(out / "expression" / "hotspots.tsv")
    trans = _read(out / "expression" / "trans.tsv")
    targets = truth[truth["qtl_type"] == "trans"]
    assert len(hs) >= 2
    for name, grp in targets.groupby("hotspot"):
        chrom, pos = grp["variant_chrom"].iloc[0], int(grp["variant_pos"].iloc[0])
        near = hs[(hs["chromosome"] == chrom) & (hs["start"] - 200_000 <= pos)
                  & (hs["end"] + 200_000 >= pos)]  # fmt: skip
        assert len(near) == 1, (name, hs)
        h = near.iloc[0]
        found = set(h["features"].split(","))
        # measured: 15 of 15 targets in each, no other gene
        assert len(found & set(grp["feature_id"])) >= 12, name
        assert len(found - set(grp["feature_id"])) <= 2, name
        assert h["poisson_p"] < 1e-6
    # trans features are the planted targets; leads that tag the gene's own cis-eQTL
    # through long-range LD are flagged, not counted (measured: 30 of 33 trans features
    # planted, 7 leads of 4 cis genes flagged)
    assert trans["class"].isin(["trans", "trans_cis_ld"]).all()
    feats = pd.Series(trans.loc[trans["class"] == "trans", "feature_id"].unique())
    assert feats.isin(targets["feature_id"]).mean() >= 0.85
    flagged = trans[trans["class"] == "trans_cis_ld"]
    assert (flagged["r2_with_cis_lead"] >= 0.05).all() and (flagged["hotspot"].isna()).all()
    assert not flagged["feature_id"].isin(targets["feature_id"]).any()


def test_metabolite_qtl_and_reports(omics_run):
    out, _ = omics_run
    truth = pd.read_csv(PANEL / "metabolites.truth.tsv", sep="\t", dtype={"variant_chrom": str})
    truth = truth.set_index("feature_id")
    f = _read(out / "metabolites" / "qtl_features.tsv").set_index("feature_id")
    assert (f["lead_class"] == "unpositioned").all()
    sig = f[f["q_value"] <= 0.05]
    mqtl = truth.index[truth["qtl_type"] == "mqtl"]
    assert sig.index.isin(mqtl).sum() >= 4
    assert (~sig.index.isin(mqtl)).sum() <= 1
    for m in sig.index.intersection(mqtl):
        assert sig.loc[m, "chromosome"] == truth.loc[m, "variant_chrom"]
        assert abs(sig.loc[m, "base_pair_location"] - truth.loc[m, "variant_pos"]) < 500_000
    feats = _read(out / "metabolites" / "features.tsv").set_index("feature_id")
    assert feats.loc["met050", "status"] == "removed"
    assert feats.loc["met050", "reason"].startswith("missing in 0.")
    samples = _read(out / "expression" / "samples.tsv").set_index("sample")
    assert samples.loc["NOTGENOTYPED1", "reason"] == "not genotyped"
    assert (samples["reason"] == "no feature data").sum() == 10


def test_unsafe_dataset_name_stops_the_run(tmp_path):
    panel = copy_panel(tmp_path, "expression.bed.gz")
    cfg = omics_config(panel, **{"bad name": {"path": str(panel / "expression.bed.gz")}})
    proc = run_workflow(tmp_path / "run", cfg, extra=["-n"])
    assert proc.returncode != 0
    assert "bad name" in proc.stderr + proc.stdout
