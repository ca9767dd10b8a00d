# Germplasm census: what is in the collection, how it is structured, how diverse each
# group is, which accessions are duplicates, how inbred the animals are, and which small
# core set keeps most of the diversity. One rule per analysis, each running
# `breedomics census <analysis>` and writing a TSV with a header and a PNG under
# results/census/. Structure analyses (PCA, ancestry) use the LD-pruned set; the others
# use all QC'd, imputed markers.
#
# Three rules are written out: compute_census_pca (an analysis of the whole panel), and
# the scatter scan_diversity_shard and its gather gather_diversity (diversity windows and
# Tajima's D). The other analyses are one of these with their own files, threads and
# options (`use rule ... with:`): compute_census_grm, estimate_admixture, compute_fst,
# find_duplicate_accessions, select_core_set; scan_ld_decay_shard / gather_ld_decay and
# scan_roh_shard / gather_roh.
#
# The scatter: plan_census_shards splits the chromosomes into shards (one per chromosome,
# small scaffolds packed together, names validated before they reach a path), one scan
# job per shard writes additive partial sums (results/census/by_chrom/<shard>/<job>.json)
# and the gather combines them into the same tables and plots as one job would.

CENSUS = config["census"]
_INBRED = "--inbred" if INBRED else ""
_SEED = config["genotypes"]["seed"]
#: Options of each `breedomics census` analysis (a scattered one's scans and gather
#: take the same).
CENSUS_ARGS = {
    "pca": f"--n-pcs {CENSUS['n_pcs']}",
    "grm": "",
    "admixture": (
        f"{_INBRED} --k-min 2 --k-max {CENSUS['k_max']} --folds {CENSUS['cv_folds']}"
        f" --max-snps {CENSUS['admixture_max_snps']} --seed {_SEED}"
    ),
    "fst": _INBRED,
    "duplicates": f"--threshold {CENSUS['duplicate_ibs']}",
    "core": f"--size {CENSUS['core_size']} --seed {_SEED}",
    "diversity": f"{_INBRED} --window {CENSUS['window']}",
    "ld-decay": f"--max-dist {CENSUS['ld_max_dist']}",
    "roh": f"--min-length {CENSUS['roh_min_length']}",
}


# --- analyses of the whole panel -------------------------------------------------------


rule compute_census_pca:
    input:
        plink_set(PRUNED_PLINK),
        groups=QC_SHEET,
    output:
        tsv="results/census/pca.tsv",
        png=report(
            "results/census/pca.png",
            caption="../report/census/pca.rst",
            category="Census",
            subcategory="Structure",
        ),
        variance=report(
            "results/census/pca.variance.tsv",
            caption="../report/census/pca_variance.rst",
            category="Census",
            subcategory="Structure",
        ),
    log:
        "logs/census/pca.log",
    benchmark:
        "benchmarks/census/pca.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 2
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=threaded_cli,
        geno=plink_prefix,
        out=lambda wc, output: output.tsv[: -len(".tsv")],
        analysis="pca",
        args=CENSUS_ARGS["pca"],
    shell:
        "{params.cli} census {params.analysis} --geno {params.geno}"
        " --groups {input.groups:q} --out {params.out} {params.args} > {log} 2>&1"


use rule compute_census_pca as compute_census_grm with:
    input:
        plink_set(GENOTYPES_PLINK),
        groups=QC_SHEET,
    output:
        tsv="results/census/grm.tsv",
        png=report(
            "results/census/grm.png",
            caption="../report/census/grm.rst",
            category="Census",
            subcategory="Structure",
        ),
    log:
        "logs/census/grm.log",
    benchmark:
        "benchmarks/census/grm.tsv"
    params:
        analysis="grm",
        args=CENSUS_ARGS["grm"],


use rule compute_census_pca as estimate_admixture with:
    output:
        tsv="results/census/admixture.tsv",
        png=report(
            "results/census/admixture.png",
            caption="../report/census/admixture.rst",
            category="Census",
            subcategory="Structure",
        ),
        cv=report(
            "results/census/admixture.cv.tsv",
            caption="../report/census/admixture_cv.rst",
            category="Census",
            subcategory="Structure",
        ),
    log:
        "logs/census/admixture.log",
    benchmark:
        "benchmarks/census/admixture.tsv"
    params:
        analysis="admixture",
        args=CENSUS_ARGS["admixture"],


use rule compute_census_pca as compute_fst with:
    input:
        plink_set(GENOTYPES_PLINK),
        groups=QC_SHEET,
    output:
        tsv=report(
            "results/census/fst.tsv",
            caption="../report/census/fst_table.rst",
            category="Census",
            subcategory="Diversity",
        ),
        png=report(
            "results/census/fst.png",
            caption="../report/census/fst.rst",
            category="Census",
            subcategory="Diversity",
        ),
    log:
        "logs/census/fst.log",
    benchmark:
        "benchmarks/census/fst.tsv"
    params:
        analysis="fst",
        args=CENSUS_ARGS["fst"],


use rule compute_census_pca as find_duplicate_accessions with:
    input:
        plink_set(GENOTYPES_PLINK),
        groups=QC_SHEET,
    output:
        tsv="results/census/duplicates.tsv",
        png=report(
            "results/census/duplicates.png",
            caption="../report/census/duplicates.rst",
            category="Census",
            subcategory="Duplicates and core set",
        ),
        clusters=report(
            "results/census/duplicates.clusters.tsv",
            caption="../report/census/duplicates_clusters.rst",
            category="Census",
            subcategory="Duplicates and core set",
        ),
    log:
        "logs/census/duplicates.log",
    benchmark:
        "benchmarks/census/duplicates.tsv"
    params:
        analysis="duplicates",
        args=CENSUS_ARGS["duplicates"],


