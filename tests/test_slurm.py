"""The default workflow on a real SLURM scheduler (issues 6, 19), against a local run.

A single-node cluster is started with ``scripts/slurm-localhost.sh start`` (root: installs
Debian's slurm-wlm and munge if needed, ~15 s) or an already running one is reused; without
either the tests are skipped, saying why. Each run works on a copy of the checkout
(tracked plus untracked, not ignored files).

The SLURM run is the repository's own profile, unchanged, with only the cap set in the
environment, as a user would for this node (``cluster_env``): BREEDOMICS_MAX_MEM_MB = the
node's memory, BREEDOMICS_MAX_THREADS = half its CPUs (two jobs side by side; the local run
gets the same threads, hence the same results). Every request comes from the rules' own
estimates, clipped by the cap. The command line adds only scheduling speed (``SPEED``):
fast status polling, short latency wait, kept SLURM logs, and larger groups, one SLURM job
per stage (a SLURM job costs a few seconds of Snakemake start-up plus polling: see
TEST_GROUPS and GROUP_COMPONENTS); a grouped rule gets its share of the cap, so the
group jobs fit too.

Targets: the whole default workflow (reads, calls, genotype QC, imputation and its
accuracy, census, GWAS, genomic selection, omics, QC reports), the reads of 4 of the 12
samples (``READ_SAMPLES``).

Checks: every job ran as a SLURM job (the ``squeue --states=all`` history holds exactly the
job ids Snakemake reported, COMPLETED, in this working directory; the kept SLURM log of
each job names the rules that ran inside it and together they cover every rule of the
local run); no job asked for more memory or CPUs than the cap; the VCF records (call sets,
imputed genotypes) and every table (``results/**/*.tsv[.gz]``) equal those of
``snakemake --max-threads <threads per job>`` (two jobs at a time) on another copy (no
SLURM). Both runs start in the background at the start of the session (``background_run``
in conftest.py; the cluster is started then too): the local one at the lowest CPU
priority, the SLURM one mostly waiting on the scheduler, they use the time the tests
before this module leave idle.

A submission sbatch refuses (a request above the node, forced with --set-resources and no
cap) ends the run with one readable line: the rule, what it asked for, the cap, the keys.

Fault test, in the finished SLURM run's folder with the GWAS outputs deleted: a job
redoing them is cancelled with scancel while the GWAS runs; Snakemake reports it and
resubmits it with more memory; SIGINT then stops the run and cancels its jobs; the
half-done outputs are not taken as done (a dry run schedules them again); a rerun
completes with outputs identical to the local run.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import NO_SLURM, background_run, popen_tracked
from smk_rules import parse_rules, rule_names

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "slurm-localhost.sh"
CALL_VCFS = ["results/calls/all.filtered.vcf.gz", "results/calls/all.pass.vcf.gz"]
IMPUTED = "results/genotypes/imputed.vcf.gz"
RUN_TIMEOUT = 3600  # per snakemake run of the whole default workflow (seconds)
WAIT_TIMEOUT = 600  # for one event of the fault test
#: Seconds before the plugin's first status check (needs MinJobAge >= 3x this).
INIT_SECONDS = 1
#: Test-only grouping (scheduling speed): rules of these workflow/rules files -> group
#: (checkpoints stay out). A group job is one connected component of its rules' jobs: the
#: reference preparation, all work of one sample (trim, map, merge, mark duplicates,
#: stats), the joint calling of all regions with everything after it, the panel (genotype
#: QC, imputation, PLINK, GWAS), the census, genomic selection and omics each become one
#: SLURM job (or a few: Snakemake splits a group whose jobs become ready at different
#: times): ~25 jobs instead of ~160.
TEST_GROUPS = {
    "reference.smk": "reference",
    "trim.smk": "sample_bam",
    "align.smk": "sample_bam",
    "call.smk": "joint_calls",
    "qc.smk": "joint_calls",
    "genotypes.smk": "panel",
    "gwas.smk": "panel",
    "census.smk": "census",
    "gs.smk": "gs",
    "omics.smk": "omics",
}
#: Connected parts of a test group that one SLURM job runs (one per stage: each job
#: costs a Snakemake start-up inside it, and the node runs two jobs at a time).
GROUP_COMPONENTS = 100
#: Rules whose jobs exist only once a checkpoint has run (the census shard scans and their
#: gathers) stay out of the test groups: Snakemake (9.27) replaces such grouped jobs after
#: they finished and counts them twice ("161 of 158 steps"); now and then a later dry run
#: then plans the gathers again (snakemake#4202). The cluster profile groups none of them.
AFTER_CHECKPOINT = {
    name for name, info in parse_rules().items() if "CENSUS_SHARD_PLAN" in info.get("input", "")
}
#: Settings of both runs on top of the default config: one census shard (all chromosomes
#: packed together) keeps those ungrouped jobs few; fewer admixture K, GS repeats and MCMC
#: iterations (the costliest jobs) make the runs shorter. Every rule still runs.
RUN_CONFIG = {
    "census": {"scatter_min_snps": 10**9, "k_max": 3, "cv_folds": 2},
    "gs": {"repeats": 1, "iterations": 300, "burn_in": 100},
}
#: Samples whose reads both runs process (the first of the default sheet, one of them with
#: two lanes): every read rule still runs (trim, map, merge of lanes, duplicate marking,
#: stats, joint calling), on a third of the 12 samples. In a SLURM job every rule is one
#: Snakemake start-up (~3 CPU-s); the other eight samples' 44 jobs repeated only that. The
#: genotype panel, and so every later stage, is the default run's.
READ_SAMPLES = 4
#: Environment variables of the cap (breedomics.resources.CAP_VARS).
CAP_VARS = ("BREEDOMICS_MAX_MEM_MB", "BREEDOMICS_MAX_THREADS", "BREEDOMICS_MAX_RUNTIME")


# --- helpers -------------------------------------------------------------------------


def tool_env() -> dict[str, str]:
    """PATH with the venv first; no outside profile or account settings leaking in."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for var in (
        "SNAKEMAKE_PROFILE",
        "BREEDOMICS_SLURM_ACCOUNT",
        "BREEDOMICS_SLURM_PARTITION",
        "SLURM_JOB_ID",
        *CAP_VARS,
    ):
        env.pop(var, None)
    return env


