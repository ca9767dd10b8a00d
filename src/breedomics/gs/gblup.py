"""GBLUP / rrBLUP and kernel BLUP models.

GBLUP (VanRaden 2008, *J Dairy Sci* 91:4414) fits ``y = X b + g + e`` with
``g ~ N(0, s2g G)`` and ``G = Z Z' / (2 sum p q)``; variance components are
estimated by REML (:mod:`breedomics.core.reml`). Genomic estimated breeding
values of any genotyped sample ``c``, phenotyped or not, are
``g_c = s2g G_ct P y`` (Henderson 1975), with prediction-error variances and
reliabilities from :func:`~breedomics.core.reml.blup_pev`.

Because ``G`` is linear in the markers, the same fit gives ridge-regression
BLUP marker effects (rrBLUP; Meuwissen et al. 2001, *Genetics* 157:1819;
Endelman 2011, *Plant Genome* 4:250) by back-solving,
``a = (s2g / (2 sum p q)) Z_t' P y`` (Stranden & Garrick 2009, *J Dairy Sci*
92:2971), and ``Z a`` reproduces the GEBVs of all samples.

:class:`KernelBLUP` is the same machinery for any user kernel; RKHS
(:mod:`breedomics.gs.rkhs`) uses it with a Gaussian kernel.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from breedomics.core.reml import KernelREML, RemlFit, blup_pev
from breedomics.gs.data import Genotypes
from breedomics.gs.models import Capabilities, GSModel

__all__ = ["KernelBLUP", "GBLUP"]


class KernelBLUP(GSModel):
    """BLUP with a REML-fitted kernel ``K`` of all samples.

    Parameters
    ----------
    kernel : callable
        ``kernel(geno, train_idx)`` returning the ``(N, N)`` kernel of all
        samples (it may depend on the training set, e.g. for scaling).
    name : str
    single : bool
        Tridiagonalise in float32 (faster REML; see :class:`KernelREML`).
    cache : dict, optional
        Shared across traits: REML reductions keyed by training set.
    """

    name = "kernel"
    capabilities = Capabilities(reliability=True)

    def __init__(
        self,
        kernel: Callable[[Genotypes, np.ndarray], np.ndarray],
        name: str = "kernel",
        single: bool = False,
        cache: dict | None = None,
    ):
        self._kernel_fn = kernel
        self.name = name
        self.single = single
        self.cache = cache if cache is not None else {}
        self.fit_: RemlFit | None = None

    def kernel_tag(self) -> object:
        """Identifies the kernel for the REML cache (same tag and samples = same matrix)."""
        return None

    def _reml(self, K: np.ndarray | None, train: np.ndarray) -> KernelREML:
        key = (self.name, id(self.geno), self.kernel_tag(), train.tobytes())
        if key not in self.cache:
            # one training set at a time keeps memory flat; its kernels (GBLUP, each
            # RKHS bandwidth) are shared by all traits with that training set
            for k in [k for k in self.cache if (k[1], k[3]) != (key[1], key[3])]:
                del self.cache[k]  # another genotype set or training set
            if K is None:
                K = self._kernel_fn(self.geno, train)
            self.cache[key] = KernelREML(K[np.ix_(train, train)], single=self.single)
        return self.cache[key]

    def _fit(self, geno: Genotypes, train, y, X, targets) -> None:
        self.K = self._kernel_fn(geno, train)
        self.X = X
        self.fit_ = self._reml(self.K, train).fit(y, X)
        self.beta = self.fit_.beta
        self.se_beta = self.fit_.se_beta

    def predict(self, idx: np.ndarray) -> np.ndarray:
        """Genetic values (GEBVs, without fixed effects) of samples ``idx``."""
        f = self.fit_
        return f.sigma_g * (self.K[np.ix_(np.asarray(idx), self.train)] @ f.py)

    def reliability(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(PEV, reliability) of the GEBVs of samples ``idx``."""
        idx = np.asarray(idx)
        f = self.fit_
        return blup_pev(
            self.K[np.ix_(self.train, self.train)],
            self.K[np.ix_(idx, self.train)],
            np.diag(self.K)[idx],
            self.X,
            f.sigma_g,
            f.sigma_e,
        )

    def varcomp_rows(self, trait: str) -> list[dict]:
        return self.fit_.varcomp_rows(trait, self.name)


def _grm(geno: Genotypes, train: np.ndarray) -> np.ndarray:
    return geno.grm()


class GBLUP(KernelBLUP):
    """GBLUP with VanRaden's GRM; rrBLUP marker effects by back-solving."""

    capabilities = Capabilities(reliability=True, marker_effects=True)

    def __init__(self, single: bool = False, cache: dict | None = None):
        super().__init__(_grm, name="GBLUP", single=single, cache=cache)

    def marker_effects(self) -> pd.DataFrame:
        """rrBLUP allele-substitution effects ``a = s2a Z_t' P y``, ``s2a = s2g / (2 sum pq)``.

        Returns
        -------
        pandas.DataFrame
            ``marker, effect`` (per copy of the counted allele), plus
            ``freq`` of the counted allele.
        """
        a = self.marker_effect_vector()
        return pd.DataFrame({"marker": self.geno.markers, "freq": self.geno.freq, "effect": a})

    def marker_effect_vector(self) -> np.ndarray:
        f = self.fit_
        s2a = f.sigma_g / self.geno.scale
        Zt = self.geno.Z[self.train]
        return s2a * (f.py.astype(np.float32) @ Zt).astype(np.float64)

    def predict_markers(self, idx: np.ndarray) -> np.ndarray:
        """GEBVs of samples ``idx`` as ``Z a`` from the back-solved marker effects."""
        a = self.marker_effect_vector().astype(np.float32)
        return (self.geno.Z[np.asarray(idx)] @ a).astype(np.float64)
