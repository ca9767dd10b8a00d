# Genome-wide association of every trait in the phenotype table, per model, on the QC'd
# and imputed genotypes: GWAS-SSF summary statistics (bgzipped, tabix-indexed), lambda,
# thresholds, Manhattan/QQ plots and clumped lead variants, under results/gwas/<model>/.


rule run_gwas:
    input:
        multiext("results/genotypes/genotypes", ".bed", ".bim", ".fam"),
        pheno=config["gwas"]["phenotypes"],
    output:
        summary="results/gwas/{model}/summary.{model}.tsv",
        thresholds="results/gwas/{model}/thresholds.{model}.tsv",
        stats=expand("results/gwas/{{model}}/{trait}.{{model}}.tsv.gz", trait=TRAITS),
        leads=expand("results/gwas/{{model}}/{trait}.{{model}}.leads.tsv", trait=TRAITS),
    log:
        "logs/gwas/{model}.log",
    benchmark:
        "benchmarks/gwas/{model}.tsv"
    wildcard_constraints:
        model="glm|mlm|mlm-p3d|farmcpu",
    conda:
        "../../envs/breedomics.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=720,
    params:
        cli=BREEDOMICS,
        geno=lambda wc, input: input[0][: -len(".bed")],
        outdir=lambda wc, output: str(Path(output.summary).parent),
        g=config["gwas"],
        covar=gwas_covariate_args,
        loco="--loco" if config["gwas"]["loco"] else "",
        seed=config["genotypes"]["seed"],
    shell:
        "OMP_NUM_THREADS={threads} OPENBLAS_NUM_THREADS={threads} MKL_NUM_THREADS={threads}"
        " {params.cli} gwas run --geno {params.geno} --pheno {input.pheno:q} {params.covar}"
        " --model {wildcards.model} --pcs {params.g[pcs]} {params.loco}"
        " --threshold {params.g[threshold]} --alpha {params.g[alpha]} --seed {params.seed}"
        " --allow-unmatched --out {params.outdir} > {log} 2>&1"