def cluster_env() -> dict[str, str]:
    """``tool_env()`` plus the cap a user sets for this node (see module doc)."""
    cpus, mem = node_size()
    return dict(
        tool_env(),
        BREEDOMICS_MAX_MEM_MB=str(mem),
        BREEDOMICS_MAX_THREADS=str(job_threads()),
    )


def speed_args() -> list[str]:
    """Command-line options for scheduling speed only (see module doc)."""
    with open(REPO / "cluster" / "config.yaml") as fh:
        groups = dict(yaml.safe_load(fh).get("groups") or {})
    for smk, group in TEST_GROUPS.items():
        for rule in rule_names(smk, checkpoints=False) - AFTER_CHECKPOINT:
            groups[rule] = group
    return [
        f"--slurm-init-seconds-before-status-checks={INIT_SECONDS}",
        "--latency-wait=5",
        "--slurm-keep-successful-logs",
        "--groups",
        *(f"{rule}={group}" for rule, group in sorted(groups.items())),
        # every connected part of a test group in one job (e.g. all samples' BAMs)
        "--group-components",
        *(f"{group}={GROUP_COMPONENTS}" for group in sorted(set(TEST_GROUPS.values()))),
    ]


def slurm_snakemake(*args: str) -> list[str]:
    """``snakemake --profile cluster`` with the speed options."""
    return snakemake("--profile", "cluster", *speed_args(), *args)


