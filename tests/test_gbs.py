"""GBS: reads -> calls on the ApeKI GBS test data (issue 15, acceptance 3).

``test-data/gbs`` (``scripts/make_gbs_test_data.py``): 8 inbred lines, read pairs that
start at ApeKI cut sites, uneven depth across loci and lines, loci missing in some
lines. The run (``config/presets/test-gbs.yaml``) must leave the piled-up reads unmarked
(no duplicate marking for ``library_type: gbs``), call only at the covered loci
(``calling.gbs.loci: covered``) and, with the GBS site filters (``filtering.gbs``), reach
SNP F1 >= 0.98 against the truth on the loci a line has at least 5 reads at (the
genotypes of the truth below that depth are not scored: most of a GBS genome is never
read).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pysam
import pytest
from conftest import background_run, copy_species, run_workflow, species_config

from breedomics.calling.evalcalls import depth_masked_truth, evaluate

pytestmark = pytest.mark.workflow

#: Depth (reads of a line at a truth variant) from which the truth is scored.
MIN_DEPTH = 5


def _run(root: Path, nice: bool, mode: str) -> tuple[Path, dict]:
    copy_species("gbs", root)
    cfg = species_config("gbs", root)
    cfg["genotypes"] = {"enabled": False}
    cfg["calling"]["mode"] = mode
    run_workflow(root / "run", cfg, "results/calls/all.pass.vcf.gz", check=True, nice=nice)
    return root / "run", cfg


@background_run("gbs")
def _gbs_run(root: Path, nice: bool) -> tuple[Path, dict]:
    return _run(root, nice, "joint")


@background_run("gbs_incremental")
def _gbs_incremental_run(root: Path, nice: bool) -> tuple[Path, dict]:
    """calling.mode incremental: per-sample gVCFs (up to calling.gbs.max_depth reads)
    merged per region; no loci restriction (the gVCFs hold the covered positions)."""
    return _run(root, nice, "incremental")


@pytest.fixture(scope="module")
def gbs(background):
    return background.result("gbs")


def _bams(run: Path, cfg: dict) -> dict[str, Path]:
    samples = pd.read_csv(cfg["samples"], sep="\t")["sample"]
    return {s: run / f"results/bam/{s}.bam" for s in samples}


def _bed(path: Path) -> dict[str, list[tuple[int, int]]]:
    out: dict[str, list[tuple[int, int]]] = {}
    for line in path.read_text().splitlines():
        chrom, start, end = line.split("\t")[:3]
        out.setdefault(chrom, []).append((int(start), int(end)))
    return out


def _inside(bed: dict[str, list[tuple[int, int]]], chrom: str, pos0: int) -> bool:
    return any(a <= pos0 < b for a, b in bed.get(chrom, ()))


@pytest.mark.parametrize("mode", ["gbs", "gbs_incremental"])
def test_gbs_snp_f1_on_loci_with_depth_5(background, mode, tmp_path):
    run, cfg = background.result(mode)
    data = Path(cfg["samples"]).parent
    masked = depth_masked_truth(
        data / "truth.vcf.gz", _bams(run, cfg), tmp_path / "truth.dp5.vcf.gz", MIN_DEPTH,
        min_mapq=cfg["calling"].get("min_mapq", 20),
    )  # fmt: skip
    df = evaluate(masked, run / "results/calls/all.pass.vcf.gz", data / "reference.fa.gz")
    tab = df[df["sample"] == "ALL"].set_index("type")
    print(f"\n{mode}, loci with depth >= {MIN_DEPTH}:\n{tab[['tp', 'fp', 'fn', 'f1']]}")
    assert tab.loc["SNP", "tp"] > 500  # a meaningful number of scored genotypes
    assert tab.loc["SNP", "f1"] >= 0.98
    assert tab.loc["INDEL", "f1"] >= 0.9


def test_gbs_duplicates_not_marked(gbs):
    """Every read of a locus starts at its cut site: marked as duplicates, nearly all
    would be lost. Not one read is flagged, and the reads do pile up."""
    run, cfg = gbs
    for sample, bam in _bams(run, cfg).items():
        note = (run / f"results/qc/markdup/{sample}.markdup.txt").read_text()
        assert "gbs library: duplicates not marked" in note
        starts, reads = set(), 0
        with pysam.AlignmentFile(str(bam)) as fh:
            for rec in fh:
                assert not rec.is_duplicate, (sample, rec.query_name)
                if rec.is_read1 and not rec.is_unmapped:
                    reads += 1
                    starts.add((rec.reference_id, rec.reference_start, rec.is_reverse))
        assert reads > 2000 and len(starts) < 0.2 * reads, (sample, reads, len(starts))


def test_gbs_calls_only_on_covered_loci(gbs):
    """Calls lie on the covered loci (results/calls/gbs_loci.bed), which are the ApeKI
    fragments of the data (test-data/gbs/loci.bed, the reference's in-silico digest);
    the site filters are the GBS ones."""
    run, cfg = gbs
    covered = _bed(run / "results/calls/gbs_loci.bed")
    digest = _bed(Path(cfg["samples"]).parent / "loci.bed")
    n = 0
    with pysam.VariantFile(str(run / "results/calls/all.raw.bcf")) as vf:
        for rec in vf:
            n += 1
            assert _inside(covered, rec.chrom, rec.start), (rec.chrom, rec.pos)
    assert n > 300
    bp = sum(b - a for iv in covered.values() for a, b in iv)
    in_digest = sum(
        b - a for chrom, iv in covered.items() for a, b in iv if _inside(digest, chrom, a)
    )
    assert in_digest >= 0.9 * bp, (in_digest, bp)
    assert bp < 0.15 * sum(pysam.FastaFile(cfg["reference"]["fasta"]).lengths)
    with pysam.VariantFile(str(run / "results/calls/all.filtered.vcf.gz")) as vf:
        filters = {k: v.description for k, v in vf.header.filters.items()}
    assert "INFO/DP>1000*" in filters["HighDepth"] and "F_MISSING>0.8" in filters["HighMissing"]
