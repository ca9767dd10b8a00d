"""Profiles, per-rule resources and conda environments are complete (issue 6); no cluster.

* ``cluster/config.yaml`` (SLURM) and ``workflow/profiles/default/config.yaml`` (applied to
  every run) parse, the way Snakemake reads them (YTE templating included), and Snakemake
  resolves ``--profile cluster`` from the repository root and from ``~/.config/snakemake``;
* the workflow profile does not override what the SLURM run needs (cores would cap every
  job's threads, default-resources would drop account/partition);
* every rule the profiles name exists, every rule in ``workflow/rules`` declares threads,
  resources (mem_mb, runtime), log, benchmark and a conda env from ``envs/``, and gets
  cluster resources that grow with ``attempt``;
* every ``envs/*.yaml`` parses, uses only conda-forge/bioconda (and nodefaults) and pins
  every package to the version the tests run with.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
import yte
from conftest import NO_SLURM
from smk_rules import parse_rules

from breedomics.resources import MODELS, Inputs, estimate, measure

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "cluster" / "config.yaml"
DEFAULT = REPO / "workflow" / "profiles" / "default" / "config.yaml"
ENVS_DIR = REPO / "envs"
ALLOWED_CHANNELS = {"conda-forge", "bioconda", "nodefaults"}
ENV_VARS = (
    "BREEDOMICS_SLURM_ACCOUNT",
    "BREEDOMICS_SLURM_PARTITION",
    "BREEDOMICS_MAX_MEM_MB",
    "BREEDOMICS_MAX_THREADS",
    "BREEDOMICS_MAX_RUNTIME",
)
#: Rules that must ask for real-genome resources when given real-genome input:
#: rule -> (min threads in the profile, inputs, min mem_mb, min runtime) at attempt 1.
#: 30x pig: one lane ~50 GB of FASTQ, BAMs ~60 GB, a 2.5 Gb reference (bwa index ~4.4 GB).
HEAVY = {
    "map_reads": (8, {"reads_gb": 50, "index_gb": 4.4}, 16000, 720),
    "call_variants_region": (1, {"bam_gb": 1800, "region_bam_gb": 18}, 4000, 240),
    "mark_duplicates": (4, {"bam_gb": 60}, 2000, 240),
    "build_bwa_index": (1, {"fasta_gb": 2.5}, 5000, 60),
    "impute_genotypes:beagle": (8, {"vcf_gb": 10}, 30000, 240),
    # 1,200 x 5 M: exact MLM 4 min on 2 cores, peak 1.1 GB (docs/gwas-benchmarks.md)
    "run_gwas": (8, {"gcells": 1200 * 5e6 / 1e9, "mmarkers": 5, "ksamples2": 1.44}, 2000, 30),
}
#: Resources the SLURM plugin understands that a profile may set per rule.
KNOWN_RESOURCES = {
    "mem_mb",
    "runtime",
    "disk_mb",
    "slurm_partition",
    "slurm_account",
    "slurm_extra",
    "constraint",
    "qos",
}


# --- parsing helpers -----------------------------------------------------------------


def load_profile(path: Path, env: dict[str, str] | None = None) -> dict:
    """A profile as Snakemake sees it: YAML rendered by YTE (``__use_yte__``)."""
    saved = {k: os.environ.pop(k) for k in ENV_VARS if k in os.environ}
    os.environ.update(env or {})
    try:
        with open(path) as fh:
            return yte.process_yaml(fh, require_use_yte=True)
    finally:
        for k in env or {}:
            os.environ.pop(k, None)
        os.environ.update(saved)


RULES = parse_rules()


def evaluate(expr, attempt: int) -> int:
    value = eval(str(expr), {"attempt": attempt, "min": min, "max": max})  # noqa: S307
    assert isinstance(value, int | float), f"{expr!r} is not a number"
    return int(value)


# --- profiles ------------------------------------------------------------------------


def test_workflow_has_rules():
    assert len(RULES) >= 10, f"found only {sorted(RULES)} in workflow/rules"


def test_profiles_parse():
    cluster = load_profile(CLUSTER)
    default = load_profile(DEFAULT)
    assert isinstance(cluster, dict) and isinstance(default, dict)
    assert cluster["executor"] == "slurm"
    assert "executor" not in default


def test_cluster_profile_settings():
    p = load_profile(CLUSTER)
    assert isinstance(p["jobs"], int) and p["jobs"] >= 10
    assert p["latency-wait"] >= 30
    assert p["retries"] >= 1
    assert p["rerun-incomplete"] is True
    assert p["printshellcmds"] is True
    assert not p.get("use-conda"), "conda must be opt-in (--use-conda)"
    # no slurmdbd needed: squeue, with MinJobAge >= 3x the first-check delay
    assert p["slurm-status-command"] == "squeue"
    assert isinstance(p["slurm-init-seconds-before-status-checks"], int)
    res = p["default-resources"]
    # only for rules without an estimate: small enough for any cluster
    assert evaluate(res["mem_mb"], 1) <= 2000 and evaluate(res["runtime"], 1) <= 60
    assert "slurm_account" not in res and "slurm_partition" not in res


def test_account_and_partition_from_environment():
    env = {"BREEDOMICS_SLURM_ACCOUNT": "lab_acct", "BREEDOMICS_SLURM_PARTITION": "long"}
    res = load_profile(CLUSTER, env)["default-resources"]
    assert res["slurm_account"] == "lab_acct"
    assert res["slurm_partition"] == "long"
    assert "mem_mb" in res and "runtime" in res


def test_default_profile_is_safe_for_cluster_runs():
    p = load_profile(DEFAULT)
    # These keys of the workflow profile override --profile cluster on every run.
    for key in ("cores", "jobs", "default-resources", "set-threads", "set-resources"):
        assert key not in p, f"workflow profile must not set {key!r} (see its header)"
    assert p["rerun-incomplete"] is True
    assert p["printshellcmds"] is True
    assert p["keep-going"] is False
    assert p["show-failed-logs"] is True


def test_profile_rule_names_exist():
    p = load_profile(CLUSTER)
    named = set(p.get("set-threads", {})) | set(p.get("set-resources", {}))
    named |= set(p.get("groups", {}))
    missing = named - set(RULES)
    assert not missing, f"cluster profile names rules the workflow lacks: {sorted(missing)}"
    groups = set(p.get("groups", {}).values())
    assert not groups & set(RULES), "a group id equal to a rule name is confusing"
    checkpoints = {r for r, info in RULES.items() if info["__kind__"] == "checkpoint"}
    assert not checkpoints & set(p.get("groups", {})), "checkpoints must stay out of groups"


def test_rule_reader_sees_the_workflows_rules():
    """The text reader (smk_rules, `use rule` included) finds the rules Snakemake loads."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--list-rules"],
        cwd=REPO,
        env=dict(os.environ, **NO_SLURM),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    listed = set(re.findall(r"^(\w+)$", proc.stdout, re.M)) - {"all"}
    assert listed == set(RULES), (sorted(listed - set(RULES)), sorted(set(RULES) - listed))


