"""Genome-wide association for breeding populations (``breedomics gwas``).

Modules, one job each:

* :mod:`~breedomics.gwas.phenotypes` -- phenotype/covariate loading, sample
  matching and validation (clear errors naming the trait, sample, column);
* :mod:`~breedomics.gwas.kinship` -- out-of-core VanRaden GRM, LOCO sums, PSD
  check with a documented ridge, PCs;
* :mod:`~breedomics.gwas.lmm` -- null REML/ML and per-variant tests: exact
  per-variant REML + Wald (GEMMA ``-lmm 1``; Zhou & Stephens 2012, *Nat Genet*
  44:821), P3D/EMMAX (Zhang et al. 2010, *Nat Genet* 42:355; Kang et al.
  2010, *Nat Genet* 42:348) and GLM, vectorised over variants and traits;
* :mod:`~breedomics.gwas.scan` -- the streaming pass: traits grouped by
  missingness pattern, one eigendecomposition per group (and per chromosome
  with LOCO; Yang et al. 2014, *Nat Genet* 46:100);
* :mod:`~breedomics.gwas.farmcpu` -- FarmCPU-style multi-locus model (Liu et
  al. 2016, *PLoS Genet* 12:e1005767);
* :mod:`~breedomics.gwas.pvalues`, :mod:`~breedomics.gwas.threshold` --
  p-values without underflow, inflation, Bonferroni / M_eff (Li & Ji 2005;
  Gao et al. 2008) / permutation thresholds;
* :mod:`~breedomics.gwas.results`, :mod:`~breedomics.gwas.naming`,
  :mod:`~breedomics.gwas.clump`, :mod:`~breedomics.gwas.plots`,
  :mod:`~breedomics.gwas.report` -- GWAS-SSF files (bgzip + tabix) and the names of
  every per-trait file, LD clumping into leads and QTL intervals, Manhattan/QQ plots,
  summary tables;
* :mod:`~breedomics.gwas.shards` -- a scan scattered over chromosome groups and trait
  batches, gathered exactly;
* :mod:`~breedomics.gwas.annotate` -- favourable alleles, candidate genes and
  consequences of the leads;
* :mod:`~breedomics.gwas.run` -- one run as the command line makes it: samples,
  kinship (GRM, user matrix, LOCO), PCs, the scan or FarmCPU, shard state or report;
* :mod:`~breedomics.gwas.cli`, :mod:`~breedomics.gwas.shard_cli`,
  :mod:`~breedomics.gwas.annotate_cli` -- the command lines, which only parse
  arguments (option blocks shared with ``breedomics omics`` in
  :mod:`~breedomics.gwas.arguments`) and call the modules above.

Simulated panels with known QTL and the power of a scan are in
:mod:`breedomics.testing` (tests and benchmarks only).
"""
