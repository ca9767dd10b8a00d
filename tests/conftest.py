"""Shared fixtures: run the workflow on a copy of one species' test data."""

from __future__ import annotations

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