def checkout_files() -> list[str]:
    """Tracked files plus untracked files that are not ignored (as `git ls-files`)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({f for f in out.split("\0") if f and (REPO / f).is_file()})


def copy_checkout(dest: Path) -> Path:
    """Copy the checkout to ``dest`` with the default run's test data."""
    for rel in checkout_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    cfg = default_config(dest)
    for section, keys in RUN_CONFIG.items():
        cfg[section].update(keys)
    with open(dest / "config" / "config.yaml", "w") as fh:
        yaml.safe_dump(cfg, fh, sort_keys=False)
    data = (dest / cfg["samples"]).parent
    if not (data / "samples.tsv").exists():
        src = REPO / data.relative_to(dest)
        if src.is_dir():
            shutil.copytree(src, data, dirs_exist_ok=True)
        else:  # not generated in the checkout yet: make it (deterministic, ~20 s)
            subprocess.run(
                [
                    sys.executable,
                    str(dest / "scripts" / "make_test_data.py"),
                    "--outdir",
                    str(data.parent),
                    "--species",
                    data.name,
                ],
                cwd=dest,
                check=True,
                capture_output=True,
                env=tool_env(),
            )
    subset_reads(dest, cfg, READ_SAMPLES)
    return dest


def subset_reads(root: Path, cfg: dict, n: int) -> None:
    """Point the run at the first ``n`` samples of its sample sheet and all their lanes
    (copies of the sheets' rows)."""
    keep: list[str] = []
    for key in ("samples", "units"):
        header, *rows = (root / cfg[key]).read_text().splitlines(keepends=True)
        keep = keep or [row.split("\t", 1)[0] for row in rows[:n]]
        rows = [row for row in rows if row.split("\t", 1)[0] in keep]
        assert len({row.split("\t", 1)[0] for row in rows}) == n, (key, keep)
        if key == "units":
            assert len(rows) > n, "no sample with two lanes among the kept ones"
        # beside the original: a sheet's relative paths are read from its folder
        subset = Path(cfg[key]).with_name(f"{key}.first{n}.tsv")
        (root / subset).write_text(header + "".join(rows))
        cfg[key] = str(subset)
    with open(root / "config" / "config.yaml", "w") as fh:
        yaml.safe_dump(cfg, fh, sort_keys=False)


def default_config(root: Path) -> dict:
    with open(root / "config" / "config.yaml") as fh:
        return yaml.safe_load(fh)


def gwas_summaries(root: Path) -> list[str]:
    cfg = default_config(root)
    if not (cfg.get("gwas") or {}).get("enabled"):
        return []
    return [f"results/gwas/{m}/summary.{m}.tsv" for m in cfg["gwas"]["models"]]


def targets(root: Path) -> list[str]:
    """What the SLURM and the local run build: the default target (see module doc)."""
    return []


def job_threads() -> int:
    """Threads per job in both runs: half the node, so that SLURM runs two jobs at a time.

    Most of a SLURM job's time is single-threaded Snakemake start-up (one per rule in it),
    and the plugin polls ever more slowly while no job ends; two jobs side by side keep
    the node busy and the polling fast. The local run gets the same cap (same threads,
    same results).
    """
    return max(1, node_size()[0] // 2)


def node_size() -> tuple[int, int]:
    """(CPUs, RealMemory MB) of the smallest node SLURM offers."""
    out = subprocess.run(
        ["sinfo", "--noheader", "--format=%c %m"], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    sizes = [tuple(int(v.rstrip("+")) for v in line.split()) for line in out if line.strip()]
    return min(sizes)


def min_job_age() -> int | None:
    out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True).stdout
    m = re.search(r"^MinJobAge\s*=\s*(\d+)", out, re.M)
    return int(m.group(1)) if m else None


#: ``cmd`` with SIGINT at its default: a shell starting pytest in the background (`cmd &`)
#: leaves SIGINT ignored, children inherit that, and Snakemake must get SIGINT to cancel
#: its SLURM jobs. An exec wrapper, not a preexec_fn: that makes Python fork() instead of
#: vfork(), and OpenBLAS's fork handler then stops its threads under a running product.
_DEFAULT_SIGINT = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execvp(sys.argv[1], sys.argv[1:])",
]


