"""The one phenotype/covariate reading (breedomics.core.phenotypes) and its users.

GWAS, genomic selection and the workflow's input checks read the same table to
the same numbers, with one missing-value rule; every error names the file,
line, trait or sample at fault.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from breedomics import sheets
from breedomics.core import phenotypes as ph
from breedomics.core.genotypes import read_samples
from breedomics.errors import UserError
from breedomics.gs import inputs as gs_inputs
from breedomics.gwas import phenotypes as gwas_pheno

ROWS = [
    ["sample", "yield", "height", "family"],
    ["A", "1.5", "NA", "f1"],
    ["B", "2.5", "10", "f1"],
    ["C", "", "11.5", "f2"],
    ["D", "4", "-", "f2"],
    ["E", "0.5", "12", "."],
]


def _write(path: Path, rows: list[list[str]], sep: str = "\t") -> Path:
    path.write_text("\n".join(sep.join(r) for r in rows) + "\n")
    return path


def test_traits_by_name_or_first_column_and_the_missing_value_rule(tmp_path):
    p = _write(tmp_path / "p.tsv", ROWS)
    df, traits = ph.read_traits(p, id_column=0, keep_text=True)
    assert traits == ["yield", "height"]  # the text column is not a default trait
    assert df.index.tolist() == ["A", "B", "C", "D", "E"]
    np.testing.assert_array_equal(df["yield"].to_numpy(), [1.5, 2.5, np.nan, 4, 0.5])
    np.testing.assert_array_equal(df["height"].to_numpy(), [np.nan, 10, 11.5, np.nan, 12])
    assert df["family"].isna().tolist() == [False] * 4 + [True]
    # GWAS reads by the 'sample' column and refuses the text column as a trait
    with pytest.raises(UserError, match=r"p\.tsv, line 2, column 'family'.*'f1'.*sample 'A'"):
        ph.read_traits(p)
    only, names = ph.read_traits(p, ["height", "yield"])
    assert names == ["height", "yield"] and list(only.columns) == names
    pd.testing.assert_frame_equal(only[["yield"]], df[["yield"]], check_names=False)
    assert ph.read_traits(p, id_column=0, keep_text=True, exclude=["height"])[1] == ["yield"]
    with pytest.raises(UserError, match=r"trait 'weight' is not a column"):
        ph.read_traits(p, ["weight"])


def test_gwas_gs_and_the_workflow_read_one_table_alike(tmp_path):
    """The workflow hands the GWAS phenotype table to GS: same ids, same numbers."""
    p = _write(tmp_path / "p.csv", [r[:3] for r in ROWS], sep=",")
    a = gwas_pheno.read_phenotypes(p)
    b, traits = gs_inputs.read_phenotypes(p)
    assert traits == ["yield", "height"] == sheets.trait_names(p)
    pd.testing.assert_frame_equal(a, b[traits], check_names=False)
    # a BLUE table has its id in a column named 'sample_id': GS takes the first column
    q = _write(tmp_path / "blues.tsv", [["sample_id", *ROWS[0][1:3]], *[r[:3] for r in ROWS[1:]]])
    c, _ = gs_inputs.read_phenotypes(q)
    np.testing.assert_array_equal(c.to_numpy(), b[traits].to_numpy())


def test_covariates_categorical_and_dummy_columns(tmp_path):
    rows = [["sample", "site", "batch", "age"]] + [
        [s, site, batch, age]
        for s, site, batch, age in zip("ABCDEF", ["n", "s", "n", "w", "NA", "s"],
                                       ["1", "2", "1", "3", "2", "2"],
                                       ["3", "4", "5", "NA", "6", "7"], strict=True)
    ]  # fmt: skip
    p = _write(tmp_path / "c.tsv", rows)
    cov = ph.read_covariates(p, categorical=["batch"])
    assert pd.api.types.is_numeric_dtype(cov["age"]) and np.isnan(cov.loc["D", "age"])
    assert cov["batch"].tolist() == ["1", "2", "1", "3", "2", "2"]
    d = ph.dummy_columns(cov["site"], p)
    assert list(d.columns) == ["site=s", "site=w"]  # first sorted level 'n' dropped
    np.testing.assert_array_equal(d["site=s"].to_numpy(), [0, 1, 0, 0, np.nan, 1])
    np.testing.assert_array_equal(d["site=w"].to_numpy(), [0, 0, 0, 1, np.nan, 0])
    # GWAS codes categorical covariates with the same columns
    g = gwas_pheno.read_covariates(p)
    pd.testing.assert_frame_equal(g[["site=s", "site=w"]], d)
    with pytest.raises(UserError, match="single level 'x'"):
        ph.dummy_columns(pd.Series(["x", "x", None], name="lot"), p)
    with pytest.raises(UserError, match="--categorical column 'lot' is not in"):
        ph.read_covariates(p, categorical=["lot"])


@pytest.mark.parametrize(
    ("y", "kw", "message"),
    [
        ([np.nan, np.nan], {}, "trait 'h' has no observed value"),
        ([1.0, 2.0, np.nan], {}, "only 2 non-missing value.*at least 3"),
        ([1.0, 2.0, 3.0, 4.0], {"n_fixed": 2}, "4 non-missing.* 2 fixed effects; at least 5"),
        ([3.5] * 6, {}, r"trait 'h' is constant \(3.5 in all 6"),
        ([1e6, 1e6 + 1e-7, 1e6], {}, "is constant"),  # range below 1e-12 relative
    ],
)
def test_check_trait_names_trait_and_reason(y, kw, message):
    with pytest.raises(UserError, match=message):
        ph.check_trait(np.array(y), "h", "p.tsv", **kw)


def test_check_trait_accepts_enough_varying_values():
    ph.check_trait(np.array([1.0, np.nan, 2.0, 2.5]), "h", "p.tsv")
    ph.check_trait(np.arange(5.0), "h", "p.tsv", n_fixed=2)


def test_match_samples_splits_in_table_order_and_names_both_id_sets():
    kept, dropped = ph.match_samples(["c", "x", "a"], ["a", "b", "c"], "p.tsv", "g.vcf")
    assert kept == ["c", "a"] and dropped == ["x"]
    with pytest.raises(UserError, match=r"no sample of p\.tsv is in g\.vcf.*'x'.*'a'"):
        ph.match_samples(["x", "y"], ["a", "b"], "p.tsv", "g.vcf")


def test_ids_that_match_only_apart_from_case_or_spaces_stop_even_when_others_match():
    """A lab's table with some ids written 'PI 548300' or 'pi548300' for the VCF's
    'PI548300': the rest match, so nothing else would stop, and those samples would be
    analysed as missing; the check names them, their genotype ids and the fix."""
    geno = ["PI548300", "PI548301", "Williams_82", "A1"]
    with pytest.raises(UserError) as err:
        ph.match_samples(["A1", "PI 548300", "pi548301", "Williams 82"], geno, "p.csv", "g.vcf")
    msg = str(err.value)
    assert msg.startswith("p.csv: 3 sample id(s)")
    assert "'PI 548300' ('PI548300' in g.vcf)" in msg and "exactly as in the genotype" in msg
    # ids that are plainly not genotyped, or that the table also has exactly, pass
    kept, dropped = ph.match_samples(["A1", "X9", "PI548300", "pi548300"], geno[:1] + ["A1"])
    assert kept == ["A1", "PI548300"] and dropped == ["X9", "pi548300"]
    # the GWAS reads its tables through the same check (the workflow passes
    # --allow-unmatched, which would otherwise drop them with a warning only)
    from breedomics.gwas.phenotypes import prepare

    pheno = pd.DataFrame({"y": [1.0, 2.0, 3.0]}, index=["A1", "PI 548300", "PI548301"])
    with pytest.raises(UserError, match=r"pheno\.csv: 1 sample id"):
        prepare(geno, pheno, pheno_path="pheno.csv", allow_unmatched=True)


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not on PATH")
def test_plink_fid_iid_vcf_ids_get_a_hint(tmp_path):
    """plink2 --export vcf names samples FID_IID; a phenotype table keyed by the IIDs
    matches none of them, and the error says why and how to export."""
    prefix = tmp_path / "d"
    subprocess.run(["plink2", "--dummy", "4", "20", "0.01", "--seed", "1", "--make-bed",
                    "--out", str(prefix)], check=True, capture_output=True)  # fmt: skip
    fam = [line.split() for line in prefix.with_suffix(".fam").read_text().splitlines()]
    prefix.with_suffix(".fam").write_text(
        "".join(f"FAM{k} S{k} {' '.join(f[2:])}\n" for k, f in enumerate(fam))
    )
    subprocess.run(["plink2", "--bfile", str(prefix), "--export", "vcf", "--out",
                    str(prefix)], check=True, capture_output=True)  # fmt: skip
    vcf_ids = read_samples(str(prefix) + ".vcf")
    assert vcf_ids == [f"FAM{k}_S{k}" for k in range(4)]
    with pytest.raises(UserError, match=r"FID_IID.*id-paste=iid"):
        ph.match_samples([f"S{k}" for k in range(4)], vcf_ids, "p.tsv", "d.vcf")
    with pytest.raises(UserError, match=r"upper/lower case"):
        ph.match_samples(["s0", "s1"], ["S0", "S1"], "p.tsv", "d.vcf")
    with pytest.raises(UserError) as plain:
        ph.match_samples(["x", "y"], ["a", "b"], "p.tsv", "d.vcf")
    assert "FID_IID" not in str(plain.value) and "case" not in str(plain.value)
    # the workflow's first check (genotype samples against the sample sheet) says it too
    from breedomics import validate

    sheet = tmp_path / "samples.tsv"
    sheet.write_text("sample\tspecies\tgroup\n" + "".join(f"S{k}\tsoybean\tA\n" for k in range(4)))
    cfg = {"genotypes": {"source": "vcf", "enabled": True, "path": str(prefix) + ".vcf",
                         "samples": str(sheet)}}  # fmt: skip
    with pytest.raises(UserError, match=r"not in the sample sheet.*FID_IID.*id-paste=iid"):
        validate._check_genotypes(cfg, has_reads=False, schema_dir=None)
