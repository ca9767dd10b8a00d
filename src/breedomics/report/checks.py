"""The warning box: problems read off the run's tables, each as one sentence naming the
samples (or loci) and the table to look at. Thresholds are the module constants."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence

from breedomics.report.collect import Table
from breedomics.report.fmt import number, to_float

__all__ = [
    "INBRED_MAX_HET",
    "LOW_DEPTH_FRACTION",
    "MAX_MISSING",
    "MIN_CONCORDANCE",
    "admixture_outliers",
    "call_set_warnings",
    "imputation_warnings",
    "lambda_warnings",
    "names",
    "sample_qc_warnings",
]

#: Heterozygous fraction of an inbred line's genotypes above which it is flagged.
INBRED_MAX_HET = 0.05
#: An accession declared inbred (genome.mating: inbred) with an inbreeding coefficient
#: from its likelihoods below this is flagged (calls/inbreeding.tsv).
INBRED_MIN_F = 0.9
#: A sample's mean depth below this fraction of the median sample's is flagged.
LOW_DEPTH_FRACTION = 0.5
#: A sample missing more than this fraction of the call set's genotypes is flagged.
MAX_MISSING = 0.2
#: Imputation concordance (all masked genotypes) below this is flagged.
MIN_CONCORDANCE = 0.95
#: Ancestry share of another group's main cluster above which an accession is flagged.
MISLABEL_Q = 0.9
#: GWAS genomic inflation outside this range is flagged.
LAMBDA_RANGE = (0.9, 1.1)


def names(items: Sequence[str], n: int = 8) -> str:
    """``a, b, c`` (the first ``n``, then ``and k more``)."""
    items = list(items)
    shown = ", ".join(items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def sample_qc_warnings(qc: Table, mating: str) -> list[str]:
    """Removed accessions (with reasons), sex mismatches, and inbred lines with many hets
    (``sample_qc.tsv``)."""
    out = []
    recs = qc.records()
    removed = [r for r in recs if r.get("status") == "removed"]
    if removed:
        reasons = Counter(
            part.split()[0] for r in removed for part in r.get("reason", "").split("; ") if part
        )
        out.append(
            f"{len(removed)} of {len(recs)} accessions removed at sample QC "
            f"({', '.join(f'{k}: {v}' for k, v in reasons.most_common())}): "
            f"{names([r['sample'] for r in removed])} (sample_qc.tsv)."
        )
    mismatch = [
        r["sample"]
        for r in recs
        if r.get("sex_reported") in ("M", "F")
        and r.get("sex_inferred") in ("M", "F")
        and r["sex_reported"] != r["sex_inferred"]
    ]
    if mismatch:
        out.append(
            f"Sex mismatch (reported vs. inferred from X heterozygosity) in {len(mismatch)} "
            f"accession(s): {names(mismatch)} (sample_qc.tsv)."
        )
    if mating == "inbred":
        het = [
            (r["sample"], to_float(r.get("het_rate")))
            for r in recs
            if (to_float(r.get("het_rate")) or 0) > INBRED_MAX_HET
        ]
        if het:
            out.append(
                f"{len(het)} inbred line(s) with more than {number(INBRED_MAX_HET)} heterozygous "
                f"genotypes (mixed seed lot, outcross or contamination): "
                f"{names([f'{s} ({number(h)})' for s, h in het])} (sample_qc.tsv)."
            )
    return out


def call_set_warnings(
    psc: Table, n_records: int, mating: str, min_depth: float | None
) -> list[str]:
    """Low depth, high missingness and (inbred) many hets per sample, from the PASS set's
    ``bcftools stats`` per-sample counts (PSC)."""
    out = []
    recs = psc.records()
    depth = {r["sample"]: to_float(r.get("average depth")) for r in recs}
    known = [d for d in depth.values() if d is not None]
    if known:
        median = statistics.median(known)
        floor = LOW_DEPTH_FRACTION * median
        low = [
            s
            for s, d in depth.items()
            if d is not None and (d < floor or (min_depth and d < min_depth))
        ]
        if low:
            out.append(
                f"Low depth: {names([f'{s} ({number(depth[s])}x)' for s in low])}, under "
                f"{number(LOW_DEPTH_FRACTION)} of the median sample's {number(median)}x "
                "(all.pass.stats.txt)."
            )
    if n_records:
        miss = [
            (r["sample"], (to_float(r.get("nMissing")) or 0) / n_records)
            for r in recs
            if (to_float(r.get("nMissing")) or 0) / n_records > MAX_MISSING
        ]
        if miss:
            out.append(
                f"{len(miss)} sample(s) missing more than {number(MAX_MISSING)} of the PASS "
                f"genotypes: {names([f'{s} ({number(m)})' for s, m in miss])}."
            )
    if mating == "inbred":
        many = []
        for r in recs:
            het, alt = to_float(r.get("nHets")) or 0, to_float(r.get("nNonRefHom")) or 0
            if het + alt > 0 and het / (het + alt) > INBRED_MAX_HET:
                many.append(f"{r['sample']} ({number(het / (het + alt))} of non-reference calls)")
        if many:
            out.append(f"Inbred line(s) with many heterozygous calls: {names(many)}.")
    return out


def inbreeding_warnings(tab: Table, mating: str) -> list[str]:
    """Accessions of an inbred panel whose inbreeding coefficient (from the raw calls'
    likelihoods, ``calls/inbreeding.tsv``) is that of an outcross, a seed mix or a
    contamination: their heterozygous calls were resolved to homozygotes or set missing,
    so the call set alone no longer shows it."""
    if mating != "inbred":
        return []
    low = [
        (r["sample"], to_float(r.get("f")))
        for r in tab.records()
        if to_float(r.get("f")) is not None and to_float(r.get("f")) < INBRED_MIN_F
    ]
    if not low:
        return []
    return [
        f"{len(low)} accession(s) of this inbred panel with an inbreeding coefficient under "
        f"{number(INBRED_MIN_F)} (outcross, mixed seed lot or contamination; their "
        f"heterozygous calls were not kept): {names([f'{s} (F {number(f)})' for s, f in low])} "
        "(calls/inbreeding.tsv)."
    ]


def imputation_warnings(acc: Table) -> list[str]:
    """Low imputation concordance over all masked genotypes."""
    for r in acc.records():
        if r.get("maf_bin") == "all":
            c = to_float(r.get("concordance"))
            if c is not None and c < MIN_CONCORDANCE:
                return [
                    f"Imputation concordance {number(c)} is below {number(MIN_CONCORDANCE)} "
                    "(imputation_accuracy.tsv): check marker density and the panel."
                ]
    return []


def admixture_outliers(best: Table) -> list[tuple[str, str, str]]:
    """Accessions whose ancestry (at the chosen K) is almost all another group's main
    cluster: (sample, its group, the group it looks like). A group's main cluster is its
    members' most common largest component, for groups of 5 or more whose members mostly
    share it (a mixed group, e.g. "admixed", has none)."""
    qcols = [c for c in best.columns if c.startswith("Q") and c[1:].isdigit()]
    rows = []
    for r in best.records():
        q = [to_float(r[c]) for c in qcols]
        q = [v if v is not None else -1.0 for v in q]
        if not q or max(q) < 0:
            continue
        k = max(range(len(q)), key=q.__getitem__)
        rows.append((r["sample"], r["group"], k, q[k]))
    by_group: dict[str, list[int]] = defaultdict(list)
    for _s, g, k, _q in rows:
        by_group[g].append(k)
    main: dict[str, int] = {}
    for g, ks in by_group.items():
        k, n = Counter(ks).most_common(1)[0]
        if len(ks) >= 5 and n / len(ks) >= 0.6:
            main[g] = k
    owner = {k: g for g, k in main.items()}
    out = []
    for s, g, k, q in rows:
        if g in main and k != main[g] and q >= MISLABEL_Q and k in owner:
            out.append((s, g, owner[k]))
    return out


def lambda_warnings(summary: Table) -> list[str]:
    """Genomic inflation outside :data:`LAMBDA_RANGE` per trait and model."""
    out = []
    for r in summary.records():
        lam = to_float(r.get("lambda_gc"))
        if lam is not None and not LAMBDA_RANGE[0] <= lam <= LAMBDA_RANGE[1]:
            out.append(
                f"GWAS {r.get('trait')} ({r.get('model')}): lambda {number(lam)} outside "
                f"{number(LAMBDA_RANGE[0])}-{number(LAMBDA_RANGE[1])} (structure or "
                "relatedness not accounted for, or a polygenic trait)."
            )
    return out
