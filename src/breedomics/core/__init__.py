"""Shared genetics core of breedomics.

The stage packages (:mod:`breedomics.census`, :mod:`breedomics.gwas`,
:mod:`breedomics.gs`, :mod:`breedomics.omics`) call this package for what they
have in common, so that each piece is written once and behaves the same in
every stage. None of them reaches into another stage's private names
(``tests/test_architecture.py`` checks it).

Modules
-------
genotypes
    Genotype I/O: PLINK bed/bim/fam and VCF/BCF read as dosages by chunk, by
    chromosome and by sample ids; writing PLINK sets; the order check every
    command runs before computing.
standardise
    Dosage centring, mean imputation, standardisation and MAF filters.
residualise
    Covariates regressed out of phenotypes and dosages (the least-squares projection
    of Matrix eQTL / FastQTL / tensorQTL), mean imputation, minor-allele counts.
grm
    The VanRaden genomic relationship matrix (VanRaden 2008), dense or streamed
    over chunks, with leave-one-chromosome-out parts, and its PSD
    eigendecomposition reused by every mixed model.
reml
    Single-kernel REML/ML in the variance ratio (grid + Brent, as GEMMA:
    Zhou & Stephens 2012), variance components, BLUP and PEV.
aireml
    Average-information REML for several kernels and for several traits
    (Gilmour et al. 1995), with the BLUP of each component.
mme
    REML of a linear mixed model with independent random effects (groups and
    cells nested in them, e.g. genotypes and genotype x environment) through
    Henderson's mixed-model equations with the random blocks absorbed
    (Henderson 1975; Patterson & Thompson 1971): BLUEs, BLUPs, PEVs, leverages,
    observed-information standard errors.
linalg
    Tridiagonal reduction of a kernel and BLAS thread limits.
phenotypes
    Phenotype and covariate tables: trait columns, sample matching, checks.
tables
    Reading the tables labs send (phenotypes, covariates, trial records,
    sample and unit sheets): CSV or TSV, plain or gzipped, with a BOM, Windows
    line endings, padded ids and any of the usual missing-value codes; every
    bad file is a short :class:`~breedomics.errors.UserError` naming the file,
    line and column.

References
----------
VanRaden PM (2008) Efficient methods to compute genomic predictions.
*J Dairy Sci* 91:4414-4423.
Zhou X, Stephens M (2012) Genome-wide efficient mixed-model analysis for
association studies. *Nat Genet* 44:821-824.
Henderson CR (1975) Best linear unbiased estimation and prediction under a
selection model. *Biometrics* 31:423-447.
Patterson HD, Thompson R (1971) Recovery of inter-block information when block
sizes are unequal. *Biometrika* 58:545-554.
Gilmour AR, Thompson R, Cullis BR (1995) Average information REML: an efficient
algorithm for variance parameter estimation in linear mixed models.
*Biometrics* 51:1440-1450.
"""
