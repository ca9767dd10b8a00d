"""Benchmark the germplasm census on a simulated panel.

Simulates structured inbred landraces (default 1,000 accessions x >= 100,000
SNPs), writes them as PLINK 1, then runs every census job in its own fresh
process and prints wall time and peak resident memory (VmHWM) per job and
for the whole census, plus the ratio to ``plink2 --pca`` for PCA and to
scikit-allel (whole matrix in memory) for the diversity statistics.

Usage::

    python bench/census.py                       # 1000 x 100k
    python bench/census.py --samples 200 --snps 10000 --quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

JOBS = ["pca", "grm", "admixture", "diversity", "fst", "ld-decay", "roh", "duplicates", "core"]


def _peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory (MB): VmHWM of this process, or ru_maxrss of waited children.

    ru_maxrss of a process is inherited across fork/exec, so the process's own
    high-water mark is read from /proc instead.
    """
    if who == resource.RUSAGE_SELF and os.path.exists("/proc/self/status"):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    return resource.getrusage(who).ru_maxrss / 1024.0


def simulate(workdir: Path, n_samples: int, n_snps: int, seed: int) -> str:
    """Simulate (once) and write PLINK + group sheet; returns the prefix."""
    from breedomics.testing.simulate import simulate_landraces, write_plink
    from breedomics.testing.spec import GenomeSpec

    prefix = workdir / f"panel_{n_samples}_{n_snps}"
    if Path(f"{prefix}.bed").exists():
        return str(prefix)
    n_groups = 5
    n_adm = max(2, n_samples // 30)
    n_dup = max(2, n_samples // 50)
    per_group = (n_samples - n_adm - n_dup) // n_groups
    n_adm = n_samples - n_dup - per_group * n_groups
    n_chrom = 10
    # about 1.1 SNPs per 200 bp at these settings; oversimulate then thin to n_snps
    length = int(max(300_000, n_snps * 320 / n_chrom))
    genome = GenomeSpec(
        n_groups=n_groups, n_chrom=n_chrom, chrom_length=length, ne=3000, missing_rate=0.005,
        seed=seed,
    )  # fmt: skip
    p = simulate_landraces(
        genome, lines_per_group=per_group, n_admixed=n_adm, n_duplicates=n_dup,
        split_time=3000, migration=2e-5,
    )  # fmt: skip
    m = p.genotypes.shape[1]
    if m > n_snps:
        keep = np.sort(np.random.default_rng(seed).choice(m, n_snps, replace=False))
        p.genotypes = np.ascontiguousarray(p.genotypes[:, keep])
        p.variants = p.variants.iloc[keep].reset_index(drop=True)
    write_plink(p, prefix)
    p.truth[["sample", "group"]].to_csv(f"{prefix}.groups.tsv", sep="\t", index=False)
    print(f"simulated {len(p.samples)} samples x {p.genotypes.shape[1]} SNPs", file=sys.stderr)
    return str(prefix)


def job_args(job: str, quick: bool) -> list[str]:
    return {
        "pca": ["--n-pcs", "10"],
        "grm": [],
        "admixture": ["--inbred", "--k-min", "2", "--k-max", "3" if quick else "5",
                      "--folds", "2", "--max-snps", "3000" if quick else "5000"],
        "diversity": ["--inbred"],
        "fst": ["--inbred"],
        "ld-decay": ["--max-dist", "200000", "--bin-size", "5000"],
        "roh": [],
        "duplicates": [],
        "core": ["--size", "0.05", "--n-random", "100"],
    }[job]  # fmt: skip


def run_child(kind: str, argv: list[str]) -> dict:
    """Run one measured step in a fresh process; return its JSON line."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps([kind, argv])],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(spec: str) -> None:
    kind, argv = json.loads(spec)
    t = time.perf_counter()
    if kind == "census":
        from breedomics.cli import main

        rc = main(argv)
        if rc != 0:
            raise SystemExit(rc)
        peak = _peak_mb()
    elif kind == "plink2-pca":
        subprocess.run(argv, check=True, capture_output=True)
        peak = _peak_mb(resource.RUSAGE_CHILDREN)
    elif kind == "allel-diversity":
        peak = allel_diversity(argv[0], argv[1])
    else:
        raise SystemExit(f"unknown child kind {kind}")
    print(json.dumps({"seconds": time.perf_counter() - t, "peak_mb": peak}))


def allel_diversity(prefix: str, sheet: str) -> float:
    """scikit-allel pi, theta, Tajima's D, Ho/He and Hudson Fst per group (all in memory)."""
    import allel
    import pandas as pd

    from breedomics.core.genotypes import read_dosage

    groups = pd.read_csv(sheet, sep="\t")
    v, d = read_dosage(prefix, samples=list(groups["sample"]))
    hap = np.where(np.isnan(d), -1, d // 2).astype(np.int8).T  # inbred: one haplotype per line
    pos = v["pos"].to_numpy()
    chrom = v["chrom"].to_numpy()
    acs = {}
    for g, idx in groups.groupby("group").indices.items():
        ac = allel.HaplotypeArray(hap[:, idx]).count_alleles(max_allele=1)
        acs[g] = ac
        for c in pd.unique(chrom):
            sel = chrom == c
            allel.sequence_diversity(pos[sel], ac[sel])
            allel.watterson_theta(pos[sel], ac[sel])
            allel.windowed_tajima_d(pos[sel], ac[sel], size=100_000)
        allel.tajima_d(ac)
    names = sorted(acs)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            allel.average_hudson_fst(acs[a], acs[b], 1000)
    return _peak_mb()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--snps", type=int, default=100_000)
    ap.add_argument("--workdir", default="/tmp/breedomics-bench")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="lighter admixture settings")
    ap.add_argument("--jobs", default=",".join(JOBS), help="comma-separated census jobs")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return 0
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    prefix = simulate(work, args.samples, args.snps, args.seed)
    print(f"# simulation + PLINK writing: {time.perf_counter() - t0:.1f} s")
    sheet = f"{prefix}.groups.tsv"
    results = {}
    for job in args.jobs.split(","):
        out = str(work / f"census_{job}")
        argv = ["census", job, "--geno", prefix, "--groups", sheet, "--out", out,
                *job_args(job, args.quick)]  # fmt: skip
        results[job] = run_child("census", argv)
    total_s = sum(r["seconds"] for r in results.values())
    total_mem = max(r["peak_mb"] for r in results.values())
    print(f"{'job':<12}{'wall_s':>10}{'peak_MB':>10}")
    for job, r in results.items():
        print(f"{job:<12}{r['seconds']:>10.2f}{r['peak_mb']:>10.0f}")
    print(f"{'TOTAL':<12}{total_s:>10.2f}{total_mem:>10.0f}")
    if "pca" in results and shutil.which("plink2"):
        cmd = ["plink2", "--bfile", prefix, "--pca", "10", "--threads", "2",
               "--out", str(work / "plink2_pca")]  # fmt: skip
        ref = run_child("plink2-pca", cmd)
        print(
            f"PCA: ours {results['pca']['seconds']:.2f} s / plink2 {ref['seconds']:.2f} s "
            f"= {results['pca']['seconds'] / ref['seconds']:.2f}x "
            f"(peak {results['pca']['peak_mb']:.0f} vs {ref['peak_mb']:.0f} MB)"
        )
    if "diversity" in results and "fst" in results:
        ref = run_child("allel-diversity", [prefix, sheet])
        ours = results["diversity"]["seconds"] + results["fst"]["seconds"]
        ours_mb = max(results["diversity"]["peak_mb"], results["fst"]["peak_mb"])
        print(
            f"diversity+Fst: ours {ours:.2f} s / scikit-allel {ref['seconds']:.2f} s "
            f"= {ours / ref['seconds']:.2f}x (peak {ours_mb:.0f} vs {ref['peak_mb']:.0f} MB)"
        )
    print(f"# machine: {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
