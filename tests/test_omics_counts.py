"""Expression from counts: TMM, median-of-ratios, GTEx filters, known covariates."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import gmean

from breedomics.errors import UserError
from breedomics.omics.features import (
    FeatureTable,
    QCOptions,
    prepare_dataset,
    read_feature_table,
    residualise,
)
from breedomics.omics.normalise import (
    CountOptions,
    deseq_size_factors,
    gtex_filters,
    normalise_counts,
    tmm_factors,
)


def _edger_tmm(counts: list[list[float]]) -> list[float]:
    """edgeR calcNormFactors(method="TMM") written out with plain loops (genes x samples)."""
    genes, samples = len(counts), len(counts[0])
    lib = [sum(counts[g][j] for g in range(genes)) for j in range(samples)]

    def quantile75(v):  # R type 7
        v = sorted(v)
        h = (len(v) - 1) * 0.75
        lo = math.floor(h)
        return v[lo] + (h - lo) * (v[min(lo + 1, len(v) - 1)] - v[lo])

    f75 = [quantile75([counts[g][j] / lib[j] for g in range(genes)]) for j in range(samples)]
    mean75 = sum(f75) / samples
    ref = min(range(samples), key=lambda j: abs(f75[j] - mean75))

    def avg_rank(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(v):
            k = i
            while k + 1 < len(v) and v[order[k + 1]] == v[order[i]]:
                k += 1
            for t in range(i, k + 1):
                r[order[t]] = (i + k) / 2 + 1
            i = k + 1
        return r

    factors = []
    for j in range(samples):
        m, a, w = [], [], []
        for g in range(genes):
            o, r = counts[g][j], counts[g][ref]
            if o == 0 or r == 0:
                continue
            m.append(math.log2((o / lib[j]) / (r / lib[ref])))
            a.append((math.log2(o / lib[j]) + math.log2(r / lib[ref])) / 2)
            w.append((lib[j] - o) / lib[j] / o + (lib[ref] - r) / lib[ref] / r)
        if max(abs(x) for x in m) < 1e-6:
            factors.append(1.0)
            continue
        n = len(m)
        lo_l = math.floor(n * 0.3) + 1
        hi_l = n + 1 - lo_l
        lo_s = math.floor(n * 0.05) + 1
        hi_s = n + 1 - lo_s
        rm, ra = avg_rank(m), avg_rank(a)
        num = den = 0.0
        for i in range(n):
            if lo_l <= rm[i] <= hi_l and lo_s <= ra[i] <= hi_s:
                num += m[i] / w[i]
                den += 1 / w[i]
        factors.append(2 ** (num / den))
    g = math.exp(sum(math.log(f) for f in factors) / samples)
    return [f / g for f in factors]


def test_tmm_matches_edger_formulas():
    rng = np.random.default_rng(1)
    mu = rng.lognormal(3, 1.2, 60)
    counts = np.column_stack([rng.poisson(mu * s) for s in (1.0, 1.7, 0.6, 1.2)]).astype(float)
    counts[:6, 1] *= 8  # composition shift in sample 2
    counts[10, 2] = 0
    ours = tmm_factors(counts)
    ref = _edger_tmm(counts.tolist())
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    assert abs(np.prod(ours) - 1) < 1e-12
    # an exact copy of a sample at another depth has the same (unweighted) factor
    dup = np.column_stack([counts, counts[:, 0] * 3])
    f = tmm_factors(dup, weighted=False)
    assert f[0] == pytest.approx(f[4], rel=1e-12)


def test_median_of_ratios_closed_form():
    rng = np.random.default_rng(2)
    counts = rng.poisson(rng.lognormal(3, 1, 40)[:, None] * [1, 2, 0.5, 1.5], (40, 4)).astype(float)
    counts[3, 1] = 0  # a gene with a zero is left out of the geometric means
    sf = deseq_size_factors(counts)
    use = (counts > 0).all(axis=1)
    geo = gmean(counts[use], axis=1)
    # DESeq2: exp of the median log ratio (with an even number of genes the two middle
    # ratios are averaged on the log scale)
    expect = np.exp(np.median(np.log(counts[use] / geo[:, None]), axis=0))
    odd = np.flatnonzero(use)[: (use.sum() // 2) * 2 - 1]
    sub = counts[odd]
    assert np.allclose(
        deseq_size_factors(sub), np.median(sub / gmean(sub, axis=1)[:, None], axis=0), rtol=1e-12
    )
    np.testing.assert_allclose(sf, expect, rtol=1e-12)
    with pytest.raises(UserError, match="every gene has a zero"):
        deseq_size_factors(np.array([[0.0, 1], [2, 0]]))


def test_composition_bias_recovered_better_than_cpm():
    rng = np.random.default_rng(3)
    n_genes, n = 2000, 40
    base = rng.lognormal(3, 1.5, n_genes)
    group = np.arange(n) % 2 == 1
    true = np.tile(base[:, None], (1, n)) * rng.lognormal(0, 0.1, (n_genes, n))
    true[:200, group] *= 10  # 10 % of genes 10x up in half the samples: composition bias
    depth = rng.uniform(0.5, 2.0, n) * 2e7
    lam = true / true.sum(axis=0) * depth
    counts = rng.poisson(lam).astype(float)
    ok = counts.mean(axis=1) >= 20

    def error(norm):
        d = np.log2(norm[ok]) - np.log2(true[ok])
        d = d - d.mean()
        return float(np.sqrt(np.mean(d**2)))

    with np.errstate(divide="ignore"):
        e_cpm = error(counts / counts.sum(axis=0))
        e_tmm = error(normalise_counts(counts, "tmm")[0])
        e_deseq = error(normalise_counts(counts, "deseq")[0])
    # CPM carries the composition shift (about log2(1.9) / 2 per sample), TMM/DESeq not
    assert e_tmm < 0.6 * e_cpm
    assert e_deseq < 0.6 * e_cpm
    assert e_cpm > 0.35


def test_gtex_filters_constructed_case():
    n = 10
    # genes (rows): A passes both; B short gene, high TPM but < 6 reads; C long gene,
    # many reads, TPM < 0.1; D passes both in exactly 2 of 10 samples (20 %): kept;
    # E passes in 1 of 10: removed. A filler gene sets the library.
    counts = np.zeros((6, n))
    counts[0] = 100
    counts[1] = 3
    counts[2] = 50
    counts[3] = [0] * 8 + [200, 200]
    counts[4] = [0] * 9 + [200]
    counts[5] = 1_000_000
    lengths = np.array([1000, 10, 2e6, 1000, 1000, 1000.0])
    keep, reasons = gtex_filters(counts, CountOptions(), lengths)
    assert keep.tolist() == [True, False, False, True, False, True]
    assert "few reads" in reasons[1] and "low expression" not in reasons[1]
    assert "TPM" in reasons[2] and "few reads" not in reasons[2]
    assert "low expression" in reasons[4] and "few reads" in reasons[4]
    # without lengths the expression filter is on CPM: gene C (50 reads of ~1e6) passes
    keep, reasons = gtex_filters(counts, CountOptions())
    assert keep.tolist() == [True, False, True, True, False, True]
    assert "CPM" in reasons[4]


def _write(tmp_path, name, df):
    p = tmp_path / name
    df.to_csv(p, sep="\t")
    return str(p)


def test_counts_prepare_and_known_covariate(tmp_path):
    rng = np.random.default_rng(4)
    n, m = 60, 80
    samples = [f"s{i}" for i in range(n)]
    sex = np.where(np.arange(n) % 2 == 0, "F", "M")
    rin = rng.normal(7, 1, n)
    signal = rng.normal(0, 1, (n, m))
    sign = np.where(np.arange(m) % 2 == 0, 1.0, -1.0)  # gene-specific: not a library effect
    log_expr = (
        5 + 0.5 * signal + 1.5 * sign * (sex == "M")[:, None] + 0.8 * sign * (rin - 7)[:, None]
    )
    counts = rng.poisson(np.exp(log_expr) * rng.uniform(0.5, 2, n)[:, None])
    counts[:, 0] = 0  # never expressed: removed by the filters
    table = pd.DataFrame(counts, index=pd.Index(samples, name="sample"))
    table.columns = [f"g{j}" for j in range(m)]
    path = _write(tmp_path, "counts.tsv", table)
    cov = pd.DataFrame({"sex": sex, "rin": rin}, index=pd.Index(samples, name="sample"))
    cov_path = _write(tmp_path, "cov.tsv", cov)
    ft = read_feature_table(path)
    prep = prepare_dataset(
        ft, samples, QCOptions(), n_factors=2, counts=CountOptions("tmm"), covariates=cov_path
    )
    feats = prep.features.set_index("feature_id")
    assert feats.loc["g0", "status"] == "removed" and "few reads" in feats.loc["g0", "reason"]
    assert prep.phenotypes.shape == (n, m - 1)
    assert list(prep.covariates.columns[:2]) == ["sex=M", "rin"]
    assert prep.samples["norm_factor"].notna().all()
    # inverse-normal per gene: every column is normal scores
    col = prep.phenotypes.iloc[:, 1].to_numpy()
    assert abs(col.mean()) < 1e-9
    # the planted sex and RIN effects, removed by regressing the covariates table out
    y = prep.phenotypes.to_numpy()
    male = (sex == "M").astype(float)
    r_before = np.mean([abs(np.corrcoef(male, y[:, j])[0, 1]) for j in range(y.shape[1])])
    res = residualise(y, prep.covariates.to_numpy())
    r_after = np.mean([abs(np.corrcoef(male, res[:, j])[0, 1]) for j in range(y.shape[1])])
    r_rin = np.mean([abs(np.corrcoef(rin, res[:, j])[0, 1]) for j in range(y.shape[1])])
    assert r_before > 0.5 and r_after < 1e-8 and r_rin < 1e-8
    truth = np.mean([abs(np.corrcoef(signal[:, j], res[:, j - 1])[0, 1]) for j in range(1, m)])
    naive = np.mean([abs(np.corrcoef(signal[:, j], y[:, j - 1])[0, 1]) for j in range(1, m)])
    assert truth > naive + 0.2
    # hidden factors do not duplicate the known covariates
    hf = prep.covariates[["HF1", "HF2"]].to_numpy()
    assert np.abs(np.corrcoef(np.column_stack([male, hf]).T)[0, 1:]).max() < 1e-6


def test_bad_counts_and_covariates(tmp_path):
    samples = [f"s{i}" for i in range(12)]
    good = pd.DataFrame(
        np.arange(36).reshape(12, 3) + 10, index=pd.Index(samples, name="sample")
    ).set_axis(["a", "b", "c"], axis=1)
    for value, what in [(-3, "is negative"), (2.5, "is not a whole number")]:
        bad = good.astype(float)
        bad.iloc[4, 1] = value
        path = _write(tmp_path, "bad.tsv", bad)
        with pytest.raises(UserError, match=rf"bad.tsv: line 6, sample 's4', feature 'b'.*{what}"):
            prepare_dataset(
                read_feature_table(path), samples, QCOptions(), n_factors=0, counts=CountOptions()
            )
    cov = pd.DataFrame({"batch": ["x", "y"] * 5}, index=pd.Index(samples[:10], name="sample"))
    cov_path = _write(tmp_path, "cov.tsv", cov)
    path = _write(tmp_path, "good.tsv", good)
    with pytest.raises(
        UserError, match=r"cov.tsv: 2 analysed sample\(s\) have no row.*'s10'.*add a row"
    ):
        prepare_dataset(
            read_feature_table(path),
            samples,
            QCOptions(),
            n_factors=0,
            counts=CountOptions(),
            covariates=cov_path,
        )
    ft = FeatureTable(good.astype(float), None, "x.tsv")
    with pytest.raises(UserError, match="min_tpm and min_reads"):
        prepare_dataset(
            ft, samples, QCOptions(min_expression=1.0), n_factors=0, counts=CountOptions()
        )
