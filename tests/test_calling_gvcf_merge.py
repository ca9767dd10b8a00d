"""breedomics merge-gvcfs (calling.mode incremental): each sample's gVCF cut to the
cohort's candidate positions, its reference blocks trimmed, so that ``bcftools merge
--gvcf`` of the cut files gives, at those positions, what the merge of the whole files
gives; window by window, with the same calls as in one. The end-to-end check (two
batches against one joint run) is in test_workflow.py."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from breedomics.calling.gvcf import MERGE_RULES
from breedomics.calling.gvcf_merge import (
    candidate_filter,
    cut_gvcfs,
    merge_region,
    region_plan,
    trim_blocks,
    windows,
)

pytestmark = pytest.mark.skipif(shutil.which("bcftools") is None, reason="needs bcftools")

SEQ = "ACGTACGTAACCGGTTACGTTGCAACGTAGCTAGCTAGGATCCATGCATGCAAATTTGGG"  # 60 bp
HEADER = """##fileformat=VCFv4.2
##contig=<ID=c1,length=60>
##ALT=<ID=*,Description="unobserved allele">
##INFO=<ID=INDEL,Number=0,Type=Flag,Description="indel">
##INFO=<ID=END,Number=1,Type=Integer,Description="block end">
##INFO=<ID=MinDP,Number=1,Type=Integer,Description="block minimum depth">
##INFO=<ID=DP,Number=1,Type=Integer,Description="depth">
##INFO=<ID=AD,Number=R,Type=Integer,Description="read counts">
##INFO=<ID=QS,Number=R,Type=Float,Description="allele qualities">
##INFO=<ID=I16,Number=16,Type=Float,Description="read statistics">
##INFO=<ID=IDV,Number=1,Type=Integer,Description="indel reads">
##INFO=<ID=IMF,Number=1,Type=Float,Description="indel read fraction">
##FORMAT=<ID=PL,Number=G,Type=Integer,Description="likelihoods">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="depth">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="read counts">
"""
COLS = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{}\n"


def _block(start: int, end: int, pl: str, dp: int) -> str:
    info = f"END={end};MinDP={dp};QS=1,0"
    return f"c1\t{start}\t.\t{SEQ[start - 1]}\t<*>\t.\t.\t{info}\tPL:DP\t{pl}:{dp}\n"


#: s1: 3 reads of C at 10 (a candidate); s2: one read of G at 21 (not one at 2 reads);
#: s3: a deletion at 6 (a candidate) between reference blocks (bcftools ends a block
#: before a variant record, and writes no reference site where the sample has an indel).
GVCFS = {
    "s1": [
        _block(1, 9, "0,18,120", 6),
        "c1\t10\t.\tA\tC,<*>\t0\t.\tDP=5;AD=2,3,0;QS=0.4,0.6,0\tPL:DP:AD\t60,0,40,66,49,99:5:2,3,0\n",
        _block(11, 30, "0,15,100", 5),
        _block(31, 60, "0,12,90", 4),
    ],
    "s2": [
        _block(1, 20, "0,21,140", 7),
        "c1\t21\t.\tT\tG,<*>\t0\t.\tDP=6;AD=5,1,0;QS=0.8,0.2,0\tPL:DP:AD\t0,9,80,15,83,90:6:5,1,0\n",
        _block(22, 60, "0,24,150", 8),
    ],
    "s3": [
        _block(1, 5, "0,27,160", 9),
        "c1\t6\t.\tCG\tC\t0\t.\tINDEL;DP=9;AD=5,4;QS=0.5,0.5\tPL:DP:AD\t70,0,60:9:5,4\n",
        _block(7, 60, "0,27,160", 9),
    ],
}


def _write(tmp_path: Path) -> tuple[list[str], Path, Path]:
    fa = tmp_path / "ref.fa"
    fa.write_text(f">c1\n{SEQ}\n")
    subprocess.run(["samtools", "faidx", str(fa)], check=True)
    paths = []
    for name, records in GVCFS.items():
        text = tmp_path / f"{name}.vcf"
        text.write_text(HEADER + COLS.format(name) + "".join(sorted(records, key=_pos)))
        out = tmp_path / f"{name}.bcf"
        subprocess.run(["bcftools", "view", "-Ob", "-o", str(out), str(text)], check=True)
        subprocess.run(["bcftools", "index", "-f", str(out)], check=True)
        paths.append(str(out))
    bed = tmp_path / "region.bed"
    bed.write_text("c1\t0\t60\n")
    return paths, fa, bed


def _pos(line: str) -> int:
    return int(line.split("\t")[1])


def _candidates(gvcf: str, min_alt: int) -> str:
    """The workflow's list_gvcf_candidates command."""
    out = gvcf.replace(".bcf", f".{min_alt}.tsv.gz")
    subprocess.run(
        f"bcftools query -i '{candidate_filter(min_alt)}' -f '%CHROM\\t%POS\\n' {gvcf}"
        f" | bgzip -c > {out} && tabix -f -s1 -b2 -e2 {out}",
        shell=True, check=True,
    )  # fmt: skip
    return out


