"""Metabolome drift correction (breedomics.omics.drift) on a simulated LC-MS run.

The simulation: 240 genotyped samples in 3 batches, a pooled QC every 10 injections,
two blanks per batch; per feature and batch a multiplicative drift along injection
order (a random quadratic on the log scale) and a batch offset; 10 % of each
feature's sample values below its detection limit; blank-only features (a
contaminant as high in the blanks as in the samples); planted mQTL.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from breedomics.errors import UserError
from breedomics.omics import drift, qvalue
from breedomics.omics.features import read_feature_table, transform
from breedomics.omics.summarise import sidak

N, M, SNPS, BATCHES = 240, 80, 400, 3
MQTL = np.arange(10)  # features with a planted mQTL (SNP j*20)
BLANK_ONLY = np.arange(M - 4, M)


def _simulate(seed: int = 7):
    rng = np.random.default_rng(seed)
    maf = rng.uniform(0.15, 0.5, SNPS)
    geno = rng.binomial(2, maf, size=(N, SNPS)).astype(float)
    level = rng.uniform(12, 18, M)
    modules = rng.normal(size=(N, 3)) @ rng.normal(0, 0.3, size=(3, M))
    bio = level + modules + rng.normal(0, 0.4, size=(N, M))
    for j in MQTL:
        g = geno[:, j * 20]
        bio[:, j] += 0.6 * (g - g.mean())
    # below detection: the lowest 10 % of each feature's sample values
    limit = np.quantile(bio, 0.1, axis=0)
    pool = level + modules.mean(0)
    rows, names, sheet = [], [], []
    samples = [f"S{i:03d}" for i in range(N)]
    per = np.array_split(np.arange(N), BATCHES)
    for b, idx in enumerate(per):
        seq = ["blank", "qc"]
        for k, i in enumerate(idx):
            seq.append(i)
            if k % 9 == 8:
                seq.append("qc")
        seq += ["qc", "blank"]
        t = np.linspace(0, 1, len(seq))
        slope, curve = rng.normal(0, 0.7, M), rng.normal(0, 0.6, M)
        offset = rng.normal(0, 0.8, M)
        nq = nb = 0
        for o, what in enumerate(seq):
            d = offset + slope * t[o] + curve * (t[o] - 0.5) ** 2
            tech = rng.normal(0, 0.08, M)
            if what == "qc":
                nq += 1
                name, kind, v = f"QC_b{b}_{nq}", "qc", pool + d + tech
            elif what == "blank":
                nb += 1
                name, kind = f"BLANK_b{b}_{nb}", "blank"
                v = np.full(M, np.nan)
                v[BLANK_ONLY] = level[BLANK_ONLY] + tech[BLANK_ONLY]
            else:
                name, kind = samples[what], "sample"
                v = bio[what] + d + tech
                v[bio[what] < limit] = np.nan
            if kind != "blank":
                v[BLANK_ONLY] = level[BLANK_ONLY] + tech[BLANK_ONLY] + rng.normal(0, 0.05)
            rows.append(2.0**v)
            names.append(name)
            sheet.append((name, f"B{b + 1}", o + 1, kind))
    feats = [f"m{j:03d}" for j in range(M)]
    table = pd.DataFrame(np.array(rows), index=names, columns=feats)
    table.index.name = "sample"
    return table, pd.DataFrame(sheet, columns=list(drift.SHEET_COLUMNS)), geno, samples


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    d = tmp_path_factory.mktemp("drift")
    table, sheet, geno, samples = _simulate()
    table.to_csv(d / "raw.tsv", sep="\t", na_rep="NA")
    sheet.to_csv(d / "injections.tsv", sep="\t", index=False)
    raw = read_feature_table(d / "raw.tsv")
    inj = drift.match_injections(raw, drift.read_injections(d / "injections.tsv"), "sheet")
    res = drift.prepare_metabolites(raw, inj, drift.DriftOptions())
    return d, res, geno, samples


def test_batch_r2_is_the_one_way_anova_r2():
    from scipy import stats

    rng = np.random.default_rng(1)
    batch = np.repeat(["a", "b", "c"], 20)
    x = rng.normal(size=60) + np.repeat([0.0, 1.0, -0.5], 20)
    groups = [x[batch == b] for b in "abc"]
    f = stats.f_oneway(*groups).statistic
    # R2 = F (k-1) / (F (k-1) + n - k)
    assert drift.batch_r2(x[:, None], batch)[0] == pytest.approx(2 * f / (2 * f + 57))


def test_loess_reproduces_lines_and_its_loo_is_exact():
    x = np.arange(1.0, 12.0)
    s = drift.loess_matrix(x, np.array([0.0, 3.5, 20.0]), 0.5)
    assert s @ (2 * x + 1) == pytest.approx([3.0, 8.0, 23.0])  # clipped to [1, 11]
    loo = drift._loo_matrix(x, 0.7)
    y = np.sin(x)
    assert loo[4] @ y == pytest.approx(
        drift.loess_matrix(np.delete(x, 4), x[4:5], 0.7)[0] @ np.delete(y, 4)
    )


def test_drift_and_batches_are_removed(simulated):
    _, res, _, _ = simulated
    rep = res.report.set_index("feature_id")
    kept = rep[rep["status"] == "kept"]
    # measured: 0.51 before, 0.0135 after (chance alone: 2 / 239 = 0.008)
    assert res.summary["batch_r2_before"] > 0.2
    assert res.summary["batch_r2_after"] < 0.02, res.summary
    # measured: median QC RSD 0.47 before, 0.041 after, at most 0.063
    assert (kept["qc_rsd_after"] < 0.15).mean() >= 0.9
    assert (kept["qc_rsd_before"] > kept["qc_rsd_after"]).mean() >= 0.9
    # blank-only features removed for their blank ratio, every other feature kept
    blank = [f"m{j:03d}" for j in BLANK_ONLY]
    assert rep.loc[blank, "reason"].str.contains("blank ratio").all()
    assert set(kept.index) == set(rep.index) - set(blank)
    # below-detection missing values are recognised as such (measured: 75 of 76 features)
    assert (kept["imputation"] == "half_min").mean() >= 0.8, kept["imputation"].value_counts()
    assert not res.table.isna().any().any() and len(res.table) == N


def test_planted_mqtl_are_found(simulated):
    from breedomics.core.standardise import impute_center
    from breedomics.gwas.lmm import AssocSet

    _, res, geno, samples = simulated
    assert list(res.table.index) == samples
    y = transform(res.table, "log2").to_numpy()
    z, _, _ = impute_center(geno)
    out = AssocSet.build(list(res.table.columns), np.arange(N), np.ones((N, 1)), y, "glm").test(z)
    padj = np.array([sidak(float(r.nlog10p.max()), SNPS) for r in out])
    q = qvalue.qvalues(padj)
    planted = np.isin(res.table.columns, [f"m{j:03d}" for j in MQTL])
    # measured: power 1.0, no false positive
    assert (q[planted] <= 0.05).mean() >= 0.9
    assert (q[~planted] <= 0.05).sum() <= 1
    for j, r in zip(res.table.columns[planted], np.array(out, dtype=object)[planted], strict=True):
        assert np.argmax(r.nlog10p) == int(j[1:]) * 20


def test_cli_writes_table_report_and_plot(simulated, tmp_path):
    from breedomics.cli import main

    d, _, _, _ = simulated
    out = tmp_path / "out"
    rc = main(["omics", "prepare-metabolites", "--features", str(d / "raw.tsv"), "--injections",
               str(d / "injections.tsv"), "--out", str(out)])  # fmt: skip
    assert rc == 0
    table = read_feature_table(out / "corrected.tsv")
    assert table.values.shape == (N, M - len(BLANK_ONLY))
    rep = pd.read_csv(out / "drift_report.tsv", sep="\t")
    assert {"qc_rsd_before", "qc_rsd_after", "imputation", "reason"} <= set(rep.columns)
    assert (out / "drift.png").stat().st_size > 10_000


def _write(tmp_path, sheet_text, table_text="sample\tm1\nA\t1\nQ\t2\n"):
    (tmp_path / "t.tsv").write_text(table_text)
    (tmp_path / "s.tsv").write_text(sheet_text)
    t = read_feature_table(tmp_path / "t.tsv")
    return drift.match_injections(t, drift.read_injections(tmp_path / "s.tsv"), "s.tsv")


@pytest.mark.parametrize(
    ("sheet", "match"),
    [
        ("sample\tbatch\torder\ttype\nA\t1\t1\tsample\nQ\t1\t2\tqc\nX\t1\t3\tsample\n",
         r"s.tsv: line 4 names the injection 'X', which is not a row"),
        ("sample\tbatch\torder\ttype\nA\t1\t1\tsample\nZ\t1\t2\tqc\n",
         r"line 3 has the injection 'Q', which the injection sheet"),
        ("sample\tbatch\torder\ttype\nA\t1\tNA\tsample\nQ\t1\t2\tqc\n",
         r"line 2 \(injection 'A'\) has the injection order 'NA'.*whole number"),
        ("sample\tbatch\torder\ttype\nA\t1\t1\tsample\nQ\t2\t2\tqc\n",
         r"batch '1' \(lines 2-2\) has no QC injection"),
        ("sample\tbatch\torder\ttype\nA\t1\t1\tpool\nQ\t1\t2\tqc\n",
         r"line 2 .* type 'pool'; use one of sample, qc, blank"),
        ("sample\tbatch\torder\nA\t1\t1\nQ\t1\t2\n", r"needs the columns .*missing type"),
        ("sample\tbatch\torder\ttype\nA\t1\t2\tsample\nQ\t1\t2\tqc\n",
         r"lines 2 and 3 have the same injection order 2"),
    ],
)  # fmt: skip
def test_bad_sheets_name_file_line_and_fix(tmp_path, sheet, match):
    with pytest.raises(UserError, match=match):
        _write(tmp_path, sheet)


def test_rule_is_planned_when_injections_are_set(tmp_path):
    from conftest import copy_panel, panel_config, run_workflow

    panel = copy_panel(tmp_path, "metabolites.tsv")
    table, sheet, _, _ = _simulate()
    table.to_csv(panel / "raw.tsv", sep="\t", na_rep="NA")
    sheet.to_csv(panel / "injections.tsv", sep="\t", index=False)
    ds = {
        "path": str(panel / "raw.tsv"),
        "injections": str(panel / "injections.tsv"),
        "transform": "log2",
        "hidden_factors": 2,
        "qc_rsd_max": 0.2,
        "missing": "knn",
    }
    cfg = panel_config(
        panel,
        genotypes={"impute": "mean"},
        census={"enabled": False},
        gwas={"enabled": False},
        gs={"enabled": False},
        omics={"enabled": True, "model": "glm", "datasets": {"met": ds}},
        report={"enabled": False},
    )
    text = run_workflow(tmp_path / "run", cfg, extra=["-n", "-p"], check=True).stdout
    job = text[text.index("rule prepare_metabolites:") :].split("\nrule ")[0]
    assert "--qc-rsd-max 0.2" in job and "--missing knn" in job
    assert "results/omics/met/drift/corrected.tsv" in job
    prep = text[text.index("rule prepare_omics:") :].split("\nrule ")[0]
    assert "--features results/omics/met/drift/corrected.tsv" in prep
