"""One reader for the tables labs send: phenotypes, covariates, trial records, sheets.

Phenotype and covariate tables, plot-level trial records and the sample and
unit sheets arrive as exported from spreadsheets and LIMS, so every stage
(census, GWAS, genomic selection, omics, the workflow's input checks) reads
them through :func:`read_table` and gets the same treatment of their quirks:

* tab-, comma- or semicolon-separated, sniffed from the header line (a
  single-column header falls back to the extension: ``.csv`` is comma,
  anything else tab); quoted fields as written by spreadsheets;
* plain or gzipped (detected from the content, whatever the extension);
* a UTF-8 byte-order mark, or UTF-16 with its byte-order mark (Excel's
  "Unicode text"); Windows (CRLF) or old Mac (CR) line endings;
* spaces around ids, header names and values are removed; blank lines and
  the empty trailing columns and rows spreadsheets append are ignored;
* ``NA``, ``-``, ``.``, an empty cell, ``nan`` and the other strings of
  :data:`NA_VALUES` mean "missing" in numeric columns.

Everything else that is wrong stops the reading with a
:class:`~breedomics.errors.UserError` of a few lines naming the file, the line
and the column and saying how to fix it: an empty file, an empty or
duplicated column name, a row with more or fewer fields than the header, a
missing id column, an empty or repeated id, a non-numeric or infinite value in
a numeric column, text that is not UTF-8.

:func:`read_table` returns the cells as stripped strings (sheets validate
them against their schemas); :func:`to_numeric` and :func:`infer_types` turn
columns into numbers, and :func:`read_phenotypes` reads a per-sample table of
traits or covariates (ids as a ``str`` index, ``float64`` columns).
:func:`read_matrix` is the fast path for large all-numeric samples x features
matrices (dosages, metabolites) with the same rules.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import warnings
import zlib
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from breedomics.errors import UserError

__all__ = [
    "NA_VALUES",
    "read_text",
    "sniff_separator",
    "read_table",
    "is_missing",
    "stop_at_first_cell",
    "rows_for",
    "to_numeric",
    "infer_types",
    "read_phenotypes",
    "read_matrix",
]

#: Cell values meaning "missing" in a numeric column (after stripping spaces).
NA_VALUES = frozenset(
    {"", "NA", "na", "N/A", "n/a", "NaN", "nan", ".", "-", "NULL", "null", "None", "#N/A"}
)

_GZIP_MAGIC = b"\x1f\x8b"
_SEP_NAMES = {"\t": "tab", ",": "comma", ";": "semicolon"}
_MISSING_HINT = "NA (or -, ., an empty cell) for missing"


class _Slow(Exception):
    """The fast path of :func:`read_matrix` cannot vouch for the file."""


def read_text(path: str | os.PathLike, what: str = "table") -> str:
    """Decode a plain or gzipped text file (UTF-8 with or without BOM, or UTF-16).

    Parameters
    ----------
    path : str or path-like
        The file; gzip is detected from its first bytes, not its name.
    what : str
        What the file is ("phenotype", "trial records"), for messages.

    Returns
    -------
    str
        The text, without a byte-order mark; line endings untouched.

    Raises
    ------
    UserError
        Missing file, damaged gzip, bytes that are not UTF-8 (naming the line).
    """
    p = str(path)
    if not os.path.exists(p):
        raise UserError(f"{what} file {p} does not exist; fix the path in the config or command")
    if os.path.isdir(p):
        raise UserError(f"{what} file {p} is a folder; give the table file itself")
    with open(p, "rb") as fh:
        data = fh.read()
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise UserError(
                f"{what} file {p} is a damaged gzip file ({exc}); re-transfer or re-compress it"
            ) from None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UserError(
                f"{what} file {p} starts like UTF-16 but cannot be decoded ({exc}); "
                "save it as UTF-8 (in Excel: 'CSV UTF-8')"
            ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError(
            f"{p}, line {line}: byte {data[exc.start]:#04x} is not UTF-8 text; save the {what} "
            "file as UTF-8 (in Excel: 'CSV UTF-8'; in LibreOffice: character set UTF-8)"
        ) from None


def sniff_separator(header: str, path: str | os.PathLike = "") -> str:
    """The column separator of a table, from its header line.

    A tab wins over a comma, a comma over a semicolon; a header with none of
    them (one column) is comma-separated if the file is named ``*.csv(.gz)``,
    else tab-separated.
    """
    for sep in ("\t", ",", ";"):
        if sep in header:
            return sep
    name = str(path).lower().removesuffix(".gz")
    return "," if name.endswith(".csv") else "\t"


def _first_line(text: str) -> str:
    for line in io.StringIO(text, newline=""):
        if line.strip():
            return line
    return ""


def _few(names: Sequence[str], k: int = 8) -> str:
    names = [str(n) for n in names]
    more = f" and {len(names) - k} more" if len(names) > k else ""
    return ", ".join(names[:k]) + more


def _parse(
    text: str, sep: str, p: str, comment: str | None = None
) -> tuple[list[str] | None, int, list[list[str]], list[int]]:
    """Header, its line, the non-blank stripped rows and their (last) physical lines."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=False)
    header: list[str] | None = None
    hline = 0
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for row in reader:
            cells = [c.strip() for c in row]
            if not any(cells) or (comment and cells[0].startswith(comment)):
                continue  # blank line, a spreadsheet's empty row (",,,,"), a comment line
            if header is None:
                header, hline = cells, reader.line_num
            else:
                rows.append(cells)
                lines.append(reader.line_num)
    except csv.Error as exc:
        raise UserError(
            f"{p}, line {reader.line_num}: cannot be read as a table ({exc}); "
            "check the quotes and separators on that line"
        ) from None
    return header, hline, rows, lines


