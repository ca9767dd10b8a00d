"""The association pass: stream genotypes once and test every trait.

Traits are grouped by the set of samples in which they are observed
("missingness pattern"); each group gets its own kinship decomposition
(the kinship of exactly those samples) and null models, so missing
phenotypes are masked per trait without the user preparing per-trait
kinship files. With ``loco`` every chromosome is tested with the kinship of
all other chromosomes (Yang et al. 2014, *Nat Genet* 46:100); null models are
re-fitted for each such kinship. One rotation ``U^T x`` per chunk and group
serves all traits of the group (Zhou & Stephens 2012).

Genotype chunks are mean-imputed and centred within each group; variants
with minor-allele frequency below ``maf`` or a missing rate above
``max_missing`` in a group are not tested for its traits (counted in the
trait summary).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from breedomics.core import genotypes as gt
from breedomics.core.genotypes import split_by_chrom
from breedomics.core.grm import GRM, accumulate_grm, eigh_psd
from breedomics.core.progress import Progress, plural, track
from breedomics.core.standardise import impute_center, maf_mask
from breedomics.core.workspace import WorkArrays
from breedomics.errors import UserError
from breedomics.gwas.lmm import AssocResult, AssocSet, NullModel
from breedomics.gwas.naming import trait_stem
from breedomics.gwas.phenotypes import GwasData
from breedomics.gwas.results import SumstatsWriter, VariantColumns, close_all
from breedomics.gwas.threshold import MeffAccumulator

if TYPE_CHECKING:
    from breedomics.gwas.farmcpu import FarmCPUConfig

__all__ = [
    "ScanConfig",
    "TraitScan",
    "GenotypeSource",
    "trait_patterns",
    "pattern_eigen",
    "scan",
    "run_pass",
    "lead_variants",
    "build_grm",
    "no_variant_note",
    "MODEL_MODES",
    "MIXED_MODELS",
]

#: CLI model name -> AssocSet mode.
MODEL_MODES = {"glm": "glm", "mlm": "exact", "mlm-p3d": "p3d", "farmcpu": "glm"}
#: Models with a kinship random effect (the ones LOCO applies to).
MIXED_MODELS = ("mlm", "mlm-p3d")


@dataclass
class ScanConfig:
    """Options of an association scan (see ``breedomics gwas run --help``).

    Attributes
    ----------
    model : str
        ``glm``, ``mlm`` (exact per-variant REML), ``mlm-p3d`` or ``farmcpu``.
    loco : bool
        Test every chromosome with the kinship of the others (mixed models).
    null_method : str
        ``reml`` or ``ml`` fit of the null model.
    maf, max_missing : float
        A variant is tested for a trait when its MAF in the trait's samples is at least
        ``maf`` (and above 0) and its missing rate at most ``max_missing``.
    chunk_size : int
        Variants read per chunk.
    permutations : int
        Phenotype permutations for the permutation threshold (0: none).
    alpha : float
        Family-wise error rate.
    seed : int
        Seed of the permutations.
    meff_block : int
        SNPs per block of the M_eff estimate.
    cache_bytes : int
        Keep the genotypes in memory between passes up to this size.
    farmcpu : FarmCPUConfig, optional
        FarmCPU's own options (default :class:`~breedomics.gwas.farmcpu.FarmCPUConfig`).
    """

    model: str = "mlm"
    loco: bool = False
    null_method: str = "reml"
    maf: float = 0.01
    max_missing: float = 0.1
    chunk_size: int = 10000
    permutations: int = 0
    alpha: float = 0.05
    seed: int = 1
    meff_block: int = 300
    cache_bytes: int = 1 << 30
    farmcpu: FarmCPUConfig | None = None


@dataclass
class TraitScan:
    """What the scan produced for one trait.

    Attributes
    ----------
    trait, model : str
    path : str
        Summary-statistics ``.tsv.gz``.
    n_samples : int
        Samples with an observed value.
    n_tested, n_filtered : int
        Variants tested / skipped (MAF, missingness).
    null : NullModel or None
        Null model with the genome-wide kinship (mixed models).
    loco_nulls : dict
        Chromosome -> null model with that chromosome left out.
    df : int
        Residual degrees of freedom of the Wald test.
    perm_max_f : numpy.ndarray or None
        Genome-wide maximum F per permutation.
    notes : list of str
        Messages for the report (e.g. FarmCPU found no pseudo-QTN).
    extra : dict
        Model-specific details (FarmCPU iterations, pseudo-QTNs).
    """

    trait: str
    model: str
    path: str
    n_samples: int
    n_tested: int = 0
    n_filtered: int = 0
    null: NullModel | None = None
    loco_nulls: dict[str, NullModel] = field(default_factory=dict)
    df: int = 0
    perm_max_f: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


class GenotypeSource:
    """Chunks of the analysed samples' dosages, cached in memory when small.

    Parameters
    ----------
    path : str
        VCF/BCF or PLINK prefix.
    samples : list of str
        Samples (rows), in this order.
    chunk_size : int
        Variants per chunk read.
    cache_bytes : int
        Keep all dosages in memory (float32) after the first pass if they fit in
        this many bytes; otherwise every pass reads the file again.
    passes : int
        Passes the caller expects to make. A PLINK fileset is cached only for more
        than two (FarmCPU's iterations: 12 s against 31 s on 1,000 x 100,000): for one
        or two, each pass decodes the .bed again into one reused work array, which
        costs less than first touching the memory of a cache (MLM: 4.8 s against
        5.4-6.0 s) and keeps the memory of a pass at one chunk (529 MB against 863 MB).
        VCF/BCF input is always cached when it fits (parsing it again costs far more).
    chromosomes : collection of str, optional
        Only these chromosomes (a shard of a scattered scan); default all.
    """

    def __init__(
        self,
        path: str,
        samples: list[str],
        chunk_size: int = 10000,
        cache_bytes: int = 1 << 30,
        chromosomes: Collection[str] | None = None,
        passes: int = 2,
    ):
        self.path = str(path)
        self.chromosomes = None if chromosomes is None else set(chromosomes)
        self.samples = list(samples)
        self.chunk_size = chunk_size
        self.n_variants = gt.n_variants(self.path)
        self._n_scanned: int | None = None
        fits = len(self.samples) * self.n_variants * 4 <= cache_bytes
        self._cacheable = fits and (gt.genotype_format(self.path) != "plink" or passes > 2)
        self._cache: list[tuple[str, pd.DataFrame, np.ndarray]] | None = None

    @property
    def n_scanned(self) -> int:
        """Variants a pass over :meth:`runs` yields (the total of its progress lines);
        counted on first use (a source used only to extract variants never counts)."""
        if self._n_scanned is None:
            self._n_scanned = (
                self.n_variants
                if self.chromosomes is None
                else gt.count_variants(self.path, self.chromosomes)
            )
        return self._n_scanned

    def runs(self) -> Iterator[tuple[str, pd.DataFrame, np.ndarray]]:
        """Yield ``(chrom, variants, dosage)`` runs (one chromosome each).

        A run's ``dosage`` may be a work array that the next run overwrites: copy what
        is kept beyond the step.
        """
        if self._cache is not None:
            yield from self._cache
            return
        store: list | None = [] if self._cacheable else None
        for var, dos in gt.iter_dosage_chunks(
            self.path,
            self.chunk_size,
            self.samples,
            chromosomes=self.chromosomes,
            reuse=store is None,  # the consumers of runs() copy what they keep
        ):
            for chrom, v, d in split_by_chrom(var, dos):
                if self.chromosomes is not None and chrom not in self.chromosomes:
                    continue
                if store is not None:
                    store.append((chrom, v, d))
                yield chrom, v, d
        if store is not None:
            self._cache = store

    def chunks(self) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        """Yield ``(variants, dosage)`` (for :func:`accumulate_grm`)."""
        for _c, v, d in self.runs():
            yield v, d

    def extract(self, index: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        """Variants and dosages of the given global variant indices (in that order)."""
        index = np.asarray(index, dtype=np.int64)
        want = set(index.tolist())
        return self._select(lambda v: np.flatnonzero(v.index.isin(want)), v_key=None, order=index)

    def extract_ids(self, ids: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
        """Variants and dosages of the given variant ids (first occurrence of each)."""
        if self._cache is None:  # PLINK: read just their rows, not the whole file
            got = gt.read_variant_ids(self.path, ids, self.samples, self.chromosomes)
            if got is not None:
                return got
        want, seen = set(ids), set()

        def first_hits(v: pd.DataFrame) -> list[int]:
            hit = np.flatnonzero(v["id"].isin(want).to_numpy())
            return [i for i in hit if v["id"].iloc[i] not in seen and not seen.add(v["id"].iloc[i])]

        return self._select(first_hits, v_key="id", order=ids)

    def _select(self, hits, v_key: str | None, order) -> tuple[pd.DataFrame, np.ndarray]:
        """One pass: the rows ``hits(variants)`` of every run, then put in ``order`` (keys
        of the variant index, or of column ``v_key``; keys not found are left out)."""
        vs, ds = [], []
        for _c, v, d in self.runs():
            sel = hits(v)
            if len(sel):
                vs.append(v.iloc[sel])
                ds.append(d[:, sel])
        if not vs:
            return pd.DataFrame(columns=gt.VARIANT_COLUMNS), np.zeros((len(self.samples), 0))
        v = pd.concat(vs)
        d = np.hstack(ds)
        pos = {g: i for i, g in enumerate(v.index if v_key is None else v[v_key])}
        at = np.array([pos[g] for g in order if g in pos], dtype=np.int64)
        return v.iloc[at], d[:, at]


def trait_patterns(data: GwasData) -> list[tuple[list[str], np.ndarray]]:
    """Group traits by the samples in which they are observed.

    Returns
    -------
    list of (traits, rows)
        ``rows`` index ``data.samples``.
    """
    groups: dict[bytes, list[str]] = {}
    masks: dict[bytes, np.ndarray] = {}
    for t, m in data.masks().items():
        key = np.packbits(m).tobytes()
        groups.setdefault(key, []).append(t)
        masks[key] = m
    return [(groups[k], np.flatnonzero(masks[k])) for k in groups]


def pattern_eigen(
    kinship: np.ndarray, rows: np.ndarray, traits: list[str], n_samples: int, chrom=None
):
    """Eigendecomposition of the kinship of one trait pattern's samples.

    Parameters
    ----------
    kinship : numpy.ndarray
        Kinship of all analysed samples (genome-wide, or without ``chrom``).
    rows : numpy.ndarray
        The pattern's samples (from :func:`trait_patterns`).
    traits : list of str
        The pattern's traits (named in a warning about a non-PSD matrix).
    n_samples : int
        Number of analysed samples.
    chrom : str, optional
        The chromosome left out (LOCO).

    Returns
    -------
    breedomics.core.grm.Eigen
    """
    label = "kinship" + (f" without chromosome {chrom}" if chrom else "")
    if len(rows) < n_samples:
        label += f" of the {len(rows)} samples observed for {', '.join(traits[:3])}"
    return eigh_psd(kinship[np.ix_(rows, rows)], label)


def _feed_meff(meff: MeffAccumulator, chrom: str, dosage: np.ndarray, maf: float) -> None:
    """Add a run's centred dosages of variants with MAF >= ``maf`` to the M_eff blocks."""
    z, mean, nobs = impute_center(dosage)
    meff.add(chrom, z[:, (nobs > 0) & maf_mask(mean / 2, maf, inclusive=True)])


def no_variant_note(maf: float, max_missing: float) -> str:
    """Note of a trait for which no variant passed the filters."""
    return f"no variant passed the filters (MAF >= {maf}, missing <= {max_missing})"


class _Contexts:
    """Build AssocSets per chromosome (LOCO) or once (genome-wide)."""

    def __init__(
        self,
        data: GwasData,
        mode: str,
        cfg: ScanConfig,
        grm: GRM | None,
        kin: np.ndarray | None,
        eig_cache=None,
    ):
        self.data, self.mode, self.cfg = data, mode, cfg
        self.grm, self.kin = grm, kin
        self.eig_cache = eig_cache
        self.patterns = trait_patterns(data)
        self._chrom: str | None = None
        self._sets: list[AssocSet] = []
        self.global_nulls: dict[str, NullModel] = {}
        self.loco_nulls: dict[str, dict[str, NullModel]] = {t: {} for t in data.traits.columns}
        self.perm_max: dict[str, np.ndarray] = {}
        self.df: dict[str, int] = {}
        self._done: set[str] = set()

    def _kinship(self, chrom: str | None) -> np.ndarray:
        if self.kin is not None:
            return self.kin
        assert self.grm is not None
        return self.grm.matrix(chrom)

    def _build(self, chrom: str | None, perms: bool = True) -> list[AssocSet]:
        sets = []
        k_full = None if self.mode == "glm" else self._kinship(chrom)
        for traits, rows in self.patterns:
            w = self.data.covariates.to_numpy()[rows]
            y = self.data.traits[traits].to_numpy()[rows]
            eig = None
            if k_full is not None and chrom is None and self.eig_cache is not None:
                eig = self.eig_cache.get(rows)  # decomposed once for all shards
            if k_full is not None and eig is None:
                eig = pattern_eigen(k_full, rows, traits, len(self.data.samples), chrom)
            ts = AssocSet.build(
                traits, rows, w, y, self.mode, eig, self.cfg.null_method, context=traits[0]
            )
            if perms and self.cfg.permutations:
                ts.enable_permutations(self.cfg.permutations, self.cfg.seed)
            for t in traits:
                self.df[t] = ts.n - ts.c - 1
            sets.append(ts)
        return sets

    def start(self) -> None:
        """Build the genome-wide AssocSets and null models."""
        if self.mode == "glm" or not self.cfg.loco:
            self._sets = self._build(None)
            base = self._sets
        else:  # LOCO: genome-wide nulls are reported, sets are built per chromosome
            base = self._build(None, perms=False)
        if self.mode != "glm":
            for ts in base:
                for t, nm in zip(ts.traits, ts.nulls, strict=True):
                    self.global_nulls[t] = nm

    def sets_for(self, chrom: str) -> list[AssocSet]:
        """AssocSets for the variants of ``chrom``."""
        if self.mode == "glm" or not self.cfg.loco:
            return self._sets
        if chrom != self._chrom:
            self._collect_perm()
            if chrom in self._done:
                warnings.warn(
                    f"chromosome {chrom} appears in several non-adjacent blocks of the genotype "
                    "file; its LOCO kinship is decomposed again (sort the file to avoid this)",
                    stacklevel=2,
                )
            self._sets = self._build(chrom)
            self._chrom = chrom
            self._done.add(chrom)
            for ts in self._sets:
                for t, nm in zip(ts.traits, ts.nulls, strict=True):
                    self.loco_nulls[t][chrom] = nm
        return self._sets

    def _collect_perm(self) -> None:
        for ts in self._sets:
            if ts.perm_max_f is None:
                continue
            for k, t in enumerate(ts.traits):
                cur = self.perm_max.get(t)
                self.perm_max[t] = (
                    ts.perm_max_f[k].copy() if cur is None else np.maximum(cur, ts.perm_max_f[k])
                )
            ts.perm_max_f[:] = 0.0

    def finish(self) -> None:
        self._collect_perm()


def run_pass(
    src: GenotypeSource,
    sets_for: Callable[[str], list[AssocSet]],
    on_result: Callable[[str, pd.DataFrame, np.ndarray, np.ndarray, AssocResult], None],
    cfg: ScanConfig,
    on_run: Callable[[str, pd.DataFrame, np.ndarray], None] | None = None,
    counts: dict[str, list[int]] | None = None,
    label: str = "gwas scan",
) -> None:
    """Stream the genotypes once and test every AssocSet on every run.

    Parameters
    ----------
    src : GenotypeSource
    sets_for : callable
        Chromosome -> AssocSets to test on it.
    on_result : callable
        ``(trait, variants, af, n_obs, result)`` for the tested variants.
    cfg : ScanConfig
        ``maf`` and ``max_missing`` filters.
    on_run : callable, optional
        ``(chrom, variants, dosage)`` of every run (e.g. M_eff).
    counts : dict, optional
        Filled with ``trait -> [tested, filtered]``.
    label : str
        Label of the pass's progress lines (variants done, rate, time left; one update
        per run of variants, see :mod:`breedomics.core.progress`).
    """
    # centred dosages, reused by every set: float32 for the sets that rotate them (mixed
    # models: the rotation in single precision), float64 for the others
    work = WorkArrays()
    progress = Progress(src.n_scanned, label, "variants")
    for chrom, var, dos in src.runs():
        if on_run is not None:
            on_run(chrom, var, dos)
        for ts in sets_for(chrom):
            d = dos if len(ts.idx) == dos.shape[0] else dos[ts.idx]
            dtype = np.float32 if ts.rotates else np.float64
            size = max(d.size, d.shape[0] * cfg.chunk_size)  # a full chunk's, from the first
            z, mean, nobs = impute_center(d, out=work.get(f"z{dtype.__name__}", (size,), dtype))
            af = mean / 2
            maf = np.minimum(af, 1 - af)
            miss = 1 - nobs / d.shape[0]
            keep = (nobs > 0) & (maf > 0) & (maf >= cfg.maf) & (miss <= cfg.max_missing)
            if counts is not None:
                for t in ts.traits:
                    c = counts.setdefault(t, [0, 0])
                    c[0] += int(keep.sum())
                    c[1] += int((~keep).sum())
            if not keep.any():
                continue
            res = ts.test(z[:, keep] if not keep.all() else z)
            vk = var.iloc[np.flatnonzero(keep)] if not keep.all() else var
            # one af/n array per set and run: on_result shares the variant columns built
            # from them among the set's traits (it compares the arrays by identity)
            afk, nk = af[keep], nobs[keep]
            for t, r in zip(ts.traits, res, strict=True):
                on_result(t, vk, afk, nk, r)
        progress.update(dos.shape[1])
    progress.close()


def lead_variants(
    src: GenotypeSource,
    traits: list[str],
    y: np.ndarray,
    covariates: np.ndarray,
    cfg: ScanConfig,
    context: str = "traits",
) -> pd.DataFrame:
    """The most significant variant of every trait in one least-squares pass (GLM).

    Nothing is written: this is the scan of :func:`scan` with ``model="glm"`` reduced to
    each trait's genome-wide lead, for callers that only need the lead (e.g. whether a
    hidden factor of molecular traits is genetic).

    Parameters
    ----------
    src : GenotypeSource
        Genotypes of the rows of ``y``.
    traits : list of str
        Names of the columns of ``y``.
    y : numpy.ndarray
        ``(n, k)`` complete trait values.
    covariates : numpy.ndarray
        ``(n, c)`` fixed effects (an intercept column included).
    cfg : ScanConfig
        ``maf`` and ``max_missing`` filters.
    context : str
        Named in errors about the model matrix.

    Returns
    -------
    pandas.DataFrame
        One row per trait: ``trait, lead_variant, neg_log_10_p_value`` (``-inf`` and
        ``""`` without a tested variant) and ``n_variants_tested``.
    """
    aset = AssocSet.build(traits, np.arange(len(y)), covariates, y, "glm", context=context)
    best = {t: (-np.inf, "") for t in traits}

    def on_result(t, v, _af, _n, r):
        nl = np.where(np.isfinite(r.nlog10p), r.nlog10p, -np.inf)
        i = int(np.argmax(nl))
        if nl[i] > best[t][0]:
            best[t] = (float(nl[i]), str(v["id"].iloc[i]))

    counts: dict[str, list[int]] = {}
    label = f"gwas lead variants of {len(traits)} {context}"
    run_pass(src, lambda _c: [aset], on_result, cfg, counts=counts, label=label)
    return pd.DataFrame(
        {
            "trait": traits,
            "lead_variant": [best[t][1] for t in traits],
            "neg_log_10_p_value": [best[t][0] for t in traits],
            "n_variants_tested": [counts.get(t, [0, 0])[0] for t in traits],
        }
    )


def build_grm(
    src: GenotypeSource, loco: bool, kinship: np.ndarray | None = None
) -> tuple[GRM | None, np.ndarray | None]:
    """GRM of the analysed samples (or the user's matrix)."""
    if kinship is not None:
        if loco:
            raise UserError(
                "--kinship cannot be combined with --loco (LOCO kinships are built from the "
                "genotypes); drop one of them"
            )
        return None, kinship
    progress = Progress(src.n_scanned, "gwas kinship (GRM)", "variants")
    chunks = track(src.chunks(), progress, lambda chunk: chunk[1].shape[1])
    return accumulate_grm(chunks, src.samples, loco=loco), None


def scan(
    src: GenotypeSource,
    data: GwasData,
    out_dir: str | os.PathLike,
    cfg: ScanConfig,
    grm: GRM | None = None,
    kinship: np.ndarray | None = None,
    meff: MeffAccumulator | None = None,
    eig_cache=None,
) -> list[TraitScan]:
    """Scan all traits with the model of ``cfg``; write the summary statistics.

    GLM and the mixed models (exact or P3D, optionally LOCO) are one streaming pass;
    FarmCPU (:func:`breedomics.gwas.farmcpu.run_farmcpu`) iterates its own passes, and
    one more feeds ``meff``.

    Parameters
    ----------
    src : GenotypeSource
        Genotypes of ``data.samples``.
    data : GwasData
        Traits and covariates (PCs already added).
    out_dir : str or path-like
        Where ``<trait>.<model>.tsv.gz`` files go.
    cfg : ScanConfig
    grm : GRM, optional
        Precomputed GRM of the mixed models (built here when missing, unless
        ``kinship``).
    kinship : numpy.ndarray, optional
        User kinship of ``data.samples``.
    meff : MeffAccumulator, optional
        Fed with every run of SNPs (for M_eff thresholds).
    eig_cache : breedomics.gwas.shards.EigenCache, optional
        Precomputed eigendecompositions of the genome-wide kinship per trait
        pattern (a scattered scan decomposes it once, in ``gwas kinship``).

    Returns
    -------
    list of TraitScan
    """
    if cfg.model == "farmcpu":
        from breedomics.gwas.farmcpu import run_farmcpu

        scans = run_farmcpu(src, data, out_dir, cfg)
        if meff is not None:  # M_eff needs one more pass here
            for chrom, _v, d in src.runs():
                _feed_meff(meff, chrom, d, cfg.maf)
        return scans
    mode = MODEL_MODES[cfg.model]
    if cfg.loco and mode != "glm" and kinship is not None:
        raise UserError("--kinship cannot be combined with --loco; drop one of them")
    if mode != "glm" and kinship is None and (grm is None or (cfg.loco and not grm.chrom_num)):
        grm, kinship = build_grm(src, cfg.loco, kinship)
    ctx = _Contexts(data, mode, cfg, grm, kinship, eig_cache)
    ctx.start()
    os.makedirs(out_dir, exist_ok=True)
    writers = {
        t: SumstatsWriter(trait_stem(out_dir, t, cfg.model) + ".tsv.gz")
        for t in data.traits.columns
    }

    cache: dict = {}

    def on_result(t, v, af, nobs, r: AssocResult):
        # the variant columns are the same for every trait of a set (same sample subset,
        # hence the same af/n arrays): build them once. The referenced objects are kept
        # alive in the cache, so their ids cannot be reused while they are compared.
        if cache.get("refs") is None or cache["refs"][0] is not v or cache["refs"][1] is not af:
            cache["refs"], cache["cols"] = (v, af), VariantColumns(v, af, nobs)
        writers[t].write(cache["cols"], r.beta, r.se, None, r.nlog10p, None)

    def on_run(chrom, v, d):
        if meff is not None:
            _feed_meff(meff, chrom, d, cfg.maf)

    counts: dict[str, list[int]] = {}
    n_traits = len(data.traits.columns)
    label = f"gwas scan ({cfg.model}{' + LOCO' if cfg.loco else ''}, {plural(n_traits, 'trait')}"
    label += f", {cfg.permutations} permutations)" if cfg.permutations else ")"
    run_pass(src, ctx.sets_for, on_result, cfg, on_run, counts, label=label)
    ctx.finish()
    out = []
    masks = data.masks()
    paths = dict(zip(writers, close_all(list(writers.values())), strict=True))
    for t in data.traits.columns:
        path = paths[t]
        ts = TraitScan(
            trait=t,
            model=cfg.model,
            path=path,
            n_samples=int(masks[t].sum()),
            n_tested=counts.get(t, [0, 0])[0],
            n_filtered=counts.get(t, [0, 0])[1],
            null=ctx.global_nulls.get(t),
            loco_nulls=ctx.loco_nulls.get(t, {}) if cfg.loco else {},
            df=ctx.df.get(t, 0),
            perm_max_f=ctx.perm_max.get(t) if cfg.permutations else None,
        )
        if ts.n_tested == 0:
            ts.notes.append(no_variant_note(cfg.maf, cfg.max_missing))
        out.append(ts)
    return out
