"""Genotype-aware evaluation of a call set against a truth VCF (``breedomics eval-calls``).

Both VCFs are first normalised with ``bcftools norm -m -any -f REF`` so that a
multiallelic record is compared allele by allele and an indel written at a
different (un-left-aligned) position in a repeat still matches. For every
shared sample and split record the genotype is reduced to a *class* from the
dosage of that record's alt allele: ref, het or hom-alt (a haploid ``1`` is
hom-alt, so haploid male chrX calls match a haploid truth). A call is a true
positive only when chrom/pos/ref/alt *and* class agree; a call at a truth
variant with the wrong class is one FP plus one FN and is also counted in
``gt_mismatch``. A missing truth genotype masks that site (position) for that
sample, so calls there are neither FP nor FN.

Precision/recall/F1 are reported per sample and overall (sample ``ALL``),
separately for SNPs (equal-length ref/alt, i.e. SNVs and MNPs) and INDELs.
Records are streamed contig by contig through an index of the normalised
files, so at most one contig's variant keys per sample are held in memory.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pysam

from breedomics.errors import UserError

#: genotype classes derived from the alt-allele dosage
MISSING = -1
REF = 0
HET = 1
HOMALT = 2

SNP = "SNP"
INDEL = "INDEL"
TYPES = (SNP, INDEL)

COLUMNS = [
    "sample",
    "type",
    "tp",
    "fp",
    "fn",
    "gt_mismatch",
    "precision",
    "recall",
    "f1",
    "het_calls",
    "nonref_calls",
]

#: key of a split, normalised record within one contig: (pos, ref, alt)
Key = tuple[int, str, str]


@dataclass
class Counts:
    """Confusion counts of one sample and variant type."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    gt_mismatch: int = 0

    def add(self, other: Counts) -> None:
        """Accumulate ``other`` into this object (used for the ``ALL`` row)."""
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.gt_mismatch += other.gt_mismatch


def genotype_class(alleles: Sequence[int | None] | None, alt_index: int = 1) -> int:
    """Classify a genotype by the dosage of allele ``alt_index``.

    Returns MISSING when no allele is called (``.``, ``./.``) or when the call is
    partial and shows no copy of the alt (``./0``: it could still be het), REF
    when no copy of the alt is present, HOMALT when every allele is the alt
    (so haploid ``1`` is HOMALT) and HET otherwise (including ``./1``).
    """
    if not alleles:
        return MISSING
    called = [a for a in alleles if a is not None]
    if not called:
        return MISSING
    dosage = sum(1 for a in called if a == alt_index)
    if dosage == 0:
        return MISSING if len(called) < len(alleles) else REF
    if dosage == len(alleles):
        return HOMALT
    return HET


def variant_type(ref: str, alt: str) -> str | None:
    """SNP for equal-length substitutions, INDEL otherwise; None for symbolic/star alleles."""
    if not alt or alt in (".", "*") or alt.startswith("<") or "[" in alt or "]" in alt:
        return None
    if ref == alt:
        return None
    return SNP if len(ref) == len(alt) else INDEL