def _check_shape(
    header: list[str], hline: int, rows: list[list[str]], lines: list[int], sep: str, p: str
) -> list[str]:
    """Drop empty trailing columns; raise on empty/duplicated names and ragged rows."""
    while (
        len(header) > 1
        and header[-1] == ""
        and all(len(r) < len(header) or r[len(header) - 1] == "" for r in rows)
    ):
        header = header[:-1]  # a spreadsheet's empty trailing column
    width = len(header)
    if "" in header:
        j = header.index("")
        raise UserError(
            f"{p}, line {hline}, column {j + 1}: the header has an empty column name; "
            "name the column or delete it"
        )
    seen: dict[str, int] = {}
    for j, name in enumerate(header):
        if name in seen:
            raise UserError(
                f"{p}, line {hline}: column {name!r} appears twice (columns {seen[name] + 1} "
                f"and {j + 1}); rename or remove one of them"
            )
        seen[name] = j
    lens = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    ragged = lens != width
    if ragged.any():
        for k in np.flatnonzero(ragged):
            if lens[k] > width and not any(rows[k][width:]):
                rows[k] = rows[k][:width]  # empty trailing fields
                ragged[k] = False
    if ragged.any():
        k = int(np.flatnonzero(ragged)[0])
        raise UserError(
            f"{p}, line {lines[k]} has {lens[k]} fields but the header (line {hline}) has "
            f"{width} ({_SEP_NAMES[sep]}-separated; {int(ragged.sum())} such row(s)); a separator "
            f"is missing or extra on that line: write {_MISSING_HINT}, quote text holding a {sep!r}"
        )
    return header