def start(
    cmd: list[str], cwd: Path, log: Path, env: dict | None = None, nice: bool = False
) -> subprocess.Popen:
    with open(log, "w") as fh:
        return popen_tracked(
            [*_DEFAULT_SIGINT, *cmd],
            nice=nice,
            signals=True,  # SIGINT in test_scancel_and_sigint_then_rerun_matches_local
            cwd=cwd,
            env=env or tool_env(),
            stdout=fh,
            stderr=subprocess.STDOUT,
            text=True,
        )


def finish(proc: subprocess.Popen, log: Path, timeout: float = RUN_TIMEOUT) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # lets a SLURM run cancel its jobs
        proc.wait(timeout=120)
        raise AssertionError(f"{proc.args} timed out; log: {log}\n{tail(log)}") from None


def run_ok(cmd: list[str], cwd: Path, log: Path, env: dict | None = None) -> None:
    rc = finish(start(cmd, cwd, log, env=env), log)
    assert rc == 0, f"{' '.join(cmd)} failed in {cwd}:\n{tail(log)}"


def dry_run(root: Path, name: str) -> str:
    log = root / name
    rc = finish(
        start(slurm_snakemake("--dry-run", *targets(root)), root, log, env=cluster_env()), log
    )
    assert rc == 0, tail(log)
    return log.read_text()


def assert_steps_counted_once(text: str) -> None:
    """No job reported done twice (Snakemake's "n of m steps" never above m)."""
    over = [(d, t) for d, t in re.findall(r"(\d+) of (\d+) steps", text) if int(d) > int(t)]
    assert not over, f"jobs counted twice: {over[-1][0]} of {over[-1][1]} steps"


def tail(path: Path, n: int = 6000) -> str:
    return path.read_text(errors="replace")[-n:]


def snakemake(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", *args]


def slurm_jobs(workdir: Path, after: int = 0) -> list[dict]:
    """Jobs SLURM still remembers (MinJobAge) that ran in ``workdir``, oldest first.

    Only jobs with ids above ``after`` (SLURM's job ids grow).
    """
    out = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%j|%T|%m|%C|%Z|%k"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    jobs = []
    for line in out.splitlines():
        jobid, name, state, mem, cpus, wd, comment = line.split("|", 6)
        if int(jobid) > after and Path(wd).resolve() == workdir.resolve():
            jobs.append(
                {
                    "id": int(jobid),
                    "name": name,
                    "state": state,
                    "mem": mem,
                    "cpus": int(cpus),
                    "comment": comment,
                }
            )
    return sorted(jobs, key=lambda j: j["id"])


def last_job_id() -> int:
    out = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return max((int(i) for i in out if i.isdigit()), default=0)


def executed_rules(log: Path) -> list[str]:
    """Rule of every job a run executed, from its log."""
    return re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):", log.read_text(), re.M)


def mem_mb(squeue_mem: str) -> int:
    """squeue's MIN_MEMORY (e.g. 4017M, 8G) in MB."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", squeue_mem.strip())
    assert m, squeue_mem
    scale = {"K": 1 / 1024, "M": 1, "": 1, "G": 1024, "T": 1024**2}[m.group(2)]
    return int(float(m.group(1)) * scale)


def slurm_log(root: Path, jobid: int) -> Path | None:
    logs = list((root / ".snakemake" / "slurm_logs").rglob(f"{jobid}.log"))
    assert len(logs) <= 1, f"SLURM logs of job {jobid}: {logs}"
    return logs[0] if logs else None


def rules_in_slurm_job(root: Path, jobid: int) -> list[str]:
    """Rules whose jobs ran inside SLURM job ``jobid`` (from its kept SLURM log)."""
    log = slurm_log(root, jobid)
    assert log is not None, f"no SLURM log of job {jobid}"
    return executed_rules(log)


def vcf_records(path: Path) -> list[str]:
    out = subprocess.run(
        ["bcftools", "view", "-H", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return out.splitlines()


def table_text(path: Path) -> str:
    """A (possibly bgzipped) table's text."""
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode()


