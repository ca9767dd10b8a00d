"""Shared fixtures: run the workflow on a copy of one species' test data or of the panel."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
TEST_DATA = REPO / "test-data"


def tool_env() -> dict[str, str]:
    """Environment whose PATH finds the venv's snakemake/breedomics first."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def species_config(species: str, root: Path, **overrides) -> dict:
    """A config for the copy of ``test-data/<species>`` under ``root``."""
    preset = REPO / "config" / "presets" / f"test-{species}.yaml"
    with open(preset) as fh:
        cfg = yaml.safe_load(fh)
    data = root / "data"
    cfg["samples"] = str(data / "samples.tsv")
    cfg["units"] = str(data / "units.tsv")
    cfg["reference"]["fasta"] = str(data / "reference.fa.gz")
    if cfg["reference"].get("gff3"):
        cfg["reference"]["gff3"] = str(data / "annotation.gff3")
    for key, value in overrides.items():
        cfg[key] = value
    return cfg


def copy_species(species: str, root: Path) -> Path:
    """Copy test-data/<species> to root/data (so tests can break files freely)."""
    src = TEST_DATA / species
    if not src.exists():
        pytest.skip(f"{src} missing: run scripts/make_test_data.py")
    shutil.copytree(src, root / "data")
    return root / "data"


def run_workflow(
    workdir: Path, config: dict, *targets: str, extra: list[str] | None = None, check=False
) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir`` with ``config`` written next to it."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg_path = workdir / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(config))
    cmd = [
        "snakemake",
        "-s",
        str(SNAKEFILE),
        "-d",
        str(workdir),
        "--configfile",
        str(cfg_path),
        "--cores",
        "2",
        "--workflow-profile",
        "none",
        *(extra or []),
        *targets,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=tool_env(), cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def vcf_gt_strings(path: Path, ids=None) -> tuple[list[str], dict[str, tuple[str, str, list[str]]]]:
    """Sample names and, per record, (REF, ALT, GT strings), read as plain text.

    Independent of breedomics (no VCF library): records are keyed by ``CHROM:POS``, or by
    their ID when ``ids`` (a set of IDs) is given, and only those are kept.
    """
    samples: list[str] = []
    out: dict[str, tuple[str, str, list[str]]] = {}
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith("##"):
                continue
            f = line.rstrip("\n").split("\t")
            if line.startswith("#"):
                samples = f[9:]
                continue
            if ids is not None and f[2] not in ids:
                continue
            key = f[2] if ids is not None else f"{f[0]}:{f[1]}"
            out[key] = (f[3], f[4], [g.split(":")[0] for g in f[9:]])
    return samples, out


# --- the simulated soybean panel (genotype stage, no reads) --------------------------

PANEL = TEST_DATA / "soybean" / "panel"


def need_panel(*files: str) -> None:
    """Skip unless test-data/soybean/panel has its genotypes and ``files``."""
    for name in ("genotypes.vcf.gz", *files):
        if not (PANEL / name).exists():
            pytest.skip(f"{PANEL / name} missing: run scripts/make_test_data.py")


def copy_panel(root: Path, *needs: str) -> Path:
    """Copy test-data/soybean/panel to root/panel (skip when it or ``needs`` is missing)."""
    need_panel(*needs)
    shutil.copytree(PANEL, root / "panel")
    return root / "panel"


def panel_config(panel: Path, genotypes: dict | None = None, **sections) -> dict:
    """A config entering at the genotype stage with the panel copied to ``panel``.

    ``genotypes`` updates the ``genotypes`` section; other keyword arguments are
    top-level sections (``census``, ``gwas``, ``gs``, ``directions``).
    """
    cfg = {
        "samples": str(panel / "samples.tsv"),
        "reference": {"fasta": str(TEST_DATA / "soybean" / "reference.fa.gz")},
        "genome": {"mating": "inbred"},
        "genotypes": {"source": "vcf", "path": str(panel / "genotypes.vcf.gz"),
                      **(genotypes or {})},
    }  # fmt: skip
    cfg.update(sections)
    return cfg


#: Settings of the mean-imputed panel run that its tests check against.
GWAS_WINDOW = 20000  # gwas.candidate_window
GS_TOP = 15  # gs.selection.top
GS_CAP = 0.2  # gs.selection.max_kinship


def mean_panel_config(panel: Path) -> dict:
    """The panel, mean-imputed, through the scattered MLM GWAS + annotation and GS."""
    return panel_config(
        panel,
        genotypes={
            "impute": "mean",
            "reference": str(panel / "reference.fa.gz"),
            "gff3": str(panel / "annotation.gff3"),
        },
        census={"enabled": False},
        gwas={
            "enabled": True,
            "phenotypes": str(panel / "phenotypes.tsv"),
            "models": ["mlm"],
            "candidate_window": GWAS_WINDOW,
            "chromosome_shards": 3,
            "traits_per_shard": 1,
        },
        directions={"height": "decrease"},
        gs={
            "enabled": True,
            "trials": str(panel / "trials.tsv"),
            "trial_columns": {"replicate": "block", "plot": "plot"},
            "models": ["gblup", "bayesb"],
            "folds": 3,
            "repeats": 2,
            "iterations": 400,
            "burn_in": 100,
            "predict_models": ["gblup"],
            "selection": {"top": GS_TOP, "max_kinship": GS_CAP},
        },
    )


@pytest.fixture(scope="session")
def mean_panel_run(tmp_path_factory) -> tuple[Path, dict]:
    """One workflow run of the panel with mean imputation (no Beagle: the analysed genotypes
    are the panel's own calls): genotype QC, the exact MLM GWAS scattered over 3 chromosome
    groups x 2 trait batches with lead annotation, and genomic selection from the trials.

    Shared by test_gwas_annotate_workflow.py and test_gs_workflow.py, which only read it
    (the GS rerun check is a dry run). Returns (root, config): the run is in root/run,
    the panel copy in root/panel.
    """
    root = tmp_path_factory.mktemp("panel_mean")
    panel = copy_panel(root, "annotation.gff3", "trials.tsv")
    cfg = mean_panel_config(panel)
    run_workflow(root / "run", cfg, check=True)
    return root, cfg
