"""How numbers are written on the page: one rule everywhere, so a reader (and a test)
knows exactly what text a value from a TSV becomes.

* whole numbers (``272``, ``8488.0``, ``1.19956e+06``): as integers, no separators;
* other numbers from 1000 up: rounded to a whole number (``19255.7`` -> ``19256``);
* from 0.001 to 1000: four significant digits (``0.997353`` -> ``0.9974``);
* below 0.001: three significant digits in exponent form (``2.12241e-11`` ->
  ``2.12e-11``);
* ``NA``, ``nan`` and empty cells: ``NA`` (empty stays empty).
"""

from __future__ import annotations

import math

__all__ = ["NA_TEXT", "is_missing", "number", "to_float"]

#: What a missing value is shown as.
NA_TEXT = "NA"
_MISSING = {"", "na", "nan", "none", "null"}


def is_missing(text: object) -> bool:
    """True for ``None``, NaN and the texts tables use for a missing value."""
    if text is None:
        return True
    if isinstance(text, float):
        return math.isnan(text)
    return isinstance(text, str) and text.strip().lower() in _MISSING


def to_float(text: object) -> float | None:
    """The number in a cell, or ``None`` (missing, text, infinite)."""
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        value = float(text)
    else:
        s = str(text).strip()
        if s.lower() in _MISSING:
            return None
        try:
            value = float(s)
        except ValueError:
            return None
    return value if math.isfinite(value) else None


def number(value: object) -> str:
    """``value`` written by the page's rule (module docstring); text passes unchanged."""
    if isinstance(value, str) and value.strip() == "":
        return ""
    if is_missing(value):
        return NA_TEXT
    x = to_float(value)
    if x is None:
        return str(value)
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    if abs(x) >= 1000:
        return str(round(x))
    if abs(x) >= 1e-3:
        return f"{x:.4g}"
    return f"{x:.3g}"
