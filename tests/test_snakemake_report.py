"""``snakemake --report`` of the default run: every stage's category, captioned (issue 16).

The run is test_slurm's local reference (a complete default run in a copy of the checkout,
started in the background at the start of the session). In its folder ``snakemake
--report report.zip`` and ``--report report.html`` must succeed; the report is then read
as a browser would get it: ``report/report.html`` holds the categories and the results as
JSON (``var categories = {...}``, ``var results = {...}``), the zip holds every result
file under ``report/data/raw/<id>/<name>`` (the HTML embeds them as data URIs instead).

Checks: each stage's category (Reads and calls, Genotypes, Census, GWAS, Genomic
selection, Omics) with the plots and tables expected in it (per model, trait and dataset
of the run's config); every result's bytes in the archive equal the run's file; every
caption rendered (wildcards and config values filled in, no reStructuredText error); the
GWAS results labelled by trait; the workflow description linking every category.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import test_slurm  # noqa: F401 - registers the background run "slurm_local_reference"
import yaml
from conftest import tool_env

pytestmark = pytest.mark.workflow

CENSUS = [
    f"results/census/{name}"
    for name in (
        "pca.png",
        "pca.variance.tsv",
        "grm.png",
        "admixture.png",
        "admixture.cv.tsv",
        "diversity.png",
        "diversity.tsv",
        "fst.png",
        "fst.tsv",
        "ld_decay.png",
        "ld_decay.summary.tsv",
        "roh.png",
        "roh.tsv",
        "duplicates.png",
        "duplicates.clusters.tsv",
        "core.png",
        "core.summary.tsv",
    )
]
OMICS = ["qtl_map.png", "summary.tsv", "cis.tsv", "trans.tsv", "hotspots.tsv"]
OMICS += ["hidden_factors.tsv"]
#: ``--report <FOLDER>.zip``: the archive holds everything under ``<FOLDER>/``.
FOLDER = "report"
GWAS_PER_TRAIT = {
    "manhattan.png": "Manhattan plot",
    "qq.png": "QQ plot",
    "leads.tsv": "lead markers",
    "candidates.tsv": "candidate genes",
}


def expected_results(root: Path) -> dict[str, list[str]]:
    """category -> the files of the run that must be in it (from the run's config)."""
    cfg = yaml.safe_load((root / "config" / "config.yaml").read_text())
    gwas = []
    for model in cfg["gwas"]["models"]:
        summary = root / f"results/gwas/{model}/summary.{model}.tsv"
        traits = pd.read_csv(summary, sep="\t")["trait"].astype(str)
        gwas += [summary, root / f"results/gwas/{model}/thresholds.{model}.tsv"]
        gwas += [
            root / f"results/gwas/{model}/{t}.{model}.{suffix}"
            for t in traits
            for suffix in GWAS_PER_TRAIT
        ]
    gs = ["results/gs/cv/cv_accuracy.png", "results/gs/cv/cv_summary.tsv"]
    gs += ["results/gs/selection.tsv"]
    gs += [f"results/gs/predict/{m}/gebv.tsv" for m in cfg["gs"]["predict_models"]]
    if cfg["gs"].get("trials"):
        gs.append("results/gs/blue/varcomp.tsv")
    omics = [f"results/omics/{d}/{f}" for d in cfg["omics"]["datasets"] for f in OMICS]
    return {
        "Reads and calls": [
            "results/qc/multiqc_report.html",
            "results/qc/bcftools/all.filtered.stats.txt",
            "results/qc/bcftools/all.pass.stats.txt",
        ],
        "Genotypes": [
            "results/genotypes/qc/summary.tsv",
            "results/genotypes/qc/sample_qc.tsv",
            "results/genotypes/imputation_accuracy.tsv",
        ],
        "Census": CENSUS,
        "GWAS": [str(Path(p).relative_to(root)) for p in gwas],
        "Genomic selection": gs,
        "Omics": omics,
    }


def make_report(root: Path, out: Path) -> subprocess.CompletedProcess:
    """``snakemake --report out`` in the run folder ``root`` (no job is run)."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--report", str(out)],
        cwd=root,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )


def report_data(html: str) -> tuple[dict, dict, str]:
    """(categories, results, workflow description) of a Snakemake report page."""

    def var(name: str):
        # the JSON literal (the page's libraries have a `var results = new Array...`)
        m = re.search(rf"\bvar {name} = (?=[{{\"])", html)
        assert m, f"no `var {name} = <JSON>` in the report page"
        return json.JSONDecoder().raw_decode(html, m.end())[0]

    return var("categories"), var("results"), var("workflow_desc")


@pytest.fixture(scope="module")
def run_root(background) -> Path:
    root, _rules, _threads = background.result("slurm_local_reference")
    return root


@pytest.fixture(scope="module")
def report_zip(run_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("snakemake_report") / f"{FOLDER}.zip"
    proc = make_report(run_root, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Report created." in proc.stderr, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def zipped(report_zip) -> tuple[zipfile.ZipFile, dict, dict, str]:
    archive = zipfile.ZipFile(report_zip)
    html = archive.read(f"{FOLDER}/report.html").decode()
    return (archive, *report_data(html))


def test_every_stage_has_its_category(run_root, zipped):
    _archive, categories, _results, _desc = zipped
    expected = expected_results(run_root)
    for category, files in expected.items():
        assert category in categories, f"no {category!r} in the report: {sorted(categories)}"
        listed = {f for sub in categories[category].values() for f in sub}
        missing = sorted(set(files) - listed)
        assert not missing, f"{category}: {missing} not in the report"
    assert "Other" not in categories, categories.get("Other")


def test_gwas_and_omics_subcategories_follow_models_and_datasets(run_root, zipped):
    _archive, categories, results, _desc = zipped
    cfg = yaml.safe_load((run_root / "config" / "config.yaml").read_text())
    assert set(categories["GWAS"]) == set(cfg["gwas"]["models"])
    assert set(categories["Omics"]) == set(cfg["omics"]["datasets"])
    for model, files in categories["GWAS"].items():
        traits = pd.read_csv(run_root / f"results/gwas/{model}/summary.{model}.tsv", sep="\t")
        for path in files:
            labels = results[path]["labels"]
            assert set(labels) == {"trait", "result"}, (path, labels)
            if labels["trait"] != "all traits":
                assert labels["trait"] in set(traits["trait"].astype(str)), (path, labels)
                suffix = path.split(f".{model}.", 1)[1]
                assert labels["result"] == GWAS_PER_TRAIT[suffix], (path, labels)
                assert Path(path).name.startswith(f"{labels['trait']}.{model}."), path
        keys = [(results[p]["labels"]["trait"], results[p]["labels"]["result"]) for p in files]
        assert len(keys) == len(set(keys)), f"GWAS {model}: two results with the same labels"


def test_archive_holds_every_result_file(run_root, zipped):
    archive, _categories, results, _desc = zipped
    names = set(archive.namelist())
    for path, res in results.items():
        member = f"{FOLDER}/{res['data_uri']}"
        assert member in names, f"{path}: {member} not in the archive"
        assert archive.read(member) == (run_root / path).read_bytes(), path


def test_captions_are_rendered(zipped):
    _archive, _categories, results, _desc = zipped
    for path, res in results.items():
        caption = res["caption"]
        assert len(re.sub(r"<[^>]+>", "", caption).split()) >= 15, (path, caption)
        for residue in ("{{", "}}", "{%", "snakemake.", "system-message", "problematic"):
            assert residue not in caption, (path, residue, caption)
        wildcards = res["job_properties"]["wildcards"]
        for value in re.findall(r"=([^,\s]+)", wildcards):
            assert value in caption, f"{path}: wildcard value {value} not in its caption"


def test_workflow_description_links_every_category(zipped):
    _archive, categories, _results, desc = zipped
    assert "breedomics" in desc
    for category in categories:
        link = f"showCategory('{category.replace(' ', '%20')}')"
        assert link in desc, f"the description does not link {category!r}"
    assert "system-message" not in desc


def test_self_contained_html_report(run_root, zipped, tmp_path):
    """``--report report.html``: the same report with every result embedded."""
    _archive, categories, _results, _desc = zipped
    out = tmp_path / "report.html"
    proc = make_report(run_root, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    html_categories, results, _desc = report_data(out.read_text())
    assert html_categories == categories
    for path, res in results.items():
        assert res["data_uri"].startswith(f"data:{res['mime_type']}"), path
