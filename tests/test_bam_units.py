"""Unit sheet rows that give a BAM or CRAM: each problem stops the run before any job,
naming the unit sheet, the line and the fix; good files get their route (import or
extract, breedomics.alignments). The files are a few records written with pysam."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pandas as pd
import pysam
import pytest
from conftest import copy_species, run_workflow, species_config

from breedomics import sheets
from breedomics.errors import UserError


@pytest.fixture
def soy(tmp_path):
    data = copy_species("soybean", tmp_path)
    plain = data / "ref.fa"
    with gzip.open(data / "reference.fa.gz", "rb") as src, open(plain, "wb") as dst:
        shutil.copyfileobj(src, dst)
    pysam.faidx(str(plain))
    return tmp_path, species_config("soybean", tmp_path)


def _contigs(fa: Path) -> list[tuple[str, int]]:
    with open(f"{fa}.fai") as fh:
        return [(f[0], int(f[1])) for f in (line.split("\t") for line in fh)]


def _write(
    path: Path,
    contigs: list[tuple[str, int]] | None,
    samples=("LP-0001",),
    paired: bool = True,
    reads: int = 2,
    reference: Path | None = None,
    m5: dict[str, str] | None = None,
) -> Path:
    """A BAM/CRAM (by suffix) with these @SQ lines (None: unaligned), read groups, reads."""
    header: dict = {"HD": {"VN": "1.6", "SO": "unsorted"}}
    if contigs:
        header["SQ"] = [
            {"SN": n, "LN": ln, **({"M5": m5[n]} if m5 and n in m5 else {})} for n, ln in contigs
        ]
    header["RG"] = [{"ID": f"HVX.{i}", "SM": s, "PL": "ILLUMINA"} for i, s in enumerate(samples)]
    mode = "wc" if path.suffix == ".cram" else "wb"
    kw = {"reference_filename": str(reference)} if reference else {}
    with pysam.AlignmentFile(str(path), mode, header=header, **kw) as out:
        for i in range(reads):
            for mate in (64, 128) if paired else (0,):
                rec = pysam.AlignedSegment(out.header)
                rec.query_name = f"read{i}"
                rec.flag = 4 | ((1 | 8 | mate) if paired else 0)
                rec.query_sequence = "ACGTTGCA" * 5
                rec.query_qualities = pysam.qualitystring_to_array("I" * 40)
                rec.set_tag("RG", "HVX.0")
                out.write(rec)
    return path


def _set_unit(cfg: dict, sample: str, **cells: str) -> int:
    """Give ``sample``'s only unit these cells (fq1/fq2 emptied unless given); its line."""
    path = Path(cfg["units"])
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    df = df[(df["sample"] != sample) | (df.index == df.index[df["sample"] == sample][0])].copy()
    i = df.index[df["sample"] == sample][0]
    for col in ("bam", "reference"):
        if col not in df.columns:
            df[col] = ""
    df.loc[i, ["fq1", "fq2"]] = ""
    for col, value in cells.items():
        df.loc[i, col] = str(value)
    df.to_csv(path, sep="\t", index=False)
    return list(df.index).index(i) + 2


def _fails(cfg: dict, *needles: str) -> str:
    with pytest.raises(UserError) as err:
        sheets.load_all(cfg)
    text = str(err.value)
    for needle in needles:
        assert needle in text, f"{needle!r} not in: {text}"
    return text


def test_routes(soy):
    root, cfg = soy
    data = root / "data"
    ref = data / "ref.fa"
    contigs = _contigs(ref)
    _set_unit(cfg, "SOY001", bam=_write(data / "a.bam", contigs))  # provider's SM: rewritten
    _set_unit(cfg, "SOY003", bam=_write(data / "u.bam", None))  # unaligned
    _set_unit(cfg, "SOY004", bam=_write(data / "c.cram", contigs, reference=ref))
    renamed = [(f"chr{n}", ln) for n, ln in contigs]
    _set_unit(cfg, "SOY005", bam=_write(data / "o.bam", renamed, samples=("SOY005",)))
    _, units, _ = sheets.load_all(cfg)
    route = units.droplevel("unit")[["entry", "decode_with"]]
    assert route.loc["SOY001"].tolist() == ["import", ""]
    assert route.loc["SOY003"].tolist() == ["extract", ""]
    assert route.loc["SOY004"].tolist() == ["import", "workflow"]
    assert route.loc["SOY005"].tolist() == ["extract", ""]
    assert (units.loc[units["bam"] == "", "entry"] == "fastq").all()
    assert all(Path(p).is_absolute() for p in units.loc[units["bam"] != "", "bam"])


def test_m5_decides(soy):
    """Same names and lengths but other checksums: another assembly, realigned."""
    root, cfg = soy
    data = root / "data"
    contigs = _contigs(data / "ref.fa")
    wrong = {n: "0" * 32 for n, _ in contigs}
    _set_unit(cfg, "SOY001", bam=_write(data / "a.bam", contigs, m5=wrong))
    _, units, _ = sheets.load_all(cfg)
    assert units.loc[("SOY001", units.loc["SOY001"].index[0]), "entry"] == "extract"
    right = dict(
        (sq["SN"], sq["M5"])
        for sq in pysam.AlignmentFile(
            str(_write(data / "r.cram", contigs, reference=data / "ref.fa")), "rc"
        ).header.to_dict()["SQ"]
    )
    _set_unit(cfg, "SOY001", bam=_write(data / "b.bam", contigs, m5=right))
    _, units, _ = sheets.load_all(cfg)
    assert units.loc["SOY001", "entry"].tolist() == ["import"]


