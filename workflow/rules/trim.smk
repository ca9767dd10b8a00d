# Adapter and quality trimming with fastp; its JSON report feeds MultiQC.


rule trim_reads:
    input:
        unpack(unit_fastqs),
        adapters=ADAPTERS,
    output:
        fq1=temp("results/trimmed/{sample}/{unit}_R1.fq.gz"),
        fq2=temp("results/trimmed/{sample}/{unit}_R2.fq.gz"),
        json="results/qc/fastp/{sample}.{unit}.fastp.json",
        html="results/qc/fastp/{sample}.{unit}.fastp.html",
    log:
        "logs/trim/{sample}.{unit}.log",
    benchmark:
        "benchmarks/trim/{sample}.{unit}.tsv"
    conda:
        "../../envs/fastp.yaml"
    threads: 2
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    params:
        min_length=config["trimming"]["min_length"],
        qualified_quality=config["trimming"]["qualified_quality"],
        cut_right="--cut_right" if config["trimming"]["cut_right"] else "",
    shell:
        # fastp stops quietly at a truncated gzip, which would silently drop the rest of
        # the lane: both streams are tested in full by gzip -t, alongside fastp, and the
        # job fails (its outputs removed) if either is damaged.
        "( gzip -t {input.fq1:q} & t1=$!; gzip -t {input.fq2:q} & t2=$!;"
        " fastp -i {input.fq1:q} -I {input.fq2:q} -o {output.fq1} -O {output.fq2}"
        " --adapter_fasta {input.adapters} --detect_adapter_for_pe"
        " --length_required {params.min_length}"
        " --qualified_quality_phred {params.qualified_quality} {params.cut_right}"
        " --json {output.json} --html {output.html} --report_title {wildcards.sample}.{wildcards.unit}"
        " --thread {threads};"
        ' for t in "$t1:{input.fq1}" "$t2:{input.fq2}"; do wait "${{t%%:*}}" || {{'
        ' echo "ERROR: FASTQ ${{t#*:}} is truncated or damaged (gzip -t failed);'
        ' re-transfer it and check its md5sum." >&2; exit 1; }}; done ) > {log} 2>&1'