use rule compute_census_pca as select_core_set with:
    input:
        plink_set(GENOTYPES_PLINK),
        groups=QC_SHEET,
    output:
        tsv="results/census/core.tsv",
        png=report(
            "results/census/core.png",
            caption="../report/census/core.rst",
            category="Census",
            subcategory="Duplicates and core set",
        ),
        summary=report(
            "results/census/core.summary.tsv",
            caption="../report/census/core_summary.rst",
            category="Census",
            subcategory="Duplicates and core set",
        ),
    log:
        "logs/census/core.log",
    benchmark:
        "benchmarks/census/core.tsv"
    params:
        analysis="core",
        args=CENSUS_ARGS["core"],


# --- analyses scattered over chromosome shards -----------------------------------------


checkpoint plan_census_shards:
    input:
        plink_set(GENOTYPES_PLINK),
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
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
        geno=plink_prefix,
        min_snps=CENSUS["scatter_min_snps"],
    shell:
        "{params.cli} census shards --geno {params.geno} --out {output.tsv}"
        " --min-snps {params.min_snps} > {log} 2>&1"


rule scan_diversity_shard:
    input:
        plink_set(GENOTYPES_PLINK),
        groups=QC_SHEET,
        shards=CENSUS_SHARD_PLAN,
    output:
        json="results/census/by_chrom/{shard}/diversity.json",
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
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=threaded_cli,
        geno=plink_prefix,
        out=lambda wc, output: output.json[: -len(".json")],
        analysis="diversity",
        args=CENSUS_ARGS["diversity"],
    shell:
        "{params.cli} census {params.analysis} --geno {params.geno}"
        " --groups {input.groups:q} --out {params.out} {params.args}"
        " --shards {input.shards} --shard {wildcards.shard} > {log} 2>&1"


rule gather_diversity:
    input:
        plink_set(GENOTYPES_PLINK),
        groups=QC_SHEET,
        shards=CENSUS_SHARD_PLAN,
        parts=census_parts("diversity"),
    output:
        tsv=report(
            "results/census/diversity.tsv",
            caption="../report/census/diversity_table.rst",
            category="Census",
            subcategory="Diversity",
        ),
        png=report(
            "results/census/diversity.png",
            caption="../report/census/diversity.rst",
            category="Census",
            subcategory="Diversity",
        ),
        windows="results/census/diversity.windows.tsv",
    log:
        "logs/census/diversity.log",
    benchmark:
        "benchmarks/census/diversity.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
        geno=plink_prefix,
        out=lambda wc, output: output.tsv[: -len(".tsv")],
        analysis="diversity",
        args=CENSUS_ARGS["diversity"],
    shell:
        "{params.cli} census {params.analysis} --geno {params.geno}"
        " --groups {input.groups:q} --out {params.out} {params.args}"
        " --shards {input.shards} --gather {input.parts} > {log} 2>&1"


use rule scan_diversity_shard as scan_ld_decay_shard with:
    output:
        json="results/census/by_chrom/{shard}/ld_decay.json",
    log:
        "logs/census/by_chrom/{shard}/ld_decay.log",
    benchmark:
        "benchmarks/census/by_chrom/{shard}/ld_decay.tsv"
    threads: 2
    params:
        analysis="ld-decay",
        args=CENSUS_ARGS["ld-decay"],


use rule gather_diversity as gather_ld_decay with:
    input:
        plink_set(GENOTYPES_PLINK),
        groups=QC_SHEET,
        shards=CENSUS_SHARD_PLAN,
        parts=census_parts("ld_decay"),
    output:
        tsv="results/census/ld_decay.tsv",
        png=report(
            "results/census/ld_decay.png",
            caption="../report/census/ld_decay.rst",
            category="Census",
            subcategory="Diversity",
        ),
        summary=report(
            "results/census/ld_decay.summary.tsv",
            caption="../report/census/ld_decay_summary.rst",
            category="Census",
            subcategory="Diversity",
        ),
    log:
        "logs/census/ld_decay.log",
    benchmark:
        "benchmarks/census/ld_decay.tsv"
    params:
        analysis="ld-decay",
        args=CENSUS_ARGS["ld-decay"],


use rule scan_diversity_shard as scan_roh_shard with:
    output:
        json="results/census/by_chrom/{shard}/roh.json",
    log:
        "logs/census/by_chrom/{shard}/roh.log",
    benchmark:
        "benchmarks/census/by_chrom/{shard}/roh.tsv"
    params:
        analysis="roh",
        args=CENSUS_ARGS["roh"],


use rule gather_diversity as gather_roh with:
    input:
        plink_set(GENOTYPES_PLINK),
        groups=QC_SHEET,
        shards=CENSUS_SHARD_PLAN,
        parts=census_parts("roh"),
    output:
        tsv=report(
            "results/census/roh.tsv",
            caption="../report/census/roh_table.rst",
            category="Census",
            subcategory="Diversity",
        ),
        png=report(
            "results/census/roh.png",
            caption="../report/census/roh.rst",
            category="Census",
            subcategory="Diversity",
        ),
        segments="results/census/roh.segments.tsv",
    log:
        "logs/census/roh.log",
    benchmark:
        "benchmarks/census/roh.tsv"
    params:
        analysis="roh",
        args=CENSUS_ARGS["roh"],
