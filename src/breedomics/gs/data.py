"""Genotype, phenotype and covariate inputs of the genomic-selection stage.

Genotypes are read with :mod:`breedomics.core.genotypes` (PLINK 1 bed or VCF/BCF,
streamed in chunks) or from a samples x markers dosage TSV (``sample_id``
first, ``NA`` missing; :func:`breedomics.core.tables.read_matrix`). Phenotype
and covariate tables are read by :mod:`breedomics.core.tables`, as in GWAS.
They are kept as a centred ``float32`` matrix ``Z = M - 2p`` (missing calls set to the mean,
i.e. 0 after centring; :func:`breedomics.core.standardise.centre`), from which the genomic
relationship matrix of VanRaden (2008, *J Dairy Sci* 91:4414, method 1) is
``G = Z Z' / (2 sum p q)`` (:func:`breedomics.core.grm.grm_from_centred`).

Markers are kept when their minor-allele frequency is at least ``min_maf``
(``>=``, where census and GWAS use ``>``) and their centred column varies
(mean square above ``1e-12``): GS has always dropped all-heterozygous markers
too. The frequencies are those of the ``float32`` means ``Z`` is centred on.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from breedomics.core import tables
from breedomics.core.grm import grm_from_centred, vanraden_scale
from breedomics.core.mme import independent_columns
from breedomics.core.standardise import centre
from breedomics.errors import UserError

__all__ = [
    "Genotypes",
    "read_genotypes",
    "read_table",
    "design_matrix",
    "gaussian_kernel",
    "squared_distances",
]

_TSV_SUFFIXES = (".tsv", ".tsv.gz", ".txt", ".txt.gz", ".csv", ".csv.gz")


@dataclass
class Genotypes:
    """Centred marker matrix and relationship matrices of a panel.

    Attributes
    ----------
    samples : list of str
        Sample names (rows).
    markers : list of str
        Marker names (columns kept after filtering).
    Z : numpy.ndarray
        ``float32 (n, p)`` dosages centred by ``2 p`` (missing -> 0).
    freq : numpy.ndarray
        Frequency of the counted allele, ``mean dosage / 2``.
    scale : float
        VanRaden's denominator ``2 sum p (1 - p)``; ``G = Z Z' / scale``.
    """

    samples: list[str]
    markers: list[str]
    Z: np.ndarray
    freq: np.ndarray
    scale: float
    _K: np.ndarray | None = field(default=None, repr=False)
    _pos: dict[str, int] | None = field(default=None, repr=False)

    @classmethod
    def from_dosage(
        cls,
        dosage: np.ndarray,
        samples: Sequence[str] | None = None,
        markers: Sequence[str] | None = None,
        min_maf: float = 0.0,
        source: str = "dosage matrix",
    ) -> Genotypes:
        """Build from an ``(n, p)`` dosage array (0/1/2, NaN missing).

        Monomorphic markers (and markers with minor-allele frequency below
        ``min_maf``) are dropped; missing calls are mean-imputed.
        """
        d = np.asarray(dosage, dtype=np.float32)
        if d.ndim != 2:
            raise UserError(f"{source}: genotype matrix must be 2-D, got shape {d.shape}")
        n, p = d.shape
        samples = [f"s{i}" for i in range(n)] if samples is None else [str(s) for s in samples]
        markers = [f"m{j}" for j in range(p)] if markers is None else [str(m) for m in markers]
        if len(samples) != n or len(markers) != p:
            raise UserError(
                f"{source}: {n}x{p} matrix but {len(samples)} samples/{len(markers)} markers"
            )
        Z, freq, keep = _centre(d, min_maf)
        if Z.shape[1] == 0:
            raise UserError(
                f"{source}: no polymorphic marker left (min MAF {min_maf}); "
                "check the genotype file or lower --min-maf"
            )
        kept = [markers[j] for j in np.flatnonzero(keep)]
        return cls(samples, kept, Z, freq, vanraden_scale(freq))

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def p(self) -> int:
        return len(self.markers)

    def index(self, names: Sequence[str], what: str = "sample") -> np.ndarray:
        """Row indices of ``names``; UserError naming the first unknown one."""
        if self._pos is None:
            self._pos = {s: i for i, s in enumerate(self.samples)}
        out = np.empty(len(names), dtype=np.int64)
        for k, s in enumerate(names):
            i = self._pos.get(str(s))
            if i is None:
                raise UserError(
                    f"{what} {s!r} is not in the genotype panel ({self.n} samples, e.g. "
                    f"{', '.join(self.samples[:3])}); fix the name or drop the row"
                )
            out[k] = i
        return out

    def grm(self) -> np.ndarray:
        """VanRaden (2008) genomic relationship matrix ``Z Z' / (2 sum p q)`` (float64)."""
        if self._K is None:
            self._K = grm_from_centred(self.Z, self.scale)
        return self._K

    def subset_markers(self, cols: np.ndarray) -> Genotypes:
        """A panel restricted to marker columns ``cols`` (same samples)."""
        fr = self.freq[cols]
        return Genotypes(
            list(self.samples),
            [self.markers[j] for j in cols],
            np.ascontiguousarray(self.Z[:, cols]),
            fr,
            vanraden_scale(fr),
        )


