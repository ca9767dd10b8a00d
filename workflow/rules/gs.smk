# Genomic selection: trial records -> per-genotype BLUEs -> cross-validated models ->
# GEBVs for every genotyped candidate -> a selection index and a ranked top-N list,
# under results/gs/. CV is scattered over traits, models and repeats (one fold table
# shared by all of them) and gathered into one summary.


rule estimate_blues:
    input:
        records=GS["trials"] or "unset",
    output:
        blues="results/gs/blue/blues.tsv",
        blups="results/gs/blue/blups.tsv",
        varcomp=report(
            "results/gs/blue/varcomp.tsv",
            caption="../report/gs/blue_varcomp.rst",
            category="Genomic selection",
            subcategory="Trial analysis",
        ),
        outliers="results/gs/blue/outliers.tsv",
        residuals="results/gs/blue/residuals.tsv",
    log:
        "logs/gs/blue.log",
    benchmark:
        "benchmarks/gs/blue.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=threaded_cli,
        traits=",".join(GS_TRIAL_TRAITS),
        c={k: shlex.quote(v) for k, v in GS["trial_columns"].items()},
        rep=lambda wc: (
            f"--rep-col {shlex.quote(GS['trial_columns']['replicate'])}"
            if GS["trial_columns"]["replicate"]
            else ""
        ),
        block=lambda wc: (
            f"--block-col {shlex.quote(GS['trial_columns']['block'])}"
            if GS["trial_columns"]["block"]
            else ""
        ),
        plot=lambda wc: (
            f"--id-col {shlex.quote(GS['trial_columns']['plot'])}"
            if GS["trial_columns"]["plot"]
            else ""
        ),
        drop="--drop-outliers" if GS["drop_outliers"] else "",
        outdir=lambda wc, output: str(Path(output.blues).parent),
    shell:
        "{params.cli} gs blue --records {input.records:q} --traits {params.traits}"
        " --genotype-col {params.c[genotype]} --env-col {params.c[environment]}"
        " {params.rep} {params.block} {params.plot} {params.drop}"
        " --out-dir {params.outdir} > {log} 2>&1"


rule make_gs_folds:
    input:
        pheno=GS_PHENO,
        fam="results/genotypes/genotypes.fam",
        sheet=GENO_SAMPLES,
    output:
        folds="results/gs/cv/folds.tsv",
    log:
        "logs/gs/folds.log",
    benchmark:
        "benchmarks/gs/folds.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
        traits=",".join(GS_TRAITS),
        folds=gs_fold_args,
        seed=config["genotypes"]["seed"],
    shell:
        "{params.cli} gs folds --phenotypes {input.pheno:q} --traits {params.traits}"
        " --genotyped {input.fam:q} {params.folds} --seed {params.seed}"
        " --out {output.folds:q} > {log} 2>&1"


rule cross_validate_gs:
    input:
        plink_set(GENOTYPES_PLINK),
        pheno=GS_PHENO,
        folds="results/gs/cv/folds.tsv",
        kernels=gs_kernels,
    output:
        metrics="results/gs/cv/{trait}/{model}/rep{repeat}/cv_metrics.tsv",
        predictions="results/gs/cv/{trait}/{model}/rep{repeat}/cv_predictions.tsv",
        varcomp="results/gs/cv/{trait}/{model}/rep{repeat}/cv_varcomp.tsv",
        timing="results/gs/cv/{trait}/{model}/rep{repeat}/cv_timing.tsv",
    log:
        "logs/gs/cv/{trait}.{model}.rep{repeat}.log",
    benchmark:
        "benchmarks/gs/cv/{trait}.{model}.rep{repeat}.tsv"
    wildcard_constraints:
        model="gblup|rkhs|bayesb|bayesc|rf|gbm|mkgblup",
        repeat=r"\d+",
    conda:
        "../../envs/breedomics.yaml"
    threads: 2
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=threaded_cli,
        geno=plink_prefix,
        traits=lambda wc: wc.trait,
        model=gs_model_args,
        models=gs_cv_models,
        outdir=lambda wc, output: str(Path(output.metrics).parent),
    shell:
        "{params.cli} gs cv --genotypes {params.geno} --phenotypes {input.pheno:q}"
        " --traits {params.traits} --models {params.models}"
        " --fold-file {input.folds:q} --repeat {wildcards.repeat} {params.model}"
        " --no-plot --out-dir {params.outdir} > {log} 2>&1"


# The multi-trait model: one job per repeat for every trait together.
use rule cross_validate_gs as cross_validate_gs_multitrait with:
    output:
        metrics="results/gs/cv/multi-trait/{model}/rep{repeat}/cv_metrics.tsv",
        predictions="results/gs/cv/multi-trait/{model}/rep{repeat}/cv_predictions.tsv",
        varcomp="results/gs/cv/multi-trait/{model}/rep{repeat}/cv_varcomp.tsv",
        timing="results/gs/cv/multi-trait/{model}/rep{repeat}/cv_timing.tsv",
    log:
        "logs/gs/cv/multi-trait.{model}.rep{repeat}.log",
    benchmark:
        "benchmarks/gs/cv/multi-trait.{model}.rep{repeat}.tsv"
    wildcard_constraints:
        model="mtgblup",
        repeat=r"\d+",
    params:
        traits=",".join(GS_TRAITS),


