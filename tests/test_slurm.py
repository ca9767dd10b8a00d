"""The default workflow on a real SLURM scheduler (issue 6), against a local run.

A single-node cluster is started with ``scripts/slurm-localhost.sh start`` (root: installs
Debian's slurm-wlm and munge if needed) or an already running one is reused. Each test
copies the checkout (tracked plus untracked, not ignored files) into tmp_path and runs
exactly ``snakemake --profile cluster`` there. The copy's ``cluster/config.yaml`` is the
repository's profile with test-size changes only: memory capped so jobs fit the node,
``cores: <node CPUs>`` (caps threads and the width of group jobs as in the local run),
fast status polling, SLURM logs kept, and larger groups (each SLURM job costs ~7 s of
Snakemake start-up; see EXTRA_GROUPS).

Checks: the jobs ran as SLURM jobs (``squeue --states=all`` history has every job id
Snakemake reported, COMPLETED, in this working directory; the SLURM log of each job shows
which rules ran inside it, and together they cover every rule of the local run); the
final VCF records and any GWAS tables equal those of ``snakemake --cores <CPUs>`` on
another copy. Fault test: a job cancelled with scancel is resubmitted with more memory, a
run stopped with SIGINT cancels its jobs, and a rerun completes with identical call sets.
"""

from __future__ import annotations

import copy
import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "slurm-localhost.sh"
FINAL_VCFS = ["results/calls/all.filtered.vcf.gz", "results/calls/all.pass.vcf.gz"]
FINAL = [*FINAL_VCFS, "results/qc/multiqc_report.html"]
RUN_TIMEOUT = 3600  # per snakemake run; a busy 2-core machine needs ~30 min
#: Seconds before the plugin's first status check (needs MinJobAge >= 3x this).
INIT_SECONDS = 2
#: Test-only grouping (rules of these workflow/rules files -> group): all per-sample work
#: in one job, the genotype stage in one job, the census in one job. No group-components:
#: after the make_regions checkpoint, Snakemake 9.27 merged all components into one job.
EXTRA_GROUPS = {
    "trim.smk": "sample",
    "align.smk": "sample",
    "genotypes.smk": "genotypes",
    "census.smk": "census",
}
#: What the fault test builds: reads to the two call sets.
CALL_TARGETS = FINAL_VCFS


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
    ):
        env.pop(var, None)
    return env


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
    with open(dest / "config" / "config.yaml") as fh:
        cfg = yaml.safe_load(fh)
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
    return dest


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


def resize_profile(profile: dict, cpus: int, node_mem: int) -> dict:
    """The repository's SLURM profile, resized for the test node (see module doc)."""
    p = copy.deepcopy(profile)
    retries = int(p.get("retries", 0))
    # memory still grows with `attempt`, and the last retry still fits the node
    cap = max(node_mem // (cpus * (retries + 1)), 200)
    for res in [p.setdefault("default-resources", {}), *p.get("set-resources", {}).values()]:
        if "mem_mb" in res:
            res["mem_mb"] = f"min({res['mem_mb']}, {cap} * attempt)"
    # threads capped at the node's CPUs, as in the local run with --cores <CPUs>
    p["cores"] = cpus
    p["jobs"] = 2 * cpus
    p["slurm-keep-successful-logs"] = True
    p["latency-wait"] = 5
    p["slurm-init-seconds-before-status-checks"] = INIT_SECONDS
    groups = p.setdefault("groups", {})
    for smk, group in EXTRA_GROUPS.items():
        path = REPO / "workflow" / "rules" / smk
        if path.exists():
            for rule in re.findall(r"^rule (\w+):", path.read_text(), re.M):
                groups[rule] = group
    return p


def slurm_copy(dest: Path) -> Path:
    """A checkout copy whose ``cluster/config.yaml`` fits the test node."""
    copy_checkout(dest)
    prof_path = dest / "cluster" / "config.yaml"
    with open(prof_path) as fh:
        profile = yaml.safe_load(fh)
    cpus, mem = node_size()
    prof_path.write_text(yaml.safe_dump(resize_profile(profile, cpus, mem), sort_keys=False))
    return dest


def run(cmd: list[str], cwd: Path, log: Path) -> subprocess.CompletedProcess:
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=tool_env(), stdout=fh, stderr=subprocess.STDOUT, text=True
        )
        try:
            proc.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)  # lets a SLURM run cancel its jobs
            proc.wait(timeout=120)
            raise AssertionError(f"{cmd} timed out; log: {log}\n{tail(log)}") from None
    return subprocess.CompletedProcess(cmd, proc.returncode)


