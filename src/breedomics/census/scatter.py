"""Per-chromosome scatter of the census: shard plan and partial-result files.

The analyses that work chromosome by chromosome (windowed diversity and
Tajima's D, LD decay, runs of homozygosity) run as one job per *shard*: a
chromosome, or a pack of small scaffolds. Each shard job writes its additive
partial result (sums, counts, segments) as JSON; the gather step adds them up
and derives the genome-wide statistics exactly as the unscattered computation
does (e.g. pi = sum of per-site differences / total length, not a mean of
per-chromosome values).

Shard names become file names: a chromosome gets its own shard, named after
it, only when its name is path-safe (``[A-Za-z0-9][A-Za-z0-9._-]*``) and it
has at least ``min_snps`` SNPs; other chromosomes are packed, in genome order,
into shards ``_small_001``, ``_small_002``, ... of at least ``min_snps`` SNPs
(a leading ``_`` cannot start a path-safe chromosome name, so the two kinds
never collide). Every chromosome name must match the reference contig pattern
of the workflow (``[A-Za-z0-9_][A-Za-z0-9._|-]{0,199}``).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from breedomics.core.genotypes import chromosome_blocks
from breedomics.errors import UserError

__all__ = [
    "CONTIG_RE",
    "SHARD_RE",
    "plan_shards",
    "shard_chroms",
    "write_partial",
    "read_partials",
    "Scatter",
    "WHOLE_GENOME",
]

#: Contig names the workflow accepts (as ``sheets._CONTIG`` and the config schema).
CONTIG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._|-]{0,199}$")
#: Chromosome names that may name a shard (and so a folder) themselves.
SHARD_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
PACKED_PREFIX = "_small_"


def plan_shards(geno: str | os.PathLike, min_snps: int = 500) -> pd.DataFrame:
    """Split the chromosomes of a genotype file into scatter shards.

    Parameters
    ----------
    geno : str or path-like
        Genotype file (VCF/BCF or PLINK prefix), sorted by chromosome.
    min_snps : int
        Chromosomes with fewer SNPs (or with a name that is not path-safe) are
        packed together into shards of at least this many SNPs.

    Returns
    -------
    pandas.DataFrame
        ``shard, chrom, n_snps, order`` with one row per chromosome in genome
        (file) order; ``order`` is the chromosome's rank.

    Raises
    ------
    UserError
        If a chromosome name has characters outside the contig pattern, or a
        chromosome appears in two separate blocks of the file.
    """
    if min_snps < 1:
        raise UserError(f"min_snps must be >= 1, got {min_snps}")
    names, _, counts = chromosome_blocks(geno)  # PLINK: flat memory for any size
    if len(names) == 0:
        raise UserError(f"{geno}: no variants to scatter")
    seen: set[str] = set()
    for name in names:
        if not CONTIG_RE.match(name):
            raise UserError(
                f"{geno}: chromosome name {name!r} has characters outside "
                "[A-Za-z0-9._|-] (or does not start with a letter, digit or '_'); "
                "rename it (it becomes part of file names)"
            )
        if name in seen:
            raise UserError(
                f"{geno}: chromosome {name} appears in two separate blocks; sort the file "
                "by chromosome and position"
            )
        seen.add(name)
    shards: list[str] = []
    packed, pack_n = 0, 0
    for name, n in zip(names, counts, strict=True):
        if n >= min_snps and SHARD_RE.match(name):
            shards.append(name)
            continue
        if pack_n == 0 or pack_n >= min_snps:
            packed, pack_n = packed + 1, 0
        shards.append(f"{PACKED_PREFIX}{packed:03d}")
        pack_n += int(n)
    return pd.DataFrame(
        {"shard": shards, "chrom": names, "n_snps": counts, "order": np.arange(len(names))}
    )


def read_plan(path: str | os.PathLike) -> pd.DataFrame:
    """Read a shard plan written from :func:`plan_shards`."""
    try:
        plan = pd.read_csv(path, sep="\t", dtype={"shard": str, "chrom": str})
    except (OSError, pd.errors.ParserError) as exc:
        raise UserError(f"cannot read shard plan {path}: {exc}") from exc
    if not {"shard", "chrom", "order"} <= set(plan.columns):
        raise UserError(f"{path} is not a shard plan (needs columns shard, chrom, order)")
    return plan


def shard_chroms(plan_path: str | os.PathLike, shard: str) -> list[str]:
    """Chromosomes of one shard of a plan, in genome order."""
    plan = read_plan(plan_path)
    chroms = plan.loc[plan["shard"] == shard, "chrom"].tolist()
    if not chroms:
        raise UserError(f"shard {shard!r} is not in {plan_path}")
    return chroms


def _encode(value: Any) -> Any:
    if isinstance(value, pd.DataFrame):
        return {"__frame__": {c: _encode(value[c].to_numpy()) for c in value.columns}}
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iub":
            return {"__array__": value.tolist(), "dtype": value.dtype.str}
        if value.dtype.kind == "f":
            return {"__array__": [_float(x) for x in value.ravel()], "dtype": value.dtype.str,
                    "shape": list(value.shape)}  # fmt: skip
        return {"__array__": [str(x) for x in value.ravel()], "dtype": "object"}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if isinstance(value, np.generic):
        return _encode(value.item())
    if isinstance(value, float):
        return _float(value)
    return value


def _float(x: float) -> float | str:
    x = float(x)
    return x if math.isfinite(x) else repr(x)  # JSON has no nan/inf


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "__frame__" in value:
            return pd.DataFrame({c: _decode(v) for c, v in value["__frame__"].items()})
        if "__array__" in value:
            if value["dtype"] == "object":
                return np.array(value["__array__"], dtype=object)
            data = [float(x) if isinstance(x, str) else x for x in value["__array__"]]
            arr = np.array(data, dtype=np.dtype(value["dtype"]))
            return arr.reshape(value["shape"]) if "shape" in value else arr
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def write_partial(obj: dict[str, Any], path: str | os.PathLike, kind: str) -> str:
    """Write a shard's partial result (arrays, tables, numbers) as exact JSON.

    Floats are written with Python's shortest round-trip representation, so a
    gather reads back exactly the numbers the shard computed.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        json.dump({"kind": kind, "data": _encode(obj)}, fh)
    return str(path)


