"""Tests for the per-sample inbreeding estimate and the line call (``estimate-inbreeding``).

Genotypes are drawn with known inbreeding (the ngsF model: IBD with probability F, else
Hardy-Weinberg at the site's frequency), turned into read-based likelihoods as bcftools
writes them (``test_calling_refine.read_likelihoods``), and the estimates are checked
against the simulated F and the simulated lines.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from test_calling_refine import read_likelihoods

from breedomics import cli
from breedomics.calling.inbreeding import (
    MIN_EXPECTED_HET,
    inbreeding_table,
    line_het_steps,
    read_diploid_likelihoods,
)
from breedomics.errors import UserError


def inbred_haplotypes(f: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """Haplotypes (m sites x 2n) of samples with inbreeding coefficients ``f``: at each
    site the two copies are identical by descent with probability F, else independent
    draws at a frequency from a U-shaped (Beta(0.5, 0.5)) spectrum."""
    p = np.clip(rng.beta(0.5, 0.5, size=m), 0.02, 0.98)
    n = f.size
    h1 = rng.random((m, n)) < p[:, None]
    h2 = rng.random((m, n)) < p[:, None]
    ibd = rng.random((m, n)) < f[None, :]
    h2 = np.where(ibd, h1, h2)
    haps = np.empty((m, 2 * n), dtype=np.int64)
    haps[:, 0::2], haps[:, 1::2] = h1, h2
    return haps


def test_f_and_lines_of_a_mixed_panel():
    """Six lines (F = 1), six half-sib-like samples (F = 0.25) and eight outbred ones at
    15x: F within 0.05 of the simulated value, and exactly the six lines are lines."""
    rng = np.random.default_rng(3)
    f_true = np.array([1.0] * 6 + [0.25] * 6 + [0.0] * 8)
    haps = inbred_haplotypes(f_true, 3000, rng)
    gl, _ = read_likelihoods(haps, 15.0, rng)
    samples = [f"S{i}" for i in range(f_true.size)]
    tab = inbreeding_table(gl, samples)
    assert np.abs(tab["f"].to_numpy() - f_true).max() < 0.05
    assert tab.loc[tab["line"], "sample"].tolist() == samples[:6]
    # the expected heterozygotes are those of Hardy-Weinberg at the estimated frequencies
    assert (tab["expected_het"] > 500).all() and (tab["sites"] == 3000).all()
    assert (tab.loc[:5, "observed_het"] < 0.01 * tab.loc[:5, "expected_het"]).all()


def test_too_few_polymorphic_sites_make_no_line():
    """An outbred sample without heterozygotes over a handful of sites (one run of
    homozygosity) is not called a line: too few heterozygotes were expected of it."""
    rng = np.random.default_rng(5)
    f_true = np.array([1.0] * 4 + [0.0] * 4)
    haps = inbred_haplotypes(f_true, 60, rng)
    gl, _ = read_likelihoods(haps, 15.0, rng)
    tab = inbreeding_table(gl, [f"S{i}" for i in range(8)])
    assert (tab["expected_het"] < MIN_EXPECTED_HET).all()
    assert (tab.loc[:3, "f"] > 0.95).all() and not tab["line"].any()
    # with the bar lowered, the same data make the four lines
    low = inbreeding_table(gl, [f"S{i}" for i in range(8)], min_expected_het=10)
    assert low["line"].tolist() == [True] * 4 + [False] * 4


def _vcf_with_pl(path, rows: list[list[str]], tag: str = "PL") -> None:
    kind = "Integer" if tag == "PL" else "Float"
    header = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=c1,length=100000>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        f'##FORMAT=<ID={tag},Number=G,Type={kind},Description="Genotype likelihoods">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB",
    ]
    body = [f"c1\t{10 + 10 * i}\t.\tA\tC\t50\tPASS\t.\tGT:{tag}\t{a}\t{b}" for i, (a, b) in
            enumerate(rows)]  # fmt: skip
    path.write_text("\n".join(header + body) + "\n")


def test_cli_writes_table_and_lines(tmp_path, capsys):
    """A is homozygous at every site, B heterozygous at half: A is the line (with the bar
    lowered to this file's size), B is not; the files are written whole."""
    rows = [["1/1:60,30,0", "0/1:40,0,40"] if i % 2 else ["0/0:0,30,60", "0/0:0,30,60"]
            for i in range(200)]  # fmt: skip
    vcf = tmp_path / "calls.vcf"
    _vcf_with_pl(vcf, rows)
    out, lines = tmp_path / "inbreeding.tsv", tmp_path / "lines.txt"
    rc = cli.main(["estimate-inbreeding", str(vcf), "--out", str(out), "--lines-out", str(lines),
                   "--min-expected-het", "20"])  # fmt: skip
    assert rc == 0
    assert lines.read_text() == "A\n"
    text = out.read_text().splitlines()
    assert text[0] == "sample\tsites\texpected_het\tobserved_het\tf\tline"
    assert len(text) == 3 and not (tmp_path / "inbreeding.tsv.tmp").exists()
    assert "1 inbred lines" in capsys.readouterr().out


def test_bad_input_names_the_file(tmp_path):
    vcf = tmp_path / "nopl.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=c1,length=100>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\nc1\t5\t.\tA\tC\t50\t.\t.\tGT\t0/1\n"
    )
    with pytest.raises(UserError, match=r"nopl\.vcf: no FORMAT/PL"):
        read_diploid_likelihoods(vcf)
    with pytest.raises(UserError, match=r"missing\.vcf: no such file"):
        read_diploid_likelihoods(tmp_path / "missing.vcf")
    # the command reports it and exits non-zero, writing nothing
    assert cli.main(["estimate-inbreeding", str(vcf), "--out", str(tmp_path / "o.tsv")]) == 1
    assert not (tmp_path / "o.tsv").exists()