def read_table(
    path: str | os.PathLike,
    what: str = "table",
    *,
    id_column: str | int | None = None,
    id_label: str = "sample",
    unique_ids: bool = True,
    comment: str | None = None,
) -> pd.DataFrame:
    """Read a lab's table as stripped strings, checking its shape and ids.

    Parameters
    ----------
    path : str or path-like
        CSV/TSV (``.csv``, ``.tsv``, ``.txt``, any name), plain or gzipped.
    what : str
        What the table is ("phenotype", "trial records", "Sample sheet"), for
        messages.
    id_column : str or int, optional
        The column identifying rows: a name (which must be in the header), or
        a position (``0``: the first column, whatever its name). Its values
        must be non-empty and, with ``unique_ids``, unique.
    id_label : str
        What an id is ("sample", "plot"), for messages.
    unique_ids : bool
        Whether a repeated id is an error.
    comment : str, optional
        Lines whose first cell starts with this (e.g. ``"#"``) are skipped.

    Returns
    -------
    pandas.DataFrame
        One text column (pandas' string dtype) per header column, one row per
        non-blank line, ``RangeIndex``. ``attrs`` holds ``path``, ``what``,
        ``header_line``, ``lines`` (the file line of each row, for messages)
        and ``id_column`` (its name, or None).

    Raises
    ------
    UserError
        Empty file, empty or duplicated column names, ragged rows, missing id
        column, empty or duplicated ids; the message names file, line and
        column.
    """
    p = str(path)
    text = read_text(p, what)
    sep = sniff_separator(_first_line(text), p)
    header, hline, rows, lines = _parse(text, sep, p, comment)
    if header is None:
        raise UserError(
            f"{what} file {p} is empty; it needs a header line with the column names and "
            f"one row per {id_label}"
        )
    header = _check_shape(header, hline, rows, lines, sep, p)
    df = pd.DataFrame(rows, columns=header).astype(str)  # pandas' text dtype, as read_csv
    name = None
    if id_column is not None:
        name = header[id_column] if isinstance(id_column, int) else id_column
        if name not in header:
            hint = (
                "; separate the columns with tabs or commas, not spaces"
                if len(header) == 1 and " " in header[0]
                else ""
            )
            raise UserError(
                f"{p}, line {hline}: no {id_label} id column {name!r} (the header has "
                f"{_few(header)}); name the column that holds the {id_label} ids {name!r}{hint}"
            )
        _check_ids(df[name].to_numpy(dtype=object), name, lines, id_label, unique_ids, p)
    df.attrs.update(path=p, what=what, header_line=hline, lines=lines, id_column=name)
    return df


def _check_ids(ids, name: str, lines: list[int], label: str, unique: bool, p: str) -> None:
    empty = ids == ""
    if empty.any():
        k = int(np.flatnonzero(empty)[0])
        raise UserError(
            f"{p}, line {lines[k]}, column {name!r}: empty {label} id; fill it in or delete the row"
        )
    if not unique:
        return
    dup = pd.Index(ids).duplicated()
    if dup.any():
        k = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(ids == ids[k])[0])
        raise UserError(
            f"{p}, line {lines[k]}, column {name!r}: {label} {ids[k]!r} has more than one row "
            f"(also line {lines[first]}; {int(dup.sum())} repeated id(s)); keep one row per "
            f"{label} (merge replicates first, e.g. their mean or BLUE)"
        )


def is_missing(values) -> np.ndarray:
    """Boolean mask of the cells that mean "missing" (:data:`NA_VALUES` or NaN/None)."""
    s = pd.Series(np.asarray(values, dtype=object))
    return (s.isna() | s.isin(NA_VALUES)).to_numpy()


def stop_at_first_cell(bad: np.ndarray, message: Callable[[int, int], str]) -> None:
    """Stop with a :class:`~breedomics.errors.UserError` at the first ``True`` cell of
    the 2-D mask ``bad`` (row by row), if any: ``message(i, j)`` writes it from the
    cell's row and column indices."""
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise UserError(message(i, j))


def rows_for(
    table: pd.DataFrame,
    labels: Sequence,
    message: Callable[[list], str],
    square: bool = False,
) -> pd.DataFrame:
    """The rows of ``table`` for ``labels``, in their order (and, if ``square``, the
    columns too, as for a kinship matrix).

    Every stage matches a side table (covariates, features, kernels) to its samples
    this way; a label the table lacks stops with a
    :class:`~breedomics.errors.UserError` whose text ``message(missing)`` writes from
    the list of missing labels.
    """
    missing = [s for s in labels if s not in table.index or (square and s not in table.columns)]
    if missing:
        raise UserError(message(missing))
    rows = list(labels)
    return table.loc[rows, rows] if square else table.loc[rows]


def _where(table: pd.DataFrame, k: int, column: str) -> tuple[str, str]:
    """(``file, line L, column C``, ``" for sample S"``) of row ``k`` of a table."""
    a = table.attrs
    lines = a.get("lines") or []
    line = lines[k] if len(lines) == len(table) else k + 2
    idc = a.get("id_column")
    row = ""
    if idc is not None and idc in table.columns:
        row = f" for sample {table[idc].iloc[k]!r}"
    return f"{a.get('path', a.get('what', 'table'))}, line {line}, column {column!r}", row


