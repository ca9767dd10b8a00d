"""Units given as BAM or CRAM give the same calls as the FASTQ they came from (issue 15).

Four soybean samples are run twice: from FASTQ, and with three of them given as a
sequencing provider would send them, made here from the same FASTQ with bwa and samtools
under the provider's read-group names (ID HVX.n, SM LP-000n):

- SOY001: a BAM on the workflow's reference (imported: read groups rewritten),
- SOY003: a CRAM on the workflow's reference (imported, decoded with it),
- SOY004: a CRAM on another reference (contigs named chr01...; given in the unit's
  ``reference`` column): its pairs are extracted and aligned again.

The second run stores its alignments as CRAM (``alignment.format: cram``). The genotypes
at every site of the normalised and of the PASS call sets must be the same.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pysam
import pytest
from conftest import background_run, copy_species, run_tracked, run_workflow, species_config

pytestmark = pytest.mark.workflow

SAMPLES = ["SOY001", "SOY002", "SOY003", "SOY004"]
TARGETS = ["results/calls/all.norm.bcf", "results/calls/all.pass.vcf.gz"]
#: alignment stats read the stored CRAMs too
STATS = [f"results/qc/samtools/{s}.{kind}.txt" for s in SAMPLES for kind in ("stats", "flagstat")]


def _subset(root: Path) -> tuple[Path, dict]:
    """Soybean test data with four samples (SOY002 has two FASTQ units)."""
    data = copy_species("soybean", root)
    samples = pd.read_csv(data / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    samples[samples["sample"].isin(SAMPLES)].to_csv(data / "samples.tsv", sep="\t", index=False)
    units = pd.read_csv(data / "units.tsv", sep="\t", dtype=str, keep_default_na=False)
    units[units["sample"].isin(SAMPLES)].to_csv(data / "units.tsv", sep="\t", index=False)
    return data, species_config("soybean", root)


def _sh(cmd: str, cwd: Path, nice: bool) -> None:
    proc = run_tracked(["bash", "-o", "pipefail", "-c", cmd], nice=nice, cwd=cwd)
    assert proc.returncode == 0, f"{cmd}\n{proc.stderr[-2000:]}"


def _provider_files(data: Path, nice: bool) -> pd.DataFrame:
    """The provider's BAM and CRAMs (see the module's description); their unit rows."""
    prov = data / "prov"
    prov.mkdir()
    _sh(
        "gzip -dc ../reference.fa.gz > ref.fa && samtools faidx ref.fa"
        " && sed 's/^>Gm/>chr/' ref.fa > other.fa && samtools faidx other.fa"
        " && bwa index ref.fa 2>/dev/null && bwa index other.fa 2>/dev/null",
        prov,
        nice,
    )
    units = pd.read_csv(data / "units.tsv", sep="\t", dtype=str, keep_default_na=False)
    made = []
    for sample, ref, out in (
        ("SOY001", "ref.fa", "SOY001.bam"),
        ("SOY003", "ref.fa", "SOY003.cram"),
        ("SOY004", "other.fa", "SOY004.cram"),
    ):
        row = units[units["sample"] == sample].iloc[0]
        n = sample[-1]
        fmt = f"-O cram --reference {ref}" if out.endswith(".cram") else ""
        _sh(
            f"bwa mem -t 2 -R '@RG\\tID:HVX.{n}\\tSM:LP-000{n}\\tPL:ILLUMINA\\tLB:lib{n}'"
            f" {ref} ../{row['fq1']} ../{row['fq2']} 2>/dev/null"
            f" | samtools sort {fmt} -o {out} -",
            prov,
            nice,
        )
        made.append(
            {
                "sample": sample,
                "unit": "P1",
                "fq1": "",
                "fq2": "",
                "bam": f"prov/{out}",
                "reference": "prov/other.fa" if ref == "other.fa" else "",
                "platform": "ILLUMINA",
                "library_type": "wgs",
            }
        )
    kept = units[~units["sample"].isin([m["sample"] for m in made])]
    return pd.concat([kept, pd.DataFrame(made)], ignore_index=True).fillna("")


@background_run("bam_entry_fastq")
def _fastq_run(root: Path, nice: bool) -> Path:
    _, cfg = _subset(root)
    run_workflow(root / "run", cfg, *TARGETS, check=True, nice=nice)
    return root / "run"


@background_run("bam_entry_alignments")
def _alignment_run(root: Path, nice: bool) -> tuple[Path, pd.DataFrame, dict]:
    data, cfg = _subset(root)
    units = _provider_files(data, nice)
    units.to_csv(data / "units_aln.tsv", sep="\t", index=False)
    cfg = dict(cfg, units=str(data / "units_aln.tsv"), alignment={"format": "cram"})
    run_workflow(root / "run", cfg, *TARGETS, *STATS, check=True, nice=nice)
    return root / "run", units, cfg


@pytest.fixture(scope="module")
def runs(background):
    return background.result("bam_entry_fastq"), background.result("bam_entry_alignments")


def _genotypes(path: Path) -> dict[str, list[str]]:
    out = subprocess.run(
        ["bcftools", "query", "-H", "-f", "%CHROM:%POS:%REF:%ALT[\t%GT]\n", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    header = out[0].split("\t")
    assert [h.split("]")[-1].split(":")[0] for h in header[1:]] == SAMPLES
    return {f[0]: f[1:] for f in (line.split("\t") for line in out[1:])}


@pytest.mark.parametrize("calls", TARGETS)
def test_bam_and_cram_units_give_the_fastq_calls(runs, calls):
    fastq_run, (aln_run, _, _) = runs
    want, got = _genotypes(fastq_run / calls), _genotypes(aln_run / calls)
    assert len(want) > 500
    assert set(got) == set(want)
    differ = {k: (want[k], got[k]) for k in want if want[k] != got[k]}
    assert not differ, f"{len(differ)} of {len(want)} sites differ, e.g. {list(differ.items())[:5]}"


def test_routes_read_groups_and_cram_storage(runs):
    _, (run, units, _) = runs
    # SOY001 (BAM) and SOY003 (CRAM) on the workflow's reference are imported; SOY004 (CRAM
    # on another reference) is extracted and realigned; SOY002's FASTQ as usual.
    assert (run / "logs/import/SOY001.P1.log").exists()
    assert (run / "logs/import/SOY003.P1.log").exists()
    assert (run / "logs/extract/SOY004.P1.log").exists()
    assert (run / "logs/map/SOY004.P1.log").exists()
    assert not (run / "logs/map/SOY001.P1.log").exists()
    assert not (run / "results/qc/fastp/SOY001.P1.fastp.json").exists()
    for sample in SAMPLES:
        cram = run / f"results/bam/{sample}.cram"
        assert (run / f"results/bam/{sample}.cram.crai").exists()
        assert not (run / f"results/bam/{sample}.bam").exists()
        with pysam.AlignmentFile(
            str(cram), "rc", reference_filename=str(run / "results/reference/genome.fa")
        ) as fh:
            groups = fh.header.to_dict()["RG"]
            n_reads = sum(1 for _ in fh.fetch("Gm01", 0, 20000))
        assert {rg["SM"] for rg in groups} == {sample}
        ids = {rg["ID"] for rg in groups}
        assert ids == {f"{sample}.{u}" for u in units.loc[units["sample"] == sample, "unit"]}
        assert n_reads > 100
        flagstat = (run / f"results/qc/samtools/{sample}.flagstat.txt").read_text()
        assert int(flagstat.split()[0]) > 10000, flagstat


def test_cram_storage_is_smaller(runs):
    fastq_run, (aln_run, _, _) = runs
    bam = sum(p.stat().st_size for p in (fastq_run / "results/bam").glob("*.bam"))
    cram = sum(p.stat().st_size for p in (aln_run / "results/bam").glob("*.cram"))
    assert cram < 0.7 * bam, (cram, bam)


def test_unchanged_rerun_does_nothing(runs):
    """The routes chosen at parse time are stable: a second run plans no job."""
    _, (run, _, cfg) = runs
    proc = run_workflow(run, cfg, *TARGETS, *STATS, extra=["-n"], check=True)
    assert "Nothing to be done" in proc.stdout + proc.stderr
