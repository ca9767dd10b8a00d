"""Resource requests from the job's input, clipped by the cluster cap (issue 19); no SLURM.

Panels of two sizes are made with ``plink2 --dummy`` (PLINK set and bgzipped VCF); the
requests are evaluated by the functions in ``breedomics.resources`` and, for whole jobs,
by Snakemake itself: a dry run with the repository's cluster profile of a workflow made of
the repository's ``resources.smk`` and rules declaring their resources as the workflow does.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import NO_SLURM, tool_env

from breedomics import resources as res
from breedomics.errors import UserError

REPO = Path(__file__).resolve().parents[1]
PLINK2 = shutil.which("plink2")
pytestmark = pytest.mark.skipif(PLINK2 is None, reason="plink2 not on PATH")

#: (samples, markers) of the two panels: a SNP-array-sized one and one 20x the cells.
SMALL = (200, 3000)
LARGE = (800, 15000)


def dummy_panel(folder: Path, n: int, m: int) -> Path:
    """A random PLINK set + VCF of ``n`` samples x ``m`` SNPs (``plink2 --dummy``)."""
    prefix = folder / f"panel_{n}x{m}"
    subprocess.run(
        [PLINK2, "--dummy", str(n), str(m), "0.01", "--seed", "7", "--threads", "1"]
        + ["--make-bed", "--export", "vcf", "bgz", "--out", str(prefix)],
        check=True,
        capture_output=True,
    )
    return prefix


@pytest.fixture(scope="module")
def panels(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("panels")
    return {"small": dummy_panel(folder, *SMALL), "large": dummy_panel(folder, *LARGE)}


def plink_files(prefix: Path) -> list[str]:
    return [f"{prefix}{ext}" for ext in (".bed", ".bim", ".fam")]


# --- cap ---------------------------------------------------------------------------------


def test_cap_read_from_environment():
    cap = res.read_cap(
        {
            "BREEDOMICS_MAX_MEM_MB": "23000",
            "BREEDOMICS_MAX_THREADS": " 2 ",
            "BREEDOMICS_MAX_RUNTIME": "",
        }
    )
    assert cap == res.Cap(mem_mb=23000, threads=2, runtime=None)
    assert res.read_cap({}) == res.Cap()
    for bad in ("23G", "0", "-5", "2.5"):
        with pytest.raises(UserError, match=rf"BREEDOMICS_MAX_MEM_MB='{re.escape(bad)}'.*export"):
            res.read_cap({"BREEDOMICS_MAX_MEM_MB": bad})


# --- input measurements ------------------------------------------------------------------


def test_measure_counts_plink_cells_and_samples(panels):
    for name, (n, m) in (("small", SMALL), ("large", LARGE)):
        q = res.measure(plink_files(panels[name]))
        assert q.gcells == pytest.approx(n * m / 1e9, rel=1e-9)
        assert q.ksamples2 == pytest.approx((n / 1000) ** 2)
        assert q.vcf_gb == 0  # the .bed is a genotype matrix, not an interval file
        v = res.measure([f"{panels[name]}.vcf.gz"])
        assert v.vcf_gb == pytest.approx(Path(f"{panels[name]}.vcf.gz").stat().st_size / 1e9)


def test_measure_region_share_of_bams_and_gvcfs(tmp_path):
    fai = tmp_path / "genome.fa.fai"
    fai.write_text("chr1\t1000000\t6\t60\t61\nchr2\t3000000\t1016673\t60\t61\n")
    bed = tmp_path / "region.bed"
    bed.write_text("chr1\t0\t500000\nchr2\t100\t500100\n")
    bam = tmp_path / "a.bam"
    bam.write_bytes(b"\0" * 4000)
    gvcf = tmp_path / "a.g.bcf"
    gvcf.write_bytes(b"\0" * 8000)
    q = res.measure([bam, gvcf, fai, bed], region_bed=str(bed))
    assert q.bam_gb == pytest.approx(4000 / 1e9)
    assert q.region_bam_gb == pytest.approx(4000 / 1e9 * 1_000_000 / 4_000_000)
    assert q.vcf_gb == pytest.approx(8000 / 1e9)
    assert q.region_vcf_gb == pytest.approx(8000 / 1e9 * 1_000_000 / 4_000_000)


def test_gvcf_merge_asks_for_its_region_of_the_gvcfs():
    """A region's merge reads that region of every gVCF: 1,000 pig gVCFs (6x: ~8.75 GB
    each over 2.5 Gb) merged in regions of 12.5 Mb (calling.max_jobs 200) need ~57 CPU-min
    each at the measured 1.3 CPU-min per GB of the region's share; the request is not
    that of merging the whole genomes (~15 weeks, clipped to the cap)."""
    share = 12.5e6 / 2.5e9
    q = res.Inputs(vcf_gb=8750.0, region_vcf_gb=8750.0 * share)
    req = res.estimate(res.MODELS["merge_gvcfs_region"], q, threads=1)
    need = 1.3 * q.region_vcf_gb
    assert need <= req["runtime"] <= 8 * need, req


# --- requests ----------------------------------------------------------------------------

#: Rules over the PLINK set whose requests must follow the panel size.
MATRIX_RULES = (
    "run_gwas",
    "cross_validate_gs",
    "compute_census_grm",
    "scan_ld_decay_shard",
    "map_omics_qtl",
)


@pytest.mark.parametrize("rule", MATRIX_RULES)
def test_request_grows_with_panel_and_never_exceeds_cap(panels, rule):
    model = res.MODELS[rule]
    small = res.estimate(model, res.measure(plink_files(panels["small"])), threads=2)
    large = res.estimate(model, res.measure(plink_files(panels["large"])), threads=2)
    assert large["mem_mb"] > small["mem_mb"] >= model.mem, (small, large)
    # run times of seconds both ask the floor; a whole-genome panel asks for more
    assert large["runtime"] >= small["runtime"] >= model.time, (small, large)
    q = res.measure(plink_files(panels["large"]))
    genome = res.Inputs(gcells=q.gcells * 1000, mmarkers=q.mmarkers * 1000, ksamples2=q.ksamples2)
    assert res.estimate(model, genome, threads=2)["runtime"] > large["runtime"], (rule, genome)

    # a cap between the two: the small panel is untouched, the large one clipped, on
    # every attempt (retries grow the estimate, never past the cap)
    cap = res.Cap(mem_mb=(small["mem_mb"] + large["mem_mb"]) // 2, runtime=small["runtime"])
    warnings: list[str] = []
    res._WARNED.clear()
    for attempt in (1, 2, 3):
        for key in ("mem_mb", "runtime"):
            want = res.estimate(model, res.measure(plink_files(panels["small"])), 2, attempt)
            assert want[key] >= small[key] * attempt - attempt  # retries ask for more
            got_small = res.request(
                rule,
                model,
                key,
                plink_files(panels["small"]),
                2,
                attempt,
                cap,
                warn=warnings.append,
            )
            assert got_small == min(want[key], getattr(cap, key)), (key, attempt)
            got = res.request(
                rule,
                model,
                key,
                plink_files(panels["large"]),
                2,
                attempt,
                cap,
                warn=warnings.append,
            )
            assert got == getattr(cap, key), (key, attempt, got)
    # one warning per rule and resource, naming the variable to raise
    assert len(warnings) == 2, warnings
    assert all(rule in w and "BREEDOMICS_MAX_" in w for w in warnings)


def test_thread_cap_is_one_note_for_all_rules():
    """Fewer threads than a rule asks for only slow it down: one note for the run, not
    one per rule, and no advice to raise the cap 'if it fails'."""
    res._WARNED.clear()
    notes: list[str] = []
    cap = res.Cap(threads=2)
    for rule, threads in (("run_gwas", 16), ("map_reads", 16), ("prune_ld", 8), ("x", 2)):
        assert res.clip(rule, "threads", threads, cap, warn=notes.append) == min(threads, 2)
    assert len(notes) == 1, notes
    assert "run_gwas" in notes[0] and "BREEDOMICS_MAX_THREADS=2" in notes[0]
    assert "same results" in notes[0] and "If it fails" not in notes[0]
    res._WARNED.clear()


def test_group_share_keeps_group_jobs_within_cap():
    cap = res.Cap(mem_mb=9000, runtime=90)
    assert res.clip("merge_sample_bams", "mem_mb", 8000, cap, share=1 / 3) == 3000
    assert res.clip("merge_sample_bams", "runtime", 80, cap, share=1 / 3) == 30
    assert res.clip("merge_sample_bams", "runtime", 20, cap, share=1 / 3) == 20


def test_grouped_rule_counts_unwritten_input_as_empty(panels, tmp_path):
    """In a group job a later rule's input is not written yet when the group is sized."""
    files = [*plink_files(panels["small"]), str(tmp_path / "not_yet.vcf.gz")]
    model = res.MODELS["run_gwas"]
    with pytest.raises(FileNotFoundError):
        res.request("run_gwas", model, "mem_mb", files, 1, 1, res.Cap())
    grouped = res.request("run_gwas", model, "mem_mb", files, 1, 1, res.Cap(), share=0.5)
    alone = res.estimate(model, res.measure(plink_files(panels["small"])), 1)["mem_mb"]
    assert grouped == alone