def _genotypes(vcf: str, steps: str, cwd) -> list[list[str]]:
    """Genotypes per record after the bcftools ``steps`` (run in ``cwd``)."""
    cmd = f"bcftools view -Ou {vcf} {steps} | bcftools query -f '[%GT ]\\n'"
    out = subprocess.run(cmd, shell=True, cwd=cwd, capture_output=True, text=True, check=True)
    return [r.split() for r in out.stdout.splitlines() if r]


def test_line_hets_become_the_likelier_homozygote(tmp_path):
    """The workflow's bcftools step (common.smk line_het_pipeline, calling.inbred_het:
    homozygous): a line's heterozygous calls become 1/1 where PL favours it over 0/0, else
    0/0; the other sample's calls are untouched."""
    rows = [["0/1:30,0,5", "0/1:30,0,5"], ["0/1:5,0,30", "0/1:5,0,30"],
            ["1/1:60,30,0", "0/1:40,0,40"]]  # fmt: skip
    _vcf_with_pl(tmp_path / "calls.vcf", rows)
    (tmp_path / "lines.txt").write_text("A\n")
    resolved = [["1/1", "0/1"], ["0/0", "0/1"], ["1/1", "0/1"]]
    hom = line_het_steps("homozygous", "lines.txt")
    assert _genotypes("calls.vcf", hom, tmp_path) == resolved
    # missing: the line's hets become ./.; every sample a line (no file): both samples
    missing = _genotypes("calls.vcf", line_het_steps("missing", None), tmp_path)
    assert missing == [["./.", "./."], ["./.", "./."], ["1/1", "./."]]
    # freebayes' log10 GL (higher is likelier): the same choices
    gl_rows = [["0/1:-3,0,-0.5", "0/1:-3,0,-0.5"], ["0/1:-0.5,0,-3", "0/1:-0.5,0,-3"],
               ["1/1:-6,-3,0", "0/1:-4,0,-4"]]  # fmt: skip
    _vcf_with_pl(tmp_path / "fb.vcf", gl_rows, tag="GL")
    assert _genotypes("fb.vcf", line_het_steps("homozygous", "lines.txt", "GL"), tmp_path) == (
        resolved
    )
    # an empty lines file: the calls pass through
    (tmp_path / "lines.txt").write_text("")
    assert _genotypes("calls.vcf", hom, tmp_path) == [["0/1", "0/1"], ["0/1", "0/1"],
                                                      ["1/1", "0/1"]]  # fmt: skip