def read_partials(paths: list[str | os.PathLike], kind: str) -> list[dict[str, Any]]:
    """Read partial results written by :func:`write_partial` (all of one ``kind``)."""
    if not paths:
        raise UserError(f"no partial {kind} results to gather")
    out = []
    for p in paths:
        try:
            with open(p) as fh:
                doc = json.load(fh)
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"cannot read partial result {p}: {exc}") from exc
        if doc.get("kind") != kind:
            raise UserError(f"{p} holds a partial {doc.get('kind')!r} result, not {kind!r}")
        out.append(_decode(doc["data"]))
    return out


@dataclass(frozen=True)
class Scatter:
    """How a per-chromosome job runs: whole genome, one shard, or the gather of shards.

    Attributes
    ----------
    plan : str, optional
        Shard plan written by :func:`plan_shards` (its chromosome order is the
        genome order of a gather).
    shard : str, optional
        Compute only this shard's partial result.
    gather : sequence of str, optional
        Partial results to combine.
    """

    plan: str | os.PathLike | None = None
    shard: str | None = None
    gather: Sequence[str | os.PathLike] | None = None

    @property
    def mode(self) -> str:
        """``full``, ``shard`` or ``gather`` (checked for consistency)."""
        if self.shard and self.gather:
            raise UserError("--shard and --gather exclude each other")
        if self.shard and not self.plan:
            raise UserError("--shard needs --shards (the plan written by `census shards`)")
        return "shard" if self.shard else "gather" if self.gather else "full"

    def chrom_order(self) -> list[str] | None:
        """Chromosomes of the plan in genome order (None without a plan)."""
        return read_plan(self.plan)["chrom"].tolist() if self.plan else None

    def partial(
        self,
        kind: str,
        compute: Callable[[list[str] | None], dict[str, Any]],
        combine: Callable[[list[dict[str, Any]]], dict[str, Any]],
    ) -> dict[str, Any]:
        """The job's partial result: computed (whole genome or this shard) or gathered.

        Parameters
        ----------
        kind : str
            Kind of the partial-result files (:func:`write_partial`).
        compute : callable
            ``compute(chroms)``: the partial of these chromosomes (None: all).
        combine : callable
            ``combine(parts)``: the partials of the shards joined.
        """
        mode = self.mode
        if mode == "gather":
            return combine(read_partials(list(self.gather), kind))
        return compute(shard_chroms(self.plan, self.shard) if mode == "shard" else None)


#: A per-chromosome job run over the whole genome in one go.
WHOLE_GENOME = Scatter()