def test_mean_imputation_asks_for_little_beagle_for_more(panels):
    """`genotypes.impute: mean` copies the VCF: a 36k-marker panel asks for little."""
    tmp = panels["small"].parent
    prefix = dummy_panel(tmp, 374, 36000)  # the SNP-array panel
    q = res.measure([f"{prefix}.vcf.gz"])
    mean = res.estimate(res.MODELS["impute_genotypes:mean"], q, threads=16, attempt=3)
    assert mean["mem_mb"] <= 1500 and mean["runtime"] <= 60, mean
    beagle = res.estimate(res.MODELS["impute_genotypes:beagle"], q, threads=2)
    assert beagle["mem_mb"] < 4000, beagle  # not the old 32 GB x attempt
    # a whole-genome panel (~10 GB of VCF) asks Beagle for tens of GB
    big = res.estimate(res.MODELS["impute_genotypes:beagle"], res.Inputs(vcf_gb=10), threads=16)
    assert big["mem_mb"] >= 30000, big


#: Needs of the jobs of a 3,000 x 10 M census + GWAS, fitted from measured runs and the
#: 1,200 x 5 M benchmark (docs/scaling.md): rule -> (inputs, threads of the cluster
#: profile, peak MB, wall minutes). Shard jobs read the whole set: their need is the
#: whole genome's (one shard).
_FULL = res.Inputs(gcells=30.0, mmarkers=10.0, ksamples2=9.0)
FULL_SIZE_NEEDS = {
    "normalise_genotypes": (_FULL, 1, 4100, 132),
    "qc_genotypes": (res.Inputs(vcf_gb=10.4), 1, 400, 63),
    "apply_genotype_qc": (res.Inputs(vcf_gb=10.4), 4, 100, 36),
    "impute_genotypes:mean": (res.Inputs(vcf_gb=10.4), 16, 100, 2),  # a copy
    "compute_gwas_kinship": (_FULL, 16, 1500, 18),
    "find_duplicate_accessions": (_FULL, 4, 3800, 150),
    "select_core_set": (_FULL, 2, 2900, 114),
    "estimate_admixture": (_FULL, 8, 3200, 30),
    "scan_diversity_shard": (_FULL, 1, 300, 216),
    "scan_gwas_shard": (_FULL, 8, 1100, 72),
    "gather_gwas": (res.Inputs(gcells=30.0, mmarkers=10.0, ksamples2=9.0, other_gb=6.0), 1,
                    12000, 18),
    "annotate_gwas": (_FULL, 1, 6000, 6),
    "build_report": (res.Inputs(other_gb=6.0), 1, 5700, 5),
}  # fmt: skip


