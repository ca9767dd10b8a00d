# Genome-wide association of every trait in the phenotype table, per model, on the QC'd
# and imputed genotypes: GWAS-SSF summary statistics (bgzipped, tabix-indexed), lambda,
# thresholds, Manhattan/QQ plots and clumped lead variants, under results/gwas/<model>/.
#
# One job per model (run_gwas), or, with gwas.chromosome_shards > 1 or
# gwas.traits_per_shard > 0, a scatter: the GRM once (compute_gwas_kinship), one job per
# chromosome group x trait batch (scan_gwas_shard; FarmCPU, being multi-locus, by trait
# batch only) and a gather (gather_gwas) writing the same files as run_gwas.

GWAS_MODELS = "glm|mlm|mlm-p3d|farmcpu"
# Each model's final files come from run_gwas or from gather_gwas, never both.
GWAS_RUN_MODELS = "none" if GWAS_SCATTER else GWAS_MODELS
GWAS_GATHER_MODELS = GWAS_MODELS if GWAS_SCATTER else "none"


rule run_gwas:
    input:
        plink_set(GENOTYPES_PLINK),
        pheno=GWAS_PHENO,
    output:
        summary=report(
            "results/gwas/{model}/summary.{model}.tsv",
            caption="../report/gwas/summary.rst",
            category="GWAS",
            subcategory="{model}",
            labels={"trait": "all traits", "result": "summary"},
        ),
        thresholds=report(
            "results/gwas/{model}/thresholds.{model}.tsv",
            caption="../report/gwas/thresholds.rst",
            category="GWAS",
            subcategory="{model}",
            labels={"trait": "all traits", "result": "thresholds"},
        ),
        stats=expand("results/gwas/{{model}}/{trait}.{{model}}.tsv.gz", trait=TRAITS),
        leads=[
            report(
                f"results/gwas/{{model}}/{trait}.{{model}}.leads.tsv",
                caption="../report/gwas/leads.rst",
                category="GWAS",
                subcategory="{model}",
                labels={"trait": trait, "result": "lead markers"},
            )
            for trait in TRAITS
        ],
        manhattan=[
            report(
                f"results/gwas/{{model}}/{trait}.{{model}}.manhattan.png",
                caption="../report/gwas/manhattan.rst",
                category="GWAS",
                subcategory="{model}",
                labels={"trait": trait, "result": "Manhattan plot"},
            )
            for trait in TRAITS
        ],
        qq=[
            report(
                f"results/gwas/{{model}}/{trait}.{{model}}.qq.png",
                caption="../report/gwas/qq.rst",
                category="GWAS",
                subcategory="{model}",
                labels={"trait": trait, "result": "QQ plot"},
            )
            for trait in TRAITS
        ],
    log:
        "logs/gwas/{model}.log",
    benchmark:
        "benchmarks/gwas/{model}.tsv"
    wildcard_constraints:
        model=GWAS_RUN_MODELS,
    conda:
        "../../envs/breedomics.yaml"
    threads: 2
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=threaded_cli,
        geno=plink_prefix,
        outdir=lambda wc, output: str(Path(output.summary).parent),
        g=config["gwas"],
        covar=gwas_covariate_args,
        loco=gwas_loco_arg,
        seed=config["genotypes"]["seed"],
        perms=gwas_permutation_args,
    shell:
        "{params.cli} gwas run --geno {params.geno} --pheno {input.pheno:q} {params.covar}"
        " --model {wildcards.model} --pcs {params.g[pcs]} {params.loco}"
        " --threshold {params.g[threshold]} --alpha {params.g[alpha]} {params.perms}"
        " --clump-r2 {params.g[clump_r2]} --clump-kb {params.g[clump_kb]}"
        " --seed {params.seed} --allow-unmatched --out {params.outdir} > {log} 2>&1"


