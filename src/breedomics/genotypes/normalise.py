"""Genotype normalisation at entry: sorted, unique, positioned, biallelic SNPs with ids.

Genotype files as labs have them (SNP-array exports, GWAS-tool example panels,
GBS VCFs) break the positional analyses downstream: two SNPs at one position
(LD at distance 0), variants out of order (tabix refuses them), markers at
position 0 or on an "unplaced" chromosome, ``chr01`` in the genotypes and ``1``
in the reference. This module turns any genotype source (VCF/BCF or PLINK 1
fileset) into one bgzipped, indexed VCF that later stages may trust, and writes
every change it made, with its reason, to a table:

* only biallelic SNPs are kept (multi-allelic sites, indels, symbolic and
  monomorphic ``ALT .`` records are removed);
* chromosome names are harmonised through aliases (``chr01``, ``Chr1``, ``1``;
  ``chrM``/``MT``) to the reference FASTA's contig names when one is given (the
  output then follows the reference's contig order), otherwise to one spelling
  per chromosome in natural order (``1 < 2 < 10``);
* variants on unplaced chromosomes (``0``, ``Un``, or not a reference contig)
  or at position 0 are set aside (listed, left out);
* records at one position: copies with the same alleles and genotypes (also
  with REF/ALT swapped and the dosage mirrored, as PLINK A1/A2 swaps give)
  collapse to the first; conflicting ones keep the best call rate (ties: the
  higher minor allele frequency, then the first in the file) or are all
  dropped (``duplicate_positions="drop"``);
* ids: missing (``.``) and duplicated ids become ``CHROM:POS:REF:ALT``
  (``ids="keep"``), or every id is ``CHROM:POS:REF:ALT`` (``ids="position"``,
  the workflow's convention: GWAS annotation keys variants by it);
* the records are sorted with ``bcftools sort`` (the copy bundled with pysam:
  external merge sort, bounded memory) and indexed with tabix.

The decisions need only a few numbers per variant (call rate, allele frequency,
a hash of the genotypes), gathered in one streamed pass; a second pass writes
the kept records (VCF lines unchanged apart from CHROM and ID) into
``bcftools sort``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from breedomics.core.genotypes import (
    genotype_format,
    iter_dosage_chunks,
    open_vcf,
    plink_prefix,
    read_samples,
    vcf_dosage,
)
from breedomics.errors import UserError

__all__ = [
    "TABLE_COLUMNS",
    "alias_key",
    "harmonise_chromosomes",
    "natural_key",
    "decide",
    "normalise_genotypes",
    "add_arguments",
    "run",
]

#: Columns of the change table (``variants_normalised.tsv``).
TABLE_COLUMNS = [
    "chrom", "pos", "id", "ref", "alt", "new_chrom", "new_id", "action", "category", "reason",
]  # fmt: skip

#: Chromosome names (after alias reduction) that mean "no chromosome".
UNPLACED = frozenset({"0", "UN", "UNKNOWN", "UNPLACED", "NA", ".", "-"})
#: Prefixes of chromosome names: generic, and the species ones of the presets' assemblies
#: (soybean ``Gm01``, rice ``Os01``, pig ``SSC1``), which other sources write ``Chr01``/``1``.
_PREFIX = re.compile(
    r"^(?:(?:chromosome|chrom|chr)[_\-]?|(?:gm|os|ssc)[_\-]?(?=\d|[xy]$|un$))", re.IGNORECASE
)
_BASES = frozenset("ACGT")
#: End of the reason of a variant set aside because its chromosome is not a reference
#: contig (the change table's text, and how the off-reference check finds those rows).
_NOT_A_CONTIG = "is not a contig of the reference"


# --------------------------------------------------------------------------- names
def alias_key(name: str) -> str:
    """Reduce a chromosome name to the key its aliases share.

    ``chr01``, ``Chr1``, ``CHROMOSOME_1`` and ``1`` all give ``"1"``; ``chrX`` and
    ``x`` give ``"X"``; ``chrM``, ``MT`` give ``"MT"``.
    """
    s = _PREFIX.sub("", str(name).strip())
    if s.isdigit():
        return str(int(s))
    s = s.upper()
    return "MT" if s == "M" else s


def natural_key(name: str) -> tuple:
    """Sort key putting ``1 < 2 < 10 < X < scaffold_2 < scaffold_10`` (natural order)."""
    key = alias_key(name)
    if key.isdigit():
        return (0, int(key), "")
    parts = tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", key))
    return (1, 0, parts)


def harmonise_chromosomes(
    names: Iterable[str], reference: Sequence[str] | None = None, strict: bool = True
) -> tuple[dict[str, str | None], dict[str, str], list[str]]:
    """Map the genotypes' chromosome names to output names.

    Parameters
    ----------
    names : iterable of str
        Chromosome names as they appear in the genotypes (any order, repeats fine).
    reference : sequence of str, optional
        Contig names of the reference FASTA, in its order.
    strict : bool
        If False, a reference that none of the chromosomes matches is ignored (the
        names are then harmonised among themselves) instead of an error.

    Returns
    -------
    mapping : dict
        name -> output name, or None when the variants are set aside.
    why : dict
        name -> reason, for the names mapped to None.
    order : list of str
        Output chromosome order: the reference's, else natural order.

    Raises
    ------
    UserError
        If a reference is given and none of the chromosomes is one of its contigs.
    """
    seen = list(dict.fromkeys(str(n) for n in names))
    mapping: dict[str, str | None] = {}
    why: dict[str, str] = {}
    if reference is not None:
        ref = list(reference)
        exact = set(ref)
        by_key: dict[str, list[str]] = {}
        for contig in ref:
            by_key.setdefault(alias_key(contig), []).append(contig)
        for n in seen:
            key = alias_key(n)
            if n in exact:
                mapping[n] = n
            elif key in UNPLACED:
                mapping[n], why[n] = None, f"unplaced chromosome '{n}'"
            elif len(by_key.get(key, [])) == 1:
                mapping[n] = by_key[key][0]
            else:
                mapping[n] = None
                many = by_key.get(key, [])
                why[n] = (
                    f"chromosome '{n}' matches several reference contigs ({', '.join(many)})"
                    if many
                    else f"chromosome '{n}' {_NOT_A_CONTIG}"
                )
        if seen and all(v is None for v in mapping.values()):
            placed = [n for n in seen if alias_key(n) not in UNPLACED]
            if placed and not strict:
                return harmonise_chromosomes(seen)
            if placed:
                raise UserError(
                    f"none of the genotypes' chromosomes ({', '.join(placed[:5])}) is a contig "
                    f"of the reference ({', '.join(ref[:5])}{'...' if len(ref) > 5 else ''}) "
                    "or an alias of one; give the reference of the genotypes' assembly"
                )
        return mapping, why, ref
    first: dict[str, str] = {}
    for n in seen:
        key = alias_key(n)
        if key in UNPLACED:
            mapping[n], why[n] = None, f"unplaced chromosome '{n}'"
            continue
        mapping[n] = first.setdefault(key, n)
    order = sorted(set(first.values()), key=natural_key)
    return mapping, why, order


# --------------------------------------------------------------------------- pass 1
def _hash_columns(dos: np.ndarray, flip: np.ndarray) -> list[bytes]:
    """Hash of each variant's genotypes (columns of ``dos``), mirrored where ``flip``."""
    d = np.where(flip[None, :], 2.0 - dos, dos)
    codes = np.where(np.isnan(d), -1, np.rint(d)).astype(np.int8)
    codes = np.ascontiguousarray(codes.T)
    return [hashlib.blake2b(row.tobytes(), digest_size=12).digest() for row in codes]


