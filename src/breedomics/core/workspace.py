"""Work arrays reused from one chunk of a stream to the next.

A fresh array of tens of megabytes per chunk costs its page faults every time (on a
virtual machine as much as the arithmetic done in it); the streaming passes over
genotypes (decoding, centring, rotation) instead fill the same memory chunk after chunk.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import DTypeLike


class WorkArrays:
    """Named work arrays, each allocated once and grown only when a request needs more."""

    def __init__(self) -> None:
        self._bufs: dict[str, np.ndarray] = {}

    def get(self, key: str, shape: tuple[int, ...], dtype: DTypeLike = np.float64) -> np.ndarray:
        """A contiguous ``shape`` array of ``dtype`` (uninitialised) in the memory of
        ``key``; the previous contents of that memory are overwritten by the caller."""
        size = math.prod(shape)
        buf = self._bufs.get(key)
        if buf is None or buf.size < size or buf.dtype != np.dtype(dtype):
            buf = self._bufs[key] = np.empty(size, dtype=dtype)
        return buf[:size].reshape(shape)
