"""Metabolome preparation: signal-drift correction, QC filters and imputation.

A raw LC-MS/GC-MS table holds every injection of a run -- the biological samples, the
pooled QC samples injected at regular intervals and the blanks -- as rows (samples x
features, first column the injection id, read by
:func:`breedomics.omics.features.read_feature_table`). An injection sheet (TSV/CSV,
columns ``sample``, ``batch``, ``order``, ``type``; ``type`` one of ``sample``,
``qc``, ``blank``) says for every row which analytical batch it belongs to, where it
was injected and what it is. :func:`prepare_metabolites` then, on log2 intensities:

1. **QC-RLSC** (Dunn et al. 2011, *Nat Protoc* 6:1060): per batch and feature a
   local-linear LOESS (tricube weights, nearest-neighbour bandwidth) of the QC-pool
   intensities on injection order, its span chosen per feature and batch by exact
   leave-one-out cross-validation over :data:`SPANS`, evaluated at every injection
   of the batch (orders outside the batch's QC range get the fit at the nearest QC:
   no extrapolation) and subtracted. Fewer than :data:`MIN_QC_FIT` observed QC
   values in a batch: the batch's QC median is subtracted instead (no drift fit).
2. **Batch alignment**: each batch's QC median is moved to the global QC median.
3. **Filters**: QC relative standard deviation (RSD, on the intensity scale, over
   every QC injection) after correction above ``qc_rsd_max``; blank ratio (median of
   the biological samples over the median of the blanks, raw intensities, a value
   missing in a blank counts as not detected) below ``blank_ratio_min``; missing in
   more than ``max_missing`` of the samples; no QC value in a batch.
4. **Missing values** of the kept features in the biological samples. ``auto``
   decides per feature between below-detection (missing not at random) and
   at-random: each sample's expected level of the feature is the mean of the
   standardised levels of its :data:`N_NEIGHBOURS` most correlated features
   (sign-adjusted); a one-sided Mann-Whitney test whether the samples missing the
   feature have lower expected levels than those observing it, ``p <`` ``mnar_alpha``,
   marks the feature below-detection: half its minimum observed intensity
   (``half_min``); otherwise k-nearest-neighbour imputation on samples (``knn``:
   the mean of the ``k`` nearest samples with the feature observed, Euclidean
   distance over the standardised features; Troyanskaya et al. 2001). ``half_min``
   or ``knn`` apply one method to every feature. The choice and the test's p-value
   are reported per feature.

The corrected biological samples are written as a samples x features table (the
layout ``breedomics omics prepare`` reads), with a per-feature report and
before/after plots (PCA of every injection coloured by batch and by order, QC RSD
histograms).

References
----------
Dunn, W. B. et al. (2011). Procedures for large-scale metabolic profiling of serum and
plasma using gas chromatography and liquid chromatography coupled to mass
spectrometry. *Nat Protoc* 6:1060-1083.

Broadhurst, D. et al. (2018). Guidelines and considerations for the use of system
suitability and quality control samples in mass spectrometry assays applied in
untargeted clinical metabolomics. *Metabolomics* 14:72.

Troyanskaya, O. et al. (2001). Missing value estimation methods for DNA microarrays.
*Bioinformatics* 17:520-525.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from breedomics.core.standardise import impute_center
from breedomics.core.tables import read_table, stop_at_first_cell
from breedomics.errors import UserError
from breedomics.omics.features import FeatureTable

__all__ = [
    "SHEET_COLUMNS",
    "INJECTION_TYPES",
    "SPANS",
    "DriftOptions",
    "Injections",
    "read_injections",
    "match_injections",
    "loess_matrix",
    "qc_rlsc",
    "qc_rsd",
    "batch_r2",
    "blank_ratio",
    "missing_mechanism",
    "knn_impute",
    "prepare_metabolites",
    "plot_drift",
]

#: Columns of the injection sheet (fixed names).
SHEET_COLUMNS = ("sample", "batch", "order", "type")
INJECTION_TYPES = ("sample", "qc", "blank")
#: LOESS spans tried by leave-one-out cross-validation (fraction of a batch's QCs).
SPANS = (0.4, 0.55, 0.7, 0.85, 1.0)
#: Observed QC values a batch needs for a drift fit (fewer: its median only).
MIN_QC_FIT = 5
#: Features whose correlation predicts a sample's level (missing-value test).
N_NEIGHBOURS = 10


@dataclass
class DriftOptions:
    """Thresholds of :func:`prepare_metabolites` (see ``omics prepare-metabolites --help``)."""

    qc_rsd_max: float = 0.3
    blank_ratio_min: float = 3.0
    max_missing: float = 0.2
    missing: str = "auto"
    k: int = 10
    mnar_alpha: float = 0.05


@dataclass
class Injections:
    """The injection sheet matched to a feature table's rows (table row order)."""

    batch: np.ndarray
    order: np.ndarray
    kind: np.ndarray
    path: str


