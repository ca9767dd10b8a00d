# Joint variant calling over all samples, scattered over genome regions (split at runs
# of N, small scaffolds packed into a bounded number of jobs) and gathered in order;
# then each sample's inbreeding (the inbred lines of the panel), normalisation with the
# lines' heterozygous calls resolved, soft filters in FILTER, optionally population-aware
# genotype refinement (calling.refine) and a hard-filtered biallelic set.


checkpoint make_regions:
    input:
        fa="results/reference/genome.fa",
        fai="results/reference/genome.fa.fai",
    output:
        regions=directory("results/calls/regions"),
    log:
        "logs/calls/make_regions.log",
    benchmark:
        "benchmarks/calls/make_regions.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
        size=config["calling"]["region_size"],
        max_jobs=config["calling"]["max_jobs"],
        min_gap=config["calling"]["min_gap"],
    shell:
        "{params.cli} make-regions --fasta {input.fa} --target-size {params.size}"
        " --max-jobs {params.max_jobs} --min-gap {params.min_gap} --outdir {output.regions} > {log} 2>&1"


rule write_ploidy:
    input:
        samples=config["samples"],
        fai="results/reference/genome.fa.fai",
    output:
        ploidy="results/calls/ploidy.txt",
        sexes="results/calls/sexes.txt",
        cnv="results/calls/cnv_map.bed",
    log:
        "logs/calls/write_ploidy.log",
    benchmark:
        "benchmarks/calls/write_ploidy.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
        args=ploidy_args,
    shell:
        "{params.cli} write-ploidy --samples {input.samples:q} --fai {input.fai} {params.args}"
        " --ploidy-out {output.ploidy} --sexes-out {output.sexes} --cnv-out {output.cnv}"
        " > {log} 2>&1"


rule call_variants_region:
    input:
        bams=sample_bams,
        bais=sample_bam_indexes,
        fa="results/reference/genome.fa",
        fai="results/reference/genome.fa.fai",
        bed="results/calls/regions/{region}.bed",
        ploidy="results/calls/ploidy.txt",
        sexes="results/calls/sexes.txt",
        cnv="results/calls/cnv_map.bed",
        loci=gbs_loci,
    output:
        bcf="results/calls/by_region/{region}.bcf",
        csi="results/calls/by_region/{region}.bcf.csi",
    log:
        "logs/calls/{region}.log",
    benchmark:
        "benchmarks/calls/{region}.tsv"
    conda:
        "../../envs/calling.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        caller=config["calling"]["caller"],
        mapq=config["calling"]["min_mapq"],
        baseq=config["calling"]["min_baseq"],
        depth=GBS["max_depth"] if GBS_RUN else config["calling"]["max_depth"],
        targets=gbs_targets,
    shell:
        "( set -o pipefail; if [ {params.caller} = freebayes ]; then"
        "   freebayes -f {input.fa} -t {input.bed} --cnv-map {input.cnv}"
        "   --min-mapping-quality {params.mapq} --min-base-quality {params.baseq}"
        "   {input.bams}"
        "   | bcftools norm -a -f {input.fa} -Ob -o {output.bcf};"
        " else"
        "   bcftools mpileup -f {input.fa} -R {input.bed} {params.targets}"
        "   -p -q {params.mapq} -Q {params.baseq}"
        "   -d {params.depth} -a FORMAT/AD,FORMAT/ADF,FORMAT/ADR,FORMAT/DP,FORMAT/SP,INFO/AD"
        "   -Ou {input.bams}"
        "   | bcftools call -m -v -a GQ --ploidy-file {input.ploidy} -S {input.sexes}"
        "   -Ob -o {output.bcf};"
        " fi && bcftools index -f {output.bcf} ) > {log} 2>&1"


# calling.mode: incremental. Each sample's genotype likelihoods at every covered site
# (reference blocks by depth band, the sample's own indel candidates), from its BAM alone:
# the job depends on no other sample nor on the regions. An indel candidate needs one
# gapped read (-m 1; the joint pileup's 2 are counted over the reads of all samples at
# the site): with 2, animals carrying a deletion whose reads placed the gap elsewhere in a
# repeat proposed none and were called hom-ref (pig test reads: concordance with the joint
# run 0.9987, with -m 1 0.9992).
rule call_sample_gvcf:
    input:
        bam=lambda wc: f"results/bam/{wc.sample}.{ALN}",
        bai=lambda wc: f"results/bam/{wc.sample}.{ALN}.{ALN_INDEX}",
        fa="results/reference/genome.fa",
        fai="results/reference/genome.fa.fai",
    output:
        bcf="results/calls/gvcf/{sample}.all.bcf",
        csi="results/calls/gvcf/{sample}.all.bcf.csi",
    log:
        "logs/calls/gvcf/{sample}.log",
    benchmark:
        "benchmarks/calls/gvcf/{sample}.tsv"
    conda:
        "../../envs/calling.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        mapq=config["calling"]["min_mapq"],
        baseq=config["calling"]["min_baseq"],
        depth=GBS["max_depth"] if GBS_RUN else config["calling"]["max_depth"],
        bands=GVCF_BANDS,
    shell:
        "( bcftools mpileup -f {input.fa} -p -q {params.mapq} -Q {params.baseq}"
        " -d {params.depth} -a FORMAT/AD,FORMAT/ADF,FORMAT/ADR,FORMAT/DP,FORMAT/SP,INFO/AD"
        " -m 1 -g {params.bands} -Ob -o {output.bcf} {input.bam}"
        " && bcftools index -f {output.bcf} ) > {log} 2>&1"


