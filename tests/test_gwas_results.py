"""Results: GWAS-SSF files, p-values below 1e-308, inflation, thresholds, clumping, CLI.

Independent truths: SciPy and numerical integration for p-values, closed
forms for the inflation factor and the effective number of tests, the Sidak
bound for permutation thresholds of independent tests, and PLINK 1.9
``--clump`` for lead variants.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pysam
import pytest
import yaml
from scipy import integrate, stats

from breedomics.core.genotypes import write_bed
from breedomics.gwas.clump import clump
from breedomics.gwas.phenotypes import prepare
from breedomics.gwas.pvalues import format_p, inflation_lambda, neglog10_p_f1
from breedomics.gwas.results import SSF_COLUMNS, read_sumstats
from breedomics.gwas.scan import GenotypeSource, ScanConfig, scan
from breedomics.gwas.threshold import MeffAccumulator, meff_block, permutation_threshold
from breedomics.testing.simulate_gwas import simulate_structured, simulate_traits
from breedomics.testing.spec import GenomeSpec


# --------------------------------------------------------------------------- p-values
def test_f1_pvalues_match_scipy_in_double_range():
    f = np.geomspace(1e-3, 800, 60)
    for d in (5, 57, 298, 2000):
        ref = -np.log10(stats.f.sf(f, 1, d))
        np.testing.assert_allclose(neglog10_p_f1(f, d), ref, rtol=1e-9)


@pytest.mark.parametrize("fstat,d", [(3000.0, 298), (20000.0, 298), (1e5, 1200), (1e7, 60)])
def test_f1_pvalues_below_double_range_match_integration(fstat, d):
    logf0 = stats.f.logpdf(fstat, 1, d)
    integral, _ = integrate.quad(
        lambda x: np.exp(stats.f.logpdf(x, 1, d) - logf0), fstat, np.inf, epsrel=1e-10, limit=500
    )
    truth = -(logf0 + np.log(integral)) / np.log(10)
    assert truth > 100
    assert neglog10_p_f1(np.array([fstat]), d)[0] == pytest.approx(truth, rel=1e-8)


def test_format_p_keeps_tiny_values_exact():
    out = format_p(np.array([1.30103, 12.5, 1234.3458, np.nan]))
    assert out[0] == "0.05"
    assert float(out[1]) == pytest.approx(10**-12.5, rel=1e-5)
    mant, exp = out[2].split("e-")
    assert int(exp) == 1235 and float(mant) == pytest.approx(10 ** (1235 - 1234.3458), rel=1e-5)
    assert out[3] == "NA"


def test_inflation_lambda_closed_form():
    m = 20001
    u = (np.arange(1, m + 1) - 0.5) / m
    assert inflation_lambda(-np.log10(u)) == pytest.approx(1.0, abs=1e-3)
    chi = stats.chi2.isf(u, 1) * 1.25
    assert inflation_lambda(-np.log10(stats.chi2.sf(chi, 1))) == pytest.approx(1.25, abs=2e-3)


# --------------------------------------------------------------------------- thresholds
def test_meff_of_duplicated_snps_is_the_number_of_distinct_snps():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 30))
    base = np.linalg.qr(z - z.mean(axis=0))[0]  # centred, exactly uncorrelated columns
    # correlation matrix = I: every eigenvalue 1 -> Li-Ji M_eff = 30 (Gao: 99.5 % needs 30)
    assert meff_block(base) == pytest.approx((30.0, 30.0), abs=1e-6)
    # every SNP three times: eigenvalues 3 (x30) and 0 (x60) -> still 30 independent tests
    x = np.repeat(base, 3, axis=1)
    assert meff_block(x) == pytest.approx((30.0, 30.0), abs=1e-6)
    # blocks are cut at block_size and at chromosome changes, and summed
    acc = MeffAccumulator(block_size=45)
    acc.add("1", x[:, :60])
    acc.add("1", x[:, 60:])
    acc.add("2", x)
    out = acc.finish()
    assert out["n_snps"] == 180
    assert out["li_ji"] == pytest.approx(60.0, abs=1e-6)  # blocks of 45 = 15 distinct x 3


def test_permutation_threshold_of_independent_tests_is_near_sidak(tmp_path):
    rng = np.random.default_rng(1)
    n, m = 200, 400
    dos = rng.binomial(2, rng.uniform(0.1, 0.9, m), size=(n, m)).astype(np.float32)
    samples = [f"s{i}" for i in range(n)]
    var = pd.DataFrame(
        {"chrom": "1", "pos": np.arange(1, m + 1) * 100, "id": [f"v{i}" for i in range(m)]}
    ).assign(ref="A", alt="C")
    write_bed(tmp_path / "g", var, [dos], samples)
    data = prepare(samples, pd.DataFrame({"y": rng.normal(size=n)}, index=samples))
    res = scan(
        GenotypeSource(str(tmp_path / "g"), samples),
        data,
        tmp_path / "o",
        ScanConfig(model="glm", permutations=800, seed=3),
    )
    thr = permutation_threshold(res[0].perm_max_f, res[0].df, 0.05)
    sidak = 1 - (1 - 0.05) ** (1 / m)
    assert 0.5 * sidak < thr < 2.0 * sidak, (thr, sidak)


# --------------------------------------------------------------------------- files + clumping
@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("results")
    g = simulate_structured(
        GenomeSpec(n_samples=240, n_snps=2000, n_chrom=4, seed=31), segments=5, inbred=True
    )
    ph, qtl = simulate_traits(
        g.dosage, g.variants, n_traits=1, n_qtl=4, h2_qtl=0.6, h2_poly=0.1, seed=7
    )
    ph.index = g.samples
    write_bed(tmp / "g", g.variants, [g.dosage], g.samples)
    ph.rename_axis("sample").to_csv(tmp / "pheno.tsv", sep="\t")
    return tmp, g, ph, qtl


def test_sumstats_are_gwas_ssf_bgzipped_and_tabix_indexed(panel):
    tmp, g, ph, _q = panel
    data = prepare(g.samples, ph)
    res = scan(GenotypeSource(str(tmp / "g"), data.samples), data, tmp / "ssf", ScanConfig("glm"))
    path = res[0].path
    with open(path, "rb") as fh:
        assert fh.read(4) == b"\x1f\x8b\x08\x04"  # BGZF (gzip with extra field)
    ss = read_sumstats(path)
    assert list(ss.columns) == SSF_COLUMNS
    assert len(ss) == g.dosage.shape[1]
    v2 = g.variants.iloc[500]
    tbx = pysam.TabixFile(path)
    rows = [r.split("\t") for r in tbx.fetch(v2["chrom"], v2["pos"] - 1, v2["pos"])]
    assert [r[9] for r in rows] == [v2["id"]]
    assert rows[0][2] == v2["alt"] and rows[0][3] == v2["ref"]
    freq = g.dosage[:, 500].mean() / 2
    assert float(rows[0][6]) == pytest.approx(freq, abs=1e-5)
    assert set(tbx.contigs) == set(g.variants["chrom"])


@pytest.mark.skipif(shutil.which("plink1.9") is None, reason="plink1.9 not installed")
def test_clumping_matches_plink19(panel):
    tmp, g, ph, _q = panel
    data = prepare(g.samples, ph)
    src = GenotypeSource(str(tmp / "g"), data.samples)
    res = scan(src, data, tmp / "clump", ScanConfig("glm"))
    ss = read_sumstats(res[0].path)
    p1 = 1e-6

    def fetch(ids):
        return src.extract_ids(ids)[1]

    leads = clump(ss, fetch, p1=p1, p2=0.01, r2=0.2, kb=250)
    assert len(leads) >= 2
    ss.assign(P=10.0 ** -ss["neg_log_10_p_value"]).rename(columns={"variant_id": "SNP"})[
        ["SNP", "P"]
    ].to_csv(tmp / "assoc.txt", sep="\t", index=False)
    proc = subprocess.run(
        [
            "plink1.9", "--bfile", str(tmp / "g"), "--clump", str(tmp / "assoc.txt"),
            "--clump-p1", str(p1), "--clump-p2", "0.01", "--clump-r2", "0.2",
            "--clump-kb", "250", "--allow-no-sex", "--out", str(tmp / "pl"),
        ],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:]
    pl = pd.read_csv(tmp / "pl.clumped", sep=r"\s+")
    assert set(pl["SNP"]) == set(leads["lead_variant"])
    for lead, sp2 in zip(pl["SNP"], pl["SP2"], strict=True):
        theirs = set() if sp2 == "NONE" else {s.split("(")[0] for s in sp2.split(",")}
        ours = leads.loc[leads["lead_variant"] == lead, "clumped_variants"].iloc[0]
        assert set(filter(None, ours.split(","))) == theirs
    # the QTL interval spans the clump and contains the lead
    for row in leads.itertuples(index=False):
        assert row.interval_start <= row.base_pair_location <= row.interval_end


def test_cli_end_to_end(panel):
    tmp, g, ph, _q = panel
    out = tmp / "cli"
    proc = subprocess.run(
        [
            sys.executable, "-m", "breedomics", "gwas", "run", "--geno", str(tmp / "g"),
            "--pheno", str(tmp / "pheno.tsv"), "--pcs", "2", "--model", "mlm-p3d",
            "--permutations", "50", "--threshold", "permutation", "--out", str(out),
        ],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = pd.read_csv(out / "summary.mlm-p3d.tsv", sep="\t")
    assert list(summary["trait"]) == ["trait1"]
    assert summary["threshold_method"].iloc[0] == "permutation"
    thr = pd.read_csv(out / "thresholds.mlm-p3d.tsv", sep="\t")
    assert set(thr["method"]) == {"bonferroni", "meff_li_ji", "meff_gao", "permutation"}
    bonf = thr.loc[thr["method"] == "bonferroni", "p_threshold"].iloc[0]
    assert bonf == pytest.approx(0.05 / summary["n_variants_tested"].iloc[0])
    for suffix in (".manhattan.png", ".qq.png", ".tsv.gz", ".tsv.gz.tbi", ".leads.tsv"):
        assert (out / f"trait1.mlm-p3d{suffix}").stat().st_size > 0
    with open(out / "trait1.mlm-p3d.tsv.gz-meta.yaml") as fh:
        meta = yaml.safe_load(fh)
    assert meta["model"] == "mlm-p3d" and meta["sample_size"] == len(g.samples)
    leads = pd.read_csv(out / "trait1.mlm-p3d.leads.tsv", sep="\t")
    assert summary["n_leads"].iloc[0] == len(leads) > 0
    assert (pd.read_csv(out / "pcs.tsv", sep="\t").columns == ["sample", "PC1", "PC2"]).all()
    assert "lambda=" in proc.stderr


def test_unsorted_genotypes_give_a_clear_error(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rng = np.random.default_rng(0)
        n = 50
        dos = rng.binomial(2, 0.5, size=(n, 4)).astype(np.float32)
        samples = [f"s{i}" for i in range(n)]
        var = pd.DataFrame(
            {"chrom": "1", "pos": [500, 100, 300, 200], "id": list("abcd"), "ref": "A"}
        ).assign(alt="G")
        write_bed(tmp_path / "g", var, [dos], samples)
        data = prepare(samples, pd.DataFrame({"y": rng.normal(size=n)}, index=samples))
        from breedomics.errors import UserError

        with pytest.raises(UserError, match="must be sorted"):
            scan(
                GenotypeSource(str(tmp_path / "g"), samples),
                data,
                tmp_path / "o",
                ScanConfig("glm"),
            )


def test_positions_beyond_tbi_range_get_a_csi_index(tmp_path):
    """Wheat-sized chromosomes (3B is ~830 Mb) exceed the 2^29 positions of a .tbi."""
    rng = np.random.default_rng(1)
    n = 60
    dos = rng.binomial(2, 0.4, size=(n, 5)).astype(np.float32)
    samples = [f"s{i}" for i in range(n)]
    pos = [1_000, 300_000_000, 536_870_911, 536_870_912, 829_000_000]
    var = pd.DataFrame({"chrom": "3B", "pos": pos, "id": list("abcde"), "ref": "A", "alt": "G"})
    write_bed(tmp_path / "g", var, [dos], samples)
    data = prepare(samples, pd.DataFrame({"y": rng.normal(size=n)}, index=samples))
    res = scan(
        GenotypeSource(str(tmp_path / "g"), samples), data, tmp_path / "o", ScanConfig("glm")
    )
    path = res[0].path
    assert (tmp_path / "o" / (path.split("/")[-1] + ".csi")).exists()
    assert not (tmp_path / "o" / (path.split("/")[-1] + ".tbi")).exists()
    tbx = pysam.TabixFile(path, index=path + ".csi")
    got = [r.split("\t")[9] for r in tbx.fetch("3B", 536_870_911, 829_000_000)]
    assert got == ["d", "e"]  # 0-based half-open query: positions 536,870,912 and 829,000,000


def test_cli_options_reach_the_library_options():
    """Every option of `gwas run` lands in the field of the same name (the CLI only parses):
    the model choices are the scan's models and non-default values arrive unchanged."""
    import argparse

    from breedomics.gwas.arguments import MODELS
    from breedomics.gwas.cli import add_arguments, run_options
    from breedomics.gwas.scan import MODEL_MODES

    assert list(MODELS) == list(MODEL_MODES)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = ["run", "--geno", "g", "--pheno", "p.tsv", "--out", "o", "--model", "farmcpu"]
    argv += ["--maf", "0.07", "--max-missing", "0.3", "--farmcpu-max-iter", "4", "--no-plots"]
    argv += ["--traits", "a, b", "--cache-mb", "2", "--threshold", "meff", "--meff-block", "50"]
    opts = run_options(parser.parse_args(argv))
    assert (opts.inputs.geno, opts.inputs.traits, opts.out) == ("g", ["a", "b"], "o")
    cfg = opts.scan
    assert (cfg.model, cfg.maf, cfg.max_missing, cfg.meff_block) == ("farmcpu", 0.07, 0.3, 50)
    assert cfg.cache_bytes == 2 << 20 and cfg.farmcpu.max_iter == 4
    assert cfg.farmcpu.qtn_threshold == 0.01 and cfg.farmcpu.p_threshold is None
    assert opts.report.threshold == "meff" and not opts.report.plots and opts.meff
