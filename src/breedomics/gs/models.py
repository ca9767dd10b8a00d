"""The prediction models' protocol and their registry by command-line name.

Every model is a :class:`GSModel`: it is fitted on training samples (indices
into a :class:`~breedomics.gs.data.Genotypes` panel) with their phenotypes and
fixed-effect design, and predicts genetic values of any genotyped sample. What
else a model can give is declared by its :class:`Capabilities`, so that the
shared fitting code (:func:`breedomics.gs.predict.fit_predict`, used by ``gs
cv`` and ``gs predict``) asks the type instead of probing attributes:

``reliability``
    :meth:`GSModel.reliability` gives prediction-error variances and
    reliabilities (GBLUP and RKHS: Henderson's PEV; BayesB/C: posterior
    variances of the samples tracked during the chain).
``tracks_targets``
    Reliabilities need the samples to predict at fit time (MCMC).
``marker_effects``
    :meth:`GSModel.marker_effects` gives a per-marker table (rrBLUP effects,
    Bayesian posterior means, tree importances).
``includes_fixed``
    The model fits covariates and markers jointly (trees), so phenotype
    predictions need the covariates of the predicted samples
    (:meth:`GSModel.predict_phenotype`) and :meth:`GSModel.predict` returns
    genetic values at the training-mean covariates.
``multi_trait``
    Fitted to all traits at once: ``y`` is ``(n, t)`` and predictions are
    ``(m, t)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from breedomics.errors import UserError

__all__ = [
    "Capabilities",
    "GSModel",
    "SINGLE_TRAIT_MODELS",
    "MULTI_TRAIT_MODELS",
    "ALL_MODELS",
    "LAYER_PREFIX",
    "make_model",
    "parse_models",
]


@dataclass(frozen=True)
class Capabilities:
    """What a model gives besides genetic values (see the module notes)."""

    reliability: bool = False
    tracks_targets: bool = False
    marker_effects: bool = False
    includes_fixed: bool = False
    multi_trait: bool = False


class GSModel:
    """Base of the genomic prediction models.

    Subclasses set :attr:`name` and :attr:`capabilities` and implement
    :meth:`fit` and :meth:`predict`; the other methods have the answers of a
    model without the capability.

    Attributes (after :meth:`fit`)
    ------------------------------
    beta : numpy.ndarray
        Fixed effects (``(q,)``; ``(q, t)`` for multi-trait models); a model
        that estimates only a mean has one value.
    se_beta : numpy.ndarray or None
        Their standard errors, if the model gives them.
    """

    name: str = "model"
    capabilities: ClassVar[Capabilities] = Capabilities()
    beta: np.ndarray
    se_beta: np.ndarray | None = None

    def fit(
        self,
        geno,
        train: np.ndarray,
        y: np.ndarray,
        X: np.ndarray | None = None,
        targets: np.ndarray | None = None,
    ) -> GSModel:
        """Fit on samples ``train`` (indices into ``geno``); returns the model.

        Parameters
        ----------
        geno : Genotypes
        train : array of int
        y : numpy.ndarray
            Phenotypes of ``train`` (``(n,)``, or ``(n, t)`` with NaN for
            missing records of a multi-trait model).
        X : numpy.ndarray, optional
            Fixed-effect design of ``train``, intercept first (default
            intercept only).
        targets : array of int, optional
            Samples whose reliabilities will be asked for (used by models
            that ``tracks_targets``).
        """
        train = np.asarray(train)
        y = np.asarray(y, dtype=np.float64)
        X = np.ones((len(train), 1)) if X is None else np.asarray(X, dtype=np.float64)
        self.geno, self.train = geno, train
        self._fit(geno, train, y, X, None if targets is None else np.asarray(targets))
        return self

    def _fit(self, geno, train: np.ndarray, y: np.ndarray, X: np.ndarray, targets) -> None:
        """The model's own fitting, on checked arrays (see :meth:`fit`)."""
        raise NotImplementedError

    def predict(self, idx: np.ndarray) -> np.ndarray:
        """Genetic values (GEBVs, without fixed effects) of samples ``idx``."""
        raise NotImplementedError

    def predict_phenotype(self, idx: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Predicted phenotypes ``X b + g`` of samples ``idx`` with design rows ``X``."""
        return X @ self.beta + self.predict(idx)

    def reliability(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(PEV, reliability) of the genetic values of ``idx`` (NaN without the capability)."""
        nan = np.full(len(idx), np.nan)
        return nan, nan.copy()

    def marker_effects(self) -> pd.DataFrame | None:
        """Per-marker table, or None."""
        return None

    def varcomp_rows(self, trait: str) -> list[dict]:
        """Rows ``model, trait, component, estimate, se`` of the variance-component table."""
        return []

    def fixed_effects(self, q: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``q`` fixed effects and their SEs, NaN where the model has none."""
        b = np.atleast_1d(np.asarray(self.beta, dtype=float))
        est = np.full(q, np.nan)
        est[: min(q, b.size)] = b[:q]
        se = np.full(q, np.nan)
        if self.se_beta is not None:
            s = np.atleast_1d(np.asarray(self.se_beta, dtype=float))
            se[: min(q, s.size)] = s[:q]
        return est, se


#: name -> description
SINGLE_TRAIT_MODELS = {
    "gblup": "GBLUP with REML (VanRaden 2008); rrBLUP marker effects back-solved",
    "rkhs": "RKHS, Gaussian kernel, bandwidth by inner CV (Gianola & van Kaam 2008)",
    "bayesb": "BayesB Gibbs sampler (Meuwissen et al. 2001)",
    "bayesc": "BayesC(pi) Gibbs sampler (Habier et al. 2011)",
    "rf": "scikit-learn random forest on marker dosages",
    "gbm": "scikit-learn histogram gradient boosting on marker dosages",
    "mkgblup": "GBLUP plus the --kernels (e.g. transcriptome), REML by average information",
}
#: ``layer:<name>``: the --kernels table named ``<name>`` alone, without the GRM
#: (how much of a trait one omics layer predicts by itself; model label K-BLUP:<name>).
LAYER_PREFIX = "layer:"
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
        if m == "rrblup" or (m.startswith(LAYER_PREFIX) and len(m) > len(LAYER_PREFIX)):
            continue
        if m not in ALL_MODELS:
            raise UserError(
                f"unknown model {m!r}; choose from {', '.join(ALL_MODELS)}, "
                f"or {LAYER_PREFIX}<kernel name> (one --kernels table alone)"
            )
    return ["gblup" if m == "rrblup" else m for m in dict.fromkeys(names)]


def make_model(
    name: str, options: dict | None = None, cache: dict | None = None, traits=None
) -> GSModel:
    """Instantiate model ``name`` with ``options``.

    Options: ``seed``, ``single`` (float32 REML reduction), ``bandwidths``,
    ``inner_folds``, ``mcmc`` (dict of :class:`~breedomics.gs.bayes.McmcSettings`
    fields), ``trees``, ``n_jobs``, ``kernels`` (named kernels of all genotyped
    samples, :func:`breedomics.gs.mkgblup.read_kernels`). ``traits`` names the
    traits of a multi-trait model.
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
    if name == "mkgblup":
        from breedomics.gs.mkgblup import MultiKernelGBLUP

        if not o.get("kernels"):
            raise UserError("model mkgblup needs --kernels (kernel tables besides the GRM)")
        return MultiKernelGBLUP(o["kernels"])
    if name.startswith(LAYER_PREFIX):
        from breedomics.gs.mkgblup import MultiKernelGBLUP

        layer = name[len(LAYER_PREFIX) :]
        named = [k for k in o.get("kernels") or [] if k[0].lower() == layer]
        if not named:
            given = ", ".join(n for n, _ in o.get("kernels") or []) or "none"
            raise UserError(
                f"model {name!r} names no --kernels table (given: {given}); the name is the "
                "kernel file's name before its first dot"
            )
        return MultiKernelGBLUP(named, with_grm=False)
    if name == "mtgblup":
        from breedomics.gs.mtgblup import MultiTraitGBLUP

        return MultiTraitGBLUP(traits)
    raise UserError(f"unknown model {name!r}; choose from {', '.join(ALL_MODELS)}")