rule predict_gwas_consequences:
    input:
        vcf="results/genotypes/imputed.vcf.gz",
        fasta=GWAS_FASTA,
        gff3=GWAS_GFF3 or "unset",
    output:
        csq="results/gwas/consequences.tsv.gz",
    log:
        "logs/gwas/consequences.log",
    benchmark:
        "benchmarks/gwas/consequences.tsv"
    conda:
        "../../envs/bcftools.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    shell:
        "( bcftools csq --samples - --local-csq -f {input.fasta:q} -g {input.gff3:q} -Ou"
        " {input.vcf:q} | bcftools query -f '%CHROM\\t%POS\\t%REF\\t%ALT\\t%BCSQ\\n'"
        " | gzip -c > {output.csq:q}.tmp && mv {output.csq:q}.tmp {output.csq:q} )"
        " 2> {log:q}"


rule annotate_gwas:
    input:
        unpack(gwas_annotation_inputs),
        bed="results/genotypes/genotypes.bed",
        samples=GENO_SAMPLES,
        leads=expand("results/gwas/{{model}}/{trait}.{{model}}.leads.tsv", trait=TRAITS),
    output:
        candidates=[
            report(
                f"results/gwas/{{model}}/{trait}.{{model}}.candidates.tsv",
                caption="../report/gwas/candidates.rst",
                category="GWAS",
                subcategory="{model}",
                labels={"trait": trait, "result": "candidate genes"},
            )
            for trait in TRAITS
        ],
    log:
        "logs/gwas/annotate.{model}.log",
    benchmark:
        "benchmarks/gwas/annotate.{model}.tsv"
    wildcard_constraints:
        model=GWAS_MODELS,
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
        geno=plink_prefix,
        outdir=lambda wc, input: str(Path(input.leads[0]).parent),
        traits=",".join(TRAITS),
        directions=gwas_direction_args,
        window=GWAS["candidate_window"],
        annotation=(
            f"--gff3 {shlex.quote(GWAS_GFF3)} --reference {shlex.quote(GWAS_REF_SOURCE)}"
            " --consequences results/gwas/consequences.tsv.gz"
            if GWAS_GFF3
            else ""
        ),
    shell:
        "{params.cli} gwas annotate --dir {params.outdir:q} --model {wildcards.model}"
        " --traits {params.traits} --geno {params.geno:q} --samples {input.samples:q}"
        " {params.annotation} {params.directions} --window {params.window}"
        " > {log:q} 2>&1"


rule compute_gwas_kinship:
    input:
        plink_set(GENOTYPES_PLINK),
        pheno=GWAS_PHENO,
    output:
        grm="results/gwas/kinship/grm.npz",
        eigen=directory("results/gwas/kinship/eigen"),
    log:
        "logs/gwas/kinship.log",
    benchmark:
        "benchmarks/gwas/kinship.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 2
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=threaded_cli,
        geno=plink_prefix,
        covar=gwas_covariate_args,
        loco="--loco" if GWAS_LOCO_KINSHIP else "",
        # the genome-wide kinship's eigendecomposition per trait pattern (mixed models)
        eigen=lambda wc, output: (
            f"--eigen {shlex.quote(output.eigen)}"
            if GWAS_MIXED & set(GWAS["models"])
            else ""
        ),
    shell:
        "mkdir -p {output.eigen:q} && {params.cli} gwas kinship --geno {params.geno}"
        " --pheno {input.pheno:q} {params.covar} {params.loco} --allow-unmatched"
        " --out {output.grm:q} {params.eigen} > {log:q} 2>&1"


