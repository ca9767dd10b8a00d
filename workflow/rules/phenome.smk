# Time-series traits (phenome.curves): repeated measurements of plots or animals (drone
# flights, weighings) -> per-unit growth curves (logistic, Gompertz, monotone P-spline;
# AICc) -> derived traits per genotype (results/phenome/curves/traits.tsv), joined to the
# GWAS and/or GS phenotype tables (phenome.curves.join) that those stages then read.


rule growth_curves:
    input:
        series=CURVES["path"] or "unset",
        bases=[base for base, _ in curves_joins() if base],
    output:
        traits="results/phenome/curves/traits.tsv",
        units="results/phenome/curves/units.tsv",
        outliers="results/phenome/curves/outliers.tsv",
        joined=[out for _, out in curves_joins()],
    log:
        "logs/phenome/curves.log",
    benchmark:
        "benchmarks/phenome/curves.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=threaded_cli,
        args=curves_args,
        outdir=lambda wc, output: str(Path(output.traits).parent),
    shell:
        "{params.cli} phenome curves --series {input.series:q} {params.args}"
        " --out-dir {params.outdir} > {log} 2>&1"
