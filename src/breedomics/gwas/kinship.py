"""User-supplied kinship matrices for the GWAS mixed models.

The GRM, its leave-one-chromosome-out parts and its PSD eigendecomposition
are built by the genetics core (:mod:`breedomics.core.grm`, VanRaden 2008,
*J Dairy Sci* 91:4414) and dosage centring by :mod:`breedomics.core.standardise`.
What is GWAS's own is :func:`read_kinship`: a kinship matrix given with
``--kinship`` (e.g. GEMMA ``-gk`` output or a pedigree-blended matrix)
instead of the GRM of the genotypes.

References
----------
Zhou X, Stephens M (2012) Genome-wide efficient mixed-model analysis for
association studies. *Nat Genet* 44:821-824 (the ``-gk`` matrix layout).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from breedomics.core.tables import rows_for
from breedomics.errors import UserError

__all__ = ["read_kinship"]


def read_kinship(path: str | os.PathLike, samples: Sequence[str], geno_samples: Sequence[str]):
    """Read a user-supplied kinship matrix and order it like ``samples``.

    Two layouts are accepted: a tab-separated table whose first column is
    ``sample`` and whose other column names are the same sample ids (rows and
    columns in any order), or a GEMMA-style bare ``n x n`` numeric matrix in
    genotype-file sample order.

    Parameters
    ----------
    path : str or path-like
        The matrix file.
    samples : sequence of str
        Analysed samples (output order).
    geno_samples : sequence of str
        All genotype samples (order of a bare matrix).

    Returns
    -------
    numpy.ndarray
        ``len(samples) x len(samples)`` kinship.
    """
    path = str(path)
    if not os.path.exists(path):
        raise UserError(f"kinship file {path} does not exist")
    with open(path) as fh:
        first = fh.readline().split()
    try:
        float(first[0])
        bare = True
    except (ValueError, IndexError):
        bare = False
    if bare:
        k = np.loadtxt(path, ndmin=2)
        if k.shape != (len(geno_samples), len(geno_samples)):
            raise UserError(
                f"{path}: a bare kinship matrix must be {len(geno_samples)} x "
                f"{len(geno_samples)} (genotype-file sample order), got {k.shape}"
            )
        pos = {s: i for i, s in enumerate(geno_samples)}
        idx = np.array([pos[s] for s in samples])
        return k[np.ix_(idx, idx)]
    df = pd.read_csv(path, sep="\t", index_col=0)
    df.index = df.index.astype(str)
    return rows_for(
        df,
        samples,
        lambda missing: (
            f"{path}: analysed sample {missing[0]!r} is not a row and column of "
            f"the kinship matrix ({len(missing)} missing); add it or drop it from the phenotypes"
        ),
        square=True,
    ).to_numpy(dtype=float)