# --------------------------------------------------------------------------- reference


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _is_bgzf(path: Path) -> bool:
    """True for BGZF (gzip member with a 'BC' extra subfield), which htslib can index."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    return (
        len(head) >= 18
        and head[:3] == b"\x1f\x8b\x08"
        and bool(head[3] & 4)
        and head[12:14] == b"BC"
    )


def _fresh(index: Path, target: Path) -> bool:
    return index.exists() and index.stat().st_mtime >= target.stat().st_mtime


def prepare_reference(ref: Path, tmpdir: Path) -> Path:
    """Return a faidx-indexed path for ``ref``, indexing or decompressing into ``tmpdir``.

    An up-to-date ``.fai`` (plus ``.gzi`` for BGZF) next to the reference is
    used as is. Otherwise the reference is symlinked into the temp dir and
    indexed there (the user's directory may be read-only); a plain-gzip
    reference, which htslib cannot index, is decompressed there first.
    """
    if not ref.is_file():
        raise UserError(f"reference FASTA {ref} does not exist; pass an existing file to --ref")
    gz = _is_gzip(ref)
    bgzf = gz and _is_bgzf(ref)
    fai = Path(f"{ref}.fai")
    gzi = Path(f"{ref}.gzi")
    if (not gz or bgzf) and _fresh(fai, ref) and (not bgzf or _fresh(gzi, ref)):
        return ref
    if not gz or bgzf:
        link = tmpdir / ("reference.fa.gz" if bgzf else "reference.fa")
        link.symlink_to(ref.resolve())
        target = link
    else:
        target = tmpdir / "reference.fa"
        try:
            with gzip.open(ref, "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (OSError, EOFError) as exc:
            raise UserError(f"cannot decompress reference {ref}: {exc}") from exc
    try:
        pysam.faidx(str(target))
    except pysam.SamtoolsError as exc:
        raise UserError(
            f"cannot index reference {ref} with faidx ({exc}); check it is a FASTA file"
        ) from exc
    return target


def _fai_contigs(ref: Path) -> list[tuple[str, int]]:
    out = []
    with open(f"{ref}.fai") as fh:
        for line in fh:
            fields = line.split("\t")
            if len(fields) >= 2:
                out.append((fields[0], int(fields[1])))
    return out


# --------------------------------------------------------------------------- normalisation


def _bcftools(args: list[str], what: str) -> None:
    """Run bcftools with an argument list; turn a failure into a UserError naming ``what``."""
    exe = shutil.which("bcftools")
    if exe is None:
        raise UserError("bcftools is not on PATH; install bcftools (>= 1.16) to run eval-calls")
    proc = subprocess.run([exe, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise UserError(f"bcftools {args[0]} failed on {what}:\n{tail}")


def normalise(vcf: Path, ref: Path, tmpdir: Path, label: str) -> Path:
    """Split multiallelics and left-align ``vcf`` against ``ref``; return an indexed .vcf.gz.

    bcftools cannot write records whose contig is absent from the header, so a
    header lacking reference contigs is first completed with ``reheader --fai``.
    REF alleles that disagree with the reference are an error (wrong reference).
    """
    src = vcf
    with pysam.VariantFile(str(vcf)) as vf:
        declared = set(vf.header.contigs)
    if any(name not in declared for name, _ in _fai_contigs(ref)):
        src = tmpdir / f"{label}.reheader{''.join(vcf.suffixes[-2:]) or '.vcf'}"
        _bcftools(["reheader", "--fai", f"{ref}.fai", "-o", str(src), str(vcf)], str(vcf))
    out = tmpdir / f"{label}.norm.vcf.gz"
    _bcftools(
        ["norm", "-m", "-any", "-f", str(ref), "-c", "e", "-Oz", "-o", str(out), str(src)],
        f"{vcf} (are the VCF and --ref the same assembly?)",
    )
    _bcftools(["index", "-f", str(out)], f"{vcf} after normalisation (sort it with bcftools sort)")
    return out


# --------------------------------------------------------------------------- evaluation


def _open_checked(path: Path, role: str) -> list[str]:
    if not path.is_file():
        raise UserError(f"{role} VCF {path} does not exist")
    try:
        with pysam.VariantFile(str(path)) as vf:
            samples = list(vf.header.samples)
            has_gt = "GT" in vf.header.formats
    except (ValueError, OSError) as exc:
        raise UserError(f"cannot read {role} VCF {path}: {exc}") from exc
    if not samples:
        raise UserError(f"{role} VCF {path} has no sample columns; genotypes are needed")
    if not has_gt:
        raise UserError(f"{role} VCF {path} declares no GT FORMAT field; genotypes are needed")
    return samples


def _choose_samples(
    truth: Path,
    calls: Path,
    truth_samples: list[str],
    call_samples: list[str],
    requested: Sequence[str] | None,
) -> list[str]:
    """Intersection of sample names (in call-set order), reporting the rest on stderr."""
    tset, cset = set(truth_samples), set(call_samples)
    only_calls = [s for s in call_samples if s not in tset]
    only_truth = [s for s in truth_samples if s not in cset]
    if only_calls:
        print(
            f"eval-calls: {len(only_calls)} sample(s) in calls but not truth, skipped: "
            + ",".join(only_calls),
            file=sys.stderr,
        )
    if only_truth:
        print(
            f"eval-calls: {len(only_truth)} sample(s) in truth but not calls, skipped: "
            + ",".join(only_truth),
            file=sys.stderr,
        )
    shared = [s for s in call_samples if s in tset]
    if not shared:
        raise UserError(
            f"no sample names shared between truth {truth} and calls {calls}; "
            "rename samples (bcftools reheader -s) so they match"
        )
    if requested:
        missing = [s for s in requested if s not in tset or s not in cset]
        if missing:
            raise UserError(
                f"--samples {','.join(missing)} not present in both {truth} and {calls}; "
                f"shared samples are: {','.join(shared)}"
            )
        shared = list(dict.fromkeys(requested))
    return shared


def _passes(rec: pysam.VariantRecord) -> bool:
    keys = list(rec.filter.keys())
    return not keys or keys == ["PASS"]


def _columns(vf: pysam.VariantFile, shared: list[str]) -> list[int]:
    """Column index in ``vf`` (after subsetting) of each sample in ``shared``."""
    pos = {name: i for i, name in enumerate(vf.header.samples)}
    return [pos[s] for s in shared]


def _records(
    vf: pysam.VariantFile, contig: str, cols: list[int], use_filter: bool
) -> Iterable[tuple[Key, str, list[int]]]:
    """Yield (key, type, class per column in ``cols``) for each usable alt on ``contig``."""
    if contig not in vf.header.contigs:
        return
    for rec in vf.fetch(contig):
        if use_filter and not _passes(rec):
            continue
        for ai, alt in enumerate(rec.alts or (), start=1):
            vtype = variant_type(rec.ref, alt)
            if vtype is None:
                continue
            classes = []
            for i in cols:
                try:
                    alleles = rec.samples[i].allele_indices
                except (KeyError, ValueError):
                    alleles = None
                classes.append(genotype_class(alleles, ai))
            yield (rec.pos, rec.ref, alt), vtype, classes


def restrict(vcf: Path, bed: Path, exclude: bool, tmpdir: Path, label: str) -> Path:
    """Records of normalised ``vcf`` starting inside (or, ``exclude``, outside) ``bed``.

    Used to score a stratum (e.g. repeats vs the rest): both sets are normalised first,
    so a variant is placed by its left-aligned position in both.
    """
    if not bed.is_file():
        raise UserError(f"stratum BED {bed} does not exist; pass an existing BED file")
    out = tmpdir / f"{label}.stratum.vcf.gz"
    targets = f"^{bed}" if exclude else str(bed)
    _bcftools(["view", "-T", targets, "-Oz", "-o", str(out), str(vcf)], f"{vcf} with {bed}")
    _bcftools(["index", "-f", str(out)], str(out))
    return out


def evaluate(
    truth: str | os.PathLike[str],
    calls: str | os.PathLike[str],
    ref: str | os.PathLike[str],
    samples: Sequence[str] | None = None,
    all_filters: bool = False,
    targets: str | os.PathLike[str] | None = None,
    exclude_targets: bool = False,
) -> pd.DataFrame:
    """Compare ``calls`` with ``truth`` and return the metrics table (columns ``COLUMNS``).

    Rows are ordered by sample (call-set order, then ``ALL``) and type (SNP, INDEL).
    ``het_calls``/``nonref_calls`` count the sample's passing SNP calls (split records)
    that are het / non-ref, regardless of the truth, to spot residual heterozygosity
    in inbred lines. ``targets`` (a BED file) scores only variants whose normalised
    position lies in it, or with ``exclude_targets`` only those outside it (a stratum).
    """
    truth_p, calls_p, ref_p = Path(truth), Path(calls), Path(ref)
    truth_samples = _open_checked(truth_p, "truth")
    call_samples = _open_checked(calls_p, "calls")
    shared = _choose_samples(truth_p, calls_p, truth_samples, call_samples, samples)
    counts = {s: {t: Counts() for t in TYPES} for s in shared}
    het_calls = dict.fromkeys(shared, 0)
    nonref_calls = dict.fromkeys(shared, 0)

    with tempfile.TemporaryDirectory(prefix="breedomics-evalcalls-") as tmp:
        tmpdir = Path(tmp)
        ref_idx = prepare_reference(ref_p, tmpdir)
        tnorm = normalise(truth_p, ref_idx, tmpdir, "truth")
        cnorm = normalise(calls_p, ref_idx, tmpdir, "calls")
        if targets is not None:
            tnorm = restrict(tnorm, Path(targets), exclude_targets, tmpdir, "truth")
            cnorm = restrict(cnorm, Path(targets), exclude_targets, tmpdir, "calls")
        with pysam.VariantFile(str(tnorm)) as tvf, pysam.VariantFile(str(cnorm)) as cvf:
            # htslib keeps file order when subsetting, so map shared order -> column index
            tvf.subset_samples(shared)
            cvf.subset_samples(shared)
            tcols = _columns(tvf, shared)
            ccols = _columns(cvf, shared)
            for contig, _ in _fai_contigs(ref_idx):
                truth_keys: list[dict[Key, int]] = [{} for _ in shared]
                masked: list[set[int]] = [set() for _ in shared]
                for key, _vtype, classes in _records(tvf, contig, tcols, use_filter=False):
                    for i, cls in enumerate(classes):
                        if cls == MISSING:
                            masked[i].add(key[0])
                        elif cls > REF:
                            truth_keys[i][key] = max(cls, truth_keys[i].get(key, REF))
                call_keys: list[dict[Key, int]] = [{} for _ in shared]
                for key, _vtype, classes in _records(cvf, contig, ccols, not all_filters):
                    for i, cls in enumerate(classes):
                        if cls > REF:
                            call_keys[i][key] = max(cls, call_keys[i].get(key, REF))
                for i, s in enumerate(shared):
                    _compare(truth_keys[i], masked[i], call_keys[i], counts[s])
                    for key, cls in call_keys[i].items():
                        if variant_type(key[1], key[2]) == SNP:
                            nonref_calls[s] += 1
                            het_calls[s] += cls == HET
    return _table(shared, counts, het_calls, nonref_calls)


def _compare(
    truth: dict[Key, int], masked: set[int], calls: dict[Key, int], counts: dict[str, Counts]
) -> None:
    """Add one sample's one-contig comparison to ``counts`` (see module docstring)."""
    for key, cls in calls.items():
        c = counts[variant_type(key[1], key[2]) or INDEL]
        tcls = truth.get(key)
        if tcls is None:
            if key[0] not in masked:
                c.fp += 1
        elif tcls == cls:
            c.tp += 1
        else:
            c.fp += 1
            c.fn += 1
            c.gt_mismatch += 1
    for key in truth:
        if key not in calls:
            counts[variant_type(key[1], key[2]) or INDEL].fn += 1


def _ratio(num: int, den: int) -> float:
    return num / den if den else float("nan")


def _table(
    shared: list[str],
    counts: dict[str, dict[str, Counts]],
    het_calls: dict[str, int],
    nonref_calls: dict[str, int],
) -> pd.DataFrame:
    total = {t: Counts() for t in TYPES}
    rows = []

    def row(sample: str, vtype: str, c: Counts, het: int, nonref: int) -> dict[str, object]:
        precision = _ratio(c.tp, c.tp + c.fp)
        recall = _ratio(c.tp, c.tp + c.fn)
        f1 = _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn)
        return {
            "sample": sample,
            "type": vtype,
            "tp": c.tp,
            "fp": c.fp,
            "fn": c.fn,
            "gt_mismatch": c.gt_mismatch,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "het_calls": het,
            "nonref_calls": nonref,
        }

    for s in shared:
        for t in TYPES:
            total[t].add(counts[s][t])
            rows.append(row(s, t, counts[s][t], het_calls[s], nonref_calls[s]))
    het_all, nonref_all = sum(het_calls.values()), sum(nonref_calls.values())
    for t in TYPES:
        rows.append(row("ALL", t, total[t], het_all, nonref_all))
    return pd.DataFrame(rows, columns=COLUMNS)