def result_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in (root / "results").rglob("*") if p.is_file()}


def result_tables(root: Path) -> list[str]:
    """Every table the run wrote (TSV, bgzipped or not), except wall-clock timings."""
    return sorted(
        p
        for p in result_files(root)
        if p.endswith((".tsv", ".tsv.gz")) and not p.endswith("timing.tsv")
    )


def snapshot_outputs(root: Path, dest: Path) -> Path:
    """What ``assert_same_outputs`` compares (every result file), kept under ``dest``.

    Hard links (a copy across file systems): a rerun replaces an output by a new file
    (Snakemake removes a job's outputs before it runs), so the kept ones stay as they were.
    """
    for rel in result_files(root):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(root / rel, dest / rel)
        except OSError:
            shutil.copy2(root / rel, dest / rel)
    return dest


def assert_same_outputs(slurm_root: Path, local_root: Path) -> None:
    """VCF records and every table equal; the same result files exist."""
    for rel in [*CALL_VCFS, IMPUTED]:
        local = vcf_records(local_root / rel)
        assert local, f"local run wrote no records to {rel}"
        assert (slurm_root / rel).is_file(), f"SLURM run lacks {rel}"
        assert vcf_records(slurm_root / rel) == local, f"{rel}: records differ from local run"
    tables = result_tables(local_root)
    for stage in ("census", "gwas", "gs", "omics", "genotypes"):
        assert any(t.startswith(f"results/{stage}/") for t in tables), (stage, tables)
    assert set(gwas_summaries(local_root)) <= set(tables)
    differ = [rel for rel in tables if table_text(slurm_root / rel) != table_text(local_root / rel)]
    assert not differ, f"tables differ from the local run: {differ}"
    assert result_files(slurm_root) == result_files(local_root)


# --- fixtures ------------------------------------------------------------------------


def _cluster_up() -> bool:
    if not shutil.which("scontrol") or not shutil.which("sinfo"):
        return False
    if subprocess.run(["scontrol", "ping"], capture_output=True).returncode != 0:
        return False
    states = subprocess.run(
        ["sinfo", "--noheader", "--format=%T"], capture_output=True, text=True
    ).stdout.split()
    return any(s.rstrip("*~#") in ("idle", "mixed", "allocated", "completing") for s in states)


#: Whether this session started the cluster (then the module stops it at its end).
_STARTED: list[bool] = []
_CLUSTER_LOCK = threading.Lock()


def ensure_cluster() -> None:
    """A usable cluster, started with ``slurm-localhost.sh`` if needed (root); else a skip."""
    with _CLUSTER_LOCK:
        if not _cluster_up():
            if os.geteuid() != 0:
                pytest.skip(
                    "no running SLURM cluster, and starting one (scripts/slurm-localhost.sh "
                    "start: apt-get install slurm-wlm munge, start the daemons) needs root"
                )
            if not shutil.which("apt-get") and not shutil.which("slurmctld"):
                pytest.skip("SLURM is not installed and apt-get is unavailable to install it")
            proc = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True)
            assert proc.returncode == 0, f"slurm-localhost.sh start failed:\n{proc.stderr}"
            _STARTED.append(True)
            assert _cluster_up(), "slurm-localhost.sh start returned but no node is usable"
        age = min_job_age()
        if age is None or age < 3600:  # the squeue history must cover a whole run
            pytest.skip(f"cluster forgets finished jobs after {age} s (MinJobAge < 3600)")


@pytest.fixture(scope="module")
def slurm_cluster():
    ensure_cluster()
    yield
    if _STARTED:
        subprocess.run([str(SCRIPT), "stop"], capture_output=True)
        # the stopped cluster leaves no slurm.conf naming a dead controller: scontrol (run
        # by Snakemake's SLURM plugin at every start) fails at once instead of after ~9 s
        t0 = time.monotonic()
        subprocess.run(["scontrol", "show", "config"], capture_output=True, timeout=30)
        assert time.monotonic() - t0 < 3, "scontrol waits on the stopped cluster's config"