def test_fastq_and_bam_in_one_unit(soy):
    root, cfg = soy
    bam = _write(root / "data" / "a.bam", None)
    line = _set_unit(cfg, "SOY001", bam=bam, fq1="reads/SOY001_L001_R1.fq.gz")
    _fails(cfg, "units.tsv", f"line {line}", "both FASTQ", "Keep one")


@pytest.mark.parametrize(
    ("columns", "messages"),
    [
        ({"fq1": "reads/SOY001_L001_R1.fq.gz"}, ["column 'fq2'", "give both files"]),
        ({}, ["no input", "bam (a BAM or CRAM file)"]),
        ({"bam": "x.sam"}, ["column 'bam'", "BAM or CRAM"]),  # refused by the schema
        ({"bam": "nowhere/x.bam"}, ["column 'bam'", "does not exist"]),
    ],
    ids=["fq1-without-fq2", "no-input", "sam-path", "missing-alignment"],
)
def test_unit_input_columns_are_checked(soy, columns, messages):
    _, cfg = soy
    line = _set_unit(cfg, "SOY001", **columns)
    _fails(cfg, f"line {line}", *messages)


def test_not_an_alignment(soy):
    root, cfg = soy
    text = root / "data" / "x.bam"
    text.write_text("@HD\tVN:1.6\n")
    line = _set_unit(cfg, "SOY001", bam=text)
    _fails(cfg, f"line {line}", "column 'bam'", "neither a BAM nor a CRAM", "samtools view -b")


def test_suffix_must_match_content(soy):
    root, cfg = soy
    data = root / "data"
    cram = _write(data / "c.cram", None)
    misnamed = data / "c.bam"
    cram.rename(misnamed)
    line = _set_unit(cfg, "SOY001", bam=misnamed)
    _fails(cfg, f"line {line}", "is a CRAM file", "end in .cram")


def _cram_on_renamed_reference(soy):
    """A CRAM made on a copy of the reference with its contigs renamed (Gm -> chr)."""
    root, cfg = soy
    data = root / "data"
    other = data / "other.fa"
    other.write_text((data / "ref.fa").read_text().replace(">Gm", ">chr"))
    pysam.faidx(str(other))
    return cfg, data, other, _write(data / "o.cram", _contigs(other), reference=other)


def test_cram_on_another_reference_needs_it(soy):
    cfg, data, other, cram = _cram_on_renamed_reference(soy)
    line = _set_unit(cfg, "SOY001", bam=cram)
    _fails(cfg, f"line {line}", "another reference", "'reference' column")
    # the wrong FASTA given: named with the contig that does not fit
    _set_unit(cfg, "SOY001", bam=cram, reference="ref.fa")
    _fails(cfg, f"line {line}", "column 'reference'", "contig 'chr01'", "missing")
    _set_unit(cfg, "SOY001", bam=cram, reference="other.fa")
    _, units, _ = sheets.load_all(cfg)
    assert units.loc["SOY001", "entry"].tolist() == ["extract"]
    assert units.loc["SOY001", "decode_with"].tolist() == [str(other)]


def test_reference_must_be_bgzip_or_plain(soy):
    cfg, data, other, cram = _cram_on_renamed_reference(soy)
    with open(other, "rb") as src, gzip.open(data / "other.fa.gz", "wb") as dst:
        dst.write(src.read())
    line = _set_unit(cfg, "SOY001", bam=cram, reference="other.fa.gz")
    _fails(cfg, f"line {line}", "not with bgzip", "bgzip")


def test_reference_only_for_a_cram(soy):
    root, cfg = soy
    bam = _write(root / "data" / "a.bam", None)
    line = _set_unit(cfg, "SOY001", bam=bam, reference="ref.fa")
    _fails(cfg, f"line {line}", "column 'reference'", "not a CRAM")


def test_unaligned_file_without_reads(soy):
    root, cfg = soy
    line = _set_unit(cfg, "SOY001", bam=_write(root / "data" / "e.bam", None, reads=0))
    _fails(cfg, f"line {line}", "no @SQ lines and no reads")


def test_single_end_reads(soy):
    root, cfg = soy
    line = _set_unit(cfg, "SOY001", bam=_write(root / "data" / "s.bam", None, paired=False))
    _fails(cfg, f"line {line}", "single-end", "paired-end")


def test_read_group_naming_another_sample(soy):
    root, cfg = soy
    bam = _write(root / "data" / "a.bam", None, samples=("SOY002",))
    line = _set_unit(cfg, "SOY001", bam=bam)
    _fails(cfg, f"line {line}", "sample 'SOY002'", "swapped", "addreplacerg")


def test_read_groups_of_several_samples(soy):
    root, cfg = soy
    bam = _write(root / "data" / "a.bam", None, samples=("LP-1", "LP-2"))
    line = _set_unit(cfg, "SOY001", bam=bam)
    _fails(cfg, f"line {line}", "2 samples", "samtools split")


def test_same_alignment_twice(soy):
    root, cfg = soy
    bam = _write(root / "data" / "a.bam", None)
    _set_unit(cfg, "SOY001", bam=bam)
    _set_unit(cfg, "SOY003", bam=bam)
    _fails(cfg, "alignment", "listed on lines", "give each file once")


def test_sheet_without_read_columns(soy):
    _, cfg = soy
    path = Path(cfg["units"])
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    df.drop(columns=["fq2"]).to_csv(path, sep="\t", index=False)
    _fails(cfg, "neither fq1 and fq2 columns", "nor a bam column")


def test_workflow_stops_before_any_job(soy):
    root, cfg = soy
    bam = _write(root / "data" / "a.bam", None, samples=("SOY002",))
    line = _set_unit(cfg, "SOY001", bam=bam)
    proc = run_workflow(root / "run", cfg, extra=["-n"])
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "breedomics input error" in text and f"line {line}" in text, text[-2000:]
    assert not (root / "run" / "results").exists()
