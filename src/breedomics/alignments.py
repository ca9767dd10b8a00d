"""Units that arrive as a BAM or CRAM (column ``bam`` of the unit sheet) instead of FASTQ.

Each such unit is inspected once, before any job, and takes one of two routes:

``import``
    Its ``@SQ`` lines are the workflow reference's contigs (same names and lengths, in
    the same order; ``M5`` checksums, where present, equal too). Its records are used as
    they are: the read groups are rewritten (ID = sample.unit, SM = the sample id, PL and
    LB from the sheet), the provider's duplicate flags cleared, mates fixed
    (``samtools fixmate -m``) and the records sorted; duplicates are then marked with the
    sample's other units as its ``library_type`` says.
``extract``
    It is unaligned (no ``@SQ``) or aligned to another reference: its read pairs are
    extracted (``samtools collate | samtools fastq``) and go through trimming and
    alignment like FASTQ units. A CRAM aligned to another reference is decoded with the
    FASTA given in the unit's ``reference`` column.

Problems stop the run with the unit sheet, its line and the fix: a file that is not
a BAM/CRAM, a CRAM made on another reference without that reference, an unaligned
file with no reads or with single-end reads, a read group naming another sample of the
sample sheet or several samples.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from breedomics.errors import UserError

#: The sequence dictionary the workflow writes next to its reference copy (reference.smk):
#: its M5 checksums are read instead of hashing the genome again.
WORKFLOW_DICT = Path("results/reference/genome.dict")


@dataclass(frozen=True)
class AlignmentUnit:
    """What the workflow does with one BAM/CRAM unit."""

    route: str  # "import" or "extract"
    #: FASTA that decodes the file ("" for a BAM, or an unaligned CRAM; "workflow" for a
    #: CRAM on the workflow's reference: results/reference/genome.fa)
    decode_with: str
    reason: str


def _where(sheet: Path, line: int) -> str:
    return f"Unit sheet '{sheet}', line {line}, column 'bam'"


def check_magic(path: Path, sheet: Path, line: int) -> str:
    """``bam`` or ``cram`` from the file's first bytes; the name's suffix must agree."""
    from breedomics.sheets import read_head  # sheets imports this module lazily

    where = _where(sheet, line)
    head = read_head(path, where, "", 4)
    kind = ""
    if head == b"CRAM":
        kind = "cram"
    elif head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as fh:
                kind = "bam" if fh.read(4) == b"BAM\x01" else ""
        except (OSError, EOFError) as exc:
            raise UserError(f"{where}: '{path}' is a damaged BAM ({exc}). Re-transfer it.") from exc
    if not kind:
        raise UserError(
            f"{where}: '{path}' is neither a BAM nor a CRAM file (a SAM text file? convert "
            f"it with 'samtools view -b'); give FASTQ in fq1/fq2 or a BAM/CRAM in bam."
        )
    if path.suffix.lower() != f".{kind}":
        raise UserError(
            f"{where}: '{path}' is a {kind.upper()} file but its name ends in "
            f"'{path.suffix}'; rename it to end in .{kind}."
        )
    return kind


def read_header(path: Path, kind: str, sheet: Path, line: int) -> dict:
    """The SAM header of a BAM/CRAM as pysam's dict (no reference needed)."""
    import pysam

    quiet = pysam.set_verbosity(0)  # htslib would note that a CRAM has no index
    try:
        with pysam.AlignmentFile(str(path), "rc" if kind == "cram" else "rb", check_sq=False) as fh:
            return fh.header.to_dict()
    except (OSError, ValueError) as exc:
        raise UserError(
            f"{_where(sheet, line)}: the header of '{path}' cannot be read ({exc}). Re-transfer "
            f"the file or check it with 'samtools quickcheck'."
        ) from exc
    finally:
        pysam.set_verbosity(quiet)


