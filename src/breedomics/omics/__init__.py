"""Molecular-trait QTL (eQTL, mQTL): feature tables prepared for ``breedomics gwas run``.

:mod:`~breedomics.omics.features` reads, QCs and transforms feature tables and estimates
hidden factors; :mod:`~breedomics.omics.qvalue` has Storey's pi0 and q-values;
:mod:`~breedomics.omics.summarise` turns the scan of every feature into cis and trans
QTL tables and hotspots; :mod:`~breedomics.omics.link` links the GWAS leads of field
traits to the features whose QTL shares the locus and whose level predicts the trait;
:mod:`~breedomics.omics.run` runs the ``prepare`` and ``summarise`` steps (read,
compute, write) and :mod:`~breedomics.omics.cli`, which is ``breedomics omics``, only
parses their arguments. The scan itself is ``breedomics gwas run``; the genetic-factor
test uses its public API (:func:`breedomics.gwas.scan.lead_variants`) and the file names
of :mod:`breedomics.gwas.naming`.
"""
