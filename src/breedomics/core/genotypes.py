"""Chunked genotype I/O shared by the census, GWAS and genomic-selection stages.

Two on-disk formats are read, always streamed in chunks of variants so that a
whole genome is never held in memory:

* **PLINK 1 binary** (``prefix.bed`` / ``.bim`` / ``.fam``), SNP-major mode.
  The ``.bed`` bytes are memory-mapped with :func:`numpy.memmap` and decoded
  with a 256-entry lookup table (Purcell et al. 2007, *Am J Hum Genet* 81:559;
  Chang et al. 2015, *GigaScience* 4:7). The counted allele is **A1** (column 5
  of the ``.bim``), exactly as PLINK 1.9 ``--recode A`` counts it.
  :func:`read_variants` reports A1 as ``alt`` and A2 (column 6) as ``ref``;
  for a ``.bed`` written by ``plink2 --make-bed`` from a VCF, A1 is the VCF ALT
  allele, so VCF and PLINK inputs count the same allele. Note that
  ``plink2 --export A`` counts the REF (A2) allele unless ``--export-allele``
  names the ALT alleles; its values are then ``2 -`` ours.
* **VCF / BCF** (plain or bgzipped), read with cyvcf2. Records with more than
  one ALT allele are skipped (the genotype-preparation stage splits or drops
  them first; a warning counts them). A record with ALT ``.`` is kept with
  ``alt = "."`` and dosage 0. Missing IDs (``.``) are replaced by
  ``chrom:pos:ref:alt`` so that every variant has a key.

Dosage convention
-----------------
Every reader yields a ``float32`` array of shape ``(n_samples, n_variants)``
holding the number of copies of the counted (ALT / A1) allele on a diploid
scale, 0, 1 or 2, with ``NaN`` for a missing call:

* diploid ``0/0``, ``0/1``, ``1/1`` -> 0, 1, 2 (phased or not);
* **haploid calls are scaled to the diploid scale**: ``0`` -> 0 and ``1`` -> 2.
  Inbred lines and haploid/DH material called haploid are thereby coded like
  homozygous diploids, which is what ``plink2 --vcf`` stores in a ``.bed``;
* half calls (``0/.``) and ``./.`` are missing (``plink2 --vcf-half-call
  missing``).

Samples are identified by the VCF sample name or, for PLINK, by the ``.fam``
IID (column 2).

Access
------
Every stage reads genotypes through these public functions, never through the
private decoders:

* by chunk: :func:`iter_dosage_chunks` (the whole file, or only some
  chromosomes: for PLINK only their ``.bim`` and ``.bed`` rows are read, so
  memory does not grow with the rest of the genome), :func:`read_dosage`;
* by chromosome: :func:`chromosome_blocks` (names, first row and size of each
  chromosome block, read in flat memory), :func:`split_by_chrom` (a chunk cut
  into one-chromosome runs);
* by sample and variant ids: the ``samples`` argument of the readers (rows in
  the order asked, a missing sample named in the error) and
  :func:`read_variant_ids`.

References
----------
Purcell S et al. (2007) PLINK: a tool set for whole-genome association and
population-based linkage analyses. *Am J Hum Genet* 81:559-575.

Chang CC et al. (2015) Second-generation PLINK: rising to the challenge of
larger and richer datasets. *GigaScience* 4:7.

Danecek P et al. (2021) Twelve years of SAMtools and BCFtools.
*GigaScience* 10:giab008 (VCF/BCF; read here with cyvcf2, Pedersen & Quinlan
2017, *Bioinformatics* 33:1867).
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from breedomics.core.progress import Progress, track
from breedomics.core.workspace import WorkArrays
from breedomics.errors import UserError

__all__ = [
    "VARIANT_COLUMNS",
    "genotype_format",
    "plink_prefix",
    "read_samples",
    "read_variants",
    "open_vcf",
    "vcf_dosage",
    "n_variants",
    "count_variants",
    "chromosome_blocks",
    "iter_dosage_chunks",
    "split_by_chrom",
    "read_variant_ids",
    "read_dosage",
    "write_bed",
    "check_genotype_order",
]

#: Columns of the variant tables returned by :func:`read_variants` and
#: :func:`iter_dosage_chunks`.
VARIANT_COLUMNS = ["chrom", "pos", "id", "ref", "alt"]

_BED_MAGIC = bytes([0x6C, 0x1B, 0x01])
_VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")

# Lookup table: byte -> 4 A1 dosages (2-bit codes, low bits first):
# 00 hom A1 -> 2, 01 missing -> NaN, 10 het -> 1, 11 hom A2 -> 0.
# The bytes of a block are transposed first (one byte per 4 samples, so a quarter of
# the data), then each of a byte's four genotypes is looked up in its own 256-entry
# table of dosages straight into the sample-major output: 3-4x faster than unpacking
# the codes, transposing them and converting to float (no full-size transpose).
_CODE_TO_DOSAGE = np.array([2.0, np.nan, 1.0, 0.0], dtype=np.float32)
_BYTE_DOSAGES = [
    np.ascontiguousarray(_CODE_TO_DOSAGE[(np.arange(256) >> shift) & 3]) for shift in (0, 2, 4, 6)
]


# --------------------------------------------------------------------------- format
def genotype_format(path: str | os.PathLike) -> str:
    """Return ``"vcf"`` or ``"plink"`` for a genotype path.

    Parameters
    ----------
    path : str or path-like
        A VCF/BCF file (``.vcf``, ``.vcf.gz``, ``.vcf.bgz``, ``.bcf``), or a
        PLINK 1 fileset given as its prefix or any of its three files.

    Returns
    -------
    str
        ``"vcf"`` or ``"plink"``.

    Raises
    ------
    UserError
        If the path is neither.
    """
    p = str(path)
    if p.endswith(_VCF_SUFFIXES):
        if not Path(p).exists():
            raise UserError(f"genotype file {p} does not exist")
        return "vcf"
    prefix = plink_prefix(p)
    missing = [ext for ext in (".bed", ".bim", ".fam") if not Path(prefix + ext).exists()]
    if missing:
        raise UserError(
            f"genotype path {p} is neither a VCF/BCF ({', '.join(_VCF_SUFFIXES)}) nor a "
            f"complete PLINK 1 fileset (missing {', '.join(prefix + m for m in missing)})"
        )
    return "plink"


def plink_prefix(path: str | os.PathLike) -> str:
    """Strip a ``.bed``/``.bim``/``.fam`` extension from a PLINK path."""
    p = str(path)
    for ext in (".bed", ".bim", ".fam"):
        if p.endswith(ext):
            return p[: -len(ext)]
    return p


# --------------------------------------------------------------------------- PLINK
def _read_fam(prefix: str) -> pd.DataFrame:
    fam = pd.read_csv(
        prefix + ".fam",
        sep=r"\s+",
        header=None,
        dtype=str,
        names=["fid", "iid", "pat", "mat", "sex", "pheno"],
        usecols=range(6),
    )
    if fam["iid"].duplicated().any():
        dup = fam.loc[fam["iid"].duplicated(), "iid"].iloc[0]
        raise UserError(f"{prefix}.fam: sample IID {dup!r} appears twice; IIDs must be unique")
    return fam


def _bim_csv(prefix: str, **kw):
    """``pandas.read_csv`` of a .bim (whitespace-separated, no header, ids kept as text)."""
    return pd.read_csv(
        prefix + ".bim",
        sep=r"\s+",
        header=None,
        names=["chrom", "id", "cm", "pos", "a1", "a2"],
        dtype={"chrom": str, "id": str, "cm": float, "pos": np.int64, "a1": str, "a2": str},
        keep_default_na=False,
        **kw,
    )


def _bim_variants(bim: pd.DataFrame) -> pd.DataFrame:
    """.bim rows as :data:`VARIANT_COLUMNS` (A1 counted: ALT = A1, REF = A2)."""
    return pd.DataFrame(
        {
            "chrom": bim["chrom"],
            "pos": bim["pos"].astype(np.int64),
            "id": bim["id"],
            "ref": bim["a2"],
            "alt": bim["a1"],
        }
    )


def _read_bim(prefix: str) -> pd.DataFrame:
    return _bim_variants(_bim_csv(prefix))


def _read_bim_rows(prefix: str, first: int, count: int) -> pd.DataFrame:
    """Rows ``first .. first+count-1`` of a ``.bim`` as :func:`read_variants` columns.

    The index is the global variant index, as :func:`iter_dosage_chunks` gives it.
    """
    bim = _bim_variants(_bim_csv(prefix, skiprows=first, nrows=count))
    bim.index = pd.RangeIndex(first, first + count)
    return bim


def _bim_blocks(prefix: str, chunk_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Names and sizes of the chromosome blocks of a ``.bim``, first column only."""
    names: list[str] = []
    counts: list[int] = []
    reader = pd.read_csv(
        prefix + ".bim", sep=r"\s+", header=None, usecols=[0], dtype=str,
        keep_default_na=False, chunksize=chunk_rows,
    )  # fmt: skip
    for chunk in reader:
        c = chunk[0].to_numpy()
        cut = np.r_[0, np.flatnonzero(c[1:] != c[:-1]) + 1]
        for name, k in zip(c[cut], np.diff(np.r_[cut, len(c)]), strict=True):
            if names and names[-1] == name:  # a block spanning two chunks of rows
                counts[-1] += int(k)
            else:
                names.append(str(name))
                counts.append(int(k))
    return np.array(names, dtype=object), np.array(counts, dtype=np.int64)


