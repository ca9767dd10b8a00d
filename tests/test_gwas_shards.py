"""Scattered GWAS (``gwas kinship`` + sharded ``gwas run`` + ``gwas gather``) equals one run.

The soybean panel (272 accessions, 12,000 SNPs, 10 chromosomes, two traits; as a PLINK
set, the format the workflow scans) is scanned once whole and once in shards (chromosome
groups x trait batches, given to the gather in shuffled order), for the exact MLM with
LOCO, P3D with the kinship decomposed once in ``gwas kinship``, GLM with empty chromosome
groups, and FarmCPU by trait batch; every output table must be byte-identical.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import TEST_DATA
from threadpoolctl import threadpool_limits

from breedomics.cli import main
from breedomics.core.grm import accumulate_grm
from breedomics.errors import UserError
from breedomics.gwas.shards import chromosome_groups, load_grm, save_grm

PANEL = TEST_DATA / "soybean" / "panel"
PHENO = str(PANEL / "phenotypes.tsv")
SRC = os.path.join(os.path.dirname(__file__), "..", "src")


@pytest.fixture(scope="module")
def geno(tmp_path_factory) -> str:
    """The panel's VCF as a PLINK set (plink2), the input of the workflow's GWAS."""
    if shutil.which("plink2") is None:
        pytest.skip("plink2 not installed (scripts/setup.sh installs it)")
    prefix = tmp_path_factory.mktemp("panel_bed") / "panel"
    subprocess.run(
        ["plink2", "--vcf", str(PANEL / "genotypes.vcf.gz"), "--make-bed", "--out", str(prefix)],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(prefix)


def _gwas(*args: str) -> None:
    """``breedomics gwas ...`` in this process (one BLAS thread, as the workflow's jobs):
    the ~40 scans here would spend most of their CPU starting Python."""
    with threadpool_limits(1):
        assert main(["gwas", *args]) == 0


def _same_outputs(a, b, model: str) -> None:
    for trait in ("yield", "height"):
        with (
            gzip.open(a / f"{trait}.{model}.tsv.gz") as fa,
            gzip.open(b / f"{trait}.{model}.tsv.gz") as fb,
        ):
            assert fa.read() == fb.read(), trait
        for suffix in (".leads.tsv", ".tsv.gz-meta.yaml"):
            name = f"{trait}.{model}{suffix}"
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
    for name in (f"summary.{model}.tsv", f"thresholds.{model}.tsv", "samples.tsv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    leads = (a / f"height.{model}.leads.tsv").read_text().splitlines()
    assert len(leads) >= 2  # the comparison covers real hits


def test_chromosome_groups_are_ordered_runs():
    lengths = {"1": 100, "2": 90, "3": 80, **{f"s{i}": 2 for i in range(30)}, "4": 95}
    for n in (1, 2, 3, 4, 8):
        groups = chromosome_groups(lengths, n)
        assert 1 <= len(groups) <= n
        assert [c for g in groups for c in g] == list(lengths)
    assert chromosome_groups(lengths, 4)[0] == ["1"]
    small = chromosome_groups(lengths, 5)
    assert any(sum(c.startswith("s") for c in g) >= 10 for g in small)  # scaffolds packed


def test_grm_roundtrip_and_sample_check(tmp_path):
    rng = np.random.default_rng(1)
    samples = [f"s{i}" for i in range(20)]
    import pandas as pd

    var = pd.DataFrame(
        {
            "chrom": ["1"] * 30 + ["2"] * 20,
            "pos": np.arange(50) + 1,
            "id": [f"v{i}" for i in range(50)],
            "ref": "A",
            "alt": "C",
        }
    )
    dos = rng.integers(0, 3, (20, 50)).astype(np.float32)
    grm = accumulate_grm([(var, dos)], samples, loco=True)
    save_grm(grm, tmp_path / "g.npz")
    back = load_grm(tmp_path / "g.npz", samples)
    assert np.array_equal(back.matrix(), grm.matrix())
    assert np.array_equal(back.matrix("1"), grm.matrix("1"))
    assert back.chrom_snps == grm.chrom_snps and back.n_snps == grm.n_snps
    with pytest.raises(UserError, match="other samples"):
        load_grm(tmp_path / "g.npz", samples[::-1])


def _scatter(tmp_path, geno: str, model: str, groups: int, batches: list[str], extra: list[str]):
    grm = tmp_path / "grm.npz"
    common = ["--geno", geno, "--pheno", PHENO, "--allow-unmatched"]
    eig = tmp_path / "eigen"  # genome-wide kinship decomposed once (mixed models)
    _gwas(
        "kinship",
        *common,
        *(["--loco"] if "--loco" in extra else []),
        "--out",
        str(grm),
        "--eigen",
        str(eig),
    )
    assert len(list(eig.glob("*.npz"))) == 2  # two traits, two missingness patterns
    states = []
    for k in range(1, groups + 1):
        for j, batch in enumerate(batches):
            name = f"c{k}.b{j}"
            group = [] if model == "farmcpu" else ["--chromosome-group", f"{k}/{groups}"]
            _gwas(
                "run",
                *common,
                "--model",
                model,
                "--pcs",
                "3",
                "--grm",
                str(grm),
                "--eigen",
                str(eig),
                *group,
                "--batch",
                batch,
                *extra,
                "--shard-out",
                str(tmp_path / f"{name}.json"),
                "--out",
                str(tmp_path / name),
            )
            states.append(str(tmp_path / f"{name}.json"))
    return common, states[::-1]  # the gather orders the shards itself


@pytest.mark.parametrize(
    "model,groups,batches,extra",
    [
        ("mlm", 3, ["yield", "height"], ["--loco"]),
        ("mlm-p3d", 2, ["height", "yield"], []),  # genome-wide kinship from the cache
        ("glm", 12, ["yield,height"], []),  # more groups than chromosomes: empty shards
        ("farmcpu", 1, ["height", "yield"], []),
    ],
)
def test_gathered_equals_unscattered(tmp_path, geno, model, groups, batches, extra):
    full = tmp_path / "full"
    _gwas(
        "run",
        "--geno",
        geno,
        "--pheno",
        PHENO,
        "--allow-unmatched",
        "--model",
        model,
        "--pcs",
        "3",
        *extra,
        "--out",
        str(full),
    )
    common, states = _scatter(tmp_path, geno, model, groups, batches, extra)
    gathered = tmp_path / "gathered"
    _gwas(
        "gather",
        *common,
        "--model",
        model,
        *extra,
        "--pcs-file",
        str(tmp_path / "c1.b0" / "pcs.tsv"),
        "--out",
        str(gathered),
        *states,
    )
    _same_outputs(full, gathered, model)
    assert (full / "pcs.tsv").read_bytes() == (gathered / "pcs.tsv").read_bytes()


def test_gather_refuses_a_missing_shard(tmp_path, geno):
    common, states = _scatter(tmp_path, geno, "glm", 3, ["yield,height"], [])
    env = dict(os.environ, PYTHONPATH=SRC)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "breedomics",
            "gwas",
            "gather",
            *common,
            "--model",
            "glm",
            "--out",
            str(tmp_path / "g"),
            *states[:-1],
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "a chromosome group is missing" in proc.stderr