def test_trim_blocks_one_record_per_covered_candidate():
    lines = ["##x\n", _block(1, 9, "0,18,120", 6), "c1\t10\t.\tA\tC,<*>\t0\t.\tDP=5\tPL\t0\n"]
    out = trim_blocks(lines, {"c1": [3, 7, 10]}, {("c1", 3): "G", ("c1", 7): "G"})
    assert out[0] == "##x\n" and out[3] == lines[2]
    assert out[1] == "c1\t3\t.\tG\t<*>\t.\t.\tEND=3;MinDP=6;QS=1,0\tPL:DP\t0,18,120:6\n"
    assert out[2].split("\t")[:8] == ["c1", "7", ".", "G", "<*>", ".", ".", "END=7;MinDP=6;QS=1,0"]


def test_trim_blocks_sorts_a_block_spanning_a_later_record():
    lines = [_block(1, 60, "0,27,160", 9), "c1\t6\t.\tCG\tC\t0\t.\tINDEL\tPL\t0\n"]
    out = trim_blocks(lines, {"c1": [6, 10]}, {("c1", 6): "C", ("c1", 10): "A"})
    assert [(r.split("\t")[1], r.split("\t")[3]) for r in out] == [
        ("6", "C"),
        ("6", "CG"),
        ("10", "A"),
    ]


