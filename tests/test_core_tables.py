"""One reader for lab tables (breedomics.core.tables): quirks read as the clean file, errors.

Every quirk of a phenotype/trial/sheet file as labs send it (CSV, BOM, CRLF, padded
ids, each missing-value code, gzip...) must give exactly the frame of the clean
tab-separated file, whose numbers are checked against the literal values written; every
bad file must stop with a message of at most five lines naming the file, line and column.
The messy soybean tables (scripts/make_messy_tables.py) must give GWAS and GS the numbers
of the clean panel files.
"""

from __future__ import annotations

import gzip
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from breedomics import sheets
from breedomics.cli import main
from breedomics.core.tables import (
    NA_VALUES,
    infer_types,
    read_matrix,
    read_phenotypes,
    read_table,
    to_numeric,
)
from breedomics.errors import UserError
from breedomics.gs import inputs as gs_inputs
from breedomics.gwas import phenotypes as gwas_pheno

ROOT = Path(__file__).resolve().parents[1]
PANEL = ROOT / "test-data" / "soybean" / "panel"
MESSY = ROOT / "test-data" / "soybean" / "messy"
sys.path.insert(0, str(ROOT / "scripts"))
import make_messy_tables  # noqa: E402

# the clean table: three samples, a missing yield, written as a lab would in a TSV
ROWS = [
    ["sample", "yield", "height"],
    ["A1", "1.5", "NA"],
    ["B2", "-2", "3.25"],
    ["C3", "4e1", "7"],
]
EXPECTED = pd.DataFrame(
    {"yield": [1.5, -2.0, 40.0], "height": [np.nan, 3.25, 7.0]},
    index=pd.Index(["A1", "B2", "C3"], name="sample"),
)


def _text(rows, sep="\t", eol="\n", pad=False, na="NA") -> str:
    out = []
    for row in rows:
        cells = [c if c != "NA" else na for c in row]
        if pad:
            cells = [f" {c}  " for c in cells]
        out.append(sep.join(cells))
    return eol.join(out) + eol


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_clean_table_gives_the_written_numbers(tmp_path):
    got = read_phenotypes(_write(tmp_path / "p.tsv", _text(ROWS)))
    pd.testing.assert_frame_equal(got, EXPECTED)
    assert got.index.tolist() == ["A1", "B2", "C3"] and got.dtypes.eq(np.float64).all()


QUIRKS = {
    "csv": ("p.csv", _text(ROWS, sep=",").encode()),
    "semicolon": ("p.csv", _text(ROWS, sep=";").encode()),
    "txt_tab": ("p.txt", _text(ROWS).encode()),
    "bom": ("p.tsv", b"\xef\xbb\xbf" + _text(ROWS).encode()),
    "crlf": ("p.tsv", _text(ROWS, eol="\r\n").encode()),
    "cr_only": ("p.tsv", _text(ROWS, eol="\r").encode()),
    "bom_crlf_csv": ("p.csv", b"\xef\xbb\xbf" + _text(ROWS, sep=",", eol="\r\n").encode()),
    "padded_ids_and_header": ("p.tsv", _text(ROWS, pad=True).encode()),
    "padded_csv": ("p.csv", _text(ROWS, sep=",", pad=True).encode()),
    "gz_tsv": ("p.tsv.gz", gzip.compress(_text(ROWS).encode())),
    "gz_csv_bom_crlf": (
        "p.csv.gz",
        gzip.compress(b"\xef\xbb\xbf" + _text(ROWS, ",", "\r\n").encode()),
    ),
    "gz_without_gz_name": ("p.tsv", gzip.compress(_text(ROWS).encode())),
    "utf16_excel_unicode_text": ("p.txt", _text(ROWS, eol="\r\n").encode("utf-16")),
    "blank_lines": ("p.tsv", _text(ROWS).replace("\nB2", "\n\n   \nB2").encode() + b"\n\n"),
    "excel_empty_trailing_column_and_row": (
        "p.csv",
        _text([[*r, ""] for r in ROWS], sep=",", eol="\r\n").encode() + b",,,\r\n",
    ),
    "quoted_cells": ("p.csv", _text([[f'"{c}"' for c in r] for r in ROWS], sep=",").encode()),
}


