"""Entering at the genotype stage: an existing VCF (no reads) through QC, imputation, census.

The simulated soybean panel in test-data (272 accessions, 12,000 SNPs, planted
duplicates and admixed lines with known truth) is the genotype source of the default run
(``genotypes.source: vcf``): its genotype QC, Beagle imputation and census are checked
against that truth in the default run of test_slurm.py (``slurm_local_reference``, one
census shard). The session's mean-imputed panel run (``mean_panel_run`` in conftest.py:
no reads, census scattered one job per chromosome) shows that nothing of the reads stage
runs and that the gathered census equals one unscattered job. Both runs start in the
background at the start of the session (``background_run`` in conftest.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import test_slurm  # noqa: F401 - registers the background run "slurm_local_reference"

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def default_run(background) -> tuple:
    """(the default run's folder, the panel in its test data)."""
    root, _rules, _threads = background.result("slurm_local_reference")
    return root, root / "test-data" / "soybean" / "panel"


@pytest.fixture(scope="module")
def panel_run(mean_panel_run) -> tuple:
    """(the mean-imputed panel run's folder, its panel copy)."""
    root, _ = mean_panel_run
    return root / "run", root / "panel"


def test_no_reads_processed(panel_run):
    run, _ = panel_run
    assert not (run / "results" / "bam").exists()
    assert not (run / "results" / "calls").exists()


def test_qc_and_imputation(default_run):
    run, _ = default_run
    qc = pd.read_csv(run / "results/genotypes/qc/sample_qc.tsv", sep="\t")
    assert len(qc) == 272 and set(qc["status"]) <= {"kept", "removed"}
    acc = pd.read_csv(run / "results/genotypes/imputation_accuracy.tsv", sep="\t")
    overall = acc[acc["maf_bin"] == "all"].iloc[0]
    assert overall["n_imputed"] == overall["n_masked"] > 1000
    assert overall["concordance"] >= 0.95


def test_census_finds_planted_duplicates(default_run):
    run, panel = default_run
    truth = pd.read_csv(panel / "panel.truth.tsv", sep="\t")
    planted = {
        frozenset((r.sample, r.duplicate_of))
        for r in truth.itertuples()
        if isinstance(r.duplicate_of, str) and r.duplicate_of
    }
    assert planted
    pairs = pd.read_csv(run / "results/census/duplicates.tsv", sep="\t")
    found = {frozenset(p) for p in zip(pairs["sample1"], pairs["sample2"], strict=True)}
    assert planted <= found
    assert len(found - planted) == 0


def test_census_outputs_all_written(default_run):
    run, _ = default_run
    for job in ["pca", "grm", "admixture", "diversity", "fst", "ld_decay", "roh",
                "duplicates", "core"]:  # fmt: skip
        for ext in (".tsv", ".png"):
            p = run / "results" / "census" / f"{job}{ext}"
            assert p.stat().st_size > 0, p
    var = pd.read_csv(run / "results/census/pca.variance.tsv", sep="\t")
    explained = var["variance_explained"].to_numpy()
    assert np.all(np.diff(explained) <= 1e-12) and 0 < explained.sum() <= 1


def test_census_scattered_per_chromosome(panel_run):
    """Diversity, LD decay and ROH ran one job per chromosome; gathered = one job."""
    import subprocess
    import sys

    from conftest import REPO

    run, panel = panel_run
    plan = pd.read_csv(run / "results/census/by_chrom/shards.tsv", sep="\t", dtype=str)
    assert plan["shard"].tolist() == plan["chrom"].tolist() == [str(c) for c in range(1, 11)]
    for shard in plan["shard"]:
        for job in ("diversity", "ld_decay", "roh"):
            assert (run / "results/census/by_chrom" / shard / f"{job}.json").stat().st_size
    out = run / "unscattered" / "diversity"
    subprocess.run(
        [sys.executable, "-m", "breedomics", "census", "diversity", "--geno",
         str(run / "results/genotypes/genotypes"), "--groups", str(panel / "samples.tsv"),
         "--out", str(out), "--inbred", "--window", "100000", "--no-plot"],
        check=True, env={"PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    for suffix in (".tsv", ".windows.tsv"):
        a = pd.read_csv(f"{out}{suffix}", sep="\t")
        b = pd.read_csv(run / f"results/census/diversity{suffix}", sep="\t")
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-7, atol=1e-12)
