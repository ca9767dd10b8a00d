"""Tests for the population-aware genotype refinement (``breedomics refine-calls``).

The accuracy test simulates a breed's haplotypes with msprime, draws 5x reads with
errors, turns them into genotype likelihoods with the binomial model of bcftools'
callers and checks that the refinement cuts the genotype error rate well below calling
from the likelihoods alone (with the same allele-frequency prior), against the
simulation's truth. The edge cases check missing data, haploid and absent
chromosomes, one site and one sample; the last test runs the CLI on a real
``bcftools mpileup | call`` VCF (reads written as SAM on a tiny reference).
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import msprime
import numpy as np
import pysam
import pytest
from conftest import copy_species, run_workflow, species_config

from breedomics import cli
from breedomics.calling.refine import (
    RefineSettings,
    allele_frequencies,
    info_score,
    refine_genotypes,
    refine_vcf,
)
from breedomics.errors import UserError

ERR = 0.01  # sequencing error per read base


def simulate_panel(n: int, length: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Haplotypes (M sites x 2n, 0/1) and positions of ``n`` diploid animals of one breed
    (effective size 500, founded 500 generations ago from a population of 10 000)."""
    dem = msprime.Demography()
    dem.add_population(name="breed", initial_size=500)
    dem.add_population(name="ancestral", initial_size=10_000)
    dem.add_population_split(time=500, derived=["breed"], ancestral="ancestral")
    ts = msprime.sim_ancestry(
        samples={"breed": n}, demography=dem, sequence_length=length,
        recombination_rate=1e-8, random_seed=seed,
    )  # fmt: skip
    ts = msprime.sim_mutations(ts, rate=2e-8, model=msprime.BinaryMutationModel(), random_seed=seed)
    geno = ts.genotype_matrix().astype(np.int64)
    pos = ts.tables.sites.position.astype(np.int64)
    keep = (geno.sum(axis=1) > 0) & (np.diff(pos, prepend=-1) > 0)
    return geno[keep], pos[keep]