@pytest.mark.parametrize("name", sorted(QUIRKS))
def test_quirk_reads_as_the_clean_file(tmp_path, name):
    fname, data = QUIRKS[name]
    got = read_phenotypes(_write(tmp_path / fname, data))
    pd.testing.assert_frame_equal(got, EXPECTED)


@pytest.mark.parametrize("name", sorted(QUIRKS))
def test_matrix_reader_reads_every_quirk(tmp_path, name):
    fname, data = QUIRKS[name]
    pd.testing.assert_frame_equal(read_matrix(_write(tmp_path / fname, data)), EXPECTED)


@pytest.mark.parametrize("token", sorted(NA_VALUES | {" NA ", "  "}))
def test_every_missing_token_reads_as_missing(tmp_path, token):
    for sep in ("\t", ","):
        p = _write(tmp_path / f"p{ord(sep)}.txt", _text(ROWS, sep=sep, na=token))
        pd.testing.assert_frame_equal(read_phenotypes(p), EXPECTED)
    # the documented codes, at least
    assert {"NA", "-", ".", "", "nan"} <= NA_VALUES


def test_infer_types_and_matrix_fast_path_agree_with_the_literal_values(tmp_path):
    p = _write(tmp_path / "m.csv", b"\xef\xbb\xbf" + _text(ROWS, sep=",", eol="\r\n").encode())
    m = read_matrix(p)  # fast (pandas) path
    pd.testing.assert_frame_equal(m, EXPECTED)
    slow = _write(tmp_path / "s.csv", _text(ROWS, sep=",", pad=True))  # padded: checked path
    pd.testing.assert_frame_equal(read_matrix(slow), EXPECTED)
    rec = _write(tmp_path / "r.tsv", "plot\tblock\tenv\ty\nP1\t1\tE1\t2.5\nP2\t2\t-\tNA\n")
    t = infer_types(read_table(rec))
    assert t["block"].dtype == np.int64 and t["y"].dtype == np.float64
    assert t["env"].iloc[0] == "E1" and pd.isna(t["env"].iloc[1]) and np.isnan(t["y"].iloc[1])


# ---------------------------------------------------------------------------------- errors
def _error(fn, *needles: str) -> str:
    with pytest.raises(UserError) as exc:
        fn()
    msg = str(exc.value)
    assert 0 < len(msg.splitlines()) <= 5, msg
    for n in needles:
        assert n in msg, f"{n!r} not in {msg!r}"
    return msg


def test_duplicate_sample_id(tmp_path):
    p = _write(tmp_path / "dup.csv", "sample,y\r\nA,1\r\nB,2\r\nA ,3\r\n")
    _error(
        lambda: read_phenotypes(p),
        "dup.csv, line 4, column 'sample'",
        "'A' has more than one row",
        "also line 2",
        "keep one row per sample",
    )


def test_duplicated_column(tmp_path):
    p = _write(tmp_path / "dupcol.tsv", "sample\ty\th\t y \nA\t1\t2\t3\n")
    _error(
        lambda: read_phenotypes(p),
        "dupcol.tsv, line 1",
        "column 'y' appears twice (columns 2 and 4)",
        "rename or remove",
    )


def test_non_numeric_value_names_the_cell(tmp_path):
    p = _write(tmp_path / "nn.csv", "sample,yield,height\nA,1,2\nB,3,tall\nC,4,n.a.\n")
    _error(
        lambda: read_phenotypes(p),
        "nn.csv, line 3, column 'height'",
        "'tall'",
        "sample 'B'",
        "2 such value(s)",
        "write a number, or NA",
    )
    inf = _write(tmp_path / "inf.tsv", "sample\ty\nA\t1\nB\tinf\n")
    _error(lambda: read_phenotypes(inf), "inf.tsv, line 3, column 'y'", "infinite")