def _open_bed(prefix: str, n_samples: int, n_var: int) -> _BedRows:
    path = prefix + ".bed"
    nbytes = (n_samples + 3) // 4
    with open(path, "rb") as fh:
        magic = fh.read(3)
    if magic != _BED_MAGIC:
        raise UserError(
            f"{path} is not a SNP-major PLINK 1 .bed (bad magic bytes); "
            "re-export it with `plink2 --make-bed`"
        )
    expected = 3 + nbytes * n_var
    size = os.path.getsize(path)
    if size != expected:
        raise UserError(
            f"{path} has {size} bytes but {prefix}.fam/.bim ({n_samples} samples, "
            f"{n_var} variants) imply {expected}; the fileset is truncated or mismatched"
        )
    return _BedRows(path, n_var, nbytes)


class _BedRows:
    """Rows (variants) of a SNP-major .bed, read on demand with ``pread``.

    Not a memory map: the pages of a mapped file count towards the process's
    resident size as they are touched, so a pass over a 1.5 GB .bed would look
    like 1.5 GB of memory (and be charged to a SLURM job's cgroup). Each read
    here copies just the requested rows.
    """

    def __init__(self, path: str, n_var: int, nbytes: int):
        self.path, self.shape = path, (n_var, nbytes)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        n_var, nbytes = self.shape
        if isinstance(key, slice):
            start, stop, step = key.indices(n_var)
            if step != 1:
                return self[np.arange(start, stop, step)]
            return self._read(start, max(stop - start, 0))
        rows = np.asarray(key, dtype=np.int64)
        if rows.ndim != 1:
            raise TypeError("rows must be a slice or a 1-d array of row numbers")
        if len(rows) == 0:
            return np.zeros((0, nbytes), dtype=np.uint8)
        lo, hi = int(rows.min()), int(rows.max())
        if hi - lo + 1 <= max(4 * len(rows), 1 << 16):
            return self._read(lo, hi - lo + 1)[rows - lo]
        # rows scattered over the genome: one read each, never the span between them
        out = np.empty((len(rows), nbytes), dtype=np.uint8)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for k, r in enumerate(rows.tolist()):
                got = os.preadv(fd, [memoryview(out[k])], 3 + r * nbytes)
                if got != nbytes:
                    raise UserError(f"{self.path}: short read at variant {r} (file truncated?)")
        finally:
            os.close(fd)
        return out

    def _read(self, first: int, count: int) -> np.ndarray:
        nbytes = self.shape[1]
        out = np.empty((count, nbytes), dtype=np.uint8)
        if count:
            with open(self.path, "rb", buffering=0) as fh:
                fh.seek(3 + first * nbytes)
                got = fh.readinto(memoryview(out).cast("B"))
            if got != out.nbytes:
                raise UserError(f"{self.path}: short read at variant {first} (file truncated?)")
        return out


