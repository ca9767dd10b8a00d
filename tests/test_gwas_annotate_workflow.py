"""The GWAS annotation and scatter rules in the workflow, on the soybean panel (no reads).

Checks the session's mean-imputed panel run (``mean_panel_run`` in conftest.py, which
also runs the genomic selection that test_gs_workflow.py checks): genotype QC (mean
imputation, so the analysed genotypes are the panel's own calls), the exact MLM GWAS
scattered over 3 chromosome groups x 2 trait batches (the gathered files must equal
one unscattered ``breedomics gwas run``), and ``annotate_gwas`` with the
panel's reference and gene models, then checks ``<trait>.mlm.candidates.tsv`` against the
simulation truth: favourable alleles of leads at simulated QTL, group frequencies counted
from the VCF's genotype strings, genes from a brute-force overlap with the GFF3 and the
planted missense consequences. Bad configurations (a GFF3 of another assembly, a
direction for an unknown trait) stop the run before any job.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import (
    GWAS_WINDOW,
    PANEL,
    TEST_DATA,
    mean_panel_config,
    need_panel,
    run_workflow,
    vcf_gt_strings,
)

pytestmark = pytest.mark.workflow

WINDOW = GWAS_WINDOW
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def annotated(mean_panel_run):
    root, _ = mean_panel_run
    targets = [f"results/gwas/mlm/{t}.mlm.candidates.tsv" for t in ("yield", "height")]
    tabs = {
        t: pd.read_csv(root / "run" / p, sep="\t", dtype={"chromosome": str})
        for t, p in zip(("yield", "height"), targets, strict=True)
    }
    return root, tabs


def test_scattered_run_equals_one_job(annotated):
    root, _ = annotated
    run = root / "run"
    assert sorted(p.name for p in (run / "logs/gwas").glob("mlm.c*.log")) == [
        f"mlm.c{k}.b{j}.log" for k in (1, 2, 3) for j in (1, 2)
    ]
    assert not (run / "results/gwas/mlm/shards").exists()  # temporary
    full = root / "unscattered"
    # the same BLAS threads as the workflow's GWAS jobs (threads: 2): sums are then identical
    threads = {k: "2" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), **threads)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "breedomics",
            "gwas",
            "run",
            "--geno",
            "results/genotypes/genotypes",
            "--pheno",
            str(root / "panel/phenotypes.tsv"),
            "--model",
            "mlm",
            "--pcs",
            "3",
            "--threshold",
            "bonferroni",
            "--alpha",
            "0.05",
            "--seed",
            "20240917",
            "--allow-unmatched",
            "--out",
            str(full),
        ],
        cwd=run,
        env=env,
        check=True,
        capture_output=True,
    )
    got = run / "results/gwas/mlm"
    for trait in ("yield", "height"):
        with (
            gzip.open(got / f"{trait}.mlm.tsv.gz") as a,
            gzip.open(full / f"{trait}.mlm.tsv.gz") as b,
        ):
            assert a.read() == b.read(), trait
        for name in (f"{trait}.mlm.leads.tsv", f"{trait}.mlm.tsv.gz-meta.yaml"):
            assert (got / name).read_bytes() == (full / name).read_bytes(), name
    for name in ("summary.mlm.tsv", "thresholds.mlm.tsv", "pcs.tsv", "samples.tsv"):
        assert (got / name).read_bytes() == (full / name).read_bytes(), name


def test_leads_annotated_for_both_traits(annotated):
    root, tabs = annotated
    for trait, tab in tabs.items():
        leads = pd.read_csv(root / f"run/results/gwas/mlm/{trait}.mlm.leads.tsv", sep="\t")
        assert len(leads) > 0
        assert set(tab["lead_variant"]) == set(leads["lead_variant"])
        assert (tab["direction"] == ("decrease" if trait == "height" else "increase")).all()
    assert (root / "run/results/gwas/consequences.tsv.gz").stat().st_size > 0


def test_favourable_allele_agrees_with_simulated_effect(annotated):
    root, tabs = annotated
    qtl = pd.read_csv(root / "panel/qtl.tsv", sep="\t", dtype={"chrom": str})
    checked = 0
    for trait, tab in tabs.items():
        q = qtl[qtl["trait"] == trait]
        q = q.set_index(q["chrom"] + ":" + q["pos"].astype(str))
        for r in tab.drop_duplicates("lead_variant").itertuples(index=False):
            key = f"{r.chromosome}:{r.base_pair_location}"
            if key not in q.index:
                continue
            truth = q.loc[key]
            up = truth["effect"] > 0  # the simulated effect is that of the ALT allele
            want = r.effect_allele if up == (r.direction == "increase") else r.other_allele
            assert r.effect_allele == truth["effect_allele"]
            assert r.favourable_allele == want, key
            checked += 1
    assert checked >= 3


def test_group_frequencies_equal_vcf_count(annotated):
    root, tabs = annotated
    samples, gts = vcf_gt_strings(root / "panel/genotypes.vcf.gz")
    sheet = pd.read_csv(root / "panel/samples.tsv", sep="\t")
    groups = dict(zip(sheet["sample"], sheet["group"], strict=True))
    fam = pd.read_csv(root / "run/results/genotypes/genotypes.fam", sep=r"\s+", header=None)
    kept = set(fam[1])
    n = 0
    for tab in tabs.values():
        for r in tab.drop_duplicates("lead_variant").to_dict("records"):
            ref, alt, calls = gts[f"{r['chromosome']}:{r['base_pair_location']}"]
            fav = r["favourable_allele"]
            assert fav in (ref, alt)
            for grp in ["all", *sorted(set(groups.values()))]:
                hit = tot = 0
                for s, g in zip(samples, calls, strict=True):
                    if s not in kept or (grp != "all" and groups[s] != grp):
                        continue
                    for a in g.replace("|", "/").split("/"):
                        if a != ".":
                            tot += 1
                            hit += (a != "0") == (fav == alt)
                col = "favourable_allele_frequency" + ("" if grp == "all" else f".{grp}")
                assert r[col] == pytest.approx(hit / tot, abs=1e-6), (r["lead_variant"], grp)
                n += 1
    assert n >= 10


def test_candidate_genes_equal_gff3_overlap(annotated):
    root, tabs = annotated
    genes = []
    for line in (root / "panel/annotation.gff3").read_text().splitlines():
        f = line.split("\t")
        if not line.startswith("#") and f[2] == "gene":
            genes.append((f[0], int(f[3]), int(f[4]), f[8].split(";")[0].split(":", 1)[1]))
    for trait, tab in tabs.items():
        leads = pd.read_csv(
            root / f"run/results/gwas/mlm/{trait}.mlm.leads.tsv",
            sep="\t",
            dtype={"chromosome": str},
        )
        for lead in leads.itertuples(index=False):
            pos = lead.base_pair_location
            lo = max(1, min(lead.interval_start, pos - WINDOW))
            hi = max(lead.interval_end, pos + WINDOW)
            want = {
                (gid, 0 if s <= pos <= e else min(abs(s - pos), abs(e - pos)))
                for c, s, e, gid in genes
                if c == str(lead.chromosome) and s <= hi and e >= lo
            }
            rows = tab[tab["lead_variant"] == lead.lead_variant]
            got = {
                (g, int(d))
                for g, d in zip(rows["gene_id"], rows["distance"], strict=True)
                if isinstance(g, str)
            }
            assert got == want, lead.lead_variant
            assert (rows["search_start"] == lo).all() and (rows["search_end"] == hi).all()


def test_planted_missense_lead_has_consequence(annotated):
    root, tabs = annotated
    planted = pd.read_csv(root / "panel/qtl_genes.tsv", sep="\t", dtype={"chrom": str})
    planted = planted[planted["planted"] == "missense"]
    where = dict(
        zip(planted["chrom"] + ":" + planted["pos"].astype(str), planted["gene_id"], strict=True)
    )
    found = 0
    for tab in tabs.values():
        for r in tab.itertuples(index=False):
            key = f"{r.chromosome}:{r.base_pair_location}"
            if key in where and r.gene_id == where[key]:
                assert f"{r.lead_variant}:missense:" in r.consequences, r.lead_variant
                found += 1
    assert found >= 1


def test_gff3_of_another_assembly_stops_the_run(tmp_path):
    need_panel("annotation.gff3", "trials.tsv")
    cfg = mean_panel_config(PANEL)  # a dry run only reads the panel
    cfg["genotypes"]["gff3"] = str(TEST_DATA / "soybean" / "annotation.gff3")
    proc = run_workflow(tmp_path / "run", cfg, extra=["-n"])
    assert proc.returncode != 0
    msg = "sequence 'Gm01' is not a contig of the genotypes' reference"
    assert msg in proc.stdout + proc.stderr


def test_direction_for_unknown_trait_stops_the_run(tmp_path):
    need_panel("annotation.gff3", "trials.tsv")
    cfg = mean_panel_config(PANEL)
    cfg["directions"] = {"weight": "decrease"}
    proc = run_workflow(tmp_path / "run", cfg, extra=["-n"])
    assert proc.returncode != 0
    assert "'directions' names trait 'weight'" in proc.stdout + proc.stderr
    cfg["directions"] = {"height": "down"}
    proc = run_workflow(tmp_path / "run", cfg, extra=["-n"])
    assert proc.returncode != 0 and "down" in proc.stdout + proc.stderr