# The positions where a sample's reads propose a variant (calling.candidate_min_alt_reads
# reads of one alternative base, or an indel), listed once per sample: the merges genotype
# the union of the cohort's candidates only.
rule list_gvcf_candidates:
    input:
        bcf="results/calls/gvcf/{sample}.all.bcf",
        csi="results/calls/gvcf/{sample}.all.bcf.csi",
    output:
        tsv="results/calls/gvcf/{sample}.candidates.tsv.gz",
        tbi="results/calls/gvcf/{sample}.candidates.tsv.gz.tbi",
    log:
        "logs/calls/gvcf/{sample}.candidates.log",
    benchmark:
        "benchmarks/calls/gvcf/{sample}.candidates.tsv"
    conda:
        "../../envs/calling.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        expr=candidate_filter(config["calling"]["candidate_min_alt_reads"]),
    shell:
        "( set -o pipefail; bcftools query -i {params.expr:q} -f '%CHROM\\t%POS\\n' {input.bcf}"
        " | bgzip -c > {output.tsv} && tabix -f -s1 -b2 -e2 {output.tsv} ) > {log} 2>&1"


# The cohort's joint genotyping of one region from the per-sample gVCFs, at the cohort's
# candidate positions, window by window of 10 000 of them (breedomics merge-gvcfs, its
# temporary files in $TMPDIR): each gVCF cut to the window's positions and its reference
# blocks trimmed to them (bcftools view), merged (bcftools merge --gvcf: blocks expanded;
# depth, read counts and the pileup statistics that bcftools call reads summed), each
# sample that has no likelihood for an indel another sample proposed given its own (as
# breedomics fill-gvcf-indels), called as call_variants_region calls (bcftools call), the
# windows concatenated, the site depth summed over the samples (the merge leaves the
# blocks out); records starting in the region only (a merged indel may start before it).
rule merge_gvcfs_region:
    input:
        gvcfs=sample_gvcfs,
        csis=lambda wc: [f"{f}.csi" for f in sample_gvcfs(wc)],
        candidates=sample_gvcf_candidates,
        tbis=lambda wc: [f"{f}.tbi" for f in sample_gvcf_candidates(wc)],
        fa="results/reference/genome.fa",
        fai="results/reference/genome.fa.fai",
        bed="results/calls/regions/{region}.bed",
        ploidy="results/calls/ploidy.txt",
        sexes="results/calls/sexes.txt",
    output:
        bcf="results/calls/merged/{region}.bcf",
        csi="results/calls/merged/{region}.bcf.csi",
    log:
        "logs/calls/merged/{region}.log",
    benchmark:
        "benchmarks/calls/merged/{region}.tsv"
    conda:
        "../../envs/calling.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
    shell:
        "( work=$(mktemp -d) && trap 'rm -rf \"$work\"' EXIT"
        " && {params.cli} merge-gvcfs --gvcfs {input.gvcfs} --candidates {input.candidates}"
        " --regions {input.bed} --fasta {input.fa} --ploidy {input.ploidy} --sexes {input.sexes}"
        ' --workdir "$work" --threads {threads} --out {output.bcf}'
        " && bcftools index -f {output.bcf} ) > {log} 2>&1"


rule concat_calls:
    input:
        bcfs=region_bcfs,
        csis=lambda wc: [f"{f}.csi" for f in region_bcfs(wc)],
    output:
        bcf="results/calls/all.raw.bcf",
        csi="results/calls/all.raw.bcf.csi",
    log:
        "logs/calls/concat_calls.log",
    benchmark:
        "benchmarks/calls/concat_calls.tsv"
    conda:
        "../../envs/bcftools.yaml"
    threads: 2
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    shell:
        "( bcftools concat --threads {threads} -Ob -o {output.bcf} {input.bcfs}"
        " && bcftools index -f {output.bcf} ) > {log} 2>&1"