def _stats(dos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Call rate and ALT frequency of each column of a (samples, variants) dosage block."""
    called = ~np.isnan(dos)
    n = called.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        af = np.nansum(dos, axis=0, dtype=np.float64) / (2.0 * n)
    return n / max(dos.shape[0], 1), af


def _is_snp(ref: pd.Series, alt: pd.Series) -> np.ndarray:
    r, a = ref.str.upper(), alt.str.upper()
    return (
        (r.str.len() == 1) & (a.str.len() == 1) & r.isin(_BASES) & a.isin(_BASES) & (r != a)
    ).to_numpy()


def scan(path: str, chunk_size: int = 20_000) -> pd.DataFrame:
    """One pass over a genotype file: the variant table and per-variant genotype summaries.

    Returns
    -------
    pandas.DataFrame
        ``chrom, pos, id, ref, alt, n_alt, call_rate, alt_freq, gt_hash`` in file
        order (``alt`` comma-joined for multi-allelic records; genotype columns
        only for biallelic SNPs, NaN / empty otherwise).
    """
    if genotype_format(path) == "plink":
        parts = []
        for variants, dos in iter_dosage_chunks(path, chunk_size=chunk_size):
            v = variants.reset_index(drop=True).copy()
            v["n_alt"] = np.where(v["alt"].isin(["0", "."]), 0, 1)
            cr, af = _stats(dos)
            v["call_rate"], v["alt_freq"] = cr, af
            flip = (v["alt"] < v["ref"]).to_numpy()
            v["gt_hash"] = _hash_columns(dos, flip)
            parts.append(v)
        return pd.concat(parts, ignore_index=True) if parts else _empty_scan()
    vcf = open_vcf(path)
    n = len(vcf.samples)
    rows = []
    try:
        for v in vcf:
            alts = [a for a in v.ALT if a not in (".", "")]
            alt = ",".join(alts) if alts else "."
            cr = af = np.nan
            h = b""
            if len(alts) == 1 and len(v.REF) == 1 and len(alts[0]) == 1:
                d = vcf_dosage(v, n)[:, None]
                c, f = _stats(d)
                cr, af = float(c[0]), float(f[0])
                h = _hash_columns(d, np.array([alts[0] < v.REF]))[0]
            rows.append((v.CHROM, int(v.POS), v.ID or ".", v.REF, alt, len(alts), cr, af, h))
    finally:
        vcf.close()
    if not rows:
        return _empty_scan()
    return pd.DataFrame(rows, columns=_SCAN_COLUMNS).astype({"pos": np.int64})


_SCAN_COLUMNS = ["chrom", "pos", "id", "ref", "alt", "n_alt", "call_rate", "alt_freq", "gt_hash"]


def _empty_scan() -> pd.DataFrame:
    return pd.DataFrame(columns=_SCAN_COLUMNS).astype({"pos": np.int64})


# --------------------------------------------------------------------------- decisions
def decide(
    scan_table: pd.DataFrame,
    reference: Sequence[str] | None = None,
    duplicate_positions: str = "best",
    ids: str = "keep",
    strict_reference: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Decide, for every variant, whether it is kept and under which chromosome and id.

    Parameters
    ----------
    scan_table : pandas.DataFrame
        Output of :func:`scan` (file order).
    reference : sequence of str, optional
        Reference contig names in order (aliases are resolved against them).
    duplicate_positions : {"best", "drop"}
        Conflicting records at one position: keep the best call rate, or drop all.
    ids : {"keep", "position"}
        Keep the file's ids (missing or duplicated ones become
        ``CHROM:POS:REF:ALT``) or name every variant ``CHROM:POS:REF:ALT``.
    strict_reference : bool
        See ``strict`` of :func:`harmonise_chromosomes`.

    Returns
    -------
    plan : pandas.DataFrame
        ``scan_table`` plus ``keep`` (bool), ``new_chrom``, ``new_id``.
    changes : pandas.DataFrame
        One row per change (:data:`TABLE_COLUMNS`), in file order.
    order : list of str
        Output chromosome order.
    """
    if duplicate_positions not in ("best", "drop"):
        raise UserError(
            f"duplicate_positions must be 'best' or 'drop', not {duplicate_positions!r}"
        )
    if ids not in ("keep", "position"):
        raise UserError(f"ids must be 'keep' or 'position', not {ids!r}")
    t = scan_table.reset_index(drop=True).copy()
    n = len(t)
    mapping, unplaced_why, order = harmonise_chromosomes(t["chrom"], reference, strict_reference)
    t["new_chrom"] = t["chrom"].map(mapping)
    action = np.full(n, "", dtype=object)
    category = np.full(n, "", dtype=object)
    reason = np.full(n, "", dtype=object)

    def mark(sel, act, cat, why):
        sel = np.asarray(sel) & (action == "")
        action[sel], category[sel] = act, cat
        reason[sel] = why[sel] if isinstance(why, np.ndarray) else why

    n_alt = t["n_alt"].to_numpy()
    alts = t["alt"].to_numpy(dtype=object)
    multi = np.array([f"multi-allelic site (ALT {a}): not a biallelic SNP" for a in alts])
    mark(n_alt > 1, "removed", "multiallelic", multi)
    mark(n_alt == 0, "removed", "no_alt", "no ALT allele (monomorphic record)")
    mark(~_is_snp(t["ref"], t["alt"]), "removed", "not_snp",
         "not a SNP (indel, MNP or non-ACGT allele)")  # fmt: skip
    chrom = t["chrom"].to_numpy(dtype=object)
    no_chrom = t["new_chrom"].isna().to_numpy()
    mark(no_chrom, "set_aside", "unplaced",
         np.array([unplaced_why.get(c, "") for c in chrom], dtype=object))  # fmt: skip
    mark(t["pos"].to_numpy() <= 0, "set_aside", "position_0",
         "position 0 (unplaced marker)")  # fmt: skip
    _resolve_duplicates(t, action, category, reason, duplicate_positions)

    keep = action == ""
    new_chrom = t["new_chrom"].fillna("").astype(str).to_numpy(dtype=object)
    positional = np.array(
        [
            f"{c}:{p}:{r}:{a}"
            for c, p, r, a in zip(new_chrom, t["pos"], t["ref"], alts, strict=True)
        ],
        dtype=object,
    )
    old_id = t["id"].astype(str).to_numpy(dtype=object)
    if ids == "position":
        new_id = positional.copy()
    else:
        new_id = old_id.copy()
        kept_ids = pd.Series(old_id[keep])
        dup = np.zeros(n, dtype=bool)
        dup[np.flatnonzero(keep)] = kept_ids.duplicated(keep="first").to_numpy()
        missing = np.isin(old_id, [".", "", "nan"])
        new_id[missing | dup] = positional[missing | dup]
        taken = set(new_id[keep & ~(missing | dup)])
        for i in np.flatnonzero(keep & (missing | dup)):
            cand, k = new_id[i], 2
            while cand in taken:
                cand, k = f"{positional[i]}_{k}", k + 1
            new_id[i] = cand
            taken.add(cand)
    t["keep"] = keep
    t["new_id"] = np.where(keep, new_id, "")
    rows = _change_rows(t, action, category, reason, keep, new_id, old_id, ids)
    return t, rows, order


def _resolve_duplicates(t, action, category, reason, policy: str) -> None:
    """Mark records sharing a (new chromosome, position) with one kept per position."""
    live = np.flatnonzero(action == "")
    if not len(live):
        return
    sub = t.iloc[live]
    key = sub["new_chrom"].astype(str) + "\t" + sub["pos"].astype(str)
    dup_keys = key[key.duplicated(keep=False)]
    if dup_keys.empty:
        return
    ids = t["id"].astype(str).to_numpy()
    label = [f"{i} ({c}:{p})" for i, c, p in zip(ids, t["chrom"], t["pos"], strict=True)]
    for _, members in dup_keys.groupby(dup_keys, sort=False):
        rows = members.index.to_numpy()  # positions in t (RangeIndex)
        # identity class: alleles as a set, genotypes counted on the alphabetically last
        classes: dict[tuple, int] = {}
        reps = []
        for r in rows:
            ident = (frozenset((t.at[r, "ref"], t.at[r, "alt"])), t.at[r, "gt_hash"])
            if ident in classes:
                first = classes[ident]
                action[r], category[r] = "removed", "duplicate_identical"
                reason[r] = f"same position, alleles and genotypes as {label[first]}, which is kept"
            else:
                classes[ident] = r
                reps.append(r)
        if len(reps) < 2:
            continue
        if policy == "drop":
            for r in reps:
                others = ", ".join(label[o] for o in reps if o != r)
                action[r], category[r] = "removed", "duplicate_conflict"
                reason[r] = (
                    f"same position as {others} with other alleles or genotypes "
                    "(duplicate_positions: drop)"
                )
            continue
        cr = t.loc[reps, "call_rate"].fillna(0).to_numpy()
        af = t.loc[reps, "alt_freq"].fillna(0).to_numpy()
        maf = np.minimum(af, 1 - af)
        best = reps[int(np.lexsort((np.arange(len(reps)), -maf, -cr))[0])]
        for r in reps:
            if r == best:
                continue
            action[r], category[r] = "removed", "duplicate_conflict"
            reason[r] = (
                f"same position as {label[best]} with other alleles or genotypes; kept that one "
                f"(call rate {t.at[best, 'call_rate']:.4f} vs {t.at[r, 'call_rate']:.4f}, "
                f"MAF {min(t.at[best, 'alt_freq'], 1 - t.at[best, 'alt_freq']):.4f} vs "
                f"{min(t.at[r, 'alt_freq'], 1 - t.at[r, 'alt_freq']):.4f}; "
                "duplicate_positions: best)"
            )


def _change_rows(t, action, category, reason, keep, new_id, old_id, ids) -> pd.DataFrame:
    base = t[["chrom", "pos", "id", "ref", "alt", "new_chrom"]].copy()
    base["new_chrom"] = base["new_chrom"].fillna("")
    base["new_id"] = np.where(keep, new_id, "")
    frames = []
    gone = ~keep
    if gone.any():
        f = base[gone].copy()
        f["action"], f["category"], f["reason"] = action[gone], category[gone], reason[gone]
        frames.append(f)
    renamed = keep & (t["chrom"].to_numpy() != t["new_chrom"].to_numpy())
    if renamed.any():
        f = base[renamed].copy()
        f["action"], f["category"] = "renamed_chrom", "chrom_alias"
        f["reason"] = [f"chromosome '{a}' is '{b}' in the output (alias)"
                       for a, b in zip(f["chrom"], f["new_chrom"], strict=True)]  # fmt: skip
        frames.append(f)
    changed_id = keep & (new_id != old_id)
    if changed_id.any():
        f = base[changed_id].copy()
        olds = old_id[changed_id]
        missing = np.isin(olds, [".", "", "nan"])
        counts = pd.Series(old_id[keep]).value_counts()
        dup = np.array([counts.get(o, 0) > 1 for o in olds]) & ~missing
        f["action"] = "renamed_id"
        f["category"] = np.where(missing, "missing_id", np.where(dup, "duplicate_id",
                                                                 "positional_id"))  # fmt: skip
        f["reason"] = np.where(
            missing, "missing id: named CHROM:POS:REF:ALT",
            np.where(dup, "duplicate id: this copy named CHROM:POS:REF:ALT",
                     "variant ids are CHROM:POS:REF:ALT (ids: position)"))  # fmt: skip
        if ids == "position":  # a duplicated id is renamed like every other one
            f.loc[dup, "reason"] = "duplicate id; variant ids are CHROM:POS:REF:ALT (ids: position)"
        frames.append(f)
    if not frames:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    out = pd.concat(frames)
    out["_rank"] = out["action"].map({"removed": 0, "set_aside": 0, "renamed_chrom": 1,
                                      "renamed_id": 2})  # fmt: skip
    out = out.reset_index().sort_values(["index", "_rank"], kind="stable")
    return out[TABLE_COLUMNS].reset_index(drop=True)


# --------------------------------------------------------------------------- pass 2
def _contig_lines(order: Sequence[str], lengths: Mapping[str, int | None], used: set) -> list[str]:
    lines = []
    for c in order:
        if c not in used and not lengths:
            continue
        length = lengths.get(c)
        lines.append(f"##contig=<ID={c}{f',length={length}' if length else ''}>\n")
    return lines


def _vcf_lines(path: str, plan: pd.DataFrame, contigs: list[str]) -> Iterator[str]:
    """Header and kept records of a VCF/BCF, with CHROM and ID replaced."""
    vcf = open_vcf(path)
    try:
        header = [
            ln + "\n" for ln in vcf.raw_header.rstrip("\n").split("\n")
            if not ln.startswith("##contig=")
        ]  # fmt: skip
        yield from header[:-1]
        yield from contigs
        yield header[-1]
        keep = plan["keep"].to_numpy()
        chrom = plan["new_chrom"].to_numpy(dtype=object)
        ids = plan["new_id"].to_numpy(dtype=object)
        for i, v in enumerate(vcf):
            if keep[i]:
                rest = str(v).split("\t", 3)[3]
                yield f"{chrom[i]}\t{v.POS}\t{ids[i]}\t{rest}"
    finally:
        vcf.close()


_GT = np.array(["1/1", "./.", "0/1", "0/0"])  # indexed by PLINK 2-bit code


def _plink_lines(path: str, plan: pd.DataFrame, contigs: list[str]) -> Iterator[str]:
    """A VCF of the kept PLINK variants (REF = A2, ALT = A1, as ``plink2 --export vcf``)."""
    samples = read_samples(path)
    yield "##fileformat=VCFv4.2\n"
    yield "##source=breedomics normalise-genotypes (from PLINK 1 fileset)\n"
    yield '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    yield from contigs
    yield "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n"
    keep = plan["keep"].to_numpy()
    chrom = plan["new_chrom"].to_numpy(dtype=object)
    ids = plan["new_id"].to_numpy(dtype=object)
    start = 0
    for variants, dos in iter_dosage_chunks(path, chunk_size=5000):
        m = len(variants)
        sel = np.flatnonzero(keep[start : start + m])
        if len(sel):
            d = dos[:, sel]
            code = np.where(np.isnan(d), 1, np.choose(np.rint(np.nan_to_num(d)).astype(int),
                                                      [3, 2, 0])).T  # fmt: skip
            gts = _GT[code]
            v = variants.iloc[sel]
            for k, (pos, ref, alt) in enumerate(zip(v["pos"], v["ref"], v["alt"], strict=True)):
                i = start + sel[k]
                yield (f"{chrom[i]}\t{pos}\t{ids[i]}\t{ref}\t{alt}\t.\t.\t.\tGT\t"
                       + "\t".join(gts[k]) + "\n")  # fmt: skip
        start += m


def _write_bgzf(lines: Iterable[str], path: str) -> None:
    import pysam

    with pysam.BGZFile(path, "wb") as fh:
        buf = []
        for line in lines:
            buf.append(line)
            if len(buf) >= 2000:
                fh.write("".join(buf).encode())
                buf = []
        fh.write("".join(buf).encode())


def _write_sorted(lines: Iterable[str], out: str, in_order: bool = False) -> None:
    """Write VCF text, sort it with bcftools sort (bundled with pysam) and tabix-index it.

    The unsorted records go to a temporary BGZF file first; ``bcftools sort`` then
    merges sorted runs of at most 768 MB from disk, so memory stays bounded.
    ``in_order``: the records already come in the output's contig order and by
    increasing position (most files as labs have them): written straight to the output,
    without the sort's second pass and second compression.
    """
    import pysam
    import pysam.bcftools

    folder = os.path.dirname(os.path.abspath(out))
    part = out + ".part.vcf.gz"
    if in_order:
        _write_bgzf(lines, part)
    else:
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            unsorted = os.path.join(tmp, "unsorted.vcf.gz")
            _write_bgzf(lines, unsorted)
            try:
                pysam.bcftools.sort(
                    "-m", "768M", "-T", os.path.join(tmp, "sort"), "-Oz", "-o", part, unsorted,
                    catch_stdout=False,
                )  # fmt: skip
            except pysam.utils.SamtoolsError as exc:
                Path(part).unlink(missing_ok=True)
                raise UserError(f"bcftools sort failed writing {out}: {str(exc)[-500:]}") from None
    pysam.tabix_index(part, preset="vcf", force=True, keep_original=True)
    os.replace(part + ".tbi", out + ".tbi")
    os.replace(part, out)


# --------------------------------------------------------------------------- entry
def _reference_contigs(reference: str | None) -> tuple[list[str] | None, dict[str, int | None]]:
    if not reference:
        return None, {}
    from breedomics.sheets import fasta_contigs

    lengths = fasta_contigs(reference)
    return list(lengths), lengths


def summarise(changes: pd.DataFrame, n_in: int, n_out: int) -> pd.DataFrame:
    """Counts of the change table: ``what, input, kept`` (as ``genotype-qc``'s summary).

    One row ``entry_variants`` (records read, records written), then one per
    action and category: variants affected, and how many of them are in the output.
    """
    rows = [("entry_variants", n_in, n_out)]
    if len(changes):
        # a renamed variant is kept; a removed or set-aside one is not
        kept = changes["action"].str.startswith("renamed")
        grp = changes.assign(kept=kept).groupby(["action", "category"], sort=False)["kept"]
        for (act, cat), k in grp:
            rows.append((f"normalise:{act}:{cat}", int(len(k)), int(k.sum())))
    return pd.DataFrame(rows, columns=["what", "input", "kept"])


def normalise_genotypes(
    path: str | os.PathLike,
    out: str | os.PathLike,
    table: str | os.PathLike,
    reference: str | os.PathLike | None = None,
    duplicate_positions: str = "best",
    ids: str = "keep",
    summary: str | os.PathLike | None = None,
    strict_reference: bool = True,
) -> pd.DataFrame:
    """Normalise a genotype file to sorted, unique, positioned, biallelic SNPs (see module doc).

    Parameters
    ----------
    path : str or path-like
        VCF/BCF (any order, indexed or not) or PLINK 1 fileset (prefix or any file).
    out : str or path-like
        Output bgzipped VCF (``.vcf.gz``); its tabix index is written next to it.
    table : str or path-like
        Change table (:data:`TABLE_COLUMNS`), one row per change with its reason.
    reference : str or path-like, optional
        Reference FASTA (with ``.fai``): contig names for the aliases and the order.
    duplicate_positions : {"best", "drop"}
        See :func:`decide`.
    ids : {"keep", "position"}
        See :func:`decide`.
    summary : str or path-like, optional
        Counts of the changes (:func:`summarise`).
    strict_reference : bool
        If False, a reference none of whose contigs the genotypes are on is ignored.

    Returns
    -------
    pandas.DataFrame
        The change table.
    """
    path, out = str(path), str(out)
    if not out.endswith(".vcf.gz"):
        raise UserError(f"--out must end in .vcf.gz, got {out}")
    ref_names, lengths = _reference_contigs(str(reference) if reference else None)
    table_in = scan(path)
    plan, changes, order = decide(table_in, ref_names, duplicate_positions, ids, strict_reference)
    if ref_names is not None and order != ref_names:  # strict_reference False, no match
        print(f"note: no chromosome of {path} is a contig of {reference}: names kept")
        lengths = {}
    _check_reference_names(changes, len(plan), path, reference, ref_names)
    n_out = int(plan["keep"].sum())
    if n_out == 0:
        raise UserError(
            f"{path}: no variant is left after normalisation ({len(plan)} read; reasons "
            f"in {table}): the file holds no placed biallelic SNPs"
        )
    used = set(plan.loc[plan["keep"], "new_chrom"])
    contigs = _contig_lines(order, lengths, used)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(table).parent.mkdir(parents=True, exist_ok=True)
    changes.to_csv(table, sep="\t", index=False)
    if summary:
        summarise(changes, len(plan), n_out).to_csv(summary, sep="\t", index=False)
    fmt = genotype_format(path)
    lines = (_plink_lines if fmt == "plink" else _vcf_lines)(
        plink_prefix(path) if fmt == "plink" else path, plan, contigs
    )
    _write_sorted(lines, out, _in_order(plan, order))
    return changes


def _check_reference_names(
    changes: pd.DataFrame, n_read: int, path: str, reference, ref_names: list[str] | None
) -> None:
    """Stop when most variants would be set aside because their chromosome is not a
    contig of the reference (another assembly, or a naming the aliases do not cover):
    the run would go on with the few on matching contigs (e.g. unplaced scaffolds)."""
    if ref_names is None or not n_read:
        return
    off = changes[changes["reason"].str.endswith(_NOT_A_CONTIG)]
    if len(off) * 2 <= n_read:
        return
    names = list(dict.fromkeys(off["chrom"].astype(str)))
    raise UserError(
        f"{path}: {len(off)} of its {n_read} variants are on chromosomes that are not "
        f"contigs of the reference {reference} ({', '.join(names[:5])}"
        f"{' ...' if len(names) > 5 else ''}; the reference has "
        f"{', '.join(ref_names[:5])}{' ...' if len(ref_names) > 5 else ''}): give the "
        "reference of the genotypes' assembly, or rename the chromosomes to its contigs "
        "(bcftools annotate --rename-chrs)"
    )


def _in_order(plan: pd.DataFrame, order: Sequence[str]) -> bool:
    """Whether the kept records come in ``order``'s contig order, positions increasing."""
    kept = plan.loc[plan["keep"]]
    rank = {c: i for i, c in enumerate(order)}
    ci = kept["new_chrom"].map(rank).to_numpy(dtype=float)
    pos = kept["pos"].to_numpy(dtype=np.int64)
    if np.isnan(ci).any():
        return False
    dc, dp = np.diff(ci), np.diff(pos)
    return bool(np.all((dc > 0) | ((dc == 0) & (dp > 0))))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("genotypes", help="VCF/BCF (any order) or PLINK 1 prefix / .bed")
    parser.add_argument("--out", required=True, help="output VCF (.vcf.gz, indexed)")
    parser.add_argument("--table", required=True, help="change table (TSV, one row per change)")
    parser.add_argument("--summary", help="counts of the changes (TSV: what, input, kept)")
    parser.add_argument("--reference", default="", help="reference FASTA (contig names/order)")
    parser.add_argument("--duplicate-positions", choices=["best", "drop"], default="best",
                        help="conflicting records at one position: keep the best call rate "
                             "or drop them all")  # fmt: skip
    parser.add_argument("--ids", choices=["keep", "position"], default="keep",
                        help="keep the file's ids (missing/duplicated ones become "
                             "CHROM:POS:REF:ALT) or name all CHROM:POS:REF:ALT")  # fmt: skip
    parser.add_argument("--reference-optional", action="store_true",
                        help="ignore --reference when none of the genotypes' chromosomes is "
                             "one of its contigs (or an alias of one)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    changes = normalise_genotypes(
        args.genotypes, args.out, args.table, args.reference or None,
        args.duplicate_positions, args.ids, args.summary, not args.reference_optional,
    )  # fmt: skip
    counts = changes.groupby(["action", "category"]).size() if len(changes) else {}
    for (act, cat), k in dict(counts).items():
        print(f"{act} {cat}: {k}")
    print(f"wrote {args.out} ({len(changes)} change(s) listed in {args.table})")
    return 0
