"""Link GWAS loci of field traits to the molecular features that act through them.

For every GWAS lead of a field trait (``<trait>.<model>.leads.tsv`` of ``breedomics
gwas run``) this module finds the omics features (metabolites, transcripts) whose QTL
lead shares the locus and whose level predicts the trait: the table that says "this
locus acts through this metabolite".

A feature is **colocalised** with a GWAS lead when its QTL lead variant is the GWAS
lead or in linkage disequilibrium with it on its chromosome, ``r^2 >= r2`` (0.8): the LD-proxy
colocalisation of eQTL and GWAS signals used by GTEx and the eQTL-GWAS overlap
literature (GTEx Consortium 2020; Nica et al. 2010). ``r^2`` is the squared
correlation of the two variants' allele dosages over every genotyped sample of the
panel, missing calls mean-imputed (as clumping, :mod:`breedomics.gwas.clump`),
read through :mod:`breedomics.core.genotypes` (only the variants needed).

The QTL leads of a dataset come from both mappings of the omics stage:

* the per-feature summary of the scan (``breedomics omics summarise`` of rule
  ``map_omics_qtl``): the genome-wide lead of every feature significant at the FDR
  (``qtl_features.tsv``), the significant cis leads (``cis.tsv``) and the clumped
  trans leads (``trans.tsv``, classes ``trans`` and ``unpositioned``);
* the mapping at scale (``breedomics omics map``, rule ``map_omics_scale``):
  ``mapping/cis.tsv`` leads with ``qval <= fdr``, the independent signals of
  ``mapping/cis_independent.tsv``, and the pairs of ``mapping/trans.parquet`` or
  ``mapping/cis_nominal/*.parquet`` with ``p <= max_pair_p`` (default a genome-wide
  Bonferroni ``0.05 / number of variants``), reduced to one lead per feature and
  ``window`` (greedy by p-value, as a positional clump) so that a feature's pairs in
  LD with its lead do not each count as a lead.

A colocalised feature is **linked** when its level predicts the trait: the Pearson
correlation of the feature (as mapped: ``phenotypes.tsv`` of ``omics prepare``) with
the trait's phenotype across the samples that have both, ``p <= max_p`` (0.05, the
t-test of ``r``). Mediation (Baron & Kenny 1986) is shown, not required: the trait
regressed by least squares on the GWAS lead's dosage (``lead_effect``, the total
effect per allele copy) and on the dosage and the feature together
(``lead_effect_given_feature``, the direct effect), in the same samples (trait,
feature and dosage all present); ``mediated_fraction = 1 - direct / total`` is the
share of the lead's effect that passes through the feature (the proportion mediated
of the difference method; near 1: the locus acts through the feature, near 0: beside
it). These regressions have no kinship or structure covariates: they describe the
samples, they are not the GWAS test.

Output (:data:`LINK_COLUMNS`), one row per trait, GWAS lead, dataset and feature
(the feature's most significant colocalised QTL lead over the sources, whose names
are listed in ``sources``): see ``docs/omics-mapping.md``.

References
----------
Baron RM, Kenny DA (1986) The moderator-mediator variable distinction in social
psychological research. *J Pers Soc Psychol* 51:1173-1182.

GTEx Consortium (2020) The GTEx Consortium atlas of genetic regulatory effects across
human tissues. *Science* 369:1318-1330.

Nica AC et al. (2010) Candidate causal regulatory effects by integration of expression
QTLs with complex trait genetic associations. *PLoS Genet* 6:e1000895.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from breedomics.core import genotypes as gt
from breedomics.errors import UserError
from breedomics.gwas.naming import trait_stem
from breedomics.omics.summarise import feature_distance, read_dosages, unit_columns

__all__ = [
    "LinkOptions",
    "LEAD_FIELDS",
    "QTL_COLUMNS",
    "LINK_COLUMNS",
    "read_gwas_leads",
    "read_summary_qtl",
    "read_mapping_qtl",
    "pair_leads",
    "ld_r2",
    "colocalise",
    "feature_trait_stats",
    "associate",
    "link_loci",
    "write_links",
]

Log = Callable[[str], None]

#: Columns of the GWAS lead table :func:`link_loci` reads.
LEAD_FIELDS = ["trait", "gwas_variant", "gwas_p"]
#: Columns of a QTL lead table (:func:`read_summary_qtl`, :func:`read_mapping_qtl`):
#: ``qtl_p`` the lead's nominal p-value (text, exact), ``qtl_q`` its feature-level
#: q-value (NaN where the source has none), ``source`` where it was read.
QTL_COLUMNS = ["dataset", "feature", "qtl_variant", "qtl_p", "qtl_q", "cis_or_trans", "source"]
#: Columns of ``links.tsv``.
LINK_COLUMNS = [
    "trait",
    "gwas_variant",
    "gwas_chromosome",
    "gwas_position",
    "gwas_p",
    "dataset",
    "feature",
    "qtl_variant",
    "qtl_p",
    "qtl_q",
    "ld_r2",
    "cis_or_trans",
    "sources",
    "n_samples",
    "feature_trait_r",
    "feature_trait_p",
    "lead_effect",
    "lead_effect_given_feature",
    "mediated_fraction",
]


def _no_log(_msg: str) -> None:
    pass


@dataclass
class LinkOptions:
    """Thresholds of :func:`link_loci` (see ``breedomics omics link --help``).

    Attributes
    ----------
    r2 : float
        Smallest LD ``r^2`` between the GWAS lead and the feature's QTL lead.
    max_p : float
        Largest p-value of the feature-trait correlation.
    fdr : float
        q-value threshold of the mapping's cis leads (``mapping/cis.tsv``).
    max_pair_p : float or None
        Largest p-value of a trans / cis_nominal pair (None: ``0.05 / variants``).
    window : int
        Pairs of one feature within this many bp of a better pair are not leads.
    """

    r2: float = 0.8
    max_p: float = 0.05
    fdr: float = 0.05
    max_pair_p: float | None = None
    window: int = 1_000_000


def _nl10(p: pd.Series) -> np.ndarray:
    """``-log10`` of text or numeric p-values, exact below the double range (``4e-400``)."""
    out = np.full(len(p), np.nan)
    for i, text in enumerate(p.astype(str)):
        mant, _e, exp = text.strip().lower().partition("e")
        try:
            m, x = float(mant), float(exp or 0)
        except ValueError:
            continue
        out[i] = np.inf if m <= 0 else -(np.log10(m) + x)
    return out


def read_gwas_leads(gwas_dir: str | os.PathLike, model: str, traits: Sequence[str]) -> pd.DataFrame:
    """The clumped GWAS leads of some traits, one table.

    Parameters
    ----------
    gwas_dir : str or path-like
        ``--out`` folder of ``breedomics gwas run`` (``results/gwas/<model>``).
    model : str
        The scan's model (file names ``<trait>.<model>.leads.tsv``).
    traits : sequence of str
        Traits to read.

    Returns
    -------
    pandas.DataFrame
        :data:`LEAD_FIELDS` (``gwas_p`` as written, text), one row per lead.

    Raises
    ------
    UserError
        A trait's lead table is missing.
    """
    parts = []
    for trait in traits:
        path = trait_stem(gwas_dir, trait, model) + ".leads.tsv"
        if not os.path.exists(path):
            raise UserError(f"{path}: no GWAS lead table for trait {trait!r} (model {model})")
        ld = pd.read_csv(path, sep="\t", dtype={"lead_variant": str, "p_value": str})
        parts.append(
            pd.DataFrame(
                {"trait": trait, "gwas_variant": ld["lead_variant"], "gwas_p": ld["p_value"]}
            )
        )
    if not parts:
        return pd.DataFrame(columns=LEAD_FIELDS)
    return pd.concat(parts, ignore_index=True)[LEAD_FIELDS]


def _qtl(dataset: str, feature, variant, p, q, kind, source: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": dataset,
            "feature": np.asarray(feature, dtype=object).astype(str),
            "qtl_variant": np.asarray(variant, dtype=object).astype(str),
            "qtl_p": np.asarray(p, dtype=object).astype(str),
            "qtl_q": np.asarray(q, dtype=np.float64),
            "cis_or_trans": kind,
            "source": source,
        },
        columns=QTL_COLUMNS,
    )


def _p6(p: pd.Series) -> list[str]:
    """Numeric p-values as text with six significant digits."""
    return [f"{x:.6g}" for x in p.astype(float)]


def _read_tsv(path: str) -> pd.DataFrame | None:
    if not os.path.exists(path):
        return None
    return pd.read_csv(
        path,
        sep="\t",
        dtype={"feature_id": str, "phenotype_id": str, "variant_id": str, "p_value": str},
        keep_default_na=True,
    )


def _true(x: pd.Series) -> np.ndarray:
    return x.astype(str).str.lower().isin(["true", "1"]).to_numpy()


def _significant(table: pd.DataFrame) -> np.ndarray:
    """The rows of a summary table marked ``significant``."""
    return _true(table["significant"])


def _trans_class(table: pd.DataFrame) -> np.ndarray:
    """The rows of ``trans.tsv`` of class ``trans`` or ``unpositioned`` (clumped trans leads)."""
    return table["class"].isin(["trans", "unpositioned"]).to_numpy()


def read_summary_qtl(dataset_dir: str | os.PathLike, dataset: str) -> pd.DataFrame:
    """The QTL leads of a dataset's per-feature summary (``omics summarise``).

    Parameters
    ----------
    dataset_dir : str or path-like
        ``results/omics/<dataset>``: ``qtl_features.tsv``, ``cis.tsv``, ``trans.tsv``
        (a missing file contributes nothing).
    dataset : str
        Dataset name for the ``dataset`` column.

    Returns
    -------
    pandas.DataFrame
        :data:`QTL_COLUMNS`: the genome-wide leads of the significant features
        (source ``summary_lead``, class as the summary's ``lead_class``), the
        significant cis leads (``summary_cis``) and the clumped trans leads
        (``summary_trans``).
    """
    # file, its rows that are leads, their q-value column, class column (None: all cis), source
    tables = (
        ("qtl_features.tsv", _significant, "q_value", "lead_class", "summary_lead"),
        ("cis.tsv", _significant, "q_value", None, "summary_cis"),
        ("trans.tsv", _trans_class, "feature_q_value", "class", "summary_trans"),
    )
    parts = []
    for name, leads, q_column, class_column, source in tables:
        table = _read_tsv(os.path.join(str(dataset_dir), name))
        if table is None or not len(table):
            continue
        t = table[leads(table) & table["variant_id"].notna()]
        kind = "cis" if class_column is None else t[class_column].astype(str).to_numpy()
        parts.append(
            _qtl(dataset, t["feature_id"], t["variant_id"], t["p_value"], t[q_column], kind, source)
        )
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=QTL_COLUMNS)


def pair_leads(
    pairs: pd.DataFrame, positions: pd.DataFrame, window: int, p_column: str = "pval"
) -> pd.DataFrame:
    """One lead per feature and locus among a feature's significant variant pairs.

    Greedy by p-value, per feature and chromosome: the best pair is a lead and claims
    every pair of the feature within ``window`` bp; the best unclaimed pair is the
    next lead (the positional clump of the pairs).

    Parameters
    ----------
    pairs : pandas.DataFrame
        ``phenotype_id, variant_id`` and ``p_column``.
    positions : pandas.DataFrame
        ``id, chrom, pos`` of the variants (:func:`breedomics.core.genotypes.read_variants`).
    window : int
        bp.
    p_column : str
        Column of the pair p-value.

    Returns
    -------
    pandas.DataFrame
        The lead pairs (rows of ``pairs``), best first within a feature.
    """
    if len(pairs) == 0:
        return pairs
    pos = positions.drop_duplicates("id").set_index("id")
    vid = pairs["variant_id"].astype(str)
    known = vid.isin(pos.index).to_numpy()
    p = pairs[known].assign(
        _chrom=pos["chrom"].astype(str).reindex(vid[known]).to_numpy(),
        _pos=pos["pos"].reindex(vid[known]).to_numpy(np.int64),
    )
    p = p.sort_values(p_column, kind="stable")
    keep = []
    for _key, grp in p.groupby(["phenotype_id", "_chrom"], sort=False):
        where = grp["_pos"].to_numpy()
        claimed = np.zeros(len(grp), dtype=bool)
        for i in range(len(grp)):
            if claimed[i]:
                continue
            keep.append(grp.index[i])
            claimed |= np.abs(where - where[i]) <= window
    return pairs.loc[keep]


def read_mapping_qtl(
    dataset_dir: str | os.PathLike,
    dataset: str,
    mode: str,
    geno: str,
    opts: LinkOptions,
    features: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The QTL leads of a dataset's mapping at scale (``omics map``, ``mapping/``).

    Parameters
    ----------
    dataset_dir : str or path-like
        ``results/omics/<dataset>``.
    dataset : str
        Dataset name.
    mode : str
        The mapping mode that ran: ``cis``, ``cis_independent`` (``cis.tsv`` leads at
        ``qval <= opts.fdr`` and, for the latter, ``cis_independent.tsv``), ``trans``
        (``trans.parquet``), ``cis_nominal`` (``cis_nominal/*.parquet``) or ``none``.
    geno : str
        Genotypes (positions of the pair variants; the variant count of the default
        ``max_pair_p``).
    opts : LinkOptions
        ``fdr``, ``max_pair_p``, ``window``.
    features : pandas.DataFrame, optional
        ``features.tsv`` of ``omics prepare`` (``feature_id, chrom, start, end``):
        trans pairs of a positioned feature within ``window`` of it are ``cis``.

    Returns
    -------
    pandas.DataFrame
        :data:`QTL_COLUMNS`, sources ``mapping_cis``, ``mapping_cis_independent``,
        ``mapping_trans``, ``mapping_cis_nominal``.

    Raises
    ------
    UserError
        The mode's output is missing.
    """
    m = os.path.join(str(dataset_dir), "mapping")
    parts = []
    if mode in ("cis", "cis_independent"):
        cis = _read_tsv(os.path.join(m, "cis.tsv"))
        if cis is None:
            raise UserError(f"{m}/cis.tsv is missing: did `omics map --mode {mode}` run?")
        c = cis[cis["qval"].astype(float) <= opts.fdr]
        parts.append(
            _qtl(
                dataset,
                c["phenotype_id"],
                c["variant_id"],
                _p6(c["pval_nominal"]),
                c["qval"],
                "cis",
                "mapping_cis",
            )
        )
        if mode == "cis_independent":
            ind = _read_tsv(os.path.join(m, "cis_independent.tsv"))
            if ind is None:
                raise UserError(f"{m}/cis_independent.tsv is missing")
            parts.append(
                _qtl(
                    dataset,
                    ind["phenotype_id"],
                    ind["variant_id"],
                    _p6(ind["pval_nominal"]),
                    np.nan,
                    "cis",
                    "mapping_cis_independent",
                )
            )
    elif mode in ("trans", "cis_nominal"):
        if mode == "trans":
            files, pcol = [os.path.join(m, "trans.parquet")], "pval"
        else:
            files, pcol = (
                sorted(glob.glob(os.path.join(m, "cis_nominal", "*.parquet"))),
                "pval_nominal",
            )
        if not files or not all(os.path.exists(f) for f in files):
            raise UserError(f"{m}: the {mode} pairs are missing: did `omics map` run?")
        positions = gt.read_variants(geno)
        max_p = opts.max_pair_p if opts.max_pair_p is not None else 0.05 / max(len(positions), 1)
        pairs = pd.concat(
            [pd.read_parquet(f, columns=["phenotype_id", "variant_id", pcol]) for f in files],
            ignore_index=True,
        )
        pairs = pairs[pairs[pcol].astype(float) <= max_p]
        leads = pair_leads(pairs, positions, opts.window, pcol)
        kind = np.full(len(leads), "cis" if mode == "cis_nominal" else "trans", dtype=object)
        if mode == "trans":
            kind[:] = "unpositioned"
            if features is not None and "chrom" in features:
                fpos = features.drop_duplicates("feature_id").set_index("feature_id")
                pos = positions.drop_duplicates("id").set_index("id")
                fid = leads["phenotype_id"].astype(str)
                fc = fpos["chrom"].reindex(fid).to_numpy(dtype=object)
                has = pd.notna(fc) & (pd.Series(fc).astype(str) != "").to_numpy()
                vc = pos["chrom"].astype(str).reindex(leads["variant_id"].astype(str)).to_numpy()
                vp = pos["pos"].reindex(leads["variant_id"].astype(str)).to_numpy(np.float64)
                start = fpos["start"].reindex(fid).to_numpy(np.float64)
                dist = feature_distance(
                    vp, start + 1, fpos["end"].reindex(fid).to_numpy(np.float64)
                )
                near = (vc == fc.astype(str)) & (np.abs(dist) <= opts.window)
                kind[has] = np.where(near[has], "cis", "trans")
        parts.append(
            _qtl(
                dataset,
                leads["phenotype_id"],
                leads["variant_id"],
                _p6(leads[pcol]),
                np.nan,
                kind,
                f"mapping_{mode}",
            )
        )
    elif mode != "none":
        raise UserError(f"unknown mapping mode {mode!r}")
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=QTL_COLUMNS)


