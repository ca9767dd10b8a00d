"""Measure imputation accuracy by masking genotypes that are known, then imputing them.

``breedomics mask-genotypes`` hides a random, seeded fraction of the called
genotypes of a VCF and records their true values; after the imputation tool has
filled them in, ``breedomics impute-accuracy`` reports the concordance of the
imputed genotypes with the hidden ones (overall and by minor allele frequency)
and the squared correlation of dosages, the usual measures of imputation quality
(Browning & Browning 2009, Am J Hum Genet 84:210).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pysam

from breedomics.errors import UserError


def _dosage(gt: tuple | None) -> float:
    if gt is None or any(a is None for a in gt):
        return np.nan
    d = sum(a > 0 for a in gt)
    return 2.0 * d if len(gt) == 1 else float(d)


def mask_vcf(src: str, dst: str, truth: str, fraction: float, seed: int) -> int:
    """Write ``dst`` with ``fraction`` of called genotypes set missing; truth to a TSV."""
    rng = np.random.default_rng(seed)
    rows = []
    with pysam.VariantFile(src) as vin:
        samples = list(vin.header.samples)
        tmp = dst + ".tmp"
        with pysam.VariantFile(tmp, "wz", header=vin.header) as vout:
            for rec in vin:
                if len(rec.alts or ()) != 1:
                    vout.write(rec)
                    continue
                draw = rng.random(len(samples)) < fraction
                for i in np.flatnonzero(draw):
                    call = rec.samples[samples[i]]
                    gt = call["GT"]
                    d = _dosage(gt)
                    if np.isnan(d):
                        continue
                    rows.append((rec.chrom, rec.pos, rec.ref, rec.alts[0], samples[i], d))
                    call["GT"] = (None,) * len(gt)
                    call.phased = False
                vout.write(rec)
    Path(tmp).rename(dst)
    pysam.tabix_index(dst, preset="vcf", force=True)
    pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt", "sample", "true_dosage"]).to_csv(
        truth, sep="\t", index=False
    )
    return len(rows)


def accuracy(truth_tsv: str, imputed_vcf: str, original_vcf: str) -> pd.DataFrame:
    """Concordance and dosage r^2 of imputed vs. masked genotypes, overall and by MAF."""
    truth = pd.read_csv(truth_tsv, sep="\t", dtype={"chrom": str})
    if truth.empty:
        raise UserError(f"{truth_tsv}: no masked genotypes to score; raise the mask fraction.")
    want = {(r.chrom, r.pos, r.ref, r.alt) for r in truth.itertuples()}
    imputed: dict[tuple, dict[str, float]] = {}
    with pysam.VariantFile(imputed_vcf) as vf:
        samples = list(vf.header.samples)
        for rec in vf:
            key = (rec.chrom, rec.pos, rec.ref, (rec.alts or ("",))[0])
            if key in want:
                imputed[key] = {s: _dosage(rec.samples[s]["GT"]) for s in samples}
    maf: dict[tuple, float] = {}
    with pysam.VariantFile(original_vcf) as vf:
        for rec in vf:
            key = (rec.chrom, rec.pos, rec.ref, (rec.alts or ("",))[0])
            if key in want:
                d = np.array([_dosage(rec.samples[s]["GT"]) for s in rec.samples])
                af = np.nanmean(d) / 2 if np.isfinite(d).any() else np.nan
                maf[key] = min(af, 1 - af)
    keys = list(zip(truth["chrom"], truth["pos"], truth["ref"], truth["alt"], strict=True))
    truth["imputed_dosage"] = [
        imputed.get(k, {}).get(s, np.nan) for k, s in zip(keys, truth["sample"], strict=True)
    ]
    truth["maf"] = [maf.get(k, np.nan) for k in keys]
    bins = [0, 0.01, 0.05, 0.1, 0.2, 0.5]
    labels = ["<0.01", "0.01-0.05", "0.05-0.1", "0.1-0.2", "0.2-0.5"]
    truth["maf_bin"] = pd.cut(truth["maf"], bins, labels=labels, include_lowest=True)

    def score(df: pd.DataFrame, name: str) -> dict:
        ok = df["imputed_dosage"].notna()
        conc = float((df.loc[ok, "imputed_dosage"] == df.loc[ok, "true_dosage"]).mean())
        a, b = df.loc[ok, "imputed_dosage"], df.loc[ok, "true_dosage"]
        r2 = float(np.corrcoef(a, b)[0, 1] ** 2) if ok.sum() > 2 and a.std() > 0 else np.nan
        return {
            "maf_bin": name,
            "n_masked": len(df),
            "n_imputed": int(ok.sum()),
            "concordance": conc if ok.any() else np.nan,
            "dosage_r2": r2,
        }

    rows = [score(truth, "all")]
    for lab in labels:
        sub = truth[truth["maf_bin"] == lab]
        if len(sub):
            rows.append(score(sub, lab))
    return pd.DataFrame(rows)


def add_mask_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("vcf", help="bgzipped VCF with called genotypes")
    parser.add_argument("--fraction", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True, help="masked VCF (bgzipped) to write")
    parser.add_argument("--truth", required=True, help="TSV of the masked genotypes")


def run_mask(args: argparse.Namespace) -> int:
    if not 0 < args.fraction < 0.5:
        raise UserError(f"--fraction {args.fraction}: use a value between 0 and 0.5.")
    n = mask_vcf(args.vcf, args.out, args.truth, args.fraction, args.seed)
    print(f"masked {n} genotypes")
    return 0


def add_accuracy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--truth", required=True, help="TSV from mask-genotypes")
    parser.add_argument("--imputed", required=True, help="imputed VCF of the masked file")
    parser.add_argument("--original", required=True, help="the VCF before masking")
    parser.add_argument("--out", required=True)


def run_accuracy(args: argparse.Namespace) -> int:
    df = accuracy(args.truth, args.imputed, args.original)
    df.to_csv(args.out, sep="\t", index=False, float_format="%.6g")
    print(df.to_string(index=False))
    return 0