def first_record_paired(path: Path, kind: str, sheet: Path, line: int) -> None:
    """An unaligned file must hold reads, paired-end ones (the workflow aligns pairs)."""
    import pysam

    where = _where(sheet, line)
    quiet = pysam.set_verbosity(0)
    try:
        with pysam.AlignmentFile(str(path), "rc" if kind == "cram" else "rb", check_sq=False) as fh:
            rec = next(iter(fh), None)
    except (OSError, ValueError) as exc:
        raise UserError(f"{where}: '{path}' cannot be read ({exc}). Re-transfer it.") from exc
    finally:
        pysam.set_verbosity(quiet)
    if rec is None:
        raise UserError(
            f"{where}: '{path}' has no @SQ lines and no reads: it holds nothing to align. "
            f"Re-export it from the provider's data, or give the FASTQ in fq1/fq2."
        )
    if not rec.is_paired:
        raise UserError(
            f"{where}: '{path}' holds single-end reads (read '{rec.query_name}' has no mate); "
            f"the workflow aligns paired-end reads only."
        )


def fasta_lengths(path: Path) -> dict[str, int]:
    """Contig lengths of a plain or gzipped FASTA: from its .fai when fresh, else by reading it."""
    fai = Path(f"{path}.fai")
    if fai.exists() and fai.stat().st_mtime >= path.stat().st_mtime:
        with open(fai) as fh:
            return {f[0]: int(f[1]) for f in (line.split("\t") for line in fh) if len(f) > 1}
    out: dict[str, int] = {}
    name = None
    with _open_fasta(path) as fh:
        for raw in fh:
            if raw.startswith(b">"):
                name = raw[1:].split()[0].decode()
                out[name] = 0
            elif name is not None:
                out[name] += len(raw.strip())
    return out


def _open_fasta(path: Path):
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


@lru_cache(maxsize=8)
def _fasta_md5(path: str, mtime: float) -> dict[str, str]:
    """M5 of each contig (SAM spec: MD5 of the upper-case sequence without white space)."""
    dict_file = WORKFLOW_DICT
    if dict_file.exists() and dict_file.stat().st_mtime >= mtime:
        out, lengths = {}, {}
        with open(dict_file) as fh:
            for line in fh:
                if line.startswith("@SQ"):
                    tags = dict(t.split(":", 1) for t in line.rstrip("\n").split("\t")[1:])
                    if "SN" in tags and "M5" in tags and "LN" in tags:
                        out[tags["SN"]] = tags["M5"].lower()
                        lengths[tags["SN"]] = int(tags["LN"])
        if out and lengths == fasta_lengths(Path(path)):  # made from this reference
            return out
    out = {}
    name, md5 = None, None
    with _open_fasta(Path(path)) as fh:
        for raw in fh:
            if raw.startswith(b">"):
                if name is not None:
                    out[name] = md5.hexdigest()
                name, md5 = raw[1:].split()[0].decode(), hashlib.md5()  # noqa: S324 - SAM M5
            elif md5 is not None:
                md5.update(b"".join(raw.split()).upper())
    if name is not None:
        out[name] = md5.hexdigest()
    return out


def fasta_md5(path: Path) -> dict[str, str]:
    return _fasta_md5(str(path), path.stat().st_mtime)


def _sq(header: dict) -> list[tuple[str, int, str]]:
    return [(sq["SN"], int(sq["LN"]), str(sq.get("M5", "")).lower()) for sq in header.get("SQ", [])]


def check_read_groups(
    header: dict, path: Path, sample: str, known: set[str], sheet: Path, line: int
) -> None:
    """The file's read groups must name one sample: this one, or a name the sheet lacks.

    A provider's own sample name is rewritten to the sample id; a read group naming
    another sample of the sample sheet means the file is likely swapped.
    """
    names = sorted({str(rg.get("SM", "")) for rg in header.get("RG", []) if rg.get("SM")})
    where = _where(sheet, line)
    if len(names) > 1:
        raise UserError(
            f"{where}: '{path}' holds reads of {len(names)} samples (read group SM "
            f"{', '.join(names[:5])}); a unit is one sample's reads. Split it "
            f"('samtools split') and give each sample its own unit."
        )
    if names and names[0] != sample and names[0] in known:
        raise UserError(
            f"{where}: '{path}' is listed for sample '{sample}' but its read groups name "
            f"sample '{names[0]}' of the sample sheet: the files may be swapped. Fix the "
            f"sheet; if the file is right, rename its read groups first (samtools addreplacerg)."
        )


