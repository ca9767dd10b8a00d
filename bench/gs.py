#!/usr/bin/env python
"""Benchmark ``breedomics gs`` (GBLUP cross-validation, BayesB) against scikit-learn and GEMMA.

Part 1 (default 3,000 animals x 50,000 SNPs, 10 chromosomes, simulated by
gene dropping through a random-mating population; trait h2 = 0.5 with 500 QTL):

* ``breedomics gs cv --models gblup --folds 5 --repeats 5`` (REML refitted in
  each of the 25 folds, GRM computed once) -- wall time and peak memory of
  the whole command, including reading the PLINK files;
* scikit-learn ``RidgeCV`` (efficient leave-one-out over a grid of 13
  penalties) on the same 25 folds written by ``gs cv`` (``folds.tsv``);
* BayesB throughput (iterations per second, seconds per 1,000 iterations)
  on the training set of one fold.

Part 2 (``--bslmm``; default 1,000 x 100,000 SNPs, h2 = 0.5, 20 large QTL
with 70% of the genetic variance plus 1,000 small ones): GBLUP, BayesB and BayesC
(``gs predict`` with the validation phenotypes set to NA) against
``gemma -bslmm 1`` + ``gemma -predict 1`` given the same masked phenotypes,
on the same folds (``--bslmm-folds`` of the 5, because GEMMA's default
1.1 million MCMC steps take hours on 100,000 SNPs). Accuracy is the
correlation of predictions with the phenotype (and with the true genetic
value) in the validation fold.

Every tool runs as a child process; wall time and peak resident memory
(``ru_maxrss`` of that child) are printed side by side.

Usage::

    python bench/gs.py [--workdir bench-gs] [--n 3000] [--m 50000]
    python bench/gs.py --bslmm [--bslmm-folds 1] [--gemma-w 100000 --gemma-s 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _measure import measure  # bench/ is sys.path[0] when run as a script

BREEDOMICS = [sys.executable, "-m", "breedomics"]


def simulate(work: Path, n: int, m: int, n_qtl: int, large: int, seed: int) -> None:
    """Write ``panel.bed/bim/fam``, ``pheno.tsv`` and ``truth.tsv`` in ``work``."""
    if (work / "panel.bed").exists() and (work / "pheno.tsv").exists():
        print(f"reusing {work}/panel.*")
        return
    from breedomics.core.genotypes import write_bed
    from breedomics.testing.simulate_gs import simulate_population, simulate_trait
    from breedomics.testing.spec import GenomeSpec

    t0 = time.perf_counter()
    # ~10% of simulated markers fall below MAF 0.02: simulate extra, keep exactly m
    genome = GenomeSpec(n_samples=n, n_snps=int(m * 1.15), n_chrom=10, seed=seed)
    pop = simulate_population(genome, n_founders=100, generations=6)
    if pop.dosage.shape[1] > m:
        keep = np.sort(np.random.default_rng(seed).choice(pop.dosage.shape[1], m, replace=False))
        pop.dosage = np.ascontiguousarray(pop.dosage[:, keep])
        pop.markers = pop.markers.iloc[keep].reset_index(drop=True)
    tr = simulate_trait(pop.dosage, 0.5, n_qtl=n_qtl, large=large, large_share=0.7, seed=seed + 1)
    mk = pop.markers
    variants = pd.DataFrame(
        {
            "chrom": mk["chrom"].astype(str),
            "pos": (mk["pos_morgan"] * 1e8).astype(np.int64) + 1,
            "id": mk["id"],
            "ref": "A",
            "alt": "G",
        }
    )
    chunks = (
        pop.dosage[:, s : s + 20000].astype(np.float32)
        for s in range(0, pop.dosage.shape[1], 20000)
    )
    write_bed(work / "panel", variants, chunks, pop.samples)
    pd.DataFrame({"sample_id": pop.samples, "y": tr["y"]}).to_csv(
        work / "pheno.tsv", sep="\t", index=False, float_format="%.8g"
    )
    pd.DataFrame({"sample_id": pop.samples, "y": tr["g"]}).to_csv(
        work / "truth.tsv", sep="\t", index=False, float_format="%.8g"
    )
    print(
        f"simulated {n} x {pop.dosage.shape[1]} polymorphic SNPs in "
        f"{time.perf_counter() - t0:.0f} s -> {work}"
    )


# ----------------------------------------------------------------------------- children
def child_ridge(work: Path, folds_path: Path, out: Path) -> None:
    """scikit-learn RidgeCV on the folds of ``gs cv`` (child process)."""
    from sklearn.linear_model import RidgeCV

    from breedomics.gs.cv import metrics
    from breedomics.gs.data import read_genotypes

    geno = read_genotypes(str(work / "panel"))
    y = pd.read_csv(work / "pheno.tsv", sep="\t", dtype={"sample_id": str}).set_index("sample_id")[
        "y"
    ]
    folds = pd.read_csv(folds_path, sep="\t", dtype={"sample_id": str})
    rows = []
    t0 = time.perf_counter()
    for (rep, fold), df in folds.groupby(["repeat", "fold"]):
        te = geno.index(df["sample_id"].tolist())
        tr = np.setdiff1d(geno.index(folds.loc[folds["repeat"] == rep, "sample_id"].tolist()), te)
        ys = y.loc[geno.samples].to_numpy()
        model = RidgeCV(alphas=np.logspace(1, 7, 13)).fit(geno.Z[tr], ys[tr])
        pred = model.predict(geno.Z[te])
        rows.append(dict(repeat=rep, fold=fold, alpha=model.alpha_, **metrics(ys[te], pred)))
        print(f"  ridge repeat {rep} fold {fold}: {time.perf_counter() - t0:.0f}s", flush=True)
    pd.DataFrame(rows).to_csv(out, sep="\t", index=False)


def child_bayesb(work: Path, folds_path: Path, n_iter: int, out: Path) -> None:
    """BayesB on the training set of repeat 1, fold 1; iterations per second."""
    from breedomics.gs.bayes import BayesB
    from breedomics.gs.data import read_genotypes

    geno = read_genotypes(str(work / "panel"))
    y = pd.read_csv(work / "pheno.tsv", sep="\t", dtype={"sample_id": str}).set_index("sample_id")[
        "y"
    ]
    folds = pd.read_csv(folds_path, sep="\t", dtype={"sample_id": str})
    f = folds[folds["repeat"] == 1]
    te = geno.index(f.loc[f["fold"] == 1, "sample_id"].tolist())
    tr = np.setdiff1d(np.arange(geno.n), te)
    ys = y.loc[geno.samples].to_numpy()
    t0 = time.perf_counter()
    m = BayesB(n_iter=n_iter, burn_in=n_iter // 4, thin=5, seed=1).fit(geno, tr, ys[tr])
    total = time.perf_counter() - t0
    acc = float(np.corrcoef(m.predict(te), ys[te])[0, 1])
    res = dict(
        n_train=int(tr.size),
        n_markers=geno.p,
        iterations=n_iter,
        sampler_seconds=m.seconds,
        setup_seconds=total - m.seconds,
        iter_per_second=m.iter_per_second,
        seconds_per_1000=1000 / m.iter_per_second,
        accuracy_fold1=acc,
        mean_markers_in_model=float(m.trace["n_in_model"].mean()),
    )
    Path(out).write_text(json.dumps(res, indent=2))


# ----------------------------------------------------------------------------- parts
def part1(args, work: Path) -> None:
    simulate(work, args.n, args.m, n_qtl=500, large=0, seed=args.seed)
    res = {}
    print("\n== GBLUP, 5-fold x 5 repeats (breedomics gs cv) ==")
    cvdir = work / "cv_gblup"
    res["gblup"] = measure(
        BREEDOMICS
        + [
            "gs",
            "cv",
            "--genotypes",
            "panel",
            "--phenotypes",
            "pheno.tsv",
            "--truth",
            "truth.tsv",
            "--models",
            "gblup",
            "--folds",
            "5",
            "--repeats",
            "5",
            "--seed",
            str(args.seed),
            "--no-plot",
            "--out-dir",
            str(cvdir),
        ],
        work,
        work / "gblup.log",
    )
    summ = pd.read_csv(cvdir / "cv_summary.tsv", sep="\t")
    g = summ[summ["level"] == "repeat"].iloc[0]
    timing = pd.read_csv(cvdir / "cv_timing.tsv", sep="\t")
    print(
        f"  wall {res['gblup']['wall_s']:.1f} s (25 fold fits {timing['seconds'].sum():.1f} s), "
        f"peak {res['gblup']['peak_mb']:.0f} MB; r(y) = {g['pearson_mean']:.3f} "
        f"+- {g['pearson_sd']:.3f}, r(g) = {g['pearson_true_mean']:.3f}"
    )
    if not args.skip_ridge:
        print("\n== scikit-learn RidgeCV on the same 25 folds ==")
        res["ridge"] = measure(
            [sys.executable, __file__, "--child", "ridge", "--workdir", str(work)],
            work,
            work / "ridge.log",
        )
        rid = pd.read_csv(work / "ridge_metrics.tsv", sep="\t")
        r_rep = rid.groupby("repeat")["pearson"].mean()
        print(
            f"  wall {res['ridge']['wall_s']:.1f} s, peak {res['ridge']['peak_mb']:.0f} MB; "
            f"mean per-fold r(y) = {rid['pearson'].mean():.3f} (GBLUP per-fold "
            f"{summ[summ['level'] == 'fold'].iloc[0]['pearson_mean']:.3f}); "
            f"sd over repeats {r_rep.std():.3f}"
        )
    print(f"\n== BayesB, {args.bayes_iter} iterations on one training fold ==")
    res["bayesb"] = measure(
        [
            sys.executable,
            __file__,
            "--child",
            "bayesb",
            "--workdir",
            str(work),
            "--bayes-iter",
            str(args.bayes_iter),
        ],
        work,
        work / "bayesb.log",
    )
    bb = json.loads((work / "bayesb.json").read_text())
    print(
        f"  {bb['iter_per_second']:.1f} iterations/s ({bb['seconds_per_1000']:.0f} s per "
        f"1,000) on {bb['n_train']} x {bb['n_markers']}; setup {bb['setup_seconds']:.1f} s; "
        f"peak {res['bayesb']['peak_mb']:.0f} MB; fold-1 r(y) = {bb['accuracy_fold1']:.3f}"
    )
    (work / "bench_part1.json").write_text(json.dumps({"runs": res, "bayesb": bb}, indent=2))


def part2(args, work: Path) -> None:
    simulate(work, args.bslmm_n, args.bslmm_m, n_qtl=1000, large=20, seed=args.seed + 100)
    from breedomics.gs.cv import kfold_folds, metrics

    samples = pd.read_csv(work / "pheno.tsv", sep="\t", dtype={"sample_id": str})["sample_id"]
    folds = kfold_folds(samples.tolist(), 5, 1, seed=args.seed)
    use = folds[folds["fold"] <= args.bslmm_folds]
    # gs cv needs all samples of the repeat; keep every fold, evaluate only those GEMMA runs
    folds.to_csv(work / "folds.tsv", sep="\t", index=False)
    y = pd.read_csv(work / "pheno.tsv", sep="\t", dtype={"sample_id": str}).set_index("sample_id")[
        "y"
    ]
    g = pd.read_csv(work / "truth.tsv", sep="\t", dtype={"sample_id": str}).set_index("sample_id")[
        "y"
    ]
    rows = []
    gemma = shutil.which("gemma")
    fam0 = pd.read_csv(work / "panel.fam", sep=r"\s+", header=None, dtype={1: str})
    for f in sorted(use["fold"].unique()):
        te = set(folds.loc[folds["fold"] == f, "sample_id"])
        fdir = work / f"fold{f}"
        fdir.mkdir(exist_ok=True)
        # ours: BayesB and BayesC on the same input as GEMMA (validation phenotypes masked)
        masked = y.copy()
        masked[list(te)] = np.nan
        masked.rename("y").reset_index().to_csv(
            fdir / "pheno_masked.tsv", sep="\t", index=False, na_rep="NA"
        )
        ids_te = [s for s in y.index if s in te]
        ours = {}
        for model in ("gblup", "bayesb", "bayesc"):  # GBLUP: the ridge baseline
            out = fdir / model
            cmd = BREEDOMICS + [
                "gs",
                "predict",
                "--genotypes",
                "panel",
                "--phenotypes",
                str(fdir / "pheno_masked.tsv"),
                "--model",
                model,
                "--iterations",
                str(args.bslmm_iter),
                "--burn-in",
                str(args.bslmm_iter // 4),
                "--out-dir",
                str(out),
            ]
            r = measure(cmd, work, fdir / f"{model}.log")
            pr = pd.read_csv(out / "gebv.tsv", sep="\t", dtype={"sample_id": str})
            pr = pr.set_index("sample_id").loc[ids_te, "y"]
            ours[model] = (
                r,
                metrics(y[ids_te].to_numpy(), pr.to_numpy())["pearson"],
                metrics(g[ids_te].to_numpy(), pr.to_numpy())["pearson"],
            )
        gem = (None, np.nan, np.nan)
        if gemma:
            fam = fam0.copy()
            fam[5] = ["NA" if s in te else f"{y[s]:.8g}" for s in fam[1]]
            prefix = fdir / "panel"
            for ext in (".bed", ".bim"):
                if not (fdir / ("panel" + ext)).exists():
                    os.symlink(work / ("panel" + ext), fdir / ("panel" + ext))
            fam.to_csv(str(prefix) + ".fam", sep=" ", header=False, index=False)
            t0 = time.perf_counter()
            r0 = measure(
                [gemma, "-bfile", "panel", "-gk", "1", "-o", "kin"], fdir, fdir / "gemma_kin.log"
            )
            r1 = measure(
                [
                    gemma,
                    "-bfile",
                    "panel",
                    "-bslmm",
                    "1",
                    "-w",
                    str(args.gemma_w),
                    "-s",
                    str(args.gemma_s),
                    "-seed",
                    "1",
                    "-o",
                    "bslmm",
                ],
                fdir,
                fdir / "gemma_bslmm.log",
            )
            r2 = measure(
                [
                    gemma,
                    "-bfile",
                    "panel",
                    "-epm",
                    "output/bslmm.param.txt",
                    "-emu",
                    "output/bslmm.log.txt",
                    "-ebv",
                    "output/bslmm.bv.txt",
                    "-k",
                    "output/kin.cXX.txt",
                    "-predict",
                    "1",
                    "-o",
                    "pred",
                ],
                fdir,
                fdir / "gemma_predict.log",
            )
            wall = time.perf_counter() - t0
            pred = pd.read_csv(fdir / "output" / "pred.prdt.txt", header=None, na_values="NA")[0]
            pv = pd.Series(pred.to_numpy(), index=fam[1].to_numpy())
            ids = [s for s in fam[1] if s in te]
            gem = (
                dict(wall_s=wall, peak_mb=max(r0["peak_mb"], r1["peak_mb"], r2["peak_mb"])),
                metrics(y[ids].to_numpy(), pv[ids].to_numpy())["pearson"],
                metrics(g[ids].to_numpy(), pv[ids].to_numpy())["pearson"],
            )
        for name, (r, acc_y, acc_g) in {**ours, "gemma_bslmm": gem}.items():
            rows.append(
                dict(
                    fold=f,
                    tool=name,
                    wall_s=r["wall_s"] if r else np.nan,
                    peak_mb=r["peak_mb"] if r else np.nan,
                    r_y=acc_y,
                    r_g=acc_g,
                )
            )
            print(
                f"  fold {f} {name:>12}: r(y) {acc_y:.3f}  r(g) {acc_g:.3f}  "
                f"wall {rows[-1]['wall_s']:.0f} s  peak {rows[-1]['peak_mb']:.0f} MB",
                flush=True,
            )
    tab = pd.DataFrame(rows)
    tab.to_csv(work / "bslmm_comparison.tsv", sep="\t", index=False)
    print(tab.groupby("tool")[["r_y", "r_g", "wall_s", "peak_mb"]].mean().to_string())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="bench-gs")
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--m", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bayes-iter", type=int, default=1000)
    ap.add_argument("--skip-ridge", action="store_true")
    ap.add_argument("--bslmm", action="store_true", help="run part 2 (vs gemma -bslmm)")
    ap.add_argument("--bslmm-n", type=int, default=1000)
    ap.add_argument("--bslmm-m", type=int, default=100000)
    ap.add_argument("--bslmm-folds", type=int, default=1)
    ap.add_argument("--bslmm-iter", type=int, default=3000)
    ap.add_argument("--gemma-w", type=int, default=100000, help="GEMMA burn-in steps")
    ap.add_argument("--gemma-s", type=int, default=1000000, help="GEMMA sampling steps")
    ap.add_argument("--child", choices=["ridge", "bayesb"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = Path(args.workdir).resolve()
    if args.child == "ridge":
        child_ridge(work, work / "cv_gblup" / "folds.tsv", work / "ridge_metrics.tsv")
        return
    if args.child == "bayesb":
        child_bayesb(work, work / "cv_gblup" / "folds.tsv", args.bayes_iter, work / "bayesb.json")
        return
    if args.bslmm:
        w2 = work / "bslmm"
        w2.mkdir(parents=True, exist_ok=True)
        part2(args, w2)
    else:
        work.mkdir(parents=True, exist_ok=True)
        part1(args, work)


if __name__ == "__main__":
    main()
