# Alignment: bwa mem per unit with read groups, per-sample merge, duplicate marking
# (wgs only; gbs reads pile up at restriction sites by design) and alignment stats.
# A unit given as a BAM/CRAM (units sheet column bam) is either imported (aligned to the
# workflow's reference: read groups rewritten, mates fixed) or its read pairs are
# extracted and aligned like FASTQ (unaligned, or aligned to another reference); the
# route is chosen before any job (breedomics.alignments). The stored alignments are BAM
# or CRAM (alignment.format).


rule extract_reads:
    input:
        unpack(unit_alignment),
    output:
        fq1=temp("results/reads/{sample}/{unit}_R1.fq.gz"),
        fq2=temp("results/reads/{sample}/{unit}_R2.fq.gz"),
    log:
        "logs/extract/{sample}.{unit}.log",
    benchmark:
        "benchmarks/extract/{sample}.{unit}.tsv"
    conda:
        "../../envs/samtools.yaml"
    threads: 2
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        decode=decode_option,
    shell:
        # Pairs only (secondary and supplementary records are left out by samtools
        # fastq); the counts of pairs and dropped singletons are in the log.
        "( set -o pipefail; samtools collate -u -O {params.decode}"
        " {input.aln} {output.fq1}.collatetmp"
        " | samtools fastq -n -@ {threads} -0 /dev/null -s /dev/null"
        " -1 {output.fq1} -2 {output.fq2} - ) > {log} 2>&1"


rule import_alignment:
    input:
        unpack(unit_alignment),
    output:
        bam=temp("results/imported/{sample}/{unit}.bam"),
    log:
        "logs/import/{sample}.{unit}.log",
    benchmark:
        "benchmarks/import/{sample}.{unit}.tsv"
    conda:
        "../../envs/samtools.yaml"
    threads: 4
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        rg=read_group,
        decode=decode_option,
    shell:
        # Every record gets this unit's read group (the provider's @RG lines are
        # replaced); the provider's duplicate flags are cleared (mark_duplicates marks
        # them again for wgs); fixmate -m adds the mate tags samtools markdup needs.
        "( set -o pipefail; samtools view -u --remove-flags 0x400 {params.decode} {input.aln}"
        " | samtools addreplacerg -u -m overwrite_all -r '{params.rg}' -o - -"
        " | samtools collate -u -O - {output.bam}.collatetmp"
        " | samtools fixmate -m -u - -"
        " | samtools sort -@ {threads} -m 512M -T {output.bam}.sorttmp -o {output.bam} - ) > {log} 2>&1"


rule map_reads:
    input:
        fq1="results/trimmed/{sample}/{unit}_R1.fq.gz",
        fq2="results/trimmed/{sample}/{unit}_R2.fq.gz",
        idx=multiext(
            "results/reference/genome.fa", ".amb", ".ann", ".bwt", ".pac", ".sa"
        ),
    output:
        bam=temp("results/mapped/{sample}/{unit}.bam"),
    log:
        "logs/map/{sample}.{unit}.log",
    benchmark:
        "benchmarks/map/{sample}.{unit}.tsv"
    conda:
        "../../envs/bwa.yaml"
    threads: 4
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        rg=read_group,
        index=lambda wc, input: input.idx[0][: -len(".amb")],
    shell:
        "( set -o pipefail; bwa mem -t {threads} -R '{params.rg}' {params.index}"
        " {input.fq1} {input.fq2}"
        " | samtools fixmate -m -u - -"
        " | samtools sort -@ {threads} -m 512M -T {output.bam}.sorttmp -o {output.bam} - ) > {log} 2>&1"


rule merge_sample_bams:
    input:
        mapped_unit_bams,
    output:
        bam=temp("results/mapped/{sample}.merged.bam"),
    log:
        "logs/merge/{sample}.log",
    benchmark:
        "benchmarks/merge/{sample}.tsv"
    conda:
        "../../envs/samtools.yaml"
    threads: 2
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    shell:
        "samtools merge -f -@ {threads} -o {output.bam} {input} > {log} 2>&1"


rule mark_duplicates:
    input:
        "results/mapped/{sample}.merged.bam",
    output:
        bam="results/bam/{sample}.bam",
        bai="results/bam/{sample}.bam.bai",
        stats="results/qc/markdup/{sample}.markdup.txt",
    log:
        "logs/markdup/{sample}.log",
    benchmark:
        "benchmarks/markdup/{sample}.tsv"
    conda:
        "../../envs/samtools.yaml"
    threads: 2
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        gbs=lambda wc: "yes" if is_gbs(wc.sample) else "no",
    shell:
        "( if [ {params.gbs} = yes ]; then"
        "   cp {input} {output.bam}"
        "   && echo 'gbs library: duplicates not marked' > {output.stats};"
        " else"
        "   samtools markdup -@ {threads} -s -f {output.stats} -T {output.bam}.mdtmp"
        "   {input} {output.bam};"
        " fi && samtools index -@ {threads} {output.bam} ) > {log} 2>&1"


# alignment.format: cram. The same duplicate marking, written as CRAM (decoded with the
# workflow's reference); a rule of its own so that BAM runs keep theirs unchanged. Both
# write the duplicate stats: the configured format's rule does.
if ALN == "cram":

    ruleorder: mark_duplicates_cram > mark_duplicates

else:

    ruleorder: mark_duplicates > mark_duplicates_cram


rule mark_duplicates_cram:
    input:
        bam="results/mapped/{sample}.merged.bam",
        fa="results/reference/genome.fa",
        fai="results/reference/genome.fa.fai",
    output:
        cram="results/bam/{sample}.cram",
        crai="results/bam/{sample}.cram.crai",
        stats="results/qc/markdup/{sample}.markdup.txt",
    log:
        "logs/markdup/{sample}.log",
    benchmark:
        "benchmarks/markdup/{sample}.tsv"
    conda:
        "../../envs/samtools.yaml"
    threads: 2
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        gbs=lambda wc: "yes" if is_gbs(wc.sample) else "no",
    shell:
        "( if [ {params.gbs} = yes ]; then"
        "   samtools view -@ {threads} -C --reference {input.fa} -o {output.cram} {input.bam}"
        "   && echo 'gbs library: duplicates not marked' > {output.stats};"
        " else"
        "   samtools markdup -@ {threads} -s -f {output.stats} -T {output.cram}.mdtmp"
        "   --output-fmt cram --reference {input.fa} {input.bam} {output.cram};"
        " fi && samtools index -@ {threads} {output.cram} ) > {log} 2>&1"


rule stat_alignments:
    input:
        bam=f"results/bam/{{sample}}.{ALN}",
        bai=f"results/bam/{{sample}}.{ALN}.{ALN_INDEX}",
        fa="results/reference/genome.fa",
    output:
        stats="results/qc/samtools/{sample}.stats.txt",
        flagstat="results/qc/samtools/{sample}.flagstat.txt",
        coverage="results/qc/samtools/{sample}.coverage.txt",
    log:
        "logs/stats/{sample}.log",
    benchmark:
        "benchmarks/stats/{sample}.tsv"
    conda:
        "../../envs/samtools.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    shell:
        "( samtools stats -r {input.fa} --reference {input.fa} {input.bam} > {output.stats}"
        " && samtools flagstat --input-fmt-option reference={input.fa} {input.bam}"
        " > {output.flagstat}"
        " && samtools coverage --reference {input.fa} -o {output.coverage} {input.bam}"
        " ) > {log} 2>&1"
