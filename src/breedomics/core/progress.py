"""Progress lines of long stages: units done of the total, rate and time left.

A census, GWAS, genomic-selection or omics job on a large panel runs for hours on a
cluster node and writes its tables only at the end; ``tail -f`` on its log should still
say how far it is. A :class:`Progress` is made with the total and a label, told how
many units each piece of work completed (:meth:`Progress.update`, once per chunk of
variants, fit or feature, never per variant, so hot loops stay fast), and writes lines
such as::

    [progress] gwas scan (mlm, 2 traits): 120000/480000 variants (25%), 41000/s, ~8.8 s left

at most every ``interval`` seconds, and a final line (``done in ...``) when it is closed
(:meth:`Progress.close`, or the end of a ``with`` block or of :func:`track`). The
interval is 30 s; the environment variable ``BREEDOMICS_PROGRESS_SECONDS`` sets another
(``0``: a line at every update). Lines go to standard error, where every stage's
command logs (the workflow's rules send it to the job's log file, so Snakemake's own
output is unchanged). Progress only reads counts and the clock: it never changes a
result.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import numpy as np

__all__ = [
    "ENV_VAR",
    "DEFAULT_INTERVAL",
    "progress_interval",
    "format_rate",
    "format_duration",
    "plural",
    "Progress",
    "track",
]

#: Environment variable with the seconds between progress lines.
ENV_VAR = "BREEDOMICS_PROGRESS_SECONDS"
#: Seconds between progress lines when the environment does not say.
DEFAULT_INTERVAL = 30.0

T = TypeVar("T")


def progress_interval(default: float = DEFAULT_INTERVAL) -> float:
    """Seconds between progress lines: ``BREEDOMICS_PROGRESS_SECONDS``, else ``default``.

    A value that is not a number >= 0 is ignored (a progress setting never stops a job).
    """
    raw = os.environ.get(ENV_VAR, "").strip()
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if math.isfinite(value) and value >= 0 else default


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def format_rate(per_second: float) -> str:
    """``41000``, ``123``, ``12.3``, ``0.0512``: three significant digits, no exponent."""
    return np.format_float_positional(
        per_second, precision=3, unique=False, fractional=False, trim="-"
    )


def format_duration(seconds: float) -> str:
    """``4.2 s``, ``42 s``, ``17 min``, ``2.5 h``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def plural(n: int, noun: str) -> str:
    """``1 trait``, ``2 traits`` (for labels)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class Progress:
    """Counts units of work and writes a progress line at most every ``interval`` s.

    Parameters
    ----------
    total : int or None
        Units the work has (``None``: unknown; then no percentage or time left).
    label : str
        What is counted, e.g. ``"gwas scan (mlm, 2 traits)"``.
    unit : str
        Name of a unit, plural (``"variants"``, ``"fits"``).
    interval : float, optional
        Seconds between lines (default :func:`progress_interval`; 0: every update).
    clock : callable
        Seconds, monotonic (tests pass a fake one).
    write : callable, optional
        Receives each line (default: standard error, flushed).
    """

    def __init__(
        self,
        total: int | None,
        label: str,
        unit: str = "",
        *,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        write: Callable[[str], None] | None = None,
    ):
        self.total = None if total is None else max(0, int(total))
        self.label = label
        self.unit = unit
        self.interval = progress_interval() if interval is None else float(interval)
        self.done = 0
        self.closed = False
        self._clock = clock
        self._write = write or _stderr
        self._start = self._last = clock()

    def update(self, n: int = 1) -> None:
        """Add ``n`` finished units; write a line if ``interval`` s passed since the last."""
        self.done += int(n)
        now = self._clock()
        if now - self._last >= self.interval and not self.closed:
            self._last = now
            self._write(self.line(now))

    def close(self) -> None:
        """Write the final line (once)."""
        if not self.closed:
            self.closed = True
            self._write(self.line(self._clock(), final=True))

    def line(self, now: float, final: bool = False) -> str:
        """The progress line at clock time ``now``."""
        elapsed = now - self._start
        unit = f" {self.unit}" if self.unit else ""
        count = f"{self.done}{unit}" if self.total is None else f"{self.done}/{self.total}{unit}"
        if self.total:
            count += f" ({100 * self.done // self.total}%)"
        parts = [count]
        rate = self.done / elapsed if elapsed > 0 else None
        if rate is not None and self.done:
            parts.append(f"{format_rate(rate)}/s")
        if final:
            parts.append(f"done in {format_duration(elapsed)}")
        elif rate and self.total is not None:
            parts.append(f"~{format_duration(max(self.total - self.done, 0) / rate)} left")
        return f"[progress] {self.label}: " + ", ".join(parts)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()


def track(items: Iterable[T], progress: Progress, size: Callable[[T], int]) -> Iterator[T]:
    """Yield ``items`` unchanged, counting ``size(item)`` units once each is processed.

    The count is added when the next item is asked for (the loop body over the previous
    one has finished); the final line is written when ``items`` is exhausted.
    """
    for item in items:
        yield item
        progress.update(size(item))
    progress.close()