def group_table(df: pd.DataFrame, groups: dict[str, str]) -> pd.DataFrame:
    """Sum the per-sample rows of :func:`evaluate` over sample groups.

    ``groups`` maps sample -> group name; samples not in it are left out. Returns one
    row per group and type (columns ``group, type, tp, fp, fn, precision, recall, f1``),
    the pooled counts' ratios (as the ``ALL`` row pools all samples).
    """
    per = df[df["sample"] != "ALL"].copy()
    per["group"] = per["sample"].map(groups)
    per = per.dropna(subset=["group"])
    out = per.groupby(["group", "type"], sort=False)[["tp", "fp", "fn"]].sum().reset_index()
    tp, fp, fn = out["tp"], out["fp"], out["fn"]
    out["precision"] = tp / (tp + fp).where(tp + fp > 0)
    out["recall"] = tp / (tp + fn).where(tp + fn > 0)
    out["f1"] = 2 * tp / (2 * tp + fp + fn).where(2 * tp + fp + fn > 0)
    return out


def format_table(df: pd.DataFrame) -> str:
    """Render the metrics as TSV text (6 decimals, NA for undefined ratios)."""
    return df.to_csv(sep="\t", index=False, float_format="%.6f", na_rep="NA")


# --------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``eval-calls`` options."""
    parser.add_argument("truth", type=Path, help="truth VCF (.vcf, .vcf.gz or .bcf)")
    parser.add_argument("calls", type=Path, help="call-set VCF to evaluate")
    parser.add_argument(
        "--ref", type=Path, required=True, help="reference FASTA (plain, bgzip or gzip)"
    )
    parser.add_argument("--out", type=Path, help="write the metrics TSV here as well")
    parser.add_argument(
        "--samples", help="comma-separated samples to evaluate (default: all shared)"
    )
    stratum = parser.add_mutually_exclusive_group()
    stratum.add_argument(
        "--targets", type=Path, help="score only variants inside this BED (a stratum)"
    )
    stratum.add_argument(
        "--exclude-targets", type=Path, help="score only variants outside this BED"
    )
    parser.add_argument(
        "--all-filters",
        action="store_true",
        help="count calls whatever their FILTER (default: only PASS or '.')",
    )


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table to stdout and optionally write it to ``--out``."""
    requested = [s.strip() for s in (args.samples or "").split(",") if s.strip()] or None
    bed = args.targets or args.exclude_targets
    df = evaluate(
        args.truth, args.calls, args.ref, requested, args.all_filters,
        targets=bed, exclude_targets=args.exclude_targets is not None,
    )  # fmt: skip
    text = format_table(df)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(args.out)
    sys.stdout.write(text)
    return 0


# --------------------------------------------------------------------------- depth strata


def depth_masked_truth(
    truth: str | os.PathLike[str],
    bams: dict[str, str | os.PathLike[str]],
    out: str | os.PathLike[str],
    min_depth: int = 5,
    min_mapq: int = 0,
) -> Path:
    """``truth`` with each sample's genotype set to missing where its reads are too few.

    ``bams`` maps sample -> its BAM/CRAM; a sample's depth at a truth record is the number
    of its reads over the record's first base (``samtools depth -s``: the two mates of an
    overlapping pair once; mapping quality >= ``min_mapq``). Below ``min_depth`` the
    genotype becomes missing, which :func:`evaluate` reads as "not scored here" (neither FP
    nor FN): scoring on the loci a sample has at least ``min_depth`` reads at, e.g. a GBS
    panel's covered loci. Samples without a BAM keep their genotypes. Returns ``out``
    (bgzipped, indexed).
    """
    truth_p, out_p = Path(truth), Path(out)
    names = list(bams)
    depth: dict[tuple[str, int], list[int]] = {}
    with tempfile.TemporaryDirectory(prefix="breedomics-depthmask-") as tmp:
        bed = Path(tmp) / "sites.bed"
        with pysam.VariantFile(str(truth_p)) as vf, open(bed, "w") as fh:
            for rec in vf:
                fh.write(f"{rec.chrom}\t{rec.pos - 1}\t{rec.pos}\n")
        text = pysam.samtools.depth(
            "-a", "-s", "-Q", str(min_mapq), "-b", str(bed), *map(str, bams.values())
        )
    for line in text.splitlines():
        f = line.split("\t")
        depth[(f[0], int(f[1]))] = [int(x) for x in f[2:]]
    with pysam.VariantFile(str(truth_p)) as vf:
        col = {s: i for i, s in enumerate(names) if s in vf.header.samples}
        with pysam.VariantFile(str(out_p), "wz", header=vf.header) as wf:
            for rec in vf:
                d = depth.get((rec.chrom, rec.pos), [0] * len(names))
                for s, i in col.items():
                    if d[i] < min_depth:
                        gt = rec.samples[s]["GT"] or (None,)
                        rec.samples[s]["GT"] = (None,) * len(gt)
                wf.write(rec)
    pysam.tabix_index(str(out_p), preset="vcf", force=True)
    return out_p
