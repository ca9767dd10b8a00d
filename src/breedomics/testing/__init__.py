"""Simulators and evaluators with known truth, for tests, benchmarks and test-data scripts.

Nothing in the workflow's stages imports this package: it makes data (panels, traits,
trials, reads' truth) and scores results against the truth it made.

Modules
-------
simulate
    Landrace and outbred panels, species test data (reference, truth VCF).
simulate_gs
    Populations, traits and multi-environment trials for genomic selection.
simulate_gwas
    Structured panels and traits with known QTL for association tests.
gwas_power
    Power and false discoveries of a scan against the simulated QTL.
"""
