"""Shared genetics core of breedomics.

The stage packages (:mod:`breedomics.census`, :mod:`breedomics.gwas`,
:mod:`breedomics.gs`, :mod:`breedomics.omics`) call this package for what they
have in common, so that each piece is written once and behaves the same in
every stage. None of them reaches into another stage's private names.

Modules
-------
tables
    Reading the tables labs send (phenotypes, covariates, trial records,
    sample and unit sheets): CSV or TSV, plain or gzipped, with a BOM, Windows
    line endings, padded ids and any of the usual missing-value codes; every
    bad file is a short :class:`~breedomics.errors.UserError` naming the file,
    line and column.
"""
