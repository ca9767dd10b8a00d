"""The README's "Running on your own data", followed literally in a fresh copy of the repository.

The copy holds the repository's tracked files without ``test-data/`` (so reading any file
of the default test run would fail). The lab's data are made outside it: a PLINK set of 60
panel accessions x 2,000 SNPs (plink2) and their phenotypes. The commands are the README's
own code block, run from the copy's root with the file names, the core count and the edit
step replaced; the run must build the user's GWAS and GS results and run no job of the
default run's reads or omics stages.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import PANEL, REPO, need_panel, popen_tracked, tool_env
from smk_rules import rule_names

SECTION = "## Running on your own data"
#: README file names -> the test's files (see ``lab_data``).
README_GENOTYPES = "/data/panel.vcf.gz"
README_PHENOTYPES = "/data/phenotypes.tsv"


def readme_commands() -> list[str]:
    """The shell commands of the first ``bash`` block of the README's own-data section."""
    text = (REPO / "README.md").read_text()
    section = text[text.index(SECTION) :]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [c.strip() for c in block.replace("\\\n", " ").splitlines() if c.strip()]


def fresh_copy(dest: Path) -> Path:
    """The repository's files (tracked or new, not ignored), except test-data/, in ``dest``."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        if name.startswith("test-data/") or not (REPO / name).is_file():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def lab_data(tmp_path_factory) -> tuple[Path, Path]:
    """A PLINK set (60 accessions x 2,000 SNPs) and a phenotype table, outside the copy."""
    need_panel("phenotypes.tsv")
    if not shutil.which("plink2"):
        pytest.skip("plink2 not on PATH")
    d = tmp_path_factory.mktemp("lab")
    samples = pd.read_csv(PANEL / "samples.tsv", sep="\t")["sample"].iloc[::4].head(60)
    (d / "keep.txt").write_text("\n".join(samples) + "\n")
    subprocess.run(
        ["plink2", "--vcf", str(PANEL / "genotypes.vcf.gz"), "--keep", str(d / "keep.txt"),
         "--snps-only", "--max-alleles", "2", "--thin-count", "2000", "--seed", "7",
         "--make-bed", "--out", str(d / "panel")],
        check=True, capture_output=True, env=tool_env(),
    )  # fmt: skip
    pheno = pd.read_csv(PANEL / "phenotypes.tsv", sep="\t", dtype=str, keep_default_na=False)
    pheno[pheno["sample"].isin(samples)].to_csv(d / "phenotypes.tsv", sep="\t", index=False)
    return d / "panel", d / "phenotypes.tsv"


def _edit(config: Path) -> None:
    """The README's edit step: quick settings for a first look."""
    cfg = yaml.safe_load(config.read_text())
    cfg["genotypes"]["impute"] = "mean"
    cfg["census"]["enabled"] = False
    cfg["gwas"].update(models=["glm"], pcs=2)
    cfg["gs"].update(folds=2, repeats=1)
    cfg["directions"] = {"height": "decrease"}
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))


def test_readme_own_data_steps(lab_data, tmp_path):
    geno, pheno = lab_data
    root = fresh_copy(tmp_path / "breedomics")
    assert not (root / "test-data").exists() and (root / "config" / "config.yaml").exists()
    env = tool_env()
    # the copy's code, as after installing the copy (the workflow itself uses its own src/)
    env["PYTHONPATH"] = str(root / "src")
    commands = readme_commands()
    assert [c.split()[:2] for c in commands] == [
        ["breedomics", "init"],
        ["$EDITOR", "config/my-run/config.yaml"],
        ["breedomics", "check-inputs"],
        ["snakemake", "--cores"],
    ], commands
    log = []
    t0 = time.time()
    for cmd in commands:
        if cmd.startswith("$EDITOR"):
            _edit(root / shlex.split(cmd)[1])
            continue
        cmd = cmd.replace(README_GENOTYPES, str(geno)).replace(README_PHENOTYPES, str(pheno))
        cmd = re.sub(r"--cores \d+", "--cores 2", cmd)
        proc = popen_tracked(
            ["bash", "-c", cmd], cwd=root, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        out, _ = proc.communicate()
        log.append(out)
        assert proc.returncode == 0, f"{cmd}\n{out[-5000:]}"
    elapsed = time.time() - t0

    init_out, check_out, run_out = log
    assert "60 samples" in init_out and "60 samples" in check_out, check_out
    cfg = yaml.safe_load((root / "config/my-run/config.yaml").read_text())
    assert cfg["genotypes"] == {**cfg["genotypes"], "source": "plink", "path": str(geno)}
    sheet = pd.read_csv(root / "config/my-run/samples.tsv", sep="\t")
    fam = pd.read_csv(f"{geno}.fam", sep=r"\s+", header=None)
    assert list(sheet["sample"]) == list(fam[1])

    # the user's results: both traits through GWAS and GS
    res = root / "results"
    summary = pd.read_csv(res / "gwas/glm/summary.glm.tsv", sep="\t")
    assert sorted(summary["trait"]) == ["height", "yield"]
    observed = pd.read_csv(pheno, sep="\t", na_values=["NA", ""]).set_index("sample").count()
    assert dict(zip(summary["trait"], summary["n_samples"], strict=True)) == dict(observed)
    assert (res / "gs/selection.tsv").exists()
    # nothing of the default run: no reads, calls or omics stage, no test data
    jobs = set(re.findall(r"^(?:localrule|rule) (\w+):", run_out, re.M))
    assert "run_gwas" in jobs and "qc_genotypes" in jobs, run_out[-3000:]
    default_only = rule_names("reference.smk", "trim.smk", "align.smk", "call.smk", "qc.smk")
    default_only |= rule_names("omics.smk", "census.smk")
    assert not jobs & default_only, jobs & default_only
    for sub in ("bam", "calls", "omics", "census", "reference"):
        assert not (res / sub).exists(), sub
    assert "test-data" not in run_out
    print(f"own-data steps: {elapsed:.0f} s, {len(jobs)} rules", file=os.sys.stderr)