def _numbers(table: pd.DataFrame, c: str, label: str, strict: bool) -> pd.Series | None:
    """Column ``c`` as numbers; None if it holds text and not ``strict``."""
    s = table[c]
    miss = is_missing(s)
    num = pd.to_numeric(s.where(~miss), errors="coerce")
    bad = num.isna().to_numpy() & ~miss
    if bad.any():
        if not strict:
            return None
        k = int(np.flatnonzero(bad)[0])
        where, row = _where(table, k, c)
        raise UserError(
            f"{where}: {label} {c!r} has the non-numeric value {s.iloc[k]!r}{row} "
            f"({int(bad.sum())} such value(s)); write a number, or {_MISSING_HINT}"
        )
    inf = np.isinf(num.to_numpy(dtype=float))
    if inf.any():
        k = int(np.flatnonzero(inf)[0])
        where, row = _where(table, k, c)
        raise UserError(f"{where}: {label} {c!r} is infinite{row}; use a finite number or NA")
    if label == "trait":
        num = _plink_missing_code(table, c, num)
    return num


#: PLINK's (and GEMMA's .fam) code for a missing phenotype.
PLINK_MISSING = -9.0


def _plink_missing_code(table: pd.DataFrame, c: str, num: pd.Series) -> pd.Series:
    """Trait values of exactly -9 read as missing when -9 stands apart from the trait.

    Tables exported from PLINK or GEMMA work write -9 for a missing phenotype (PLINK 2
    reads it so by default). Taken as a value it would be a gross outlier; so -9 is read
    as missing when the trait's other values are all non-negative, or lie above -9 by
    more than their own range. A -9 among values spread around it (a centred trait, a
    temperature) stays a value. A warning names the file, the trait and the first row.
    """
    v = num.to_numpy(dtype=float)
    code = v == PLINK_MISSING
    if not code.any():
        return num
    rest = v[~code & np.isfinite(v)]
    if rest.size and not (rest.min() >= 0 or rest.min() - PLINK_MISSING > rest.max() - rest.min()):
        return num
    k = int(np.flatnonzero(code)[0])
    where, row = _where(table, k, c)
    span = f"{rest.min():g} to {rest.max():g}" if rest.size else "none"
    warnings.warn(
        f"{where}{row}: trait {c!r} has {int(code.sum())} value(s) of -9, PLINK's missing "
        f"code, apart from its other values ({span}): read as missing. Write NA for a "
        "missing value to silence this.",
        UserWarning,
        stacklevel=2,
    )
    return num.mask(code)


def _require(table: pd.DataFrame, columns: Sequence[str], label: str) -> None:
    absent = [c for c in columns if c not in table.columns]
    if absent:
        a = table.attrs
        raise UserError(
            f"{a.get('path', 'table')}, line {a.get('header_line', 1)}: {label} {absent[0]!r} is "
            f"not a column of the {a.get('what', 'table')} table (columns: "
            f"{_few(table.columns)}); fix the name or the header"
        )


def to_numeric(
    table: pd.DataFrame, columns: Sequence[str] | None = None, label: str = "column"
) -> pd.DataFrame:
    """Columns of a :func:`read_table` frame as ``float64`` (NaN where missing).

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`read_table` (its ``attrs`` name the file and lines).
    columns : sequence of str, optional
        Columns to convert (default: all but the id column).
    label : str
        What a column is ("trait", "covariate"), for messages.

    Raises
    ------
    UserError
        A missing column, or a cell that is neither a finite number nor a
        missing-value code (naming file, line, column, value and row id).
    """
    idc = table.attrs.get("id_column")
    cols = [c for c in table.columns if c != idc] if columns is None else list(columns)
    _require(table, cols, label)
    out = {c: _numbers(table, c, label, strict=True).astype(np.float64) for c in cols}
    return pd.DataFrame(out, index=table.index, columns=cols)


def infer_types(
    table: pd.DataFrame, numeric: Sequence[str] = (), label: str = "column"
) -> pd.DataFrame:
    """Type each column of a :func:`read_table` frame as pandas' own reader would.

    A column whose every non-missing cell is a number becomes numeric
    (``int64`` if all are integers and none is missing, else ``float64``);
    any other column stays text with NaN for missing cells. The id column is
    kept as ``str``; columns in ``numeric`` must be numeric (as in
    :func:`to_numeric`).
    """
    _require(table, numeric, label)
    idc = table.attrs.get("id_column")
    out = {}
    for c in table.columns:
        if c == idc:
            out[c] = table[c]
            continue
        num = _numbers(table, c, label, strict=c in numeric)
        out[c] = table[c].where(~is_missing(table[c]), np.nan) if num is None else num
    df = pd.DataFrame(out, index=table.index, columns=table.columns)
    df.attrs.update(table.attrs)
    return df


