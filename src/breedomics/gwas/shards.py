"""Scatter a GWAS over chromosome groups and trait batches, and gather it exactly.

A whole-genome scan (:func:`breedomics.gwas.scan.scan`) is one pass over the
genotypes in genome order; every variant's test depends only on the trait, the
covariates and the kinship (genome-wide, or leave-one-chromosome-out). So the
pass can be cut into shards -- groups of whole chromosomes x batches of traits --
that share one precomputed GRM (:func:`save_grm` / :func:`load_grm`, with the
per-chromosome sums LOCO needs), and glued back together:

* summary statistics: the shards' rows concatenated in genome order (the text
  of every row is what the unscattered scan writes), then bgzip + tabix;
* variants tested / filtered: sums over the shards;
* M_eff: its blocks never cross chromosomes, so the chromosome groups' sums add
  up (from one trait batch: M_eff does not depend on the trait);
* permutation maxima: the maximum over shards (every shard permutes with the
  same seed, as the unscattered scan does);
* null models: the genome-wide null of a trait is the same in every shard;
  LOCO nulls are the union of the shards' chromosomes.

Thresholds, clumping, plots and the summary tables are then written by
:func:`breedomics.gwas.report.finalize` exactly as after an unscattered scan.
FarmCPU is multi-locus over the whole genome, so it is scattered by trait batch
only.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Mapping, Sequence
from types import SimpleNamespace

import numpy as np
import pandas as pd

from breedomics.core.grm import GRM
from breedomics.errors import UserError
from breedomics.gwas.naming import trait_stem
from breedomics.gwas.scan import TraitScan, no_variant_note

__all__ = [
    "save_grm",
    "load_grm",
    "pattern_key",
    "save_eigens",
    "EigenCache",
    "chromosome_groups",
    "chromosome_group",
    "shard_state",
    "gather_scans",
    "concat_sumstats",
]

_NULL_FIELDS = ("pve", "pve_se", "vg", "ve", "loglik_reml")


def save_grm(grm: GRM, path: str | os.PathLike) -> None:
    """Write a :class:`~breedomics.core.grm.GRM` (all sums, LOCO parts included)."""
    chroms = list(grm.chrom_num)
    arrays = {f"num_{i}": grm.chrom_num[c] for i, c in enumerate(chroms)}
    meta = {
        "samples": list(grm.samples),
        "den": grm.den,
        "n_snps": grm.n_snps,
        "chroms": chroms,
        "chrom_den": [grm.chrom_den[c] for c in chroms],
        "chrom_snps": [grm.chrom_snps[c] for c in chroms],
    }
    tmp = str(path) + ".tmp.npz"
    np.savez(tmp, num=grm.num, meta=np.array(json.dumps(meta)), **arrays)
    os.replace(tmp, path)


def load_grm(path: str | os.PathLike, samples: Sequence[str]) -> GRM:
    """Read :func:`save_grm` output, checking it was built for ``samples`` (same order).

    Raises
    ------
    UserError
        If the analysed samples differ from the GRM's.
    """
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        if list(samples) != meta["samples"]:
            raise UserError(
                f"GRM '{path}' was built for other samples ({len(meta['samples'])}) than the "
                f"{len(samples)} analysed now; rebuild it with the same genotypes and phenotypes."
            )
        chroms = meta["chroms"]
        return GRM(
            samples=meta["samples"],
            num=z["num"],
            den=float(meta["den"]),
            n_snps=int(meta["n_snps"]),
            chrom_num={c: z[f"num_{i}"] for i, c in enumerate(chroms)},
            chrom_den=dict(zip(chroms, map(float, meta["chrom_den"]), strict=True)),
            chrom_snps=dict(zip(chroms, map(int, meta["chrom_snps"]), strict=True)),
        )


def pattern_key(rows: np.ndarray) -> str:
    """Cache key of a trait missingness pattern (the analysed rows it keeps)."""
    import hashlib

    return hashlib.sha1(np.asarray(rows, dtype=np.int64).tobytes()).hexdigest()[:20]


def save_eigens(eigens: Mapping[str, object], folder: str | os.PathLike) -> None:
    """Write genome-wide kinship eigendecompositions, one ``.npz`` per trait pattern.

    A shard then loads only the patterns of its own trait batch
    (:class:`EigenCache`), so the decomposition is computed once per run.
    """
    os.makedirs(folder, exist_ok=True)
    for key, e in eigens.items():
        tmp = os.path.join(folder, f"{key}.tmp.npz")
        np.savez(tmp, s=e.s, U=e.U, ridge=e.ridge, trace_mean=e.trace_mean)
        os.replace(tmp, os.path.join(folder, f"{key}.npz"))


class EigenCache:
    """Read-only lookup of :func:`save_eigens` output by trait pattern."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = str(folder)

    def get(self, rows: np.ndarray):
        """The stored :class:`~breedomics.core.grm.Eigen` of ``rows``, or None."""
        from breedomics.core.grm import Eigen

        path = os.path.join(self.folder, f"{pattern_key(rows)}.npz")
        if not os.path.exists(path):
            return None
        with np.load(path) as z:
            return Eigen(z["s"], z["U"], float(z["ridge"]), float(z["trace_mean"]))