rule estimate_inbreeding:
    input:
        "results/calls/all.raw.bcf",
    output:
        table="results/calls/inbreeding.tsv",
        lines="results/calls/inbred_lines.txt",
    log:
        "logs/calls/estimate_inbreeding.log",
    benchmark:
        "benchmarks/calls/estimate_inbreeding.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
        args=inbreeding_args,
    shell:
        "{params.cli} estimate-inbreeding {input} --out {output.table}"
        " --lines-out {output.lines} {params.args} > {log} 2>&1"


rule normalize_calls:
    input:
        bcf="results/calls/all.raw.bcf",
        fa="results/reference/genome.fa",
        lines="results/calls/inbred_lines.txt",
    output:
        bcf="results/calls/all.norm.bcf",
        csi="results/calls/all.norm.bcf.csi",
    log:
        "logs/calls/normalize_calls.log",
    benchmark:
        "benchmarks/calls/normalize_calls.tsv"
    conda:
        "../../envs/bcftools.yaml"
    threads: 2
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        line_hets=line_het_pipeline,
    shell:
        # Inbred lines (every sample under genome.mating: inbred, else the lines that
        # estimate_inbreeding found): a heterozygous call is an error or a paralog; it
        # becomes the likelier homozygote or missing (calling.inbred_het).
        "( set -o pipefail; bcftools norm --threads {threads} -f {input.fa} -m -any -Ou {input.bcf}"
        " {params.line_hets}"
        " | bcftools +fill-tags -Ob -o {output.bcf} - -- -t AN,AC,AF,F_MISSING"
        " && bcftools index -f {output.bcf} ) > {log} 2>&1"


rule filter_calls:
    input:
        "results/calls/all.norm.bcf",
    output:
        vcf="results/calls/all.filtered.vcf.gz",
        tbi="results/calls/all.filtered.vcf.gz.tbi",
    log:
        "logs/calls/filter_calls.log",
    benchmark:
        "benchmarks/calls/filter_calls.tsv"
    conda:
        "../../envs/bcftools.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        filters=soft_filter_pipeline,
        gt_filter=genotype_filter,
    shell:
        "( set -o pipefail; bcftools view -Ou {input} {params.gt_filter} {params.filters}"
        " | bcftools view -Oz -o {output.vcf} && tabix -f -p vcf {output.vcf} ) > {log} 2>&1"


rule refine_calls:
    input:
        vcf="results/calls/all.filtered.vcf.gz",
        tbi="results/calls/all.filtered.vcf.gz.tbi",
        lines="results/calls/inbred_lines.txt",
    output:
        vcf="results/calls/all.refined.vcf.gz",
        tbi="results/calls/all.refined.vcf.gz.tbi",
    log:
        "logs/calls/refine_calls.log",
    benchmark:
        "benchmarks/calls/refine_calls.tsv"
    conda:
        "../../envs/breedomics.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        cli=BREEDOMICS,
        args=refine_args,
    shell:
        "{params.cli} refine-calls {input.vcf} --out {output.vcf} --lines {input.lines}"
        " {params.args} > {log} 2>&1"


rule hardfilter_calls:
    input:
        CALLS_TO_PASS,
    output:
        vcf="results/calls/all.pass.vcf.gz",
        tbi="results/calls/all.pass.vcf.gz.tbi",
    log:
        "logs/calls/hardfilter_calls.log",
    benchmark:
        "benchmarks/calls/hardfilter_calls.tsv"
    conda:
        "../../envs/bcftools.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    shell:
        "( bcftools view -f PASS,. -m2 -M2 -v snps,indels -i 'INFO/AC>0' -Oz -o {output.vcf}"
        " {input} && tabix -f -p vcf {output.vcf} ) > {log} 2>&1"


# GBS runs (calling.gbs.loci: covered): the loci the reads cover - positions where the
# samples' reads of mapping quality >= calling.min_mapq (overlapping mates once) sum to
# calling.gbs.min_locus_depth, merged into intervals (gaps under 10 bp closed).
rule gbs_covered_loci:
    input:
        bams=sample_bams,
        bais=sample_bam_indexes,
        fa="results/reference/genome.fa",
    output:
        bed="results/calls/gbs_loci.bed",
    log:
        "logs/calls/gbs_covered_loci.log",
    benchmark:
        "benchmarks/calls/gbs_covered_loci.tsv"
    conda:
        "../../envs/calling.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        mapq=config["calling"]["min_mapq"],
        min_depth=GBS["min_locus_depth"],
    shell:
        "( set -o pipefail; samtools depth -s -Q {params.mapq}"
        " --reference {input.fa} {input.bams}"
        " | awk -v min={params.min_depth} -v gap=10 -v OFS='\\t'"
        " '{{ s = 0; for (i = 3; i <= NF; i++) s += $i; if (s < min) next;"
        "   if (n && $1 == c && $2 - e <= gap) e = $2;"
        "   else {{ if (n) print c, b, e; n = 1; c = $1; b = $2 - 1; e = $2 }} }}"
        " END {{ if (n) print c, b, e }}' > {output.bed} ) 2> {log}"