def read_phenotypes(
    path: str | os.PathLike,
    traits: Sequence[str] | None = None,
    *,
    what: str = "phenotype",
    id_column: str | int = "sample",
    label: str = "trait",
    text_ok: bool = False,
) -> pd.DataFrame:
    """Read a per-sample table of traits or covariates.

    Parameters
    ----------
    path : str or path-like
        CSV/TSV as :func:`read_table` accepts, one row per sample.
    traits : sequence of str, optional
        Columns that must be numeric (default: every column but the ids).
    what : str
        "phenotype", "covariate"..., for messages.
    id_column : str or int
        Name of the sample id column (GWAS and the workflow: ``sample``), or
        ``0`` for "the first column, whatever its name" (genomic selection).
    label : str
        What a column is ("trait", "covariate"), for messages.
    text_ok : bool
        If False, return only the ``traits`` columns, all ``float64``. If
        True, return every column: ``traits`` as ``float64``, the others typed
        by :func:`infer_types` (text columns such as families or categorical
        covariates stay text).

    Returns
    -------
    pandas.DataFrame
        Indexed by the sample ids (``str``, named after the id column), in
        file order.
    """
    t = read_table(path, what, id_column=id_column, id_label="sample")
    idc = t.attrs["id_column"]
    if t.shape[1] < 2:
        raise UserError(
            f"{t.attrs['path']}, line {t.attrs['header_line']}: the {what} table has no column "
            f"besides {idc!r}; add one column per {label}"
        )
    if text_ok:
        df = infer_types(t, numeric=traits or (), label=label).drop(columns=[idc])
    else:
        df = to_numeric(t, traits, label=label)
    df.index = pd.Index(t[idc], name=idc)
    return df


def read_matrix(
    path: str | os.PathLike,
    what: str = "table",
    *,
    id_label: str = "sample",
    dtype: type = np.float64,
) -> pd.DataFrame:
    """Read a large all-numeric table: ids in the first column, one column per feature.

    Dosage matrices and metabolite tables can have millions of cells, so this
    parses with pandas' C reader; whenever that reading cannot be trusted
    (quotes, padded missing-value codes, empty trailing columns, a ragged or
    non-numeric row) the file is read again by :func:`read_table` and
    :func:`to_numeric`, which give the same numbers or the error naming the
    line and column.

    Returns
    -------
    pandas.DataFrame
        ``dtype`` values, index the ids (``str``, unique), columns the header.
    """
    p = str(path)
    text = read_text(p, what)
    try:
        lines = [line for line in text.splitlines() if line]
        if not lines or '"' in text or any(not line.strip() for line in lines):
            raise _Slow
        sep = sniff_separator(lines[0], p)
        names = [c.strip() for c in lines[0].split(sep)]
        if "" in names or len(set(names)) != len(names) or len(names) < 2:
            raise _Slow
        if any(line.count(sep) != len(names) - 1 for line in lines):
            raise _Slow
        # ids from the text (a dtype for the id column makes wide tables much slower)
        ids = [line.split(sep, 1)[0].strip() for line in lines[1:]]
        if "" in ids or len(set(ids)) != len(ids):
            raise _Slow
        with open(p, "rb") as fh:
            gz = fh.read(2) == _GZIP_MAGIC
        df = pd.read_csv(
            p,
            sep=sep,
            header=0,
            names=names,
            na_values=sorted(NA_VALUES),
            keep_default_na=False,
            encoding="utf-8-sig",
            compression="gzip" if gz else None,
        )
        df = df.iloc[:, 1:]
        if len(df) != len(ids) or not all(pd.api.types.is_numeric_dtype(d) for d in df.dtypes):
            raise _Slow
        vals = df.to_numpy(dtype=dtype)
        if np.isinf(vals).any():
            raise _Slow
    except (_Slow, ValueError, UnicodeError, pd.errors.ParserError):
        t = read_table(p, what, id_column=0, id_label=id_label)
        num = to_numeric(t)
        ids, names, vals = t.iloc[:, 0], [t.columns[0], *num.columns], num.to_numpy(dtype=dtype)
    return pd.DataFrame(
        vals, index=pd.Index([str(i).strip() for i in ids], name=names[0]), columns=names[1:]
    )
