# Reference preparation: an uncompressed copy with samtools faidx, a sequence
# dictionary and the bwa index, all under results/reference/.


rule prepare_reference:
    input:
        # a genotype-only run may have no reference: then no job needs this rule
        config["reference"]["fasta"] or [],
    output:
        fa="results/reference/genome.fa",
        fai="results/reference/genome.fa.fai",
        dict="results/reference/genome.dict",
    log:
        "logs/reference/prepare_reference.log",
    benchmark:
        "benchmarks/reference/prepare_reference.tsv"
    conda:
        "../../envs/samtools.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    shell:
        "( if gzip -t {input:q} 2>/dev/null; then gzip -dc {input:q}; else cat {input:q}; fi"
        " > {output.fa}.tmp && mv {output.fa}.tmp {output.fa}"
        " && samtools faidx {output.fa}"
        " && samtools dict -o {output.dict} {output.fa} ) > {log} 2>&1"


rule build_bwa_index:
    input:
        "results/reference/genome.fa",
    output:
        multiext(
            "results/reference/genome.fa",
            amb=".amb",
            ann=".ann",
            bwt=".bwt",
            pac=".pac",
            sa=".sa",
        ),
    log:
        "logs/reference/bwa_index.log",
    benchmark:
        "benchmarks/reference/bwa_index.tsv"
    conda:
        "../../envs/bwa.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    shell:
        "bwa index {input} > {log} 2>&1"