def tail(path: Path, n: int = 6000) -> str:
    return path.read_text(errors="replace")[-n:]


def snakemake(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", *args]


def run_ok(cmd: list[str], cwd: Path, log: Path) -> None:
    proc = run(cmd, cwd, log)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed in {cwd}:\n{tail(log)}"


def slurm_jobs(workdir: Path) -> list[dict]:
    """Jobs SLURM still remembers (MinJobAge) that ran in ``workdir``, oldest first."""
    out = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%j|%T|%m|%Z|%k"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    jobs = []
    for line in out.splitlines():
        jobid, name, state, mem, wd, comment = line.split("|", 5)
        if Path(wd).resolve() == workdir.resolve():
            jobs.append(
                {"id": int(jobid), "name": name, "state": state, "mem": mem, "comment": comment}
            )
    return sorted(jobs, key=lambda j: j["id"])


def executed_rules(log: Path) -> list[str]:
    """Rule of every job a run executed, from its log."""
    return re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):", log.read_text(), re.M)


def mem_mb(squeue_mem: str) -> int:
    """squeue's MIN_MEMORY (e.g. 4017M, 8G) in MB."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", squeue_mem.strip())
    assert m, squeue_mem
    scale = {"K": 1 / 1024, "M": 1, "": 1, "G": 1024, "T": 1024**2}[m.group(2)]
    return int(float(m.group(1)) * scale)


def rules_in_slurm_job(root: Path, jobid: int) -> list[str]:
    """Rules whose jobs ran inside SLURM job ``jobid`` (from its kept SLURM log)."""
    logs = list((root / ".snakemake" / "slurm_logs").rglob(f"{jobid}.log"))
    assert len(logs) == 1, f"SLURM log of job {jobid}: {logs}"
    return executed_rules(logs[0])


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


def assert_same_outputs(slurm_root: Path, local_root: Path) -> None:
    for rel in FINAL:
        assert (slurm_root / rel).is_file(), f"SLURM run lacks {rel}"
    for rel in FINAL_VCFS:
        local = vcf_records(local_root / rel)
        assert local, f"local run wrote no records to {rel}"
        assert vcf_records(slurm_root / rel) == local, f"{rel}: records differ from local run"
    assert result_files(slurm_root) == result_files(local_root)
    gwas = sorted(
        p
        for p in result_files(local_root)
        if p.startswith("results/gwas/") and p.endswith((".tsv", ".tsv.gz"))
    )
    for rel in gwas:
        assert table_text(slurm_root / rel) == table_text(local_root / rel), rel


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


@pytest.fixture(scope="session")
def slurm_cluster():
    started = False
    if not _cluster_up():
        if os.geteuid() != 0:
            pytest.skip(
                "no running SLURM cluster, and starting one (scripts/slurm-localhost.sh "
                "start: apt-get install slurm-wlm munge, daemons) needs root"
            )
        if not shutil.which("apt-get") and not shutil.which("slurmctld"):
            pytest.skip("SLURM is not installed and apt-get is unavailable to install it")
        proc = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True)
        assert proc.returncode == 0, f"slurm-localhost.sh start failed:\n{proc.stderr}"
        started = True
        assert _cluster_up(), "slurm-localhost.sh start returned but no node is usable"
    age = min_job_age()
    if age is None or age < 3600:  # the squeue history must cover a whole run
        pytest.skip(f"cluster forgets finished jobs after {age} s (MinJobAge < 3600)")
    yield
    if started:
        subprocess.run([str(SCRIPT), "stop"], capture_output=True)


@pytest.fixture(scope="module")
def local_run(slurm_cluster, tmp_path_factory):
    """The reference: the same checkout run locally, threads capped as on the node."""
    root = copy_checkout(tmp_path_factory.mktemp("local"))
    log = root / "snakemake.log"
    run_ok(snakemake("--cores", str(node_size()[0])), root, log)
    return root, executed_rules(log)


# --- tests ---------------------------------------------------------------------------


def test_profile_run_on_slurm_matches_local(slurm_cluster, local_run, tmp_path):
    local_root, local_rules = local_run
    root = slurm_copy(tmp_path / "slurm")
    log = root / "snakemake.log"
    run_ok(snakemake("--profile", "cluster"), root, log)

    text = log.read_text()
    submitted = {int(i) for i in re.findall(r"submitted with SLURM jobid (\d+)", text)}
    jobs = slurm_jobs(root)
    assert submitted, "snakemake did not report any SLURM submission"
    assert {j["id"] for j in jobs} == submitted, "scheduler history and snakemake disagree"
    assert all(j["state"] == "COMPLETED" for j in jobs), jobs
    assert len({j["name"] for j in jobs}) == 1, "jobs of one run share the run id as name"

    remote_rules = set(local_rules) - {"all"}
    ran = set()
    for job in jobs:
        ran.update(rules_in_slurm_job(root, job["id"]))
    assert ran == remote_rules, f"not run as SLURM jobs: {remote_rules - ran}"
    assert any(j["comment"].startswith("rule_sample_") for j in jobs), "no group job ran"
    assert len(jobs) < len(local_rules) - 1, "grouping did not reduce the number of jobs"

    assert_same_outputs(root, local_root)
    again = run(snakemake("--profile", "cluster", "--dry-run"), root, root / "again.log")
    assert again.returncode == 0 and "Nothing to be done" in tail(root / "again.log")


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen, log: Path):
    end = time.monotonic() + timeout
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


def test_scancel_and_sigint_then_rerun_matches_local(slurm_cluster, local_run, tmp_path):
    local_root, _ = local_run
    root = slurm_copy(tmp_path / "fault")
    log = root / "snakemake.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            snakemake("--profile", "cluster", *CALL_TARGETS),
            cwd=root,
            env=tool_env(),
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:
        # 1. scancel a running job: it fails as CANCELLED, is resubmitted with more memory
        def running_group_job():
            for j in slurm_jobs(root):
                if j["state"] == "RUNNING" and j["comment"].startswith("rule_sample_"):
                    return j
            return None

        victim = _wait(running_group_job, 900, "a running per-sample job", proc, log)
        time.sleep(3)  # mid-run: let it write some output first
        subprocess.run(["scancel", str(victim["id"])], check=True)

        def retried():
            for j in slurm_jobs(root):
                if (
                    j["id"] > victim["id"]
                    and j["comment"] == victim["comment"]
                    and mem_mb(j["mem"]) > mem_mb(victim["mem"])
                    and j["state"] == "COMPLETED"
                ):
                    return j
            return None

        _wait(retried, 1200, "the resubmitted job (more memory) to complete", proc, log)
        states = {j["id"]: j["state"] for j in slurm_jobs(root)}
        assert states[victim["id"]] == "CANCELLED", states[victim["id"]]
        text = log.read_text()
        assert f"/{victim['id']}.log (check log file" in text, "failure not reported"
        assert "Trying to restart job" in text

        # 2. SIGINT (not SIGTERM) stops the run and cancels its queued/running jobs
        def another_running():
            return any(j["state"] == "RUNNING" for j in slurm_jobs(root))

        _wait(another_running, 900, "another running job", proc, log)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=120)
    assert proc.returncode != 0, "an interrupted run must not report success"
    end = time.monotonic() + 60
    while time.monotonic() < end:
        left = [j for j in slurm_jobs(root) if j["state"] in ("RUNNING", "PENDING")]
        if not left:
            break
        time.sleep(1)
    assert not left, f"SIGINT left SLURM jobs behind: {left}"
    assert "CANCELLED" in {j["state"] for j in slurm_jobs(root) if j["id"] > victim["id"]}

    # 3. a rerun completes, with call sets identical to the local run
    rerun_log = root / "rerun.log"
    run_ok(snakemake("--profile", "cluster", *CALL_TARGETS), root, rerun_log)
    for rel in CALL_TARGETS:
        assert vcf_records(root / rel) == vcf_records(local_root / rel), rel
    again = run(
        snakemake("--profile", "cluster", "--dry-run", *CALL_TARGETS), root, root / "again.log"
    )
    assert again.returncode == 0 and "Nothing to be done" in tail(root / "again.log")
