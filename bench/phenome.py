#!/usr/bin/env python
"""Benchmark ``breedomics phenome``: wall time and peak memory of the phenotype models.

Section ``spatial`` (default 5,000 plots: 2,500 genotypes x 2 replicates on a 100-row x
50-column field with a smooth trend and row/column effects, simulated by
:mod:`breedomics.testing.field`): ``breedomics phenome spatial`` on the trial (the SpATS
model with genotypes fixed and random, REML by SAP, field map and variogram), run as a
child process; prints wall time, peak resident memory, the REML iterations, the
generalised heritability against the simulated one and the accuracy of the spatial
BLUEs against the block model's.

Section ``curves`` (default 2,000 plots x 20 drone flights, logistic and Gompertz curves
with known parameters, 10% missing plot-dates and one outlier flight, simulated by
:mod:`breedomics.testing.growth`): ``breedomics phenome curves`` on the long table, run
as a child process; prints wall time, peak resident memory, the correlations of the
recovered maximum growth rate and inflection time with the truth and the share of plots
whose chosen model is the generating one.

Sections are functions in :data:`SECTIONS`.

Usage::

    python bench/phenome.py [--workdir bench-phenome] [--plots 5000] [--curve-plots 2000]
        [--dates 20] [--sections spatial,curves]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import measure  # noqa: E402

from breedomics.gs.blue import fit_met  # noqa: E402
from breedomics.testing.field import simulate_field  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def spatial(args: argparse.Namespace, work: Path) -> None:
    """The 5,000-plot spatial trial."""
    n_geno = args.plots // 2
    n_cols = 50
    n_rows = -(-n_geno // n_cols)
    rec, g = simulate_field(n_geno, 2, n_rows, n_cols, np.random.default_rng(args.seed),
                            trend_sd=1.0, row_sd=0.3, col_sd=0.3)  # fmt: skip
    rec["environment"] = "T1"
    path = work / "spatial_trial.tsv"
    rec.drop(columns="trend").to_csv(path, sep="\t", index=False)
    out = work / "spatial"
    cmd = [sys.executable, "-m", "breedomics", "phenome", "spatial", "--records", path,
           "--traits", "y", "--rep-col", "block", "--out-dir", out]  # fmt: skip
    res = measure(cmd, ROOT, work / "spatial.log")
    print(f"spatial trial: {len(rec)} plots, {n_geno} genotypes, {2 * n_rows} x {n_cols} grid")
    print(f"  breedomics phenome spatial: {res['wall_s']:.1f} s wall, {res['peak_mb']:.0f} MB peak")
    if res["exit"] != 0:
        return
    blues = pd.read_csv(out / "blues.tsv", sep="\t", index_col=0)["y"]
    h2_tab = pd.read_csv(out / "heritability.tsv", sep="\t").iloc[0]
    h2 = h2_tab["H2"]
    print(f"  model {h2_tab['model']} (spatial terms: REML LRT {h2_tab['lrt']:.1f}, "
          f"p {h2_tab['p_lrt']:.2g}; linear surface: F {h2_tab['f_linear']:.1f}, "
          f"p {h2_tab['p_linear']:.2g})")  # fmt: skip
    idx = blues.index.str[1:].astype(int)
    block = fit_met(rec, "y", rep="block").genotypes
    r_sp = np.corrcoef(blues, g[idx])[0, 1]
    r_bl = np.corrcoef(block["blue"], g[block["genotype"].str[1:].astype(int)])[0, 1]
    print(f"  H2 {h2:.3f} (simulated {1 / (1 + 1 / 2):.3f}); accuracy spatial {r_sp:.3f}, "
          f"block model {r_bl:.3f}")  # fmt: skip


def curves(args: argparse.Namespace, work: Path) -> None:
    """2,000 plots x 20 flights of growth curves."""
    from breedomics.testing.growth import simulate_series, true_max_rate

    rng = np.random.default_rng(args.seed)
    n = args.curve_plots
    truth = pd.DataFrame(
        {
            "plot": [f"P{i:05d}" for i in range(n)],
            "model": rng.choice(["logistic", "gompertz"], n),
            "A": rng.normal(100, 10, n),
            "r": np.exp(rng.normal(np.log(0.08), 0.2, n)),
            "ti": rng.normal(50, 8, n),
        }
    )
    days = np.linspace(10, 100, args.dates).round(1)
    obs = simulate_series(truth.rename(columns={"plot": "unit"}), days, rng, noise_sd=2.0,
                          missing=0.1, outlier_flights=1)  # fmt: skip
    path = work / "growth_series.tsv"
    obs.rename(columns={"unit": "plot"}).to_csv(path, sep="\t", index=False)
    out = work / "curves"
    cmd = [sys.executable, "-m", "breedomics", "phenome", "curves", "--series", path,
           "--flight-col", "flight", "--out-dir", out]  # fmt: skip
    res = measure(cmd, ROOT, work / "curves.log")
    print(f"growth curves: {n} plots x {len(days)} dates ({len(obs)} observations)")
    print(f"  breedomics phenome curves: {res['wall_s']:.1f} s wall, {res['peak_mb']:.0f} MB peak")
    if res["exit"] != 0:
        return
    units = pd.read_csv(out / "units.tsv", sep="\t", index_col=0)
    t = truth.set_index("plot").loc[units.index]
    rate = true_max_rate(t["model"].to_numpy(), t["A"].to_numpy(), t["r"].to_numpy())
    ok = units["max_rate"].notna().to_numpy()
    r_rate = np.corrcoef(units["max_rate"][ok], rate[ok])[0, 1]
    r_ti = np.corrcoef(units["t_inflection"], t["ti"])[0, 1]
    agree = np.mean(units["model"].to_numpy() == t["model"].to_numpy())
    print(f"  r(max rate) {r_rate:.3f}, r(inflection) {r_ti:.3f}, generating model chosen "
          f"{agree:.3f}, outliers set aside {int(units['n_outliers'].sum())}")  # fmt: skip


#: name -> function(args, workdir)
SECTIONS = {"spatial": spatial, "curves": curves}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("bench-phenome"))
    ap.add_argument("--plots", type=int, default=5000)
    ap.add_argument("--curve-plots", type=int, default=2000)
    ap.add_argument("--dates", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sections", default=",".join(SECTIONS))
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    for name in args.sections.split(","):
        SECTIONS[name](args, args.workdir.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
