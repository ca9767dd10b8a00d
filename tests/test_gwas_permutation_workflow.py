"""`gwas.threshold: permutation` in the workflow, checked against a plain least-squares scan.

The panel runs through the genotype stage (mean imputation) and a GLM GWAS of one trait
with 30 permutations. The test rebuilds the permutation null on its own: genotypes from
plink2's ``--export A`` of the workflow's PLINK set, phenotypes from the table, the same
30 permutations of the trait's residuals (numpy's ``default_rng(seed).permutation``, as
documented for the run's seed), an ordinary least-squares F test of every variant against
every permuted trait, the minimum p value of each permutation, and their ``alpha``
quantile (on the -log10 scale). The workflow's threshold must equal it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import background_run, copy_panel, panel_config, run_workflow, tool_env
from scipy import stats

TRAIT = "yield"
PERMUTATIONS = 30
ALPHA = 0.05
SEED = 20240917


@background_run("permutation_panel")
def _permutation_run(root: Path, nice: bool) -> tuple[Path, dict]:
    panel = copy_panel(root)
    pheno = pd.read_csv(panel / "phenotypes.tsv", sep="\t", dtype=str, keep_default_na=False)
    pheno[["sample", TRAIT]].to_csv(panel / "one_trait.tsv", sep="\t", index=False)
    cfg = panel_config(
        panel,
        genotypes={"impute": "mean", "seed": SEED},
        census={"enabled": False},
        gwas={
            "enabled": True,
            "phenotypes": str(panel / "one_trait.tsv"),
            "models": ["glm"],
            "pcs": 0,
            "threshold": "permutation",
            "permutations": PERMUTATIONS,
            "alpha": ALPHA,
        },
    )
    run_workflow(root / "run", cfg, "results/gwas/glm/summary.glm.tsv", check=True, nice=nice)
    return root, cfg


@pytest.fixture(scope="module")
def perm_run(background):
    return background.result("permutation_panel")


def _dosages(prefix: Path, out: Path) -> pd.DataFrame:
    """Samples x variants allele counts from plink2 (an established tool, not breedomics)."""
    if not shutil.which("plink2"):
        pytest.skip("plink2 not on PATH")
    subprocess.run(
        ["plink2", "--bfile", str(prefix), "--export", "A", "--out", str(out)],
        check=True,
        capture_output=True,
        env=tool_env(),
    )
    raw = pd.read_csv(f"{out}.raw", sep=r"\s+", na_values="NA")
    return raw.set_index("IID").iloc[:, 5:].astype(float)


def test_permutation_threshold_matches_least_squares_scan(perm_run, tmp_path):
    root, cfg = perm_run
    run = root / "run"
    thr = pd.read_csv(run / "results/gwas/glm/thresholds.glm.tsv", sep="\t")
    row = thr[(thr["trait"] == TRAIT) & (thr["method"] == "permutation")]
    assert len(row) == 1, thr
    assert int(row["n_tests"].iloc[0]) == PERMUTATIONS

    x = _dosages(run / "results/genotypes/genotypes", tmp_path / "dosage")
    pheno = pd.read_csv(cfg["gwas"]["phenotypes"], sep="\t", na_values=["NA"])
    y_all = pheno.set_index("sample")[TRAIT]
    keep = [s for s in x.index if s in y_all.index and np.isfinite(y_all[s])]
    x, y = x.loc[keep].to_numpy(), y_all.loc[keep].to_numpy()
    n = len(y)
    # the scan's per-trait filters (MAF >= 0.01, missing <= 0.1), then mean imputation
    miss = np.isnan(x).mean(axis=0)
    mean = np.nanmean(x, axis=0)
    maf = np.minimum(mean / 2, 1 - mean / 2)
    x = x[:, (miss <= 0.1) & (maf >= 0.01)]
    x = np.where(np.isnan(x), np.nanmean(x, axis=0), x)
    x = x - x.mean(axis=0)
    x = x[:, (x * x).sum(axis=0) > 0]

    rng = np.random.default_rng(SEED)
    r = y - y.mean()
    perms = np.stack([rng.permutation(n) for _ in range(PERMUTATIONS)], axis=1)
    min_p = []
    for b in range(PERMUTATIONS):
        yp = r[perms[:, b]]
        # OLS of yp on intercept + x: F = (n - 2) r^2 / (1 - r^2)
        corr = (x.T @ yp) / np.sqrt((x * x).sum(axis=0) * (yp @ yp))
        f = (n - 2) * corr**2 / (1 - corr**2)
        min_p.append(stats.f.sf(f.max(), 1, n - 2))
    nl = -np.log10(np.array(min_p))
    expected = 10 ** -np.quantile(nl, 1 - ALPHA)
    got = float(row["p_threshold"].iloc[0])
    assert got == pytest.approx(expected, rel=1e-6), (got, expected, x.shape, n)
    # and it is used: every lead passes it
    summary = pd.read_csv(run / "results/gwas/glm/summary.glm.tsv", sep="\t")
    assert "permutation" in summary.to_string()
    leads = pd.read_csv(run / f"results/gwas/glm/{TRAIT}.glm.leads.tsv", sep="\t")
    if len(leads):
        assert (leads["p_value"] <= got * (1 + 1e-9)).all()


def test_scattered_permutation_threshold_equals_one_scan(perm_run, tmp_path):
    """The workflow's scatter: shards permute with one seed, the gather takes the maxima."""
    from test_gwas_shards import _gwas

    root, cfg = perm_run
    geno = str(root / "run/results/genotypes/genotypes")
    common = ["--geno", geno, "--pheno", cfg["gwas"]["phenotypes"], "--allow-unmatched"]
    common += ["--model", "glm"]
    perm = ["--threshold", "permutation", "--seed", str(SEED)]
    states = []
    for k in (1, 2):
        states.append(str(tmp_path / f"c{k}.json"))
        _gwas("run", *common, *perm, "--permutations", str(PERMUTATIONS),
              "--chromosome-group", f"{k}/2", "--shard-out", states[-1],
              "--out", str(tmp_path / f"c{k}"))  # fmt: skip
    gathered = tmp_path / "gathered"
    _gwas("gather", *common, "--threshold", "permutation", "--out", str(gathered), *states)
    # equal to the workflow's unscattered scan (same seed and permutations)
    a = pd.read_csv(root / "run/results/gwas/glm/thresholds.glm.tsv", sep="\t")
    b = pd.read_csv(gathered / "thresholds.glm.tsv", sep="\t")
    a, b = (t[t["method"] == "permutation"].reset_index(drop=True) for t in (a, b))
    assert len(a) == 1 and list(a["n_tests"]) == [PERMUTATIONS]
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)
    # a shard scanned without permutations is refused, not silently Bonferroni
    plain = tmp_path / "plain.json"
    _gwas("run", *common, "--chromosome-group", "2/2", "--shard-out", str(plain),
          "--out", str(tmp_path / "plain"))  # fmt: skip
    env = dict(tool_env(), PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    proc = subprocess.run(
        [sys.executable, "-m", "breedomics", "gwas", "gather", *common,
         "--threshold", "permutation", "--out", str(tmp_path / "g2"), states[0], str(plain)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert proc.returncode == 1 and "without permutations" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 5
