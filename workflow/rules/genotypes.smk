# Genotype preparation: biallelic SNPs from the workflow's calls or from a VCF/PLINK
# set the lab already has; sample and variant QC (every removal written with its
# reason); Beagle imputation with an accuracy report from masked genotypes; PLINK
# export and an LD-pruned set for structure analyses.


rule normalise_genotypes:
    input:
        unpack(genotype_source),
    output:
        vcf="results/genotypes/snps.vcf.gz",
        tbi="results/genotypes/snps.vcf.gz.tbi",
        table="results/genotypes/qc/variants_normalised.tsv",
        summary="results/genotypes/qc/normalise_summary.tsv",
    log:
        "logs/genotypes/normalise_genotypes.log",
    benchmark:
        "benchmarks/genotypes/normalise_genotypes.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
        geno=lambda wc, input: (
            plink_prefix(wc, input) if GENO["source"] == "plink" else input.vcf
        ),
        ref=GENO_REFERENCE_ARGS,
        dups=GENO["duplicate_positions"],
    shell:
        # Every later stage may assume sorted, unique, positioned biallelic SNPs named
        # CHROM:POS:REF:ALT; each change is a row of the table, with its reason.
        "{params.cli} normalise-genotypes {params.geno:q} {params.ref}"
        " --duplicate-positions {params.dups} --ids position --out {output.vcf}"
        " --table {output.table} --summary {output.summary} > {log} 2>&1"


rule qc_genotypes:
    input:
        vcf="results/genotypes/snps.vcf.gz",
        sheet=GENO_SAMPLES,
        normalised="results/genotypes/qc/normalise_summary.tsv",
    output:
        samples=report(
            "results/genotypes/qc/sample_qc.tsv",
            caption="../report/genotypes/sample_qc.rst",
            category="Genotypes",
            subcategory="QC",
        ),
        removed="results/genotypes/qc/variants_removed.tsv",
        keep_samples="results/genotypes/qc/samples_keep.txt",
        # the sheet's rows of the samples kept (the census reads its groups from it)
        sheet=QC_SHEET,
        keep_sites="results/genotypes/qc/sites_keep.tsv",
        summary=report(
            "results/genotypes/qc/summary.tsv",
            caption="../report/genotypes/qc_summary.rst",
            category="Genotypes",
            subcategory="QC",
        ),
    log:
        "logs/genotypes/qc_genotypes.log",
    benchmark:
        "benchmarks/genotypes/qc_genotypes.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
        outdir=lambda wc, output: str(Path(output.summary).parent),
        mating=config["genome"]["mating"],
        x=SEX_X or "''",
        y=SEX_Y or "''",
        q=config["genotypes"],
    shell:
        "{params.cli} genotype-qc {input.vcf} --samples-sheet {input.sheet:q}"
        " --mating {params.mating} --x {params.x} --y {params.y}"
        " --min-sample-call-rate {params.q[min_sample_call_rate]}"
        " --max-sample-het {params.q[max_sample_het]}"
        " --min-variant-call-rate {params.q[min_variant_call_rate]}"
        " --min-maf {params.q[min_maf]} --hwe-p {params.q[hwe_p]}"
        " --normalise-summary {input.normalised}"
        " --outdir {params.outdir} > {log} 2>&1"


rule apply_genotype_qc:
    input:
        vcf="results/genotypes/snps.vcf.gz",
        keep_samples="results/genotypes/qc/samples_keep.txt",
        keep_sites="results/genotypes/qc/sites_keep.tsv",
    output:
        vcf="results/genotypes/qc.vcf.gz",
        tbi="results/genotypes/qc.vcf.gz.tbi",
    log:
        "logs/genotypes/apply_genotype_qc.log",
    benchmark:
        "benchmarks/genotypes/apply_genotype_qc.tsv"
    conda:
        "../../envs/bcftools.yaml"
    threads: 2
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    shell:
        # the BGZF (de)compression is most of the work: htslib threads share it
        "( bcftools view --threads {threads} -S {input.keep_samples} -T {input.keep_sites}"
        " -Oz -o {output.vcf} {input.vcf} && tabix -f -p vcf {output.vcf} ) > {log} 2>&1"


rule impute_genotypes:
    input:
        vcf="results/genotypes/qc.vcf.gz",
        tbi="results/genotypes/qc.vcf.gz.tbi",
    output:
        vcf="results/genotypes/imputed.vcf.gz",
        tbi="results/genotypes/imputed.vcf.gz.tbi",
    log:
        "logs/genotypes/impute_genotypes.log",
    benchmark:
        "benchmarks/genotypes/impute_genotypes.tsv"
    conda:
        "../../envs/beagle.yaml"
    threads: 2
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
        method=config["genotypes"]["impute"],
        seed=config["genotypes"]["seed"],
        sex=impute_sex_args,
        beagle=beagle_args,
    shell:
        # `mean` leaves missing genotypes for the Python stages (marker mean): the QC'd
        # file and its index are copied (recompressing 3,000 x 10 M took 1.4 h).
        "( if [ {params.method} = beagle ]; then"
        "   {params.cli} impute {input.vcf} --out {output.vcf} --threads {threads}"
        "   --mem-mb {resources.mem_mb} --seed {params.seed} {params.sex} {params.beagle};"
        " else cp {input.vcf} {output.vcf} && cp {input.tbi} {output.tbi}; fi ) > {log} 2>&1"