def chromosome_groups(lengths: Mapping[str, int | None], n_groups: int) -> list[list[str]]:
    """Cut the genome (in its order) into at most ``n_groups`` runs of whole chromosomes.

    Consecutive chromosomes are packed greedily until a group holds about
    ``total / n_groups`` bases, so many small scaffolds share one shard and the
    shards stay in genome order (their outputs are concatenated in that order).

    Parameters
    ----------
    lengths : mapping
        Chromosome -> length (None counts as 1), in genome order.
    n_groups : int
        Maximum number of groups (>= 1).

    Returns
    -------
    list of list of str
    """
    names = list(lengths)
    if not names:
        return []
    size = np.array([max(int(lengths[c] or 1), 1) for c in names], dtype=float)
    target = size.sum() / max(1, n_groups)
    groups: list[list[str]] = [[]]
    acc = 0.0
    for c, s in zip(names, size, strict=True):
        if groups[-1] and acc + s / 2 > target and len(groups) < n_groups:
            groups.append([])
            acc = 0.0
        groups[-1].append(c)
        acc += s
    return groups


def chromosome_group(geno: str, spec: str) -> tuple[int, list[str]]:
    """Chromosomes of group ``K`` of ``N`` (``spec = "K/N"``) of a genotype file.

    The groups come from :func:`chromosome_groups` on the file's own
    chromosome names and extents, so a workflow can plan ``N`` shards before
    the file exists. ``K`` beyond the number of groups gives no chromosome.
    """
    from breedomics.core import genotypes as gt

    try:
        k, n = (int(x) for x in spec.split("/"))
    except ValueError:
        raise UserError(f"--chromosome-group {spec!r}: expected K/N, e.g. 2/8") from None
    if not 1 <= k <= n:
        raise UserError(f"--chromosome-group {spec!r}: K must be in 1..N")
    var = gt.read_variants(geno)
    ext = var.groupby(var["chrom"].astype(str), sort=False)["pos"].max()
    groups = chromosome_groups(dict(ext.items()), n)
    return k, (groups[k - 1] if k <= len(groups) else [])


def _jsonable(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, pd.DataFrame):
        return {"__frame__": json.loads(x.to_json(orient="split", double_precision=15))}
    raise TypeError(f"cannot store {type(x)} in a shard state")


def _null(nm) -> dict | None:
    return None if nm is None else {f: float(getattr(nm, f)) for f in _NULL_FIELDS}


def shard_state(
    scans: Sequence[TraitScan],
    meff: dict | None,
    chromosomes: Sequence[str] | None,
    covariates: Sequence[str] = (),
    group: int | None = None,
) -> dict:
    """What a shard hands to the gather step (JSON-serialisable)."""
    return {
        "group": group,
        "chromosomes": list(chromosomes) if chromosomes is not None else None,
        "covariates": list(covariates),
        "meff": meff,
        "traits": [
            {
                "trait": ts.trait,
                "model": ts.model,
                "path": ts.path,
                "n_samples": ts.n_samples,
                "n_tested": ts.n_tested,
                "n_filtered": ts.n_filtered,
                "null": _null(ts.null),
                "loco_nulls": {c: _null(m) for c, m in ts.loco_nulls.items()},
                "df": ts.df,
                "perm_max_f": None if ts.perm_max_f is None else ts.perm_max_f.tolist(),
                "notes": [n for n in ts.notes if not n.startswith("no variant passed")],
                "no_variant_note": next(
                    (n for n in ts.notes if n.startswith("no variant passed")), ""
                ),
                "extra": ts.extra,
            }
            for ts in scans
        ],
    }


def write_shard_state(state: dict, path: str | os.PathLike) -> None:
    """Write :func:`shard_state` output as JSON (atomically)."""
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(state, fh, default=_jsonable)
    os.replace(tmp, path)


def _unframe(x):
    if isinstance(x, dict) and "__frame__" in x:
        f = x["__frame__"]
        return pd.DataFrame(f["data"], columns=f["columns"])
    return x


def concat_sumstats(paths: Sequence[str], dest: str) -> str:
    """Concatenate shard summary statistics (one header) into ``dest``; bgzip + tabix."""
    from pysam.libcbgzf import BGZFile

    from breedomics.gwas.results import SSF_COLUMNS, SumstatsWriter

    w = SumstatsWriter(dest)  # writes the header
    for p in paths:
        with gzip.open(p, "rb") as fh:
            header = fh.readline().decode().rstrip("\n").split("\t")
            if header != SSF_COLUMNS:
                raise UserError(f"shard summary statistics '{p}' have an unexpected header")
            while True:
                block = fh.read(1 << 24)
                if not block:
                    break
                w._fh.write(block)
    assert isinstance(w._fh, BGZFile)
    return w.close()


