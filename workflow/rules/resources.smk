# Resource requests of every rule, from the job's input (breedomics.resources), clipped by
# the cluster cap BREEDOMICS_MAX_MEM_MB / _MAX_THREADS / _MAX_RUNTIME (see docs/cluster.md).
# Every rule declares `mem_mb=estimated_mem_mb` and `runtime=estimated_runtime`; the
# model is chosen by the job's rule name (breedomics.resources.MODELS), so one made by
# `use rule ... with` gets its own model without restating them.

from snakemake.logging import logger

from breedomics import resources as _res

try:
    RESOURCE_CAP = _res.read_cap()
except UserError as _err:
    raise WorkflowError(str(_err)) from None


def _warn(msg):
    logger.warning(msg)


def _group_share(rule_name):
    """A grouped rule's part of the cap: a group job sums its rules' requests."""
    if workflow.local_exec:
        return 1.0
    groups = dict(workflow.group_settings.overwrite_groups)
    group = groups.get(rule_name)
    if group is None:
        return 1.0
    return 1.0 / sum(1 for r in workflow.rules if groups.get(r.name) == group)


def _model(rule_name):
    if rule_name in ("impute_genotypes",):
        rule_name = f"{rule_name}:{config['genotypes']['impute']}"
    try:
        return _res.MODELS[rule_name]
    except KeyError:
        raise WorkflowError(
            f"no resource model for the jobs of {rule_name}; add one to MODELS in"
            " src/breedomics/resources.py"
        ) from None


def _threads_note(rule_name, threads):
    """Warn once when the thread cap lowers a rule's declared (or profile) threads."""
    declared = workflow.get_rule(rule_name).resources.get("_cores")
    declared = getattr(declared, "value", declared)
    if isinstance(declared, int) and declared > threads:
        _res.clip(rule_name, "threads", declared, RESOURCE_CAP, warn=_warn)


#: Shard jobs whose input is the whole PLINK set but which scan a part of its markers.
_CENSUS_SHARD_RULES = ("scan_diversity_shard", "scan_ld_decay_shard", "scan_roh_shard")


def _work_share(rulename, wildcards, input):
    """A shard job's share of its input's markers (its time scales with it), else 1."""
    try:
        if rulename == "scan_gwas_shard" and wildcards.model != "farmcpu":
            k = int(wildcards.shard[1:].split(".b")[0])
            groups = config["gwas"]["chromosome_shards"]
            return _res.chromosome_group_share(input.bim, k, groups)
        if rulename in _CENSUS_SHARD_RULES:
            return _res.census_shard_share(input.shards, wildcards.shard)
    except FileNotFoundError:
        pass  # not written yet (a dry run): sized for the whole set
    return 1.0


def _estimated(key):
    """Resource function of ``key`` (``mem_mb`` or ``runtime``) for any rule's jobs."""

    def resource(wildcards, input, threads, attempt, rulename):
        if key == "mem_mb" and not workflow.local_exec:
            _threads_note(rulename, threads)
        bed = input.get("bed") if hasattr(input, "get") else None
        return _res.request(
            rulename,
            _model(rulename),
            key,
            input,
            threads,
            attempt,
            RESOURCE_CAP,
            share=_group_share(rulename),
            region_bed=bed,
            warn=_warn,
            work_share=(
                _work_share(rulename, wildcards, input) if key == "runtime" else 1.0
            ),
        )

    resource.__name__ = f"estimated_{key}"
    return resource


#: ``mem_mb`` of a job: estimated from its input by its rule's model, clipped by the cap.
estimated_mem_mb = _estimated("mem_mb")
#: ``runtime`` (minutes) of a job: estimated like ``mem_mb``.
estimated_runtime = _estimated("runtime")


def check_resource_models():
    """Stop before the first job when a job's rule has no model (the Snakefile's end)."""
    for each in workflow.rules:
        if not each.norun:
            _model(each.name)


onerror:
    for line in _res.refused_submissions(
        "".join(
            Path(f).read_text(errors="replace")
            for f in ([log] if isinstance(log, str) else log or [])
            if Path(f).is_file()
        ),
        [r.name for r in workflow.rules],
        RESOURCE_CAP,
        dict(workflow.group_settings.overwrite_groups),
    ):
        logger.error(line)