def test_every_model_is_a_rule():
    """No model outlives its rule (a renamed rule would silently lose its estimate)."""
    stale = {name.split(":")[0] for name in MODELS} - set(RULES)
    assert not stale, f"MODELS in breedomics.resources name no rule: {sorted(stale)}"


def test_every_rule_estimates_its_resources():
    """Memory and run time come from the job's input (resources.smk), not the profile."""
    p = load_profile(CLUSTER)
    threads = p.get("set-threads", {})
    for rule, set_res in p.get("set-resources", {}).items():
        assert set(set_res) <= KNOWN_RESOURCES - {"mem_mb", "runtime"}, (
            f"{rule}: cluster/config.yaml sets {set(set_res)}; memory and run time are "
            "estimated from the input (workflow/rules/resources.smk)"
        )
    models = {name.split(":")[0] for name in MODELS}
    for rule, info in RULES.items():
        # the estimate of the job's rule (by name: a `use rule` one gets its own model)
        own = info.get("resources", "")
        assert "mem_mb=estimated_mem_mb" in own, f"{rule}: mem_mb not estimated"
        assert "runtime=estimated_runtime" in own, f"{rule}: runtime not estimated"
        assert rule in models, f"{rule}: no model in breedomics.resources.MODELS"
        if rule in threads:
            assert isinstance(threads[rule], int) and threads[rule] >= 1
    for rule, (min_threads, inputs, min_mem, min_runtime) in HEAVY.items():
        if rule.split(":")[0] not in RULES:
            continue
        n = threads.get(rule.split(":")[0], 1)
        assert n >= min_threads, f"{rule}: too few threads"
        req = estimate(MODELS[rule], Inputs(**inputs), threads=n)
        assert req["mem_mb"] >= min_mem, f"{rule}: too little memory for a real genome: {req}"
        assert req["runtime"] >= min_runtime, f"{rule}: too short for a real genome: {req}"
        again = estimate(MODELS[rule], Inputs(**inputs), threads=n, attempt=2)
        assert again["mem_mb"] > req["mem_mb"] and again["runtime"] > req["runtime"]


