"""Multi-kernel GBLUP: the genomic relationship matrix plus other kernels (``mkgblup``).

Model (genomic with transcriptomic or metabolomic relationships, as in
Westhues et al. 2017, *Theor Appl Genet* 130:1927)::

    y = X b + g_G + sum_k g_k + e,   g_G ~ N(0, s2_G G),   g_k ~ N(0, s2_k K_k)

with VanRaden's ``G`` and kernels ``K_k`` given for every genotyped sample
(:func:`read_kernels`: square tables with sample ids, e.g. ``Z Z'/p`` of
standardised expression). Variances are estimated by average-information REML
and the component BLUPs are ``s2_k K_k[c, t] P y``
(:func:`breedomics.core.aireml.fit_kernels`); a sample's genetic value is the
sum of its components.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from breedomics.core import tables
from breedomics.core.aireml import MultiKernelFit, fit_kernels
from breedomics.errors import UserError
from breedomics.gs.data import Genotypes
from breedomics.gs.models import GSModel

__all__ = ["MultiKernelGBLUP", "read_kernels"]


def read_kernels(
    paths: Sequence[str | os.PathLike], samples: Sequence[str]
) -> list[tuple[str, np.ndarray]]:
    """Square kernel tables (sample id first, one column per sample), ordered as ``samples``.

    Each kernel is named after its file (``transcriptome.tsv`` -> ``transcriptome``)
    and must cover every sample and be symmetric.
    """
    out = []
    for path in paths:
        m = tables.read_matrix(path, what="kernel")
        K = tables.rows_for(
            m,
            samples,
            lambda missing, path=path: (
                f"kernel {path} has no row or column for sample "
                f"{missing[0]!r} ({len(missing)} genotyped sample(s) missing); give the kernel "
                "of every genotyped sample"
            ),
            square=True,
        ).to_numpy(dtype=np.float64)
        if not np.allclose(K, K.T, rtol=1e-6, atol=1e-8 * max(np.abs(K).max(), 1e-300)):
            raise UserError(f"kernel {path} is not symmetric")
        out.append((Path(path).name.split(".")[0], K))
    return out


class MultiKernelGBLUP(GSModel):
    """GBLUP with further kernels, REML by average information.

    Parameters
    ----------
    kernels : sequence of (str, numpy.ndarray)
        Named ``(N, N)`` kernels of all genotyped samples (:func:`read_kernels`),
        fitted with the genomic relationship matrix ``G``.
    with_grm : bool
        Fit ``G`` beside the kernels (``MK-GBLUP``). Without it the kernels alone
        are fitted (``K-BLUP:<names>``, e.g. one omics layer alone, model
        ``layer:<name>``): how much of a trait one layer predicts by itself.
    """

    name = "MK-GBLUP"

    def __init__(self, kernels: Sequence[tuple[str, np.ndarray]] = (), with_grm: bool = True):
        self.kernels = list(kernels)
        self.with_grm = with_grm
        if not with_grm:
            if not self.kernels:
                raise UserError("a kernel-only model needs at least one kernel")
            self.name = "K-BLUP:" + "+".join(n for n, _ in self.kernels)
        self.fit_: MultiKernelFit | None = None

    def _all(self, geno: Genotypes) -> list[np.ndarray]:
        grm = [geno.grm()] if self.with_grm else []
        return [*grm, *(K for _, K in self.kernels)]

    def _fit(self, geno: Genotypes, train, y, X, targets) -> None:
        tt = np.ix_(train, train)
        self.fit_ = fit_kernels(y, [K[tt] for K in self._all(geno)], X)
        self.beta, self.se_beta = self.fit_.beta, self.fit_.se_beta

    def components(self, idx: np.ndarray) -> np.ndarray:
        """``(len(idx), k)`` BLUPs of each component (``G`` first, if fitted) for ``idx``."""
        ct = np.ix_(np.asarray(idx), self.train)
        return self.fit_.blups([K[ct] for K in self._all(self.geno)])

    def predict(self, idx: np.ndarray) -> np.ndarray:
        return self.components(idx).sum(axis=1)

    def varcomp_rows(self, trait: str) -> list[dict]:
        names = ["G"] * self.with_grm + [n for n, _ in self.kernels]
        return self.fit_.varcomp_rows(trait, self.name, names)