@background_run("slurm_profile_run", early=True)
def _slurm_profile_run(root: Path, nice: bool) -> dict:
    """``snakemake --profile cluster`` on a copy, cap set, then the fault sequence there.

    Started in the background at the start of the session (conftest.background_run),
    cluster included: the run mostly waits on the scheduler (submission, polling, job
    start-up), time in which the tests before this module run. What the first run left
    (its log, its SLURM jobs, a copy of its tables and VCFs, a dry run after it) is kept
    before the fault sequence (``_fault_sequence``) runs in the same folder, also in the
    background (it mostly waits on SLURM events); the tests check both.
    """
    ensure_cluster()
    copy_checkout(root)
    log = root / "snakemake.log"
    before = last_job_id()
    run_ok(slurm_snakemake(*targets(root)), root, log, env=cluster_env())
    first = {
        "root": root,
        "log": log,
        "jobs": slurm_jobs(root, after=before),
        "outputs": snapshot_outputs(root, root / "first_run"),
        "again": dry_run(root, "again.log"),
    }
    try:
        fault = _fault_sequence(root, nice)
    except Exception as exc:  # noqa: BLE001 - raised by the fault test, not the first one
        fault = exc
    return {"first": first, "fault": fault}


@background_run(
    "slurm_local_reference",
    "test_slurm",
    "test_genotype_workflow",
    "test_report",
    "test_snakemake_report",
    early=True,
)
def _local_reference(root: Path, nice: bool, threads: int | None = None):
    """The reference: the same targets, run locally; (root, rules it ran, threads per job).

    The default run (with ``RUN_CONFIG``) on this machine, also the run whose report
    test_report.py checks. Started in the background at the start of the session
    (conftest.background_run), before the cluster is up: the threads per job are then
    those of a node of this machine's size (what ``slurm-localhost.sh`` starts);
    ``local_run`` checks them.
    """
    if threads is None:
        threads = job_threads() if _cluster_up() else max(1, len(os.sched_getaffinity(0)) // 2)
    copy_checkout(root)
    log = root / "snakemake.log"
    # a local run: no SLURM (see conftest.NO_SLURM)
    proc = start(
        # the node's threads per job, two jobs at a time as on the node
        snakemake("--cores", str(2 * threads), "--max-threads", str(threads), *targets(root)),
        root,
        log,
        env=dict(tool_env(), **NO_SLURM),
        nice=nice,
    )
    # in the background it may wait long for CPU time while tests run
    rc = finish(proc, log, timeout=RUN_TIMEOUT * (3 if nice else 1))
    assert rc == 0, f"local run failed in {root}:\n{tail(log)}"
    return root, executed_rules(log), threads


@pytest.fixture(scope="module")
def local_run(slurm_cluster, background, tmp_path_factory):
    """The reference run (see ``_local_reference``), with the cluster's threads per job.

    Returns a function that waits for it and gives (root, rules it ran). If it has not
    finished yet, it runs on at normal priority beside the SLURM run from now on.
    """
    background.prioritise("slurm_local_reference")
    cache: list[tuple[Path, list[str]]] = []

    def result() -> tuple[Path, list[str]]:
        if not cache:
            root, rules, threads = background.result("slurm_local_reference")
            if threads != job_threads():  # another node size than guessed: run it again
                root, rules, threads = _local_reference(
                    tmp_path_factory.mktemp("local"), False, job_threads()
                )
            cache.append((root, rules))
        return cache[0]

    return result


@pytest.fixture(scope="module")
def slurm_runs(slurm_cluster, local_run, background) -> dict:
    """The SLURM run and its fault sequence (see ``_slurm_profile_run``)."""
    return background.result("slurm_profile_run")


# --- tests ---------------------------------------------------------------------------


def test_profile_run_on_slurm_matches_local(slurm_runs, local_run):
    first = slurm_runs["first"]
    root, log, jobs = first["root"], first["log"], first["jobs"]
    local_root, local_rules = local_run()

    text = log.read_text()
    submitted = {int(i) for i in re.findall(r"submitted with SLURM jobid (\d+)", text)}
    assert submitted, "snakemake did not report any SLURM submission"
    assert {j["id"] for j in jobs} == submitted, "scheduler history and snakemake disagree"
    assert all(j["state"] == "COMPLETED" for j in jobs), jobs
    assert len({j["name"] for j in jobs}) == 1, "jobs of one run share the run id as name"

    ran: set[str] = set()
    for job in jobs:
        ran.update(rules_in_slurm_job(root, job["id"]))
    # the target rule `all` runs on the submit host (a local rule), every other in SLURM
    assert ran == set(local_rules) - {"all"}, "SLURM jobs ran other rules than the local run"
    assert "localrule all:" in text
    assert_steps_counted_once(text)
    # a group job's comment is rule_<group>_<its rules>
    for group in set(TEST_GROUPS.values()):
        assert any(j["comment"].startswith(f"rule_{group}_") for j in jobs), (group, jobs)
    # every request within the cap (the node): memory and CPUs
    cpus, node_mem = node_size()
    too_big = [j for j in jobs if mem_mb(j["mem"]) > node_mem or j["cpus"] > job_threads()]
    assert not too_big, f"jobs above the cap {node_mem} MB, {job_threads()} CPUs: {too_big}"
    # one job per sample and a few more (Snakemake may split a group whose jobs become
    # ready at different times, e.g. the reference around the regions checkpoint)
    assert len(jobs) <= len(local_rules) // 3, f"{len(jobs)} SLURM jobs: groups not used?"

    assert_same_outputs(first["outputs"], local_root)
    assert "Nothing to be done" in first["again"], first["again"][-3000:]


def test_refused_submission_is_one_readable_line(slurm_cluster, tmp_path):
    """Without a cap, a request above every node is refused; the run ends saying how to fix it.

    The request is forced with --set-resources (the rules' own estimates for the test data
    are small); with ``retries`` the refused job is retried, and the line is printed once.
    """
    root = copy_checkout(tmp_path / "refused")
    _, node_mem = node_size()
    asked = 10 * node_mem
    log = root / "snakemake.log"
    proc = start(
        snakemake(
            "--profile",
            "cluster",
            f"--slurm-init-seconds-before-status-checks={INIT_SECONDS}",
            "results/reference/genome.fa.bwt",
            "--set-resources",  # last: it takes every argument after it
            f"build_bwa_index:mem_mb={asked}",
        ),
        root,
        log,
    )
    assert finish(proc, log, timeout=300) != 0, tail(log)
    text = log.read_text()
    assert "SLURM sbatch failed" in text, tail(log)  # the plugin's own report (sbatch call)
    lines = [ln for ln in text.splitlines() if ln.startswith("sbatch refused")]
    assert len(lines) == 1, lines
    assert lines[0].startswith("sbatch refused rule build_bwa_index:"), lines[0]
    assert f"mem_mb={asked} (cap BREEDOMICS_MAX_MEM_MB=unset)" in lines[0], lines[0]
    assert "BREEDOMICS_MAX_MEM_MB" in lines[0] and len(lines[0]) < 600, lines[0]


def _wait(predicate, what: str, proc: subprocess.Popen, log: Path):
    end = time.monotonic() + WAIT_TIMEOUT
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"snakemake ended before {what}:\n{tail(log)}")
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    raise AssertionError(f"timed out waiting for {what}:\n{tail(log)}")


