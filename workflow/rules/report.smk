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
#               Its input and param functions are in common.smk.


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