def _centre(d: np.ndarray, min_maf: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GS's rules for the core centring (module doc): (Z kept, freq kept, keep mask)."""
    c = centre(d, min_maf, inclusive=True, min_variance=1e-12, dtype=np.float32)
    return c.z, c.mean.astype(np.float32).astype(np.float64) / 2.0, c.keep


def _is_tsv(path: str) -> bool:
    return str(path).endswith(_TSV_SUFFIXES)


def read_table(path: str | os.PathLike, what: str = "table", unique: bool = True) -> pd.DataFrame:
    """Read a CSV/TSV with the sample id (any column name) first.

    Read by :func:`breedomics.core.tables.read_table` (CSV or TSV, gzipped,
    BOM, CRLF, padded cells, ``NA``/``-``/``.``/empty missing) and typed as
    pandas would (:func:`~breedomics.core.tables.infer_types`); the first
    column stays text. With ``unique`` a repeated first-column value is a
    :class:`UserError`.
    """
    df = tables.infer_types(tables.read_table(path, what, id_column=0, unique_ids=unique))
    if df.shape[1] < 2:
        raise UserError(
            f"{what} file {path} has {df.shape[1]} column(s); expected a table (tab- or "
            "comma-separated) with the sample id first"
        )
    return df


def read_genotypes(
    path: str | os.PathLike, samples: Sequence[str] | None = None, *, min_maf: float = 0.0,
    dosage_scale: float = 1.0, chunk_size: int = 20000,
) -> Genotypes:  # fmt: skip
    """Read a genotype panel into a centred :class:`Genotypes`.

    Parameters
    ----------
    path : str or path-like
        PLINK 1 fileset (prefix or any of its files), VCF/BCF, or a
        samples x markers dosage TSV(.gz) with the sample id first.
    samples : sequence of str, optional
        Samples to keep, in this order (default all).
    min_maf : float, default 0
        Drop markers with minor-allele frequency below this (monomorphic
        markers are always dropped).
    dosage_scale : float, default 1
        Multiply TSV dosages by this (2 turns 0/1 inbred presence/absence
        codes into 0/2 homozygous dosages).
    chunk_size : int
        Variants per chunk when streaming PLINK/VCF.
    """
    p = str(path)
    if _is_tsv(p):
        df = tables.read_matrix(p, what="genotype", dtype=np.float32)
        names = df.index.tolist()
        mat = df.to_numpy() * np.float32(dosage_scale)
        markers = [str(c) for c in df.columns]
        if samples is not None:
            pos = {s: i for i, s in enumerate(names)}
            miss = [s for s in samples if s not in pos]
            if miss:
                raise UserError(f"sample {miss[0]!r} is not in genotype file {p}")
            idx = [pos[s] for s in samples]
            mat = mat[idx]
            names = list(samples)
        return Genotypes.from_dosage(mat, names, markers, min_maf=min_maf, source=p)

    from breedomics.core import genotypes as gio

    names = list(samples) if samples is not None else gio.read_samples(p)
    blocks, ids, freqs = [], [], []
    for var, dos in gio.iter_dosage_chunks(p, chunk_size=chunk_size, samples=samples):
        Z, fr, keep = _centre(dos, min_maf)
        blocks.append(Z)
        freqs.append(fr)
        ids.extend(var["id"].to_numpy()[keep].tolist())
    if not blocks or sum(b.shape[1] for b in blocks) == 0:
        raise UserError(f"{p}: no polymorphic marker (min MAF {min_maf}); check the genotype file")
    Z = np.concatenate(blocks, axis=1) if len(blocks) > 1 else blocks[0]
    freq = np.concatenate(freqs)
    return Genotypes(names, ids, Z, freq, vanraden_scale(freq))


def design_matrix(
    covariates: pd.DataFrame | None, samples: Sequence[str], levels: dict | None = None
) -> tuple[np.ndarray, list[str], dict]:
    """Fixed-effect design ``[1, covariates]`` for ``samples``.

    Numeric columns enter as they are; text columns are dummy-coded (first
    level dropped). ``levels`` (from a previous call) fixes the coding so that
    prediction samples use the training levels; an unknown level raises a
    :class:`UserError`.

    Returns
    -------
    X : numpy.ndarray
        ``(n, q)`` design including the intercept.
    names : list of str
    levels : dict
        Column -> list of levels (categorical) or None (numeric).
    """
    n = len(samples)
    cols = [np.ones(n)]
    names = ["intercept"]
    if covariates is None or covariates.shape[1] == 0:
        return np.ones((n, 1)), names, {}
    sub = tables.rows_for(
        covariates,
        samples,
        lambda missing: (
            f"sample {missing[0]!r} has no row in the covariate table "
            f"({len(missing)} sample(s) missing); add them or drop them from the phenotypes"
        ),
    )
    out_levels: dict = {} if levels is None else levels
    for c in covariates.columns:
        col = sub[c]
        if levels is not None and c in levels and levels[c] is not None:
            lv = levels[c]
            unknown = sorted(set(col.dropna().astype(str)) - set(lv))
            if unknown:
                raise UserError(
                    f"covariate {c!r} has level(s) {', '.join(unknown[:5])} not seen in the "
                    f"training samples (known: {', '.join(lv[:10])}); predictions for them "
                    "are not estimable: drop those samples or add training records there"
                )
        elif pd.api.types.is_numeric_dtype(covariates[c]):
            out_levels[c] = None
        else:
            out_levels[c] = sorted(col.dropna().astype(str).unique())
        if out_levels.get(c) is None:
            v = col.to_numpy(dtype=float)
            if not np.isfinite(v).all():
                bad = col.index[~np.isfinite(v)][0]
                raise UserError(f"covariate {c!r} is missing for sample {bad!r}; impute or drop it")
            cols.append(v)
            names.append(str(c))
        else:
            lv = out_levels[c]
            s = col.astype(str)
            if col.isna().any():
                bad = col.index[col.isna()][0]
                raise UserError(f"covariate {c!r} is missing for sample {bad!r}")
            for level in lv[1:]:
                cols.append((s == level).to_numpy(dtype=float))
                names.append(f"{c}[{level}]")
    X = np.column_stack(cols)
    return X, names, out_levels


def full_rank_columns(X: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Indices of the columns of ``X`` kept in order, skipping those linearly dependent on
    earlier kept ones (:func:`breedomics.core.mme.independent_columns` of ``X'X``)."""
    X = np.asarray(X, dtype=float)
    return independent_columns(X.T @ X, tol)


def squared_distances(K: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``K_ii + K_jj - 2 K_ij`` implied by a linear kernel."""
    diag = np.diag(K)
    d2 = diag[:, None] + diag[None, :] - 2.0 * K
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return d2


def gaussian_kernel(D2: np.ndarray, bandwidth: float, ref: np.ndarray | None = None) -> np.ndarray:
    """Gaussian kernel ``exp(-h d2 / mean(d2))`` (Gianola & van Kaam 2008).

    Squared distances between centred marker vectors come from the linear
    kernel (:func:`squared_distances`), so the kernel of Gianola & van Kaam
    (2008, *Genetics* 178:2289) and de los Campos et al. (2010, *Genet Res*
    92:295) is built without the marker matrix. Distances are divided by their
    mean over distinct pairs of the ``ref`` samples (the training set), as in
    the BGLR examples (Perez & de los Campos 2014), so ``bandwidth`` ``h`` is
    unit-free.

    Parameters
    ----------
    D2 : numpy.ndarray
        ``(N, N)`` squared distances.
    bandwidth : float
        ``h`` > 0.
    ref : array of int, optional
        Samples whose mean distance scales ``D2`` (default all).
    """
    sub = D2 if ref is None else D2[np.ix_(ref, ref)]
    m = sub.shape[0]
    mean = float(sub.sum() / max(m * (m - 1), 1))
    return np.exp(-bandwidth * D2 / max(mean, 1e-12))
