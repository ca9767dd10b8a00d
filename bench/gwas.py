#!/usr/bin/env python
"""Benchmark ``breedomics gwas`` against GEMMA and plink2 in the same run.

Default: 1,000 samples x 100,000 SNPs (Balding-Nichols panel, 4 groups,
10 chromosomes) with 100 simulated traits (20 QTL + polygenic background
each). Every tool runs as a child process; wall time and peak resident
memory (``ru_maxrss`` of that child) are printed side by side:

* ``plink2 --glm`` vs ``breedomics gwas run --model glm``;
* ``gemma -gk 1`` + ``gemma -lmm 1`` (exact per-variant REML Wald test) vs
  ``breedomics gwas run --model mlm`` (GRM + exact MLM) and ``mlm-p3d``;
* 100 traits: ``breedomics`` in one pass vs GEMMA looped over the traits.
  Looping GEMMA 100 times takes hours, so ``--gemma-loop K`` traits are run
  and the loop time is extrapolated linearly (each GEMMA run is independent
  and redoes the same work: read genotypes, eigendecompose, scan);
* agreement of the two exact MLMs on trait 1 (r of -log10 p, beta).

``--scale`` generates 1,200 x 5,000,000 SNPs instead (a 1.5 GB .bed) and
reports the time and peak memory of the exact MLM there (``--scale-models
glm,mlm`` adds the GLM); the genotypes are streamed in chunks
(``--cache-mb 0``), never held whole in memory.

Usage::

    python bench/gwas.py [--workdir bench-gwas] [--traits 100] [--gemma-loop 1]
    python bench/gwas.py --scale [--workdir bench-gwas-scale]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _measure import measure  # bench/ is sys.path[0] when run as a script

from breedomics.core.genotypes import write_bed
from breedomics.testing.simulate_gwas import iter_balding_nichols
from breedomics.testing.spec import GenomeSpec


def simulate(
    work: Path, n: int, m: int, n_traits: int, seed: int = 7, spacing: int = 10_000
) -> None:
    """Write ``panel.bed/bim/fam`` and ``pheno.tsv`` (+ GEMMA/plink2 phenotype files).

    SNPs are ``spacing`` bp apart on 10 chromosomes (``--scale``: 200 bp, i.e. 100 Mb
    chromosomes, a 1 Gb genome like soybean's).
    """
    if (work / "panel.bed").exists() and (work / "pheno.tsv").exists():
        print(f"reusing {work}/panel.*")
        return
    rng = np.random.default_rng(seed)
    samples = [f"S{i:05d}" for i in range(n)]
    n_qtl = 20
    qtl = rng.choice(m, size=(n_traits, n_qtl))
    qtl_eff = rng.normal(size=(n_traits, n_qtl))
    g = np.zeros((n, n_traits))
    start = 0

    def chunks():
        nonlocal start
        genome = GenomeSpec(n_samples=n, n_groups=4, n_snps=m, seed=seed)
        for var, dos in iter_balding_nichols(genome, fst=0.05, spacing=spacing, chunk_size=20_000):
            k = dos.shape[1]
            z = dos - dos.mean(axis=0)
            g[:] += z @ rng.normal(scale=0.02, size=(k, n_traits))  # polygenic
            for t in range(n_traits):
                hit = (qtl[t] >= start) & (qtl[t] < start + k)
                if hit.any():
                    g[:, t] += z[:, qtl[t][hit] - start] @ qtl_eff[t][hit]
            start += k
            yield var, dos

    t0 = time.perf_counter()
    write_bed(work / "panel", None, chunks(), samples)
    y = g / g.std(axis=0) * np.sqrt(0.6) + rng.normal(size=g.shape) * np.sqrt(0.4)
    cols = [f"trait{t + 1}" for t in range(n_traits)]
    ph = pd.DataFrame(y, index=pd.Index(samples, name="sample"), columns=cols)
    ph.to_csv(work / "pheno.tsv", sep="\t", float_format="%.6f")
    ph[["trait1"]].to_csv(work / "pheno1.tsv", sep="\t", float_format="%.6f")
    ph.to_csv(work / "gemma.pheno", sep="\t", header=False, index=False, float_format="%.6f")
    pl = ph[["trait1"]].reset_index(names="IID")
    pl.insert(0, "#FID", pl["IID"])
    pl.to_csv(work / "plink.pheno", sep="\t", index=False, float_format="%.6f")
    print(f"simulated {n} x {m} with {n_traits} traits in {time.perf_counter() - t0:.0f} s")


def ours(work: Path, model: str, pheno: str, out: str, extra: list[str] = ()) -> list[str]:
    return [
        sys.executable, "-m", "breedomics", "gwas", "run", "--geno", str(work / "panel"),
        "--pheno", str(work / pheno), "--model", model, "--out", str(work / out),
        "--no-plots", "--no-meff", *extra,
    ]  # fmt: skip


def row(table: list, task: str, tool: str, r: dict, note: str = "") -> None:
    table.append({"task": task, "tool": tool, **r, "note": note})
    print(
        f"  {task:<26} {tool:<34} {r['wall_s']:>9.1f} s {r['peak_mb']:>9.0f} MB  {note}",
        flush=True,
    )


def agreement(work: Path) -> dict:
    from breedomics.gwas.results import read_sumstats

    g = pd.read_csv(work / "output" / "gemma1.assoc.txt", sep="\t")
    o = read_sumstats(work / "mlm1" / "trait1.mlm.tsv.gz")
    mm = o.merge(g, left_on="variant_id", right_on="rs")
    nl = -np.log10(mm["p_wald"].to_numpy())
    rel = np.abs(mm["beta_x"] - mm["beta_y"]) / np.abs(mm["beta_y"])
    return {
        "variants_compared": len(mm),
        "r_neglog10p": float(np.corrcoef(nl, mm["neg_log_10_p_value"])[0, 1]),
        "max_abs_diff_neglog10p": float(np.max(np.abs(nl - mm["neg_log_10_p_value"]))),
        "median_rel_diff_beta": float(np.median(rel)),
    }


def grm_agreement(work: Path) -> dict:
    """Our VanRaden GRM against plink2's covariance matrix: the two differ by their
    denominators only (2 sum p(1-p) against the number of variants), so the entries are
    compared after a least-squares scale."""
    z = np.load(work / "grm.npz")
    ours_k = z["num"] / float(json.loads(str(z["meta"]))["den"])
    theirs = np.loadtxt(work / "rel.rel")
    a, b = ours_k.ravel(), theirs.ravel()
    scale = float(a @ b / (a @ a))
    return {
        "r_entries": float(np.corrcoef(a, b)[0, 1]),
        "scale_plink2_over_ours": scale,
        "max_abs_diff_after_scale": float(np.max(np.abs(scale * a - b))),
    }


def standard(args) -> dict:
    work = Path(args.workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    simulate(work, args.samples, args.snps, args.traits)
    table: list[dict] = []
    print(f"\n{'task':<28} {'tool':<34} {'wall':>11} {'peak RSS':>12}")
    have_plink = shutil.which("plink2") is not None and not args.skip_plink
    have_gemma = shutil.which("gemma") is not None and not args.skip_gemma
    res: dict[str, dict] = {}
    # GLM
    if have_plink:
        res["plink2"] = measure(
            ["plink2", "--bfile", str(work / "panel"), "--pheno", str(work / "plink.pheno"),
             "--glm", "allow-no-covars", "--threads", "2", "--out", str(work / "plink")],
            work, work / "plink2.log",
        )  # fmt: skip
        row(table, "GLM, 1 trait", "plink2 --glm", res["plink2"])
    res["glm"] = measure(ours(work, "glm", "pheno1.tsv", "glm1"), work, work / "glm1.log")
    row(table, "GLM, 1 trait", "breedomics --model glm", res["glm"])
    # GRM: plink2's covariance form (--make-rel cov: not variance-standardised, like
    # VanRaden's) against ours, the float32 GRM pass of the mixed models
    if have_plink:
        res["plink2_rel"] = measure(
            ["plink2", "--bfile", str(work / "panel"), "--make-rel", "cov", "square",
             "--threads", "2", "--out", str(work / "rel")],
            work, work / "plink2_rel.log",
        )  # fmt: skip
        row(table, "GRM", "plink2 --make-rel cov", res["plink2_rel"])
    res["grm"] = measure(
        [sys.executable, "-m", "breedomics", "gwas", "kinship", "--geno", str(work / "panel"),
         "--pheno", str(work / "pheno1.tsv"), "--out", str(work / "grm.npz")],
        work, work / "grm.log",
    )  # fmt: skip
    row(table, "GRM", "breedomics gwas kinship", res["grm"])
    # exact MLM, one trait
    if have_gemma:
        res["gemma_gk"] = measure(
            ["gemma", "-bfile", str(work / "panel"), "-p", str(work / "gemma.pheno"), "-gk", "1",
             "-o", "kin"],
            work, work / "gemma_gk.log",
        )  # fmt: skip
        row(table, "kinship", "gemma -gk 1", res["gemma_gk"])
        res["gemma_lmm"] = measure(
            ["gemma", "-bfile", str(work / "panel"), "-p", str(work / "gemma.pheno"), "-n", "1",
             "-k", str(work / "output" / "kin.cXX.txt"), "-lmm", "1", "-o", "gemma1"],
            work, work / "gemma_lmm.log",
        )  # fmt: skip
        row(table, "exact MLM, 1 trait", "gemma -lmm 1 (given kinship)", res["gemma_lmm"])
    res["mlm"] = measure(ours(work, "mlm", "pheno1.tsv", "mlm1"), work, work / "mlm1.log")
    row(table, "exact MLM, 1 trait", "breedomics --model mlm (+GRM)", res["mlm"])
    res["p3d"] = measure(ours(work, "mlm-p3d", "pheno1.tsv", "p3d1"), work, work / "p3d1.log")
    row(table, "P3D MLM, 1 trait", "breedomics --model mlm-p3d (+GRM)", res["p3d"])
    # many traits
    res["mlm_many"] = measure(
        ours(work, "mlm", "pheno.tsv", "mlm_many"), work, work / "mlm_many.log"
    )
    row(table, f"exact MLM, {args.traits} traits", "breedomics --model mlm (+GRM)", res["mlm_many"])
    if have_gemma and args.gemma_loop > 0:
        loop = []
        for t in range(1, args.gemma_loop + 1):
            loop.append(
                measure(
                    [
                        "gemma",
                        "-bfile",
                        str(work / "panel"),
                        "-p",
                        str(work / "gemma.pheno"),
                        "-n",
                        str(t),
                        "-k",
                        str(work / "output" / "kin.cXX.txt"),
                        "-lmm",
                        "1",
                        "-o",
                        f"loop{t}",
                    ],
                    work,
                    work / f"gemma_loop{t}.log",
                )  # fmt: skip
            )
        per = float(np.mean([r["wall_s"] for r in loop]))
        est = {
            "wall_s": per * args.traits + res["gemma_gk"]["wall_s"],
            "peak_mb": max(r["peak_mb"] for r in loop),
            "exit": 0,
        }
        res["gemma_loop"] = est
        row(
            table,
            f"exact MLM, {args.traits} traits",
            f"gemma loop (x{args.traits} from {len(loop)})",
            est,
            "extrapolated",
        )
    print()
    summary: dict = {"samples": args.samples, "snps": args.snps, "traits": args.traits}
    if have_gemma:
        g1 = res["gemma_lmm"]["wall_s"]
        summary["speedup_exact_mlm_vs_gemma_lmm"] = g1 / res["mlm"]["wall_s"]
        summary["speedup_exact_mlm_vs_gemma_gk_plus_lmm"] = (g1 + res["gemma_gk"]["wall_s"]) / res[
            "mlm"
        ]["wall_s"]
        if "gemma_loop" in res:
            summary["speedup_many_traits_vs_gemma_loop"] = (
                res["gemma_loop"]["wall_s"] / res["mlm_many"]["wall_s"]
            )
        if res["gemma_lmm"]["exit"] == 0 and res["mlm"]["exit"] == 0:
            summary["agreement_with_gemma_trait1"] = agreement(work)
    if have_plink:
        summary["glm_time_ratio_vs_plink2"] = res["glm"]["wall_s"] / res["plink2"]["wall_s"]
        summary["grm_time_ratio_vs_plink2"] = res["grm"]["wall_s"] / res["plink2_rel"]["wall_s"]
        if res["grm"]["exit"] == 0 and res["plink2_rel"]["exit"] == 0:
            summary["grm_agreement_with_plink2"] = grm_agreement(work)
    for k, v in summary.items():
        print(f"{k}: {v if not isinstance(v, float) else round(v, 2)}")
    out = {"table": table, "summary": summary}
    (work / "bench_gwas.json").write_text(json.dumps(out, indent=2, default=float))
    print(f"\nwritten {work / 'bench_gwas.json'}")
    return out


def scale(args) -> dict:
    work = Path(args.workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    simulate(work, args.samples, args.snps, 1, spacing=200)
    table: list[dict] = []
    res = {}
    for model in args.scale_models.split(","):
        res[model] = measure(
            ours(work, model, "pheno1.tsv", f"{model}_scale", ["--cache-mb", "0"]),
            work,
            work / f"{model}_scale.log",
        )
        row(
            table,
            f"{model}, {args.samples} x {args.snps}",
            f"breedomics --model {model}",
            res[model],
        )
    out = {"table": table, "samples": args.samples, "snps": args.snps}
    (work / "bench_gwas_scale.json").write_text(json.dumps(out, indent=2, default=float))
    if "mlm" in res:
        print(
            f"\npeak memory of the exact MLM: {res['mlm']['peak_mb'] / 1024:.2f} GB (goal < 4 GB)"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", default=None)
    p.add_argument("--samples", type=int, default=None)
    p.add_argument("--snps", type=int, default=None)
    p.add_argument("--traits", type=int, default=100)
    p.add_argument("--gemma-loop", type=int, default=1, help="GEMMA runs timed for the loop")
    p.add_argument("--skip-gemma", action="store_true")
    p.add_argument("--skip-plink", action="store_true")
    p.add_argument("--scale", action="store_true", help="1,200 x 5,000,000 memory/time run")
    p.add_argument("--scale-models", default="mlm", help="models for --scale (mlm; e.g. glm,mlm)")
    args = p.parse_args(argv)
    if args.scale:
        args.samples = args.samples or 1200
        args.snps = args.snps or 5_000_000
        args.workdir = args.workdir or "bench-gwas-scale"
        scale(args)
    else:
        args.samples = args.samples or 1000
        args.snps = args.snps or 100_000
        args.workdir = args.workdir or "bench-gwas"
        standard(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
