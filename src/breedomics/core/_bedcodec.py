"""Compiled decoding of packed PLINK 1 ``.bed`` rows to sample-major float32 dosages (numba).

Kept apart from :mod:`breedomics.core.genotypes` so that importing the package does not
import numba; the kernel is compiled on first use and cached on disk (``cache=True``).
It reads each genotype's 2 bits straight from the packed bytes and writes the
transposed (samples x variants) block in one pass, tile by tile, instead of unpacking
every byte to four codes, transposing the codes and converting them (three passes and
two temporary arrays the size of the block).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["decode_bed_into"]

#: Variants per tile: a tile's rows stay in cache while every sample is written.
_TILE = 64


@numba.njit(cache=True, nogil=True)
def decode_bed_into(block: np.ndarray, idx: np.ndarray, lut: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out[j, v]`` with ``lut[code]`` of sample ``idx[j]`` in ``.bed`` row ``v``.

    ``block``: (n_var, bytes per variant) uint8, variant-major SNP-major ``.bed`` rows;
    ``idx``: int64 sample positions in the file's order; ``lut``: the 4 float32 values of
    the 2-bit codes (00, 01, 10, 11); ``out``: (len(idx), n_var) float32, C-ordered.
    """
    n_var = block.shape[0]
    n_out = idx.shape[0]
    for v0 in range(0, n_var, _TILE):
        v1 = min(n_var, v0 + _TILE)
        for j in range(n_out):
            s = idx[j]
            b = s >> 2
            shift = (s & 3) << 1
            for v in range(v0, v1):
                out[j, v] = lut[(block[v, b] >> shift) & 3]
