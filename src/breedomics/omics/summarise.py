"""Per-feature QTL summary of a molecular-trait scan: cis and trans QTL, hotspots.

Reads what ``breedomics gwas run`` wrote for every feature of a dataset (the
GWAS-SSF summary statistics ``<trait>.<model>.tsv.gz`` and the clumped leads
``<trait>.<model>.leads.tsv``) and the feature table of ``breedomics omics
prepare``, and writes the tables of a cis/trans QTL study (conventions of
FastQTL, Ongen et al. 2016, *Bioinformatics* 32:1479, and tensorQTL, Taylor-Weiner
et al. 2019, *Genome Biol* 20:228):

* per feature, the genome-wide lead variant, its p-value Šidák-adjusted for the
  variants tested (:func:`sidak`) and a Storey q-value across features;
* cis (features with a position): the lead among the variants within
  ``cis_window`` bp of the feature, its p-value Šidák-adjusted for the number of
  cis variants (a feature-level p-value as FastQTL's, without permutations:
  conservative under LD), Storey q-values across features and the nominal
  variant-level threshold of every feature at the FDR (``p_nominal_threshold``,
  as GTEx);
* trans: the clumped genome-wide leads (at the scan's genome-wide threshold) of
  features whose best trans variant (another chromosome, or more than
  ``trans_distance`` bp away) is significant at the FDR across features;
* hotspots: genomic windows holding the trans leads of many features (master
  regulators), with a Poisson test against leads spread uniformly. With the
  genotypes, a trans lead in LD (``r^2 >= trans_max_r2_cis``) with the feature's own
  significant cis lead -- long-range LD of a structured panel -- is kept in the trans
  table as ``trans_cis_ld`` but not counted as trans nor in hotspots.

Storey q-values: Storey & Tibshirani (2003), see :mod:`breedomics.omics.qvalue`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from breedomics.core.progress import Progress, track
from breedomics.errors import UserError
from breedomics.gwas.results import RESULT_FIELDS
from breedomics.omics.qvalue import pi0_storey, qvalues

__all__ = [
    "SummaryOptions",
    "read_scan",
    "feature_leads",
    "find_hotspots",
    "summarise",
    "sidak",
    "cis_meff",
    "feature_distance",
    "lead_r2",
    "read_dosages",
    "unit_columns",
    "classify",
    "plot_map",
    "FEATURE_COLUMNS",
    "CIS_COLUMNS",
    "TRANS_COLUMNS",
    "HOTSPOT_COLUMNS",
]

_VARIANT = ["variant_id", *RESULT_FIELDS]
FEATURE_COLUMNS = [
    "feature_id",
    "chrom",
    "start",
    "end",
    "n_variants",
    *_VARIANT,
    "p_adjusted",
    "q_value",
    "lead_class",
    "significant",
]
CIS_COLUMNS = [
    "feature_id",
    "chrom",
    "start",
    "end",
    "n_cis_variants",
    "n_cis_tests",
    *_VARIANT,
    "distance",
    "p_adjusted",
    "q_value",
    "p_nominal_threshold",
    "significant",
]
TRANS_COLUMNS = [
    "feature_id",
    "chrom",
    "start",
    "end",
    "class",
    "qtl",
    *_VARIANT,
    "interval_start",
    "interval_end",
    "n_trans_variants",
    "feature_p_adjusted",
    "feature_q_value",
    "r2_with_cis_lead",
    "hotspot",
]
HOTSPOT_COLUMNS = [
    "hotspot",
    "chromosome",
    "start",
    "end",
    "n_features",
    "n_leads",
    "top_variant",
    "top_variant_features",
    "best_neg_log_10_p_value",
    "expected_features",
    "poisson_p",
    "features",
]


@dataclass
class SummaryOptions:
    """Options of :func:`summarise` (see ``breedomics omics summarise --help``)."""

    model: str = "mlm-p3d"
    cis_window: int = 1_000_000
    trans_distance: int = 5_000_000
    fdr: float = 0.05
    hotspot_window: int = 500_000
    hotspot_min_features: int = 5
    cis_correction: str = "variants"  # variants | meff (needs geno)
    geno: str | None = None
    trans_max_r2_cis: float = 0.05
    meff_block: int = 300


def read_scan(path: str | os.PathLike) -> pd.DataFrame:
    """The columns of a GWAS-SSF file that the summary needs (pyarrow reader).

    Returns
    -------
    pandas.DataFrame
        ``chromosome`` and alleles as str, ``neg_log_10_p_value`` float (NaN for NA).
    """
    types = {
        "chromosome": pa.string(),
        "variant_id": pa.string(),
        "effect_allele": pa.string(),
        "other_allele": pa.string(),
        "p_value": pa.string(),
        "base_pair_location": pa.int64(),
        "beta": pa.float64(),
        "standard_error": pa.float64(),
        "effect_allele_frequency": pa.float64(),
        "neg_log_10_p_value": pa.float64(),
    }
    try:
        t = pacsv.read_csv(
            str(path),
            parse_options=pacsv.ParseOptions(delimiter="\t"),
            convert_options=pacsv.ConvertOptions(
                column_types=types, include_columns=_VARIANT, null_values=["NA"]
            ),
        )
    except (pa.ArrowInvalid, FileNotFoundError) as exc:
        raise UserError(f"cannot read the scan results {path}: {exc}") from exc
    return t.to_pandas()


def feature_distance(pos: np.ndarray, start1: int, end: int) -> np.ndarray:
    """Signed distance of positions to the 1-based interval [start1, end] (0 inside)."""
    return np.where(pos < start1, pos - start1, np.where(pos > end, pos - end, 0))


def feature_leads(
    ss: pd.DataFrame, chrom: str | None, start: int, end: int, opts: SummaryOptions
) -> dict:
    """Genome-wide, cis and trans leads of one feature's summary statistics.

    Parameters
    ----------
    ss : pandas.DataFrame
        From :func:`read_scan`.
    chrom : str or None
        Feature chromosome (None: no position, only the genome-wide lead).
    start, end : int
        BED coordinates of the feature (0-based start, 1-based end).
    opts : SummaryOptions

    Returns
    -------
    dict
        ``all``, ``cis``, ``trans``: ``(row index or -1, number of variants)``;
        ``distance`` of every variant (or None) and ``lead_class``.
    """
    nl = ss["neg_log_10_p_value"].to_numpy(dtype=np.float64)
    ok = np.isfinite(nl)
    nlz = np.where(ok, nl, -np.inf)

    def best(mask):
        m = int((mask & ok).sum())
        return (int(np.argmax(np.where(mask, nlz, -np.inf))) if m else -1), m

    out = {"all": best(ok), "cis": (-1, 0), "trans": best(ok), "distance": None}
    if chrom is None:
        out["lead_class"] = "unpositioned"
        return out
    same = ss["chromosome"].to_numpy(dtype=str) == str(chrom)
    dist = feature_distance(ss["base_pair_location"].to_numpy(np.int64), start + 1, end)
    out["distance"] = dist
    out["cis_mask"] = same & (np.abs(dist) <= opts.cis_window) & ok
    out["cis"] = best(out["cis_mask"])
    out["trans"] = best(~same | (np.abs(dist) > opts.trans_distance))
    i = out["all"][0]
    out["lead_class"] = classify(bool(i >= 0 and same[i]), int(dist[i]) if i >= 0 else 0, opts)
    return out


def classify(same_chrom: bool, distance: int, opts: SummaryOptions) -> str:
    """``cis`` (within ``cis_window``), ``trans`` (other chromosome or beyond
    ``trans_distance``) or ``distal`` (same chromosome, in between)."""
    if not same_chrom or abs(distance) > opts.trans_distance:
        return "trans"
    return "cis" if abs(distance) <= opts.cis_window else "distal"


def sidak(nl: float, m: int) -> float:
    """Šidák-adjusted p ``1 - (1 - p)^m`` of the best of ``m`` tests, from ``-log10 p``.

    Exactly uniform under the null for ``m`` independent tests (conservative when
    they are correlated by LD); ``= m p`` to first order for small ``p``.
    """
    if not np.isfinite(nl) or m == 0:
        return np.nan
    p = 10.0**-nl
    return float(m * p if m * p < 1e-10 else -np.expm1(m * np.log1p(-min(p, 1.0))))


def _nominal(q: np.ndarray, padj: np.ndarray, fdr: float) -> float:
    """Largest adjusted p among features with ``q <= fdr`` (GTEx's p-value threshold)."""
    sig = np.isfinite(q) & (q <= fdr)
    return float(np.nanmax(padj[sig])) if sig.any() else np.nan


def find_hotspots(
    leads: pd.DataFrame, genome_span: float, window: int, min_features: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """Cluster trans leads along the genome into hotspots.

    Leads on one chromosome closer than ``window`` bp to the previous one join its
    cluster (single linkage). A cluster holding the leads of at least
    ``min_features`` distinct features is a hotspot. ``expected_features`` is the
    number of features expected in the cluster's span (+ ``window``) were the
    ``F`` features' leads spread uniformly over the genome, ``poisson_p`` the
    Poisson upper tail ``P(X >= n_features)``.

    Parameters
    ----------
    leads : pandas.DataFrame
        ``feature_id, variant_id, chromosome, base_pair_location, neg_log_10_p_value``.
    genome_span : float
        Total bp spanned by the tested variants.
    window : int
        Linkage distance (bp).
    min_features : int
        Features a hotspot needs.

    Returns
    -------
    hotspots : pandas.DataFrame
        Columns :data:`HOTSPOT_COLUMNS`, strongest first.
    label : numpy.ndarray
        Hotspot name of every row of ``leads`` (``""`` outside hotspots).
    """
    from scipy.special import pdtrc

    label = np.full(len(leads), "", dtype=object)
    if len(leads) == 0:
        return pd.DataFrame(columns=HOTSPOT_COLUMNS), label
    chrom = leads["chromosome"].astype(str).to_numpy()
    pos = leads["base_pair_location"].to_numpy(np.int64)
    rank = {c: i for i, c in enumerate(dict.fromkeys(chrom))}
    order = np.lexsort((pos, [rank[c] for c in chrom]))
    new = np.ones(len(order), dtype=bool)
    new[1:] = (chrom[order][1:] != chrom[order][:-1]) | (np.diff(pos[order]) > window)
    cluster = np.empty(len(leads), dtype=np.int64)
    cluster[order] = np.cumsum(new) - 1
    n_feat_total = leads["feature_id"].nunique()
    rows = []
    for c in np.unique(cluster):
        sel = leads[cluster == c]
        feats = list(dict.fromkeys(sel["feature_id"]))
        if len(feats) < min_features:
            continue
        counts = sel.groupby("variant_id", sort=False).agg(
            n=("feature_id", "nunique"), nl=("neg_log_10_p_value", "max")
        )
        top = counts.sort_values(["n", "nl"], ascending=False, kind="stable").index[0]
        start, end = int(sel["base_pair_location"].min()), int(sel["base_pair_location"].max())
        expected = n_feat_total * min(1.0, (end - start + window) / max(genome_span, 1.0))
        rows.append(
            {
                "chromosome": str(sel["chromosome"].iloc[0]),
                "start": start,
                "end": end,
                "n_features": len(feats),
                "n_leads": len(sel),
                "top_variant": top,
                "top_variant_features": int(counts.loc[top, "n"]),
                "best_neg_log_10_p_value": float(sel["neg_log_10_p_value"].max()),
                "expected_features": expected,
                "poisson_p": float(pdtrc(len(feats) - 1, expected)),
                "features": ",".join(feats),
                "_cluster": c,
            }
        )
    if not rows:
        return pd.DataFrame(columns=HOTSPOT_COLUMNS), label
    hs = pd.DataFrame(rows).sort_values(
        ["n_features", "best_neg_log_10_p_value"], ascending=False, kind="stable"
    )
    hs.insert(0, "hotspot", [f"hotspot{i + 1}" for i in range(len(hs))])
    for name, c in zip(hs["hotspot"], hs["_cluster"], strict=True):
        label[cluster == c] = name
    return hs[HOTSPOT_COLUMNS].reset_index(drop=True), label


def cis_meff(geno: str, windows: list[tuple[str, np.ndarray]], block: int = 300) -> np.ndarray:
    """Effective number of independent tests of every cis window, from its LD.

    The window's variants are cut into consecutive blocks of at most ``block``
    variants; each block's effective number is Gao's (the eigenvalues of the
    variants' correlation matrix needed for 99.5 % of their sum; Gao, Starmer &
    Martin 2008, *Genet Epidemiol* 32:361), as eigenMT does for cis-eQTL (Davis et
    al. 2016, *Am J Hum Genet* 98:216); the window's is their sum. Genotypes are read
    one chromosome at a time, only the windows' variants (all samples of the file;
    missing calls mean-imputed).

    Parameters
    ----------
    geno : str
        PLINK prefix or VCF/BCF.
    windows : list of (chromosome, variant ids)
        The cis variants of every feature.
    block : int
        Largest block.

    Returns
    -------
    numpy.ndarray
        ``M_eff`` per window (at least 1 when the window has a variant, else 0).
    """
    from breedomics.core import genotypes as gt
    from breedomics.core.standardise import impute_center
    from breedomics.gwas.scan import GenotypeSource
    from breedomics.gwas.threshold import meff_block

    out = np.zeros(len(windows))
    samples = gt.read_samples(geno)
    by_chrom: dict[str, list[int]] = {}
    for k, (c, ids) in enumerate(windows):
        if len(ids):
            by_chrom.setdefault(c, []).append(k)
    for c, ks in by_chrom.items():
        # only the chromosome's cis variants (PLINK: just their rows), not all of it
        want = list(dict.fromkeys(str(i) for k in ks for i in windows[k][1]))
        v, d = GenotypeSource(geno, samples, chromosomes=[c]).extract_ids(want)
        if not len(v):
            continue
        z, _mean, _n = impute_center(d)
        col = {vid: i for i, vid in enumerate(v["id"].astype(str))}
        for k in ks:
            cols = np.array([col[i] for i in windows[k][1] if i in col], dtype=np.int64)
            m = 0.0
            for b in range(0, len(cols), block):
                m += meff_block(z[:, cols[b : b + block]])[1]
            out[k] = max(m, 1.0) if len(cols) else 0.0
    return out


def read_dosages(geno: str, ids: list[str]) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Variants (``chrom, pos, id``; those of ``ids`` found) and their dosages
    ``(samples, k)`` over every sample of ``geno`` (NaN missing), and the sample order."""
    from breedomics.core import genotypes as gt
    from breedomics.gwas.scan import GenotypeSource

    samples = gt.read_samples(geno)
    v, d = GenotypeSource(geno, samples).extract_ids(ids)
    return v.reset_index(drop=True), np.asarray(d, dtype=np.float64), samples


def unit_columns(dosage: np.ndarray) -> np.ndarray:
    """Dosages mean-imputed and centred (core), each column scaled to length 1 (0 if
    monomorphic): ``z[:, a] @ z[:, b]`` is the LD ``r`` of variants ``a`` and ``b``."""
    from breedomics.core.standardise import impute_center

    z, _mean, _n = impute_center(np.asarray(dosage, dtype=np.float64))
    norm = np.sqrt((z * z).sum(axis=0))
    return z / np.where(norm > 0, norm, np.inf)


def lead_r2(geno: str, variants: np.ndarray, partners: pd.Series) -> np.ndarray:
    """Squared correlation of every variant with its partner (NaN without a partner).

    Used to flag trans leads that tag the feature's own cis-QTL through long-range
    (e.g. between-chromosome, population-structure) LD: ``r^2`` of allele dosages
    over all samples of ``geno``, missing calls mean-imputed.
    """
    part = partners.to_numpy(dtype=object)
    has = pd.notna(part)
    out = np.full(len(variants), np.nan)
    if not has.any():
        return out
    ids = list(dict.fromkeys([*map(str, variants[has]), *map(str, part[has])]))
    v, d, _samples = read_dosages(geno, ids)
    z = unit_columns(d)
    col = {vid: i for i, vid in enumerate(v["id"].astype(str))}
    for i in np.flatnonzero(has):
        a, b = col.get(str(variants[i])), col.get(str(part[i]))
        if a is not None and b is not None:
            out[i] = float(z[:, a] @ z[:, b]) ** 2
    return out


def _row(ss: pd.DataFrame, i: int) -> dict:
    if i < 0:
        return {c: np.nan for c in _VARIANT}
    r = ss.iloc[i]
    return {c: r[c] for c in _VARIANT}


def summarise(
    features: pd.DataFrame, qtl_dir: str | os.PathLike, opts: SummaryOptions
) -> dict[str, pd.DataFrame]:
    """Per-feature, cis, trans and hotspot tables of one dataset's scan.

    Parameters
    ----------
    features : pandas.DataFrame
        ``features.tsv`` of ``breedomics omics prepare`` (kept features are read).
    qtl_dir : str or path-like
        The ``breedomics gwas run --out`` folder of the dataset.
    opts : SummaryOptions

    Returns
    -------
    dict
        ``features``, ``cis``, ``trans``, ``hotspots``, ``summary`` tables.
    """
    qtl_dir = str(qtl_dir)
    kept = features[features["status"] == "kept"].reset_index(drop=True)
    positioned = kept["chrom"].notna() & (kept["chrom"].astype(str) != "")
    feat_rows, cis_rows, trans_best = [], [], []
    leads_all, lead_files, cis_ids = [], [], []
    spans: dict[str, tuple[int, int]] = {}
    progress = Progress(len(kept), "omics summary (feature scans)", "features")
    for k, f in track(kept.iterrows(), progress, lambda _row: 1):
        stem = os.path.join(qtl_dir, f"{f['trait']}.{opts.model}")
        if not os.path.exists(stem + ".tsv.gz"):
            raise UserError(
                f"{stem}.tsv.gz is missing: was {qtl_dir} written by `breedomics gwas run "
                f"--model {opts.model}` on this dataset's phenotypes?"
            )
        ss = read_scan(stem + ".tsv.gz")
        for c, grp in ss.groupby("chromosome", sort=False)["base_pair_location"]:
            lo, hi = spans.get(c, (grp.min(), grp.max()))
            spans[c] = (min(lo, grp.min()), max(hi, grp.max()))
        has_pos = bool(positioned[k])
        start = int(f["start"]) if has_pos else 0
        end = int(f["end"]) if has_pos else 0
        res = feature_leads(ss, str(f["chrom"]) if has_pos else None, start, end, opts)
        i, m = res["all"]
        row = {
            "feature_id": f["feature_id"],
            "chrom": f["chrom"] if has_pos else "",
            "start": start if has_pos else np.nan,
            "end": end if has_pos else np.nan,
            "n_variants": m,
            **_row(ss, i),
            "p_adjusted": sidak(ss["neg_log_10_p_value"].iloc[i], m) if i >= 0 else np.nan,
            "lead_class": res["lead_class"],
        }
        feat_rows.append(row)
        if has_pos:
            ci, cm = res["cis"]
            cis_rows.append(
                {
                    "feature_id": f["feature_id"],
                    "chrom": f["chrom"],
                    "start": start,
                    "end": end,
                    "n_cis_variants": cm,
                    **_row(ss, ci),
                    "distance": int(res["distance"][ci]) if ci >= 0 else np.nan,
                    "p_adjusted": (
                        sidak(ss["neg_log_10_p_value"].iloc[ci], cm) if ci >= 0 else np.nan
                    ),
                }
            )
        ti, tm = res["trans"]
        trans_best.append(
            {
                "p_adjusted": (sidak(ss["neg_log_10_p_value"].iloc[ti], tm) if ti >= 0 else np.nan),
                "n": tm,
            }
        )
        lead_files.append((stem + ".leads.tsv", f["feature_id"], has_pos, f["chrom"], start, end))
        if has_pos and opts.cis_correction == "meff":
            cis_ids.append((str(f["chrom"]), ss["variant_id"].to_numpy()[res["cis_mask"]]))
    feat = pd.DataFrame(
        feat_rows, columns=[c for c in FEATURE_COLUMNS if c not in ("q_value", "significant")]
    )
    feat["q_value"] = qvalues(feat["p_adjusted"].to_numpy(float))
    feat["significant"] = feat["q_value"] <= opts.fdr
    feat = feat[FEATURE_COLUMNS]
    summary = {
        "n_features": int(len(features)),
        "n_features_tested": int(len(kept)),
        "n_features_removed": int((features["status"] != "kept").sum()),
        "fdr": opts.fdr,
        "model": opts.model,
        "pi0_genome_wide": pi0_storey(feat["p_adjusted"].to_numpy(float)),
        "n_significant_features": int(feat["significant"].sum()),
    }
    # cis
    cis = pd.DataFrame(
        cis_rows,
        columns=[
            c for c in CIS_COLUMNS if c not in ("q_value", "p_nominal_threshold", "significant")
        ],
    )
    cis["n_cis_tests"] = cis["n_cis_variants"].astype(float)
    if len(cis) and opts.cis_correction == "meff":
        if not opts.geno:
            raise UserError("the M_eff cis correction needs the genotypes (--geno)")
        cis["n_cis_tests"] = cis_meff(opts.geno, cis_ids, opts.meff_block)
        nl = cis["neg_log_10_p_value"].to_numpy(float)
        cis["p_adjusted"] = [sidak(a, b) for a, b in zip(nl, cis["n_cis_tests"], strict=True)]
    if len(cis):
        padj = cis["p_adjusted"].to_numpy(float)
        cis["q_value"] = qvalues(padj)
        p_star = _nominal(cis["q_value"].to_numpy(), padj, opts.fdr)
        # the variant-level p whose Šidák adjustment is p*: 1 - (1 - p*)^(1/m)
        m_cis = cis["n_cis_tests"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            cis["p_nominal_threshold"] = np.where(
                (m_cis > 0) & np.isfinite(p_star),
                -np.expm1(np.log1p(-min(p_star, 1 - 1e-16)) / m_cis),
                np.nan,
            )
        cis["significant"] = cis["q_value"] <= opts.fdr
        summary["pi0_cis"] = pi0_storey(padj)
        summary["n_cis_features"] = int(cis["significant"].sum())
        summary["cis_p_adjusted_threshold"] = p_star
    else:
        cis = pd.DataFrame(columns=CIS_COLUMNS)
    cis = cis[CIS_COLUMNS]
    # trans: the feature-level test on the best trans variant, then the clumped leads
    tb = pd.DataFrame(trans_best)
    tq = qvalues(tb["p_adjusted"].to_numpy(float)) if len(tb) else np.zeros(0)
    # the clumped leads of the features significant in trans (the others are not reported)
    for k in np.flatnonzero(tq <= opts.fdr):
        lead_path, fid, has_pos, chrom, start, end = lead_files[k]
        if not os.path.exists(lead_path):
            raise UserError(f"{lead_path} is missing: was the scan run with its report?")
        ld = pd.read_csv(lead_path, sep="\t", dtype={"chromosome": str, "p_value": str})
        ld = ld.rename(columns={"lead_variant": "variant_id"})
        if len(ld):
            leads_all.append(
                ld.assign(
                    feature_id=fid,
                    _k=k,
                    _chrom=chrom if has_pos else None,
                    _start=start,
                    _end=end,
                )
            )
    trans = pd.DataFrame(columns=TRANS_COLUMNS)
    if leads_all:
        ld = pd.concat(leads_all, ignore_index=True)
        same = ld["chromosome"].astype(str).to_numpy() == ld["_chrom"].astype(str).to_numpy()
        has = ld["_chrom"].notna().to_numpy()
        pos = ld["base_pair_location"].to_numpy(np.int64)
        dist = np.where(
            has,
            feature_distance(
                pos, ld["_start"].to_numpy(np.int64) + 1, ld["_end"].to_numpy(np.int64)
            )
            if len(ld)
            else 0,
            0,
        )
        cls = np.array(
            [
                classify(bool(s), int(d), opts) if h else "unpositioned"
                for s, d, h in zip(same, dist, has, strict=True)
            ]
        )
        k = ld["_k"].to_numpy()
        fq = tq[k]
        fp = tb["p_adjusted"].to_numpy(float)[k]
        keep = np.isin(cls, ["trans", "unpositioned"]) & (fq <= opts.fdr)
        ld = ld.assign(
            chrom=ld["_chrom"].fillna(""),
            start=np.where(has, ld["_start"], np.nan),
            end=np.where(has, ld["_end"], np.nan),
            **{"class": cls},
            n_trans_variants=tb["n"].to_numpy()[k],
            feature_p_adjusted=fp,
            feature_q_value=fq,
            hotspot="",
        )
        trans = ld[keep].reset_index(drop=True)
        trans["r2_with_cis_lead"] = np.nan
        if opts.geno and len(trans) and len(cis):
            sig_cis = cis[cis["significant"].astype(bool)].set_index("feature_id")["variant_id"]
            trans["r2_with_cis_lead"] = lead_r2(
                opts.geno, trans["variant_id"].to_numpy(), trans["feature_id"].map(sig_cis)
            )
            shadow = trans["r2_with_cis_lead"].to_numpy(float) >= opts.trans_max_r2_cis
            trans.loc[shadow, "class"] = "trans_cis_ld"
    genome_span = float(sum(hi - lo for lo, hi in spans.values()))
    real = (trans["class"] != "trans_cis_ld").to_numpy() if len(trans) else np.zeros(0, bool)
    hotspots, label = find_hotspots(
        trans[real], genome_span, opts.hotspot_window, opts.hotspot_min_features
    )
    if len(trans):
        trans.loc[real, "hotspot"] = label
    trans = trans.reindex(columns=TRANS_COLUMNS)
    summary["pi0_trans"] = pi0_storey(tb["p_adjusted"].to_numpy(float)) if len(tb) else np.nan
    summary["n_trans_features"] = int(trans.loc[real, "feature_id"].nunique())
    summary["n_trans_leads"] = int(real.sum())
    summary["n_trans_leads_cis_ld"] = int((~real).sum())
    summary["n_hotspots"] = int(len(hotspots))
    return {
        "features": feat,
        "cis": cis,
        "trans": trans,
        "hotspots": hotspots,
        "summary": pd.DataFrame([summary]),
        "spans": spans,
    }


def plot_map(tables: dict, path: str | os.PathLike, title: str) -> None:
    """Cis/trans map: lead-variant position (x) against feature position (y).

    Features without a position are drawn in a band below the map; the lower panel
    counts the features with a trans lead along the genome (hotspots stand out).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spans = tables["spans"]
    offs, acc = {}, 0.0
    for c, (_lo, hi) in spans.items():
        offs[c] = acc
        acc += hi
    cis, trans, hs = tables["cis"], tables["trans"], tables["hotspots"]

    def gx(chrom, pos):
        return np.array([offs.get(str(c), np.nan) for c in chrom]) + np.asarray(pos, float)

    fig, (ax, ax2) = plt.subplots(
        2, 1, figsize=(7.5, 8), height_ratios=[3, 1], sharex=True, layout="constrained"
    )
    sig = cis[cis["significant"].astype(bool)] if len(cis) else cis
    if len(sig):
        ax.scatter(
            gx(sig["chromosome"], sig["base_pair_location"]),
            gx(sig["chrom"], sig["end"]),
            s=8,
            c="tab:blue",
            label=f"cis ({len(sig)} features)",
        )
    if len(trans):
        has = trans["chrom"].astype(str) != ""
        y = np.where(has, gx(trans["chrom"].where(has, ""), trans["end"].fillna(0)), -0.05 * acc)
        ax.scatter(
            gx(trans["chromosome"], trans["base_pair_location"]),
            y,
            s=10,
            c=np.where(trans["hotspot"] != "", "tab:red", "tab:orange"),
            label=f"trans ({trans['feature_id'].nunique()} features; red: hotspots)",
        )
    for o in offs.values():
        ax.axvline(o, color="0.85", lw=0.5)
        ax.axhline(o, color="0.85", lw=0.5)
        ax2.axvline(o, color="0.85", lw=0.5)
    ax.set_ylabel("feature position (genome order)")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    bins = np.linspace(0, max(acc, 1.0), 101)
    if len(trans):
        first = trans.drop_duplicates(["feature_id", "hotspot"]) if len(trans) else trans
        ax2.hist(gx(first["chromosome"], first["base_pair_location"]), bins=bins, color="0.3")
    top = max([1.0, *ax2.get_ylim(), *(float(n) for n in hs["n_features"])])
    ax2.set_ylim(0, top * 1.25)
    for h in hs.itertuples(index=False):
        ax2.annotate(
            h.hotspot,
            (offs.get(str(h.chromosome), 0) + (h.start + h.end) / 2, top * 1.05),
            fontsize=7,
            ha="center",
        )
    ax2.set_ylabel("features with a trans lead")
    ax2.set_xlabel("lead variant position (genome order; grey lines: chromosome starts)")
    ax2.set_xticks([offs[c] + (spans[c][1]) / 2 for c in offs], list(offs), fontsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)