def _fault_sequence(root: Path, nice: bool) -> dict:
    """Faults in the finished SLURM run's folder; what happened, for the fault test.

    In that folder (a copy elsewhere would rerun everything: rules take absolute input
    paths), one GWAS model is redone (its scan and annotation: one SLURM job); the job is
    cancelled with scancel while the GWAS runs, and its resubmission (more memory) is
    stopped with SIGINT; then a dry run and a rerun.
    """
    shutil.rmtree(root / "results" / "gwas" / "mlm")
    log = root / "fault.log"
    before = last_job_id()
    proc = start(slurm_snakemake(*targets(root)), root, log, env=cluster_env(), nice=nice)

    def gwas_running(after: int = before, like: dict | None = None):
        """A GWAS job (or a retry of ``like``: same comment, more memory), once it runs."""
        for j in slurm_jobs(root, after=after):
            if j["state"] != "RUNNING" or not j["comment"].startswith("rule_panel_"):
                continue
            if like and (
                j["comment"] != like["comment"] or mem_mb(j["mem"]) <= mem_mb(like["mem"])
            ):
                continue
            slog = slurm_log(root, j["id"])
            if slog and "rule run_gwas:" in slog.read_text(errors="replace"):
                return j
        return None

    try:
        # 1. scancel a job mid-run; 2. SIGINT (not SIGTERM) once its retry runs
        victim = _wait(gwas_running, "a GWAS running in a SLURM job", proc, log)
        time.sleep(1)
        subprocess.run(["scancel", str(victim["id"])], check=True)
        retry = _wait(
            lambda: gwas_running(victim["id"], victim), "the resubmitted job running", proc, log
        )
        text = log.read_text()
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        finish(proc, log, timeout=300)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=120)
    end = time.monotonic() + 60
    while (
        left := [j for j in slurm_jobs(root, before) if j["state"] in ("RUNNING", "PENDING")]
    ) and (time.monotonic() < end):
        time.sleep(1)
    states = {j["id"]: j["state"] for j in slurm_jobs(root, before)}
    # 3. what a dry run plans then; 4. a rerun, and a dry run after it
    planned = planned_rules(dry_run(root, "dryrun.log"))
    rerun_log = root / "rerun.log"
    rerun_rc = finish(
        start(slurm_snakemake(*targets(root)), root, rerun_log, env=cluster_env()), rerun_log
    )
    return {
        "victim": victim,
        "retry": retry,
        "text": text,
        "returncode": proc.returncode,
        "left": left,
        "states": states,
        "planned": planned,
        "rerun": (rerun_rc, tail(rerun_log)),
        "again": dry_run(root, "again_after_rerun.log") if rerun_rc == 0 else "",
    }


