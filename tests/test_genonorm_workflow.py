"""Acceptance: the workflow runs to the end on a messy PLINK set, as a lab would send it.

The messy set (``test-data/soybean/messy/``: chromosome aliases, unsorted variants,
position-0 and unplaced markers, duplicate positions, missing and duplicate ids) enters
as ``genotypes.source: plink`` with no reads, through genotype QC, mean imputation, the
census, a GLM GWAS and GBLUP genomic selection. The same data cleaned beforehand with
bcftools alone (``clean_with_tools`` in test_genonorm.py) goes through the same config.
Every variant changed or removed must have a row with its reason, and the census, GWAS
and GS outputs of the two runs must agree to 1e-9. Both runs start in the background at
the start of the session (``background_run`` in conftest.py).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import background_run, run_workflow
from test_genonorm import MESSY, PANEL_REF, clean_with_tools, need_messy

pytestmark = pytest.mark.workflow


def messy_config(source: str, path: str) -> dict:
    """Every section the run needs, explicitly (the user's config is the whole config)."""
    return {
        "samples": str(MESSY / "samples.tsv"),
        "reference": {"fasta": str(PANEL_REF)},
        "genome": {"mating": "inbred"},
        "genotypes": {
            "enabled": True,
            "source": source,
            "path": path,
            "reference": str(PANEL_REF),
            "impute": "mean",
            "duplicate_positions": "drop",
        },
        "census": {"enabled": True, "k_max": 3, "cv_folds": 2},
        "gwas": {
            "enabled": True,
            "phenotypes": str(MESSY / "phenotypes.tsv"),
            "models": ["glm"],
        },
        "gs": {
            "enabled": True,
            "models": ["gblup"],
            "folds": 2,
            "repeats": 1,
            "predict_models": ["gblup"],
        },
        "omics": {"enabled": False},
    }


@background_run("messy_plink")
def _messy_run(root: Path, nice: bool) -> Path:
    need_messy()
    cfg = messy_config("plink", str(MESSY / "genotypes"))
    run_workflow(root / "run", cfg, check=True, nice=nice)
    return root / "run"


@background_run("messy_cleaned")
def _clean_run(root: Path, nice: bool) -> Path:
    need_messy()
    root.mkdir(parents=True, exist_ok=True)
    clean = root / "clean.vcf.gz"
    clean_with_tools(str(MESSY / "genotypes.vcf.gz"), str(PANEL_REF), clean, root)
    run_workflow(root / "run", messy_config("vcf", str(clean)), check=True, nice=nice)
    return root / "run"


@pytest.fixture(scope="module")
def runs(background):
    return background.result("messy_plink"), background.result("messy_cleaned")


def _vcf_records(path: Path) -> list[tuple]:
    with gzip.open(path, "rt") as fh:
        return [tuple(line.split("\t")[:5]) for line in fh if not line.startswith("#")]


def test_every_change_has_a_row(runs):
    messy, _ = runs
    bim = pd.read_csv(MESSY / "genotypes.bim", sep="\t", header=None, dtype=str,
                      names=["chrom", "id", "cm", "pos", "alt", "ref"])  # fmt: skip
    table = pd.read_csv(messy / "results/genotypes/qc/variants_normalised.tsv", sep="\t",
                        dtype=str, keep_default_na=False)  # fmt: skip
    assert (table["reason"].str.len() > 0).all()
    key = ["chrom", "pos", "id", "ref", "alt"]
    raw = bim[key].apply(tuple, axis=1)
    assert raw.is_unique
    gone = set(table.loc[table["action"].isin(["removed", "set_aside"]), key].apply(tuple, axis=1))
    renamed = {
        act: dict(zip(t[key].apply(tuple, axis=1), t[col], strict=True))
        for act, col in (("renamed_chrom", "new_chrom"), ("renamed_id", "new_id"))
        for t in [table[table["action"] == act]]
    }
    chrom, ids = renamed["renamed_chrom"], renamed["renamed_id"]
    expected = sorted(
        (chrom.get(r, r[0]), r[1], ids.get(r, r[2]), r[3], r[4]) for r in raw if r not in gone
    )
    out = sorted(_vcf_records(messy / "results/genotypes/snps.vcf.gz"))
    assert out == expected
    # the planted removals are all there (13 of 918), and counted in the QC summary
    assert len(gone) == 4 + 2 + 3 + 4
    summary = pd.read_csv(messy / "results/genotypes/qc/summary.tsv", sep="\t")
    counts = summary.set_index("what")
    assert counts.loc["entry_variants", "input"] == len(bim)
    assert counts.loc["entry_variants", "kept"] == len(out)
    norm = summary[summary["what"].str.startswith("normalise:")]
    assert norm["input"].sum() == len(table)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", comment=None, keep_default_na=True)


def test_outputs_equal_those_of_the_cleaned_data(runs):
    messy, clean = runs
    assert _vcf_records(messy / "results/genotypes/snps.vcf.gz") == _vcf_records(
        clean / "results/genotypes/snps.vcf.gz"
    )
    files = sorted(
        p.relative_to(clean)
        for stage in ("census", "gwas", "gs")
        for p in (clean / "results" / stage).rglob("*")
        if p.name.endswith((".tsv", ".tsv.gz"))
        and "by_chrom" not in p.parts
        and "timing" not in p.name  # seconds of compute
    )
    assert len(files) > 25
    for rel in files:
        a, b = _read(messy / rel), _read(clean / rel)
        assert list(a.columns) == list(b.columns) and a.shape == b.shape, rel
        for col in a.columns:
            x, y = a[col], b[col]
            if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
                np.testing.assert_allclose(x.to_numpy(float), y.to_numpy(float), rtol=1e-9,
                                           atol=1e-9, err_msg=f"{rel}:{col}")  # fmt: skip
            else:  # file paths differ between the two runs
                xs = x.astype(str).str.replace(str(messy), "RUN").str.replace(str(clean), "RUN")
                ys = y.astype(str).str.replace(str(clean), "RUN")
                assert (xs == ys).all(), (rel, col)
