"""Summary statistics in the GWAS-SSF layout, bgzipped and tabix-indexed.

One file per trait and model, ``<trait>.<model>.tsv.gz`` (+ ``.tbi``), with
the mandatory GWAS-SSF columns first (Hayhurst et al. 2023, *bioRxiv*
2022.07.15.500230; GWAS Catalog summary-statistics format 1.0):

``chromosome, base_pair_location, effect_allele, other_allele, beta,
standard_error, effect_allele_frequency, p_value``

followed by ``neg_log_10_p_value, variant_id, n``. The effect allele is the
ALT allele (PLINK A1) counted by :mod:`breedomics.core.genotypes`; ``beta`` is the
change in the trait per copy of it (inbred lines coded 0/2 count two
copies); ``effect_allele_frequency`` and ``n`` are computed in the samples
analysed for that trait (``n`` = those with a genotype call). ``p_value`` is
written exactly even below 1e-308 (from ``-log10 p``). Numbers carry six
significant digits; missing values are ``NA``. Rows follow the
genotype file; it must be sorted by position within contiguous chromosomes
for the tabix index (``tabix -s1 -b2 -e2 -S1``; a ``.csi`` index instead of
``.tbi`` when a position reaches 2^29, beyond what ``.tbi`` can hold, as on
the 800 Mb chromosomes of wheat). A ``-meta.yaml`` file
describes each file (trait, model, samples, inflation, thresholds).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pysam
import yaml

from breedomics.errors import UserError
from breedomics.gwas.pvalues import format_p

__all__ = [
    "SSF_COLUMNS",
    "RESULT_FIELDS",
    "SumstatsWriter",
    "VariantColumns",
    "read_sumstats",
    "write_meta",
]

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
#: A variant's result as the lead tables show it (clumped leads, molecular-QTL leads):
#: position, alleles, frequency, effect and p-value, the frequency before the effect.
RESULT_FIELDS = [
    "chromosome",
    "base_pair_location",
    "effect_allele",
    "other_allele",
    "effect_allele_frequency",
    "beta",
    "standard_error",
    "p_value",
    "neg_log_10_p_value",
]


def _sig(x, digits: int = 6) -> np.ndarray:
    """Round to ``digits`` significant digits (so the shortest repr is short)."""
    x = np.asarray(x, dtype=np.float64)
    out = x.copy()
    ok = np.isfinite(x) & (x != 0)
    if ok.any():
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.floor(np.log10(np.abs(x[ok])))
            f = 10.0 ** (digits - 1 - e)
            r = np.round(x[ok] * f) / f
        out[ok] = np.where(np.isfinite(r), r, x[ok])
    return out


class VariantColumns:
    """Arrow columns of a chunk's variants, built once and shared by all traits.

    Parameters
    ----------
    variants : pandas.DataFrame
        ``chrom, pos, id, ref, alt``.
    af : numpy.ndarray, optional
        Effect-allele frequencies.
    n : numpy.ndarray, optional
        Samples with a genotype call.
    """

    def __init__(self, variants: pd.DataFrame, af=None, n=None):
        self.n_rows = len(variants)
        self.chrom = pa.array(variants["chrom"].astype(str).to_numpy())
        self.pos = pa.array(variants["pos"].to_numpy(dtype=np.int64))
        self.alt = pa.array(variants["alt"].astype(str).to_numpy())
        self.ref = pa.array(variants["ref"].astype(str).to_numpy())
        self.vid = pa.array(variants["id"].astype(str).to_numpy())
        self.af = pa.array(_sig(af), from_pandas=True) if af is not None else None
        self.n = pa.array(np.asarray(n, dtype=np.int64)) if n is not None else None


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
        # level-1 deflate: 5-7x faster than the default level, files ~10 % larger
        self._fh = BGZFile(self.path, "wb1")
        self._fh.write(("\t".join(SSF_COLUMNS) + "\n").encode())
        self.n_rows = 0

    def write(
        self,
        variants: pd.DataFrame | VariantColumns,
        beta: np.ndarray,
        se: np.ndarray,
        af: np.ndarray | None,
        nlog10p: np.ndarray,
        n: np.ndarray | None,
    ) -> None:
        """Append a chunk of variants (all arrays aligned with ``variants``).

        ``variants`` may be a :class:`VariantColumns` prepared once per chunk
        and shared by all traits (then ``af``/``n`` may be None to use its own).
        """
        vc = variants if isinstance(variants, VariantColumns) else VariantColumns(variants, af, n)
        if vc.n_rows == 0:
            return
        nl = np.asarray(nlog10p, dtype=np.float64)
        with np.errstate(over="ignore"):
            p = np.where(nl < 300, 10.0 ** -np.minimum(nl, 300), np.nan)
        extreme = np.isfinite(nl) & (nl >= 300)
        if extreme.any():
            pcol = pa.array([repr(v) if np.isfinite(v) else None for v in _sig(p)])
            pcol = pa.array(np.where(extreme, format_p(nl), pcol.to_numpy(zero_copy_only=False)))
        else:
            pcol = pa.array(_sig(p), from_pandas=True)
        af_col = vc.af if vc.af is not None else pa.array(_sig(af), from_pandas=True)
        n_col = vc.n if vc.n is not None else pa.array(np.asarray(n, dtype=np.int64))
        cols = {
            "chromosome": vc.chrom,
            "base_pair_location": vc.pos,
            "effect_allele": vc.alt,
            "other_allele": vc.ref,
            "beta": pa.array(_sig(beta), from_pandas=True),
            "standard_error": pa.array(_sig(se), from_pandas=True),
            "effect_allele_frequency": af_col,
            "p_value": pcol,
            "neg_log_10_p_value": pa.array(_sig(nl), from_pandas=True),
            "variant_id": vc.vid,
            "n": n_col,
        }
        buf = io.BytesIO()
        pacsv.write_csv(
            pa.table(cols),
            buf,
            pacsv.WriteOptions(
                include_header=False, delimiter="\t", quoting_style="none", null_string="NA"
            ),
        )
        self._fh.write(buf.getvalue())
        self.n_rows += vc.n_rows

    def close(self, index: bool = True) -> str:
        """Close the file and build its tabix index.

        Raises
        ------
        UserError
            If the rows are not sorted (the genotype file must be sorted).
        """
        self._fh.close()
        if index:
            index_sumstats(self.path)
        return self.path


def close_all(writers: Sequence[SumstatsWriter]) -> list[str]:
    """Close several writers and index their files side by side, one thread per thread of
    the job (:func:`~breedomics.core.linalg.available_threads`).

    htslib's indexing runs without the GIL: one after the other, the indexes of 100
    traits' tables of 100,000 variants took 15 s of a 85 s scan.
    """
    from breedomics.core.linalg import available_threads

    paths = [w.close(index=False) for w in writers]
    cores = available_threads()
    if len(paths) < 2 or cores < 2:
        for path in paths:
            index_sumstats(path)
        return paths
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(cores, len(paths))) as pool:
        list(pool.map(index_sumstats, paths))
    return paths


def index_sumstats(path: str) -> None:
    """Tabix-index a summary-statistics file (``.tbi``, or ``.csi`` for long chromosomes).

    Raises
    ------
    UserError
        If the rows are not sorted (the genotype file must be sorted).
    """
    try:
        _tabix(path, csi=False)
    except OSError:
        # a .tbi cannot hold positions >= 2^29 (chromosomes over 512 Mb, e.g. wheat,
        # barley, pine): such files get a .csi index, as `tabix -C` would make
        try:
            _tabix(path, csi=True)
        except OSError as exc:
            raise UserError(
                f"cannot tabix-index {path} ({exc}); the genotype file must be "
                "sorted by position within contiguous chromosomes (e.g. "
                "`plink2 --sort-vars` or `bcftools sort`)"
            ) from exc


def _tabix(path: str, csi: bool) -> None:
    """Index ``path`` (tbi or csi), removing a stale index of the other kind."""
    Path(path + (".tbi" if csi else ".csi")).unlink(missing_ok=True)
    pysam.tabix_index(
        path,
        seq_col=0,
        start_col=1,
        end_col=1,
        line_skip=1,
        zerobased=False,
        force=True,
        csi=csi,
    )


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