def read_likelihoods(
    haps: np.ndarray, depth: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Genotype likelihoods (M x N x 3) of Poisson(depth) reads per genotype, each from one
    of the two haplotypes, with base error ``ERR``; the binomial model of bcftools' callers:
    ``L(g) = prod_reads P(read | g)``, ``P(ALT read | g) = (g/2)(1-e) + (1 - g/2) e``,
    written as bcftools does (PL rounded, scaled to the best genotype). Also the true
    genotypes (M x N)."""
    M, H = haps.shape
    n = H // 2
    truth = haps[:, 0::2] + haps[:, 1::2]
    reads = rng.poisson(depth, size=(M, n))
    from_second = rng.binomial(reads, 0.5)
    alt_h = np.stack([haps[:, 0::2], haps[:, 1::2]])
    alt_true = alt_h[0] * (reads - from_second) + alt_h[1] * from_second
    flips_alt = rng.binomial(alt_true, ERR)
    flips_ref = rng.binomial(reads - alt_true, ERR)
    alt = alt_true - flips_alt + flips_ref
    ref = reads - alt
    p_alt = np.array([ERR, 0.5, 1 - ERR])
    loglik = alt[..., None] * np.log10(p_alt) + ref[..., None] * np.log10(1 - p_alt)
    pl = np.round(-10 * (loglik - loglik.max(axis=2, keepdims=True)))
    return 10 ** (-pl / 10), truth


def gl_only(gl: np.ndarray, ploidy: np.ndarray) -> np.ndarray:
    """Posteriors of calling from likelihoods alone: HWE prior at the EM frequency (as
    ``bcftools call -m``)."""
    p = allele_frequencies(gl, ploidy)[:, None]
    post = gl * np.stack([(1 - p) ** 2, 2 * p * (1 - p), p**2], axis=2)
    return post / post.sum(axis=2, keepdims=True)


@pytest.fixture(scope="module")
def panel():
    haps, pos = simulate_panel(40, 400_000, seed=7)
    gl, truth = read_likelihoods(haps, 5.0, np.random.default_rng(11))
    return haps, pos, gl, truth


def test_refinement_cuts_genotype_errors_at_5x(panel):
    haps, pos, gl, truth = panel
    ploidy = np.full(truth.shape[1], 2)
    assert len(pos) > 200  # enough sites for the rates below to mean something
    base = gl_only(gl, ploidy).argmax(axis=2)
    gp = refine_genotypes(gl, ploidy, pos, RefineSettings(seed=3))
    assert np.allclose(gp.sum(axis=2), 1.0)
    refined = gp.argmax(axis=2)
    err_base = np.mean(base != truth)
    err_refined = np.mean(refined != truth)
    het = truth == 1
    # heterozygotes are where 2-4 reads fail: the refinement recovers most of them
    assert np.mean(refined[het] != 1) < 0.6 * np.mean(base[het] != 1)
    assert err_refined < 0.6 * err_base, (err_base, err_refined)
    # the information measure ranks sites: low-info sites hold more of the errors
    info = info_score(gp, ploidy)
    site_err = (refined != truth).mean(axis=1)
    low = info < np.median(info)
    assert site_err[low].mean() > site_err[~low].mean()
    # deterministic for a seed
    again = refine_genotypes(gl, ploidy, pos, RefineSettings(seed=3))
    assert np.array_equal(again, gp)


def test_missing_genotypes_are_imputed_from_the_panel(panel):
    haps, pos, gl, truth = panel
    rng = np.random.default_rng(5)
    gl = gl.copy()
    hidden = rng.random(truth.shape) < 0.1
    gl[hidden] = 1.0  # no reads
    ploidy = np.full(truth.shape[1], 2)
    gp = refine_genotypes(gl, ploidy, pos, RefineSettings(seed=3))
    imputed = gp.argmax(axis=2)[hidden]
    # best guess without haplotypes: the most likely genotype at the site's frequency
    p = allele_frequencies(gl, ploidy)[:, None].repeat(truth.shape[1], axis=1)[hidden]
    freq_guess = np.where(p < 1 / 3, 0, np.where(p > 2 / 3, 2, 1))
    acc = np.mean(imputed == truth[hidden])
    acc_freq = np.mean(freq_guess == truth[hidden])
    assert acc > acc_freq + 0.1, (acc, acc_freq)
    assert acc > 0.75


def test_haploid_and_absent_samples_keep_their_ploidy(panel):
    haps, pos, gl, truth = panel
    M = len(pos)
    n = 12
    gl = gl[:, :n].copy()
    ploidy = np.array([2] * 8 + [1, 1, 1, 0])
    rng = np.random.default_rng(2)
    # haploid samples: one haplotype each, likelihoods of allele 0/1 in the first two slots
    hap_alleles = haps[:, 2 * 8 : 2 * 8 + 3]
    reads = rng.poisson(3, size=(M, 3))
    alt = rng.binomial(reads, np.where(hap_alleles == 1, 1 - ERR, ERR))
    lik = np.stack(
        [ERR**alt * (1 - ERR) ** (reads - alt), (1 - ERR) ** alt * ERR ** (reads - alt)], axis=2
    )
    gl[:, 8:11, :2] = lik
    gl[:, 8:11, 2] = 123.0  # ignored for haploid samples
    gp = refine_genotypes(gl, ploidy, pos, RefineSettings(seed=1, iterations=6, burnin=2))
    assert np.allclose(gp[:, :11].sum(axis=2), 1.0)
    assert np.all(gp[:, 8:11, 2] == 0)
    assert np.all(gp[:, 11] == 0)
    called = gp[:, 8:11, :2].argmax(axis=2)
    assert np.mean(called == hap_alleles) > 0.97


def test_one_site_and_one_sample():
    # one site: no linkage, the result is the likelihoods under the panel's frequency
    gl = np.array([[[1.0, 1e-3, 1e-6], [1e-6, 1e-3, 1.0], [1e-3, 1.0, 1e-3]]])
    gp = refine_genotypes(gl, np.array([2, 2, 2]), np.array([100]))
    assert gp.shape == (1, 3, 3)
    assert list(gp[0].argmax(axis=1)) == [0, 2, 1]
    # one sample: nobody to copy from, the Hardy-Weinberg posterior at its own frequency
    gp1 = refine_genotypes(gl[:, :1], np.array([2]), np.array([100]))
    assert np.allclose(gp1.sum(axis=2), 1) and gp1[0, 0].argmax() == 0
    with pytest.raises(UserError, match="burnin"):
        refine_genotypes(gl, np.array([2, 2, 2]), np.array([1]), RefineSettings(burnin=20))


# --------------------------------------------------------------------------- a real VCF

REF_LEN = 6000
READ_LEN = 100


def _write_bam(path: Path, ref: str, haps: list[str], depth: float, rng) -> None:
    """Reads of ``haps`` (same length as ``ref``, SNPs only) as a sorted, indexed BAM."""
    header = {"HD": {"VN": "1.6", "SO": "unsorted"}, "SQ": [{"SN": "chr1", "LN": len(ref)}],
              "RG": [{"ID": path.stem, "SM": path.stem}]}  # fmt: skip
    n_reads = int(depth * len(ref) / READ_LEN)
    tmp = path.with_suffix(".unsorted.bam")
    with pysam.AlignmentFile(str(tmp), "wb", header=header) as out:
        for k in range(n_reads):
            start = int(rng.integers(0, len(ref) - READ_LEN))
            seq = list(haps[int(rng.integers(len(haps)))][start : start + READ_LEN])
            for j in np.flatnonzero(rng.random(READ_LEN) < ERR):
                seq[j] = "ACGT"[("ACGT".index(seq[j]) + 1) % 4]
            a = pysam.AlignedSegment()
            a.query_name, a.query_sequence = f"r{k}", "".join(seq)
            a.flag, a.reference_id, a.reference_start = 0, 0, start
            a.mapping_quality, a.cigarstring = 60, f"{READ_LEN}M"
            a.query_qualities = pysam.qualitystring_to_array("I" * READ_LEN)
            a.set_tag("RG", path.stem)
            out.write(a)
    pysam.sort("-o", str(path), str(tmp))
    pysam.index(str(path))


@pytest.mark.skipif(shutil.which("bcftools") is None, reason="needs bcftools")
def test_cli_on_a_bcftools_vcf(tmp_path):
    rng = np.random.default_rng(4)
    ref = "".join(rng.choice(list("ACGT"), REF_LEN))
    (tmp_path / "ref.fa").write_text(f">chr1\n{ref}\n")
    pysam.faidx(str(tmp_path / "ref.fa"))
    snp_pos = np.sort(rng.choice(np.arange(200, REF_LEN - 200), 40, replace=False))
    founders = rng.random((4, len(snp_pos))) < 0.5  # 4 founder haplotypes

    def hap(k: int) -> str:
        s = list(ref)
        for p, alt in zip(snp_pos, founders[k], strict=True):
            if alt:
                s[p] = "ACGT"[("ACGT".index(s[p]) + 2) % 4]
        return "".join(s)

    bams = []
    for i in range(6):  # S1-S4 diploid, S5-S6 haploid (a male's X, say)
        haps = [hap(i % 4), hap((i + 1) % 4)] if i < 4 else [hap(i % 4)]
        bam = tmp_path / f"S{i + 1}.bam"
        _write_bam(bam, ref, haps, 4.0, rng)
        bams.append(str(bam))
    (tmp_path / "ploidy.txt").write_text("chr1 1 6000 M 1\n* * * * 2\n")
    (tmp_path / "sexes.txt").write_text("".join(f"S{i} {'M' if i > 4 else 'F'}\n"
                                                for i in range(1, 7)))  # fmt: skip
    calls = tmp_path / "calls.vcf.gz"
    subprocess.run(
        f"bcftools mpileup -f ref.fa -a AD,DP -Ou {' '.join(bams)} 2>/dev/null"
        " | bcftools call -m -v -a GQ --ploidy-file ploidy.txt -S sexes.txt -Ou"
        f" | bcftools norm -m -any -Oz -o {calls}",
        shell=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    out = tmp_path / "refined.vcf.gz"
    assert cli.main(["refine-calls", str(calls), "--out", str(out), "--iterations", "4",
                     "--burnin", "1"]) == 0  # fmt: skip
    assert out.with_name(out.name + ".tbi").exists()
    n_in = len(subprocess.run(["bcftools", "view", "-H", str(calls)], capture_output=True,
                              text=True, check=True).stdout.splitlines())  # fmt: skip
    view = subprocess.run(
        ["bcftools", "query", "-f", "[%GT\\t%GP\\t%DS\\n]", str(out)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert n_in > 10 and len(view) == 6 * n_in  # every record, every sample
    for k, line in enumerate(view):
        gt, gp, ds = line.split("\t")
        # a haploid genotype has two GP values (padded with "." beside diploid ones)
        probs = [float(x) for x in gp.split(",") if x != "."]
        haploid = k % 6 >= 4
        assert len(probs) == (2 if haploid else 3) and abs(sum(probs) - 1) < 1e-4
        assert ("/" not in gt) == haploid and gt.count(".") == 0
        alleles = [int(a) for a in gt.split("/")]
        assert int(np.argmax(probs)) == sum(alleles)
        assert 0 <= float(ds) <= len(alleles) + 1e-6
    rinfo = subprocess.run(["bcftools", "query", "-f", "%RINFO\\n", str(out)],
                           capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert len(rinfo) == n_in and all(0 <= float(x) <= 1 for x in rinfo)


def test_bad_input_names_file_and_fix(tmp_path):
    vcf = tmp_path / "nopl.vcf.gz"
    with gzip.open(vcf, "wt") as fh:
        fh.write("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=100>\n"
                 '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
                 "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\n"
                 "chr1\t5\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t0/0\n")  # fmt: skip
    with pytest.raises(UserError, match=r"nopl\.vcf\.gz: no FORMAT/PL"):
        refine_vcf(vcf, tmp_path / "out.vcf.gz")
    with pytest.raises(UserError, match="no such file"):
        refine_vcf(tmp_path / "missing.vcf.gz", tmp_path / "out.vcf.gz")


def test_workflow_plans_refinement_when_enabled(tmp_path):
    copy_species("soybean", tmp_path)
    cfg = species_config("soybean", tmp_path, genotypes={"enabled": False})
    cfg.setdefault("calling", {})["refine"] = {"enabled": True, "iterations": 8, "burnin": 2}
    proc = run_workflow(tmp_path / "run", cfg, "results/calls/all.pass.vcf.gz",
                        extra=["-n", "-p"], check=True)  # fmt: skip
    text = proc.stdout
    assert "rule refine_calls:" in text
    # the inbred soybean lines are one haplotype each; the PASS set is made from the refined calls
    assert "refine-calls results/calls/all.filtered.vcf.gz" in text and "--inbred" in text
    assert "--iterations 8 --burnin 2" in text
    hard = text[text.index("rule hardfilter_calls:") :]
    assert "input: results/calls/all.refined.vcf.gz" in hard.split("rule ")[1]