rule scan_gwas_shard:
    input:
        plink_set(GENOTYPES_PLINK),
        pheno=GWAS_PHENO,
        grm="results/gwas/kinship/grm.npz",
        eigen="results/gwas/kinship/eigen",
    output:
        state=temp("results/gwas/{model}/shards/{shard}.json"),
        stats=temp(directory("results/gwas/{model}/shards/{shard}")),
    log:
        "logs/gwas/{model}.{shard}.log",
    benchmark:
        "benchmarks/gwas/{model}.{shard}.tsv"
    wildcard_constraints:
        model=GWAS_GATHER_MODELS,
        shard=r"c\d+\.b\d+",
    conda:
        "../../envs/breedomics.yaml"
    threads: 2
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=threaded_cli,
        geno=plink_prefix,
        g=config["gwas"],
        covar=gwas_covariate_args,
        shard=gwas_shard_args,
        loco=gwas_loco_arg,
        seed=config["genotypes"]["seed"],
        perms=gwas_permutation_args,
    shell:
        "{params.cli} gwas run --geno {params.geno} --pheno {input.pheno:q} {params.covar}"
        " --model {wildcards.model} --pcs {params.g[pcs]} {params.shard} {params.loco}"
        " --grm {input.grm:q} --eigen {input.eigen:q} --threshold {params.g[threshold]}"
        " --alpha {params.g[alpha]} {params.perms} --seed {params.seed} --allow-unmatched"
        " --shard-out {output.state:q}"
        " --out {output.stats:q} > {log:q} 2>&1"


rule gather_gwas:
    input:
        plink_set(GENOTYPES_PLINK),
        pheno=GWAS_PHENO,
        states=gwas_shard_states,
        dirs=gwas_shard_dirs,
    output:
        summary=report(
            "results/gwas/{model}/summary.{model}.tsv",
            caption="../report/gwas/summary.rst",
            category="GWAS",
            subcategory="{model}",
            labels={"trait": "all traits", "result": "summary"},
        ),
        thresholds=report(
            "results/gwas/{model}/thresholds.{model}.tsv",
            caption="../report/gwas/thresholds.rst",
            category="GWAS",
            subcategory="{model}",
            labels={"trait": "all traits", "result": "thresholds"},
        ),
        stats=expand("results/gwas/{{model}}/{trait}.{{model}}.tsv.gz", trait=TRAITS),
        leads=[
            report(
                f"results/gwas/{{model}}/{trait}.{{model}}.leads.tsv",
                caption="../report/gwas/leads.rst",
                category="GWAS",
                subcategory="{model}",
                labels={"trait": trait, "result": "lead markers"},
            )
            for trait in TRAITS
        ],
        manhattan=[
            report(
                f"results/gwas/{{model}}/{trait}.{{model}}.manhattan.png",
                caption="../report/gwas/manhattan.rst",
                category="GWAS",
                subcategory="{model}",
                labels={"trait": trait, "result": "Manhattan plot"},
            )
            for trait in TRAITS
        ],
        qq=[
            report(
                f"results/gwas/{{model}}/{trait}.{{model}}.qq.png",
                caption="../report/gwas/qq.rst",
                category="GWAS",
                subcategory="{model}",
                labels={"trait": trait, "result": "QQ plot"},
            )
            for trait in TRAITS
        ],
    log:
        "logs/gwas/{model}.gather.log",
    benchmark:
        "benchmarks/gwas/{model}.gather.tsv"
    wildcard_constraints:
        model=GWAS_GATHER_MODELS,
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
        geno=plink_prefix,
        outdir=lambda wc, output: str(Path(output.summary).parent),
        g=config["gwas"],
        covar=gwas_covariate_args,
        loco=gwas_loco_arg,
        pcs=lambda wc, input: (
            f"--pcs-file {shlex.quote(str(Path(input.dirs[0], 'pcs.tsv')))}"
            if GWAS["pcs"] > 0
            else ""
        ),
    shell:
        "{params.cli} gwas gather --geno {params.geno} --pheno {input.pheno:q} {params.covar}"
        " --model {wildcards.model} {params.loco} {params.pcs}"
        " --threshold {params.g[threshold]} --alpha {params.g[alpha]} --allow-unmatched"
        " --clump-r2 {params.g[clump_r2]} --clump-kb {params.g[clump_kb]}"
        " --out {params.outdir:q} {input.states:q} > {log:q} 2>&1"
