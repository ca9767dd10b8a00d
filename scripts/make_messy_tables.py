"""Phenotype and trial files as labs send them: the messy tables of ``test-data/soybean/messy/``.

Derived from the simulated soybean panel (``test-data/soybean/panel/phenotypes.tsv`` and
``trials.tsv``) and holding the same values, written back the way spreadsheets and LIMS
exports write them:

* comma-separated, UTF-8 with a byte-order mark, Windows (CRLF) line endings;
* spaces around header names and ids (``" GMG1_007  "``), a row of quoted cells;
* missing values written as ``NA``, ``-``, ``.``, an empty cell, ``nan`` and `` NA ``;
* a blank line and a spreadsheet's empty trailing column (``,`` at the end of each line).

``phenotypes.csv`` keeps every value of ``phenotypes.tsv`` (its ``NA`` cells cycle through
the missing-value codes). ``trials.csv`` has no missing record in the clean file, so every
``MISSING_EVERY``-th plot's ``height`` is written as a missing code: the clean equivalent
is ``trials.tsv`` with those cells set to missing. The readers of GWAS and GS must give
the same numbers from these files as from the clean ones (``tests/test_core_tables.py``).

    .venv/bin/python scripts/make_messy_tables.py [--panel test-data/soybean/panel]
        [--outdir test-data/soybean/messy]
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

#: Codes written for a missing value, used in turn.
MISSING_CODES = ("NA", "-", "", ".", "nan", " NA ")
#: Every this-many-th plot of ``trials.tsv`` gets a missing ``height`` in ``trials.csv``.
MISSING_EVERY = 97


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return [row for row in csv.reader(fh, delimiter="\t") if row]


def _pad(value: str, k: int) -> str:
    """Spaces around every 5th id (trailing), every 7th (leading) -- as typed by hand."""
    if k % 5 == 0:
        value = value + "  "
    if k % 7 == 0:
        value = " " + value
    return value


def _write_messy(rows: list[list[str]], path: Path, blank_after: int) -> None:
    """CSV, BOM, CRLF, padded header, trailing empty column, one blank line."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    quoted = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    header = [f" {c} " if j else c for j, c in enumerate(rows[0])]
    w.writerow([*header, ""])
    for k, row in enumerate(rows[1:]):
        (quoted if k == 2 else w).writerow([*row, ""])  # one row quoted as some tools do
        if k == blank_after:
            buf.write("\r\n")
    text = buf.getvalue()
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))


def messy_phenotypes(clean: Path) -> list[list[str]]:
    """Rows of the messy phenotype table: same values, padded ids, mixed missing codes."""
    rows = _rows(clean)
    out = [rows[0]]
    n_missing = 0
    for k, row in enumerate(rows[1:]):
        cells = [_pad(row[0], k + 1)]
        for v in row[1:]:
            if v == "NA":
                v = MISSING_CODES[n_missing % len(MISSING_CODES)]
                n_missing += 1
            cells.append(v)
        out.append(cells)
    return out


def messy_trials(clean: Path) -> list[list[str]]:
    """Rows of the messy trial table: padded plot and genotype ids, some heights missing."""
    rows = _rows(clean)
    header = rows[0]
    g, h = header.index("genotype"), header.index("height")
    out = [header]
    for k, row in enumerate(rows[1:]):
        cells = list(row)
        cells[0] = _pad(cells[0], k + 3)
        cells[g] = _pad(cells[g], k + 1)
        if k % MISSING_EVERY == 0:
            cells[h] = MISSING_CODES[(k // MISSING_EVERY) % len(MISSING_CODES)]
        out.append(cells)
    return out


def write_messy_tables(panel: Path, outdir: Path) -> list[Path]:
    """Write ``phenotypes.csv`` and ``trials.csv`` into ``outdir``; return their paths."""
    outdir.mkdir(parents=True, exist_ok=True)
    ph, tr = outdir / "phenotypes.csv", outdir / "trials.csv"
    _write_messy(messy_phenotypes(panel / "phenotypes.tsv"), ph, blank_after=10)
    _write_messy(messy_trials(panel / "trials.tsv"), tr, blank_after=100)
    return [ph, tr]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--panel", type=Path, default=Path("test-data/soybean/panel"))
    ap.add_argument("--outdir", type=Path, default=Path("test-data/soybean/messy"))
    args = ap.parse_args(argv)
    for p in write_messy_tables(args.panel, args.outdir):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
