"""Molecular-trait QTL (eQTL, mQTL): feature tables prepared for ``breedomics gwas run``.

:mod:`~breedomics.omics.features` reads, QCs and transforms feature tables and estimates
hidden factors; :mod:`~breedomics.omics.qvalue` has Storey's pi0 and q-values;
:mod:`~breedomics.omics.summarise` turns the scan of every feature into cis and trans
QTL tables and hotspots; :mod:`~breedomics.omics.cli` is ``breedomics omics``.
"""
