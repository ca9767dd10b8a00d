"""Relationship kernel of one omics layer, for multi-kernel genomic prediction.

A layer's kernel is the linear kernel of its standardised features,
``K = Z Z' / m`` (``m`` features with variance; missing values at the feature
mean), the transcriptomic/metabolomic relationship of Westhues et al. (2017,
*Theor Appl Genet* 130:1927) and Guo et al. (2016, *G3* 6:3569). GS's
``mkgblup`` fits it beside the GRM (:class:`breedomics.gs.mkgblup.MultiKernelGBLUP`).

Every genotyped sample gets a row: a sample without the layer's data has a
zero row and column, so its layer component is zero and its prediction comes
from the genomic part alone (and, in training, it informs only that part).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from breedomics.core import tables
from breedomics.core.grm import grm_from_centred
from breedomics.core.standardise import impute_center
from breedomics.errors import UserError

__all__ = ["feature_kernel", "read_layer", "write_kernel"]


def feature_kernel(features: pd.DataFrame, samples: Sequence[str]) -> pd.DataFrame:
    """``Z Z' / m`` of the standardised features, over all ``samples`` (zero rows without data).

    Parameters
    ----------
    features : pandas.DataFrame
        Samples x features (index sample ids; NaN for missing), e.g. the
        ``phenotypes.tsv`` of ``omics prepare``.
    samples : sequence of str
        The genotyped samples, in the order of the kernel's rows.

    Returns
    -------
    pandas.DataFrame
        ``(N, N)`` symmetric positive semi-definite kernel, index and columns
        ``samples``; the diagonal averages 1 over the samples with data.
    """
    samples = [str(s) for s in samples]
    pos = {s: i for i, s in enumerate(samples)}
    have = [s for s in map(str, features.index) if s in pos]
    if len(have) < 2:
        raise UserError(
            f"the omics layer has {len(have)} genotyped sample(s): a kernel needs at least 2"
        )
    x = features.loc[have].to_numpy(dtype=np.float64)
    z, _mean, n_obs = impute_center(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt((z**2).sum(axis=0) / np.maximum(n_obs - 1, 1))
    keep = np.isfinite(sd) & (sd > 0) & (n_obs >= 2)
    if not keep.any():
        raise UserError("the omics layer has no feature that varies: no kernel")
    z = np.ascontiguousarray(z[:, keep] / sd[keep])
    sub = grm_from_centred(z, scale=float(keep.sum()))
    idx = np.array([pos[s] for s in have])
    k = np.zeros((len(samples), len(samples)))
    k[np.ix_(idx, idx)] = sub
    return pd.DataFrame(k, index=samples, columns=samples)


def write_kernel(kernel: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write the kernel as a square TSV (``sample`` then one column per sample), atomically."""
    tmp = f"{path}.tmp"
    out = kernel.copy()
    out.index.name = "sample"
    out.to_csv(tmp, sep="\t", float_format="%.10g")
    os.replace(tmp, path)


def read_layer(path: str | os.PathLike) -> pd.DataFrame:
    """A layer's samples x features table (``phenotypes.tsv`` of ``omics prepare``)."""
    return tables.read_matrix(path, what="omics features")
