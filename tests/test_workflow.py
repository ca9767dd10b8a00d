"""End to end: reads -> filtered joint VCF on each species' test data, scored against truth.

Acceptance (issue 2): SNP F1 >= 0.99 and indel F1 >= 0.95 per species, no more than 0.5%
heterozygous SNP calls in inbred lines, male X called haploid; a second run does
nothing; deleting one sample's BAM reruns only what depends on it.

The three species' runs start in the background at the start of the session
(``background_run`` in conftest.py); so do the runs on copies of them (the freebayes
caller, a deleted BAM, incremental calling), each as soon as the run it copies has ended.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest
from conftest import background_run, copy_species, run_tracked, run_workflow, species_config

from breedomics.calling.evalcalls import evaluate

pytestmark = pytest.mark.workflow

FINAL = [
    "results/calls/all.filtered.vcf.gz",
    "results/calls/all.filtered.vcf.gz.tbi",
    "results/calls/all.pass.vcf.gz",
    "results/calls/all.pass.vcf.gz.tbi",
    "results/qc/bcftools/all.filtered.stats.txt",
    "results/qc/bcftools/all.pass.stats.txt",
    "results/qc/multiqc_report.html",
]


def _run_species(species: str, root: Path, nice: bool) -> tuple[Path, dict]:
    copy_species(species, root)
    cfg = species_config(species, root)
    run_workflow(root / "run", cfg, check=True, nice=nice)
    return root / "run", cfg


for _species in ("soybean", "rice", "pig"):
    # test_calling_accuracy.py scores the pig run too (and runs before this module)
    _readers = (__name__, "test_calling_accuracy") if _species == "pig" else (__name__,)
    background_run(_species, *_readers)(partial(_run_species, _species))


@pytest.fixture(scope="module")
def soybean(background):
    return background.result("soybean")


@pytest.fixture(scope="module")
def rice(background):
    return background.result("rice")


@pytest.fixture(scope="module")
def pig(background):
    return background.result("pig")


def _metrics(run: Path, cfg: dict) -> pd.DataFrame:
    truth = Path(cfg["samples"]).parent / "truth.vcf.gz"
    return evaluate(truth, run / "results/calls/all.pass.vcf.gz", Path(cfg["reference"]["fasta"]))


def _overall(df: pd.DataFrame, kind: str) -> pd.Series:
    return df[(df["sample"] == "ALL") & (df["type"] == kind)].iloc[0]


@pytest.mark.parametrize("species", ["soybean", "rice", "pig"])
def test_accuracy_against_truth(species, request):
    run, cfg = request.getfixturevalue(species)
    for rel in FINAL:
        assert (run / rel).stat().st_size > 0, rel
    df = _metrics(run, cfg)
    snp, indel = _overall(df, "SNP"), _overall(df, "INDEL")
    print(
        f"{species}: SNP F1 {snp.f1:.4f} (P {snp.precision:.4f} R {snp.recall:.4f}); "
        f"INDEL F1 {indel.f1:.4f} (P {indel.precision:.4f} R {indel.recall:.4f})"
    )
    assert snp["tp"] > 500
    assert snp["f1"] >= 0.99
    assert indel["f1"] >= 0.95


@pytest.mark.parametrize("species", ["soybean", "rice"])
def test_inbred_lines_have_no_invented_hets(species, request):
    run, cfg = request.getfixturevalue(species)
    with pysam.VariantFile(str(run / "results/calls/all.filtered.vcf.gz")) as vf:
        samples = list(vf.header.samples)
        het = dict.fromkeys(samples, 0)
        nonref = dict.fromkeys(samples, 0)
        for rec in vf:
            if rec.filter.keys() not in ([], ["PASS"]):
                continue
            if len(rec.ref) != 1 or any(len(a) != 1 for a in rec.alts):
                continue
            for s in samples:
                gt = rec.samples[s]["GT"]
                if gt is None or None in gt:
                    continue
                if any(a > 0 for a in gt):
                    nonref[s] += 1
                    het[s] += len(set(gt)) > 1
    for s in samples:
        assert nonref[s] > 0
        assert het[s] / nonref[s] <= 0.005, (s, het[s], nonref[s])


def test_male_x_haploid_female_diploid(pig):
    run, cfg = pig
    sheet = pd.read_csv(cfg["samples"], sep="\t", dtype=str, keep_default_na=False)
    sex = dict(zip(sheet["sample"], sheet["sex"], strict=True))
    ploidies: dict[tuple[str, str], set[int]] = {}
    with pysam.VariantFile(str(run / "results/calls/all.pass.vcf.gz")) as vf:
        for rec in vf:
            for s in vf.header.samples:
                gt = rec.samples[s]["GT"]
                if gt is None or all(a is None for a in gt):
                    continue
                ploidies.setdefault((rec.chrom, sex[s]), set()).add(len(gt))
    assert ploidies[("chrX", "M")] == {1}
    assert ploidies[("chrX", "F")] == {2}
    assert ploidies[("chr1", "M")] == {2}
    assert ploidies.get(("chrY", "M")) == {1}
    assert ("chrY", "F") not in ploidies


def test_pig_growth_traits_reach_gwas(pig):
    """The pig run's weighings (config/presets/test-pig.yaml, phenome.curves): Gompertz
    curves per animal recover the simulated asymptote and maximum daily gain
    (weights.truth.tsv; r >= 0.95), and those two, joined with no other phenotype table,
    are the traits the run's GWAS scans on the called genotypes (12 animals: the wiring,
    not the power, is tested)."""
    run, cfg = pig
    res = run / "results"
    truth = pd.read_csv(Path(cfg["samples"]).parent / "weights.truth.tsv", sep="\t",
                        index_col="animal")  # fmt: skip
    traits = pd.read_csv(res / "phenome/curves/traits.tsv", sep="\t", index_col="sample")
    traits = traits.loc[truth.index]
    for name in ("asymptote", "max_rate"):
        r = np.corrcoef(traits[f"weight_{name}"], truth[name])[0, 1]
        print(f"pig weight_{name}: r {r:.4f} with the truth")
        assert r >= 0.95, name
    pheno = pd.read_csv(res / "phenome/curves/gwas_phenotypes.tsv", sep="\t", index_col=0)
    assert list(pheno.columns) == ["weight_asymptote", "weight_max_rate"]
    np.testing.assert_allclose(pheno.loc[truth.index], traits[pheno.columns], rtol=1e-5)
    summary = pd.read_csv(res / "gwas/mlm/summary.mlm.tsv", sep="\t")
    assert {"weight_asymptote", "weight_max_rate"} <= set(summary.iloc[:, 0])
    for trait in pheno.columns:
        stats = pd.read_csv(res / f"gwas/mlm/{trait}.mlm.tsv.gz", sep="\t")
        p = stats["p_value"]
        assert len(stats) > 100 and p.between(0, 1).all() and p.notna().all(), trait
        assert (res / f"gwas/mlm/{trait}.mlm.candidates.tsv").exists()


def _dry_run_jobs(run: Path, cfg: dict, *targets: str, nice: bool = False) -> dict[str, int]:
    proc = run_workflow(run, cfg, extra=[*targets, "-n", "--quiet", "rules"], check=True, nice=nice)
    jobs: dict[str, int] = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) not in ("total", "job", "count"):
            jobs[m.group(1)] = int(m.group(2))
    return jobs


def test_second_run_does_nothing(soybean):
    run, cfg = soybean
    proc = run_workflow(run, cfg, extra=["-n"], check=True)
    assert "Nothing to be done" in proc.stdout + proc.stderr


def _pass_records(vcf: Path, nice: bool) -> str:
    proc = run_tracked(["bcftools", "view", "-H", str(vcf)], nice=nice)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@background_run("soybean_freebayes", after=("soybean",))
def _freebayes_run(root: Path, nice: bool, soybean: tuple[Path, dict]):
    """`calling.caller: freebayes` on a copy of the finished soybean run: (run folder,
    config, the jobs a dry run plans)."""
    run, cfg = soybean
    fb_run = root / "run"
    shutil.copytree(run, fb_run, symlinks=True)
    cfg = dict(cfg, calling=dict(cfg["calling"], caller="freebayes"))
    jobs = _dry_run_jobs(fb_run, cfg, nice=nice)
    run_workflow(fb_run, cfg, check=True, nice=nice)
    return fb_run, cfg, jobs


@pytest.fixture(scope="module")
def freebayes_run(background):
    return background.result("soybean_freebayes")


@background_run("soybean_bam_deleted", after=("soybean",))
def _bam_deleted_run(root: Path, nice: bool, soybean: tuple[Path, dict]):
    """A copy of the finished soybean run with one sample's BAM deleted: the jobs a dry
    run plans, then the PASS records before and after the rerun of the calls."""
    src, cfg = soybean
    run = root / "run"
    shutil.copytree(src, run, symlinks=True)
    sample = pd.read_csv(cfg["samples"], sep="\t")["sample"].iloc[0]
    (run / f"results/bam/{sample}.bam").unlink()
    jobs = _dry_run_jobs(run, cfg, nice=nice)
    vcf = run / "results/calls/all.pass.vcf.gz"
    before = _pass_records(vcf, nice)
    run_workflow(run, cfg, "results/calls/all.pass.vcf.gz", check=True, nice=nice)
    return sample, jobs, before, _pass_records(vcf, nice)


def test_deleting_one_bam_reruns_only_its_dependants(soybean, background):
    _, cfg = soybean
    sample, jobs, before, after = background.result("soybean_bam_deleted")
    n_units = (pd.read_csv(cfg["units"], sep="\t")["sample"] == sample).sum()
    assert jobs.get("trim_reads") == n_units
    assert jobs.get("map_reads") == n_units
    assert jobs.get("mark_duplicates") == 1
    assert jobs.get("stat_alignments") == 1
    assert "prepare_reference" not in jobs and "build_bwa_index" not in jobs
    assert jobs.get("concat_calls") == 1  # joint calls depend on every BAM
    # And the rerun restores a VCF with the same records as before (the calls only: what
    # else it reruns is the dry run's count above).
    assert before == after


def test_freebayes_caller_reuses_alignments(freebayes_run):
    """`calling.caller: freebayes` reruns only the calling jobs and is as accurate."""
    fb_run, cfg, jobs = freebayes_run
    assert "map_reads" not in jobs and "mark_duplicates" not in jobs
    assert jobs["call_variants_region"] >= 2
    header = subprocess.run(
        ["bcftools", "view", "-h", str(fb_run / "results/calls/all.pass.vcf.gz")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "freebayes" in header.lower()
    df = _metrics(fb_run, cfg)
    assert _overall(df, "SNP")["f1"] >= 0.99
    assert _overall(df, "INDEL")["f1"] >= 0.95


def test_genotypes_from_calls_match_truth(rice):
    """`genotypes.source: calls` (the species presets' default): the pass SNPs through
    genotype QC and Beagle. The imputed genotypes keep every called genotype of the
    kept SNPs and agree with the simulation truth."""
    run, cfg = rice
    truth_path = Path(cfg["samples"]).parent / "truth.vcf.gz"
    calls: dict[tuple[str, int], dict[str, tuple]] = {}
    with pysam.VariantFile(str(run / "results/calls/all.pass.vcf.gz")) as vf:
        samples = list(vf.header.samples)
        for rec in vf:
            if len(rec.ref) == 1 and rec.alts and len(rec.alts) == 1 and len(rec.alts[0]) == 1:
                calls[(rec.chrom, rec.pos)] = {s: rec.samples[s]["GT"] for s in samples}
    truth: dict[tuple[str, int], dict[str, int]] = {}
    with pysam.VariantFile(str(truth_path)) as vf:
        for rec in vf:
            truth[(rec.chrom, rec.pos)] = {
                s: sum(a > 0 for a in rec.samples[s]["GT"] if a is not None) for s in samples
            }
    n_sites = kept_called = same_called = agree = compared = 0
    with pysam.VariantFile(str(run / "results/genotypes/imputed.vcf.gz")) as vf:
        assert list(vf.header.samples) == samples
        for rec in vf:
            key = (rec.chrom, rec.pos)
            assert key in calls, f"{key} is not a biallelic pass SNP of the call set"
            n_sites += 1
            for s in samples:
                dose = sum(a > 0 for a in rec.samples[s]["GT"])
                called = calls[key][s]
                if called is not None and None not in called and len(set(called)) == 1:
                    kept_called += 1
                    same_called += dose == sum(a > 0 for a in called) * 2 // len(called)
                t = truth.get(key, {}).get(s, 0)  # a site absent from truth is hom-ref
                compared += 1
                agree += dose == t
    assert n_sites > 0.5 * len(calls), (n_sites, len(calls))
    assert same_called / kept_called >= 0.999, (same_called, kept_called)
    assert agree / compared >= 0.99, (agree, compared)


def _pass_genotypes(path: Path) -> tuple[list[str], dict[tuple, list[str]]]:
    from conftest import vcf_gt_strings

    samples, records = vcf_gt_strings(path)
    return samples, {(k, ref, alt): gts for k, (ref, alt, gts) in records.items()}


INCREMENTAL_TARGET = "results/calls/all.pass.vcf.gz"


@background_run("pig_incremental", after=("pig",))
def _incremental_run(root: Path, nice: bool, pig: tuple[Path, dict]) -> dict:
    """The pig reads called incrementally on a copy of the joint run (its BAMs): 8
    animals, then all 12, then (dry run only) 11 (see the test); what the dry runs
    planned and the first 8's gVCF stamps before and after adding the 4."""
    joint, cfg = pig
    run = root / "run"
    shutil.copytree(joint, run, symlinks=True)  # the BAMs and reference, as made
    for stale in ("by_region", "all.raw.bcf", "all.norm.bcf", "all.filtered.vcf.gz"):
        for p in (run / "results/calls").glob(f"{stale}*"):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    sheet = pd.read_csv(cfg["samples"], sep="\t", dtype=str, keep_default_na=False)
    units = pd.read_csv(cfg["units"], sep="\t", dtype=str, keep_default_na=False)
    data = Path(cfg["units"]).parent
    for col in ("fq1", "fq2"):  # absolute: the same files as the joint run's
        units[col] = [str(data / p) for p in units[col]]
    first = list(sheet["sample"].iloc[:8])
    sheet[sheet["sample"].isin(first)].to_csv(run / "samples8.tsv", sep="\t", index=False)
    units[units["sample"].isin(first)].to_csv(run / "units8.tsv", sep="\t", index=False)
    units.to_csv(run / "units12.tsv", sep="\t", index=False)
    calling = dict(cfg["calling"], mode="incremental")
    cfg8 = dict(cfg, calling=calling, samples=str(run / "samples8.tsv"),
                units=str(run / "units8.tsv"))  # fmt: skip
    cfg12 = dict(cfg, calling=calling, units=str(run / "units12.tsv"))
    out = {"run": run, "cfg12": cfg12, "first": first, "samples": list(sheet["sample"])}
    out["jobs8"] = _dry_run_jobs(run, cfg8, INCREMENTAL_TARGET, nice=nice)
    run_workflow(run, cfg8, INCREMENTAL_TARGET, check=True, nice=nice)
    gvcfs = {s: run / f"results/calls/gvcf/{s}.all.bcf" for s in first}
    out["stamps8"] = {s: p.stat().st_mtime_ns for s, p in gvcfs.items()}
    with pysam.VariantFile(str(run / INCREMENTAL_TARGET)) as vf:
        out["samples8"] = list(vf.header.samples)
    out["jobs12"] = _dry_run_jobs(run, cfg12, INCREMENTAL_TARGET, nice=nice)
    out["n_regions"] = len(list((run / "results/calls/regions").glob("region_*.bed")))
    run_workflow(run, cfg12, INCREMENTAL_TARGET, check=True, nice=nice)
    out["stamps12"] = {s: p.stat().st_mtime_ns for s, p in gvcfs.items()}
    # removing an animal from the sheet: the merges again, and nothing per sample
    left = [s for s in sheet["sample"] if s != first[0]]
    sheet[sheet["sample"].isin(left)].to_csv(run / "samples11.tsv", sep="\t", index=False)
    units[units["sample"].isin(left)].to_csv(run / "units11.tsv", sep="\t", index=False)
    cfg11 = dict(cfg, calling=calling, samples=str(run / "samples11.tsv"),
                 units=str(run / "units11.tsv"))  # fmt: skip
    out["jobs11"] = _dry_run_jobs(run, cfg11, INCREMENTAL_TARGET, nice=nice)
    return out


def test_incremental_calling_adds_samples_without_recalling(pig, background):
    """`calling.mode: incremental` (issue 15): the pig reads called in two batches, 8 then
    12 animals (males' X and Y haploid), from per-sample gVCFs merged per region. Adding
    the 4 runs their 4 per-sample jobs and the merges only - no job on a BAM of the first
    8, whose gVCFs stay as they were - and the 12 match the one-batch joint run (the pig
    background run): genotypes on the PASS sites of both >= 0.999 concordant, and SNP and
    indel F1 against the truth no more than 0.002 under the joint run's. Removing an
    animal from the sheet then plans the merges only."""
    joint, cfg = pig
    inc = background.result("pig_incremental")
    run, target = inc["run"], INCREMENTAL_TARGET
    bam_jobs = {"trim_reads", "map_reads", "merge_sample_bams", "mark_duplicates"}

    jobs8 = inc["jobs8"]
    assert not bam_jobs & set(jobs8), jobs8  # the BAMs are the joint run's
    assert jobs8["call_sample_gvcf"] == jobs8["list_gvcf_candidates"] == 8
    assert inc["samples8"] == inc["first"]

    jobs12 = inc["jobs12"]
    print(f"adding 4 animals to 8: {jobs12}")
    assert not bam_jobs & set(jobs12), jobs12
    assert jobs12["call_sample_gvcf"] == jobs12["list_gvcf_candidates"] == 4  # the new 4's
    assert jobs12["merge_gvcfs_region"] == inc["n_regions"]
    assert "call_variants_region" not in jobs12
    assert inc["stamps12"] == inc["stamps8"]
    jobs11 = inc["jobs11"]  # then one of the first 8 removed from the sheet
    per_sample = {"call_sample_gvcf", "list_gvcf_candidates", "call_variants_region"}
    assert not (bam_jobs | per_sample) & set(jobs11), jobs11
    assert jobs11["merge_gvcfs_region"] == inc["n_regions"]

    samples, incr = _pass_genotypes(run / target)
    joint_samples, one = _pass_genotypes(joint / target)
    assert samples == joint_samples == inc["samples"]
    shared = set(incr) & set(one)
    pairs = [(a, b) for k in shared for a, b in zip(incr[k], one[k], strict=True)]
    concordance = sum(a == b for a, b in pairs) / len(pairs)
    m_inc, m_one = _metrics(run, inc["cfg12"]), _metrics(joint, cfg)
    line = [f"PASS sites {len(incr)} incremental, {len(one)} joint, {len(shared)} shared; "
            f"genotype concordance {concordance:.5f}"]  # fmt: skip
    for kind in ("SNP", "INDEL"):
        a, b = _overall(m_inc, kind), _overall(m_one, kind)
        line.append(f"{kind} F1 {a.f1:.4f} incremental, {b.f1:.4f} joint")
        assert a.f1 >= b.f1 - 0.002, kind
    print("; ".join(line))
    assert len(shared) >= 0.99 * max(len(incr), len(one))
    assert concordance >= 0.999
