"""Summary statistics in the GWAS-SSF layout, bgzipped and tabix-indexed.

One file per trait and model, ``<trait>.<model>.tsv.gz`` (+ ``.tbi``), with
the mandatory GWAS-SSF columns first (Hayhurst et al. 2023, *bioRxiv*
2022.07.15.500230; GWAS Catalog summary-statistics format 1.0):

``chromosome, base_pair_location, effect_allele, other_allele, beta,
standard_error, effect_allele_frequency, p_value``

followed by ``neg_log_10_p_value, variant_id, n``. The effect allele is the
ALT allele (PLINK A1) counted by :mod:`breedomics.genotypes`; ``beta`` is the
change in the trait per copy of it (inbred lines coded 0/2 count two
copies); ``effect_allele_frequency`` and ``n`` are computed in the samples
analysed for that trait (``n`` = those with a genotype call). ``p_value`` is
written exactly even below 1e-308 (from ``-log10 p``). Rows follow the
genotype file; it must be sorted by position within contiguous chromosomes
for the tabix index (``tabix -s1 -b2 -e2 -S1``). A ``-meta.yaml`` file
describes each file (trait, model, samples, inflation, thresholds).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import yaml

from breedomics.errors import UserError
from breedomics.gwas.pvalues import format_p

__all__ = ["SSF_COLUMNS", "SumstatsWriter", "read_sumstats", "write_meta"]

SSF_COLUMNS = [
    "chromosome",
    "base_pair_location",
    "effect_allele",
    "other_allele",
    "beta",
    "standard_error",
    "effect_allele_frequency",
    "p_value",
    "neg_log_10_p_value",
    "variant_id",
    "n",
]


class SumstatsWriter:
    """Stream rows of one trait's summary statistics into a BGZF file.

    Parameters
    ----------
    path : str or path-like
        Output ``.tsv.gz``.
    """

    def __init__(self, path: str | os.PathLike):
        from pysam.libcbgzf import BGZFile

        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._fh = BGZFile(self.path, "wb")
        self._fh.write(("\t".join(SSF_COLUMNS) + "\n").encode())
        self.n_rows = 0

    def write(
        self,
        variants: pd.DataFrame,
        beta: np.ndarray,
        se: np.ndarray,
        af: np.ndarray,
        nlog10p: np.ndarray,
        n: np.ndarray,
    ) -> None:
        """Append a chunk of variants (all arrays aligned with ``variants``)."""
        if len(variants) == 0:
            return
        nl = np.asarray(nlog10p, dtype=np.float64)
        p = np.where(nl < 300, 10.0 ** -np.minimum(nl, 300), np.nan)
        df = pd.DataFrame(
            {
                "chromosome": variants["chrom"].astype(str).to_numpy(),
                "base_pair_location": variants["pos"].to_numpy(),
                "effect_allele": variants["alt"].to_numpy(),
                "other_allele": variants["ref"].to_numpy(),
                "beta": beta,
                "standard_error": se,
                "effect_allele_frequency": af,
                "p_value": p,
                "neg_log_10_p_value": nl,
                "variant_id": variants["id"].to_numpy(),
                "n": np.asarray(n, dtype=np.int64),
            }
        )
        extreme = np.isfinite(nl) & (nl >= 300)
        if extreme.any():
            df["p_value"] = df["p_value"].map(lambda v: f"{v:.6g}" if np.isfinite(v) else "NA")
            df.loc[extreme, "p_value"] = format_p(nl[extreme])
        text = df.to_csv(sep="\t", header=False, index=False, float_format="%.6g", na_rep="NA")
        self._fh.write(text.encode())
        self.n_rows += len(df)

    def close(self, index: bool = True) -> str:
        """Close the file and build its tabix index.

        Raises
        ------
        UserError
            If the rows are not sorted (the genotype file must be sorted).
        """
        self._fh.close()
        if index:
            try:
                pysam.tabix_index(
                    self.path,
                    seq_col=0,
                    start_col=1,
                    end_col=1,
                    line_skip=1,
                    zerobased=False,
                    force=True,
                )
            except OSError as exc:
                raise UserError(
                    f"cannot tabix-index {self.path} ({exc}); the genotype file must be sorted "
                    "by position within contiguous chromosomes (e.g. `plink2 --sort-vars` or "
                    "`bcftools sort`)"
                ) from exc
        return self.path


def read_sumstats(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a summary-statistics file written by :class:`SumstatsWriter`.

    Parameters
    ----------
    path : str or path-like
        ``.tsv.gz`` file.
    columns : list of str, optional
        Columns to read (default all).

    Returns
    -------
    pandas.DataFrame
        ``chromosome`` and ``variant_id`` as str; ``p_value`` is not parsed
        numerically (use ``neg_log_10_p_value``).
    """
    return pd.read_csv(
        path,
        sep="\t",
        usecols=columns,
        dtype={
            "chromosome": str,
            "variant_id": str,
            "p_value": str,
            "effect_allele": str,
            "other_allele": str,
        },
        keep_default_na=False,
        na_values={"beta": ["NA"], "standard_error": ["NA"], "neg_log_10_p_value": ["NA"]},
    )


def write_meta(path: str | os.PathLike, meta: dict) -> str:
    """Write the GWAS-SSF companion ``<file>-meta.yaml``.

    Parameters
    ----------
    path : str or path-like
        The summary-statistics file it describes.
    meta : dict
        Fields to write (plain Python types).

    Returns
    -------
    str
        Path of the YAML file.
    """
    out = f"{path}-meta.yaml"

    def _plain(v):
        if isinstance(v, dict):
            return {str(k): _plain(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [_plain(x) for x in v]
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, float) and not np.isfinite(v):
            return None
        return v

    base = {
        "data_file_name": os.path.basename(str(path)),
        "file_type": "GWAS-SSF v1.0 (breedomics)",
        "genome_assembly": meta.pop("genome_assembly", "as in the genotype file"),
        "effect_allele": "ALT allele of the genotype file (PLINK A1)",
    }
    base.update(meta)
    with open(out, "w") as fh:
        yaml.safe_dump(_plain(base), fh, sort_keys=False)
    return out