def test_plink_missing_code_apart_from_the_trait_reads_as_missing(tmp_path):
    """-9 (PLINK's missing phenotype) in a non-negative trait, or far below the others, is
    missing (with a warning naming the cell); among values spread around it, a value."""
    p = _write(
        tmp_path / "m9.tsv",
        "sample\tyield\tdays\tz\nA\t3.1\t-9\t-9\nB\t-9\t-1\t1.5\nC\t2.5\t1\t-3\nD\t4\t2\t0.5\n",
    )
    with pytest.warns(UserWarning) as caught:
        df = read_phenotypes(p)
    assert np.isnan(df.loc["B", "yield"]) and df["yield"].notna().sum() == 3
    # days: the others span -1..2 (range 3); -9 lies 8 below them: missing
    assert np.isnan(df.loc["A", "days"]) and df.loc["B", "days"] == -1
    # z: the others span -3..1.5 (range 4.5); -9 lies 6 below: still apart, missing
    assert np.isnan(df.loc["A", "z"])
    msgs = [str(w.message) for w in caught]
    assert any("m9.tsv, line 3, column 'yield' for sample 'B'" in m and "-9" in m for m in msgs)
    assert len(msgs) == 3, msgs
    # a centred trait whose values reach around -9: -9 is a value, no warning
    q = _write(tmp_path / "c.tsv", "sample\tt\nA\t-9\nB\t-4\nC\t2\nD\t1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_phenotypes(q).loc["A", "t"] == -9.0


@pytest.mark.parametrize("row, n", [("B,2", 2), ("B,2,3,4", 4)])
def test_ragged_row(tmp_path, row, n):
    p = _write(tmp_path / "rag.csv", f"sample,yield,height\nA,1,2\n{row}\nC,1,1\n")
    _error(
        lambda: read_phenotypes(p),
        f"rag.csv, line 3 has {n} fields but the header (line 1) has 3",
        "comma-separated",
        "separator",
    )


@pytest.mark.parametrize("content", ["", "\n\n", "\r\n  \r\n", ",,,\n"])
def test_empty_file(tmp_path, content):
    p = _write(tmp_path / "empty.tsv", content)
    _error(lambda: read_phenotypes(p), "empty.tsv", "is empty", "header line")


def test_id_column_missing(tmp_path):
    p = _write(tmp_path / "noid.csv", "Sample ID,yield\nA,1\n")
    _error(
        lambda: read_phenotypes(p),
        "noid.csv, line 1",
        "no sample id column 'sample'",
        "Sample ID",
        "name the column",
    )
    spaces = _write(tmp_path / "spaces.txt", "sample yield height\nA 1 2\n")
    _error(lambda: read_phenotypes(spaces), "spaces.txt, line 1", "not spaces")


def test_other_shape_errors(tmp_path):
    noname = _write(tmp_path / "noname.csv", "sample,,height\nA,1,2\n")
    _error(lambda: read_phenotypes(noname), "noname.csv, line 1, column 2", "empty column name")
    emptyid = _write(tmp_path / "emptyid.tsv", "sample\ty\nA\t1\n\t2\n")
    _error(lambda: read_phenotypes(emptyid), "emptyid.tsv, line 3, column 'sample'", "empty")
    latin = _write(tmp_path / "latin.csv", "sample,y\nA,1\nM\xfcller,2\n".encode("latin-1"))
    _error(lambda: read_phenotypes(latin), "latin.csv, line 3", "UTF-8")
    only = _write(tmp_path / "only.tsv", "sample\nA\n")
    _error(lambda: read_phenotypes(only), "only.tsv, line 1", "no column besides 'sample'")
    unknown = _write(tmp_path / "t.tsv", _text(ROWS))
    _error(lambda: read_phenotypes(unknown, ["weight"]), "t.tsv, line 1", "'weight'")
    _error(lambda: read_phenotypes(tmp_path / "nope.csv"), "nope.csv", "does not exist")
    bad = _write(tmp_path / "m.csv", "sample,m1,m2\nA,0,1\nB,2,x\n")
    _error(lambda: read_matrix(bad), "m.csv, line 3, column 'm2'", "'x'")


def test_workflow_checks_stop_at_a_bad_cell_before_any_job(tmp_path):
    ph = _write(tmp_path / "ph.csv", "sample,yield\r\nA,1\r\nB,1O5\r\nC,NA\r\n")
    _error(lambda: sheets.trait_names(ph), "ph.csv, line 3, column 'yield'", "'1O5'")
    cov = _write(tmp_path / "cov.csv", "sample,site,age\nA,north,1\nB,south,-\n")
    assert sheets.trait_names(cov, what="Covariate table") == ["site", "age"]
    tr = _write(tmp_path / "tr.tsv", "genotype\tenvironment\ty\nA\tE1\t1\nB\tE1\tx\n")
    design = {"genotype": "genotype", "environment": "environment"}
    _error(lambda: sheets.trial_traits(tr, design), "tr.tsv, line 3, column 'y'", "'x'")


def test_unmapped_layout_columns_are_not_traits(tmp_path):
    """A trial table's plot coordinates or blocks are never analysed as traits by default."""
    tr = _write(tmp_path / "t.csv", "genotype,environment,Row,col,yield\nA,E1,1,1,2.5\n")
    design = {"genotype": "genotype", "environment": "environment"}
    _error(lambda: sheets.trial_traits(tr, design), "t.csv', line 1", "'Row'", "gs.trial_columns")
    assert sheets.trial_traits(tr, design, traits=["yield"]) == ["yield"]
    assert sheets.trial_traits(tr, {**design, "row": "Row", "col": "col"}) == ["yield"]


def test_line_numbers_count_blank_lines(tmp_path):
    p = _write(tmp_path / "b.tsv", "sample\ty\n\nA\t1\n\n\nB\t?\n")
    _error(lambda: to_numeric(read_table(p, id_column="sample")), "b.tsv, line 6, column 'y'")


# ------------------------------------------------------------------- messy soybean tables
def test_messy_files_are_what_the_script_writes(tmp_path):
    written = make_messy_tables.write_messy_tables(PANEL, tmp_path)
    for p in written:
        assert p.read_bytes() == (MESSY / p.name).read_bytes(), p.name
    raw = (MESSY / "phenotypes.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw and b"  ," in raw


def test_gwas_and_gs_read_the_messy_phenotypes_as_the_clean_ones():
    clean, messy = PANEL / "phenotypes.tsv", MESSY / "phenotypes.csv"
    a, b = gwas_pheno.read_phenotypes(clean), gwas_pheno.read_phenotypes(messy)
    pd.testing.assert_frame_equal(a, b)
    assert a.isna().sum().sum() == 17 and len(a) == 272  # every NA code became missing
    (ga, ta), (gb, tb) = gs_inputs.read_phenotypes(clean), gs_inputs.read_phenotypes(messy)
    assert ta == tb == ["yield", "height"]
    pd.testing.assert_frame_equal(ga, gb)
    pd.testing.assert_frame_equal(ga, a)  # GWAS and GS read the same numbers
    assert sheets.trait_names(messy) == sheets.trait_names(clean) == ["yield", "height"]


def _clean_trials() -> pd.DataFrame:
    """``trials.tsv`` with the heights the messy file writes as missing set to NaN."""
    rec = pd.read_csv(PANEL / "trials.tsv", sep="\t")
    rec.loc[rec.index % make_messy_tables.MISSING_EVERY == 0, "height"] = np.nan
    return rec


def test_gs_reads_the_messy_trials_as_the_clean_ones(tmp_path):
    design = {"genotype": "genotype", "environment": "environment", "block": "block"}
    design.update(plot="plot", row="row", col="col")
    traits = sheets.trial_traits(MESSY / "trials.csv", design)
    assert traits == sheets.trial_traits(PANEL / "trials.tsv", design) == ["yield", "height"]
    got = infer_types(read_table(MESSY / "trials.csv", "trial records"), ["yield", "height"])
    want = _clean_trials()
    assert int(got["height"].isna().sum()) == int(want["height"].isna().sum()) >= 20
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want, check_dtype=False)
    # the BLUE stage of `breedomics gs blue` gives the same numbers from both files
    clean = tmp_path / "clean.tsv"
    want.to_csv(clean, sep="\t", index=False, na_rep="NA")
    outs = {}
    for name, rec in (("clean", clean), ("messy", MESSY / "trials.csv")):
        out = tmp_path / name
        argv = ["gs", "blue", "--records", str(rec), "--traits", "yield,height"]
        argv += ["--block-col", "block", "--id-col", "plot", "--out-dir", str(out)]
        assert main(argv) == 0
        outs[name] = out
    for f in ("blues.tsv", "varcomp.tsv", "residuals.tsv"):
        a = pd.read_csv(outs["clean"] / f, sep="\t")
        b = pd.read_csv(outs["messy"] / f, sep="\t")
        pd.testing.assert_frame_equal(a, b)
