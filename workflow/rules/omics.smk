# Molecular-trait QTL (eQTL, mQTL) of every dataset in omics.datasets, on the QC'd and
# imputed genotypes, under results/omics/<dataset>/:
#
# prepare_metabolites  (datasets with an injection sheet) QC-RLSC drift correction on the
#                  QC pools, batch alignment, QC RSD and blank filters, imputation:
#                  drift/corrected.tsv, which prepare_omics then reads, the per-feature
#                  drift/drift_report.tsv and the before/after drift/drift.png;
# prepare_omics    feature QC (reasons in features.tsv; for read counts the GTEx filters and
#                  TMM or median-of-ratios normalisation), transform, known covariates and
#                  hidden factors (top PCs of the features; factors associated with a
#                  variant are left out), the sample report;
# map_omics_qtl    `breedomics gwas run` on every feature in one pass (one kinship
#                  eigendecomposition), hidden factors and gwas.pcs genotype PCs as
#                  covariates: GWAS-SSF summary statistics and clumped leads per feature;
# summarise_omics  per-feature leads and q-values, cis and trans tables, trans hotspots,
#                  the cis/trans map;
# map_omics_scale  `breedomics omics map` (the tensorQTL modes, omics.mapping.mode or the
#                  dataset's mapping_mode): cis permutation leads with pval_beta and
#                  q-values (mapping/cis.tsv), every cis pair (mapping/cis_nominal/),
#                  trans pairs below a p threshold (mapping/trans.parquet) or independent
#                  cis signals (mapping/cis_independent.tsv), and mapping/<mode>.json;
# link_omics_gwas  (with gwas) `breedomics omics link`: for every GWAS lead of a field
#                  trait, the features whose QTL lead is in LD with it (omics.link.r2) and
#                  whose level predicts the trait, with the mediated share of the lead's
#                  effect: results/omics/links.tsv.


wildcard_constraints:
    dataset=r"[A-Za-z][A-Za-z0-9_.-]{0,63}",
    mode=r"cis|cis_nominal|trans|cis_independent",


rule prepare_metabolites:
    input:
        features=lambda wc: omics_dataset(wc)["path"],
        injections=omics_injections,
    output:
        table="results/omics/{dataset}/drift/corrected.tsv",
        report=report(
            "results/omics/{dataset}/drift/drift_report.tsv",
            caption="../report/omics/drift_report.rst",
            category="Omics",
            subcategory="{dataset}",
        ),
        plot=report(
            "results/omics/{dataset}/drift/drift.png",
            caption="../report/omics/drift.rst",
            category="Omics",
            subcategory="{dataset}",
        ),
        summary="results/omics/{dataset}/drift/drift.json",
    log:
        "logs/omics/{dataset}.drift.log",
    benchmark:
        "benchmarks/omics/{dataset}.drift.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
        outdir=lambda wc, output: str(Path(output.table).parent),
        args=omics_drift_args,
    shell:
        "{params.cli} omics prepare-metabolites --features {input.features:q}"
        " --injections {input.injections:q} {params.args} --name {wildcards.dataset}"
        " --out {params.outdir:q} > {log:q} 2>&1"


rule prepare_omics:
    input:
        plink_set(GENOTYPES_PLINK),
        unpack(omics_prepare_inputs),
        features=omics_feature_table,
    output:
        pheno="results/omics/{dataset}/phenotypes.tsv",
        covar="results/omics/{dataset}/covariates.tsv",
        features="results/omics/{dataset}/features.tsv",
        samples="results/omics/{dataset}/samples.tsv",
        factors=report(
            "results/omics/{dataset}/hidden_factors.tsv",
            caption="../report/omics/hidden_factors.rst",
            category="Omics",
            subcategory="{dataset}",
        ),
    log:
        "logs/omics/{dataset}.prepare.log",
    benchmark:
        "benchmarks/omics/{dataset}.prepare.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=threaded_cli,
        geno=plink_prefix,
        outdir=lambda wc, output: str(Path(output.pheno).parent),
        args=omics_prepare_args,
    shell:
        "{params.cli} omics prepare --features {input.features:q} --geno {params.geno}"
        " {params.args} --out {params.outdir:q} > {log:q} 2>&1"


rule map_omics_qtl:
    input:
        plink_set(GENOTYPES_PLINK),
        pheno="results/omics/{dataset}/phenotypes.tsv",
        covar="results/omics/{dataset}/covariates.tsv",
    output:
        qtl=directory("results/omics/{dataset}/qtl"),
    log:
        "logs/omics/{dataset}.map.log",
    benchmark:
        "benchmarks/omics/{dataset}.map.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 2
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=threaded_cli,
        geno=plink_prefix,
        model=OMICS["model"],
        pcs=GWAS["pcs"],
        alpha=GWAS["alpha"],
        seed=config["genotypes"]["seed"],
    shell:
        # covariates.tsv has only the sample column when no hidden factor is used
        "covar=$(awk -F'\\t' 'NR == 1 {{ if (NF > 1) print \"--covar\" }}' {input.covar:q});"
        " {params.cli} gwas run --geno {params.geno} --pheno {input.pheno:q}"
        " ${{covar:+$covar {input.covar:q}}} --model {params.model} --pcs {params.pcs}"
        " --threshold bonferroni --alpha {params.alpha} --no-plots --no-meff"
        " --seed {params.seed} --allow-unmatched --out {output.qtl:q} > {log:q} 2>&1"