def test_candidates_listed_per_sample():
    """An alternative allele with 2 reads or an indel makes a candidate; one read does not,
    unless the threshold is 1."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        paths, _, _ = _write(Path(tmp))
        found = {
            (Path(p).stem, k): subprocess.run(
                ["bgzip", "-dc", _candidates(p, k)], capture_output=True, text=True, check=True
            ).stdout.split()[1::2]
            for p in paths
            for k in (1, 2)
        }
    assert found[("s1", 2)] == ["10"] and found[("s2", 2)] == [] and found[("s3", 2)] == ["6"]
    assert found[("s2", 1)] == ["21"]


def _called(gvcfs: list[str], fa: Path) -> dict[tuple[str, str, str], list[str]]:
    """bcftools merge --gvcf | fill-gvcf-indels | bcftools call -m, as merge_gvcfs_region
    runs them: (position, REF, ALT) -> each sample's GT:PL."""
    merge = ["bcftools", "merge", "--gvcf", str(fa), "-i", MERGE_RULES, "-Ov", *gvcfs]
    out = subprocess.run(
        f"{shlex.join(merge)} | breedomics fill-gvcf-indels | bcftools call -m"
        " | bcftools query -f '%POS\\t%REF\\t%ALT[\\t%GT:%PL]\\n'",
        shell=True, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return {tuple(r[:3]): r[3:] for r in (line.split("\t") for line in out.splitlines())}


@pytest.mark.parametrize("min_alt", [2, 1])
def test_cut_merge_calls_each_sample_at_the_candidates(tmp_path, min_alt):
    """The merge of the cut files has records at the candidate positions only, and each
    sample's values there are its own: its record at the position, else the block over
    it; the calls are those of the merge of the whole files."""
    paths, fa, bed = _write(tmp_path)
    tables = [_candidates(p, min_alt) for p in paths]
    candidates, ref = region_plan(tables, str(bed), str(fa))
    sites = {"6", "10"} | ({"21"} if min_alt == 1 else set())
    assert candidates == {"c1": sorted(map(int, sites))}
    listing = cut_gvcfs(paths, candidates, ref, tmp_path / "cut")
    cut = _called(["--no-index", "-l", str(listing)], fa)
    assert {pos for pos, _, _ in cut} == sites
    assert cut["6", "CG", "C"] == ["0/0:0,18,120", "0/0:0,21,140", "0/1:70,0,60"]
    assert cut["10", "A", "C"] == ["0/1:60,0,40", "0/0:0,21,140", "0/0:0,27,160"]
    if min_alt == 1:  # one read of G in s2 only: no variant
        assert [gt.split(":")[0] for gt in cut["21", "T", "."]] == ["0/0"] * 3
    whole = _called(paths, fa)  # the same calls as the merge of the whole files
    assert all(whole[key] == cut[key] for key in cut if key[2] != ".")


def test_windows_split_in_order():
    cands = {"a": [1, 5, 9], "b": [2], "c": [3, 4]}
    assert windows(cands, 2) == [{"a": [1, 5]}, {"a": [9], "b": [2]}, {"c": [3, 4]}]
    assert windows(cands, 10) == [cands]
    assert windows({"a": []}, 3) == [{}]


def _records(path: Path) -> list[str]:
    return subprocess.run(
        ["bcftools", "view", "-H", str(path)], check=True, capture_output=True, text=True
    ).stdout.splitlines()


def test_merge_region_by_windows_equals_one_window(tmp_path):
    """merge-gvcfs with windows of one position gives the records of one window: the
    variant calls at 6 (the deletion) and 10 (the SNP), each once."""
    paths, fa, bed = _write(tmp_path)
    tables = [_candidates(p, 2) for p in paths]
    ploidy, sexes = tmp_path / "ploidy.txt", tmp_path / "sexes.txt"
    ploidy.write_text("*\t*\t*\t*\t2\n")
    sexes.write_text("s1\tF\ns2\tF\ns3\tF\n")
    out = {}
    for size in (10_000, 1):
        work = tmp_path / f"work{size}"
        work.mkdir()
        out[size] = tmp_path / f"out{size}.bcf"
        args = (str(bed), str(fa), str(ploidy), str(sexes), str(out[size]), work)
        n, k, indels, filled = merge_region(paths, tables, *args, window=size)
        assert (n, k, indels, filled) == (2, 1 if size > 1 else 2, 1, 2)
    one, split = _records(out[10_000]), _records(out[1])
    assert one == split
    assert [r.split("\t")[1] for r in one] == ["6", "10"]
    assert one[1].split("\t")[9].startswith("0/1")  # s1's 3 reads of C


def test_no_candidates_gives_header_only_files(tmp_path):
    paths, fa, _ = _write(tmp_path)
    bed = tmp_path / "far.bed"
    bed.write_text("c1\t40\t50\n")
    tables = [_candidates(p, 2) for p in paths]
    candidates, ref = region_plan(tables, str(bed), str(fa))
    assert candidates == {"c1": []}
    files = cut_gvcfs(paths, candidates, ref, tmp_path / "cut").read_text().split()
    assert len(files) == 3
    for f in files:
        text = Path(f).read_text()
        assert text.startswith("##fileformat") and not [x for x in text.splitlines() if x[0] != "#"]
    ploidy, sexes = tmp_path / "ploidy.txt", tmp_path / "sexes.txt"
    ploidy.write_text("*\t*\t*\t*\t2\n")
    sexes.write_text("s1\tF\ns2\tF\ns3\tF\n")
    out = tmp_path / "out.bcf"
    (tmp_path / "work").mkdir()
    merge_region(paths, tables, str(bed), str(fa), str(ploidy), str(sexes), str(out),
                 tmp_path / "work")  # fmt: skip
    assert _records(out) == []


def test_a_failing_call_is_reported(tmp_path):
    """A ploidy file bcftools call cannot read stops merge-gvcfs with an error naming the
    step, not a hang or a silent empty output."""
    from breedomics.errors import UserError

    paths, fa, bed = _write(tmp_path)
    tables = [_candidates(p, 2) for p in paths]
    ploidy, sexes = tmp_path / "ploidy.txt", tmp_path / "sexes.txt"
    ploidy.write_text("not a ploidy line\n")
    sexes.write_text("s1\tF\ns2\tF\ns3\tF\n")
    (tmp_path / "work").mkdir()
    with pytest.raises(UserError, match="bcftools call"):
        merge_region(paths, tables, str(bed), str(fa), str(ploidy), str(sexes),
                     str(tmp_path / "out.bcf"), tmp_path / "work")  # fmt: skip
