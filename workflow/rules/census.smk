# Germplasm census: what is in the collection, how it is structured, how diverse each
# group is, which accessions are duplicates, how inbred the animals are, and which small
# core set keeps most of the diversity. One rule per analysis; each writes a TSV with a
# header and a PNG under results/census/. Structure analyses (PCA, ancestry) use the
# LD-pruned set; the others use all QC'd, imputed markers.
#
# The per-chromosome analyses (diversity windows and Tajima's D, LD decay, ROH) are
# scattered: `census_shards` splits the chromosomes into shards (one per chromosome,
# small scaffolds packed together, names validated before they reach a path), one job
# per shard writes additive partial sums (results/census/by_chrom/<shard>/<job>.json)
# and the gather rule combines them into the same tables and plots as one job would.


rule census_pca:
    input:
        multiext("results/genotypes/pruned", ".bed", ".bim", ".fam"),
        groups=GENO_SAMPLES,
    output:
        tsv="results/census/pca.tsv",
        png="results/census/pca.png",
        extra0="results/census/pca.variance.tsv",
    log:
        "logs/census/pca.log",
    benchmark:
        "benchmarks/census/pca.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb_for("census_pca"),
        runtime=runtime_for("census_pca"),
    params:
        cli=BREEDOMICS,
        geno=lambda wc, input: input[0][: -len(".bed")],
        out=lambda wc, output: output.tsv[: -len(".tsv")],
        c=config["census"],
        inbred="--inbred" if INBRED else "",
        seed=config["genotypes"]["seed"],
    shell:
        "OMP_NUM_THREADS={threads} OPENBLAS_NUM_THREADS={threads} MKL_NUM_THREADS={threads}"
        " {params.cli} census pca --geno {params.geno} --groups {input.groups:q}"
        " --out {params.out} --n-pcs {params.c[n_pcs]} > {log} 2>&1"


rule census_grm:
    input:
        multiext("results/genotypes/genotypes", ".bed", ".bim", ".fam"),
        groups=GENO_SAMPLES,
    output:
        tsv="results/census/grm.tsv",
        png="results/census/grm.png",
    log:
        "logs/census/grm.log",
    benchmark:
        "benchmarks/census/grm.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb_for("census_grm"),
        runtime=runtime_for("census_grm"),
    params:
        cli=BREEDOMICS,
        geno=lambda wc, input: input[0][: -len(".bed")],
        out=lambda wc, output: output.tsv[: -len(".tsv")],
        c=config["census"],
        inbred="--inbred" if INBRED else "",
        seed=config["genotypes"]["seed"],
    shell:
        "OMP_NUM_THREADS={threads} OPENBLAS_NUM_THREADS={threads} MKL_NUM_THREADS={threads}"
        " {params.cli} census grm --geno {params.geno} --groups {input.groups:q}"
        " --out {params.out} > {log} 2>&1"


rule census_admixture:
    input:
        multiext("results/genotypes/pruned", ".bed", ".bim", ".fam"),
        groups=GENO_SAMPLES,
    output:
        tsv="results/census/admixture.tsv",
        png="results/census/admixture.png",
        extra0="results/census/admixture.cv.tsv",
    log:
        "logs/census/admixture.log",
    benchmark:
        "benchmarks/census/admixture.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb_for("census_admixture"),
        runtime=runtime_for("census_admixture"),
    params:
        cli=BREEDOMICS,
        geno=lambda wc, input: input[0][: -len(".bed")],
        out=lambda wc, output: output.tsv[: -len(".tsv")],
        c=config["census"],
        inbred="--inbred" if INBRED else "",
        seed=config["genotypes"]["seed"],
    shell:
        "OMP_NUM_THREADS={threads} OPENBLAS_NUM_THREADS={threads} MKL_NUM_THREADS={threads}"
        " {params.cli} census admixture --geno {params.geno} --groups {input.groups:q}"
        " --out {params.out} {params.inbred} --k-min 2 --k-max {params.c[k_max]} --folds {params.c[cv_folds]} --max-snps {params.c[admixture_max_snps]} --seed {params.seed} > {log} 2>&1"


checkpoint census_shards:
    input:
        multiext("results/genotypes/genotypes", ".bed", ".bim", ".fam"),
    output:
        tsv=CENSUS_SHARD_PLAN,
    log:
        "logs/census/shards.log",
    benchmark:
        "benchmarks/census/shards.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_for("census_shards"),
        runtime=runtime_for("census_shards"),
    params:
        cli=BREEDOMICS,
        geno=lambda wc, input: input[0][: -len(".bed")],
        min_snps=config["census"]["scatter_min_snps"],
    shell:
        "{params.cli} census shards --geno {params.geno} --out {output.tsv}"
        " --min-snps {params.min_snps} > {log} 2>&1"


