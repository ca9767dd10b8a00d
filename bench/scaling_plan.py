#!/usr/bin/env python
"""Cluster plan of a 3K-Rice-Genomes-size census + GWAS (docs/scaling.md).

Four steps, each a subcommand; work folders go under ``/tmp/scaling`` (not the repo)::

    # 1. a simulated PLINK panel (Balding-Nichols, 12 chromosomes over a 373 Mb genome),
    #    10 traits and a run config with the planned scatter, then a local run of it
    python bench/scaling_plan.py simulate --samples 400 --snps 30000 --out /tmp/scaling/n400_m30k
    python bench/scaling_plan.py run /tmp/scaling/n400_m30k [--cores 2]
    # 2. every job's benchmark (wall s, max_rss, cpu_time) per rule, of one or more runs
    python bench/scaling_plan.py collect /tmp/scaling/n400_m30k ...
    # 3. per-rule cost fit over the runs and the extrapolation to 3,000 x 10 M / 30 M
    python bench/scaling_plan.py fit /tmp/scaling/n400_m30k /tmp/scaling/n1200_m30k ...
    # 4. synthetic 3,000 x 10 M inputs (sparse .bed) and `snakemake -n --profile cluster`
    python bench/scaling_plan.py dryrun [--snps 10000000] [--out /tmp/scaling/dry10M]

The plan's scatter (the same in the measured runs and the dry run): GWAS models glm and
mlm, ``gwas.chromosome_shards: 12`` (one job per rice chromosome) x
``gwas.traits_per_shard: 5`` (two trait batches), census per chromosome
(``census.scatter_min_snps`` 500: 12 shards), ``genotypes.impute: mean`` (the panel is
already imputed), no GS/omics.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GENOME_BP = 373_000_000  # rice (Nipponbare IRGSP-1.0), 12 chromosomes
N_CHROM = 12
N_TRAITS = 10

#: The scatter of the plan (measured runs, dry run and docs/scaling.md).
PLAN = {
    "gwas": {
        "enabled": True,
        "models": ["glm", "mlm"],
        "chromosome_shards": 12,
        "traits_per_shard": 5,
    },
    "census": {"enabled": True, "scatter_min_snps": 500},
}


def write_config(work: Path, prefix: Path) -> Path:
    """The run config of a panel (every input absolute; the plan's scatter)."""
    import yaml

    cfg = {
        "samples": str(work / "samples.tsv"),
        "genome": {"mating": "inbred"},
        "genotypes": {
            "enabled": True,
            "source": "plink",
            "path": str(prefix),
            "impute": "mean",
        },
        "census": dict(PLAN["census"]),
        "gwas": dict(PLAN["gwas"], phenotypes=str(work / "pheno.tsv")),
        "gs": {"enabled": False},
        "omics": {"enabled": False},
    }
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def write_sheets(work: Path, samples: list[str], groups: list[str]) -> None:
    with open(work / "samples.tsv", "w") as fh:
        fh.write("sample\tspecies\tgroup\n")
        for s, g in zip(samples, groups, strict=True):
            fh.write(f"{s}\trice\t{g}\n")


def simulate(args: argparse.Namespace) -> None:
    """PLINK panel + 10-trait phenotype table + sample sheet + config.yaml."""
    import numpy as np
    import pandas as pd

    from breedomics.core.genotypes import write_bed
    from breedomics.testing.simulate_gwas import iter_balding_nichols
    from breedomics.testing.spec import GenomeSpec

    work = Path(args.out).resolve()
    work.mkdir(parents=True, exist_ok=True)
    n, m = args.samples, args.snps
    prefix = work / "panel"
    samples = [f"S{i:05d}" for i in range(n)]
    groups = [f"G{1 + i * 4 // n}" for i in range(n)]  # iter_balding_nichols: even split
    rng = np.random.default_rng(args.seed)
    g = np.zeros((n, N_TRAITS))
    spacing = max(1, GENOME_BP // m)

    def chunks():
        genome = GenomeSpec(n_samples=n, n_groups=4, n_snps=m, n_chrom=N_CHROM, seed=args.seed)
        for var, dos in iter_balding_nichols(genome, fst=0.05, spacing=spacing, chunk_size=20_000):
            z = dos - dos.mean(axis=0)
            effects = rng.normal(scale=0.02, size=(dos.shape[1], N_TRAITS))
            effects[rng.random(effects.shape) > 0.001] *= 0.05  # few large QTL
            g[:] += z @ effects
            yield var, dos

    t0 = time.perf_counter()
    write_bed(prefix, None, chunks(), samples)
    y = g / g.std(axis=0) * math.sqrt(0.5) + rng.normal(size=g.shape) * math.sqrt(0.5)
    cols = [f"trait{t + 1}" for t in range(N_TRAITS)]
    pd.DataFrame(y, index=pd.Index(samples, name="sample"), columns=cols).to_csv(
        work / "pheno.tsv", sep="\t", float_format="%.5f"
    )
    write_sheets(work, samples, groups)
    cfg = write_config(work, prefix)
    print(f"simulated {n} x {m} in {time.perf_counter() - t0:.0f} s; config {cfg}")


def _env() -> dict[str, str]:
    env = dict(os.environ, SLURM_CONF=os.devnull)
    for var in ("BREEDOMICS_MAX_MEM_MB", "BREEDOMICS_MAX_THREADS", "BREEDOMICS_MAX_RUNTIME"):
        env.pop(var, None)
    return env


def run(args: argparse.Namespace) -> None:
    """A local run of the panel's config in ``<panel>/run`` (benchmarks/ per job)."""
    work = Path(args.work).resolve()
    cmd = ["nice", "-n", "10", sys.executable, "-m", "snakemake"]
    cmd += ["-s", str(REPO / "workflow" / "Snakefile"), "-d", str(work / "run")]
    cmd += ["--configfile", str(work / "config.yaml"), "--cores", str(args.cores)]
    # e.g. --omit-from estimate_admixture: its cost does not depend on the markers (thinned
    # to census.admixture_max_snps), and at 1,200 samples it takes ~30 min on 2 loaded cores
    cmd += [f"--omit-from={r}" for r in args.omit_from]
    with open("/proc/loadavg") as fh:
        load0 = fh.read().split()[:3]
    t0 = time.time()
    with open(work / "run.log", "w") as log:
        rc = subprocess.run(cmd, cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT)
    with open("/proc/loadavg") as fh:
        load1 = fh.read().split()[:3]
    info = {"wall_s": round(time.time() - t0, 1), "load_start": load0, "load_end": load1}
    (work / "run.json").write_text(json.dumps(info))
    print(json.dumps(info), "rc", rc.returncode)
    sys.exit(rc.returncode)


def panel_size(work: Path) -> tuple[int, int]:
    """(samples, markers) of the panel a run started from."""
    n = sum(1 for _ in open(work / "panel.fam"))
    m = sum(1 for _ in open(work / "panel.bim"))
    return n, m


def rule_of(bench: Path, root: Path) -> str:
    """The rule of a benchmark file (benchmarks/<stage>/<name>.tsv; scatter ids folded)."""
    rel = bench.relative_to(root).with_suffix("")
    name = str(rel)
    name = re.sub(r"\.c\d+\.b\d+$", ".shard", name)  # gwas/<model>.c<k>.b<j>
    name = re.sub(r"by_chrom/[^/]+/", "by_chrom/*/", name)
    return name


def read_benchmarks(work: Path) -> dict[str, list[dict]]:
    """benchmarks/**.tsv of a run: rule-ish key -> rows (s, max_rss, cpu_time)."""
    root = work / "run" / "benchmarks"
    out: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(root.rglob("*.tsv")):
        with open(path) as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        for r in rows:

            def num(key, r=r):
                v = r.get(key, "")
                try:
                    return float(v)
                except ValueError:
                    return 0.0

            out[rule_of(path, root)].append(
                {"s": num("s"), "max_rss": num("max_rss"), "cpu_time": num("cpu_time")}
            )
    return out


def summary(work: Path) -> dict[str, dict]:
    """Per benchmark key: jobs, max wall s, max RSS MB, max and total CPU s."""
    table = {}
    for key, rows in read_benchmarks(work).items():
        table[key] = {
            "jobs": len(rows),
            "s_max": max(r["s"] for r in rows),
            "rss_max": max(r["max_rss"] for r in rows),
            "cpu_max": max(r["cpu_time"] for r in rows),
            "cpu_sum": sum(r["cpu_time"] for r in rows),
        }
    return table


def collect(args: argparse.Namespace) -> None:
    """Markdown table of every run's jobs (one block per run)."""
    for w in args.work:
        work = Path(w).resolve()
        n, m = panel_size(work)
        info = json.loads((work / "run.json").read_text()) if (work / "run.json").exists() else {}
        print(
            f"\n{n} x {m:,} ({work.name}; run wall {info.get('wall_s', '?')} s, "
            f"load {info.get('load_start')} -> {info.get('load_end')})\n"
        )
        print("| job (benchmark) | jobs | wall s (max) | CPU s (max) | CPU s (sum) | max_rss MB |")
        print("|---|---|---|---|---|---|")
        for key, r in sorted(summary(work).items()):
            print(f"| {key} | {r['jobs']} | {r['s_max']:.1f} | {r['cpu_max']:.1f} | "
                  f"{r['cpu_sum']:.1f} | {r['rss_max']:.0f} |")  # fmt: skip


# --- cost models -----------------------------------------------------------------------
#
# Per benchmark key: rule, threads the profile gives it (set-threads, under the 32-CPU
# cap), jobs at full size, the terms of its CPU-time and memory models (each a function of
# n samples, m markers of the whole panel; fitted as c0 + sum c_i * term_i by non-negative
# least squares over the measured runs), the speed-up of its threads on a node (BLAS
# stages ~0.7 x threads, plink2 ~0.5 x threads, single-threaded Python or bcftools 1),
# and the input the rule's resource model reads (breedomics.resources.Inputs).
SHARDS = 12  # chromosome groups (GWAS) and census shards: one per rice chromosome
BATCH = 5  # traits per GWAS shard
MP_CAP = 20_000  # census.admixture_max_snps


def _terms(*names: str):
    table = {
        "nm": lambda n, m, mp: n * m,
        "n2m": lambda n, m, mp: n * n * m,
        "n2mp": lambda n, m, mp: n * n * mp,
        "nm2": lambda n, m, mp: n * m * m / GENOME_BP,  # pairs within a fixed distance
        "n": lambda n, m, mp: n,
        "n2": lambda n, m, mp: n * n,
        "m": lambda n, m, mp: m,
        # one shard: a chromosome group and a trait batch
        "n2m/s": lambda n, m, mp: n * n * m / SHARDS,
        "nmt/s": lambda n, m, mp: n * m * BATCH / SHARDS,
        "nm/s": lambda n, m, mp: n * m / SHARDS,
        "nm2/s": lambda n, m, mp: n * m * m / GENOME_BP / SHARDS,
        "m/s": lambda n, m, mp: m / SHARDS,
        "mt": lambda n, m, mp: m * N_TRAITS,
    }
    return [(name, table[name]) for name in names]


#: key -> (rule, threads, jobs, CPU terms, memory terms, speed-up, resource input kind)
COSTS = {
    "genotypes/normalise_genotypes": ("normalise_genotypes", 1, 1, ("nm",), ("n", "m"), 1, "plink"),
    "genotypes/qc_genotypes": ("qc_genotypes", 1, 1, ("nm",), ("n", "m"), 1, "vcf"),
    # bcftools view --threads 4: the BGZF work shared (1.7x on 2 threads, measured)
    "genotypes/apply_genotype_qc": ("apply_genotype_qc", 4, 1, ("nm",), (), 2.5, "vcf"),
    "genotypes/impute_genotypes": ("impute_genotypes:mean", 16, 1, ("nm",), (), 1, "vcf"),
    "genotypes/export_plink": ("export_plink", 4, 1, ("nm",), ("n", "m"), 2, "vcf"),
    "genotypes/prune_ld": ("prune_ld", 8, 1, ("nm",), ("n", "m"), 4, "plink"),
    "census/grm": ("compute_census_grm", 8, 1, ("n2m",), ("n2", "m"), 5.6, "plink"),
    "census/pca": ("compute_census_pca", 8, 1, ("n2mp",), ("n2", "m"), 5.6, "pruned"),
    "census/admixture": ("estimate_admixture", 8, 1, ("n",), ("n",), 5.6, "pruned"),
    "census/fst": ("compute_fst", 2, 1, ("nm",), ("n", "m"), 1, "plink"),
    "census/duplicates": ("find_duplicate_accessions", 4, 1, ("n2m",), ("n2", "m"), 2.8, "plink"),
    "census/core": ("select_core_set", 2, 1, ("nm", "n2m"), ("n2", "m"), 1, "plink"),
    "census/shards": ("plan_census_shards", 1, 1, ("m",), ("m",), 1, "plink"),
    "census/by_chrom/*/diversity": (
        "scan_diversity_shard",
        1,
        SHARDS,
        ("nm/s",),
        ("n", "m/s"),
        1,
        "plink",
    ),
    "census/by_chrom/*/ld_decay": (
        "scan_ld_decay_shard",
        4,
        SHARDS,
        ("nm/s", "nm2/s"),
        ("n", "m/s"),
        2.8,
        "plink",
    ),
    "census/by_chrom/*/roh": ("scan_roh_shard", 1, SHARDS, ("nm/s",), ("n", "m/s"), 1, "plink"),
    "census/diversity": ("gather_diversity", 1, 1, ("m",), ("m",), 1, "plink"),
    "census/ld_decay": ("gather_ld_decay", 1, 1, ("n",), ("n",), 1, "plink"),
    "census/roh": ("gather_roh", 1, 1, ("n",), ("n",), 1, "plink"),
    "gwas/kinship": ("compute_gwas_kinship", 16, 1, ("n2m",), ("n2", "m"), 11, "plink"),
    "gwas/glm.shard": ("scan_gwas_shard", 8, 2 * SHARDS, ("nmt/s",), ("n", "m/s"), 1, "plink"),
    "gwas/mlm.shard": (
        "scan_gwas_shard",
        8,
        2 * SHARDS,
        ("n2m/s", "nmt/s"),
        ("n2", "m/s"),
        5.6,
        "plink",
    ),
    "gwas/glm.gather": ("gather_gwas", 1, 1, ("mt",), ("m",), 1, "plink"),
    "gwas/mlm.gather": ("gather_gwas", 1, 1, ("mt",), ("m",), 1, "plink"),
    "gwas/annotate.glm": ("annotate_gwas", 1, 1, ("m",), ("m",), 1, "plink"),
    "gwas/annotate.mlm": ("annotate_gwas", 1, 1, ("m",), ("m",), 1, "plink"),
    "report/build_report": ("build_report", 1, 1, ("mt",), ("m",), 1, "other"),
}


def _nnls(rows: list[list[float]], y: list[float]) -> list[float]:
    import numpy as np
    from scipy.optimize import nnls

    a, b = np.asarray(rows, float), np.asarray(y, float)
    scale = np.where(a.max(axis=0) > 0, a.max(axis=0), 1.0)
    coef, _ = nnls(a / scale, b)
    return list(coef / scale)


def pruned_markers(work: Path) -> int:
    bim = work / "run" / "results" / "genotypes" / "pruned.bim"
    return sum(1 for _ in open(bim)) if bim.exists() else 0


def vcf_bytes_per_genotype(works: list[Path]) -> float:
    """Bytes of the bgzipped VCF (snps.vcf.gz) per genotype, largest run."""
    best = max(works, key=lambda w: math.prod(panel_size(w)))
    n, m = panel_size(best)
    return (best / "run" / "results" / "genotypes" / "snps.vcf.gz").stat().st_size / (n * m)


def fit(args: argparse.Namespace) -> None:
    """Per-rule CPU/memory fits over the runs and the extrapolation to the target sizes."""
    from breedomics import resources as res

    works = [Path(w).resolve() for w in args.work]
    runs = []
    for w in works:
        n, m = panel_size(w)
        runs.append((n, m, pruned_markers(w) or m, summary(w)))
    bpg = vcf_bytes_per_genotype(works)
    cap = res.Cap(mem_mb=int(NODE["BREEDOMICS_MAX_MEM_MB"]),
                  threads=int(NODE["BREEDOMICS_MAX_THREADS"]),
                  runtime=int(NODE["BREEDOMICS_MAX_RUNTIME"]))  # fmt: skip
    print(f"runs: {', '.join(f'{n} x {m:,} (pruned {mp:,})' for n, m, mp, _ in runs)}; "
          f"VCF {bpg:.3f} bytes per genotype")  # fmt: skip
    out = {}
    for target_m in args.target_snps:
        n, m = args.target_samples, target_m
        mp = m  # Balding-Nichols panels have no LD: pruning keeps nearly every SNP
        print(f"\n### {n:,} x {m / 1e6:g} M ({SHARDS} chromosome groups x "
              f"{N_TRAITS // BATCH} trait batches, census {SHARDS} shards)\n")  # fmt: skip
        print("| job | jobs | threads | CPU h / job | wall h / job | max_rss GB | "
              "asks mem GB | asks h | CPU terms (s at full size) |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|")
        rows_out = []
        for key, (rule, threads, jobs, tterms, mterms, speed, kind) in COSTS.items():
            pts = [(rn, rm, rmp, t[key]) for rn, rm, rmp, t in runs if key in t]
            if len(pts) < 2:
                continue
            tt, mt = _terms(*tterms), _terms(*mterms)
            ct = _nnls([[1] + [f(a, b, c) for _, f in tt] for a, b, c, _ in pts],
                       [r["cpu_max"] for *_, r in pts])  # fmt: skip
            cm = _nnls([[1] + [f(a, b, c) for _, f in mt] for a, b, c, _ in pts],
                       [r["rss_max"] for *_, r in pts])  # fmt: skip
            mp_eff = min(mp, MP_CAP) if rule == "estimate_admixture" else mp
            parts = [c * f(n, m, mp_eff) for c, (_, f) in zip(ct[1:], tt, strict=True)]
            cpu = ct[0] + sum(parts)
            rss = cm[0] + sum(c * f(n, m, mp_eff) for c, (_, f) in zip(cm[1:], mt, strict=True))
            wall = cpu / speed
            inputs = full_size_inputs(kind, n, m, bpg)
            model = res.MODELS[rule]
            req = res.estimate(model, inputs, threads=threads)
            asked_mem = res.clip(rule, "mem_mb", req["mem_mb"], cap)
            asked_rt = res.clip(rule, "runtime", req["runtime"], cap)
            flag = ""
            if rss > asked_mem:
                flag += " MEM>ASK"
            if wall / 60 > asked_rt:
                flag += " TIME>ASK"
            terms = ", ".join(f"{nm} {p:,.0f}" for (nm, _), p in zip(tt, parts, strict=True))
            print(f"| {rule} ({key}) | {jobs} | {threads} | {cpu / 3600:,.2f} | "
                  f"{wall / 3600:,.2f} | {rss / 1000:,.1f} | {asked_mem / 1000:,.1f} | "
                  f"{asked_rt / 60:,.1f} | {terms}; start {ct[0]:.0f}{flag} |")  # fmt: skip
            rows_out.append(
                {
                    "key": key, "rule": rule, "jobs": jobs, "threads": threads, "cpu_s": cpu,
                    "wall_s": wall, "rss_mb": rss, "asked_mem_mb": req["mem_mb"],
                    "asked_runtime_min": req["runtime"], "capped_mem_mb": asked_mem,
                    "capped_runtime_min": asked_rt,
                }
            )  # fmt: skip
        out[m] = rows_out
        print(wall_plan(rows_out, args.nodes, args.node_cores))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


def full_size_inputs(kind: str, n: int, m: int, bytes_per_genotype: float):
    """What a rule's resource model reads at full size (breedomics.resources.Inputs)."""
    from breedomics.resources import Inputs

    if kind == "vcf":
        return Inputs(vcf_gb=n * m * bytes_per_genotype / 1e9)
    if kind in ("plink", "pruned"):
        return Inputs(gcells=n * m / 1e9, mmarkers=m / 1e6, ksamples2=(n / 1000) ** 2)
    return Inputs(other_gb=m * N_TRAITS * 60 / 1e9)  # summary statistics, ~60 B a row


#: Stages of the critical path: each starts when the one before it has ended.
STAGES = [
    ("genotype prep", ["normalise_genotypes", "qc_genotypes", "apply_genotype_qc",
                       "impute_genotypes:mean", "export_plink"]),
    ("kinship / pruning", ["compute_gwas_kinship", "prune_ld", "plan_census_shards"]),
    ("scans and census", ["scan_gwas_shard", "compute_census_grm", "compute_census_pca",
                          "estimate_admixture", "compute_fst", "find_duplicate_accessions",
                          "select_core_set", "scan_diversity_shard", "scan_ld_decay_shard",
                          "scan_roh_shard"]),
    ("gathers, annotation, report", ["gather_gwas", "annotate_gwas", "gather_diversity",
                                     "gather_ld_decay", "gather_roh", "build_report"]),
]  # fmt: skip


def wall_plan(rows: list[dict], nodes: int, cores: int) -> str:
    """Wall time per stage: serial chain for genotype prep, else the longest job or the
    core-hours over the cluster, whichever is larger."""
    lines = ["", f"Wall time on {nodes} nodes x {cores} cores:", ""]
    total = 0.0
    for stage, rules in STAGES:
        jobs = [r for r in rows if r["rule"] in rules]
        if not jobs:
            continue
        if stage == "genotype prep":
            t = sum(r["wall_s"] for r in jobs)
            how = "serial chain"
        else:
            longest = max(r["wall_s"] for r in jobs)
            core_s = sum(r["wall_s"] * r["threads"] * r["jobs"] for r in jobs)
            t = max(longest, core_s / (nodes * cores))
            how = f"longest job {longest / 3600:.2f} h, {core_s / 3600:,.0f} core-h"
        total += t
        lines.append(f"- {stage}: {t / 3600:,.2f} h ({how})")
    lines.append(f"- total: {total / 3600:,.2f} h")
    return "\n".join(lines)


#: The node assumed by the plan (docs/scaling.md): the cap a user would export for it.
NODE = {"BREEDOMICS_MAX_MEM_MB": "128000", "BREEDOMICS_MAX_THREADS": "32",
        "BREEDOMICS_MAX_RUNTIME": "4320"}  # fmt: skip


def write_bim(path: Path, m: int, chunk: int = 1_000_000) -> None:
    """``m`` SNPs over 12 chromosomes of a 373 Mb genome, written in chunks."""
    import numpy as np

    per_chrom = [m // N_CHROM + (1 if c < m % N_CHROM else 0) for c in range(N_CHROM)]
    with open(path, "w") as fh:
        for c, k in enumerate(per_chrom, start=1):
            spacing = max(1, (GENOME_BP // N_CHROM) // k)
            for start in range(0, k, chunk):
                pos = (np.arange(start, min(k, start + chunk)) + 1) * spacing
                fh.write("".join(f"{c}\t{c}_{p}\t0\t{p}\tA\tG\n" for p in pos.tolist()))


def synthetic_inputs(work: Path, n: int, m: int) -> Path:
    """A 3,000-sample .fam, an m-line .bim and a sparse .bed (magic bytes, then a hole of
    the right size: ceil(n/4) bytes per SNP), a sample sheet, 10 traits and the config."""
    import numpy as np

    work.mkdir(parents=True, exist_ok=True)
    prefix = work / "panel"
    samples = [f"IRIS_{i:05d}" for i in range(n)]
    groups = ["indica", "japonica", "aus", "admixed"]
    with open(f"{prefix}.fam", "w") as fh:
        fh.writelines(f"{s} {s} 0 0 0 -9\n" for s in samples)
    bim = Path(f"{prefix}.bim")
    if not bim.exists() or sum(1 for _ in open(bim, "rb")) != m:
        t0 = time.perf_counter()
        write_bim(bim, m)
        print(
            f"wrote {bim} ({bim.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f} s"
        )
    bed = Path(f"{prefix}.bed")
    with open(bed, "wb") as fh:
        fh.write(bytes([0x6C, 0x1B, 0x01]))
    os.truncate(bed, 3 + math.ceil(n / 4) * m)
    write_sheets(work, samples, [groups[i % 4] for i in range(n)])
    rng = np.random.default_rng(1)
    with open(work / "pheno.tsv", "w") as fh:
        fh.write("sample\t" + "\t".join(f"trait{t + 1}" for t in range(N_TRAITS)) + "\n")
        for s in samples:
            fh.write(s + "\t" + "\t".join(f"{v:.4f}" for v in rng.normal(size=N_TRAITS)) + "\n")
    return write_config(work, prefix)


def dryrun(args: argparse.Namespace) -> None:
    """``snakemake -n --profile cluster`` of the synthetic plan; job counts per rule."""
    work = Path(args.out).resolve()
    cfg = synthetic_inputs(work, args.samples, args.snps)
    bed = Path(work / "panel.bed")
    print(f"{bed}: {bed.stat().st_size / 1e9:.2f} GB apparent, "
          f"{bed.stat().st_blocks * 512 / 1e6:.1f} MB on disk")  # fmt: skip
    cmd = [sys.executable, "-m", "snakemake", "-n", "--profile", "cluster"]
    cmd += ["--configfile", str(cfg), "-d", str(work / "run")]
    env = dict(_env(), **(NODE if not args.no_cap else {}))
    env.setdefault("BREEDOMICS_SLURM_ACCOUNT", "rice3k")
    env.setdefault("BREEDOMICS_SLURM_PARTITION", "compute")
    shown = [f"{k}={v}" for k, v in sorted(env.items()) if k.startswith(("BREEDOMICS", "SLURM_"))]
    print("$", " ".join(shown), " ".join(cmd[2:]))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    (work / "dryrun.log").write_text(out)
    print(f"exit {proc.returncode} in {time.perf_counter() - t0:.0f} s; log {work / 'dryrun.log'}")
    stats = re.search(r"Job stats:\n(.*?)\n\n", out, re.S)
    print(stats.group(1) if stats else out[-3000:])
    for line in sorted(set(re.findall(r"^breedomics: rule .*$", out, re.M))):
        print(line)
    # what each planned job asks for (those whose input exists; the rest are <TBD>)
    for m in re.finditer(
        r"^(?:rule|checkpoint) (\w+):\n(?:    .*\n)*?    threads: (\d+)\n    resources: ([^\n]*)",
        out,
        re.M,
    ):
        print(f"  {m.group(1)}: threads={m.group(2)} {m.group(3)}")
    sys.exit(proc.returncode)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("simulate", help="simulated PLINK panel, traits and config")
    p.add_argument("--samples", type=int, required=True)
    p.add_argument("--snps", type=int, required=True)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", required=True)
    p.set_defaults(func=simulate)
    p = sub.add_parser("run", help="local run of a simulated panel's config")
    p.add_argument("work")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--omit-from", action="append", default=[], metavar="RULE")
    p.set_defaults(func=run)
    p = sub.add_parser("collect", help="per-job benchmark table of finished runs")
    p.add_argument("work", nargs="+")
    p.set_defaults(func=collect)
    p = sub.add_parser("fit", help="per-rule cost fits and the full-size extrapolation")
    p.add_argument("work", nargs="+")
    p.add_argument("--target-samples", type=int, default=3000)
    p.add_argument("--target-snps", type=int, nargs="+", default=[10_000_000, 30_000_000])
    p.add_argument("--nodes", type=int, default=20)
    p.add_argument("--node-cores", type=int, default=32)
    p.add_argument("--json")
    p.set_defaults(func=fit)
    p = sub.add_parser("dryrun", help="synthetic full-size inputs and a dry run of the profile")
    p.add_argument("--samples", type=int, default=3000)
    p.add_argument("--snps", type=int, default=10_000_000)
    p.add_argument("--out", default="/tmp/scaling/dry10M")
    p.add_argument("--no-cap", action="store_true", help="leave BREEDOMICS_MAX_* unset")
    p.set_defaults(func=dryrun)
    args = ap.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