def test_thread_cap_sets_cores():
    """BREEDOMICS_MAX_THREADS caps every job's threads (Snakemake's --cores on a cluster)."""
    assert "cores" not in load_profile(CLUSTER)
    assert load_profile(CLUSTER, {"BREEDOMICS_MAX_THREADS": "2"})["cores"] == 2


def _parsed_args(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict:
    """Snakemake's own parse of ``argv`` (profiles included), run in ``cwd``."""
    code = (
        "import json, sys\n"
        "from snakemake.cli import parse_args\n"
        "_, a = parse_args(sys.argv[1:])\n"
        "keys = ['executor', 'cores', 'jobs', 'retries', 'latency_wait', 'rerun_incomplete',\n"
        "        'printshellcmds', 'show_failed_logs', 'keep_going', 'groups',\n"
        "        'slurm_status_command', 'slurm_init_seconds_before_status_checks']\n"
        "out = {k: getattr(a, k, None) for k in keys}\n"
        "out['default_resources'] = sorted((a.default_resources or {}).keys())\n"
        "out['set_threads'] = {r: t.value for r, t in (a.set_threads or {}).items()}\n"
        "out['set_resources'] = {r: sorted(v.keys()) for r, v in (a.set_resources or {}).items()}\n"
        "print(json.dumps(out, default=str))\n"
    )
    full_env = dict(os.environ, **NO_SLURM, **(env or {}))
    full_env.pop("SNAKEMAKE_PROFILE", None)
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], cwd=cwd, env=full_env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _check_cluster_args(a: dict) -> None:
    p = load_profile(CLUSTER)
    assert a["executor"] == "slurm"
    assert a["jobs"] == p["jobs"]
    assert a["retries"] == p["retries"]
    assert a["latency_wait"] == p["latency-wait"]
    assert {"mem_mb", "runtime"} <= set(a["default_resources"])
    assert a["set_threads"] == p["set-threads"]
    assert a["set_resources"] == {r: sorted(v) for r, v in p.get("set-resources", {}).items()}
    assert a["groups"] == p["groups"]
    assert a["slurm_status_command"] == "squeue"


def test_snakemake_resolves_cluster_profile_from_repo_root():
    a = _parsed_args(["--profile", "cluster"], REPO)
    _check_cluster_args(a)
    # The workflow profile is applied too; it must leave cores unset, or Snakemake caps
    # every SLURM job's threads at the submit host's CPU count.
    assert a["cores"] is None
    assert a["show_failed_logs"] is True and a["rerun_incomplete"] is True
    assert a["latency_wait"] >= 30


def test_installed_profile_works_from_any_folder(tmp_path):
    config_home = tmp_path / "config"
    shutil.copytree(REPO / "cluster", config_home / "snakemake" / "cluster")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"XDG_CONFIG_HOME": str(config_home), "HOME": str(tmp_path)}
    _check_cluster_args(_parsed_args(["--profile", "cluster"], elsewhere, env))


def test_dry_run_with_cluster_profile(tmp_path):
    """Snakemake accepts the profile's groups; the requests are the estimates, capped."""
    from test_slurm import copy_checkout, tool_env

    root = copy_checkout(tmp_path / "checkout")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "cluster", "--dry-run"],
        cwd=root,
        # a dry run submits nothing; the thread cap lowers the profile's 8 fastp threads
        env=dict(tool_env(), **NO_SLURM, BREEDOMICS_MAX_THREADS="4"),
        capture_output=True,
        text=True,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    # no "coroutine 'InputFiles._predicated_size_files...' was never awaited" from
    # Snakemake's own disk_mb default (snakemake issue #4280: the profile sets disk_mb)
    assert "never awaited" not in out, out[-3000:]
    jobs = re.findall(
        r"^rule trim_reads:\n    input: ([^\n]*)\n(?:    .*\n)*?    threads: (\d+)\n"
        r"    resources: ([^\n]*)",
        out,
        re.M,
    )
    assert jobs, out[-3000:]
    for inputs, threads, resources in jobs:
        assert int(threads) == 4, (threads, load_profile(CLUSTER)["set-threads"]["trim_reads"])
        req = estimate(MODELS["trim_reads"], measure(inputs.split(", ")), threads=4)
        got = dict(kv.split("=", 1) for kv in resources.split(", "))
        assert int(got["mem_mb"]) == req["mem_mb"], (req, resources)
        assert int(got["runtime"]) == req["runtime"], (req, resources)


