# Call statistics and the MultiQC report over fastp, samtools and bcftools.


rule stat_calls:
    input:
        vcf="results/calls/{set}.vcf.gz",
        fa="results/reference/genome.fa",
    output:
        stats=report(
            "results/qc/bcftools/{set}.stats.txt",
            caption="../report/calls/bcftools_stats.rst",
            category="Reads and calls",
            subcategory="bcftools stats",
        ),
    log:
        "logs/qc/stat_calls.{set}.log",
    benchmark:
        "benchmarks/qc/stat_calls.{set}.tsv"
    wildcard_constraints:
        set=r"all\.(filtered|pass)",
    conda:
        "../../envs/bcftools.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    shell:
        "bcftools stats -F {input.fa} -s - {input.vcf} > {output.stats} 2> {log}"


rule run_multiqc:
    input:
        multiqc_inputs,
    output:
        html=report(
            "results/qc/multiqc_report.html",
            caption="../report/calls/multiqc.rst",
            category="Reads and calls",
            subcategory="MultiQC",
        ),
        files=temp("results/qc/multiqc_files.txt"),
    log:
        "logs/qc/multiqc.log",
    benchmark:
        "benchmarks/qc/multiqc.tsv"
    conda:
        "../../envs/multiqc.yaml"
    threads: 1
    resources:
        mem_mb=estimated_mem_mb,
        runtime=estimated_runtime,
    shell:
        "( printf '%s\\n' {input} > {output.files}"
        " && multiqc --force --no-data-dir --no-version-check"
        " --outdir results/qc --filename multiqc_report.html"
        " --file-list {output.files} ) > {log} 2>&1"