rule gather_gs_cv:
    input:
        gs_cv_dirs,
    output:
        summary=report(
            "results/gs/cv/cv_summary.tsv",
            caption="../report/gs/cv_summary.rst",
            category="Genomic selection",
            subcategory="Cross-validation",
        ),
        metrics="results/gs/cv/cv_metrics.tsv",
        predictions="results/gs/cv/cv_predictions.tsv",
        varcomp="results/gs/cv/cv_varcomp.tsv",
        png=report(
            "results/gs/cv/cv_accuracy.png",
            caption="../report/gs/cv_accuracy.rst",
            category="Genomic selection",
            subcategory="Cross-validation",
        ),
    log:
        "logs/gs/cv/gather.log",
    benchmark:
        "benchmarks/gs/cv/gather.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
        dirs=lambda wc, input: " ".join(shlex.quote(str(Path(f).parent)) for f in input),
        outdir=lambda wc, output: str(Path(output.summary).parent),
    shell:
        "{params.cli} gs gather-cv --inputs {params.dirs} --out-dir {params.outdir}"
        " > {log} 2>&1"


rule predict_gs:
    input:
        plink_set(GENOTYPES_PLINK),
        pheno=GS_PHENO,
        kernels=gs_kernels,
    output:
        gebv=report(
            "results/gs/predict/{model}/gebv.tsv",
            caption="../report/gs/gebv.rst",
            category="Genomic selection",
            subcategory="Breeding values",
            labels={"model": "{model}"},
        ),
        long="results/gs/predict/{model}/gebv_long.tsv",
        varcomp="results/gs/predict/{model}/varcomp.tsv",
        fixed="results/gs/predict/{model}/fixed_effects.tsv",
    log:
        "logs/gs/predict/{model}.log",
    benchmark:
        "benchmarks/gs/predict/{model}.tsv"
    wildcard_constraints:
        model="gblup|rkhs|bayesb|bayesc|rf|gbm|mtgblup|mkgblup",
    conda:
        "../../envs/breedomics.yaml"
    threads: 2
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=threaded_cli,
        geno=plink_prefix,
        traits=",".join(GS_TRAITS),
        model=gs_model_args,
        outdir=lambda wc, output: str(Path(output.gebv).parent),
    shell:
        "{params.cli} gs predict --genotypes {params.geno} --phenotypes {input.pheno:q}"
        " --traits {params.traits} --model {wildcards.model} {params.model}"
        " --out-dir {params.outdir} > {log} 2>&1"


rule select_candidates:
    input:
        plink_set(GENOTYPES_PLINK),
        gebv=f"results/gs/predict/{GS['selection']['model']}/gebv.tsv",
    output:
        selection=report(
            "results/gs/selection.tsv",
            caption="../report/gs/selection.rst",
            category="Genomic selection",
            subcategory="Selection",
        ),
    log:
        "logs/gs/select.log",
    benchmark:
        "benchmarks/gs/select.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=threaded_cli,
        geno=plink_prefix,
        s=GS["selection"],
        weights=gs_weights,
        std="--standardize" if GS["selection"]["standardize"] else "",
        cap=lambda wc, input: (
            f"--max-kinship {GS['selection']['max_kinship']:g}"
            f" --genotypes {shlex.quote(plink_prefix(wc, input))}"
            if GS["selection"]["max_kinship"] > 0
            else ""
        ),
    shell:
        "{params.cli} gs select --gebv {input.gebv:q} --weights {params.weights}"
        " --top {params.s[top]} {params.std} {params.cap} --out {output.selection:q} > {log} 2>&1"


# Trials with plot coordinates (gs.trial_columns.row/col): the SpATS spatial model per
# trial, the block model for trials without coordinates, and a second stage weighting
# the per-trial BLUEs by their standard errors; its blues.tsv is then the GS phenotype.
# Outlying plots: the block model's Holm test (gs.drop_outliers: refit without them).
rule spatial_trials:
    input:
        records=GS["trials"] or "unset",
    output:
        blues="results/phenome/spatial/blues.tsv",
        long="results/phenome/spatial/blues_long.tsv",
        stage1="results/phenome/spatial/stage1_blues.tsv",
        heritability=report(
            "results/phenome/spatial/heritability.tsv",
            caption="../report/gs/spatial_heritability.rst",
            category="Genomic selection",
            subcategory="Trial analysis",
        ),
        varcomp="results/phenome/spatial/varcomp.tsv",
        varcomp_met="results/phenome/spatial/varcomp_met.tsv",
        outliers="results/phenome/spatial/outliers.tsv",
        residuals="results/phenome/spatial/residuals.tsv",
        trend="results/phenome/spatial/trend.tsv",
        variogram="results/phenome/spatial/variogram.tsv",
        field_map=report(
            "results/phenome/spatial/field_map.png",
            caption="../report/gs/field_map.rst",
            category="Genomic selection",
            subcategory="Trial analysis",
        ),
    log:
        "logs/phenome/spatial.log",
    benchmark:
        "benchmarks/phenome/spatial.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=threaded_cli,
        traits=",".join(GS_TRIAL_TRAITS),
        args=spatial_args,
        outdir=lambda wc, output: str(Path(output.blues).parent),
    shell:
        "{params.cli} phenome spatial --records {input.records:q} --traits {params.traits}"
        " {params.args} --out-dir {params.outdir} > {log} 2>&1"
