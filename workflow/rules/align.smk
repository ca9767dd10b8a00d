# Alignment: bwa mem per unit with read groups, per-sample merge, duplicate marking
# (wgs only; gbs reads pile up at restriction sites by design) and alignment stats.


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
        lambda wc: expand(
            "results/mapped/{{sample}}/{unit}.bam", unit=units_of(wc.sample)
        ),
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


rule stat_alignments:
    input:
        bam="results/bam/{sample}.bam",
        bai="results/bam/{sample}.bam.bai",
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
        "( samtools stats -r {input.fa} {input.bam} > {output.stats}"
        " && samtools flagstat {input.bam} > {output.flagstat}"
        " && samtools coverage -o {output.coverage} {input.bam} ) > {log} 2>&1"