#: Genotypes to decode (of a stream, or of one block read alone) from which the compiled
#: decoder is used: below, the lookup-table one gives the same values without the ~0.5 s
#: of importing numba and loading the kernel (1,000 x 100,000: 0.44 s of decoding either
#: way; 1,200 x 5 M: ~3x faster compiled).
_COMPILED_DECODE_MIN = 500_000_000


def _decode_bed(
    block: np.ndarray,
    n_samples: int,
    idx: np.ndarray | None,
    total: int = 0,
    work: WorkArrays | None = None,
) -> np.ndarray:
    """Decode a (n_var, nbytes) block of .bed bytes to (n_samples_out, n_var) float32.

    ``total``: variants of the whole stream this block is part of (0: the block alone).
    ``work``: decode into its reused arrays instead of fresh ones.
    """

    def empty(key: str, shape: tuple[int, int]) -> np.ndarray:
        return np.empty(shape, np.float32) if work is None else work.get(key, shape, np.float32)

    n_out = n_samples if idx is None else len(idx)
    if n_out * max(total, block.shape[0]) >= _COMPILED_DECODE_MIN:
        from breedomics.core._bedcodec import decode_bed_into

        out = empty("out", (n_out, block.shape[0]))
        pos = np.arange(n_samples, dtype=np.int64) if idx is None else np.asarray(idx, np.int64)
        decode_bed_into(np.ascontiguousarray(block), pos, _CODE_TO_DOSAGE, out)
        return out
    by_sample = np.ascontiguousarray(np.asarray(block).T)  # (nbytes, n_var)
    full = empty("full", (by_sample.shape[0] * 4, block.shape[0]))
    quads = full.reshape(by_sample.shape[0], 4, block.shape[0])  # sample 4 b + k = [b, k]
    for k, table in enumerate(_BYTE_DOSAGES):
        np.take(table, by_sample, out=quads[:, k, :])
    if idx is None:
        return full[:n_samples]
    return np.take(full, idx, axis=0, out=empty("out", (n_out, block.shape[0])))


# --------------------------------------------------------------------------- VCF
def open_vcf(path: str | os.PathLike, samples: Sequence[str] | None = None):
    """Open a VCF/BCF with cyvcf2 (genotypes as allele indices, -1 missing).

    Parameters
    ----------
    path : str or path-like
        VCF/BCF file (plain or bgzipped).
    samples : sequence of str, optional
        Only these samples (cyvcf2 returns them in file order).

    Returns
    -------
    cyvcf2.VCF
        The reader; iterate it for records, close it when done.

    Raises
    ------
    UserError
        If the file cannot be opened.
    """
    from cyvcf2 import VCF

    path = str(path)
    try:
        return VCF(path, samples=list(samples) if samples is not None else None, gts012=False)
    except OSError as exc:  # pragma: no cover - message depends on htslib
        raise UserError(f"cannot open VCF/BCF {path}: {exc}") from exc
    except Exception as exc:  # cyvcf2 raises a bare Exception for a header htslib refuses
        dups = _duplicate_header_samples(path)
        if dups:
            raise _repeated_samples(path, dups) from exc
        raise UserError(f"cannot read the VCF/BCF header of {path}: {exc}") from exc


def _repeated_samples(path: str, dups: list[str]) -> UserError:
    """The error of a VCF header that names samples more than once."""
    return UserError(
        f"{path}: sample name(s) {', '.join(map(repr, dups[:5]))} appear more than once in "
        "the #CHROM header line; every sample needs its own name: rename the repeats (e.g. "
        "a check variety genotyped twice: 'Williams_82_rep2'; `bcftools reheader -s "
        "new_names.txt`) or drop them"
    )


