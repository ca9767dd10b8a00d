"""Registry of prediction models by their command-line names."""

from __future__ import annotations

from breedomics.errors import UserError

__all__ = ["SINGLE_TRAIT_MODELS", "MULTI_TRAIT_MODELS", "ALL_MODELS", "make_model", "parse_models"]

#: name -> description
SINGLE_TRAIT_MODELS = {
    "gblup": "GBLUP with REML (VanRaden 2008); rrBLUP marker effects back-solved",
    "rkhs": "RKHS, Gaussian kernel, bandwidth by inner CV (Gianola & van Kaam 2008)",
    "bayesb": "BayesB Gibbs sampler (Meuwissen et al. 2001)",
    "bayesc": "BayesC(pi) Gibbs sampler (Habier et al. 2011)",
    "rf": "scikit-learn random forest on marker dosages",
    "gbm": "scikit-learn histogram gradient boosting on marker dosages",
}
MULTI_TRAIT_MODELS = {
    "mtgblup": "multi-trait GBLUP, REML by AI (Gilmour et al. 1995), all traits jointly",
}
ALL_MODELS = {**SINGLE_TRAIT_MODELS, **MULTI_TRAIT_MODELS}


def parse_models(text: str) -> list[str]:
    """Split a comma-separated model list and check every name."""
    names = [m.strip().lower() for m in text.split(",") if m.strip()]
    if not names:
        raise UserError("--models is empty; choose from " + ", ".join(ALL_MODELS))
    for m in names:
        if m == "rrblup":
            continue
        if m not in ALL_MODELS:
            raise UserError(f"unknown model {m!r}; choose from {', '.join(ALL_MODELS)}")
    return ["gblup" if m == "rrblup" else m for m in dict.fromkeys(names)]


def make_model(name: str, options: dict | None = None, cache: dict | None = None):
    """Instantiate single-trait model ``name`` with ``options``.

    Options: ``seed``, ``single`` (float32 REML reduction), ``bandwidths``,
    ``inner_folds``, ``mcmc`` (dict of :class:`~breedomics.gs.bayes.McmcSettings`
    fields), ``trees``, ``n_jobs``.
    """
    o = dict(options or {})
    seed = int(o.get("seed", 1))
    if name == "gblup":
        from breedomics.gs.gblup import GBLUP

        return GBLUP(single=bool(o.get("single", False)), cache=cache)
    if name == "rkhs":
        from breedomics.gs.rkhs import DEFAULT_BANDWIDTHS, RKHS

        return RKHS(
            bandwidths=o.get("bandwidths") or DEFAULT_BANDWIDTHS,
            inner_folds=int(o.get("inner_folds", 5)),
            seed=seed,
            cache=cache,
            single=bool(o.get("single", False)),
        )
    if name in ("bayesb", "bayesc"):
        from breedomics.gs.bayes import BayesB, BayesC, McmcSettings

        mc = dict(o.get("mcmc") or {})
        mc.setdefault("seed", seed)
        settings = McmcSettings(**mc)
        return BayesB(settings) if name == "bayesb" else BayesC(settings)
    if name in ("rf", "gbm"):
        from breedomics.gs.baseline import SklearnBaseline

        return SklearnBaseline(
            kind=name,
            n_estimators=int(o.get("trees", 500)),
            seed=seed,
            n_jobs=int(o.get("n_jobs", 2)),
        )
    raise UserError(f"model {name!r} is not a single-trait model")