def gather_scans(
    states: Sequence[dict],
    traits: Sequence[str],
    out_dir: str,
    model: str,
    maf: float,
    max_missing: float,
    expect_variants: int | None = None,
) -> tuple[list[TraitScan], dict | None]:
    """Merge shard states into whole-genome :class:`TraitScan` objects and M_eff.

    Parameters
    ----------
    states : sequence of dict
        :func:`shard_state` outputs in any order (ordered by chromosome group
        index; explicit ``--chromosomes`` shards keep their order as given).
    traits : sequence of str
        All traits, in the order of the phenotype table (the order of the report).
    out_dir : str
        Where the whole-genome ``<trait>.<model>.tsv.gz`` files are written.
    model : str
    maf, max_missing : float
        For the note on traits where no variant passed the filters.
    expect_variants : int, optional
        Variants in the genotype file: the chromosome groups must add up to it.

    Returns
    -------
    scans : list of TraitScan
    meff : dict or None
        ``{"li_ji", "gao", "n_snps"}`` summed over the chromosome groups.

    Raises
    ------
    UserError
        If a trait is missing from the shards or a chromosome group is missing
        for a trait.
    """
    per_trait: dict[str, list[dict]] = {t: [] for t in traits}
    keys: list = []
    meff = None
    meff_parts: dict = {}
    n_variants = 0
    for pos, st in enumerate(states):
        key = st["group"] if st.get("group") is not None else ("arg", pos, st["chromosomes"])
        if st["chromosomes"] is None:
            key = None  # whole genome (trait batch only)
        if key not in keys:
            keys.append(key)
            n_variants += int(st.get("n_variants", 0))
            if st.get("meff"):
                meff_parts[key] = st["meff"]
        for rec in st["traits"]:
            if rec["trait"] not in per_trait:
                raise UserError(f"shard has trait {rec['trait']!r}, not in the phenotype table")
            per_trait[rec["trait"]].append({**rec, "_key": key})
    if expect_variants is not None and n_variants != expect_variants:
        raise UserError(
            f"the shards scanned {n_variants} variants, the genotypes have {expect_variants}: "
            "a chromosome group is missing (give every shard of the plan)"
        )
    order = {
        k: i
        for i, k in enumerate(
            sorted(keys, key=lambda k: (0, k, 0) if isinstance(k, int) else (1, 0, keys.index(k)))
        )
    }
    if meff_parts:
        # re-add the blocks in genome order, as the unscattered stream does
        meff = {"li_ji": 0.0, "gao": 0.0, "n_snps": 0}
        for key in sorted(meff_parts, key=order.__getitem__):
            part = meff_parts[key]
            for li, gao, n in part.get("blocks") or [(part["li_ji"], part["gao"], part["n_snps"])]:
                meff["li_ji"] += li
                meff["gao"] += gao
                meff["n_snps"] += n
    scans = []
    for t in traits:
        recs = per_trait[t]
        have = sorted(order[r["_key"]] for r in recs)
        if have != list(range(len(keys))):
            raise UserError(
                f"trait {t!r}: shards cover {len(set(have))} of the {len(keys)} chromosome "
                "groups; a shard is missing or given twice"
            )
        recs.sort(key=lambda r: order[r["_key"]])
        dest = trait_stem(out_dir, t, model) + ".tsv.gz"
        path = concat_sumstats([r["path"] for r in recs], dest)
        first = recs[0]
        loco = {}
        for r in recs:
            loco.update({c: SimpleNamespace(**m) for c, m in r["loco_nulls"].items() if m})
        perms = [np.asarray(r["perm_max_f"]) for r in recs if r["perm_max_f"] is not None]
        notes = list(dict.fromkeys(n for r in recs for n in r["notes"]))
        n_tested = sum(r["n_tested"] for r in recs)
        if n_tested == 0:
            notes.append(no_variant_note(maf, max_missing))
        extra = {k: _unframe(v) for k, v in (first.get("extra") or {}).items()}
        scans.append(
            TraitScan(
                trait=t,
                model=model,
                path=path,
                n_samples=first["n_samples"],
                n_tested=n_tested,
                n_filtered=sum(r["n_filtered"] for r in recs),
                null=SimpleNamespace(**first["null"]) if first["null"] else None,
                loco_nulls=loco,
                df=first["df"],
                perm_max_f=np.maximum.reduce(perms) if perms else None,
                notes=notes,
                extra=extra,
            )
        )
    return scans, meff
