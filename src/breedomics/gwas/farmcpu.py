"""Multi-locus GWAS in the FarmCPU family (Liu et al. 2016, *PLoS Genet* 12:e1005767).

FarmCPU ("fixed and random model circulating probability unification")
alternates two models until the set of pseudo-QTNs stops changing:

1. **Fixed-effect model** -- every variant is tested by least squares with
   the covariates *and the current pseudo-QTNs* as fixed effects. A
   pseudo-QTN's own p-value comes from the same model with the other
   pseudo-QTNs (i.e. its coefficient in the full model).
2. **Random-effect model ("REM-like") selection of pseudo-QTNs** -- the
   genome is cut into bins (500 kb, 5 Mb and 50 Mb by default); the most
   significant variant of each bin whose p-value is below ``qtn_threshold``
   is a candidate. For every bin size and every number ``k`` of candidates
   (1 ... ``round(sqrt(n) / sqrt(log10 n))``, FarmCPU's bound) the top-``k``
   candidates define a kinship ``K = Z Z' / k`` (``Z`` their centred
   genotypes, a SUPER/FaST-LMM-Select-style kinship) and the REML
   log-likelihood of ``y = W a + g + e, g ~ N(0, vg K)`` is maximised; the
   combination with the highest likelihood is taken. Pseudo-QTNs of the
   previous iteration that are still below ``qtn_threshold`` are kept, of
   any two pseudo-QTNs correlated with ``|r| > ld_r`` (0.7) only the more
   significant one stays, and at most ``bound`` pseudo-QTNs (the most
   significant) enter the model, so that the fixed-effect model cannot
   accumulate noise-fitting covariates over the iterations.

The loop stops when the set repeats the previous one (converged) or the one
before it (FarmCPU's "circle" rule), or after ``max_iter`` iterations.

Differences from the R implementations (rMVP/GAPIT): candidate numbers ``k``
run from 1 to the bound (not ``seq(10, 100, 10)``), the total number of
pseudo-QTNs is capped at the bound, and a pseudo-QTN's reported p-value is
its Wald test in the model with the other pseudo-QTNs (GAPIT's default
"reward" substitution instead reports the smallest p-value it reached in any
variant's model, which is anti-conservative). Pseudo-QTN p-values are still
selected on the same data and run optimistic; :mod:`breedomics.testing.gwas_power`
compares models at equal numbers of false discoveries.

If no variant passes ``p_threshold`` (default ``0.01 / m``) in the first
iteration there is **no pseudo-QTN**: the result is the first-iteration
fixed-effect model, and this is stated in the trait's notes, the log, the
summary table and the metadata instead of silently passing off a GLM as a
multi-locus result.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from breedomics.core.progress import plural
from breedomics.core.standardise import impute_center
from breedomics.gwas.lmm import AssocResult, AssocSet, fit_null
from breedomics.gwas.naming import trait_stem
from breedomics.gwas.phenotypes import GwasData
from breedomics.gwas.pvalues import neglog10_p_f1
from breedomics.gwas.results import SumstatsWriter, close_all
from breedomics.gwas.scan import GenotypeSource, ScanConfig, TraitScan, run_pass

__all__ = ["FarmCPUConfig", "run_farmcpu", "select_pseudo_qtns"]


@dataclass
class FarmCPUConfig:
    """FarmCPU options (defaults of the original R implementation).

    Attributes
    ----------
    p_threshold : float or None
        First-iteration significance needed to start (default ``0.01 / m``).
    qtn_threshold : float
        A bin lead (or previous pseudo-QTN) must have ``p`` below this.
    bin_sizes : tuple of int
        Bin sizes in bp.
    max_iter : int
        Maximum number of iterations.
    ld_r : float
        Pseudo-QTNs correlated above this ``|r|`` are pruned.
    max_qtn : int or None
        Upper bound on ``k`` (default ``round(sqrt(n) / sqrt(log10 n))``).
    """

    p_threshold: float | None = None
    qtn_threshold: float = 0.01
    bin_sizes: tuple[int, ...] = (500_000, 5_000_000, 50_000_000)
    max_iter: int = 10
    ld_r: float = 0.7
    max_qtn: int | None = None


@dataclass
class _TraitState:
    trait: str
    rows: np.ndarray
    qtn: list[int] = field(default_factory=list)  # global variant indices
    qtn_before: list[int] | None = None  # the set of the iteration before
    qtn_geno: np.ndarray | None = None  # (n_rows, k) imputed dosages
    qtn_info: pd.DataFrame | None = None
    done: bool = False
    iterations: list[dict] = field(default_factory=list)
    bins: dict = field(default_factory=dict)  # bin size -> {(chrom, bin): (nl10, gidx)}
    min_nl10: float = 0.0
    note: str = ""


def _bin_update(state: _TraitState, sizes, var: pd.DataFrame, nl: np.ndarray) -> None:
    if len(var) == 0:
        return
    ok = np.isfinite(nl)
    if not ok.any():
        return
    state.min_nl10 = max(state.min_nl10, float(np.nanmax(nl)))
    chrom = str(var["chrom"].iloc[0])
    pos = var["pos"].to_numpy()
    gidx = var.index.to_numpy()
    nlz = np.where(ok, nl, -np.inf)
    for b in sizes:
        key = pos // b
        starts = np.r_[0, np.flatnonzero(np.diff(key)) + 1]
        ends = np.r_[starts[1:], len(key)]
        d = state.bins.setdefault(b, {})
        for st, en in zip(starts, ends, strict=True):
            j = st + int(np.argmax(nlz[st:en]))
            bv = nlz[j]
            if not np.isfinite(bv):
                continue
            k = (chrom, int(key[st]))
            cur = d.get(k)
            if cur is None or bv > cur[0]:
                d[k] = (float(bv), int(gidx[j]))


def _glm_single(w: np.ndarray, y: np.ndarray, x: np.ndarray) -> tuple[float, float, float, int]:
    """OLS Wald test of x given covariates w; returns beta, se, -log10 p, df."""
    q, _ = np.linalg.qr(w)
    xr = x - q @ (q.T @ x)
    yr = y - q @ (q.T @ y)
    xx = float(xr @ xr)
    d = len(y) - w.shape[1] - 1
    if xx <= 1e-10 * max(float(x @ x), 1e-300):
        return np.nan, np.nan, np.nan, d
    beta = float(xr @ yr) / xx
    rss = float(yr @ yr) - beta * beta * xx
    se = np.sqrt(rss / d / xx)
    return beta, se, float(neglog10_p_f1(np.array([(beta / se) ** 2]), d)[0]), d


def _qtn_tests(w: np.ndarray, y: np.ndarray, s: np.ndarray) -> list[tuple[float, float, float]]:
    """Wald test of every pseudo-QTN in the model with all the others."""
    out = []
    for j in range(s.shape[1]):
        others = np.delete(s, j, axis=1)
        beta, se, nl, _ = _glm_single(np.column_stack([w, others]), y, s[:, j])
        out.append((beta, se, nl))
    return out


def _rem_loglik(w: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    """REML log-likelihood with kinship Z Z'/k from pseudo-QTN genotypes."""
    n, k = z.shape
    u, dvals, _ = np.linalg.svd(z, full_matrices=False)
    keep = dvals > 1e-8 * max(dvals.max(initial=0.0), 1e-300)
    u, dvals = u[:, keep], dvals[keep]
    s = dvals**2 / k
    zz = np.column_stack([w, y])
    rot = u.T @ zz
    mom = rot[:, :, None] * rot[:, None, :]
    rest = zz.T @ zz - np.einsum("iab->ab", mom)
    moments = np.concatenate([mom, rest[None]], axis=0)
    s_ext = np.r_[s, 0.0]
    nm = fit_null("rem", s_ext, w, y, 1.0, "reml", n=n, moments=moments)
    return nm.loglik_reml