rule summarise_omics:
    input:
        plink_set(GENOTYPES_PLINK),
        features="results/omics/{dataset}/features.tsv",
        qtl="results/omics/{dataset}/qtl",
    output:
        per_feature="results/omics/{dataset}/qtl_features.tsv",
        cis=report(
            "results/omics/{dataset}/cis.tsv",
            caption="../report/omics/cis.rst",
            category="Omics",
            subcategory="{dataset}",
        ),
        trans=report(
            "results/omics/{dataset}/trans.tsv",
            caption="../report/omics/trans.rst",
            category="Omics",
            subcategory="{dataset}",
        ),
        hotspots=report(
            "results/omics/{dataset}/hotspots.tsv",
            caption="../report/omics/hotspots.rst",
            category="Omics",
            subcategory="{dataset}",
        ),
        summary=report(
            "results/omics/{dataset}/summary.tsv",
            caption="../report/omics/summary.rst",
            category="Omics",
            subcategory="{dataset}",
        ),
        plot=report(
            "results/omics/{dataset}/qtl_map.png",
            caption="../report/omics/qtl_map.rst",
            category="Omics",
            subcategory="{dataset}",
        ),
    log:
        "logs/omics/{dataset}.summarise.log",
    benchmark:
        "benchmarks/omics/{dataset}.summarise.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
        outdir=lambda wc, output: str(Path(output.cis).parent),
        geno=plink_prefix,
        o=OMICS,
    shell:
        "{params.cli} omics summarise --features {input.features:q} --qtl-dir {input.qtl:q}"
        " --model {params.o[model]} --name {wildcards.dataset}"
        " --cis-window {params.o[cis_window]} --trans-distance {params.o[trans_distance]}"
        " --fdr {params.o[fdr]} --hotspot-window {params.o[hotspot_window]}"
        " --hotspot-min-features {params.o[hotspot_min_features]}"
        " --cis-correction {params.o[cis_correction]} --geno {params.geno}"
        " --trans-max-r2-cis {params.o[trans_max_r2_cis]}"
        " --out {params.outdir:q} > {log:q} 2>&1"


rule map_omics_scale:
    input:
        plink_set(GENOTYPES_PLINK),
        pheno="results/omics/{dataset}/phenotypes.tsv",
        features="results/omics/{dataset}/features.tsv",
        covar="results/omics/{dataset}/covariates.tsv",
    output:
        summary="results/omics/{dataset}/mapping/{mode}.json",
    log:
        "logs/omics/{dataset}.mapping_{mode}.log",
    benchmark:
        "benchmarks/omics/{dataset}.mapping_{mode}.tsv"
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
        args=omics_mapping_args,
    shell:
        "{params.cli} omics map --mode {wildcards.mode} --geno {params.geno}"
        " --pheno {input.pheno:q} --features {input.features:q}"
        " --covariates {input.covar:q} {params.args} --out {params.outdir:q} > {log:q} 2>&1"


# A dataset's feature kernel for GS model mkgblup (gs.omics_layers).
rule compute_omics_kernel:
    input:
        plink_set(GENOTYPES_PLINK),
        features="results/omics/{dataset}/phenotypes.tsv",
    output:
        kernel="results/omics/{dataset}/{dataset}.kernel.tsv",
    log:
        "logs/omics/{dataset}.kernel.log",
    benchmark:
        "benchmarks/omics/{dataset}.kernel.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=threaded_cli,
        geno=plink_prefix,
    shell:
        "{params.cli} omics kernel --features {input.features:q} --geno {params.geno}"
        " --out {output.kernel:q} > {log:q} 2>&1"


# GWAS leads of the field traits -> the features of every dataset whose QTL lead (summary
# or mapping at scale) is in LD with the lead and whose level predicts the trait.
rule link_omics_gwas:
    input:
        plink_set(GENOTYPES_PLINK),
        omics_link_inputs,
        pheno=GWAS_PHENO,
        leads=expand(
            "results/gwas/{model}/{trait}.{model}.leads.tsv",
            model=OMICS_LINK_MODEL,
            trait=TRAITS,
        ),
    output:
        links="results/omics/links.tsv",
    log:
        "logs/omics/links.log",
    benchmark:
        "benchmarks/omics/links.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
        geno=plink_prefix,
        gwas_dir=lambda wildcards, input: os.path.dirname(input.leads[0]),
        model=OMICS_LINK_MODEL,
        args=omics_link_args,
    shell:
        "{params.cli} omics link --gwas-dir {params.gwas_dir:q} --model {params.model}"
        " --pheno {input.pheno:q} --geno {params.geno} --omics-dir results/omics"
        " {params.args} --out {output.links:q} > {log:q} 2>&1"