def _duplicate_header_samples(path: str) -> list[str]:
    """Sample names repeated on the ``#CHROM`` line of a text VCF (plain, gzip or bgzip),
    or [] (also for BCF and unreadable files)."""
    import gzip

    try:
        with open(path, "rb") as raw:
            gz = raw.read(2) == b"\x1f\x8b"
        with (gzip.open if gz else open)(path, "rt", errors="replace") as fh:
            for line in fh:
                if line.startswith("#CHROM"):
                    names = line.rstrip("\r\n").split("\t")[9:]
                    return [n for n, k in Counter(names).items() if k > 1]
                if not line.startswith("#"):
                    break
    except (OSError, EOFError):
        pass
    return []


def _vcf_row(v) -> tuple[str, int, str, str, str]:
    alt = v.ALT[0] if v.ALT else "."
    vid = v.ID if v.ID else f"{v.CHROM}:{v.POS}:{v.REF}:{alt}"
    return (v.CHROM, int(v.POS), vid, v.REF, alt)


def vcf_dosage(v, n_samples: int) -> np.ndarray:
    """ALT dosage of one biallelic cyvcf2 record on the diploid scale.

    Parameters
    ----------
    v : cyvcf2.Variant
        A record with at most one ALT allele.
    n_samples : int
        Samples of the reader (the length of the result).

    Returns
    -------
    numpy.ndarray
        ``float32 (n_samples,)`` dosage: diploid 0/1/2, haploid calls 0 or 2,
        polyploid calls rescaled to the diploid scale, NaN for missing and
        half calls (module documentation).
    """
    gt = v.genotype
    if gt is None:  # no GT field: everything missing
        return np.full(n_samples, np.nan, dtype=np.float32)
    arr = gt.array()
    a0 = arr[:, 0]
    if arr.shape[1] < 3:  # every call haploid
        out = np.where(a0 > 0, 2.0, 0.0).astype(np.float32)
        out[a0 < 0] = np.nan
        return out
    a1 = arr[:, 1]
    hap = a1 == -2
    out = ((a0 > 0).astype(np.float32) + (a1 > 0)).astype(np.float32)
    out[hap] = np.where(a0[hap] > 0, 2.0, 0.0)
    miss = (a0 < 0) | ((a1 < 0) & ~hap)
    if arr.shape[1] > 3:  # polyploid: rescale to diploid
        calls = arr[:, :-1]
        ncalled = (calls >= 0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = (2.0 * (calls > 0).sum(axis=1) / ncalled).astype(np.float32)
        miss = ((calls == -1).any(axis=1)) | (ncalled == 0)
    out[miss] = np.nan
    return out


def _iter_vcf_records(path: str, samples: Sequence[str] | None = None):
    """Yield biallelic (or ALT ``.``) records, warning once about skipped ones."""
    vcf = open_vcf(path, samples)
    skipped = 0
    try:
        for v in vcf:
            if len(v.ALT) > 1:
                skipped += 1
                continue
            yield v
    finally:
        vcf.close()
        if skipped:
            warnings.warn(
                f"{path}: skipped {skipped} multi-allelic record(s); split them with "
                "`bcftools norm -m-` or drop them before the census",
                stacklevel=3,
            )


# --------------------------------------------------------------------------- public API
def read_samples(path: str | os.PathLike) -> list[str]:
    """Sample names of a genotype file, in file order.

    Parameters
    ----------
    path : str or path-like
        VCF/BCF file or PLINK 1 fileset (prefix or any of its files).

    Returns
    -------
    list of str
        VCF sample names, or the ``.fam`` IIDs for PLINK.
    """
    fmt = genotype_format(path)
    if fmt == "plink":
        return _read_fam(plink_prefix(path))["iid"].tolist()
    vcf = open_vcf(path)
    try:
        names = list(vcf.samples)
    finally:
        vcf.close()
    dups = [n for n, k in Counter(names).items() if k > 1]
    if dups:  # htslib usually refuses them first (open_vcf names them then)
        raise _repeated_samples(path, dups)
    return names


def read_variants(path: str | os.PathLike) -> pd.DataFrame:
    """Variant table of a genotype file.

    Parameters
    ----------
    path : str or path-like
        VCF/BCF file or PLINK 1 fileset.

    Returns
    -------
    pandas.DataFrame
        Columns ``chrom`` (str), ``pos`` (int64), ``id``, ``ref``, ``alt`` with a
        RangeIndex equal to the variant's position in the stream. ``alt`` is the
        counted allele (PLINK A1).
    """
    fmt = genotype_format(path)
    if fmt == "plink":
        return _read_bim(plink_prefix(path))
    rows = [_vcf_row(v) for v in _iter_vcf_records(str(path))]
    df = pd.DataFrame(rows, columns=VARIANT_COLUMNS)
    df["pos"] = df["pos"].astype(np.int64)
    return df


def n_variants(path: str | os.PathLike) -> int:
    """Number of variants that :func:`iter_dosage_chunks` will yield."""
    if genotype_format(path) == "plink":
        with open(plink_prefix(path) + ".bim", "rb") as fh:
            return sum(1 for line in fh if line.strip())
    return len(read_variants(path))


def count_variants(path: str | os.PathLike, chromosomes: Collection[str] | None = None) -> int:
    """Variants :func:`iter_dosage_chunks` yields for ``chromosomes`` (default all), cheaply.

    The total of a progress count. PLINK: exact, from the ``.bim``. An indexed VCF/BCF
    without ``chromosomes``: the records in its index (multi-allelic ones, which are
    skipped, included), so the file is not parsed twice; otherwise the records are read.
    """
    indexed = any(os.path.exists(f"{path}.{ext}") for ext in ("csi", "tbi"))
    if chromosomes is None and indexed and genotype_format(path) != "plink":
        vcf = open_vcf(path)
        try:
            return int(vcf.num_records)
        except ValueError:  # an index htslib cannot read: count the records
            pass
        finally:
            vcf.close()
    if chromosomes is None:
        return n_variants(path)
    names, _starts, counts = chromosome_blocks(path)
    wanted = {str(c) for c in chromosomes}
    return int(sum(int(n) for c, n in zip(names, counts, strict=True) if str(c) in wanted))


def chromosome_blocks(
    path: str | os.PathLike, chunk_rows: int = 1_000_000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chromosome blocks of a genotype file: name, first variant and size of each.

    A block is a run of consecutive variants on one chromosome. For PLINK only
    the first column of the ``.bim`` is read, ``chunk_rows`` lines at a time,
    so memory stays flat for any number of SNPs; a VCF/BCF is parsed whole. A
    chromosome split over several blocks (an unsorted file) is returned as
    several blocks: callers decide whether that is an error.

    Parameters
    ----------
    path : str or path-like
        VCF/BCF file or PLINK 1 fileset.
    chunk_rows : int, default 1000000
        ``.bim`` lines read at a time.

    Returns
    -------
    names : numpy.ndarray
        ``object`` array of chromosome names, in file order.
    starts : numpy.ndarray
        ``int64`` global index of each block's first variant.
    counts : numpy.ndarray
        ``int64`` number of variants of each block.
    """
    if genotype_format(path) == "plink":
        names, counts = _bim_blocks(plink_prefix(path), chunk_rows)
    else:
        chrom = read_variants(path)["chrom"].astype(str).to_numpy()
        cut = np.r_[0, np.flatnonzero(chrom[1:] != chrom[:-1]) + 1] if len(chrom) else []
        names = chrom[cut].astype(object)
        counts = np.diff(np.r_[cut, len(chrom)]).astype(np.int64)
    starts = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
    return names, starts[: len(counts)], counts


def split_by_chrom(
    variants: pd.DataFrame, dosage: np.ndarray
) -> Iterator[tuple[str, pd.DataFrame, np.ndarray]]:
    """Split a chunk into runs of consecutive variants on the same chromosome.

    Parameters
    ----------
    variants : pandas.DataFrame
        The chunk's variant table (:data:`VARIANT_COLUMNS`).
    dosage : numpy.ndarray
        Its ``(n_samples, n_chunk)`` dosages.

    Yields
    ------
    chrom : str
    variants : pandas.DataFrame
    dosage : numpy.ndarray
        A view of the run's columns.
    """
    chrom = variants["chrom"].astype(str).to_numpy()
    if len(chrom) == 0:
        return
    cuts = np.flatnonzero(chrom[1:] != chrom[:-1]) + 1
    bounds = np.r_[0, cuts, len(chrom)]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        yield chrom[a], variants.iloc[a:b], dosage[:, a:b]


def _sample_index(path: str, all_samples: list[str], samples: Sequence[str] | None):
    """Rows of ``samples`` in the file, or None for all of them in file order."""
    if samples is None or list(samples) == all_samples:
        return None
    pos = {s: i for i, s in enumerate(all_samples)}
    idx = []
    for s in samples:
        if s not in pos:
            raise UserError(
                f"sample {s!r} is not in genotype file {path} "
                f"({len(all_samples)} samples, e.g. {', '.join(all_samples[:3])}); "
                "fix the sample name in the sheet or drop that row"
            )
        idx.append(pos[s])
    if len(set(idx)) != len(idx):
        raise UserError(f"sample list for {path} names the same sample twice")
    return np.asarray(idx, dtype=np.int64)


def read_variant_ids(
    path: str | os.PathLike,
    ids: Sequence[str],
    samples: Sequence[str] | None = None,
    chromosomes: Collection[str] | None = None,
) -> tuple[pd.DataFrame, np.ndarray] | None:
    """Variants and dosages of the given variant ids, reading only their rows.

    For a PLINK fileset the ``.bim`` is scanned in chunks for the ids and only
    the matching ``.bed`` rows are read, so fetching a few thousand variants
    (e.g. clumping candidates) from a whole-genome set costs a fraction of a
    pass over the genotypes. Returns None for VCF/BCF (no random access by id).

    Parameters
    ----------
    path : str or path-like
        PLINK fileset (prefix or any of its files).
    ids : sequence of str
        Variant ids; the first occurrence of each in the file is returned.
    samples : sequence of str, optional
        Samples to return, in this order (default: all).
    chromosomes : collection of str, optional
        Only variants on these chromosomes.

    Returns
    -------
    (variants, dosage) or None
        ``variants`` in the order of ``ids`` (ids not found left out), indexed
        by the global variant index; ``dosage`` float32 ``(n_samples, k)``.
    """
    path = str(path)
    if genotype_format(path) != "plink":
        return None
    prefix = plink_prefix(path)
    all_samples = read_samples(path)
    idx = _sample_index(path, all_samples, samples)
    n_out = len(all_samples) if idx is None else len(idx)
    want = set(ids)
    wanted_chroms = None if chromosomes is None else {str(c) for c in chromosomes}
    parts, seen, n_var = [], set(), 0
    for chunk in _bim_csv(prefix, chunksize=1_000_000):
        chunk.index = pd.RangeIndex(n_var, n_var + len(chunk))
        n_var += len(chunk)
        hit = chunk["id"].isin(want)
        if wanted_chroms is not None:
            hit &= chunk["chrom"].isin(wanted_chroms)
        sub = chunk[hit & ~chunk["id"].isin(seen)]
        sub = sub[~sub["id"].duplicated()]
        if len(sub):
            seen.update(sub["id"])
            parts.append(sub)
    bed = _open_bed(prefix, len(all_samples), n_var)
    if not parts:
        return pd.DataFrame(columns=VARIANT_COLUMNS), np.zeros((n_out, 0), dtype=np.float32)
    variants = _bim_variants(pd.concat(parts))
    order = {v: k for k, v in enumerate(variants["id"])}
    pick = np.array([order[i] for i in ids if i in order], dtype=np.int64)
    variants = variants.iloc[pick]
    rows = variants.index.to_numpy(np.int64)
    srt = np.argsort(rows, kind="stable")
    dos = np.empty((n_out, len(rows)), dtype=np.float32)
    dos[:, srt] = _decode_bed(bed[rows[srt]], len(all_samples), idx)
    return variants, dos


def iter_dosage_chunks(
    path: str | os.PathLike,
    chunk_size: int = 10000,
    samples: Sequence[str] | None = None,
    chromosomes: Collection[str] | None = None,
    progress: str | None = None,
    reuse: bool = False,
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Stream ALT-allele dosages in chunks of variants.

    Parameters
    ----------
    path : str or path-like
        VCF/BCF file or PLINK 1 fileset (prefix or any of its files).
    chunk_size : int, default 10000
        Maximum number of variants per chunk.
    samples : sequence of str, optional
        Samples to return, in this order (default: all, in file order).
    chromosomes : collection of str, optional
        Only variants on these chromosomes (PLINK: only their rows of the
        ``.bim`` and ``.bed`` are read, one chromosome block at a time, so
        memory does not grow with the rest of the genome; VCF: every record is
        still parsed). Chunks keep the boundaries of the unrestricted stream,
        minus the other chromosomes' variants, so per-chromosome runs are the
        same arrays.
    progress : str, optional
        Label of progress lines counting the variants streamed
        (:class:`breedomics.core.progress.Progress`, one update per chunk).
    reuse : bool, default False
        PLINK: every chunk's dosages are decoded into the same work array, which the
        next chunk overwrites (for consumers that copy what they keep: no page faults
        of a fresh array per chunk). VCF chunks are always fresh arrays.

    Yields
    ------
    variants : pandas.DataFrame
        The chunk's rows of :func:`read_variants` (its index is the global
        variant index).
    dosage : numpy.ndarray
        ``float32`` array ``(n_samples, n_chunk)`` counting the ALT (PLINK A1)
        allele, 0/1/2 with NaN for missing; haploid calls count 0 or 2.

    Raises
    ------
    UserError
        If a requested sample is not in the file.
    """
    chunks = _dosage_chunks(str(path), chunk_size, samples, chromosomes, reuse)
    if progress is None:
        yield from chunks
        return
    count = Progress(count_variants(path, chromosomes), progress, "variants")
    yield from track(chunks, count, lambda chunk: chunk[1].shape[1])


def _dosage_chunks(
    path: str,
    chunk_size: int,
    samples: Sequence[str] | None,
    chromosomes: Collection[str] | None,
    reuse: bool = False,
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """The chunks of :func:`iter_dosage_chunks` (without progress)."""
    if chunk_size < 1:
        raise UserError(f"chunk_size must be >= 1, got {chunk_size}")
    fmt = genotype_format(path)
    all_samples = read_samples(path)
    idx = _sample_index(path, all_samples, samples)
    if fmt == "plink":
        prefix = plink_prefix(path)
        work = WorkArrays() if reuse else None
        yield from _plink_chunks(prefix, len(all_samples), idx, chunk_size, chromosomes, work)
        return

    # VCF: cyvcf2 returns samples in file order, so read the subset then reorder.
    order = None
    sub = None
    if idx is not None:
        sub = [all_samples[i] for i in sorted(idx)]
        rank = {s: k for k, s in enumerate(sub)}
        order = np.array([rank[s] for s in samples], dtype=np.int64)
    n_out = len(all_samples) if idx is None else len(idx)
    rows: list[tuple[str, int, str, str, str]] = []
    buf = np.empty((chunk_size, n_out), dtype=np.float32)
    offset = 0

    def _emit(k: int):
        df = pd.DataFrame(rows, columns=VARIANT_COLUMNS, index=pd.RangeIndex(offset, offset + k))
        df["pos"] = df["pos"].astype(np.int64)
        dos = buf[:k].T
        if order is not None:
            dos = dos[order]
        return df, np.ascontiguousarray(dos)

    k = 0
    wanted = None if chromosomes is None else set(chromosomes)

    def _select(chunk):
        # VCF records are all parsed; only the wanted chromosomes' rows are yielded
        if wanted is None:
            return chunk
        df, dos = chunk
        sel = df["chrom"].isin(wanted).to_numpy()
        return (df[sel], np.ascontiguousarray(dos[:, sel])) if sel.any() else None

    for v in _iter_vcf_records(path, sub):
        rows.append(_vcf_row(v))
        buf[k] = vcf_dosage(v, len(sub) if sub is not None else n_out)
        k += 1
        if k == chunk_size:
            if (out := _select(_emit(k))) is not None:
                yield out
            offset += k
            rows = []
            k = 0
    if k and (out := _select(_emit(k))) is not None:
        yield out


def _plink_chunks(
    prefix: str,
    n_samples: int,
    idx: np.ndarray | None,
    chunk_size: int,
    chromosomes: Collection[str] | None,
    work: WorkArrays | None = None,
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """PLINK chunks of :func:`iter_dosage_chunks`; with ``chromosomes`` only their rows are
    read; with ``work`` decoded into its reused arrays."""
    if chromosomes is None:
        bim = _read_bim(prefix)
        bed = _open_bed(prefix, n_samples, len(bim))
        for start in range(0, len(bim), chunk_size):
            stop = min(start + chunk_size, len(bim))
            yield bim.iloc[start:stop], _decode_bed(bed[start:stop], n_samples, idx, len(bim), work)
        return
    names, starts, counts = chromosome_blocks(prefix)
    bed = _open_bed(prefix, n_samples, int(counts.sum()))
    wanted = set(chromosomes)
    ranges: list[list[int]] = []  # wanted rows [first, stop), adjacent blocks merged
    for name, first, count in zip(names, starts.tolist(), counts.tolist(), strict=True):
        if name not in wanted:
            continue
        if ranges and ranges[-1][1] == first:
            ranges[-1][1] += count
        else:
            ranges.append([first, first + count])

    def pieces():
        # (chunk number, rows, first, stop): each range's .bim rows are read once
        for first, stop in ranges:
            bim = _read_bim_rows(prefix, first, stop - first)
            for k in range(first // chunk_size, (stop - 1) // chunk_size + 1):
                lo, hi = max(first, k * chunk_size), min(stop, (k + 1) * chunk_size)
                yield k, bim.iloc[lo - first : hi - first], lo, hi

    n_rows = sum(stop - first for first, stop in ranges)
    # chunks keep the boundaries of the unrestricted stream: pieces of one chunk are joined
    for _k, group in itertools.groupby(pieces(), key=lambda piece: piece[0]):
        parts = list(group)
        if len(parts) == 1:
            _, bim, lo, hi = parts[0]
            yield bim, _decode_bed(bed[lo:hi], n_samples, idx, n_rows, work)
        else:
            rows = np.concatenate([np.arange(lo, hi) for _, _, lo, hi in parts])
            bim = pd.concat([b for _, b, _, _ in parts])
            yield bim, _decode_bed(bed[rows], n_samples, idx, n_rows, work)


def read_dosage(
    path: str | os.PathLike, samples: Sequence[str] | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Read the whole dosage matrix (small data and tests only).

    Same conventions as :func:`iter_dosage_chunks`; returns the full variant
    table and a ``(n_samples, n_variants)`` float32 array.
    """
    tabs, mats = [], []
    for df, d in iter_dosage_chunks(path, chunk_size=50000, samples=samples):
        tabs.append(df)
        mats.append(d)
    if not tabs:
        n = len(samples) if samples is not None else len(read_samples(path))
        return pd.DataFrame(columns=VARIANT_COLUMNS), np.zeros((n, 0), dtype=np.float32)
    return pd.concat(tabs), np.concatenate(mats, axis=1)


# --------------------------------------------------------------------------- order check
def _positions(path: str) -> pd.DataFrame:
    """``chrom, pos, id`` of every record, without reading genotypes (fast)."""
    if genotype_format(path) == "plink":
        return _bim_csv(plink_prefix(path), usecols=["chrom", "id", "pos"])
    import pysam

    level = pysam.set_verbosity(0)  # no htslib chatter (missing index, undeclared contigs)
    try:
        with pysam.VariantFile(path, drop_samples=True) as vf:
            rows = [(r.chrom, r.pos, r.id or ".") for r in vf]
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read VCF/BCF {path}: {exc}") from None
    finally:
        pysam.set_verbosity(level)
    return pd.DataFrame(rows, columns=["chrom", "pos", "id"]).astype({"pos": np.int64})


def check_genotype_order(path: str | os.PathLike) -> None:
    """Stop before any computation unless every variant is placed, sorted and unique.

    The positional analyses (LD decay, ROH, windows, clumping, tabix-indexed
    results) assume that each chromosome is one block, positions increase
    strictly within it and no variant sits at position 0. Files as labs have
    them often break this; ``breedomics normalise-genotypes`` (run at entry by
    the workflow) fixes them and lists every change.

    Parameters
    ----------
    path : str or path-like
        VCF/BCF or PLINK 1 fileset (prefix or any of its files).

    Raises
    ------
    UserError
        A message of at most three lines naming the file, the first offending
        variant and the fix.
    """
    path = str(path)
    v = _positions(path)
    if v.empty:
        return
    chrom = v["chrom"].astype(str).to_numpy()
    pos = v["pos"].to_numpy(np.int64)
    ids = v["id"].astype(str).to_numpy()

    def where(i: int) -> str:
        return f"variant {ids[i]} ({chrom[i]}:{pos[i]}, record {i + 1})"

    zero = np.flatnonzero(pos <= 0)
    new_block = np.r_[True, chrom[1:] != chrom[:-1]]
    starts = np.flatnonzero(new_block)
    again = pd.Series(chrom[starts]).duplicated().to_numpy()
    same = ~new_block[1:]
    down = np.flatnonzero(same & (pos[1:] < pos[:-1])) + 1
    dup = np.flatnonzero(same & (pos[1:] == pos[:-1])) + 1
    found = []
    if len(zero):
        found.append((zero[0], f"{where(zero[0])} is at position 0 (unplaced; "
                               f"{len(zero)} such variant(s))"))  # fmt: skip
    if again.any():
        i = starts[np.flatnonzero(again)[0]]
        found.append((i, f"{where(i)}: chromosome {chrom[i]} starts again after other "
                         "chromosomes (file not sorted)"))  # fmt: skip
    if len(down):
        i = down[0]
        found.append((i, f"{where(i)} comes after {chrom[i]}:{pos[i - 1]} (file not sorted by "
                         "position)"))  # fmt: skip
    if len(dup):
        i = dup[0]
        found.append((i, f"{where(i)} is at the same position as {ids[i - 1]} (duplicate "
                         f"position; {len(dup)} such variant(s))"))  # fmt: skip
    if not found:
        return
    problem = min(found)[1]
    raise UserError(
        f"{path}: {problem}.\n"
        "Fix: run `breedomics normalise-genotypes` on it (sorts, sets unplaced variants aside, "
        "resolves duplicates; the workflow does this at entry) and use its output."
    )


# --------------------------------------------------------------------------- writer
def _encode_bed(dosage: np.ndarray) -> np.ndarray:
    """Encode (n_samples, n_var) A1 dosages to (n_var, nbytes) .bed bytes."""
    d = np.asarray(dosage, dtype=np.float64)
    n, m = d.shape
    finite = np.isfinite(d)
    r = np.rint(np.where(finite, d, 0.0))
    if np.any((r < 0) | (r > 2)):
        raise UserError("dosages to write must lie in [0, 2] (or be NaN for missing)")
    # dosage 2 -> 00, 1 -> 10, 0 -> 11, missing -> 01
    code = np.choose(r.astype(np.int8), [3, 2, 0]).astype(np.uint8)
    code[~finite] = 1
    nbytes = (n + 3) // 4
    pad = np.zeros((m, nbytes * 4), dtype=np.uint8)
    pad[:, :n] = code.T
    pad = pad.reshape(m, nbytes, 4)
    return (pad[..., 0] | (pad[..., 1] << 2) | (pad[..., 2] << 4) | (pad[..., 3] << 6)).astype(
        np.uint8
    )


def write_bed(
    prefix: str | os.PathLike,
    variants: pd.DataFrame | None,
    dosage_chunks: Iterable[np.ndarray] | Iterable[tuple[pd.DataFrame, np.ndarray]],
    samples: Sequence[str],
) -> str:
    """Write a PLINK 1 fileset (SNP-major ``.bed``, ``.bim``, ``.fam``) from chunks.

    Parameters
    ----------
    prefix : str or path-like
        Output prefix (a trailing ``.bed`` is stripped).
    variants : pandas.DataFrame or None
        Variant table with columns ``chrom, pos, id, ref, alt`` for all chunks.
        If None, ``dosage_chunks`` must yield ``(variants_chunk, dosage)``
        pairs, e.g. straight from :func:`iter_dosage_chunks`.
    dosage_chunks : iterable
        ``(n_samples, n_chunk)`` arrays counting ``alt``; values are rounded to
        the nearest integer (hard calls), NaN means missing.
    samples : sequence of str
        Sample IDs, written as both FID and IID of the ``.fam``.

    Returns
    -------
    str
        The prefix written.

    Notes
    -----
    ``alt`` is written as A1 (``.bim`` column 5) and ``ref`` as A2, so reading
    the fileset back (or ``plink2 --export A``) counts the same allele.
    """
    prefix = plink_prefix(prefix)
    samples = list(samples)
    n = len(samples)
    if len(set(samples)) != n:
        raise UserError(f"write_bed {prefix}: duplicated sample IDs")
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    with open(prefix + ".fam", "w") as fh:
        for s in samples:
            if any(c.isspace() for c in s):
                raise UserError(f"sample ID {s!r} contains whitespace, not allowed in PLINK files")
            fh.write(f"{s}\t{s}\t0\t0\t0\t-9\n")
    written = 0
    with open(prefix + ".bed", "wb") as bed, open(prefix + ".bim", "w") as bim:
        bed.write(_BED_MAGIC)
        for item in dosage_chunks:
            if variants is None:
                vchunk, dos = item  # type: ignore[misc]
            else:
                dos = item  # type: ignore[assignment]
                vchunk = None
            dos = np.asarray(dos)
            if dos.ndim != 2 or dos.shape[0] != n:
                raise UserError(
                    f"write_bed {prefix}: dosage chunk has shape {dos.shape}, "
                    f"expected ({n}, n_variants)"
                )
            m = dos.shape[1]
            if vchunk is None:
                vchunk = variants.iloc[written : written + m]  # type: ignore[union-attr]
                if len(vchunk) != m:
                    raise UserError(
                        f"write_bed {prefix}: more dosage columns than the {len(variants)} variants"
                    )
            for chrom, pos, vid, ref, alt in vchunk[VARIANT_COLUMNS].itertuples(index=False):
                bim.write(f"{chrom}\t{vid}\t0\t{int(pos)}\t{alt}\t{ref}\n")
            bed.write(_encode_bed(dos).tobytes())
            written += m
    if variants is not None and written != len(variants):
        raise UserError(
            f"write_bed {prefix}: wrote {written} variants but the table has {len(variants)}"
        )
    return prefix
