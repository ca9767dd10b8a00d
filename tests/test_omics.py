"""Molecular-trait QTL library: feature tables, QC, INT, hidden factors, q-values, summaries.

The statistics are checked against closed forms (INT, pi0 of a constructed mixture, the
q-value recursion worked by hand) and simulation (uniform p -> pi0 ~ 1); the hidden-factor
step against the simulated expression data of the soybean panel (batch factors, trans
hotspots: test-data/soybean/panel/expression.*, scripts/make_test_data.py --omics-only).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from breedomics.errors import UserError
from breedomics.omics import qvalue
from breedomics.omics.features import (
    QCOptions,
    check_dataset_name,
    hidden_factors,
    inverse_normal,
    log2_transform,
    prepare_dataset,
    qc_features,
    read_feature_table,
)
from breedomics.omics.summarise import SummaryOptions, classify, find_hotspots, sidak

PANEL = Path(__file__).resolve().parents[1] / "test-data" / "soybean" / "panel"


# --- inverse normal transformation --------------------------------------------------


def test_inverse_normal_matches_blom_closed_form_with_ties_and_missing():
    x = np.array([[3.0], [1.0], [2.0], [2.0], [np.nan], [10.0]])
    got = inverse_normal(x)[:, 0]
    # observed n = 5; ranks 4, 1, 2.5, 2.5, -, 5 (the tied 2.0s share 2.5)
    ranks = np.array([4, 1, 2.5, 2.5, 5])
    want = stats.norm.ppf((ranks - 3 / 8) / (5 - 2 * 3 / 8 + 1))
    np.testing.assert_allclose(got[[0, 1, 2, 3, 5]], want, rtol=1e-12)
    assert np.isnan(got[4])
    assert got[2] == got[3]


def test_inverse_normal_is_symmetric_and_column_wise():
    rng = np.random.default_rng(3)
    x = np.column_stack([rng.exponential(size=101), rng.normal(size=101) * 1e6])
    y = inverse_normal(x)
    for j in range(2):
        np.testing.assert_allclose(np.sort(y[:, j]), -np.sort(y[:, j])[::-1], atol=1e-12)
        assert abs(y[:, j].mean()) < 1e-12
        # order preserved
        assert (np.argsort(y[:, j]) == np.argsort(x[:, j])).all()
    # rankit offset (c = 1/2): the median of 3 values maps to 0, the others to +-Phi^-1(5/6)
    np.testing.assert_allclose(
        inverse_normal(np.array([[5.0], [1.0], [2.0]]), c=0.5)[:, 0],
        [stats.norm.ppf(5 / 6), stats.norm.ppf(1 / 6), 0.0],
        atol=1e-12,
    )


def test_log2_transform_and_its_error_names_feature_and_sample():
    df = pd.DataFrame({"a": [0.0, 1.0, 3.0]}, index=["s1", "s2", "s3"])
    np.testing.assert_allclose(log2_transform(df, 1.0)[:, 0], [0.0, 1.0, 2.0])
    with pytest.raises(UserError, match=r"feature 'a'.*-2.*sample 's2'"):
        log2_transform(pd.DataFrame({"a": [0.0, -2.0]}, index=["s1", "s2"]), 1.0)


# --- q-values (Storey & Tibshirani 2003) --------------------------------------------


def test_qvalues_by_hand_fixed_lambda():
    p = np.array([0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.6, 0.9])
    # pi0(0.5) = #{p > 0.5} / (8 * 0.5) = 2 / 4
    assert qvalue.pi0_storey(p, lambdas=0.5) == 0.5
    # q_i = min_{j >= i} pi0 m p_j / j: 0.5*8*0.006/6 = 0.004 for the first six
    q = qvalue.qvalues(p, pi0=0.5)
    np.testing.assert_allclose(q, [0.004] * 6 + [0.5 * 8 * 0.6 / 7, 0.5 * 8 * 0.9 / 8])
    # shuffled input, NaN kept, ties share the largest rank
    order = np.array([7, 2, 5, 0, 6, 1, 4, 3])
    np.testing.assert_allclose(qvalue.qvalues(p[order], pi0=0.5), q[order])
    q2 = qvalue.qvalues(np.array([0.01, 0.01, np.nan, 0.5]), pi0=1.0)
    np.testing.assert_allclose(q2[[0, 1, 3]], [0.01 * 3 / 2, 0.01 * 3 / 2, 0.5])
    assert np.isnan(q2[2])


def test_qvalues_with_pi0_one_are_benjamini_hochberg():
    rng = np.random.default_rng(7)
    p = np.r_[rng.uniform(0, 1e-3, 30), rng.uniform(size=170)]
    m = len(p)
    o = np.argsort(p)
    bh = np.empty(m)
    running = 1.0
    for k in range(m - 1, -1, -1):  # the textbook step-up loop
        running = min(running, p[o[k]] * m / (k + 1))
        bh[o[k]] = running
    np.testing.assert_allclose(qvalue.qvalues(p, pi0=1.0), bh, rtol=1e-12)


def test_pi0_exact_for_a_constructed_mixture():
    # 30 % of p-values at 1e-6, the rest an exact uniform grid: pi0(lambda) = 0.7 at
    # every lambda of the grid, and a cubic smoothing spline reproduces a constant
    m, a = 2000, 0.3
    null = (np.arange(int((1 - a) * m)) + 0.5) / ((1 - a) * m)
    p = np.r_[np.full(int(a * m), 1e-6), null]
    np.testing.assert_allclose(qvalue.pi0_lambda(p), 0.7, atol=1e-12)
    assert qvalue.pi0_storey(p) == pytest.approx(0.7, abs=1e-8)


def test_smoothing_spline_has_three_df_and_keeps_lines():
    lam = qvalue.LAMBDAS
    line = 0.9 - 0.2 * lam
    np.testing.assert_allclose(qvalue._smooth_df(lam, line, 3.0), line, atol=1e-8)
    # trace of the smoother = df: smoothing each unit vector and summing the diagonal
    eye = np.eye(len(lam))
    tr = sum(qvalue._smooth_df(lam, eye[i], 3.0)[i] for i in range(len(lam)))
    assert tr == pytest.approx(3.0, abs=1e-6)


def test_pi0_of_uniform_p_values_is_near_one_and_of_mixtures_near_truth():
    rng = np.random.default_rng(2003)
    uni = [qvalue.pi0_storey(rng.uniform(size=3000)) for _ in range(40)]
    assert 0.95 <= np.mean(uni) <= 1.0
    assert min(uni) > 0.85
    mix = []
    for _ in range(40):
        alt = rng.beta(0.05, 1.0, 600)  # strong signals near 0
        mix.append(qvalue.pi0_storey(np.r_[alt, rng.uniform(size=2400)]))
    assert np.mean(mix) == pytest.approx(0.8, abs=0.03)
    # FDR control: q <= 0.1 calls among nulls are rare
    fdp = []
    for _ in range(40):
        p = np.r_[rng.beta(0.05, 1.0, 300), rng.uniform(size=2700)]
        sig = qvalue.qvalues(p) <= 0.1
        fdp.append(sig[300:].sum() / max(sig.sum(), 1))
    assert np.mean(fdp) <= 0.12


def test_sidak_adjustment():
    assert sidak(-np.log10(0.01), 1) == pytest.approx(0.01)
    assert sidak(-np.log10(0.01), 10) == pytest.approx(1 - 0.99**10)
    assert sidak(50.0, 1000) == pytest.approx(1e-47)
    assert np.isnan(sidak(np.nan, 10))


# --- feature tables and their errors -------------------------------------------------


def _write(path: Path, text: str, gz: bool = False) -> Path:
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def test_read_bed_and_matrix_tables(tmp_path):
    bed = _write(
        tmp_path / "e.bed.gz",
        "#chr\tstart\tend\tfeature_id\tA\tB\tC\n1\t99\t100\tg1\t1\t2\t3\n2\t5\t6\tg2\t4\tNA\t6\n",
        gz=True,
    )
    t = read_feature_table(bed)
    assert list(t.values.columns) == ["g1", "g2"] and list(t.values.index) == ["A", "B", "C"]
    assert np.isnan(t.values.loc["B", "g2"])
    assert t.positions.loc["g2"].tolist() == ["2", 5, 6]
    mat = _write(tmp_path / "m.tsv", "sample\tm1\tm2\nA\t1.5\t.\nB\t2\t3\n")
    t = read_feature_table(mat)
    assert t.positions is None and t.values.shape == (2, 2)
    pq = tmp_path / "m.parquet"
    pd.DataFrame({"sample": ["A", "B"], "m1": [1.0, None]}).to_parquet(pq)
    t = read_feature_table(pq)
    assert t.values.loc["A", "m1"] == 1.0 and np.isnan(t.values.loc["B", "m1"])


@pytest.mark.parametrize(
    "text, match",
    [
        (
            "#chr\tstart\tend\tfeature_id\tA\tB\n1\t0\t1\tg1\t1\t2\n1\t5\t6\tg1\t3\t4\n",
            r"e\.bed: feature id 'g1' appears twice \(line 2 and line 3\)",
        ),
        (
            "#chr\tstart\tend\tfeature_id\tA\tB\n1\t0\t1\tg1\t1\t2\n1\t5\t6\tg2\t3\tx7\n",
            r"e\.bed: line 3, feature 'g2', sample 'B' has the non-numeric value 'x7'",
        ),
        (
            "#chr\tstart\tend\tfeature_id\tA\tB\n1\t10\t10\tg1\t1\t2\n",
            r"line 2 \(feature 'g1'\) has start 10 and end 10",
        ),
        (
            "#chr\tstart\tend\tfeature_id\tA\tA\n1\t0\t1\tg1\t1\t2\n",
            r"e\.bed, line 1: column 'A' appears twice \(columns 5 and 6",
        ),
    ],
)
def test_bed_errors_name_file_line_feature(tmp_path, text, match):
    with pytest.raises(UserError, match=match):
        read_feature_table(_write(tmp_path / "e.bed", text))


def test_matrix_errors_name_file_line_feature(tmp_path):
    dup = _write(tmp_path / "m.tsv", "sample\tm1\tm1\nA\t1\t2\n")
    with pytest.raises(
        UserError, match=r"m\.tsv, line 1: column 'm1' appears twice \(columns 2 and 3"
    ):
        read_feature_table(dup)
    bad = _write(tmp_path / "m2.tsv", "sample\tm1\tm2\nA\t1\t2\nB\t3\tlow\n")
    with pytest.raises(UserError, match=r"line 3, sample 'B', feature 'm2'.*'low'"):
        read_feature_table(bad)
    with pytest.raises(UserError, match="does not exist"):
        read_feature_table(tmp_path / "nope.tsv")


def test_no_overlapping_samples_and_name_clash(tmp_path):
    t = read_feature_table(_write(tmp_path / "m.tsv", "sample\tm1\nX1\t1\nX2\t2\n"))
    with pytest.raises(UserError, match=r"no sample of .*m\.tsv is in the genotypes"):
        prepare_dataset(t, ["S1", "S2"], QCOptions(), n_factors=0)
    t = read_feature_table(_write(tmp_path / "c.tsv", "sample\tm/1\tm_1\nS1\t1\t2\nS2\t2\t1\n"))
    with pytest.raises(UserError, match=r"'m/1' and 'm_1' both map to the file name 'm_1'"):
        prepare_dataset(t, ["S1", "S2"], QCOptions(min_observed=1), n_factors=0)


def test_feature_chromosomes_must_match_the_genotypes():
    from breedomics.omics.features import check_feature_chromosomes, genotype_chromosomes

    geno = genotype_chromosomes(str(PANEL / "genotypes.vcf.gz"))
    assert {"1", "10"} <= geno
    pos = pd.DataFrame({"chrom": ["chr1", "chr2"]}, index=["g1", "g2"])
    with pytest.raises(UserError, match=r"e\.bed: no feature chromosome .*'chr1' vs '1'"):
        check_feature_chromosomes(pos, geno, "e.bed", "geno.vcf.gz")
    pos = pd.DataFrame({"chrom": ["1", "scaffold_9"]}, index=["g1", "g2"])
    assert check_feature_chromosomes(pos, geno, "e.bed", "geno.vcf.gz") == ["g2"]


@pytest.mark.parametrize("name", ["bad name", "../x", "1abc", "a;rm", ""])
def test_unsafe_dataset_names_are_refused(name):
    with pytest.raises(UserError, match="not a safe identifier"):
        check_dataset_name(name)
    assert check_dataset_name("expression_v2.1") == "expression_v2.1"


def test_qc_gives_every_reason():
    rng = np.random.default_rng(1)
    n = 40
    df = pd.DataFrame(
        {
            "ok": rng.normal(5, 1, n),
            "constant": np.ones(n),
            "missing": np.where(np.arange(n) < 20, np.nan, rng.normal(size=n)),
            "low": np.where(np.arange(n) < 36, 0.0, 1.0),
        }
    )
    r = qc_features(df, QCOptions(max_missing=0.2, min_expression=0.1))
    assert r.loc["ok", "status"] == "kept" and r.loc["ok", "reason"] == ""
    assert r.loc["constant", "reason"] == "zero variance"
    assert r.loc["missing", "reason"].startswith("missing in 0.5 of samples (> 0.2)")
    assert "low expression: 0.1 of samples above 0.1 (< 0.2)" in r.loc["low", "reason"]
    assert (r.loc[["constant", "missing", "low"], "status"] == "removed").all()


def test_hidden_factors_recover_planted_factors_with_missing_values():
    rng = np.random.default_rng(5)
    n, m = 200, 150
    f = rng.normal(size=(n, 2))
    x = f @ rng.normal(size=(2, m)) * 2 + rng.normal(size=(n, m))
    x[rng.random((n, m)) < 0.05] = np.nan
    hf, ev = hidden_factors(x, 3)
    assert hf.shape == (n, 3) and np.allclose(hf.std(axis=0), 1)
    # the planted factors lie in the span of the first two hidden factors
    beta, *_ = np.linalg.lstsq(np.c_[np.ones(n), hf[:, :2]], f, rcond=None)
    resid = f - np.c_[np.ones(n), hf[:, :2]] @ beta
    assert (1 - resid.var(axis=0) / f.var(axis=0)).min() > 0.95
    assert ev[0] > ev[2] * 5
    with pytest.raises(UserError, match="fewer factors"):
        hidden_factors(x[:3], 3)


# --- summaries ------------------------------------------------------------------------


def test_classify_and_hotspots():
    o = SummaryOptions(cis_window=1000, trans_distance=5000)
    assert classify(True, 999, o) == "cis" and classify(True, -3000, o) == "distal"
    assert classify(True, 6000, o) == "trans" and classify(False, 0, o) == "trans"
    leads = pd.DataFrame(
        {
            "feature_id": [f"g{i}" for i in range(6)] + ["h1", "h2"],
            "variant_id": ["v1"] * 4 + ["v2", "v1", "w", "z"],
            "chromosome": ["3"] * 6 + ["1", "5"],
            "base_pair_location": [100, 100, 100, 100, 900, 100, 5000, 777],
            "neg_log_10_p_value": [10, 12, 9, 8, 7, 11, 20, 6],
        }
    )
    hs, label = find_hotspots(leads, genome_span=1e7, window=1000, min_features=5)
    assert len(hs) == 1
    h = hs.iloc[0]
    assert (h["chromosome"], h["start"], h["end"], h["n_features"]) == ("3", 100, 900, 6)
    assert h["top_variant"] == "v1" and h["top_variant_features"] == 5
    # 8 features spread over 1e7 bp: 8 * 1800 / 1e7 expected in the window
    assert h["expected_features"] == pytest.approx(8 * 1800 / 1e7)
    assert h["poisson_p"] == pytest.approx(stats.poisson.sf(5, 8 * 1800 / 1e7))
    assert list(label) == ["hotspot1"] * 6 + ["", ""]


# --- on the simulated expression data of the soybean panel ---------------------------


@pytest.fixture(scope="module")
def expression():
    if not (PANEL / "expression.bed.gz").exists():
        pytest.skip("test-data/soybean/panel/expression.bed.gz missing: run make_test_data.py")
    from breedomics.core import genotypes as gt

    table = read_feature_table(PANEL / "expression.bed.gz")
    truth = pd.read_csv(PANEL / "expression.truth.tsv", sep="\t").set_index("feature_id")
    var, dos = gt.read_dosage(PANEL / "genotypes.vcf.gz")
    return (
        table,
        truth,
        var.reset_index(drop=True),
        dos,
        gt.read_samples(PANEL / "genotypes.vcf.gz"),
    )


def _cis_calls(prep, var, dos, geno_samples, truth, window=250_000):
    """Cis q-values of every gene with the GWAS engine's least squares (library call)."""
    from breedomics.core.standardise import impute_center
    from breedomics.gwas.lmm import AssocSet

    rows = [geno_samples.index(s) for s in prep.phenotypes.index]
    z, mean, _ = impute_center(dos[rows].astype(np.float64))
    keep = np.minimum(mean / 2, 1 - mean / 2) >= 0.01
    z, v = z[:, keep], var[keep].reset_index(drop=True)
    y = prep.phenotypes.to_numpy()
    w = np.c_[np.ones(len(rows)), prep.covariates.to_numpy()]
    res = AssocSet.build(list(prep.phenotypes.columns), np.arange(len(rows)), w, y, "glm").test(z)
    chrom, pos = v["chrom"].astype(str).to_numpy(), v["pos"].to_numpy()
    padj = []
    for t, r in zip(prep.phenotypes.columns, res, strict=True):
        g = truth.loc[t]
        cis = (chrom == str(g["chrom"])) & (np.abs(pos - g["tss"]) <= window)
        padj.append(sidak(float(np.nanmax(r.nlog10p[cis])), int(cis.sum())))
    q = qvalue.qvalues(np.array(padj))
    return pd.DataFrame({"q": q, "padj": padj}, index=prep.phenotypes.columns)


