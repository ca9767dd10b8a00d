"""Genotype QC against PLINK 2 and closed forms; imputation accuracy with Beagle."""

from __future__ import annotations

import shutil
import subprocess
from math import lgamma
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest

from breedomics.cli import main as cli
from breedomics.genotypes.qc import hwe_exact, hwe_exact_many


def _write_vcf(path: Path, geno: np.ndarray, chrom: str = "1", spacing: int = 500) -> None:
    """geno: (n_var, n_samples) dosages 0/1/2 or -1 missing."""
    n_var, n = geno.shape
    header = pysam.VariantHeader()
    header.add_line(f"##contig=<ID={chrom},length={spacing * (n_var + 2)}>")
    header.add_line('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    for i in range(n):
        header.add_sample(f"S{i:03d}")
    gts = {0: (0, 0), 1: (0, 1), 2: (1, 1), -1: (None, None)}
    with pysam.VariantFile(str(path), "wz", header=header) as vf:
        for j in range(n_var):
            rec = vf.new_record(
                contig=chrom, start=(j + 1) * spacing - 1, alleles=("A", "G"), id=f"v{j}"
            )
            for i in range(n):
                rec.samples[f"S{i:03d}"]["GT"] = gts[int(geno[j, i])]
            vf.write(rec)
    pysam.tabix_index(str(path), preset="vcf", force=True)


def _hwe_brute(n_het: int, n_aa: int, n_bb: int) -> float:
    """Closed form: P(het count | allele counts) summed over tables as unlikely as observed."""
    n = n_het + n_aa + n_bb
    n_a = 2 * n_aa + n_het

    def logp(h: int) -> float:
        aa = (n_a - h) // 2
        bb = n - h - aa
        return (
            lgamma(n + 1)
            - lgamma(aa + 1)
            - lgamma(h + 1)
            - lgamma(bb + 1)
            + h * np.log(2)
            + lgamma(n_a + 1)
            + lgamma(2 * n - n_a + 1)
            - lgamma(2 * n + 1)
        )

    hs = [h for h in range(n_a % 2, min(n_a, 2 * n - n_a) + 1, 2)]
    ps = np.exp([logp(h) for h in hs])
    ps /= ps.sum()
    obs = ps[hs.index(n_het)]
    return float(ps[ps <= obs * (1 + 1e-9)].sum())


@pytest.mark.parametrize(
    "counts", [(10, 45, 45), (0, 50, 50), (50, 25, 25), (3, 90, 7), (57, 14, 29), (1, 0, 0)]
)
def test_hwe_exact_matches_closed_form(counts):
    assert hwe_exact(*counts) == pytest.approx(_hwe_brute(*counts), rel=1e-9, abs=1e-300)


def test_hwe_exact_many_matches_closed_form_at_scale():
    """The chunk-wise test (every variant of a chunk at once) against the closed form,
    on random tables of 3,000 genotypes (the sizes where the Python loop was slow)."""
    rng = np.random.default_rng(11)
    n = 3000
    p = rng.uniform(0.02, 0.98, size=40)
    f = rng.uniform(-0.05, 0.3, size=40)  # departures both ways
    het = np.rint(n * 2 * p * (1 - p) * (1 - f)).astype(int)
    hom1 = np.rint((n - het) * (1 - p)).astype(int)
    hom2 = n - het - hom1
    got = hwe_exact_many(het, hom1, hom2)
    want = [_hwe_brute(int(a), int(b), int(c)) for a, b, c in zip(het, hom1, hom2, strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-300)
    assert (got < 1e-6).any() and (got > 0.05).any()  # strong and no departures both seen


@pytest.fixture(scope="module")
def qc_data(tmp_path_factory):
    rng = np.random.default_rng(7)
    n, m = 150, 1500
    p = rng.uniform(0.02, 0.5, m)
    geno = rng.binomial(2, p[:, None], size=(m, n))
    # Inbred samples: copy one allele (F = 1).
    geno[:, :10] = np.where(rng.random((m, 10)) < p[:, None], 2, 0)
    geno[:20] = 0  # monomorphic
    # HWE departures: only heterozygotes or only homozygotes.
    geno[20:30] = 1
    geno[30:40] = rng.choice([0, 2], size=(10, n))
    miss = rng.random((m, n)) < 0.02
    miss[:, 140:] |= rng.random((m, 10)) < 0.5  # low call-rate samples
    miss[40:60] |= rng.random((20, n)) < 0.3  # low call-rate variants
    geno[miss] = -1
    d = tmp_path_factory.mktemp("qc")
    vcf = d / "in.vcf.gz"
    _write_vcf(vcf, geno)
    rc = cli(["genotype-qc", str(vcf), "--outdir", str(d / "qc"), "--mating", "outbred",
              "--min-sample-call-rate", "0.8", "--min-variant-call-rate", "0.9",
              "--min-maf", "0.01", "--hwe-p", "1e-6"])  # fmt: skip
    assert rc == 0
    return d, vcf, geno


def test_sample_qc_matches_plink2(qc_data):
    d, vcf, geno = qc_data
    st = pd.read_csv(d / "qc" / "sample_qc.tsv", sep="\t").set_index("sample")
    expected_cr = (geno >= 0).mean(axis=0)
    np.testing.assert_allclose(st["call_rate"].to_numpy(), expected_cr, atol=1e-9)
    removed = set(st.index[st["status"] == "removed"])
    assert removed == {f"S{i:03d}" for i in range(140, 150)}
    assert st.loc["S000", "inbreeding_f"] > 0.9 and abs(st.loc["S050", "inbreeding_f"]) < 0.2
    if shutil.which("plink2") is None:
        pytest.skip("plink2 not installed")
    subprocess.run(
        ["plink2", "--vcf", str(vcf), "--het", "--out", str(d / "plink"), "--allow-extra-chr"],
        check=True, capture_output=True,
    )  # fmt: skip
    het = pd.read_csv(d / "plink.het", sep=r"\s+").set_index("#IID")
    ours = st.loc[het.index, "inbreeding_f"]
    assert np.corrcoef(ours, het["F"])[0, 1] > 0.999
    np.testing.assert_allclose(ours, het["F"], atol=0.02)


def test_variant_qc_reasons_and_hwe_match_plink2(qc_data):
    d, vcf, geno = qc_data
    removed = pd.read_csv(d / "qc" / "variants_removed.tsv", sep="\t").set_index("id")
    for j in range(20):
        assert "maf" in removed.loc[f"v{j}", "reason"]
    for j in range(20, 40):
        assert "hwe_p" in removed.loc[f"v{j}", "reason"]
    for j in range(40, 60):
        assert "call_rate" in removed.loc[f"v{j}", "reason"]
    kept = pd.read_csv(d / "qc" / "sites_keep.tsv", sep="\t", header=None)
    assert len(kept) + len(removed) == geno.shape[0]
    keep = (d / "qc" / "samples_keep.txt").read_text().split()
    (d / "keep.txt").write_text("".join(f"{s}\n" for s in keep))
    subprocess.run(
        ["plink2", "--vcf", str(vcf), "--keep", str(d / "keep.txt"), "--hardy",
         "--out", str(d / "plink"), "--allow-extra-chr"],
        check=True, capture_output=True,
    )  # fmt: skip
    hardy = pd.read_csv(d / "plink.hardy", sep="\t").set_index("ID")
    ours = removed["hwe_p"].dropna()
    ours = ours[ours.index.isin(hardy.index)]
    np.testing.assert_allclose(ours, hardy.loc[ours.index, "P"], rtol=1e-4, atol=1e-12)


def test_kept_sheet_leaves_out_the_removed_samples(qc_data, tmp_path):
    """The census reads its groups from the sheet of the samples that pass QC: the
    sheet's rows of the kept samples, every column, in sheet order (an Excel CSV here);
    loading its groups against the QC'd genotypes works where the full sheet named a
    removed sample as missing."""
    from breedomics.census._common import load_groups
    from breedomics.errors import UserError

    d, vcf, geno = qc_data
    n = geno.shape[1]
    order = list(range(n - 1, -1, -1))  # the sheet in another order than the VCF
    sheet = tmp_path / "samples.csv"
    rows = "".join(f"S{i:03d},{'north' if i % 2 else 'south'},F\r\n" for i in order)
    sheet.write_bytes(b"\xef\xbb\xbf" + f"sample,group,sex\r\n{rows}".encode())
    out = tmp_path / "qc"
    rc = cli(["genotype-qc", str(vcf), "--outdir", str(out), "--mating", "outbred",
              "--samples-sheet", str(sheet), "--min-sample-call-rate", "0.8",
              "--min-variant-call-rate", "0.9", "--min-maf", "0.01",
              "--hwe-p", "1e-6"])  # fmt: skip
    assert rc == 0
    kept = pd.read_csv(out / "samples.tsv", sep="\t", dtype=str)
    assert list(kept.columns) == ["sample", "group", "sex"]
    want = [f"S{i:03d}" for i in order if i < 140]  # S140-S149 fail the call rate
    assert kept["sample"].tolist() == want
    assert kept["group"].tolist() == ["north" if int(s[1:]) % 2 else "south" for s in want]
    assert (out / "samples_keep.txt").read_text().split() == sorted(want)
    # the QC'd genotypes hold the kept samples only
    qcd = tmp_path / "qcd.vcf.gz"
    subprocess.run(["bcftools", "view", "-S", str(out / "samples_keep.txt"), "-Oz", "-o",
                    str(qcd), str(vcf)], check=True)  # fmt: skip
    groups = load_groups(str(qcd), str(out / "samples.tsv"))
    assert groups.samples == want
    with pytest.raises(UserError, match="S149"):
        load_groups(str(qcd), str(sheet))


def test_mixed_ploidy_beagle_failure_says_why(tmp_path, capsys):
    """A sample with a haploid '1' among diploid calls of one contig: Beagle stops with a
    Java stack trace; the error carries its message and the fix."""
    if shutil.which("beagle") is None:
        pytest.skip("beagle not installed")
    rng = np.random.default_rng(5)
    n, m = 20, 30
    gt = rng.choice(["0/0", "0/1", "1/1", "./."], size=(m, n), p=[0.4, 0.3, 0.25, 0.05])
    gt[7, 3] = "1"  # one haploid call of a diploid sample
    vcf = tmp_path / "mixed.vcf"
    head = (
        "##fileformat=VCFv4.2\n##contig=<ID=1,length=100000>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
        + "\t".join(f"S{i}" for i in range(n))
        + "\n"
    )
    body = "".join(
        f"1\t{1000 * (j + 1)}\tv{j}\tA\tG\t.\t.\t.\tGT\t" + "\t".join(gt[j]) + "\n"
        for j in range(m)
    )
    vcf.write_text(head + body)
    subprocess.run(["bgzip", str(vcf)], check=True)
    subprocess.run(["tabix", "-p", "vcf", f"{vcf}.gz"], check=True)
    capsys.readouterr()
    assert cli(["impute", f"{vcf}.gz", "--out", str(tmp_path / "out.vcf.gz")]) != 0
    msg = capsys.readouterr().err
    assert "S3" in msg and "inconsistent number of alleles" in msg, msg
    assert "one ploidy" in msg and "'1' as '1/1'" in msg


def test_imputation_accuracy_with_beagle(tmp_path, capsys):
    """Masked genotypes of an msprime panel come back with >= 0.95 concordance.

    Imputed by ``breedomics impute`` with the simulation's effective population size fixed
    (``--ne``: Beagle's ``ne=``, ``em=false``).
    """
    if shutil.which("beagle") is None:
        pytest.skip("beagle not installed")
    msprime = pytest.importorskip("msprime")
    ts = msprime.sim_ancestry(
        samples=150, population_size=10_000, sequence_length=1_000_000,
        recombination_rate=1e-8, random_seed=3,
    )  # fmt: skip
    ts = msprime.sim_mutations(ts, rate=2e-8, random_seed=4)
    g = ts.genotype_matrix()  # (sites, 300 haplotypes)
    g = g[(g.max(axis=1) == 1)]
    geno = g[:, 0::2] + g[:, 1::2]
    af = geno.mean(axis=1) / 2
    geno = geno[(af > 0.02) & (af < 0.98)][:3000]
    vcf = tmp_path / "panel.vcf.gz"
    _write_vcf(vcf, geno, spacing=300)
    masked = tmp_path / "masked.vcf.gz"
    truth = tmp_path / "truth.tsv"
    assert cli(["mask-genotypes", str(vcf), "--fraction", "0.02", "--seed", "1",
                "--out", str(masked), "--truth", str(truth)]) == 0  # fmt: skip
    n_masked = len(pd.read_csv(truth, sep="\t"))
    assert 0.015 * geno.size < n_masked < 0.025 * geno.size
    imputed = tmp_path / "imp.vcf.gz"
    assert cli(["impute", str(masked), "--out", str(imputed), "--threads", "2",
                "--seed", "1", "--ne", "10000"]) == 0  # fmt: skip
    assert "ne=10000 em=false" in capsys.readouterr().out
    out = tmp_path / "acc.tsv"
    assert (
        cli(
            [
                "impute-accuracy",
                "--truth",
                str(truth),
                "--imputed",
                str(imputed),
                "--original",
                str(vcf),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    acc = pd.read_csv(out, sep="\t").set_index("maf_bin")
    assert acc.loc["all", "n_imputed"] == n_masked
    assert acc.loc["all", "concordance"] >= 0.95