rule census_diversity_chrom:
    input:
        multiext("results/genotypes/genotypes", ".bed", ".bim", ".fam"),
        groups=GENO_SAMPLES,
        shards=CENSUS_SHARD_PLAN,
    output:
        "results/census/by_chrom/{shard}/diversity.json",
    log:
        "logs/census/by_chrom/{shard}/diversity.log",
    benchmark:
        "benchmarks/census/by_chrom/{shard}/diversity.tsv"
    wildcard_constraints:
        shard=r"[A-Za-z0-9_][A-Za-z0-9._-]*",
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_for("census_diversity_chrom"),
        runtime=runtime_for("census_diversity_chrom"),
    params:
        cli=BREEDOMICS,
        geno=lambda wc, input: input[0][: -len(".bed")],
        out=lambda wc, output: output[0][: -len(".json")],
        c=config["census"],
        inbred="--inbred" if INBRED else "",
    shell:
        "OMP_NUM_THREADS={threads} OPENBLAS_NUM_THREADS={threads} MKL_NUM_THREADS={threads}"
        " {params.cli} census diversity --geno {params.geno} --groups {input.groups:q}"
        " --out {params.out} {params.inbred} --window {params.c[window]}"
        " --shards {input.shards} --shard {wildcards.shard} > {log} 2>&1"


rule census_diversity:
    input:
        multiext("results/genotypes/genotypes", ".bed", ".bim", ".fam"),
        groups=GENO_SAMPLES,
        shards=CENSUS_SHARD_PLAN,
        parts=census_parts("diversity"),
    output:
        tsv="results/census/diversity.tsv",
        png="results/census/diversity.png",
        extra0="results/census/diversity.windows.tsv",
    log:
        "logs/census/diversity.log",
    benchmark:
        "benchmarks/census/diversity.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_for("census_diversity"),
        runtime=runtime_for("census_diversity"),
    params:
        cli=BREEDOMICS,
        geno=lambda wc, input: input[0][: -len(".bed")],
        out=lambda wc, output: output.tsv[: -len(".tsv")],
        c=config["census"],
        inbred="--inbred" if INBRED else "",
    shell:
        "{params.cli} census diversity --geno {params.geno} --groups {input.groups:q}"
        " --out {params.out} {params.inbred} --window {params.c[window]}"
        " --shards {input.shards} --gather {input.parts} > {log} 2>&1"


rule census_fst:
    input:
        multiext("results/genotypes/genotypes", ".bed", ".bim", ".fam"),
        groups=GENO_SAMPLES,
    output:
        tsv="results/census/fst.tsv",
        png="results/census/fst.png",
    log:
        "logs/census/fst.log",
    benchmark:
        "benchmarks/census/fst.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb_for("census_fst"),
        runtime=runtime_for("census_fst"),
    params:
        cli=BREEDOMICS,
        geno=lambda wc, input: input[0][: -len(".bed")],
        out=lambda wc, output: output.tsv[: -len(".tsv")],
        c=config["census"],
        inbred="--inbred" if INBRED else "",
        seed=config["genotypes"]["seed"],
    shell:
        "OMP_NUM_THREADS={threads} OPENBLAS_NUM_THREADS={threads} MKL_NUM_THREADS={threads}"
        " {params.cli} census fst --geno {params.geno} --groups {input.groups:q}"
        " --out {params.out} {params.inbred} > {log} 2>&1"


rule census_ld_decay_chrom:
    input:
        multiext("results/genotypes/genotypes", ".bed", ".bim", ".fam"),
        groups=GENO_SAMPLES,
        shards=CENSUS_SHARD_PLAN,
    output:
        "results/census/by_chrom/{shard}/ld_decay.json",
    log:
        "logs/census/by_chrom/{shard}/ld_decay.log",
    benchmark:
        "benchmarks/census/by_chrom/{shard}/ld_decay.tsv"
    wildcard_constraints:
        shard=r"[A-Za-z0-9_][A-Za-z0-9._-]*",
    conda:
        "../../envs/breedomics.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb_for("census_ld_decay_chrom"),
        runtime=runtime_for("census_ld_decay_chrom"),
    params:
        cli=BREEDOMICS,
        geno=lambda wc, input: input[0][: -len(".bed")],
        out=lambda wc, output: output[0][: -len(".json")],
        c=config["census"],
        inbred="--inbred" if INBRED else "",
    shell:
        "OMP_NUM_THREADS={threads} OPENBLAS_NUM_THREADS={threads} MKL_NUM_THREADS={threads}"
        " {params.cli} census ld-decay --geno {params.geno} --groups {input.groups:q}"
        " --out {params.out} --max-dist {params.c[ld_max_dist]}"
        " --shards {input.shards} --shard {wildcards.shard} > {log} 2>&1"


rule census_ld_decay:
    input:
        multiext("results/genotypes/genotypes", ".bed", ".bim", ".fam"),
        groups=GENO_SAMPLES,
        shards=CENSUS_SHARD_PLAN,
        parts=census_parts("ld_decay"),
    output:
        tsv="results/census/ld_decay.tsv",
        png="results/census/ld_decay.png",
        extra0="results/census/ld_decay.summary.tsv",
    log:
        "logs/census/ld_decay.log",
    benchmark:
        "benchmarks/census/ld_decay.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_for("census_ld_decay"),
        runtime=runtime_for("census_ld_decay"),
    params:
        cli=BREEDOMICS,
        geno=lambda wc, input: input[0][: -len(".bed")],
        out=lambda wc, output: output.tsv[: -len(".tsv")],
        c=config["census"],
        inbred="--inbred" if INBRED else "",
    shell:
        "{params.cli} census ld-decay --geno {params.geno} --groups {input.groups:q}"
        " --out {params.out} --max-dist {params.c[ld_max_dist]}"
        " --shards {input.shards} --gather {input.parts} > {log} 2>&1"