def inspect_unit(
    path: Path,
    reference: Path | None,
    workflow_fasta: Path,
    sample: str,
    known: set[str],
    sheet: Path,
    line: int,
    check_files: bool = True,
) -> AlignmentUnit:
    """Check one BAM/CRAM unit and choose its route (see the module's description)."""
    kind = check_magic(path, sheet, line)
    header = read_header(path, kind, sheet, line)
    check_read_groups(header, path, sample, known, sheet, line)
    sq = _sq(header)
    where = _where(sheet, line)
    if not sq:
        if check_files:
            first_record_paired(path, kind, sheet, line)
        return AlignmentUnit("extract", "", "unaligned (no @SQ lines)")
    ours = fasta_lengths(workflow_fasta)
    same = [(n, ln) for n, ln, _ in sq] == list(ours.items())
    why = "" if same else "its @SQ contig names, lengths or order differ from the reference's"
    if same and any(m5 for _, _, m5 in sq):
        md5 = fasta_md5(workflow_fasta)
        bad = [n for n, _, m5 in sq if m5 and md5.get(n) and md5[n] != m5]
        if bad:
            why = f"the M5 checksum of contig '{bad[0]}' differs from the reference's"
    if not why:
        if reference is not None and kind == "cram":
            _check_reference_covers(reference, sq, path, sheet, line)
            return AlignmentUnit("import", str(reference), "aligned to the workflow's reference")
        return AlignmentUnit(
            "import", "workflow" if kind == "cram" else "", "aligned to the workflow's reference"
        )
    if kind == "cram":
        if reference is None:
            raise UserError(
                f"{where}: CRAM '{path}' was made on another reference ({why}, "
                f"'{workflow_fasta}'), which is needed to read it. Give that FASTA in the "
                f"unit's 'reference' column; its reads are then realigned."
            )
        _check_reference_covers(reference, sq, path, sheet, line)
        return AlignmentUnit("extract", str(reference), f"aligned to another reference: {why}")
    return AlignmentUnit("extract", "", f"aligned to another reference: {why}")


def _check_reference_covers(
    reference: Path, sq: list[tuple[str, int, str]], path: Path, sheet: Path, line: int
) -> None:
    """The FASTA that decodes a CRAM must hold its @SQ contigs with their lengths."""
    where = f"Unit sheet '{sheet}', line {line}, column 'reference'"
    if not reference.exists():
        raise UserError(
            f"{where}: FASTA '{reference}' (the reference CRAM '{path}' was made on) does not "
            f"exist. Fix the path (relative to the unit sheet's folder)."
        )
    try:
        lengths = fasta_lengths(reference)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise UserError(f"{where}: FASTA '{reference}' cannot be read ({exc}).") from exc
    for name, length, _ in sq:
        if lengths.get(name) != length:
            found = "missing" if name not in lengths else f"{lengths[name]} bp"
            raise UserError(
                f"{where}: CRAM '{path}' has contig '{name}' of {length} bp, but '{reference}' "
                f"has it {found}: this is not the reference the CRAM was made on. Give that one."
            )
    with open(reference, "rb") as fh:
        head = fh.read(14)
    if head[:2] == b"\x1f\x8b" and not (head[3] & 4 and head[12:14] == b"BC"):
        raise UserError(
            f"{where}: FASTA '{reference}' is gzipped but not with bgzip, so the CRAM cannot "
            f"be decoded with it; recompress it ('gzip -dc | bgzip') or give it uncompressed."
        )