def test_scancel_and_sigint_then_rerun_matches_local(slurm_runs, local_run):
    """scancel: reported and resubmitted with more memory; SIGINT: the run stops and
    cancels its jobs; half-done outputs are not taken as done; a rerun matches local."""
    fault = slurm_runs["fault"]
    if isinstance(fault, BaseException):
        raise fault
    root = slurm_runs["first"]["root"]
    local_root, _ = local_run()
    victim, retry, text = fault["victim"], fault["retry"], fault["text"]
    assert f"/{victim['id']}.log (check log file" in text, "failure not reported"
    assert re.search(rf"JOB {victim['id']} ON \S+ CANCELLED", text), "cause not shown"
    assert "Trying to restart job" in text
    assert fault["returncode"] != 0, "an interrupted run must not report success"
    assert not fault["left"], f"SIGINT left SLURM jobs behind: {fault['left']}"
    states = fault["states"]
    assert states[victim["id"]] == "CANCELLED" and states[retry["id"]] == "CANCELLED", states
    # nothing the cancelled jobs left behind counts as done
    assert "run_gwas" in fault["planned"], fault["planned"]
    # the rerun completes, with outputs identical to the local run, and leaves nothing to do
    rc, rerun_tail = fault["rerun"]
    assert rc == 0, f"rerun failed in {root}:\n{rerun_tail}"
    assert_same_outputs(root, local_root)
    assert "Nothing to be done" in fault["again"], fault["again"][-3000:]


def planned_rules(text: str) -> set[str]:
    """Rules of the jobs a dry run lists (indented when in a group job)."""
    return set(re.findall(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):", text, re.M))