@pytest.mark.parametrize("rule", FULL_SIZE_NEEDS)
def test_requests_cover_the_measured_full_size_needs(rule):
    """At 3,000 x 10 M a job asks for what it was measured to need, and not for hours or
    tens of GB more (a 6-minute job asking 17 h waits longer in the queue and may exceed
    a partition's limit)."""
    inputs, threads, mem, minutes = FULL_SIZE_NEEDS[rule]
    req = res.estimate(res.MODELS[rule], inputs, threads=threads)
    assert mem <= req["mem_mb"] <= max(8 * mem, 2500), req
    assert minutes <= req["runtime"] <= max(8 * minutes, 60), req


def test_refused_submission_is_one_line():
    """The SLURM plugin's report of a refused sbatch, as one line per rule."""
    call = (
        "sbatch --parsable --job-name 5c1e --output '/w/.snakemake/slurm_logs/"
        "rule_impute_genotypes/%j.log' --export=ALL --comment rule_impute_genotypes "
        "-A 'lab' -p main -t 2160 --mem 96000 --ntasks=1 --cpus-per-task=16 -D /w "
        "--wrap=\"python -m snakemake --target-jobs 'impute_genotypes:' ...\""
    )
    log = (
        "Error in rule impute_genotypes:\n    message: SLURM sbatch failed. The error "
        "message was 'sbatch: error: Memory specification can not be satisfied\nsbatch: "
        "error: Batch job submission failed: Requested node configuration is not "
        f"available'.\n    sbatch call:\n        {call}\n    jobid: 12\n"
    )
    rules = ["impute_genotypes", "impute_masked_genotypes", "all"]
    lines = res.refused_submissions(log * 3, rules, res.Cap(mem_mb=23000))
    assert len(lines) == 1, lines
    line = lines[0]
    assert "rule impute_genotypes:" in line
    assert "mem_mb=96000 (cap BREEDOMICS_MAX_MEM_MB=23000)" in line
    assert "threads=16 (cap BREEDOMICS_MAX_THREADS=unset)" in line
    assert "runtime=2160" in line and "Memory specification can not be satisfied" in line
    assert "\n" not in line and "base64" not in line and "--wrap" not in line
    # a group job's comment names the group: its rules are listed
    grouped = log.replace("--comment rule_impute_genotypes", "--comment rule_panel_wildcards_x")
    (line,) = res.refused_submissions(
        grouped, rules, res.Cap(), {"impute_genotypes": "panel", "all": "other"}
    )
    assert "group panel (impute_genotypes): it asked for mem_mb=96000" in line, line