def _ld_prune(order_nl: np.ndarray, geno: np.ndarray, ld_r: float) -> np.ndarray:
    """Indices (into columns) kept after pruning |r| > ld_r, best first."""
    order = np.argsort(-order_nl, kind="stable")
    kept: list[int] = []
    z = geno - geno.mean(axis=0)
    sd = np.sqrt((z * z).sum(axis=0))
    sd[sd == 0] = np.inf
    zn = z / sd
    for j in order:
        if all(abs(float(zn[:, j] @ zn[:, i])) <= ld_r for i in kept):
            kept.append(int(j))
    return np.asarray(kept, dtype=np.int64)


def _bound(n: int, fcfg: FarmCPUConfig) -> int:
    """Maximum number of pseudo-QTNs: ``round(sqrt(n) / sqrt(log10 n))`` (FarmCPU)."""
    return fcfg.max_qtn or max(1, int(round(np.sqrt(n) / np.sqrt(np.log10(n)))))


def select_pseudo_qtns(
    w: np.ndarray,
    y: np.ndarray,
    bins: dict,
    fetch,
    fcfg: FarmCPUConfig,
) -> tuple[list[int], dict]:
    """REM-like choice of bin size and number of pseudo-QTNs.

    Parameters
    ----------
    w, y : numpy.ndarray
        Covariates and trait of the observed samples.
    bins : dict
        Bin size -> ``{(chrom, bin): (-log10 p, variant index)}``.
    fetch : callable
        Variant indices -> imputed dosages ``(n, k)`` of the observed samples.
    fcfg : FarmCPUConfig

    Returns
    -------
    chosen : list of int
        Variant indices of the chosen candidates (best first).
    info : dict
        ``bin_size``, ``k``, ``loglik`` of the choice.
    """
    bound = _bound(len(y), fcfg)
    min_nl = -np.log10(fcfg.qtn_threshold)
    cands = {}
    for b, d in bins.items():
        lst = sorted((v for v in d.values() if v[0] >= min_nl), key=lambda t: -t[0])
        cands[b] = [g for _, g in lst[:bound]]
    union = sorted({g for v in cands.values() for g in v})
    if not union:
        return [], {"bin_size": None, "k": 0, "loglik": np.nan}
    geno = fetch(union)
    col = {g: i for i, g in enumerate(union)}
    best = (-np.inf, None, 0)
    for b, lst in cands.items():
        for k in range(1, len(lst) + 1):
            z = geno[:, [col[g] for g in lst[:k]]]
            z = z - z.mean(axis=0)
            ll = _rem_loglik(w, y, z)
            if ll > best[0] + 1e-9:
                best = (ll, b, k)
    ll, b, k = best
    if b is None:
        return [], {"bin_size": None, "k": 0, "loglik": np.nan}
    return cands[b][:k], {"bin_size": int(b), "k": int(k), "loglik": float(ll)}


