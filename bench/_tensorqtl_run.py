"""Run tensorQTL (CPU) on the files of ``bench/omics.py``; a child process of the benchmark.

Usage: ``python bench/_tensorqtl_run.py WORKDIR cis|trans --nperm N --window W --seed S
--out FILE [--pheno pheno.bed]``. Genotypes are decoded from the PLINK set with the
breedomics reader into the ``variants x samples`` int8 DataFrame tensorQTL's API takes
(chunk by chunk: 1 byte per genotype, as tensorQTL's own ``read_plink``); phenotypes
are read as ``tensorqtl.core.read_phenotype_bed`` reads them, covariates from the TSV. The seconds
spent loading and mapping are printed (the benchmark measures the whole process).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd


def load_genotypes(prefix: str):
    from breedomics.core.genotypes import iter_dosage_chunks, read_samples, read_variants

    samples = read_samples(prefix)
    var = read_variants(prefix)
    g = np.empty((len(var), len(samples)), dtype=np.int8)
    k = 0
    for _v, dos in iter_dosage_chunks(prefix, chunk_size=20000):
        m = dos.shape[1]
        d = np.where(np.isnan(dos), -9, dos).astype(np.int8)
        g[k : k + m] = d.T
        k += m
    ids = var["id"].astype(str).to_numpy()
    genotype_df = pd.DataFrame(g, index=ids, columns=samples, copy=False)
    variant_df = pd.DataFrame(
        {"chrom": var["chrom"].astype(str).to_numpy(), "pos": var["pos"].to_numpy(np.int64)},
        index=ids,
    )
    return genotype_df, variant_df


def read_bed(path: str):
    """``tensorqtl.core.read_phenotype_bed`` without its sort check, which fails under
    pandas 3 (its groupby-apply result never equals the input): same frames otherwise."""
    df = pd.read_csv(path, sep="\t", index_col=3, dtype={"#chr": str})
    df = df.rename(columns={"#chr": "chr"})
    df["start"] += 1  # 1-based, as tensorQTL
    pos = df[["chr", "start", "end"]]
    if (pos["start"] == pos["end"]).all():
        pos = pos[["chr", "end"]].rename(columns={"end": "pos"})
    return df.drop(columns=["chr", "start", "end"]), pos


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("workdir")
    ap.add_argument("mode", choices=["cis", "trans"])
    ap.add_argument("--nperm", type=int, default=10000)
    ap.add_argument("--window", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=123456)
    ap.add_argument("--pheno", default="pheno.bed")
    ap.add_argument("--pval-threshold", type=float, default=1e-5)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    import torch
    from tensorqtl import cis, trans

    work = Path(a.workdir)
    t0 = time.perf_counter()
    genotype_df, variant_df = load_genotypes(str(work / "geno"))
    phenotype_df, phenotype_pos_df = read_bed(str(work / a.pheno))
    covariates_df = pd.read_csv(work / "covariates.tsv", sep="\t", index_col=0)
    covariates_df = covariates_df.loc[phenotype_df.columns]
    t_load = time.perf_counter() - t0
    t1 = time.perf_counter()
    if a.mode == "cis":
        res = cis.map_cis(
            genotype_df,
            variant_df,
            phenotype_df,
            phenotype_pos_df,
            covariates_df,
            nperm=a.nperm,
            window=a.window,
            seed=a.seed,
            maf_threshold=0,
            verbose=False,
        )
        res.index.name = "phenotype_id"
        res.reset_index().to_csv(a.out, sep="\t", index=False)
    else:
        res = trans.map_trans(
            genotype_df,
            phenotype_df,
            covariates_df,
            batch_size=20000,
            return_sparse=True,
            pval_threshold=a.pval_threshold,
            maf_threshold=0,
            verbose=False,
        )
        res.to_parquet(a.out)
    t_map = time.perf_counter() - t1
    print(
        json.dumps(
            {
                "load_s": round(t_load, 2),
                "map_s": round(t_map, 2),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
