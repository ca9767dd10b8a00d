"""Bad inputs stop the run before any job starts, with a message naming file, line and fix."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest
from conftest import copy_species, run_workflow, species_config

from breedomics import sheets
from breedomics.errors import UserError

FINAL = Path("results/calls/all.filtered.vcf.gz")


@pytest.fixture
def soy(tmp_path):
    copy_species("soybean", tmp_path)
    return tmp_path, species_config("soybean", tmp_path)


def _edit(path: Path, fn) -> None:
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    fn(df).to_csv(path, sep="\t", index=False)


def _dry_run_fails(root: Path, cfg: dict, *needles: str) -> str:
    proc = run_workflow(root / "run", cfg, extra=["-n"])
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text[-2000:]
    for needle in needles:
        assert needle in text, f"{needle!r} not in:\n{text[-3000:]}"
    # Stopped before any job: nothing was created.
    assert not (root / "run" / "results").exists()
    return text


def test_good_inputs_validate(soy):
    root, cfg = soy
    samples, units, contigs = sheets.load_all(cfg)
    assert len(samples) >= 8 and len(units) > len(samples)  # several lanes for some samples
    assert all(Path(p).is_absolute() for p in units["fq1"])


def test_duplicate_sample_id(soy):
    root, cfg = soy

    def dup(df):
        return pd.concat([df, df.iloc[[2]]], ignore_index=True)

    _edit(Path(cfg["samples"]), dup)
    dup_id = pd.read_csv(cfg["samples"], sep="\t").iloc[2]["sample"]
    _dry_run_fails(root, cfg, "samples.tsv", f"'{dup_id}'", "unique")


def test_unsafe_sample_id_is_rejected(soy):
    root, cfg = soy
    units_path = Path(cfg["units"])

    def bad(df):
        df.loc[0, "sample"] = "SOY;rm -rf"
        return df

    _edit(Path(cfg["samples"]), bad)
    _edit(units_path, bad)
    _dry_run_fails(root, cfg, "samples.tsv", "line 2", "column 'sample'")


def test_sample_missing_from_units(soy):
    root, cfg = soy
    first = pd.read_csv(cfg["samples"], sep="\t").iloc[0]["sample"]
    _edit(Path(cfg["units"]), lambda df: df[df["sample"] != first])
    _dry_run_fails(root, cfg, first, "no unit")


def test_unit_of_unknown_sample(soy):
    root, cfg = soy

    def extra(df):
        row = df.iloc[[0]].copy()
        row["sample"] = "GHOST01"
        return pd.concat([df, row], ignore_index=True)

    _edit(Path(cfg["units"]), extra)
    _dry_run_fails(root, cfg, "units.tsv", "GHOST01", "not in the sample sheet")


def test_missing_fastq(soy):
    root, cfg = soy
    fq = pd.read_csv(cfg["units"], sep="\t").iloc[1]["fq2"]
    (Path(cfg["units"]).parent / fq).unlink()
    _dry_run_fails(root, cfg, "units.tsv", "line 3", "fq2", "does not exist")


def test_empty_units_sheet(soy):
    root, cfg = soy
    header = Path(cfg["units"]).read_text().splitlines()[0]
    Path(cfg["units"]).write_text(header + "\n")
    _dry_run_fails(root, cfg, "units.tsv", "no units")


def test_contig_mismatch_gff(soy):
    root, cfg = soy
    gff = Path(cfg["reference"]["gff3"])
    lines = gff.read_text().splitlines()
    idx = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    fields = lines[idx].split("\t")
    fields[0] = "chr_not_there"
    lines[idx] = "\t".join(fields)
    gff.write_text("\n".join(lines) + "\n")
    _dry_run_fails(root, cfg, "annotation.gff3", f"line {idx + 1}", "chr_not_there")


def test_contig_mismatch_sex_chromosome(soy):
    root, cfg = soy
    cfg["genome"]["sex_chromosomes"] = {"X": "chrX", "Y": ""}
    _dry_run_fails(root, cfg, "sex_chromosomes.X", "chrX")


def test_not_gzip_fastq(soy):
    root, cfg = soy
    fq = Path(cfg["units"]).parent / pd.read_csv(cfg["units"], sep="\t").iloc[0]["fq1"]
    fq.write_bytes(gzip.decompress(fq.read_bytes()))
    _dry_run_fails(root, cfg, "not gzip-compressed")


def test_truncated_gzip_fails_cleanly(soy):
    """Truncation is found by the trimming job, which leaves no output behind."""
    root, cfg = soy
    units = pd.read_csv(cfg["units"], sep="\t")
    row = units.iloc[0]
    fq = Path(cfg["units"]).parent / row["fq1"]
    data = fq.read_bytes()
    fq.write_bytes(data[: len(data) // 2])
    target = f"results/qc/fastp/{row['sample']}.{row['unit']}.fastp.json"
    proc = run_workflow(root / "run", cfg, target)
    assert proc.returncode != 0
    log = (root / "run" / "logs" / "trim" / f"{row['sample']}.{row['unit']}.log").read_text()
    assert "truncated or damaged" in log and fq.name in log
    assert not (root / "run" / target).exists()
    assert not list((root / "run" / "results" / "trimmed").rglob("*.fq.gz"))


def test_load_samples_names_line(tmp_path):
    p = tmp_path / "s.tsv"
    p.write_text("sample\tspecies\tgroup\tsex\nA1\tpig\tMin\tM\nA 2\tpig\tMin\tF\n")
    with pytest.raises(UserError, match=r"line 3, column 'sample'"):
        sheets.load_samples(p)


def test_sex_required_with_sex_chromosomes(tmp_path):
    p = tmp_path / "s.tsv"
    p.write_text("sample\tspecies\tgroup\tsex\nA1\tpig\tMin\tM\nA2\tpig\tMin\tNA\n")
    samples = sheets.load_samples(p)
    cfg = {"genome": {"sex_chromosomes": {"X": "chrX", "Y": ""}}}
    with pytest.raises(UserError, match="A2"):
        sheets.check_sexes(cfg, samples, str(p))
