#!/usr/bin/env python
"""Benchmark ``breedomics omics map`` (cis, trans) against tensorQTL (CPU) in the same run.

Default: 1,000 samples x 500,000 SNPs (Balding-Nichols panel, 4 groups, 10
chromosomes of 100 Mb: SNPs 2 kb apart, ~1,000 per 2 Mb cis window) x 20,000
genes (TSS uniform on the genome, 30 % with a cis-eQTL near the TSS, 10
covariates), written once as PLINK (``geno.bed/bim/fam``), a phenotype BED
(``pheno.bed``) and ``covariates.tsv``. Both tools run on these files as child
processes (wall time, CPU time and peak resident memory of each:
``bench/_measure.py``; on a busy machine CPU time is the fairer measure):

* ``cis``: ``breedomics omics map --mode cis`` vs ``tensorqtl.cis.map_cis``
  (``bench/_tensorqtl_run.py``; genotypes decoded into the int8 DataFrame
  tensorQTL's API takes), same window, same number of permutations (each tool
  draws its own). Printed: time and memory ratios, lead agreement, Pearson r of
  the leads' -log10 nominal p and of -log10 ``pval_beta``, and the share of
  features whose two ``pval_beta`` differ by less than 3 Monte-Carlo standard
  errors (``sqrt(2 p (1 - p) / nperm)``, the error of two independent empirical
  permutation p-values);
  A control run of ours with other permutations (``--seed + 1``) shows the agreement
  permutation noise alone allows. ``--tensorqtl-genes K`` runs tensorQTL (and ours,
  for the ratio) on the first K genes only, ours also on all of them;
* ``trans``: the first ``--trans-genes`` genes (default 1,000) against every SNP,
  pairs with p < 1e-5: time, memory, pairs found by each and r of -log10 p.

Requirements (bench only, not the pipeline's): ``pip install -r
bench/requirements-omics.txt`` into the project's venv, torch first from its CPU
wheel (``pip install torch==2.13.0``; a plain ``torch`` from PyPI pulls the CUDA
build). Flags shrink the problem (``--samples --snps --genes --nperm``);
``--skip-tensorqtl`` runs ours only.

Usage::

    python bench/omics.py [--workdir bench-omics] [--nperm 1000] [--genes 20000]
    python bench/omics.py --samples 300 --snps 50000 --genes 1000 --workdir bench-omics-small
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _measure import measure  # bench/ is sys.path[0] when run as a script

from breedomics.core.genotypes import write_bed
from breedomics.testing.simulate_gwas import iter_balding_nichols
from breedomics.testing.spec import GenomeSpec

HERE = Path(__file__).resolve().parent


def simulate(work: Path, n: int, m: int, n_genes: int, n_cov: int, spacing: int, seed: int):
    """Write ``geno.*``, ``pheno.bed`` and ``covariates.tsv`` (reused when present)."""
    if all((work / f).exists() for f in ("geno.bed", "pheno.bed", "covariates.tsv")):
        print(f"reusing {work}/geno.*, pheno.bed, covariates.tsv")
        return
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    n_chrom = 10
    per_chrom = m // n_chrom
    samples = [f"S{i:05d}" for i in range(n)]
    # genes: TSS uniform on the genome, sorted; 30 % with a causal variant within 100 kb
    chrom_len = per_chrom * spacing
    g_chrom = np.sort(rng.integers(0, n_chrom, size=n_genes))
    g_tss = rng.integers(1, chrom_len, size=n_genes)
    order = np.lexsort((g_tss, g_chrom))
    g_chrom, g_tss = g_chrom[order], g_tss[order]
    has = rng.random(n_genes) < 0.3
    offset = rng.integers(-100_000, 100_001, size=n_genes)
    snp_in_chrom = np.clip((g_tss + offset) // spacing - 1, 0, per_chrom - 1)
    causal = np.where(has, g_chrom * per_chrom + snp_in_chrom, -1)
    h2 = rng.uniform(0.02, 0.3, size=n_genes)
    cov = rng.normal(size=(n, n_cov))
    y = (cov @ rng.normal(scale=0.5, size=(n_cov, n_genes))).astype(np.float64)
    y += rng.normal(size=(n, n_genes))
    start = 0

    def chunks():
        nonlocal start
        genome = GenomeSpec(n_samples=n, n_groups=4, n_snps=m, n_chrom=n_chrom, seed=seed)
        for var, dos in iter_balding_nichols(genome, fst=0.05, spacing=spacing, chunk_size=20_000):
            k = dos.shape[1]
            hit = np.flatnonzero((causal >= start) & (causal < start + k))
            if len(hit):
                x = dos[:, causal[hit] - start].astype(np.float64)
                z = (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-9)
                y[:, hit] += z * np.sqrt(h2[hit] / (1 - h2[hit]))
            start += k
            yield var, dos

    write_bed(work / "geno", None, chunks(), samples)
    bed = pd.DataFrame(
        {
            "#chr": (g_chrom + 1).astype(str),
            "start": g_tss - 1,
            "end": g_tss,
            "phenotype_id": [f"ENSG{i:06d}" for i in range(n_genes)],
        }
    )
    vals = pd.DataFrame(y.T.astype(np.float32), columns=samples)
    pd.concat([bed, vals], axis=1).to_csv(work / "pheno.bed", sep="\t", index=False,
                                          float_format="%.5g")  # fmt: skip
    pd.DataFrame(
        cov, index=pd.Index(samples, name="sample"), columns=[f"C{i + 1}" for i in range(n_cov)]
    ).to_csv(work / "covariates.tsv", sep="\t", float_format="%.6g")
    truth = pd.DataFrame({"phenotype_id": bed["phenotype_id"], "causal": causal, "h2": h2})
    truth.to_csv(work / "truth.tsv", sep="\t", index=False)
    print(f"simulated {n} x {m} SNPs x {n_genes} genes in {time.perf_counter() - t0:.0f} s")


def subset_bed(work: Path, n_genes: int) -> str:
    name = f"pheno_first{n_genes}.bed"
    if not (work / name).exists():
        with open(work / "pheno.bed") as src, open(work / name, "w") as dst:
            for k, line in enumerate(src):
                if k > n_genes:
                    break
                dst.write(line)
    return name


def row(task: str, tool: str, r: dict, note: str = "") -> None:
    cpu = f"{r['cpu_s']:>9.1f} s" if "cpu_s" in r else f"{'':>11}"
    print(
        f"  {task:<22} {tool:<31} {r['wall_s']:>9.1f} s {cpu} {r['peak_mb']:>9.0f} MB  {note}",
        flush=True,
    )


def ours_cmd(work: Path, mode: str, pheno: str, out: str, a) -> list[str]:
    return [
        sys.executable, "-m", "breedomics", "omics", "map", "--mode", mode,
        "--geno", str(work / "geno"), "--pheno", str(work / pheno),
        "--covariates", str(work / "covariates.tsv"), "--window", str(a.window),
        "--nperm", str(a.nperm), "--seed", str(a.seed), "--out", str(work / out),
    ]  # fmt: skip


def tqtl_cmd(work: Path, mode: str, pheno: str, out: str, a) -> list[str]:
    return [
        sys.executable, str(HERE / "_tensorqtl_run.py"), str(work), mode, "--pheno", pheno,
        "--nperm", str(a.nperm), "--window", str(a.window), "--seed", str(a.seed),
        "--out", str(work / out),
    ]  # fmt: skip


def tqtl_cis_batches(work: Path, pheno: str, a) -> dict:
    """tensorQTL cis on ``pheno`` in batches of ``a.tensorqtl_batch`` genes, one process
    each, one after the other (at 20,000 genes one process grew past 20 GB and was
    killed); the parts joined into tqtl_cis.tsv. Wall and CPU summed, peak the largest."""
    with open(work / pheno) as fh:
        header, *genes = fh.readlines()
    total = {"wall_s": 0.0, "cpu_s": 0.0, "peak_mb": 0.0, "exit": 0}
    parts = []
    for k, start in enumerate(range(0, len(genes), a.tensorqtl_batch)):
        name = f"{pheno}.batch{k}.bed"
        with open(work / name, "w") as fh:
            fh.writelines([header, *genes[start : start + a.tensorqtl_batch]])
        out = work / f"tqtl_cis.batch{k}.tsv"
        r = measure(tqtl_cmd(work, "cis", name, out.name, a), work, work / f"tqtl_cis{k}.log")
        for key in ("wall_s", "cpu_s"):
            total[key] += r.get(key, 0.0)
        total["peak_mb"] = max(total["peak_mb"], r["peak_mb"])
        total["exit"] = total["exit"] or r["exit"]
        stop = min(len(genes), start + a.tensorqtl_batch)
        print(f"    tensorQTL batch {k}: genes {start + 1}-{stop}, {r['wall_s']:.0f} s, "
              f"{r['peak_mb']:.0f} MB", flush=True)  # fmt: skip
        if r["exit"]:
            return total
        parts.append(pd.read_csv(out, sep="\t"))
    pd.concat(parts).to_csv(work / "tqtl_cis.tsv", sep="\t", index=False)
    return total


def cis_agreement(ours: pd.DataFrame, tq: pd.DataFrame, nperm: int) -> dict:
    mm = ours.merge(tq, on="phenotype_id", suffixes=("_o", "_t"))
    nl_o, nl_t = -np.log10(mm["pval_nominal_o"]), -np.log10(mm["pval_nominal_t"])
    pb_o, pb_t = mm["pval_beta_o"].to_numpy(), mm["pval_beta_t"].to_numpy()
    p = (pb_o + pb_t) / 2
    mc_se = np.sqrt(2 * p * (1 - p) / nperm)
    within = np.abs(pb_o - pb_t) <= 3 * mc_se + 1e-12
    pp_o, pp_t = mm["pval_perm_o"].to_numpy(), mm["pval_perm_t"].to_numpy()
    pp = (pp_o + pp_t) / 2
    within_perm = np.abs(pp_o - pp_t) <= 3 * np.sqrt(2 * pp * (1 - pp) / nperm) + 2 / nperm
    return {
        "features_ours": len(ours),
        "features_tensorqtl": len(tq),
        "features_compared": len(mm),
        "same_lead_variant": float(np.mean(mm["variant_id_o"] == mm["variant_id_t"])),
        "r_neglog10_pval_nominal": float(np.corrcoef(nl_o, nl_t)[0, 1]),
        "max_abs_diff_neglog10_pval_nominal": float(np.max(np.abs(nl_o - nl_t))),
        "r_neglog10_pval_beta": float(np.corrcoef(-np.log10(pb_o), -np.log10(pb_t))[0, 1]),
        "pval_beta_within_3_mc_se": float(np.mean(within)),
        "pval_perm_within_3_mc_se": float(np.mean(within_perm)),
        "median_rel_diff_pval_beta": float(np.median(np.abs(pb_o - pb_t) / p)),
        "mean_true_df_ours": float(mm["true_df_o"].mean()),
        "mean_true_df_tensorqtl": float(mm["true_df_t"].mean()),
        "max_rel_diff_slope": float(
            np.max(np.abs(mm["slope_o"] - mm["slope_t"]) / np.abs(mm["slope_t"]))
        ),
    }


def trans_agreement(ours: pd.DataFrame, tq: pd.DataFrame) -> dict:
    key = ["variant_id", "phenotype_id"]
    mm = ours.merge(tq, on=key, suffixes=("_o", "_t"))
    return {
        "pairs_ours": len(ours),
        "pairs_tensorqtl": len(tq),
        "pairs_both": len(mm),
        "r_neglog10_p": float(np.corrcoef(-np.log10(mm["pval_o"]), -np.log10(mm["pval_t"]))[0, 1])
        if len(mm) > 2
        else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="bench-omics")
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--snps", type=int, default=500_000)
    ap.add_argument("--genes", type=int, default=20_000)
    ap.add_argument("--covariates", type=int, default=10)
    ap.add_argument("--spacing", type=int, default=2_000, help="bp between SNPs (2000)")
    ap.add_argument("--window", type=int, default=1_000_000)
    ap.add_argument("--nperm", type=int, default=1_000)
    ap.add_argument("--trans-genes", type=int, default=1_000)
    ap.add_argument(
        "--tensorqtl-genes",
        type=int,
        default=0,
        help="cis: tensorQTL (and ours, for the ratio) on the first K genes only; ours "
        "also on all (0: all genes)",
    )
    ap.add_argument(
        "--tensorqtl-batch",
        type=int,
        default=0,
        help="cis: tensorQTL on this many genes per process, one after the other "
        "(0: all in one; one process on 20,000 genes was killed at 20.5 GB)",
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--modes", default="cis,trans")
    ap.add_argument("--skip-tensorqtl", action="store_true")
    ap.add_argument(
        "--no-mc-control", action="store_true", help="skip ours with a second seed (cis)"
    )
    a = ap.parse_args()
    work = Path(a.workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    simulate(work, a.samples, a.snps, a.genes, a.covariates, a.spacing, a.seed)
    modes = a.modes.split(",")
    results: dict = {"args": vars(a)}
    print(f"\n  {'task':<22} {'tool':<31} {'wall':>11} {'CPU':>11} {'peak RSS':>12}")
    if "cis" in modes:
        k = a.tensorqtl_genes or a.genes
        pheno = "pheno.bed" if k >= a.genes else subset_bed(work, k)
        task = f"cis, {k} genes"
        r_o = measure(ours_cmd(work, "cis", pheno, "ours_cis", a), work, work / "ours_cis.log")
        row(task, "breedomics omics map", r_o)
        results["cis_ours"] = r_o
        if not a.skip_tensorqtl:
            if a.tensorqtl_batch:
                r_t = tqtl_cis_batches(work, pheno, a)
            else:
                r_t = measure(
                    tqtl_cmd(work, "cis", pheno, "tqtl_cis.tsv", a), work, work / "tqtl_cis.log"
                )
            row(task, "tensorqtl map_cis (CPU)", r_t)
            results["cis_tensorqtl"] = r_t
            if r_o["exit"] == 0 and r_t["exit"] == 0:
                ours = pd.read_csv(work / "ours_cis" / "cis.tsv", sep="\t")
                tq = pd.read_csv(work / "tqtl_cis.tsv", sep="\t")
                agree = cis_agreement(ours, tq, a.nperm)
                agree["time_ratio_tensorqtl_over_ours"] = r_t["wall_s"] / r_o["wall_s"]
                agree["memory_ratio_tensorqtl_over_ours"] = r_t["peak_mb"] / r_o["peak_mb"]
                results["cis_agreement"] = agree
                for key, v in agree.items():
                    print(
                        f"    {key:<40} {v:.4g}" if isinstance(v, float) else f"    {key:<40} {v}"
                    )
        if not a.no_mc_control and r_o["exit"] == 0:
            # Monte-Carlo control: ours again with other permutations; its agreement with
            # the first run is what permutation noise alone allows
            b = argparse.Namespace(**{**vars(a), "seed": a.seed + 1})
            r_c = measure(ours_cmd(work, "cis", pheno, "ours_cis_seed2", b), work, work / "c.log")
            row(task, "breedomics, other permutations", r_c)
            if r_c["exit"] == 0:
                first = pd.read_csv(work / "ours_cis" / "cis.tsv", sep="\t")
                second = pd.read_csv(work / "ours_cis_seed2" / "cis.tsv", sep="\t")
                ctrl = cis_agreement(first, second, a.nperm)
                results["cis_mc_control"] = ctrl
                for key in ("r_neglog10_pval_beta", "pval_beta_within_3_mc_se"):
                    print(f"    control: {key:<31} {ctrl[key]:.4g}")
    if "trans" in modes:
        pheno = subset_bed(work, a.trans_genes)
        task = f"trans, {a.trans_genes} genes"
        r_o = measure(
            ours_cmd(work, "trans", pheno, "ours_trans", a), work, work / "ours_trans.log"
        )
        row(task, "breedomics omics map", r_o)
        results["trans_ours"] = r_o
        if not a.skip_tensorqtl:
            r_t = measure(
                tqtl_cmd(work, "trans", pheno, "tqtl_trans.parquet", a),
                work,
                work / "tqtl_trans.log",
            )
            row(task, "tensorqtl map_trans (CPU)", r_t)
            results["trans_tensorqtl"] = r_t
            if r_o["exit"] == 0 and r_t["exit"] == 0:
                ours = pd.read_parquet(work / "ours_trans" / "trans.parquet")
                tq = pd.read_parquet(work / "tqtl_trans.parquet")
                agree = trans_agreement(ours, tq)
                agree["time_ratio_tensorqtl_over_ours"] = r_t["wall_s"] / r_o["wall_s"]
                agree["memory_ratio_tensorqtl_over_ours"] = r_t["peak_mb"] / r_o["peak_mb"]
                results["trans_agreement"] = agree
                for k, v in agree.items():
                    print(f"    {k:<40} {v:.4g}" if isinstance(v, float) else f"    {k:<40} {v}")
    if "cis" in modes and (a.tensorqtl_genes or a.genes) < a.genes:
        # ours on every gene too (tensorQTL ran on the first k only), last
        r_all = measure(
            ours_cmd(work, "cis", "pheno.bed", "ours_cis_all", a), work, work / "ours_all.log"
        )
        row(f"cis, {a.genes} genes", "breedomics omics map", r_all)
        results["cis_ours_all_genes"] = r_all
        (work / "results.json").write_text(json.dumps(results, indent=1))
    (work / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\nresults: {work / 'results.json'}")


if __name__ == "__main__":
    main()