def run_farmcpu(
    src: GenotypeSource,
    data: GwasData,
    out_dir: str | os.PathLike,
    cfg: ScanConfig,
) -> list[TraitScan]:
    """Run FarmCPU for every trait and write the final summary statistics.

    Parameters
    ----------
    src : GenotypeSource
    data : GwasData
        Traits and covariates (PCs already added).
    out_dir : str or path-like
    cfg : ScanConfig
        Filters (``maf``, ``max_missing``), permutations, and FarmCPU's options
        (``cfg.farmcpu``; default :class:`FarmCPUConfig`).

    Returns
    -------
    list of TraitScan
        ``extra["pseudo_qtns"]`` lists the final pseudo-QTNs and
        ``extra["iterations"]`` every iteration's choice.
    """
    fcfg = cfg.farmcpu or FarmCPUConfig()
    masks = data.masks()
    wall = data.covariates.to_numpy()
    yall = data.traits.to_numpy()
    traits = list(data.traits.columns)
    states = {t: _TraitState(t, np.flatnonzero(masks[t])) for t in traits}
    m_total = src.n_variants

    def build(st: _TraitState, perms: bool = False) -> AssocSet:
        w = wall[st.rows]
        if st.qtn_geno is not None and st.qtn_geno.shape[1]:
            w = np.column_stack([w, st.qtn_geno])
        y = yall[st.rows, traits.index(st.trait)][:, None]
        ts = AssocSet.build([st.trait], st.rows, w, y, "glm", context=st.trait)
        if perms and cfg.permutations:
            ts.enable_permutations(cfg.permutations, cfg.seed)
        return ts

    def fetch_for(st: _TraitState):
        def fetch(idx):
            _v, d = src.extract(np.asarray(idx))
            z, _m, _n = impute_center(d[st.rows])
            return z + _m  # imputed dosages (not centred)

        return fetch

    for it in range(1, fcfg.max_iter + 1):
        active = [st for st in states.values() if not st.done]
        if not active:
            break
        sets = {st.trait: build(st) for st in active}
        for st in active:
            st.bins = {}
            st.min_nl10 = 0.0

        def on_result(t, v, af, nobs, r: AssocResult):
            _bin_update(states[t], fcfg.bin_sizes, v, r.nlog10p)

        n_tested: dict[str, list[int]] = {}
        set_list = list(sets.values())
        label = f"gwas farmcpu iteration {it} ({plural(len(active), 'trait')})"
        run_pass(src, lambda _c, sl=set_list: sl, on_result, cfg, counts=n_tested, label=label)
        for st in active:
            w = wall[st.rows]
            y = yall[st.rows, traits.index(st.trait)]
            m_used = max(n_tested.get(st.trait, [m_total])[0], 1)
            p_thr = fcfg.p_threshold if fcfg.p_threshold is not None else 0.01 / m_used
            prev = list(st.qtn)
            prev_nl = {}
            if prev:
                tests = _qtn_tests(w, y, st.qtn_geno)
                prev_nl = {g: t[2] for g, t in zip(prev, tests, strict=True)}
                # pseudo-QTNs compete in their bins with their own p-values
                info = st.qtn_info
                for g, nl in prev_nl.items():
                    if not np.isfinite(nl):
                        continue
                    row = info.loc[g]
                    for b in fcfg.bin_sizes:
                        key = (str(row["chrom"]), int(row["pos"]) // b)
                        cur = st.bins.setdefault(b, {}).get(key)
                        if cur is None or nl > cur[0]:
                            st.bins[b][key] = (nl, int(g))
            if it == 1 and st.min_nl10 < -np.log10(p_thr):
                st.done = True
                st.note = (
                    f"FarmCPU found no pseudo-QTN: no variant reached p < {p_thr:.3g} in the "
                    "first iteration, so these results are the fixed-effect model with "
                    "covariates only (identical to GLM)"
                )
                warnings.warn(f"trait {st.trait!r}: {st.note}", stacklevel=2)
                st.iterations.append({"iteration": it, "n_qtn": 0, "bin_size": None, "k": 0})
                continue
            chosen, info = select_pseudo_qtns(w, y, st.bins, fetch_for(st), fcfg)
            keep_prev = [g for g in prev if prev_nl.get(g, 0.0) >= -np.log10(fcfg.qtn_threshold)]
            cand = list(dict.fromkeys(chosen + keep_prev))
            new: list[int] = []
            if cand:
                geno = fetch_for(st)(cand)
                score = np.array(
                    [
                        prev_nl.get(g, np.nan)
                        if g in prev_nl
                        else max(v[0] for b in st.bins.values() for v in b.values() if v[1] == g)
                        for g in cand
                    ]
                )
                score = np.where(np.isfinite(score), score, 0.0)
                kept = _ld_prune(score, geno, fcfg.ld_r)
                # at most `bound` pseudo-QTNs in the model, the most significant first
                # (``kept`` is ordered by significance)
                new = sorted(cand[i] for i in kept[: _bound(len(y), fcfg)])
            st.iterations.append(
                {"iteration": it, "n_qtn": len(new), **{k: v for k, v in info.items()}}
            )
            if sorted(new) == sorted(prev):
                st.done = True  # converged
                continue
            # a cycle between two sets (FarmCPU's "circle" rule): stop with the new set
            circle = st.qtn_before is not None and sorted(new) == sorted(st.qtn_before)
            st.qtn_before = prev
            st.qtn = new
            if circle:
                st.done = True
            if new:
                v, d = src.extract(np.asarray(new))
                z, mean, _n = impute_center(d[st.rows])
                st.qtn_geno = z + mean
                st.qtn_info = v.assign(gidx=v.index).set_index("gidx")
            else:
                st.qtn_geno, st.qtn_info = None, None
                st.done = True
                st.note = (
                    "FarmCPU kept no pseudo-QTN (none stayed below the QTN threshold "
                    f"{fcfg.qtn_threshold:g}); these results are the fixed-effect model with "
                    "covariates only (identical to GLM)"
                )
                warnings.warn(f"trait {st.trait!r}: {st.note}", stacklevel=2)
        if it == fcfg.max_iter:
            for st in states.values():
                if not st.done:
                    st.note = f"FarmCPU stopped after {fcfg.max_iter} iterations without converging"

    # final pass with the converged pseudo-QTNs: write the summary statistics
    os.makedirs(out_dir, exist_ok=True)
    writers = {t: SumstatsWriter(trait_stem(out_dir, t, "farmcpu") + ".tsv.gz") for t in traits}
    final_sets = {t: build(st, perms=True) for t, st in states.items()}
    qtn_stats: dict[str, dict[int, tuple[float, float, float]]] = {}
    for t, st in states.items():
        if st.qtn:
            w = wall[st.rows]
            y = yall[st.rows, traits.index(t)]
            qtn_stats[t] = dict(zip(st.qtn, _qtn_tests(w, y, st.qtn_geno), strict=True))

    def on_final(t, v, af, nobs, r: AssocResult):
        qs = qtn_stats.get(t)
        if qs:
            gidx = v.index.to_numpy()
            for j in np.flatnonzero(np.isin(gidx, list(qs))):
                r.beta[j], r.se[j], r.nlog10p[j] = qs[int(gidx[j])]
        ok = np.isfinite(r.nlog10p)
        if ok.all():
            writers[t].write(v, r.beta, r.se, af, r.nlog10p, nobs)
        else:
            sel = np.flatnonzero(ok)
            writers[t].write(
                v.iloc[sel], r.beta[sel], r.se[sel], af[sel], r.nlog10p[sel], nobs[sel]
            )

    counts: dict[str, list[int]] = {}
    label = f"gwas farmcpu final scan ({plural(len(final_sets), 'trait')})"
    run_pass(src, lambda _c: list(final_sets.values()), on_final, cfg, counts=counts, label=label)
    out = []
    paths = dict(zip(writers, close_all(list(writers.values())), strict=True))
    for t, st in states.items():
        ts = final_sets[t]
        scan = TraitScan(
            trait=t,
            model="farmcpu",
            path=paths[t],
            n_samples=len(st.rows),
            n_tested=counts.get(t, [0, 0])[0],
            n_filtered=counts.get(t, [0, 0])[1],
            df=ts.n - ts.c - 1,
            perm_max_f=ts.perm_max_f[0].copy() if ts.perm_max_f is not None else None,
        )
        if st.note:
            scan.notes.append(st.note)
        qt = []
        if st.qtn:
            for g in st.qtn:
                row = st.qtn_info.loc[g]
                b, se, nl = qtn_stats[t][g]
                qt.append(
                    {
                        "trait": t,
                        "variant_id": row["id"],
                        "chromosome": row["chrom"],
                        "base_pair_location": int(row["pos"]),
                        "beta": b,
                        "standard_error": se,
                        "neg_log_10_p_value": nl,
                    }
                )
        scan.extra = {
            "pseudo_qtns": pd.DataFrame(
                qt,
                columns=[
                    "trait",
                    "variant_id",
                    "chromosome",
                    "base_pair_location",
                    "beta",
                    "standard_error",
                    "neg_log_10_p_value",
                ],
            ),
            "iterations": st.iterations,
            "n_pseudo_qtns": len(st.qtn),
        }
        out.append(scan)
    return out
