"""Phenotype/covariate loading and validation (breedomics.gwas.phenotypes, CLI errors).

Every bad input must stop with a UserError that names the trait, sample or
covariate at fault; mismatched ids are reported, never silently dropped.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from breedomics.core.genotypes import write_bed
from breedomics.errors import UserError
from breedomics.gwas.phenotypes import (
    add_pcs,
    check_collinear,
    prepare,
    read_covariates,
    read_phenotypes,
)

GENO = [f"L{i:03d}" for i in range(40)]


def _write(path: Path, rows: list[list[str]]) -> Path:
    path.write_text("\n".join("\t".join(r) for r in rows) + "\n")
    return path


def _pheno(tmp_path: Path, values: dict[str, list[str]], samples=GENO, name="pheno.tsv"):
    cols = list(values)
    rows = [["sample", *cols]]
    for i, s in enumerate(samples):
        rows.append([s, *[values[c][i] for c in cols]])
    return _write(tmp_path / name, rows)


def _rng_values(seed: int, n: int = len(GENO)) -> list[str]:
    return [f"{v:.4f}" for v in np.random.default_rng(seed).normal(size=n)]


def test_reads_numbers_and_missing_tokens(tmp_path):
    vals = _rng_values(1)
    vals[3], vals[5], vals[7] = "NA", "", "."
    df = read_phenotypes(_pheno(tmp_path, {"yield": vals, "height": _rng_values(2)}))
    assert list(df.columns) == ["yield", "height"]
    assert df["yield"].isna().sum() == 3
    assert df.loc["L000", "yield"] == pytest.approx(float(vals[0]))


def test_non_numeric_trait_names_trait_sample_and_value(tmp_path):
    vals = _rng_values(1)
    vals[12] = "tall"
    with pytest.raises(UserError, match=r"trait 'height'.*'tall'.*sample 'L012'"):
        read_phenotypes(_pheno(tmp_path, {"yield": _rng_values(2), "height": vals}))


def test_infinite_value_rejected(tmp_path):
    vals = _rng_values(1)
    vals[4] = "inf"
    with pytest.raises(UserError, match=r"'yield' is infinite for sample 'L004'"):
        read_phenotypes(_pheno(tmp_path, {"yield": vals}))


def test_duplicated_sample_and_bad_header(tmp_path):
    p = _write(tmp_path / "p.tsv", [["sample", "y"], ["A", "1"], ["B", "2"], ["A", "3"]])
    with pytest.raises(UserError, match=r"sample 'A' has more than one row"):
        read_phenotypes(p)
    q = _write(tmp_path / "q.tsv", [["id", "y"], ["A", "1"]])
    with pytest.raises(
        UserError, match=r"q\.tsv, line 1: no sample id column 'sample' .*name the column"
    ):
        read_phenotypes(q)
    # pandas would silently rename the second 'y' to 'y.1' and analyse it as a trait
    d = _write(tmp_path / "d.tsv", [["sample", "y", "h", "y"], ["A", "1", "2", "3"]])
    with pytest.raises(UserError, match=r"column 'y' appears twice"):
        read_phenotypes(d)


def test_constant_and_all_missing_traits_named(tmp_path):
    ph = read_phenotypes(
        _pheno(tmp_path, {"ok": _rng_values(1), "flat": ["3.5"] * len(GENO)}, name="a.tsv")
    )
    with pytest.raises(UserError, match=r"trait 'flat' is constant \(3.5"):
        prepare(GENO, ph)
    ph = read_phenotypes(
        _pheno(tmp_path, {"ok": _rng_values(1), "empty": ["NA"] * len(GENO)}, name="b.tsv")
    )
    with pytest.raises(UserError, match=r"trait 'empty' has no observed value"):
        prepare(GENO, ph)


def test_trait_observed_only_in_ungenotyped_samples(tmp_path):
    samples = GENO + ["X1", "X2", "X3"]
    vals = ["NA"] * len(GENO) + ["1", "2", "3"]
    ph = read_phenotypes(
        _pheno(tmp_path, {"ok": _rng_values(1, len(samples)), "t": vals}, samples=samples)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UserError, match=r"trait 't' has no observed value"):
            prepare(GENO, ph, allow_unmatched=True)


def test_mismatched_ids_reported_not_dropped(tmp_path):
    samples = GENO[:30] + ["typo_L031", "ghost"]
    ph = read_phenotypes(_pheno(tmp_path, {"y": _rng_values(1, 32)}, samples=samples))
    msg = r"2 sample\(s\) of .* are not in the genotypes: 'typo_L031'"
    with pytest.raises(UserError, match=msg):
        prepare(GENO, ph, pheno_path="pheno.tsv")
    with pytest.warns(UserWarning) as rec:
        data = prepare(GENO, ph, pheno_path="pheno.tsv", allow_unmatched=True)
    msgs = " ".join(str(w.message) for w in rec)
    assert "typo_L031" in msgs and "10 genotyped sample(s) have no row in pheno.tsv" in msgs
    assert data.samples == GENO[:30]
    rep = data.report.set_index("sample")
    assert rep.loc["typo_L031", "reason"] == "phenotyped but not genotyped"
    assert rep.loc["L035", "reason"] == "genotyped but not phenotyped"
    assert not rep.loc["ghost", "analysed"] and rep.loc["L000", "analysed"]


def test_covariate_rows_missing_or_na(tmp_path):
    ph = read_phenotypes(_pheno(tmp_path, {"y": _rng_values(1)}))
    cv_rows = [["sample", "age"]] + [[s, str(i)] for i, s in enumerate(GENO[:-1])]
    cv = read_covariates(_write(tmp_path / "c.tsv", cv_rows))
    with pytest.raises(UserError, match=r"1 phenotyped sample\(s\) have no row in .*'L039'"):
        prepare(GENO, ph, cv)
    cv_rows = [["sample", "age"]] + [[s, "NA" if s == "L007" else "1.5"] for s in GENO]
    cv_rows[2][1] = "2"
    cv = read_covariates(_write(tmp_path / "d.tsv", cv_rows))
    with pytest.raises(UserError, match=r"missing covariate value, e.g. 'L007' for 'age'"):
        prepare(GENO, ph, cv, covar_path="d.tsv")


def test_collinear_covariates_detected_and_named(tmp_path):
    ph = read_phenotypes(_pheno(tmp_path, {"y": _rng_values(1)}))
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=len(GENO)), rng.normal(size=len(GENO))
    rows = [["sample", "a", "b", "a_plus_b"]] + [
        [s, f"{a[i]:.6f}", f"{b[i]:.6f}", f"{a[i] + 2 * b[i]:.6f}"] for i, s in enumerate(GENO)
    ]
    cv = read_covariates(_write(tmp_path / "c.tsv", rows))
    with pytest.raises(UserError, match=r"covariate 'a_plus_b' is collinear .* 'a', 'b'"):
        prepare(GENO, ph, cv, covar_path="c.tsv")
    # a constant covariate is collinear with the intercept
    rows = [["sample", "a", "const"]] + [[s, f"{a[i]:.6f}", "7"] for i, s in enumerate(GENO)]
    cv = read_covariates(_write(tmp_path / "k.tsv", rows))
    with pytest.raises(UserError, match=r"covariate 'const' is collinear .*'intercept'"):
        prepare(GENO, ph, cv)


def test_categorical_covariate_and_collinearity_within_trait(tmp_path):
    loc = ["A" if i < 20 else "B" for i in range(len(GENO))]
    y2 = _rng_values(2)
    y2 = [v if i < 20 else "NA" for i, v in enumerate(y2)]  # only observed at location A
    ph = read_phenotypes(_pheno(tmp_path, {"y": _rng_values(1), "y_locA": y2}))
    rows = [["sample", "location"]] + [[s, loc[i]] for i, s in enumerate(GENO)]
    cv = read_covariates(_write(tmp_path / "c.tsv", rows))
    assert list(cv.columns) == ["location=B"]
    with pytest.raises(UserError, match=r"observed for trait 'y_locA'.*'location=B'"):
        prepare(GENO, ph, cv)
    data = prepare(GENO, ph[["y"]], cv)
    assert list(data.covariates.columns) == ["intercept", "location=B"]
    dummy = data.covariates["location=B"].to_numpy()
    np.testing.assert_array_equal(dummy, np.r_[[0] * 20, [1] * 20])


def test_pcs_collinear_with_covariate_named(tmp_path):
    ph = read_phenotypes(_pheno(tmp_path, {"y": _rng_values(1)}))
    a = np.random.default_rng(5).normal(size=len(GENO))
    rows = [["sample", "a"]] + [[s, f"{a[i]:.8f}"] for i, s in enumerate(GENO)]
    data = prepare(GENO, ph, read_covariates(_write(tmp_path / "c.tsv", rows)))
    with pytest.raises(UserError, match=r"'PC2' is collinear"):
        add_pcs(data, np.column_stack([np.random.default_rng(6).normal(size=40), 3 * a - 1]))


def test_check_collinear_accepts_full_rank():
    x = np.column_stack([np.ones(50), np.random.default_rng(0).normal(size=(50, 4))])
    check_collinear(x, ["intercept", "a", "b", "c", "d"], "ctx")


def test_cli_reports_bad_input_and_exits_1(tmp_path):
    rng = np.random.default_rng(0)
    dos = rng.integers(0, 3, size=(len(GENO), 50)).astype(np.float32)
    var = pd.DataFrame(
        {
            "chrom": "1",
            "pos": np.arange(1, 51) * 1000,
            "id": [f"s{i}" for i in range(50)],
            "ref": "A",
            "alt": "G",
        }
    )
    write_bed(tmp_path / "g", var, [dos], GENO)
    vals = _rng_values(1)
    vals[9] = "n/a?"
    pheno = _pheno(tmp_path, {"yield": vals})
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "breedomics",
            "gwas",
            "run",
            "--geno",
            str(tmp_path / "g"),
            "--pheno",
            str(pheno),
            "--model",
            "glm",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "trait 'yield' has the non-numeric value 'n/a?' for sample 'L009'" in proc.stderr
    assert "Traceback" not in proc.stderr
