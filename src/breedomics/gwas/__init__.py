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
* :mod:`~breedomics.gwas.results`, :mod:`~breedomics.gwas.clump`,
  :mod:`~breedomics.gwas.plots`, :mod:`~breedomics.gwas.report` --
  GWAS-SSF files (bgzip + tabix), LD clumping into leads and QTL intervals,
  Manhattan/QQ plots, summary tables;
* :mod:`~breedomics.testing.simulate_gwas`, :mod:`~breedomics.testing.gwas_power` --
  simulated panels with known QTL, power and false discoveries.
"""
