"""After the scan: inflation, thresholds, plots, clumping and the summary tables.

For every trait (files under ``<out>/``):

* ``<trait>.<model>.tsv.gz`` (+ ``.tbi``, ``-meta.yaml``) -- summary statistics;
* ``<trait>.<model>.manhattan.png`` / ``.qq.png``;
* ``<trait>.<model>.leads.tsv`` -- lead variants and QTL intervals (written
  even when empty, with a header);
* FarmCPU only: ``<trait>.farmcpu.pseudo_qtns.tsv`` and ``.iterations.tsv``.

and for the run: ``summary.<model>.tsv`` (one row per trait: samples,
variants, inflation, variance components, thresholds, hits, notes) and
``thresholds.<model>.tsv`` (every threshold of every trait, long format).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from breedomics.core.progress import Progress, track
from breedomics.gwas.clump import LEAD_COLUMNS, candidate_ids, clump
from breedomics.gwas.naming import trait_stem
from breedomics.gwas.options import ReportOptions
from breedomics.gwas.phenotypes import GwasData
from breedomics.gwas.pvalues import inflation_lambda
from breedomics.gwas.results import SSF_COLUMNS, write_meta
from breedomics.gwas.scan import GenotypeSource, TraitScan
from breedomics.gwas.threshold import bonferroni, permutation_threshold

__all__ = ["ReportOptions", "finalize"]


def _thresholds(ts: TraitScan, meff: dict | None, opts: ReportOptions) -> list[dict]:
    rows = [
        {
            "method": "bonferroni",
            "n_tests": ts.n_tested,
            "p_threshold": bonferroni(opts.alpha, ts.n_tested),
        }
    ]
    if meff:
        for key, label in (("li_ji", "meff_li_ji"), ("gao", "meff_gao")):
            m = meff.get(key, 0.0)
            if m > 0:
                rows.append({"method": label, "n_tests": m, "p_threshold": opts.alpha / m})
    if ts.perm_max_f is not None and len(ts.perm_max_f):
        rows.append(
            {
                "method": "permutation",
                "n_tests": len(ts.perm_max_f),
                "p_threshold": permutation_threshold(ts.perm_max_f, ts.df, opts.alpha),
            }
        )
    for r in rows:
        r.update({"trait": ts.trait, "model": ts.model, "alpha": opts.alpha})
    return rows


def _read_compact(path: str, cols: list[str], nl_min: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stream a sumstats file with Arrow's CSV reader.

    Returns a compact table of every row (categorical chromosome, position,
    float32 ``-log10 p``; ~16 bytes per variant) and all columns of the rows
    with ``-log10 p >= nl_min`` (the clumping candidates).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {c: pa.string() for c in ("chromosome", "variant_id", "p_value", "effect_allele")}
    types["other_allele"] = pa.string()
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=16 << 20),
        parse_options=pacsv.ParseOptions(delimiter="\t"),
        convert_options=pacsv.ConvertOptions(
            include_columns=cols, column_types=types, null_values=["NA"], strings_can_be_null=False
        ),
    )
    chrom_codes: dict[str, int] = {}
    cc, pp, nn, strong = [], [], [], []
    for batch in reader:
        ch = batch.column("chromosome").dictionary_encode()
        names = ch.dictionary.to_pylist()
        for c in names:
            chrom_codes.setdefault(c, len(chrom_codes))
        remap = np.array([chrom_codes[c] for c in names], dtype=np.int32)
        cc.append(remap[ch.indices.to_numpy(zero_copy_only=False)])
        pp.append(batch.column("base_pair_location").to_numpy().astype(np.int64))
        nl = batch.column("neg_log_10_p_value").to_numpy(zero_copy_only=False).astype(np.float64)
        nn.append(nl.astype(np.float32))
        keep = np.flatnonzero(nl >= nl_min)
        if len(keep):
            strong.append(pa.Table.from_batches([batch]).take(pa.array(keep)).to_pandas())
    codes = np.concatenate(cc) if cc else np.zeros(0, dtype=np.int32)
    compact = pd.DataFrame(
        {
            "chromosome": pd.Categorical.from_codes(codes, categories=list(chrom_codes)),
            "base_pair_location": np.concatenate(pp) if pp else np.zeros(0, dtype=np.int64),
            "neg_log_10_p_value": np.concatenate(nn) if nn else np.zeros(0, dtype=np.float32),
        }
    )
    strong_df = pd.concat(strong, ignore_index=True) if strong else pd.DataFrame(columns=cols)
    return compact, strong_df


def _chosen(rows: list[dict], method: str) -> tuple[str, float]:
    by = {r["method"]: r["p_threshold"] for r in rows}
    if method == "meff":
        for k in ("meff_li_ji", "meff_gao"):
            if k in by:
                return k, by[k]
    if method in by:
        return method, by[method]
    return "bonferroni", by["bonferroni"]


def _counted(scans: list[TraitScan], label: str):
    """``scans``, with progress lines counting the traits done (many for molecular QTL)."""
    return track(scans, Progress(len(scans), label, "traits"), lambda _ts: 1)


def finalize(
    scans: list[TraitScan],
    data: GwasData,
    src: GenotypeSource,
    out_dir: str | os.PathLike,
    opts: ReportOptions,
    meff: dict | None = None,
    run_meta: dict | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write plots, leads, metadata, ``summary.tsv`` and ``thresholds.tsv``.

    Parameters
    ----------
    scans : list of TraitScan
        Output of :func:`breedomics.gwas.scan.scan` or
        :func:`breedomics.gwas.farmcpu.run_farmcpu`.
    data : GwasData
        The analysed traits (for per-trait sample masks).
    src : GenotypeSource
        Genotypes (for LD in clumping).
    out_dir : str or path-like
        Output folder.
    opts : ReportOptions
    meff : dict, optional
        ``{"li_ji": M, "gao": M}`` effective numbers of tests.
    run_meta : dict, optional
        Extra metadata for the ``-meta.yaml`` files.

    Returns
    -------
    summary, thresholds : pandas.DataFrame
    """
    out_dir = str(out_dir)
    cols = [c for c in SSF_COLUMNS if c != "n"]
    thr_rows: list[dict] = []
    chosen: dict[str, tuple[str, float]] = {}
    cands: dict[str, pd.DataFrame] = {}
    lambdas: dict[str, float] = {}
    nl_sig: dict[str, float] = {}
    # pass 1 over the result files: lambda, thresholds, clump candidates
    what = "thresholds and plots" if opts.plots else "thresholds"
    for ts in _counted(scans, f"gwas {what}"):
        rows = _thresholds(ts, meff, opts)
        thr_rows += rows
        chosen[ts.trait] = _chosen(rows, opts.threshold)
        p1 = chosen[ts.trait][1]
        nl1, nl2 = -np.log10(p1), -np.log10(max(opts.clump_p2, p1))
        compact, strong = _read_compact(ts.path, cols, min(nl1, nl2))
        nl = compact["neg_log_10_p_value"].to_numpy()
        lambdas[ts.trait] = inflation_lambda(nl)
        nl_sig[ts.trait] = int((nl >= nl1).sum())
        cands[ts.trait] = candidate_ids(strong, nl1, nl2, opts.clump_kb)
        if opts.plots:
            from breedomics.gwas.plots import manhattan, qq

            stem = trait_stem(out_dir, ts.trait, ts.model)
            title = f"{ts.trait} ({ts.model}, n = {ts.n_samples})"
            manhattan(
                compact,
                stem + ".manhattan.png",
                title,
                {r["method"]: r["p_threshold"] for r in rows},
            )
            qq(nl, stem + ".qq.png", title, lambdas[ts.trait])
        del compact
    # one genotype pass for the LD of all clump candidates
    ids = sorted({i for c in cands.values() for i in c["variant_id"]})
    geno_cols: dict[str, int] = {}
    dos = np.zeros((len(data.samples), 0))
    if ids:
        v, dos = src.extract_ids(ids)
        geno_cols = {vid: k for k, vid in enumerate(v["id"])}
    masks = data.masks()
    summary = []
    for ts in _counted(scans, "gwas clumping and leads"):
        rows_t = np.flatnonzero(masks[ts.trait])
        method, p1 = chosen[ts.trait]

        def fetch(vids, rows_t=rows_t):
            return dos[np.ix_(rows_t, [geno_cols[v] for v in vids])]

        cand = cands[ts.trait]
        if len(cand):
            cand = cand[cand["variant_id"].isin(geno_cols)]
            leads = clump(cand, fetch, p1, opts.clump_p2, opts.clump_r2, opts.clump_kb)
        else:
            leads = pd.DataFrame(columns=LEAD_COLUMNS)
        leads.insert(0, "trait", ts.trait)
        stem = trait_stem(out_dir, ts.trait, ts.model)
        leads.to_csv(stem + ".leads.tsv", sep="\t", index=False, float_format="%.6g")
        n_sig = nl_sig[ts.trait]
        nm = ts.null
        extra = ts.extra or {}
        if "pseudo_qtns" in extra:
            extra["pseudo_qtns"].to_csv(
                stem + ".pseudo_qtns.tsv", sep="\t", index=False, float_format="%.6g"
            )
            pd.DataFrame(extra["iterations"]).to_csv(
                stem + ".iterations.tsv", sep="\t", index=False
            )
        row = {
            "trait": ts.trait,
            "model": ts.model,
            "n_samples": ts.n_samples,
            "n_variants_tested": ts.n_tested,
            "n_variants_filtered": ts.n_filtered,
            "lambda_gc": lambdas[ts.trait],
            "pve": nm.pve if nm else np.nan,
            "pve_se": nm.pve_se if nm else np.nan,
            "vg": nm.vg if nm else np.nan,
            "ve": nm.ve if nm else np.nan,
            "null_loglik_reml": nm.loglik_reml if nm else np.nan,
            "threshold_method": method,
            "p_threshold": p1,
            "n_significant": n_sig,
            "n_leads": len(leads),
            "n_qtl_regions": leads["qtl"].nunique() if len(leads) else 0,
            "n_pseudo_qtns": extra.get("n_pseudo_qtns", np.nan),
            "notes": "; ".join(ts.notes),
        }
        summary.append(row)
        meta = {
            "trait_description": [ts.trait],
            "model": ts.model,
            "sample_size": ts.n_samples,
            "variants_tested": ts.n_tested,
            "genomic_inflation_lambda": lambdas[ts.trait],
            "pve_null_model": row["pve"],
            "thresholds": {
                r["method"]: r["p_threshold"] for r in thr_rows if r["trait"] == ts.trait
            },
            "notes": ts.notes,
        }
        if ts.loco_nulls:
            meta["loco_pve"] = {c: m.pve for c, m in ts.loco_nulls.items()}
        meta.update(run_meta or {})
        write_meta(ts.path, meta)
    summary_df = pd.DataFrame(summary)
    thr_df = pd.DataFrame(thr_rows)[["trait", "model", "method", "alpha", "n_tests", "p_threshold"]]
    model = scans[0].model if scans else "gwas"
    summary_df.to_csv(
        os.path.join(out_dir, f"summary.{model}.tsv"), sep="\t", index=False, float_format="%.6g"
    )
    thr_df.to_csv(os.path.join(out_dir, f"thresholds.{model}.tsv"), sep="\t", index=False)
    return summary_df, thr_df
