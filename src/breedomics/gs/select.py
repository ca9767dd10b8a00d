"""Selection index over traits and top-N selection with a relationship cap.

The index of candidate ``i`` is ``I_i = sum_t w_t GEBV_ti`` (Smith 1936;
Hazel 1943), with user (economic) weights ``w_t`` on the GEBVs in trait
units, or on GEBVs standardised to unit variance when ``standardize`` is set
(so weights express relative emphasis).

Selecting the top ``N`` by index alone tends to pick close relatives and
erodes genetic diversity. With ``max_kinship`` the candidates are taken in
index order and one is skipped when adding it would raise the mean
off-diagonal genomic relationship among the selected above the cap -- a
greedy approximation of optimum-contribution selection (Meuwissen 1997,
*J Anim Sci* 75:934) with equal contributions. VanRaden's GRM is on the
scale of twice the coancestry, so a cap of 0.125 corresponds to a mean
coancestry of 1/16.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from breedomics.core import tables
from breedomics.errors import UserError

__all__ = ["parse_weights", "selection_index", "select_top", "rank_candidates"]


def parse_weights(text: str) -> dict[str, float]:
    """Parse ``"yield=1,height=-0.5"``."""
    out: dict[str, float] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise UserError(f"--weights entry {part!r} must look like trait=weight")
        k, v = part.split("=", 1)
        try:
            out[k.strip()] = float(v)
        except ValueError as exc:
            raise UserError(f"--weights: {v!r} for trait {k!r} is not a number") from exc
    if not out:
        raise UserError("--weights is empty; give e.g. yield=1,height=-0.5")
    return out


def selection_index(
    gebv: pd.DataFrame, weights: Mapping[str, float], standardize: bool = False
) -> pd.Series:
    """Linear index ``sum_t w_t GEBV_t`` for each row of ``gebv`` (columns = traits).

    Rows with a missing GEBV for a weighted trait get a missing index.
    """
    missing = [t for t in weights if t not in gebv.columns]
    if missing:
        raise UserError(
            f"trait {missing[0]!r} of --weights has no GEBV column "
            f"(columns: {', '.join(map(str, gebv.columns[:12]))})"
        )
    idx = pd.Series(0.0, index=gebv.index)
    for t, w in weights.items():
        v = gebv[t].astype(float)
        if standardize:
            sd = v.std()
            if not np.isfinite(sd) or sd == 0:
                raise UserError(f"GEBVs of trait {t!r} are constant; cannot standardise")
            v = (v - v.mean()) / sd
        idx = idx + w * v
    return idx


def select_top(
    index: pd.Series,
    n: int,
    grm: np.ndarray | None = None,
    grm_samples: Sequence[str] | None = None,
    max_kinship: float | None = None,
) -> pd.DataFrame:
    """Rank candidates by index and select ``n`` of them.

    Parameters
    ----------
    index : pandas.Series
        Index value by candidate id (missing values are not selected).
    n : int
        Number to select.
    grm : numpy.ndarray, optional
        Genomic relationship matrix of ``grm_samples`` (needed with
        ``max_kinship``).
    max_kinship : float, optional
        Cap on the mean off-diagonal GRM relationship among the selected.

    Returns
    -------
    pandas.DataFrame
        All candidates in index order: ``rank, sample_id, index, selected,
        mean_kinship`` (mean relationship of the selected set after that
        candidate was accepted). ``attrs["n_selected"]`` may be below ``n`` if
        the cap cannot be met.
    """
    if n < 1:
        raise UserError(f"--top must be at least 1, got {n}")
    s = index.dropna().sort_values(ascending=False, kind="mergesort")
    if s.empty:
        raise UserError("no candidate has an index value (all GEBVs missing)")
    out = pd.DataFrame({"sample_id": s.index.astype(str), "index": s.to_numpy()})
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out["selected"] = False
    out["mean_kinship"] = np.nan
    if max_kinship is None:
        out.loc[: n - 1, "selected"] = True
        if grm is not None:
            pos = _positions(out["sample_id"], grm_samples)
            sel = pos[: min(n, len(pos))]
            sub = grm[np.ix_(sel, sel)]
            k = len(sel)
            if k > 1:
                out.loc[k - 1, "mean_kinship"] = (sub.sum() - np.trace(sub)) / (k * (k - 1))
        out.attrs["n_selected"] = int(out["selected"].sum())
        return out
    if grm is None or grm_samples is None:
        raise UserError("--max-kinship needs relationships: give --genotypes or --grm")
    pos = _positions(out["sample_id"], grm_samples)
    chosen: list[int] = []
    total = 0.0  # sum over selected pairs of G_ij
    for r in range(len(out)):
        if len(chosen) == n:
            break
        p = pos[r]
        add = float(grm[p, chosen].sum()) if chosen else 0.0
        k = len(chosen) + 1
        mean = (total + add) / (k * (k - 1) / 2) if k > 1 else 0.0
        if k == 1 or mean <= max_kinship:
            chosen.append(p)
            total += add
            out.loc[r, "selected"] = True
            out.loc[r, "mean_kinship"] = mean if k > 1 else np.nan
    out.attrs["n_selected"] = len(chosen)
    return out


def _positions(ids: Sequence[str], grm_samples: Sequence[str] | None) -> np.ndarray:
    if grm_samples is None:
        raise UserError("relationship matrix has no sample names")
    where = {str(s): i for i, s in enumerate(grm_samples)}
    miss = [s for s in ids if s not in where]
    if miss:
        raise UserError(
            f"candidate {miss[0]!r} is not in the relationship matrix "
            f"({len(miss)} missing); use the same genotype panel as for the GEBVs"
        )
    return np.array([where[s] for s in ids], dtype=np.int64)


def rank_candidates(
    gebv_path: str | os.PathLike,
    weights: Mapping[str, float],
    top: int,
    standardize: bool = False,
    max_kinship: float | None = None,
    grm_path: str | os.PathLike | None = None,
    genotypes: str | os.PathLike | None = None,
    dosage_scale: float = 1.0,
    candidates: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Rank the candidates of a GEBV table by index; select the top ``N`` under a kinship cap.

    Parameters
    ----------
    gebv_path : str or path-like
        ``gebv.tsv`` of ``gs predict`` (sample id first, one column per trait).
    weights : mapping
        Trait -> weight (:func:`parse_weights`).
    top : int
        Number to select.
    standardize : bool
        Weights on standardised GEBVs.
    max_kinship : float, optional
        Cap on the mean off-diagonal relationship among the selected, with the
        relationships of ``grm_path`` (a square TSV, sample id first) or the
        VanRaden GRM of ``genotypes``.
    dosage_scale : float
        Scale of TSV dosages (see :func:`breedomics.gs.data.read_genotypes`).
    candidates : str or path-like, optional
        File of candidate ids (one per line) to rank, default every sample.

    Returns
    -------
    pandas.DataFrame
        :func:`select_top`'s ranking joined with the GEBVs.
    """
    from breedomics.gs.data import read_genotypes, read_table
    from breedomics.gs.inputs import check_genotypes

    gebv = read_table(gebv_path, what="GEBV")
    gebv = gebv.set_index(gebv.columns[0])
    gebv.index = gebv.index.astype(str)
    if candidates:
        ids = [ln.strip() for ln in Path(candidates).read_text().splitlines() if ln.strip()]
        unknown = [i for i in ids if i not in gebv.index]
        if unknown:
            raise UserError(f"candidate {unknown[0]!r} has no GEBV in {gebv_path}")
        gebv = gebv.loc[ids]
    idx = selection_index(gebv, weights, standardize=standardize)
    grm = names = None
    if grm_path:
        g = tables.read_matrix(grm_path, what="GRM")
        names = g.index.tolist()
        grm = g.to_numpy(float)
        if grm.shape != (len(names), len(names)):
            raise UserError(f"GRM {grm_path} is {grm.shape[0]} x {grm.shape[1]}; must be square")
    elif genotypes:
        check_genotypes(genotypes)
        geno = read_genotypes(genotypes, dosage_scale=dosage_scale)
        grm, names = geno.grm(), geno.samples
    res = select_top(idx, top, grm, names, max_kinship)
    return res.merge(
        gebv.reset_index().rename(columns={gebv.index.name or "index": "sample_id"}),
        on="sample_id",
        how="left",
        suffixes=("", "_gebv"),
    )
