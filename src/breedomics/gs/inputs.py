"""Inputs of the genomic-selection commands: genotypes, phenotypes, covariates, matched.

Phenotype and covariate tables are read by the core's reader
(:mod:`breedomics.core.phenotypes`), as GWAS reads them: the sample id is the
first column whatever its name (``sample`` in the workflow's phenotype table,
``sample_id`` in the BLUE table of ``gs blue``), traits are the numeric
columns unless named, text columns (families, groups) are kept for grouping,
and every trait must have at least three observed values and some variance
(:func:`breedomics.core.phenotypes.check_trait`). Phenotyped samples that are
not genotyped are reported and left out; a table sharing no sample with the
genotypes is an error. Genotypes are read by :func:`breedomics.gs.data.read_genotypes`
after checking that a VCF/PLINK panel is normalised (one record per position).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from breedomics.core import phenotypes
from breedomics.core.genotypes import check_genotype_order
from breedomics.gs.data import Genotypes, _is_tsv, read_genotypes, read_table

__all__ = [
    "GsInputs",
    "check_genotypes",
    "read_phenotypes",
    "read_covariates",
    "load_inputs",
    "genotyped_ids",
]


def check_genotypes(path: str | os.PathLike) -> None:
    """A VCF/PLINK panel must be normalised (one record per position) before any work."""
    if not _is_tsv(str(path)):  # a dosage matrix has no positions
        check_genotype_order(path)


def read_phenotypes(
    path: str | os.PathLike, traits: Sequence[str] | None = None, exclude: Sequence[str] = ()
) -> tuple[pd.DataFrame, list[str]]:
    """Phenotype table indexed by sample id (every column) and the checked trait columns.

    Traits default to the numeric columns not in ``exclude``
    (:func:`breedomics.core.phenotypes.read_traits` with the id in the first
    column); each must have three observed values and some variance.
    """
    df, traits = phenotypes.read_traits(path, traits, id_column=0, exclude=exclude, keep_text=True)
    for t in traits:
        phenotypes.check_trait(df[t].to_numpy(dtype=float), t, str(path))
    return df, traits


def read_covariates(path: str | os.PathLike, categorical: Sequence[str] = ()) -> pd.DataFrame:
    """Covariates indexed by sample id (first column); ``categorical`` columns read as text."""
    return phenotypes.read_covariates(path, id_column=0, categorical=categorical)


@dataclass
class GsInputs:
    """Matched inputs of ``gs cv`` and ``gs predict``.

    Attributes
    ----------
    geno : Genotypes
    pheno : pandas.DataFrame
        Phenotypes of the genotyped samples, indexed by sample id.
    traits : list of str
    covariates : pandas.DataFrame or None
    """

    geno: Genotypes
    pheno: pd.DataFrame
    traits: list[str]
    covariates: pd.DataFrame | None


def load_inputs(
    genotypes: str | os.PathLike,
    pheno_path: str | os.PathLike,
    traits: Sequence[str] | None = None,
    covariates: str | os.PathLike | None = None,
    categorical: Sequence[str] = (),
    exclude: Sequence[str] = (),
    min_maf: float = 0.0,
    dosage_scale: float = 1.0,
    log: Callable[[str], None] | None = None,
) -> GsInputs:
    """Read and match genotypes, phenotypes and covariates.

    Parameters
    ----------
    genotypes : str or path-like
        PLINK prefix/.bed, VCF/BCF, or a samples x markers dosage TSV.
    pheno_path : str or path-like
        Phenotype table (sample id first).
    traits : sequence of str, optional
        Trait columns (default: the numeric columns not in ``exclude``).
    covariates : str or path-like, optional
        Covariate table (sample id first).
    categorical : sequence of str
        Numeric covariate columns to treat as categorical.
    exclude : sequence of str
        Columns that are not default traits (e.g. the group column of
        leave-one-group-out folds).
    min_maf, dosage_scale : float
        See :func:`breedomics.gs.data.read_genotypes`.
    log : callable, optional
        Progress messages.
    """
    log = log or (lambda m: None)
    check_genotypes(genotypes)
    pheno, traits = read_phenotypes(pheno_path, traits, exclude=exclude)
    log(f"reading genotypes {genotypes}")
    geno = read_genotypes(genotypes, min_maf=min_maf, dosage_scale=dosage_scale)
    log(f"  {geno.n} samples x {geno.p} markers")
    _, not_geno = phenotypes.match_samples(list(pheno.index), geno.samples, pheno_path, genotypes)
    if not_geno:
        log(
            f"  {len(not_geno)} phenotyped sample(s) are not genotyped and are ignored "
            f"(e.g. {not_geno[0]})"
        )
        pheno = pheno.drop(index=not_geno)
    cov = read_covariates(covariates, categorical) if covariates else None
    return GsInputs(geno, pheno, list(traits), cov)


def genotyped_ids(path: str | os.PathLike) -> list[str]:
    """Sample ids of a PLINK ``.fam`` (second column) or of a sheet (first column)."""
    p = str(path)
    if p.endswith(".fam"):  # PLINK: no header, IID second
        fam = pd.read_csv(p, sep=r"\s+", header=None, dtype=str)
        return fam[1].tolist()
    sheet = read_table(p, what="sample")
    return sheet[sheet.columns[0]].astype(str).tolist()