def ld_r2(dosage: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """LD ``r^2`` of variant pairs: squared correlation of allele dosages.

    Parameters
    ----------
    dosage : numpy.ndarray
        ``(samples, variants)`` dosages, NaN missing (mean-imputed per variant).
    a, b : numpy.ndarray
        Column indices of the two variants of every pair.

    Returns
    -------
    numpy.ndarray
        ``r^2`` of every pair (0 when a variant is monomorphic).
    """
    z = unit_columns(dosage)
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    return np.einsum("ij,ij->j", z[:, a], z[:, b]) ** 2


def colocalise(
    leads: pd.DataFrame, qtl: pd.DataFrame, geno: str, r2: float = 0.8
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, list[str]]:
    """GWAS lead x feature QTL lead pairs on one locus (``r^2 >= r2``).

    Parameters
    ----------
    leads : pandas.DataFrame
        :data:`LEAD_FIELDS`.
    qtl : pandas.DataFrame
        :data:`QTL_COLUMNS`.
    geno : str
        Genotypes (PLINK prefix or VCF) of the panel.
    r2 : float
        Smallest LD ``r^2``.

    Returns
    -------
    pairs : pandas.DataFrame
        One row per trait, GWAS lead, dataset and feature: the feature's most
        significant colocalised QTL lead, ``ld_r2``, ``sources`` (every source with a
        colocalised lead), ``gwas_chromosome``, ``gwas_position``.
    variants, dosage, samples
        The variants read (``id`` column), their dosages and the sample order, for
        :func:`associate`.
    """
    cols = [*LINK_COLUMNS[:13]]
    empty = pd.DataFrame(columns=cols)
    if len(leads) == 0 or len(qtl) == 0:
        return empty, pd.DataFrame(columns=gt.VARIANT_COLUMNS), np.zeros((0, 0)), []
    ids = list(dict.fromkeys([*leads["gwas_variant"].astype(str), *qtl["qtl_variant"].astype(str)]))
    v, dos, samples = read_dosages(geno, ids)
    col = {vid: i for i, vid in enumerate(v["id"].astype(str))}
    chrom = v["chrom"].astype(str).to_numpy()
    pos = v["pos"].to_numpy(np.int64)
    missing = sorted(set(leads["gwas_variant"].astype(str)) - set(col))
    if missing:
        raise UserError(
            f"{len(missing)} GWAS lead(s) not in the genotypes {geno}: {', '.join(missing[:5])}"
        )
    q = qtl[qtl["qtl_variant"].astype(str).isin(col)].reset_index(drop=True)
    qi = q["qtl_variant"].astype(str).map(col).to_numpy(np.int64)
    z = unit_columns(dos)
    rows = []
    for lead in leads.itertuples(index=False):
        gi = col[str(lead.gwas_variant)]
        same = np.flatnonzero(chrom[qi] == chrom[gi])
        if len(same) == 0:
            continue
        r = (z[:, qi[same]].T @ z[:, gi]) ** 2
        ok = same[r >= r2]
        if len(ok) == 0:
            continue
        rows.append(
            q.iloc[ok].assign(
                trait=lead.trait,
                gwas_variant=str(lead.gwas_variant),
                gwas_chromosome=chrom[gi],
                gwas_position=int(pos[gi]),
                gwas_p=lead.gwas_p,
                ld_r2=r[r >= r2],
                _nl=_nl10(q["qtl_p"].iloc[ok]),
            )
        )
    if not rows:
        return empty, v, dos, samples
    c = pd.concat(rows, ignore_index=True)
    key = ["trait", "gwas_variant", "dataset", "feature"]
    c = c.sort_values(["_nl", "ld_r2"], ascending=False, kind="stable")
    sources = c.groupby(key, sort=False)["source"].agg(lambda s: ",".join(sorted(set(s))))
    best = c.drop_duplicates(key).set_index(key)
    best["sources"] = sources
    return best.reset_index()[cols], v, dos, samples


def feature_trait_stats(y: np.ndarray, f: np.ndarray, g: np.ndarray) -> dict[str, float]:
    """Correlation of a feature with a trait, and the mediation of a lead's effect.

    Parameters
    ----------
    y, f, g : numpy.ndarray
        Trait, feature and lead dosage of the same samples (NaN missing).

    Returns
    -------
    dict
        ``n_samples``, ``feature_trait_r`` and its two-sided ``feature_trait_p``
        (samples with ``y`` and ``f``); ``lead_effect`` (``y ~ 1 + g``),
        ``lead_effect_given_feature`` (``y ~ 1 + g + f``) and ``mediated_fraction``
        ``1 - direct / total`` (samples with ``y``, ``f`` and ``g``; Baron & Kenny
        1986). NaN where too few samples or no variation.
    """
    y, f, g = (np.asarray(x, dtype=np.float64) for x in (y, f, g))
    out = dict.fromkeys(LINK_COLUMNS[13:], np.nan)
    both = np.isfinite(y) & np.isfinite(f)
    out["n_samples"] = int(both.sum())
    if both.sum() >= 3 and np.ptp(y[both]) > 0 and np.ptp(f[both]) > 0:
        res = stats.pearsonr(f[both], y[both])
        out["feature_trait_r"], out["feature_trait_p"] = float(res[0]), float(res[1])
    three = both & np.isfinite(g)
    if three.sum() >= 4 and np.ptp(g[three]) > 0:
        one = np.ones(int(three.sum()))
        total = np.linalg.lstsq(np.column_stack([one, g[three]]), y[three], rcond=None)[0][1]
        x2 = np.column_stack([one, g[three], f[three]])
        direct = np.linalg.lstsq(x2, y[three], rcond=None)[0][1]
        out["lead_effect"], out["lead_effect_given_feature"] = float(total), float(direct)
        out["mediated_fraction"] = float(1 - direct / total) if total != 0 else np.nan
    return out


def associate(
    pairs: pd.DataFrame,
    traits: pd.DataFrame,
    features: Mapping[str, pd.DataFrame],
    variants: pd.DataFrame,
    dosage: np.ndarray,
    samples: Sequence[str],
) -> pd.DataFrame:
    """Add the feature-trait correlation and mediation columns to colocalised pairs.

    Parameters
    ----------
    pairs : pandas.DataFrame
        From :func:`colocalise`.
    traits : pandas.DataFrame
        Trait phenotypes, samples x traits (index sample ids).
    features : mapping
        Dataset -> samples x features levels (``phenotypes.tsv`` of ``omics prepare``).
    variants, dosage, samples
        From :func:`colocalise` (the GWAS leads' dosages).

    Returns
    -------
    pandas.DataFrame
        :data:`LINK_COLUMNS` (see :func:`feature_trait_stats`).
    """
    out = pairs.copy()
    col = {vid: i for i, vid in enumerate(variants["id"].astype(str))}
    gidx = pd.Index([str(s) for s in samples])
    rows = []
    for p in pairs.itertuples(index=False):
        table = features.get(p.dataset)
        if table is None or p.feature not in table.columns or p.trait not in traits.columns:
            rows.append(feature_trait_stats(np.zeros(0), np.zeros(0), np.zeros(0)))
            continue
        ids = traits.index.astype(str).intersection(table.index.astype(str))
        y = traits[p.trait].set_axis(traits.index.astype(str)).reindex(ids).to_numpy(float)
        f = table[p.feature].set_axis(table.index.astype(str)).reindex(ids).to_numpy(float)
        where = gidx.get_indexer(ids)
        g = np.where(where >= 0, dosage[np.maximum(where, 0), col[p.gwas_variant]], np.nan)
        rows.append(feature_trait_stats(y, f, g))
    st = pd.DataFrame(rows, columns=LINK_COLUMNS[13:], index=out.index)
    for c in st.columns:
        out[c] = st[c]
    out["n_samples"] = out["n_samples"].astype("Int64")
    return out.reindex(columns=LINK_COLUMNS)


def link_loci(
    leads: pd.DataFrame,
    qtl: pd.DataFrame,
    traits: pd.DataFrame,
    features: Mapping[str, pd.DataFrame],
    geno: str,
    opts: LinkOptions | None = None,
    log: Log = _no_log,
) -> pd.DataFrame:
    """The GWAS lead -> feature links: colocalised (LD) and predictive of the trait.

    Parameters
    ----------
    leads : pandas.DataFrame
        :data:`LEAD_FIELDS` (:func:`read_gwas_leads`).
    qtl : pandas.DataFrame
        :data:`QTL_COLUMNS` (:func:`read_summary_qtl`, :func:`read_mapping_qtl`).
    traits : pandas.DataFrame
        Trait phenotypes, samples x traits.
    features : mapping
        Dataset -> samples x features.
    geno : str
        Genotypes of the panel (PLINK prefix or VCF).
    opts : LinkOptions, optional
        ``r2`` and ``max_p``.
    log : callable
        Progress messages.

    Returns
    -------
    pandas.DataFrame
        :data:`LINK_COLUMNS`, rows with ``ld_r2 >= r2`` and ``feature_trait_p <=
        max_p``, sorted by trait, GWAS lead position and feature-trait p-value; empty
        (the columns only) when none.
    """
    opts = opts or LinkOptions()
    pairs, v, dos, samples = colocalise(leads, qtl, geno, opts.r2)
    log(
        f"{len(leads)} GWAS leads, {len(qtl)} QTL leads of "
        f"{qtl['feature'].nunique() if len(qtl) else 0} features: {len(pairs)} colocalised "
        f"pairs (r2 >= {opts.r2:g})"
    )
    if len(pairs) == 0:
        return pd.DataFrame(columns=LINK_COLUMNS)
    res = associate(pairs, traits, features, v, dos, samples)
    keep = res["feature_trait_p"].astype(float).to_numpy() <= opts.max_p
    res = res[keep].sort_values(
        ["trait", "gwas_chromosome", "gwas_position", "feature_trait_p"], kind="stable"
    )
    log(f"{len(res)} linked (feature-trait p <= {opts.max_p:g})")
    return res.reset_index(drop=True)


def write_links(links: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``links.tsv`` (:data:`LINK_COLUMNS`, a header even when empty; NA missing)."""
    d = os.path.dirname(str(path))
    if d:
        os.makedirs(d, exist_ok=True)
    links.reindex(columns=LINK_COLUMNS).to_csv(
        path, sep="\t", index=False, na_rep="NA", float_format="%.6g"
    )
