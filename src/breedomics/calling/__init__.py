"""Variant calling support: the pieces around bwa/samtools/bcftools that the workflow needs.

Modules
-------
regions
    Split a reference into calling regions at runs of N and pack them into jobs.
ploidy
    bcftools/freebayes ploidy and sex files for X/Y-aware calling.
evalcalls
    Genotype-aware precision, recall and F1 of a call set against a truth VCF
    (the comparison of GA4GH small-variant benchmarking, Krusche et al. 2019,
    *Nat Biotechnol* 37:555, at the genotype level).
"""