rule census_roh_chrom:
    input:
        multiext("results/genotypes/genotypes", ".bed", ".bim", ".fam"),
        groups=GENO_SAMPLES,
        shards=CENSUS_SHARD_PLAN,
    output:
        "results/census/by_chrom/{shard}/roh.json",
    log:
        "logs/census/by_chrom/{shard}/roh.log",
    benchmark:
        "benchmarks/census/by_chrom/{shard}/roh.tsv"
    wildcard_constraints:
        shard=r"[A-Za-z0-9_][A-Za-z0-9._-]*",
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_for("census_roh_chrom"),
        runtime=runtime_for("census_roh_chrom"),
    params:
        cli=BREEDOMICS,
        geno=lambda wc, input: input[0][: -len(".bed")],
        out=lambda wc, output: output[0][: -len(".json")],
        c=config["census"],
        inbred="--inbred" if INBRED else "",
    shell:
        "OMP_NUM_THREADS={threads} OPENBLAS_NUM_THREADS={threads} MKL_NUM_THREADS={threads}"
        " {params.cli} census roh --geno {params.geno} --groups {input.groups:q}"
        " --out {params.out} --min-length {params.c[roh_min_length]}"
        " --shards {input.shards} --shard {wildcards.shard} > {log} 2>&1"


rule census_roh:
    input:
        multiext("results/genotypes/genotypes", ".bed", ".bim", ".fam"),
        groups=GENO_SAMPLES,
        shards=CENSUS_SHARD_PLAN,
        parts=census_parts("roh"),
    output:
        tsv="results/census/roh.tsv",
        png="results/census/roh.png",
        extra0="results/census/roh.segments.tsv",
    log:
        "logs/census/roh.log",
    benchmark:
        "benchmarks/census/roh.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb_for("census_roh"),
        runtime=runtime_for("census_roh"),
    params:
        cli=BREEDOMICS,
        geno=lambda wc, input: input[0][: -len(".bed")],
        out=lambda wc, output: output.tsv[: -len(".tsv")],
        c=config["census"],
        inbred="--inbred" if INBRED else "",
    shell:
        "{params.cli} census roh --geno {params.geno} --groups {input.groups:q}"
        " --out {params.out} --min-length {params.c[roh_min_length]}"
        " --shards {input.shards} --gather {input.parts} > {log} 2>&1"


rule census_duplicates:
    input:
        multiext("results/genotypes/genotypes", ".bed", ".bim", ".fam"),
        groups=GENO_SAMPLES,
    output:
        tsv="results/census/duplicates.tsv",
        png="results/census/duplicates.png",
        extra0="results/census/duplicates.clusters.tsv",
    log:
        "logs/census/duplicates.log",
    benchmark:
        "benchmarks/census/duplicates.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb_for("census_duplicates"),
        runtime=runtime_for("census_duplicates"),
    params:
        cli=BREEDOMICS,
        geno=lambda wc, input: input[0][: -len(".bed")],
        out=lambda wc, output: output.tsv[: -len(".tsv")],
        c=config["census"],
        inbred="--inbred" if INBRED else "",
        seed=config["genotypes"]["seed"],
    shell:
        "OMP_NUM_THREADS={threads} OPENBLAS_NUM_THREADS={threads} MKL_NUM_THREADS={threads}"
        " {params.cli} census duplicates --geno {params.geno} --groups {input.groups:q}"
        " --out {params.out} --threshold {params.c[duplicate_ibs]} > {log} 2>&1"


rule census_core:
    input:
        multiext("results/genotypes/genotypes", ".bed", ".bim", ".fam"),
        groups=GENO_SAMPLES,
    output:
        tsv="results/census/core.tsv",
        png="results/census/core.png",
        extra0="results/census/core.summary.tsv",
    log:
        "logs/census/core.log",
    benchmark:
        "benchmarks/census/core.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb_for("census_core"),
        runtime=runtime_for("census_core"),
    params:
        cli=BREEDOMICS,
        geno=lambda wc, input: input[0][: -len(".bed")],
        out=lambda wc, output: output.tsv[: -len(".tsv")],
        c=config["census"],
        inbred="--inbred" if INBRED else "",
        seed=config["genotypes"]["seed"],
    shell:
        "OMP_NUM_THREADS={threads} OPENBLAS_NUM_THREADS={threads} MKL_NUM_THREADS={threads}"
        " {params.cli} census core --geno {params.geno} --groups {input.groups:q}"
        " --out {params.out} --size {params.c[core_size]} --seed {params.seed} > {log} 2>&1"
