"""Germplasm census: structure, relationships, diversity, inbreeding, duplicates, core sets.

One module per job, each with plain array functions and a streaming driver
over a genotype file (:mod:`breedomics.core.genotypes`):

* :mod:`~breedomics.census.pca` -- PCA of the standardised GRM
* :mod:`~breedomics.census.grm` -- VanRaden GRM
* :mod:`~breedomics.census.admixture` -- ADMIXTURE-model ancestry, CV choice of K
* :mod:`~breedomics.census.diversity` -- pi, Watterson theta, Tajima's D, Ho/He,
  private alleles
* :mod:`~breedomics.census.fst` -- Hudson Fst
* :mod:`~breedomics.census.ld` -- LD decay
* :mod:`~breedomics.census.roh` -- runs of homozygosity, F_ROH
* :mod:`~breedomics.census.duplicates` -- IBS duplicate clusters
* :mod:`~breedomics.census.core` -- core collection

The command line is ``breedomics census <job>`` (:mod:`breedomics.census.cli`).
"""
