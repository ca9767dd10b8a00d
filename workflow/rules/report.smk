# The run's summary page, results/report/index.html (report.enabled): one self-contained
# HTML file (plots, tables, CSS and JavaScript inlined; nothing fetched from the network)
# that answers, in order: the collection and its QC, structure and diversity, the loci
# behind traits, breeding values, molecular QTL, and how the run was made. The logic is in
# src/breedomics/report/ (`breedomics report`); the page shows the sections of the stages
# that ran and says why the others did not.
#
# build_report  needs every other final output of the run (so it runs last and sees
#               every job's benchmark), writes the run's config (defaults filled in) and
#               the rules' benchmark patterns next to the page, then the page.

from snakemake import __version__ as SNAKEMAKE_VERSION

import yaml


def report_inputs(wildcards=None):
    """The files the page reads: every final output of the enabled stages (their jobs also
    write the PNGs and side tables it shows), and per GWAS model and trait the summary
    statistics and leads behind the Manhattan and QQ plots."""
    out = final_outputs(summary_page=False)
    if GENO["enabled"] and GWAS["enabled"]:
        out += expand(
            "results/gwas/{model}/{trait}.{model}.{kind}",
            model=GWAS["models"],
            trait=TRAITS,
            kind=["tsv.gz", "leads.tsv"],
        )
    return out


def report_config_yaml(wildcards=None):
    """The run's config as the run saw it (the schema's defaults filled in), as YAML."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def report_rule_patterns(wildcards=None):
    """`rule<TAB>benchmark pattern` of every rule: the page names benchmark files by rule."""
    return "".join(
        f"{r.name}\t{r.benchmark}\n" for r in workflow.rules if r.benchmark is not None
    )


def report_configfile_args(wildcards=None):
    """The config files the run was started with (the page's rerun command)."""
    return " ".join(
        f"--configfile-used {shlex.quote(str(f))}" for f in workflow.configfiles
    )


rule build_report:
    input:
        report_inputs,
    output:
        # also in `snakemake --report` (workflow/report/summary_page.rst)
        html=report(
            "results/report/index.html",
            caption="../report/summary_page.rst",
            category="Summary page",
        ),
        config="results/report/config.yaml",
        rules="results/report/rules.tsv",
    log:
        "logs/report/build_report.log",
    benchmark:
        "benchmarks/report/build_report.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
        config=report_config_yaml,
        rules=report_rule_patterns,
        configfiles=report_configfile_args,
        snakemake=SNAKEMAKE_VERSION,
        points=config["report"]["manhattan_points"],
        rows=config["report"]["max_table_rows"],
    shell:
        "( printf '%s' {params.config:q} > {output.config:q}"
        " && printf '%s' {params.rules:q} > {output.rules:q}"
        " && {params.cli} report --results results --benchmarks benchmarks"
        " --config {output.config:q} --rules {output.rules:q}"
        " --software snakemake={params.snakemake} {params.configfiles}"
        " --manhattan-points {params.points} --max-table-rows {params.rows}"
        " --out {output.html:q} ) > {log:q} 2>&1"