def read_injections(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check an injection sheet; return ``sample, batch, order, type, line``.

    Raises
    ------
    UserError
        Missing columns, an empty or non-integer order, an unknown type, a repeated
        sample or order within a batch, a batch without QC injection: each naming
        the file, the line and the fix.
    """
    path = str(path)
    if not os.path.exists(path):
        raise UserError(f"injection sheet {path} does not exist")
    df = read_table(path, "injection sheet", id_column="sample", id_label="injection")
    missing = [c for c in SHEET_COLUMNS if c not in df.columns]
    if missing:
        raise UserError(
            f"{path}: the injection sheet needs the columns {', '.join(SHEET_COLUMNS)} "
            f"(missing {', '.join(missing)}; header has {', '.join(map(str, df.columns))})"
        )
    df = df[list(SHEET_COLUMNS)].copy()
    df["line"] = np.arange(len(df)) + 2
    for i, row in df.iterrows():
        where = f"{path}: line {row['line']} (injection {row['sample']!r})"
        o = str(row["order"]).strip()
        if o in ("", "NA", "nan") or not o.lstrip("-").isdigit():
            raise UserError(
                f"{where} has the injection order {o!r}; write the position of the "
                "injection in its batch's run sequence as a whole number"
            )
        t = str(row["type"]).strip().lower()
        if t not in INJECTION_TYPES:
            raise UserError(
                f"{where} has the type {row['type']!r}; use one of {', '.join(INJECTION_TYPES)}"
            )
        if str(row["batch"]).strip() == "":
            raise UserError(f"{where} has no batch; name its analytical batch")
        df.loc[i, "type"] = t
    df["order"] = df["order"].astype(np.int64)
    df["batch"] = df["batch"].astype(str).str.strip()
    dup = df.duplicated(["batch", "order"], keep=False)
    if dup.any():
        rows = df[dup].head(2)
        raise UserError(
            f"{path}: lines {' and '.join(map(str, rows['line']))} have the same injection "
            f"order {rows['order'].iloc[0]} in batch {rows['batch'].iloc[0]!r}; every "
            "injection of a batch needs its own order"
        )
    for b, grp in df.groupby("batch", sort=False):
        if not (grp["type"] == "qc").any():
            raise UserError(
                f"{path}: batch {b!r} (lines {grp['line'].min()}-{grp['line'].max()}) has no "
                "QC injection (type qc); drift correction needs pooled QC samples in every "
                "batch: mark them, or merge the batch with a neighbouring one"
            )
    return df.reset_index(drop=True)


def match_injections(table: FeatureTable, sheet: pd.DataFrame, sheet_path: str) -> Injections:
    """Every table row must be in the sheet and every sheet line in the table."""
    if table.positions is not None:
        raise UserError(
            f"{table.path}: drift correction needs a samples x features table (one row per "
            "injection), not a phenotype BED"
        )
    rows = list(table.values.index)
    known = set(sheet["sample"])
    for k, s in enumerate(rows):
        if s not in known:
            raise UserError(
                f"{table.path}: line {k + 2} has the injection {s!r}, which the injection "
                f"sheet {sheet_path} does not list; add a line for it (sample, batch, order, "
                "type)"
            )
    in_table = set(rows)
    for _, r in sheet.iterrows():
        if r["sample"] not in in_table:
            raise UserError(
                f"{sheet_path}: line {r['line']} names the injection {r['sample']!r}, which is "
                f"not a row of the feature table {table.path}; fix the id or remove the line"
            )
    s = sheet.set_index("sample").loc[rows]
    return Injections(
        s["batch"].to_numpy(str), s["order"].to_numpy(np.float64), s["type"].to_numpy(str),
        sheet_path,
    )  # fmt: skip


def loess_matrix(x: np.ndarray, x_eval: np.ndarray, span: float) -> np.ndarray:
    """Smoother matrix ``S`` of a local-linear tricube LOESS: ``fit(x_eval) = S @ y``.

    The bandwidth at each evaluation point is the distance to its ``q``-th nearest
    fitting point, ``q = max(4, ceil(span * len(x)))`` (times ``span`` when
    ``span > 1``, as R's ``loess``), so at least three points carry weight.
    Evaluation points are clipped to ``[min(x), max(x)]``.
    """
    x = np.asarray(x, dtype=np.float64)
    x0 = np.clip(np.asarray(x_eval, dtype=np.float64), x.min(), x.max())[:, None]
    n = len(x)
    q = min(n, max(4, int(np.ceil(span * n))))
    d = np.abs(x[None, :] - x0)
    h = np.sort(d, axis=1)[:, q - 1] * max(1.0, span) * (1 + 1e-9)
    h = np.where(h > 0, h, 1.0)
    w = np.clip(1 - (d / h[:, None]) ** 3, 0, None) ** 3
    dx = x[None, :] - x0
    s0, s1, s2 = w.sum(1), (w * dx).sum(1), (w * dx**2).sum(1)
    den = s0 * s2 - s1**2
    ok = den > 1e-12 * np.maximum(s0 * s2, 1e-300)
    lin = w * (s2[:, None] - dx * s1[:, None]) / np.where(ok, den, 1.0)[:, None]
    const = w / np.maximum(s0, 1e-300)[:, None]
    return np.where(ok[:, None], lin, const)


def _loo_matrix(x: np.ndarray, span: float) -> np.ndarray:
    """``L @ y``: each point's LOESS prediction from the other points (exact LOO)."""
    n = len(x)
    out = np.zeros((n, n))
    for i in range(n):
        rest = np.delete(np.arange(n), i)
        out[i, rest] = loess_matrix(x[rest], x[i : i + 1], span)[0]
    return out


def qc_rlsc(
    logx: np.ndarray, inj: Injections
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Drift-correct and batch-align log2 intensities (injections x features).

    Returns
    -------
    corrected : numpy.ndarray
        Same shape, NaN where missing.
    spans : numpy.ndarray
        ``(batches, features)`` chosen span (0: median only, NaN: no QC value).
    batches : list of str
        Rows of ``spans``.
    no_qc : numpy.ndarray
        ``(features,)`` bool: some batch has no observed QC value of the feature.
    """
    n, m = logx.shape
    out = np.full_like(logx, np.nan)
    batches = list(dict.fromkeys(inj.batch))
    spans = np.full((len(batches), m), np.nan)
    no_qc = np.zeros(m, dtype=bool)
    for bi, b in enumerate(batches):
        rows = np.flatnonzero(inj.batch == b)
        qrows = rows[inj.kind[rows] == "qc"]
        xq = inj.order[qrows]
        y = logx[qrows]
        obs = np.isfinite(y)
        fit = np.full((len(rows), m), np.nan)
        # features sharing the pattern of observed QC values share the smoother matrices
        patterns, inverse = np.unique(obs.T, axis=0, return_inverse=True)
        for p, mask in enumerate(patterns):
            cols = np.flatnonzero(inverse.ravel() == p)
            k = int(mask.sum())
            yy = y[np.ix_(mask, cols)]
            if k == 0:
                no_qc[cols] = True
                continue
            if k < MIN_QC_FIT:
                fit[:, cols] = np.median(yy, axis=0)
                spans[bi, cols] = 0.0
                continue
            xs = xq[mask]
            cv = np.stack([((yy - _loo_matrix(xs, s) @ yy) ** 2).mean(0) for s in SPANS])
            best = np.argmin(cv, axis=0)
            for si, s in enumerate(SPANS):
                c = cols[best == si]
                if len(c):
                    fit[:, c] = loess_matrix(xs, inj.order[rows], s) @ y[np.ix_(mask, c)]
                    spans[bi, c] = s
        out[rows] = logx[rows] - fit
    # batch alignment: every batch's QC median to the global QC median (on the raw scale)
    qc = inj.kind == "qc"
    target = np.nanmedian(np.where(qc[:, None], logx, np.nan), axis=0)
    for b in batches:
        rows = inj.batch == b
        with np.errstate(all="ignore"):
            med = np.nanmedian(np.where((rows & qc)[:, None], out, np.nan), axis=0)
        out[rows] += target - med
    return out, spans, batches, no_qc


def qc_rsd(logx: np.ndarray, qc: np.ndarray) -> np.ndarray:
    """RSD (sd / mean, intensity scale) of every feature over the QC injections."""
    v = 2.0 ** logx[qc]
    with np.errstate(all="ignore"):
        return np.nanstd(v, axis=0, ddof=1) / np.nanmean(v, axis=0)


def batch_r2(values: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """Per feature the share of variance explained by batch (one-way ANOVA R2)."""
    x = np.asarray(values, dtype=np.float64)
    obs = np.isfinite(x)
    mu = np.nanmean(x, axis=0)
    tot = np.nansum((x - mu) ** 2, axis=0)
    between = np.zeros(x.shape[1])
    for b in np.unique(batch):
        r = batch == b
        nb = obs[r].sum(0)
        with np.errstate(all="ignore"):
            mb = np.nanmean(x[r], axis=0)
        between += np.where(nb > 0, nb * (mb - mu) ** 2, 0.0)
    with np.errstate(all="ignore"):
        return between / tot


def blank_ratio(raw: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Median sample intensity / median blank intensity (undetected in a blank: 0)."""
    blanks = kind == "blank"
    if not blanks.any():
        return np.full(raw.shape[1], np.inf)
    with np.errstate(all="ignore"):
        s = np.nanmedian(raw[kind == "sample"], axis=0)
        bl = np.median(np.nan_to_num(raw[blanks], nan=0.0), axis=0)
        return np.where(bl > 0, np.nan_to_num(s, nan=0.0) / np.where(bl > 0, bl, 1), np.inf)


def _standardise(x: np.ndarray) -> np.ndarray:
    """Features centred (missing -> 0, the core's mean imputation) and scaled to unit SD."""
    z, _mean, _n = impute_center(x)
    sd = np.nanstd(x, axis=0)
    return z / np.where(sd > 0, sd, 1.0)


def missing_mechanism(x: np.ndarray, k: int = N_NEIGHBOURS) -> np.ndarray:
    """One-sided p-value per feature that missing samples have lower expected levels.

    A sample's expected level of feature ``j`` is the mean of the standardised
    (sign-adjusted) levels of the ``k`` features most correlated with ``j``; a
    Mann-Whitney test compares the samples missing ``j`` with those observing it
    (NaN for a feature without missing or without observed values).
    """
    from scipy.stats import mannwhitneyu

    z = _standardise(x)
    n, m = x.shape
    c = (z.T @ z) / n
    np.fill_diagonal(c, 0.0)
    p = np.full(m, np.nan)
    miss = ~np.isfinite(x)
    for j in np.flatnonzero(miss.any(0) & ((~miss).sum(0) >= 2)):
        nb = np.argsort(-np.abs(c[j]))[: min(k, m - 1)]
        if len(nb) == 0:
            continue
        pred = (z[:, nb] * np.sign(c[j, nb])).mean(1)
        p[j] = mannwhitneyu(pred[miss[:, j]], pred[~miss[:, j]], alternative="less").pvalue
    return p


def knn_impute(x: np.ndarray, cols: np.ndarray, k: int) -> np.ndarray:
    """Fill the missing values of columns ``cols`` by the mean of the ``k`` nearest samples."""
    out = x.copy()
    z = _standardise(x)
    d = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    near = np.argsort(d, axis=1)
    for j in cols:
        col = x[:, j]
        for i in np.flatnonzero(~np.isfinite(col)):
            cand = near[i][np.isfinite(col[near[i]])][:k]
            out[i, j] = col[cand].mean()
    return out


@dataclass
class Metabolites:
    """What :func:`prepare_metabolites` produced."""

    table: pd.DataFrame  # biological samples x kept features, intensity scale
    report: pd.DataFrame  # per feature
    summary: dict
    before: np.ndarray  # log2, every injection x every feature
    after: np.ndarray
    injections: Injections


def prepare_metabolites(table: FeatureTable, inj: Injections, opts: DriftOptions) -> Metabolites:
    """Correct, filter and impute one raw metabolite table (see the module docstring)."""
    if opts.missing not in ("auto", "half_min", "knn"):
        raise UserError(f"unknown missing-value method {opts.missing!r} (auto, half_min, knn)")
    raw = table.values.to_numpy(dtype=np.float64)
    stop_at_first_cell(
        np.isfinite(raw) & (raw < 0),
        lambda i, j: (
            f"{table.path}: injection {table.values.index[i]!r}, feature "
            f"{table.values.columns[j]!r} has the negative intensity {raw[i, j]:g}; drift "
            "correction needs raw (non-negative) intensities, 0 or NA for not detected"
        ),
    )
    raw = np.where(raw > 0, raw, np.nan)
    logx = np.log2(raw)
    qc, smp = inj.kind == "qc", inj.kind == "sample"
    if not smp.any():
        raise UserError(f"{inj.path}: no injection of type sample")
    after, spans, batches, no_qc = qc_rlsc(logx, inj)
    rsd0, rsd1 = qc_rsd(logx, qc), qc_rsd(after, qc)
    ratio = blank_ratio(raw, inj.kind)
    frac_miss = (~np.isfinite(after[smp])).mean(0)
    cols = table.values.columns
    reasons: list[list[str]] = [[] for _ in cols]
    for j in range(len(cols)):
        if no_qc[j]:
            reasons[j].append("no QC value in a batch")
        elif not rsd1[j] <= opts.qc_rsd_max:
            reasons[j].append(f"QC RSD {rsd1[j]:.3g} > {opts.qc_rsd_max:g}")
        if ratio[j] < opts.blank_ratio_min:
            reasons[j].append(f"blank ratio {ratio[j]:.3g} < {opts.blank_ratio_min:g}")
        if frac_miss[j] > opts.max_missing:
            reasons[j].append(f"missing in {frac_miss[j]:.3g} of samples > {opts.max_missing:g}")
    kept = np.array([not r for r in reasons])
    if not kept.any():
        raise UserError(
            f"{table.path}: no feature passes the metabolite QC (e.g. {cols[0]!r}: "
            f"{'; '.join(reasons[0])}); see qc_rsd_max, blank_ratio_min, max_missing"
        )
    xs = after[smp][:, kept]
    pval = np.full(len(cols), np.nan)
    method = np.array(["" for _ in cols], dtype=object)
    has_miss = ~np.isfinite(xs)
    p_kept = missing_mechanism(xs) if opts.missing == "auto" else np.full(xs.shape[1], np.nan)
    if opts.missing == "auto":
        mnar = p_kept < opts.mnar_alpha
    else:
        mnar = np.full(xs.shape[1], opts.missing == "half_min")
    meth = np.where(~has_miss.any(0), "none", np.where(mnar, "half_min", "knn"))
    filled = knn_impute(xs, np.flatnonzero(meth == "knn"), opts.k)
    for j in np.flatnonzero(meth == "half_min"):
        filled[:, j] = np.where(has_miss[:, j], np.nanmin(xs[:, j]) - 1.0, xs[:, j])
    pval[kept], method[kept] = p_kept, meth
    samples = table.values.index[smp]
    out = pd.DataFrame(2.0**filled, index=samples, columns=cols[kept])
    out.index.name = "sample"
    report = pd.DataFrame(
        {
            "feature_id": cols,
            "qc_rsd_before": rsd0,
            "qc_rsd_after": rsd1,
            "blank_ratio": ratio,
            "fraction_missing": frac_miss,
            "batch_r2_before": batch_r2(logx[smp], inj.batch[smp]),
            "batch_r2_after": batch_r2(after[smp], inj.batch[smp]),
            "span": [",".join(f"{s:g}" for s in spans[:, j]) for j in range(len(cols))],
            "missing_test_p": pval,
            "imputation": method,
            "status": np.where(kept, "kept", "removed"),
            "reason": ["; ".join(r) for r in reasons],
        }
    )
    k = report[kept]
    summary = {
        "qc_rsd_max": opts.qc_rsd_max,
        "injections": int(len(inj.kind)),
        "samples": int(smp.sum()),
        "qc": int(qc.sum()),
        "blanks": int((inj.kind == "blank").sum()),
        "batches": [str(b) for b in batches],
        "features": int(len(cols)),
        "kept": int(kept.sum()),
        "batch_r2_before": float(np.nanmean(k["batch_r2_before"])),
        "batch_r2_after": float(np.nanmean(k["batch_r2_after"])),
        "median_qc_rsd_before": float(np.nanmedian(k["qc_rsd_before"])),
        "median_qc_rsd_after": float(np.nanmedian(k["qc_rsd_after"])),
        "imputation": {m: int((k["imputation"] == m).sum()) for m in ("none", "half_min", "knn")},
    }
    return Metabolites(out, report, summary, logx, after, inj)


def _pca(logx: np.ndarray, rows: np.ndarray) -> np.ndarray:
    z = _standardise(logx[rows][:, np.isfinite(logx[rows]).any(0)])
    u, s, _ = np.linalg.svd(z - z.mean(0), full_matrices=False)
    return u[:, :2] * s[:2]


def plot_drift(res: Metabolites, path: str, title: str = "metabolites") -> None:
    """Before/after PCA of the samples and QCs (by batch, by order) and QC RSD histograms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    inj = res.injections
    rows = inj.kind != "blank"
    batch = inj.batch[rows]
    names = list(dict.fromkeys(batch))
    # injection order across batches, in sheet batch order
    offset = {b: inj.order[inj.batch == b].max() for b in names}
    run = inj.order[rows] + np.array(
        [sum(offset[c] for c in names[: names.index(b)]) for b in batch]
    )
    qc = inj.kind[rows] == "qc"
    fig, ax = plt.subplots(2, 3, figsize=(14, 8.5))
    for r, (label, x) in enumerate((("before", res.before), ("after", res.after))):
        pc = _pca(x, rows)
        a = ax[r, 0]
        for bi, b in enumerate(names):
            sel = batch == b
            col = plt.get_cmap("tab10")(bi % 10)
            a.scatter(pc[sel & ~qc, 0], pc[sel & ~qc, 1], color=col, s=12, label=f"batch {b}")
            a.scatter(pc[sel & qc, 0], pc[sel & qc, 1], color=col, s=40, marker="*",
                      edgecolors="k", linewidths=0.4)  # fmt: skip
        a.legend(fontsize=7)
        a = ax[r, 1]
        sc = a.scatter(pc[~qc, 0], pc[~qc, 1], c=run[~qc], cmap="viridis", s=12,
                       vmin=run.min(), vmax=run.max())  # fmt: skip
        a.scatter(pc[qc, 0], pc[qc, 1], c=run[qc], cmap="viridis", s=40, marker="*",
                  edgecolors="k", linewidths=0.4, vmin=run.min(), vmax=run.max())  # fmt: skip
        fig.colorbar(sc, ax=a, label="injection (run order over batches)")
        for c in (0, 1):
            ax[r, c].set_title(f"{label}: PCA by {('batch', 'injection order')[c]} (* QC)")
            ax[r, c].set_xlabel("PC1")
            ax[r, c].set_ylabel("PC2")
        a = ax[r, 2]
        rsd = res.report[f"qc_rsd_{label}"].to_numpy(float)
        rsd = rsd[np.isfinite(rsd)]
        a.hist(np.clip(rsd, 0, 1), bins=40, color="grey")
        a.axvline(0.15, ls=":", c="k", label="15 %")
        a.axvline(res.summary["qc_rsd_max"], ls="--", c="r", label="qc_rsd_max")
        a.legend(fontsize=7)
        a.set_title(f"{label}: QC RSD (median {np.median(rsd):.3f})")
        a.set_xlabel("RSD of QC pools")
    fig.suptitle(f"{title}: QC-RLSC drift correction")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
