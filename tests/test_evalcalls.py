"""Tests for ``breedomics eval-calls``: hand-countable truth/call sets on a tiny reference.

Expected counts are derived by hand in the comments next to each record, so the
tests check the evaluator against independent arithmetic, not against itself.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import pysam
import pytest

from breedomics import cli
from breedomics.calling.evalcalls import (
    HET,
    HOMALT,
    MISSING,
    REF,
    evaluate,
    genotype_class,
    group_table,
)
from breedomics.errors import UserError

# 10-base blocks; positions 12-17 are an A homopolymer
CHR1 = "".join(["ACGTACGTAC", "GAAAAAAGTC", "CTAGCTAGGA", "TCCGATCGAT", "GCATGCATGC", "TTAGGCCTAA"])
CHRX = "ACGGTCATGCAAGTCCATGACTGACCTAGT"

HEADER = """##fileformat=VCFv4.2
##FILTER=<ID=PASS,Description="All filters passed">
##FILTER=<ID=LowQual,Description="low quality">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
"""
CONTIGS = f"##contig=<ID=chr1,length={len(CHR1)}>\n##contig=<ID=chrX,length={len(CHRX)}>\n"

# Truth: samples S1 S2 S3 (S3 absent from calls).
TRUTH = [
    "chr1 3 . G T . PASS . GT 0/1 1/1 0/0",  # S1 het, S2 homalt
    "chr1 11 . GA G . PASS . GT 1/1 0/0 0/0",  # left-aligned deletion of one A of A6
    "chr1 22 . T C . PASS . GT 0/1 ./. 0/0",  # S2 truth missing -> masked for S2
    "chr1 35 . A G . PASS . GT 0/0 0/1 0/0",
    "chr1 45 . G A . PASS . GT 1/1 0/1 0/0",
    "chrX 5 . T C . PASS . GT 0/1 1 0/0",  # S2 haploid alt
    "chrX 20 . A G . PASS . GT 0/0 1 0/0",
]
# Calls: samples S1 S2 S4 (S4 absent from truth); written without contig lines.
CALLS = [
    "chr1 3 . G T,C . PASS . GT 0/1 1/2 0/0",  # split: S1 T het TP; S2 T het vs homalt
    # (mismatch) and C het FP
    "chr1 16 . AA A . PASS . GT 1/1 0/0 0/0",  # un-left-aligned: normalises to 11 GA>G, TP
    "chr1 22 . T C . . . GT 0/1 1/1 0/0",  # S1 TP; S2 masked by missing truth
    "chr1 27 . A AT . PASS . GT 0/0 0/1 0/0",  # S2 INDEL FP
    "chr1 35 . A G . PASS . GT 0/0 1/1 0/0",  # S2 homalt vs het: mismatch
    "chr1 45 . G A . LowQual . GT 1/1 0/1 0/0",  # filtered: FN for S1, S2 unless --all-filters
    "chr1 50 . C T . PASS . GT 0/1 0/0 0/0",  # S1 SNP FP
    "chrX 5 . T C . PASS . GT 0/1 1 0/0",  # S1 TP, S2 haploid TP
    "chrX 20 . A G . PASS . GT 0/1 0 0/0",  # S1 FP (truth ref), S2 FN (haploid ref call)
]


def _vcf(path: Path, samples: list[str], rows: list[str], contigs: bool = True) -> Path:
    lines = [HEADER + (CONTIGS if contigs else "")]
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples))
    lines.append("\n")
    lines.extend("\t".join(r.split()) + "\n" for r in rows)
    path.write_text("".join(lines))
    return path


@pytest.fixture()
def data(tmp_path: Path) -> dict[str, Path]:
    ref = tmp_path / "ref.fa"
    ref.write_text(f">chr1\n{CHR1[:30]}\n{CHR1[30:]}\n>chrX\n{CHRX}\n")
    truth = _vcf(tmp_path / "truth.vcf", ["S1", "S2", "S3"], TRUTH)
    calls = _vcf(tmp_path / "calls.vcf", ["S1", "S2", "S4"], CALLS, contigs=False)
    pysam.tabix_compress(str(truth), str(tmp_path / "truth.vcf.gz"))
    return {"ref": ref, "truth": tmp_path / "truth.vcf.gz", "calls": calls}


def _row(df, sample: str, vtype: str) -> dict:
    sub = df[(df["sample"] == sample) & (df["type"] == vtype)]
    assert len(sub) == 1
    return sub.iloc[0].to_dict()


def _counts(df, sample: str, vtype: str) -> tuple[int, int, int, int]:
    r = _row(df, sample, vtype)
    return (r["tp"], r["fp"], r["fn"], r["gt_mismatch"])


def test_genotype_class() -> None:
    assert genotype_class((0, 1)) == HET
    assert genotype_class((1, 1)) == HOMALT
    assert genotype_class((1,)) == HOMALT
    assert genotype_class((0,)) == REF
    assert genotype_class((0, 0)) == REF
    assert genotype_class((None, None)) == MISSING
    assert genotype_class((None,)) == MISSING
    assert genotype_class((None, 0)) == MISSING
    assert genotype_class((None, 1)) == HET
    assert genotype_class((1, 2), alt_index=2) == HET
    assert genotype_class((2, 2), alt_index=1) == REF


def test_counts_by_hand(data: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    df = evaluate(data["truth"], data["calls"], data["ref"])
    err = capsys.readouterr().err
    assert "S3" in err and "S4" in err
    assert list(df["sample"].unique()) == ["S1", "S2", "ALL"]
    # S1 SNP: TP 3(T), 22, X5; FP 50, X20; FN 45 (filtered call)
    assert _counts(df, "S1", "SNP") == (3, 2, 1, 0)
    # S1 INDEL: the homopolymer deletion matches only after left-alignment
    assert _counts(df, "S1", "INDEL") == (1, 0, 0, 0)
    # S2 SNP: TP X5 (haploid); FP 3T(mm), 3C, 35(mm); FN 3T, 35, 45, X20; 22 masked
    assert _counts(df, "S2", "SNP") == (1, 3, 4, 2)
    assert _counts(df, "S2", "INDEL") == (0, 1, 0, 0)
    assert _counts(df, "ALL", "SNP") == (4, 5, 5, 2)
    assert _counts(df, "ALL", "INDEL") == (1, 1, 0, 0)
    s1 = _row(df, "S1", "SNP")
    assert s1["precision"] == pytest.approx(3 / 5)
    assert s1["recall"] == pytest.approx(3 / 4)
    assert s1["f1"] == pytest.approx(2 * 0.6 * 0.75 / (0.6 + 0.75))
    assert math.isnan(_row(df, "S2", "INDEL")["recall"])  # no truth indels for S2
    # passing SNP split records: S1 3T,22,50,X5,X20 all het; S2 3T,3C het + 22,35,X5 homalt
    assert (s1["het_calls"], s1["nonref_calls"]) == (5, 5)
    s2 = _row(df, "S2", "SNP")
    assert (s2["het_calls"], s2["nonref_calls"]) == (2, 5)
    a = _row(df, "ALL", "INDEL")
    assert (a["het_calls"], a["nonref_calls"]) == (7, 10)


def test_all_filters_counts_filtered_call(data: dict[str, Path]) -> None:
    df = evaluate(data["truth"], data["calls"], data["ref"], all_filters=True)
    assert _counts(df, "S1", "SNP") == (4, 2, 0, 0)
    assert _counts(df, "S2", "SNP") == (2, 3, 3, 2)
    assert _row(df, "S2", "SNP")["nonref_calls"] == 6


def test_sample_subset_and_gzip_reference(data: dict[str, Path], tmp_path: Path) -> None:
    gz = tmp_path / "plain_gzip.fa.gz"  # plain gzip: not faidx-able, must be decompressed
    with gzip.open(gz, "wt") as fh:
        fh.write(data["ref"].read_text())
    df = evaluate(data["truth"], data["calls"], gz, samples=["S2"])
    assert list(df["sample"].unique()) == ["S2", "ALL"]
    assert _counts(df, "ALL", "SNP") == (1, 3, 4, 2)
    assert not Path(f"{gz}.fai").exists()  # the user's directory is left untouched

    bgz = tmp_path / "bgzip.fa.gz"
    pysam.tabix_compress(str(data["ref"]), str(bgz))
    df2 = evaluate(data["truth"], data["calls"], bgz, samples=["S2"])
    assert df2.equals(df)


def test_no_shared_samples_and_bad_request(data: dict[str, Path], tmp_path: Path) -> None:
    other = _vcf(tmp_path / "other.vcf", ["X1"], ["chr1 3 . G T . PASS . GT 0/1"])
    with pytest.raises(UserError, match="no sample names shared"):
        evaluate(data["truth"], other, data["ref"])
    with pytest.raises(UserError, match="S3"):
        evaluate(data["truth"], data["calls"], data["ref"], samples=["S3"])


def test_wrong_reference_is_user_error(data: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.fa"
    bad.write_text(f">chr1\n{'T' * len(CHR1)}\n>chrX\n{CHRX}\n")
    with pytest.raises(UserError, match="bcftools norm failed"):
        evaluate(data["truth"], data["calls"], bad)


def test_cli_writes_tsv(data: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "m" / "metrics.tsv"
    argv = ["eval-calls", str(data["truth"]), str(data["calls"]), "--ref", str(data["ref"])]
    rc = cli.main([*argv, "--out", str(out), "--samples", "S1"])
    assert rc == 0
    stdout = capsys.readouterr().out
    text = out.read_text()
    assert stdout == text
    lines = [ln.split("\t") for ln in text.strip().splitlines()]
    assert lines[0] == [
        "sample", "type", "tp", "fp", "fn", "gt_mismatch",
        "precision", "recall", "f1", "het_calls", "nonref_calls",
    ]  # fmt: skip
    assert lines[1][:6] == ["S1", "SNP", "3", "2", "1", "0"]
    assert lines[1][6] == "0.600000"


def test_stratum_targets_and_complement_add_up(data: dict[str, Path], tmp_path: Path) -> None:
    bed = tmp_path / "stratum.bed"
    bed.write_text("chr1\t0\t30\n")  # positions 1-30: records 3, 11 (16 normalised), 22, 27
    inside = evaluate(data["truth"], data["calls"], data["ref"], targets=bed)
    # S1: TP 3T, 22; S2: 3T het vs homalt (mismatch), 3C FP, 22 masked
    assert _counts(inside, "S1", "SNP") == (2, 0, 0, 0)
    assert _counts(inside, "S1", "INDEL") == (1, 0, 0, 0)  # 16 AA>A left-aligns into it
    assert _counts(inside, "S2", "SNP") == (0, 2, 1, 1)
    assert _counts(inside, "S2", "INDEL") == (0, 1, 0, 0)
    outside = evaluate(data["truth"], data["calls"], data["ref"], targets=bed,
                       exclude_targets=True)  # fmt: skip
    # S1: TP X5; FP 50, X20; FN 45. S2: TP X5; 35 mismatch; FN 45, X20
    assert _counts(outside, "S1", "SNP") == (1, 2, 1, 0)
    assert _counts(outside, "S2", "SNP") == (1, 1, 3, 1)
    assert _counts(outside, "ALL", "INDEL") == (0, 0, 0, 0)


def test_group_table_pools_samples(data: dict[str, Path]) -> None:
    df = evaluate(data["truth"], data["calls"], data["ref"])
    one = group_table(df, {"S1": "g", "S2": "g"}).set_index(["group", "type"])
    assert tuple(one.loc[("g", "SNP"), ["tp", "fp", "fn"]]) == (4, 5, 5)
    assert one.loc[("g", "SNP"), "f1"] == pytest.approx(8 / 18)
    two = group_table(df, {"S1": "a"}).set_index(["group", "type"])  # S2 left out
    assert list(two.index.get_level_values("group").unique()) == ["a"]
    assert two.loc[("a", "SNP"), "precision"] == pytest.approx(3 / 5)
    assert two.loc[("a", "INDEL"), "f1"] == 1.0  # S1: the one truth indel, found