def test_local_run_gets_workflow_profile():
    a = _parsed_args(["--cores", "2"], REPO)
    assert a["executor"] in (None, "local")
    assert a["cores"] == 2
    assert a["rerun_incomplete"] is True and a["printshellcmds"] is True
    assert a["keep_going"] is False


# --- rules ---------------------------------------------------------------------------


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_declares_resources_log_benchmark_conda(rule):
    info = RULES[rule]
    for key in ("threads", "resources", "log", "benchmark", "conda"):
        assert key in info, f"rule {rule} ({info['__file__']}) has no {key}:"
    assert re.search(r"\bmem_mb\s*=", info["resources"]), f"{rule}: resources lack mem_mb"
    assert re.search(r"\bruntime\s*=", info["resources"]), f"{rule}: resources lack runtime"
    m = re.fullmatch(r"[\"']([^\"']+)[\"'],?", info["conda"].strip())
    assert m, f"{rule}: conda: should name a YAML file, got {info['conda']!r}"
    env = (Path(info["__file__"]).parent / m.group(1)).resolve()
    assert env.parent == ENVS_DIR.resolve(), f"{rule}: conda env {env} not in envs/"
    assert env.is_file(), f"{rule}: conda env {env} missing"


# --- conda environments --------------------------------------------------------------

ENV_FILES = sorted(ENVS_DIR.glob("*.yaml"))

#: conda package -> (command, regex for its version in the command's output)
TOOL_VERSIONS = {
    "bcftools": (["bcftools", "--version"], r"^bcftools (\S+)"),
    "htslib": (["tabix", "--version"], r"\(htslib\) (\S+)"),
    "samtools": (["samtools", "--version"], r"^samtools (\S+)"),
    "bwa": (["bwa"], r"Version: ([\d.]+[a-z]?)"),
    "fastp": (["fastp", "--version"], r"fastp (\S+)"),
    "freebayes": (["freebayes", "--version"], r"v(\d[\d.]*)"),
    "multiqc": (["multiqc", "--version"], r"version (\S+)"),
    "gzip": (["gzip", "--version"], r"^gzip (\S+)"),
    "plink2": (["plink2", "--version"], r"v(\d[\w.]*)"),
    "gemma": (["gemma", "-v"], r"GEMMA (\d[\d.]*)"),
}


def test_envs_exist():
    assert ENV_FILES, f"no conda environments in {ENVS_DIR}"


def _pins(env_file: Path) -> list[tuple[str, str]]:
    with open(env_file) as fh:
        env = yaml.safe_load(fh)
    assert isinstance(env, dict), f"{env_file.name}: not a mapping"
    channels = env.get("channels") or []
    assert channels, f"{env_file.name}: no channels"
    assert set(channels) <= ALLOWED_CHANNELS, f"{env_file.name}: channels {channels}"
    assert channels[0] != "nodefaults" and "defaults" not in channels
    deps = env.get("dependencies") or []
    assert deps, f"{env_file.name}: no dependencies"
    pins = []
    for dep in deps:
        if isinstance(dep, dict):  # pip: [pkg==1.2]
            for pkg in dep.get("pip", []):
                m = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([\w.]+)", pkg)
                assert m, f"{env_file.name}: pip package {pkg!r} not pinned with =="
                pins.append((m.group(1).lower(), m.group(2)))
            continue
        m = re.fullmatch(r"(?:[\w-]+::)?([A-Za-z0-9_.\-]+)\s*==?\s*([\w.]+)(?:=\S+)?", dep)
        assert m, f"{env_file.name}: {dep!r} is not pinned (name=version)"
        pins.append((m.group(1).lower(), m.group(2)))
    return pins


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_env_parses_with_allowed_channels_and_pins(env_file):
    _pins(env_file)


def _installed_version(package: str) -> str | None:
    """Version of ``package`` as the tests use it (tools on PATH, the venv's Python)."""
    if package == "python":
        return ".".join(map(str, sys.version_info[:3]))
    if package in TOOL_VERSIONS:
        cmd, pattern = TOOL_VERSIONS[package]
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        exe = shutil.which(cmd[0], path=path)
        if exe is None:
            return None
        proc = subprocess.run([exe, *cmd[1:]], capture_output=True, text=True, errors="replace")
        m = re.search(pattern, proc.stdout + proc.stderr, re.M)
        return m.group(1) if m else None
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_match_tested_versions(env_file):
    wrong = []
    for package, pin in _pins(env_file):
        have = _installed_version(package)
        if have is not None and not (have == pin or have.startswith(pin + ".")):
            wrong.append(f"{package}: pinned {pin}, tests use {have}")
    assert not wrong, f"{env_file.name}: " + "; ".join(wrong)
