"""breedomics: variant calling, germplasm census, GWAS and genomic selection for breeding."""

__version__ = "0.1.0"