def _hotspot_nlog10p(prep, var, dos, geno_samples, truth):
    """-log10 p of every trans target at its hotspot SNP (GWAS engine, least squares)."""
    from breedomics.core.standardise import impute_center
    from breedomics.gwas.lmm import AssocSet

    rows = [geno_samples.index(s) for s in prep.phenotypes.index]
    targets = truth[truth["qtl_type"] == "trans"]
    out = {}
    for snp, grp in targets.groupby("variant_id"):
        z, _m, _n = impute_center(dos[rows][:, var["id"].to_numpy() == snp].astype(float))
        y = prep.phenotypes[grp.index].to_numpy()
        w = np.c_[np.ones(len(rows)), prep.covariates.to_numpy()]
        res = AssocSet.build(list(grp.index), np.arange(len(rows)), w, y, "glm").test(z)
        out.update({t: r.nlog10p[0] for t, r in zip(grp.index, res, strict=True)})
    return pd.Series(out)


def test_hidden_factors_raise_cis_power_and_spare_hotspots(expression):
    table, truth, var, dos, geno_samples = expression
    qc = QCOptions(min_expression=0.1)
    geno = str(PANEL / "genotypes.vcf.gz")
    with_hf = prepare_dataset(table, geno_samples, qc, n_factors=5, geno_path=geno, geno_scan=True)
    without = prepare_dataset(table, geno_samples, qc, n_factors=0, geno_path=geno)
    # the 4 planted QC failures are removed, with their reasons
    removed = with_hf.features.set_index("feature_id").query("status == 'removed'")
    assert set(removed.index) == set(truth.index[truth["qc"] != "pass"])
    for f, r in removed["reason"].items():
        assert ("zero variance" if truth.loc[f, "qc"] == "zero_variance" else "low expression") in r
    # samples on one side only are reported
    s = with_hf.samples.set_index("sample")
    assert s.loc[["NOTGENOTYPED1", "NOTGENOTYPED2"], "reason"].eq("not genotyped").all()
    assert (s["reason"] == "no feature data").sum() == 10
    # the two factors carrying the trans hotspots are found and left out
    fac = with_hf.factors
    genetic = fac[fac["genetic"]]
    hot = truth[truth["qtl_type"] == "trans"].drop_duplicates("hotspot")
    assert set(genetic["lead_variant"]) == set(hot["variant_id"])
    assert list(with_hf.covariates.columns) == list(fac.loc[fac["used"], "factor"])
    # cis power with the batch factors removed vs without
    is_cis = truth["qtl_type"] == "cis"
    power, strength = {}, {}
    for label, prep in (("with", with_hf), ("without", without)):
        c = _cis_calls(prep, var, dos, geno_samples, truth)
        c = c[is_cis[c.index].to_numpy()]
        power[label] = (c["q"] <= 0.05).mean()
        strength[label] = -np.log10(c["padj"].clip(lower=1e-300))
    # measured: 0.99 with, 0.88 without; the planted batch factors hold 30-60 % of the
    # variance, so removing them raises every cis signal
    assert power["with"] >= 0.9
    assert power["with"] >= power["without"] + 0.07, power
    gain = strength["with"] - strength["without"]
    assert (gain > 0).mean() >= 0.85 and gain.median() > 1.0
    # keeping the genetic factors as covariates would wipe out the trans hotspots
    kept_all = prepare_dataset(table, geno_samples, qc, n_factors=5, geno_path=geno)
    assert kept_all.covariates.shape[1] == 5
    nl = {}
    for label, prep in (("used", with_hf), ("all", kept_all)):
        nl[label] = _hotspot_nlog10p(prep, var, dos, geno_samples, truth)
    # measured: median -log10 p of the 30 targets 32 with the used factors (batch removed),
    # 15 without any factor, 2 with all five
    assert nl["used"].median() > 20 and nl["all"].median() < 4, nl
    assert nl["used"].median() > 5 * nl["all"].median()


