"""Germplasm census: structure, relationships, diversity, inbreeding, duplicates, core sets.

One module per job, each with plain array functions and a streaming driver
over a genotype file (:mod:`breedomics.core.genotypes`); the relationship
matrices and dosage standardisation are the genetics core's
(:mod:`breedomics.core.grm`, :mod:`breedomics.core.standardise`):

* :mod:`~breedomics.census.pca` -- PCA of the standardised GRM
* :mod:`~breedomics.census.grm` -- VanRaden GRM table and heatmap
* :mod:`~breedomics.census.admixture` -- ADMIXTURE-model ancestry, CV choice of K
* :mod:`~breedomics.census.diversity` -- pi, Watterson theta, Tajima's D, Ho/He,
  private alleles
* :mod:`~breedomics.census.fst` -- Hudson Fst
* :mod:`~breedomics.census.ld` -- LD decay
* :mod:`~breedomics.census.roh` -- runs of homozygosity, F_ROH
* :mod:`~breedomics.census.duplicates` -- IBS duplicate clusters
* :mod:`~breedomics.census.core` -- core collection

The per-chromosome jobs (diversity, LD decay, ROH) can run as one job per
shard of chromosomes and a gather (:mod:`~breedomics.census.scatter`). Each
job, as the command line runs it (tables, plot, or a shard's partial result),
is a function of :mod:`~breedomics.census.jobs`; the command line is
``breedomics census <job>`` (:mod:`breedomics.census.cli`), which only parses
arguments and calls them.

References
----------
VanRaden PM (2008) Efficient methods to compute genomic predictions.
*J Dairy Sci* 91:4414-4423.

Patterson N, Price AL, Reich D (2006) Population structure and eigenanalysis.
*PLoS Genet* 2:e190.

Alexander DH, Novembre J, Lange K (2009) Fast model-based estimation of
ancestry in unrelated individuals. *Genome Res* 19:1655-1664.

Bhatia G, Patterson N, Sankararaman S, Price AL (2013) Estimating and
interpreting FST: the impact of rare variants. *Genome Res* 23:1514-1521.

McQuillan R et al. (2008) Runs of homozygosity in European populations.
*Am J Hum Genet* 83:359-372.
"""