# --- Snakemake's own evaluation ----------------------------------------------------------

SNAKEFILE = """
from pathlib import Path
from snakemake.exceptions import WorkflowError
from breedomics.errors import UserError

config.setdefault("genotypes", {{"impute": "beagle"}})


include: "{resources}"


rule all:
    input:
        "gwas.done",
        "imputed.vcf.gz",


rule run_gwas:
    input:
        multiext("{prefix}", ".bed", ".bim", ".fam"),
    output:
        "gwas.done",
    threads: 16
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    shell:
        "touch {{output}}"


rule impute_genotypes:
    input:
        "{prefix}.vcf.gz",
    output:
        "imputed.vcf.gz",
    threads: 16
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    shell:
        "cp {{input}} {{output}}"
"""


def dry_run_resources(
    folder: Path, prefix: Path, env: dict[str, str], *args: str, snakefile_text: str = SNAKEFILE
):
    """rule -> (threads, mem_mb, runtime) of a dry run with the repository's SLURM profile
    (jobs of one rule with wildcards: ``rule[wildcards]``)."""
    folder.mkdir()
    snakefile = folder / "Snakefile"
    snakefile.write_text(
        snakefile_text.format(
            resources=REPO / "workflow" / "rules" / "resources.smk", prefix=prefix
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-s", str(snakefile), "-d", str(folder)]
        + ["--profile", str(REPO / "cluster"), "--workflow-profile", "none", *args],
        env=dict(tool_env(), **NO_SLURM, **env),
        capture_output=True,
        text=True,
        cwd=folder,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    jobs = {}
    for m in re.finditer(
        r"^rule (\w+):\n((?:    .*\n)*?)(?:    threads: (\d+)\n)?    resources: ([^\n]*)", out, re.M
    ):  # Snakemake leaves out "threads: 1"
        if m.group(1) == "all":
            continue
        res_text = m.group(4)
        mem = int(re.search(r"\bmem_mb=(\d+)", res_text).group(1))
        runtime = int(re.search(r"\bruntime=(\d+)", res_text).group(1))
        wc = re.search(r"^    wildcards: (.*)$", m.group(2), re.M)
        name = f"{m.group(1)}[{wc.group(1)}]" if wc else m.group(1)
        jobs[name] = (int(m.group(3) or 1), mem, runtime)
    if snakefile_text is SNAKEFILE:
        assert set(jobs) == {"run_gwas", "impute_genotypes"}, out[-3000:]
    return jobs, out


def test_snakemake_requests_follow_panel_and_cap(panels, tmp_path):
    """Two panel sizes, one cap between their GWAS requests: Snakemake asks for the small
    panel's estimate, for the large one the cap (once-per-rule warning), threads capped."""
    gwas = res.MODELS["run_gwas"]
    small = res.estimate(gwas, res.measure(plink_files(panels["small"])), threads=2)
    large = res.estimate(gwas, res.measure(plink_files(panels["large"])), threads=2)
    assert large["mem_mb"] > small["mem_mb"] + 2
    mem_cap = small["mem_mb"] + 1
    env = {"BREEDOMICS_MAX_MEM_MB": str(mem_cap), "BREEDOMICS_MAX_THREADS": "2"}
    jobs = {}
    for name in ("small", "large"):
        jobs[name], out = dry_run_resources(tmp_path / name, panels[name], env)
        for rule, (threads, mem, _) in jobs[name].items():
            assert threads == 2 and mem <= mem_cap, (rule, jobs[name])  # profile: 16 threads
        assert "BREEDOMICS_MAX_MEM_MB" in out
    # the dry run evaluates the rule's own callables on the real input
    assert jobs["small"]["run_gwas"][1:] == (small["mem_mb"], small["runtime"])
    assert jobs["large"]["run_gwas"] == (2, mem_cap, large["runtime"])
    assert out.count("rule run_gwas estimates mem_mb=") == 1, out[-3000:]
    # Beagle's 1.5 GB floor is above this cap: clipped for both panels, its run time grows
    assert jobs["small"]["impute_genotypes"][1] == jobs["large"]["impute_genotypes"][1] == mem_cap
    assert jobs["large"]["impute_genotypes"][2] >= jobs["small"]["impute_genotypes"][2]


def test_bad_cap_stops_before_any_job(panels, tmp_path):
    folder = tmp_path / "bad"
    with pytest.raises(AssertionError, match=r"BREEDOMICS_MAX_RUNTIME='1 day'"):
        dry_run_resources(folder, panels["small"], {"BREEDOMICS_MAX_RUNTIME": "1 day"})


SHARD_SNAKEFILE = r"""
from snakemake.exceptions import WorkflowError
from breedomics.errors import UserError

config.setdefault("genotypes", {{"impute": "mean"}})
config.setdefault("gwas", {{"chromosome_shards": 2}})


include: "{resources}"


rule all:
    input:
        expand("gwas/mlm.c{{k}}.b1.done", k=(1, 2)),
        expand("census/{{shard}}.done", shard=("a", "b")),


rule scan_gwas_shard:
    input:
        bed="{prefix}.bed",
        bim="{prefix}.bim",
        fam="{prefix}.fam",
    output:
        "gwas/{{model}}.{{shard}}.done",
    wildcard_constraints:
        shard=r"c\d+\.b\d+",
    threads: 8
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    shell:
        "touch {{output}}"


rule scan_diversity_shard:
    input:
        bed="{prefix}.bed",
        bim="{prefix}.bim",
        fam="{prefix}.fam",
        shards="{prefix}.shards.tsv",
    output:
        "census/{{shard}}.done",
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    shell:
        "touch {{output}}"
"""


def test_shard_jobs_ask_for_their_share_of_the_markers(tmp_path):
    """A shard job's input is the whole PLINK set; its run time is asked for the markers it
    scans: the chromosome group of ``gwas run --chromosome-group k/N`` (4 chromosomes of
    one length with 10/20/30/40 % of the markers: groups 1-2 and 3-4) or the census
    plan's shard. A 3,000 x 10 M set (sparse .bed) so that the time rates, not the floors,
    decide."""
    prefix = tmp_path / "big"
    n, m = 3000, 10_000_000
    (tmp_path / "big.fam").write_text("".join(f"F S{i} 0 0 0 -9\n" for i in range(n)))
    with open(tmp_path / "big.bed", "wb") as fh:
        fh.truncate(3 + m * (n // 4))  # sparse: only its size is read
    bim = []
    for chrom, k in zip("1234", (100, 200, 300, 400), strict=True):
        bim += [f"{chrom}\t{chrom}_{i}\t0\t{1 + i * 1_000_000 // k}\tA\tG\n" for i in range(k)]
    (tmp_path / "big.bim").write_text("".join(bim))
    (tmp_path / "big.shards.tsv").write_text("shard\tchrom\tn_snps\torder\na\t1\t2500000\t0\n"
                                            "b\t2\t7500000\t1\n")  # fmt: skip
    assert res.chromosome_group_share(tmp_path / "big.bim", 1, 2) == pytest.approx(0.3)
    assert res.chromosome_group_share(tmp_path / "big.bim", 2, 2) == pytest.approx(0.7)
    assert res.census_shard_share(tmp_path / "big.shards.tsv", "b") == pytest.approx(0.75)
    env = {"BREEDOMICS_MAX_RUNTIME": "100000", "BREEDOMICS_MAX_MEM_MB": "100000",
           "BREEDOMICS_MAX_THREADS": "8"}  # fmt: skip
    jobs, out = dry_run_resources(tmp_path / "run", prefix, env, snakefile_text=SHARD_SNAKEFILE)
    q = res.measure([f"{prefix}.bed", f"{prefix}.bim", f"{prefix}.fam"])
    for rule, wc, share in (
        ("scan_gwas_shard", "model=mlm, shard=c1.b1", 0.3),
        ("scan_gwas_shard", "model=mlm, shard=c2.b1", 0.7),
        ("scan_diversity_shard", "shard=a", 0.25),
        ("scan_diversity_shard", "shard=b", 0.75),
    ):
        threads, mem, runtime = jobs[f"{rule}[{wc}]"]
        whole = res.estimate(res.MODELS[rule], q, threads)
        part = res.estimate(res.MODELS[rule], q, threads, work_share=share)
        assert (mem, runtime) == (whole["mem_mb"], part["runtime"]), (rule, wc, jobs)
        floor = res.MODELS[rule].time
        assert runtime - floor == pytest.approx(share * (whole["runtime"] - floor), abs=1.5)