def test_cis_meff_counts_independent_and_duplicated_variants(tmp_path):
    from breedomics.core import genotypes as gt
    from breedomics.omics.summarise import cis_meff

    rng = np.random.default_rng(11)
    n = 300
    indep = rng.binomial(2, 0.4, size=(n, 20)).astype(float)
    dup = np.repeat(rng.binomial(2, 0.3, size=(n, 1)), 10, axis=1).astype(float)
    dos = np.c_[indep, dup]
    var = pd.DataFrame(
        {
            "chrom": ["1"] * 30,
            "pos": np.arange(1, 31) * 100,
            "id": [f"v{i}" for i in range(30)],
            "ref": ["A"] * 30,
            "alt": ["G"] * 30,
        }
    )
    prefix = gt.write_bed(tmp_path / "g", var, [dos], [f"s{i}" for i in range(n)])
    ids = var["id"].to_numpy()
    m = cis_meff(prefix, [("1", ids[:20]), ("1", ids[20:]), ("1", ids[:0]), ("1", ids)], 300)
    # 20 independent SNPs: Gao's M_eff (99.5 % of the eigenvalue sum) is nearly 20;
    # 10 copies of one SNP count once; blocks of 7 add up block by block
    assert 18 <= m[0] <= 20 and m[1] == 1 and m[2] == 0 and 19 <= m[3] <= 21
    blocks = cis_meff(prefix, [("1", ids[20:])], 7)
    assert blocks[0] == 2  # two blocks of copies: 1 + 1


