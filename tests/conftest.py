"""Shared fixtures: run the workflow on a copy of one species' test data or of the panel.

Long workflow runs that module fixtures need (see ``background_run``) start at the start of
the session, in the background at the lowest CPU priority, three at a time, in the order the
selected tests need them: they then use the CPU time that the tests before them leave idle
(most tests are single-threaded, and a workflow run's chain of short jobs leaves the cores
idle much of the time). A fixture asking for a run that has not started yet runs it itself;
one asking for a run still in progress raises its priority back to normal and waits.
The runs and every check on them are the same as when run in the fixture.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
TEST_DATA = REPO / "test-data"


#: For a snakemake that uses no SLURM. snakemake-executor-plugin-slurm runs `scontrol show
#: config` (10 s timeout) whenever snakemake starts, whatever the executor; with SLURM
#: installed but its controller down (e.g. after tests/test_slurm.py stopped its cluster)
#: that waits ~9 s on every start. With an empty SLURM config scontrol fails at once.
NO_SLURM = {"SLURM_CONF": os.devnull}


def tool_env() -> dict[str, str]:
    """Environment of local runs: the venv's snakemake/breedomics first, no SLURM."""
    env = dict(os.environ, **NO_SLURM)
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
    curves = cfg.get("phenome", {}).get("curves", {})
    if curves.get("path"):  # the pig's weighings
        curves["path"] = str(data / Path(curves["path"]).name)
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
    workdir: Path,
    config: dict,
    *targets: str,
    extra: list[str] | None = None,
    check=False,
    nice: bool = False,
) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir`` with ``config`` written next to it.

    ``nice``: at the lowest CPU priority (a background run, see ``background_run``).
    """
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
    proc = run_tracked(cmd, nice=nice, env=tool_env(), cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


#: ``BREEDOMICS_TEST_CPU=file``: append "user sys wall owner" for every tracked command and
#: "test user sys wall nodeid" for every test (its own CPU and its untracked children's),
#: to find where the suite's CPU time goes (``scripts/test_cpu_report.py`` sums it).
_CPU_LOG = os.environ.get("BREEDOMICS_TEST_CPU")
_T0 = time.monotonic()


def _log_event(what: str, name: str) -> None:
    """With ``BREEDOMICS_TEST_CPU``: "bg <seconds since start> <what> <run>" (a timeline of
    the background runs: when each started, ended, and was waited for)."""
    if _CPU_LOG:
        with open(_CPU_LOG, "a") as fh:
            fh.write(f"bg {time.monotonic() - _T0:.1f} {what} {name}\n")


#: Child processes of background runs -> the run (stopped if the session ends first).
_CHILDREN: dict[subprocess.Popen, str | None] = {}
#: The background run that the current thread executes (``_JOB.name``).
_JOB = threading.local()
#: Background runs that a test waits for: their processes no longer get a low priority.
_BOOSTED: set[str] = set()


def popen_tracked(cmd, nice: bool = False, signals: bool = False, **kw) -> subprocess.Popen:
    """``subprocess.Popen``, at the lowest CPU priority if ``nice``, stopped at session end.

    ``signals``: the caller signals the process (never wrapped in ``time`` for
    ``BREEDOMICS_TEST_CPU``: GNU time ignores SIGINT; its CPU counts as its test's).
    """
    run = getattr(_JOB, "name", None)
    if nice and run not in _BOOSTED:
        # nice(1), not a preexec_fn os.nice: a preexec_fn makes Python fork() instead of
        # vfork(), and OpenBLAS's fork handler stops its thread pool in this process, which
        # hung a test's matrix product in the main thread for good (exec_blas spinning)
        cmd = ["nice", "-n", "19", *cmd]
    if _CPU_LOG and not signals:  # profile the suite: CPU seconds of each command, by run or test
        owner = run or os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
        cmd = ["/usr/bin/time", "-a", "-o", _CPU_LOG, "-f", f"%U %S %e {owner}", *cmd]
    proc = subprocess.Popen(cmd, **kw)
    _CHILDREN[proc] = run
    return proc


def run_tracked(cmd, nice: bool = False, **kw) -> subprocess.CompletedProcess:
    """``subprocess.run(cmd, capture_output=True, text=True, **kw)`` via ``popen_tracked``."""
    proc = popen_tracked(
        cmd, nice=nice, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
    )
    try:
        out, err = proc.communicate()
    finally:
        _CHILDREN.pop(proc, None)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def beside(fn: Callable, *args, **kwargs) -> Callable[[], object]:
    """Start ``fn(*args, **kwargs)`` in a thread; returns a function that waits for its value.

    Inside a background run the thread's commands belong to that run (niced with it, and
    given back their priority with it when a test waits for it).
    """
    run = getattr(_JOB, "name", None)
    box: dict[str, object] = {}

    def target() -> None:
        _JOB.name = run
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - raised in the caller by wait()
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def wait():
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["value"]

    return wait


def _boost(run: str) -> None:
    """Normal CPU priority for background run ``run``: a test waits for it now."""
    _BOOSTED.add(run)
    try:
        import psutil
    except ImportError:
        return
    for proc, owner in list(_CHILDREN.items()):
        if owner != run:
            continue
        try:
            top = psutil.Process(proc.pid)
            for p in [top, *top.children(recursive=True)]:  # parents first: new jobs inherit
                # a priority is per thread on Linux (Snakemake starts jobs from threads)
                for t in p.threads():
                    os.setpriority(os.PRIO_PROCESS, t.id, 0)
        except (psutil.Error, OSError):  # ended, or not root
            pass


# --- long runs started in the background at the start of the session ----------------

#: name -> (function(root, nice) -> value, names of the test modules that need it)
_BACKGROUND: dict[str, tuple[Callable[..., object], tuple[str, ...]]] = {}
#: Background runs that start first, whatever test needs them: runs that mostly wait
#: (on a scheduler), whose waiting the other tests fill.
_EARLY: set[str] = set()
#: name -> the runs it works on (it starts when they have ended)
_AFTER: dict[str, tuple[str, ...]] = {}


def background_run(name: str, *modules: str, early: bool = False, after: tuple[str, ...] = ()):
    """Register ``fn(root, nice) -> value`` as the background run ``name``.

    It is started at the start of the session when a test of ``modules`` (default: the
    module defining ``fn``) is selected, in the order the tests need them (``early``:
    before the others); ``root`` is a new temporary folder, ``nice`` says
    whether it runs in the background (then its processes should get the lowest CPU
    priority: pass it on to ``run_workflow`` or ``popen_tracked``). A fixture gets its
    value (or its exception, a skip included) with ``background.result(name)``.

    ``after``: runs whose results it works on (a copy of their folder, say); it starts
    when they have ended and is called ``fn(root, nice, *their values)``.
    """

    def register(fn):
        _BACKGROUND[name] = (fn, modules or (fn.__module__,))
        if early:
            _EARLY.add(name)
        _AFTER[name] = tuple(after)
        return fn

    return register


class BackgroundRuns:
    #: Four runs at a time on 2 cores: a run's chain of one-job steps and a run waiting on
    #: a scheduler leave a core idle that another run fills (they run niced below the
    #: tests). The two SLURM runs (``early``) hold two of them most of the session.
    WORKERS = 4

    def __init__(self, factory: pytest.TempPathFactory, names: list[str]):
        self._factory = factory
        self._order = names
        self._cond = threading.Condition()
        self._queued = set(_BACKGROUND)  # the workers take those in ``names`` only
        self._done = {n: threading.Event() for n in _BACKGROUND}
        self._value: dict[str, object] = {}
        self._error: dict[str, BaseException] = {}
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._work, name=f"background-{i}", daemon=True)
            for i in range(min(self.WORKERS, len(names)))
        ]
        for t in self._threads:
            t.start()

    def _claim(self, name: str) -> bool:
        with self._cond:
            if name in self._queued and not self._stopping:
                self._queued.discard(name)
                return True
        return False

    def _next(self) -> str | None:
        """The first queued run whose ``after`` runs have ended (waits for one), or None."""
        with self._cond:
            while not self._stopping:
                waiting = [n for n in self._order if n in self._queued]
                if not waiting:
                    return None
                for n in waiting:
                    if all(self._done[d].is_set() for d in _AFTER[n]):
                        self._queued.discard(n)
                        return n
                self._cond.wait()  # until a run ends
        return None

    def _work(self) -> None:
        while (name := self._next()) is not None:
            self._execute(name, nice=True)

    def _execute(self, name: str, nice: bool) -> None:
        fn, _ = _BACKGROUND[name]
        _JOB.name = name
        _log_event("start" if nice else "start-foreground", name)
        try:
            inputs = [self._get(d) for d in _AFTER[name]]
            self._value[name] = fn(self._factory.mktemp(name), nice, *inputs)
        except BaseException as exc:  # noqa: BLE001 - a skip or failure, raised in result()
            self._error[name] = exc
        finally:
            _JOB.name = None
            _log_event("end", name)
            with self._cond:
                self._done[name].set()
                self._cond.notify_all()

    def _get(self, name: str):
        if name in self._error:
            raise self._error[name]
        return self._value[name]

    def prioritise(self, name: str) -> None:
        """Normal CPU priority for run ``name`` from now on (next to start if queued)."""
        with self._cond:
            if name in self._order:
                self._order.remove(name)
                self._order.insert(0, name)
        _boost(name)

    def result(self, name: str):
        """The value of run ``name``: waits for it, or runs it now if not started yet."""
        if not self._done[name].is_set():
            for dep in _AFTER[name]:  # first those it works on (run now, or sped up)
                try:
                    self.result(dep)
                except BaseException:  # noqa: BLE001 - raised by the run itself
                    pass
        if self._claim(name):
            self._execute(name, nice=False)
        elif not self._done[name].is_set():  # running in the background: speed it up
            _log_event("wait", name)
            _boost(name)
        self._done[name].wait()
        return self._get(name)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        _stop_children()
        for t in self._threads:
            t.join(timeout=120)


def _stop_children(grace: float = 20.0) -> None:
    """Terminate the tracked processes still running at session end (a run that no
    selected test waited for), and kill those still there after ``grace`` seconds: a
    snakemake stopped mid-run this way was once left sleeping for good, orphaned."""
    alive = [proc for proc in list(_CHILDREN) if proc.poll() is None]
    for proc in alive:
        proc.terminate()
    deadline = time.monotonic() + grace
    for proc in alive:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


#: The order of the modules that read background runs (others of them after these): the
#: runs start in the order these need them, smaller first, so that a test waiting for one
#: leaves the cores to the runs after it, and the work the modules do themselves on top of
#: a run (reruns, follow-on runs) goes on beside the later runs. The SLURM runs, started
#: first (``early``), are needed last.
LAST_MODULES = (
    "test_gwas_permutation_workflow",
    "test_bam_entry",
    "test_genonorm_workflow",
    "test_calling_accuracy",
    "test_workflow",
    "test_genotype_workflow",
    "test_gwas_annotate_workflow",
    "test_gs_workflow",
    "test_omics_panel",
    "test_report",
    "test_snakemake_report",
    "test_slurm",
)


def pytest_collection_modifyitems(session, config, items):
    """Modules that read a background run go last, in the order of ``LAST_MODULES``
    (a stable sort: the other tests keep their order).

    Their runs start at the start of the session all the same; the other tests run first,
    beside them, instead of waiting for them (a waiting test leaves its core to the runs,
    but the tests after it then run alone at the end, on one core).
    """
    needing = {m for _, modules in _BACKGROUND.values() for m in modules}
    rank = {m: i for i, m in enumerate(LAST_MODULES)}

    def key(item) -> tuple[int, int]:
        mod = getattr(item.module, "__name__", None)
        return (0, 0) if mod not in needing else (1, rank.get(mod, len(rank)))

    items.sort(key=key)


@pytest.fixture(scope="session", autouse=True)
def background(request, tmp_path_factory):
    """Starts the registered runs that the selected tests need, first needed first."""
    first: dict[str, int] = {}
    for i, item in enumerate(request.session.items):
        mod = getattr(getattr(item, "module", None), "__name__", None)
        for name, (_, modules) in _BACKGROUND.items():
            if mod in modules:
                first.setdefault(name, i)
    for name in list(first):  # and the runs those work on, as early
        todo = list(_AFTER[name])
        while todo:
            dep = todo.pop()
            first[dep] = min(first.get(dep, first[name]), first[name])
            todo.extend(_AFTER[dep])
    # the session's base folder, made now: pytest makes it on first use, and workers
    # asking at once would each make one (then a mktemp check compares two of them)
    tmp_path_factory.getbasetemp()
    runs = BackgroundRuns(
        tmp_path_factory, sorted(first, key=lambda n: (n not in _EARLY, first[n]))
    )
    yield runs
    runs.stop()


def vcf_gt_strings(path: Path, ids=None) -> tuple[list[str], dict[str, tuple[str, str, list[str]]]]:
    """Sample names and, per record, (REF, ALT, GT strings), read as plain text.

    Independent of breedomics (no VCF library): records are keyed by ``CHROM:POS``, or by
    their ID when ``ids`` (a set of IDs) is given, and only those are kept.
    """
    samples: list[str] = []
    out: dict[str, tuple[str, str, list[str]]] = {}
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith("##"):
                continue
            f = line.rstrip("\n").split("\t")
            if line.startswith("#"):
                samples = f[9:]
                continue
            if ids is not None and f[2] not in ids:
                continue
            key = f[2] if ids is not None else f"{f[0]}:{f[1]}"
            out[key] = (f[3], f[4], [g.split(":")[0] for g in f[9:]])
    return samples, out


# --- the simulated soybean panel (genotype stage, no reads) --------------------------

PANEL = TEST_DATA / "soybean" / "panel"


def need_panel(*files: str) -> None:
    """Skip unless test-data/soybean/panel has its genotypes and ``files``."""
    for name in ("genotypes.vcf.gz", *files):
        if not (PANEL / name).exists():
            pytest.skip(f"{PANEL / name} missing: run scripts/make_test_data.py")


def copy_panel(root: Path, *needs: str) -> Path:
    """Copy test-data/soybean/panel to root/panel (skip when it or ``needs`` is missing)."""
    need_panel(*needs)
    shutil.copytree(PANEL, root / "panel")
    return root / "panel"


def panel_config(panel: Path, genotypes: dict | None = None, **sections) -> dict:
    """A config entering at the genotype stage with the panel copied to ``panel``.

    ``genotypes`` updates the ``genotypes`` section; other keyword arguments are
    top-level sections (``census``, ``gwas``, ``gs``, ``directions``).
    """
    cfg = {
        "samples": str(panel / "samples.tsv"),
        # no reference: a run from genotypes needs none (the reads' soybean reference
        # is another assembly than the panel's, which genotypes.reference names)
        "genome": {"mating": "inbred"},
        # Beagle's settings of the default run on this panel (config/config.yaml)
        "genotypes": {"source": "vcf", "path": str(panel / "genotypes.vcf.gz"),
                      "beagle": {"burnin": 1, "iterations": 4, "ne": 25000},
                      **(genotypes or {})},
    }  # fmt: skip
    cfg.update(sections)
    return cfg


#: Settings of the mean-imputed panel run that its tests check against.
GWAS_WINDOW = 20000  # gwas.candidate_window
GS_TOP = 15  # gs.selection.top
GS_CAP = 0.2  # gs.selection.max_kinship


def mean_panel_config(panel: Path) -> dict:
    """The panel, mean-imputed, through the census (scattered per chromosome), the scattered
    MLM GWAS + annotation and GS."""
    return panel_config(
        panel,
        genotypes={
            "impute": "mean",
            "reference": str(panel / "reference.fa.gz"),
            "gff3": str(panel / "annotation.gff3"),
        },
        # admixture (the slowest census job) only for K = 2, 3 (its accuracy: in
        # test_census_admixture.py); diversity, LD decay and ROH one job per chromosome
        census={"k_max": 3, "cv_folds": 2, "admixture_max_snps": 2000},
        gwas={
            "enabled": True,
            "phenotypes": str(panel / "phenotypes.tsv"),
            "models": ["mlm"],
            "candidate_window": GWAS_WINDOW,
            "chromosome_shards": 3,
            "traits_per_shard": 1,
        },
        directions={"height": "decrease"},
        gs={
            "enabled": True,
            "trials": str(panel / "trials.tsv"),
            # the block model (the default run's config maps row/col: the spatial model)
            "trial_columns": {"replicate": "block", "plot": "plot"},
            "traits": ["yield", "height"],
            "models": ["gblup", "bayesb"],
            "folds": 3,
            "repeats": 2,
            "iterations": 400,
            "burn_in": 100,
            "predict_models": ["gblup"],
            "selection": {"top": GS_TOP, "max_kinship": GS_CAP},
        },
    )


@background_run(
    "mean_panel",
    "test_genotype_workflow",
    "test_gs_workflow",
    "test_gwas_annotate_workflow",
    "test_omics_panel",
)
def _mean_panel_run(root: Path, nice: bool) -> tuple[Path, dict]:
    panel = copy_panel(root, "annotation.gff3", "trials.tsv")
    cfg = mean_panel_config(panel)
    run_workflow(root / "run", cfg, check=True, nice=nice)
    return root, cfg


@pytest.fixture(scope="session")
def mean_panel_run(background) -> tuple[Path, dict]:
    """One workflow run of the panel with mean imputation (no Beagle: the analysed genotypes
    are the panel's own calls): genotype QC, the census (diversity, LD decay and ROH one job
    per chromosome), the exact MLM GWAS scattered over 3 chromosome
    groups x 2 trait batches with lead annotation, and genomic selection from the trials.

    Shared by test_genotype_workflow.py, test_gwas_annotate_workflow.py,
    test_gs_workflow.py and test_omics_panel.py, which only read it
    (the GS rerun check is a dry run). Returns (root, config): the run is in root/run,
    the panel copy in root/panel.
    """
    return background.result("mean_panel")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """With ``BREEDOMICS_TEST_CPU`` set: log each test's CPU (see ``_CPU_LOG``)."""
    if not _CPU_LOG:
        yield
        return
    import resource
    import time

    wall, own = time.perf_counter(), time.thread_time()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    yield
    k2 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(_CPU_LOG, "a") as fh:
        fh.write(
            f"test {time.thread_time() - own:.2f} "
            f"{k2.ru_utime - kids.ru_utime + k2.ru_stime - kids.ru_stime:.2f} "
            f"{time.perf_counter() - wall:.2f} {item.nodeid}\n"
        )
