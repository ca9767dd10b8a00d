# Resource requests of every rule, from the job's input (breedomics.resources), clipped by
# the cluster cap BREEDOMICS_MAX_MEM_MB / _MAX_THREADS / _MAX_RUNTIME (see docs/cluster.md).
# Rules ask with `mem_mb=mem_mb_for("rule")` and `runtime=runtime_for("rule")`.

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
        return _res.MODELS[f"{rule_name}:{config['genotypes']['impute']}"]
    return _res.MODELS[rule_name]


def _threads_note(rule_name, threads):
    """Warn once when the thread cap lowers a rule's declared (or profile) threads."""
    declared = workflow.get_rule(rule_name).resources.get("_cores")
    declared = getattr(declared, "value", declared)
    if isinstance(declared, int) and declared > threads:
        _res.clip(rule_name, "threads", declared, RESOURCE_CAP, warn=_warn)


def _request(rule_name, key):
    model = _model(rule_name)

    def resource(wildcards, input, threads, attempt):
        if key == "mem_mb" and not workflow.local_exec:
            _threads_note(rule_name, threads)
        bed = input.get("bed") if hasattr(input, "get") else None
        return _res.request(
            rule_name,
            model,
            key,
            input,
            threads,
            attempt,
            RESOURCE_CAP,
            share=_group_share(rule_name),
            region_bed=bed,
            warn=_warn,
        )

    return resource


def mem_mb_for(rule_name):
    """``mem_mb`` of ``rule_name``'s jobs: estimated from their input, clipped by the cap."""
    return _request(rule_name, "mem_mb")


def runtime_for(rule_name):
    """``runtime`` (minutes) of ``rule_name``'s jobs: estimated from their input, clipped."""
    return _request(rule_name, "runtime")


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
