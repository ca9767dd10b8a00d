"""The genotype stage: from a call set or a lab's own file to a clean, imputed panel.

Reading and writing genotype files is shared by every stage and lives in
:mod:`breedomics.core.genotypes`; this package holds what the genotype stage does.

Modules
-------
normalise
    Sort, harmonise chromosome names, set aside unplaced variants, resolve duplicate
    positions and ids (``breedomics normalise-genotypes``).
qc
    Sample and variant QC: call rate, heterozygosity, F, sex check, MAF and the HWE
    exact test of Wigginton et al. (2005, *Am J Hum Genet* 76:887).
impute
    Imputation with Beagle 5 (Browning et al. 2018, *Am J Hum Genet* 103:338).
imputeqc
    Masking of called genotypes and the accuracy of their imputation.
"""