rule mask_genotypes:
    input:
        "results/genotypes/qc.vcf.gz",
    output:
        vcf=temp("results/genotypes/imputation/masked.vcf.gz"),
        tbi=temp("results/genotypes/imputation/masked.vcf.gz.tbi"),
        truth="results/genotypes/imputation/masked_truth.tsv",
    log:
        "logs/genotypes/mask_genotypes.log",
    benchmark:
        "benchmarks/genotypes/mask_genotypes.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
        fraction=config["genotypes"]["mask_fraction"],
        seed=config["genotypes"]["seed"],
    shell:
        "{params.cli} mask-genotypes {input} --fraction {params.fraction} --seed {params.seed}"
        " --out {output.vcf} --truth {output.truth} > {log} 2>&1"


rule impute_masked_genotypes:
    input:
        vcf="results/genotypes/imputation/masked.vcf.gz",
        tbi="results/genotypes/imputation/masked.vcf.gz.tbi",
    output:
        vcf=temp("results/genotypes/imputation/masked_imputed.vcf.gz"),
        tbi=temp("results/genotypes/imputation/masked_imputed.vcf.gz.tbi"),
    log:
        "logs/genotypes/impute_masked_genotypes.log",
    benchmark:
        "benchmarks/genotypes/impute_masked_genotypes.tsv"
    conda:
        "../../envs/beagle.yaml"
    threads: 2
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
        seed=config["genotypes"]["seed"],
        sex=impute_sex_args,
        beagle=beagle_args,
    shell:
        "{params.cli} impute {input.vcf} --out {output.vcf} --threads {threads}"
        " --mem-mb {resources.mem_mb} --seed {params.seed} {params.sex} {params.beagle}"
        " > {log} 2>&1"


rule score_imputation:
    input:
        truth="results/genotypes/imputation/masked_truth.tsv",
        imputed="results/genotypes/imputation/masked_imputed.vcf.gz",
        tbi="results/genotypes/imputation/masked_imputed.vcf.gz.tbi",
        original="results/genotypes/qc.vcf.gz",
    output:
        tsv=report(
            "results/genotypes/imputation_accuracy.tsv",
            caption="../report/genotypes/imputation_accuracy.rst",
            category="Genotypes",
            subcategory="Imputation",
        ),
    log:
        "logs/genotypes/score_imputation.log",
    benchmark:
        "benchmarks/genotypes/score_imputation.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
    shell:
        "{params.cli} impute-accuracy --truth {input.truth} --imputed {input.imputed}"
        " --original {input.original} --out {output.tsv} > {log} 2>&1"


rule export_plink:
    input:
        "results/genotypes/imputed.vcf.gz",
    output:
        plink_set(GENOTYPES_PLINK),
    log:
        "logs/genotypes/export_plink.log",
    benchmark:
        "benchmarks/genotypes/export_plink.tsv"
    conda:
        "../../envs/plink.yaml"
    threads: 2
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        out=plink_output_prefix,
    shell:
        "plink2 --vcf {input} --allow-extra-chr --vcf-half-call missing --double-id"
        " --threads {threads} --make-bed --out {params.out} > {log} 2>&1"


rule prune_ld:
    input:
        plink_set(GENOTYPES_PLINK),
    output:
        plink_set(PRUNED_PLINK),
        keep="results/genotypes/pruned.prune.in",
    log:
        "logs/genotypes/prune_ld.log",
    benchmark:
        "benchmarks/genotypes/prune_ld.tsv"
    conda:
        "../../envs/plink.yaml"
    threads: 2
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        bfile=plink_prefix,
        out=plink_output_prefix,
        window=config["genotypes"]["ld_prune"]["window"],
        step=config["genotypes"]["ld_prune"]["step"],
        r2=config["genotypes"]["ld_prune"]["r2"],
    shell:
        # plink2 refuses LD estimates from fewer than 50 samples; small panels (and the
        # test data) still get pruned, with a warning in the log.
        "( n=$(wc -l < {input.fam}); bad='';"
        " if [ $n -lt 50 ]; then bad=--bad-ld;"
        '   echo "WARNING: $n samples (< 50): LD estimates for pruning are noisy"; fi;'
        " plink2 --bfile {params.bfile} --allow-extra-chr --threads {threads} $bad"
        " --indep-pairwise {params.window} {params.step} {params.r2} --out {params.out}"
        " && plink2 --bfile {params.bfile} --allow-extra-chr --threads {threads}"
        " --extract {output.keep} --make-bed --out {params.out} ) > {log} 2>&1"
