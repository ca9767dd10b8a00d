"""``breedomics census <job>`` end to end on a small simulated panel."""

from __future__ import annotations

import pandas as pd
import pytest

from breedomics.cli import main
from breedomics.testing.simulate import simulate_landraces, write_truth, write_vcf
from breedomics.testing.spec import GenomeSpec


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    genome = GenomeSpec(n_groups=3, n_chrom=2, chrom_length=1_500_000, missing_rate=0.01, seed=11)
    p = simulate_landraces(genome, lines_per_group=25, n_admixed=4, n_duplicates=3)
    vcf = write_vcf(p, tmp / "panel")
    write_truth(p, tmp / "panel")
    sheet = tmp / "groups.tsv"
    p.truth[["sample", "group"]].to_csv(sheet, sep="\t", index=False)
    return p, vcf, sheet, tmp


JOBS = [
    ("pca", ["--n-pcs", "4"], ["tsv", "variance.tsv", "png"]),
    ("grm", [], ["tsv", "png"]),
    ("admixture",
     ["--inbred", "--k-min", "2", "--k-max", "3", "--folds", "2", "--max-snps", "1500"],
     ["tsv", "cv.tsv", "png"]),
    ("diversity", ["--inbred", "--window", "500000"], ["tsv", "windows.tsv", "png"]),
    ("fst", ["--inbred", "--blen", "200"], ["tsv", "png"]),
    ("ld-decay", ["--max-dist", "100000", "--bin-size", "10000"], ["tsv", "summary.tsv", "png"]),
    ("roh", ["--min-length", "500000"], ["tsv", "segments.tsv", "png"]),
    ("duplicates", [], ["tsv", "clusters.tsv", "png"]),
    ("core", ["--size", "0.1", "--n-random", "20"], ["tsv", "summary.tsv", "png"]),
]  # fmt: skip


@pytest.mark.parametrize("job,extra,outputs", JOBS, ids=[j[0] for j in JOBS])
def test_job_writes_outputs(data, job, extra, outputs):
    p, vcf, sheet, tmp = data
    out = tmp / job
    rc = main(["census", job, "--geno", vcf, "--groups", str(sheet), "--out", str(out), *extra])
    assert rc == 0
    for suffix in outputs:
        path = tmp / f"{job}.{suffix}"
        assert path.exists() and path.stat().st_size > 0, path
    table = pd.read_csv(tmp / f"{job}.tsv", sep="\t")
    assert len(table.columns) >= 2
    if job == "duplicates":
        clusters = pd.read_csv(tmp / "duplicates.clusters.tsv", sep="\t")
        assert len(clusters) == 3
    if job == "pca":
        assert list(table.columns[:3]) == ["sample", "group", "PC1"]
        assert len(table) == len(p.samples)


def test_bad_inputs_give_clear_errors(data, capsys):
    p, vcf, sheet, tmp = data
    bad = tmp / "bad.tsv"
    bad.write_text("sample\tgroup\n" + f"{p.samples[0]}\tA\nNOT_THERE\tB\n")
    assert (
        main(["census", "pca", "--geno", vcf, "--groups", str(bad), "--out", str(tmp / "x")]) == 1
    )
    err = capsys.readouterr().err
    assert "NOT_THERE" in err and "line 3" in err
    one = tmp / "one.tsv"
    pd.DataFrame({"sample": p.samples, "group": "g"}).to_csv(one, sep="\t", index=False)
    assert (
        main(["census", "fst", "--geno", vcf, "--groups", str(one), "--out", str(tmp / "x")]) == 1
    )
    assert "two groups" in capsys.readouterr().err
    small = tmp / "small.tsv"
    pd.DataFrame({"sample": p.samples[:3], "group": "g"}).to_csv(small, sep="\t", index=False)
    rc = main(["census", "admixture", "--geno", vcf, "--groups", str(small), "--k-max", "5",
               "--out", str(tmp / "x")])  # fmt: skip
    assert rc == 1
    assert "number of samples" in capsys.readouterr().err