def test_cli_prepare_map_summarise_with_p3d(tmp_path, capsys):
    """The three commands end to end on a small simulated set, with the P3D mixed model."""
    from breedomics.cli import main
    from breedomics.core import genotypes as gt

    rng = np.random.default_rng(2024)
    n, m = 150, 400
    samples = [f"S{i:03d}" for i in range(n)]
    dos = rng.binomial(1, rng.uniform(0.1, 0.5, m), size=(n, m)).astype(float) * 2
    var = pd.DataFrame(
        {
            "chrom": ["1"] * (m // 2) + ["2"] * (m // 2),
            "pos": np.r_[np.arange(m // 2), np.arange(m // 2)] * 10_000 + 1_000,
            "id": [f"v{i}" for i in range(m)],
            "ref": ["A"] * m,
            "alt": ["G"] * m,
        }
    )
    geno = gt.write_bed(tmp_path / "geno", var, [dos], samples)
    n_genes = 24
    chrom = np.array(["1"] * 12 + ["2"] * 12)
    tss = np.tile(np.arange(12) * 150_000 + 50_000, 2)
    batch = rng.normal(size=(n, 2))
    y = batch @ rng.normal(size=(2, n_genes)) + rng.normal(size=(n, n_genes))
    causal = {}
    for j in (0, 5, 17):  # cis-eQTL at the SNP nearest the TSS
        on = np.flatnonzero(var["chrom"].to_numpy() == chrom[j])
        snp = on[np.argmin(np.abs(var["pos"].to_numpy()[on] - tss[j]))]
        y[:, j] += 1.2 * (dos[:, snp] - dos[:, snp].mean())
        causal[f"g{j:02d}"] = var["id"][snp]
    lines = ["#chr\tstart\tend\tfeature_id\t" + "\t".join(samples[:-5] + ["X1"])]
    for j in range(n_genes):
        vals = "\t".join(f"{v:.5g}" for v in np.r_[y[:-5, j], 1.0])
        lines.append(f"{chrom[j]}\t{tss[j] - 1}\t{tss[j]}\tg{j:02d}\t{vals}")
    bed = _write(tmp_path / "expr.bed.gz", "\n".join(lines) + "\n", gz=True)
    out = tmp_path / "out"
    assert main(["omics", "prepare", "--features", str(bed), "--geno", geno,
                 "--hidden-factors", "2", "--out", str(out)]) == 0  # fmt: skip
    cov = pd.read_csv(out / "covariates.tsv", sep="\t")
    assert list(cov.columns) == ["sample", "HF1", "HF2"] and len(cov) == n - 5
    smp = pd.read_csv(out / "samples.tsv", sep="\t").set_index("sample")
    assert smp.loc["X1", "reason"] == "not genotyped"
    assert (smp["reason"] == "no feature data").sum() == 5
    assert main(["gwas", "run", "--geno", geno, "--pheno", str(out / "phenotypes.tsv"),
                 "--covar", str(out / "covariates.tsv"), "--pcs", "1", "--model", "mlm-p3d",
                 "--no-plots", "--no-meff", "--allow-unmatched",
                 "--out", str(out / "qtl")]) == 0  # fmt: skip
    assert main(["omics", "summarise", "--features", str(out / "features.tsv"),
                 "--qtl-dir", str(out / "qtl"), "--model", "mlm-p3d", "--cis-window", "100000",
                 "--cis-correction", "meff", "--geno", geno, "--hotspot-min-features", "2",
                 "--out", str(out)]) == 0  # fmt: skip
    cis = pd.read_csv(out / "cis.tsv", sep="\t").set_index("feature_id")
    sig = cis.index[cis["significant"]]
    assert set(sig) == set(causal)
    assert (cis.loc[list(causal), "variant_id"] == pd.Series(causal)).all()
    assert (cis["n_cis_tests"] <= cis["n_cis_variants"]).all()
    summary = pd.read_csv(out / "summary.tsv", sep="\t")
    assert summary.loc[0, "model"] == "mlm-p3d" and summary.loc[0, "n_cis_features"] == 3
    wrong = ["omics", "summarise", "--features", str(out / "features.tsv"), "--model", "glm",
             "--qtl-dir", str(out / "qtl"), "--out", str(out / "x")]  # fmt: skip
    assert main(wrong) == 1
    assert "g00.glm.tsv.gz is missing" in capsys.readouterr().err
