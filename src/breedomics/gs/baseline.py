"""Machine-learning baselines from scikit-learn.

Random forests (Breiman 2001, *Mach Learn* 45:5; used for genomic prediction
by Gonzalez-Recio & Forni 2011, *Genet Sel Evol* 43:7) and gradient-boosted
trees (Friedman 2001, *Ann Stat* 29:1189) fitted on the marker dosages plus
the fixed covariates. They give a non-parametric reference point for the
mixed-model and Bayesian regressions in cross-validation.
"""

from __future__ import annotations

import numpy as np

from breedomics.core.linalg import single_thread
from breedomics.gs.data import Genotypes
from breedomics.gs.models import Capabilities, GSModel

__all__ = ["SklearnBaseline"]


class SklearnBaseline(GSModel):
    """Random forest (``kind="rf"``) or histogram gradient boosting (``"gbm"``).

    Parameters
    ----------
    kind : {"rf", "gbm"}
    n_estimators : int
        Trees (RF) or boosting iterations (GBM).
    max_features : float
        Share of markers tried per split (RF), 1/3 as usual for regression
        forests (Liaw & Wiener 2002).
    seed : int
    n_jobs : int
    """

    capabilities = Capabilities(marker_effects=True, includes_fixed=True)

    def __init__(
        self,
        kind: str = "rf",
        n_estimators: int = 500,
        max_features: float = 1 / 3,
        seed: int = 1,
        n_jobs: int = 2,
    ):
        if kind not in ("rf", "gbm"):
            raise ValueError(f"unknown baseline {kind!r}")
        self.kind = kind
        self.name = "RandomForest" if kind == "rf" else "GradientBoosting"
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.seed = seed
        self.n_jobs = n_jobs

    def _features(self, idx: np.ndarray, X: np.ndarray | None) -> np.ndarray:
        Z = self.geno.Z[np.asarray(idx)]
        if X is None or X.shape[1] <= 1:
            return Z
        return np.hstack([Z, X[:, 1:].astype(np.float32)])

    def _fit(self, geno: Genotypes, train, y, X, targets) -> None:
        """Trees on the dosages and the covariates ``X`` (intercept column first)."""
        with single_thread(all_apis=True):  # OpenMP threads only add contention
            self._grow(train, y, X)

    def _grow(self, train, y, X):
        from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

        self._xmean = None if X.shape[1] <= 1 else X[:, 1:].mean(axis=0)
        F = self._features(train, X)
        if self.kind == "rf":
            self.model = RandomForestRegressor(
                n_estimators=self.n_estimators,
                max_features=self.max_features,
                min_samples_leaf=5,
                n_jobs=self.n_jobs,
                random_state=self.seed,
            )
        else:
            self.model = HistGradientBoostingRegressor(
                max_iter=self.n_estimators,
                learning_rate=0.05,
                max_leaf_nodes=15,
                l2_regularization=1.0,
                random_state=self.seed,
            )
        self.model.fit(F, y)
        self.mean = float(np.mean(y))
        self.beta = np.array([self.mean])

    def predict_phenotype(self, idx: np.ndarray, X: np.ndarray | None = None) -> np.ndarray:
        """Predicted phenotypes of samples ``idx`` (with their covariates ``X``)."""
        with single_thread(all_apis=True):
            return self.model.predict(self._features(idx, X))

    def predict(self, idx: np.ndarray) -> np.ndarray:
        """Genetic value: prediction at the training-mean covariates, minus the training mean.

        Trees cannot separate covariate and marker effects, so the covariates
        are held at their training means.
        """
        idx = np.asarray(idx)
        Xref = None
        if self._xmean is not None:
            Xref = np.column_stack([np.ones(idx.size), np.tile(self._xmean, (idx.size, 1))])
        return self.predict_phenotype(idx, Xref) - self.mean

    def marker_effects(self):
        imp = getattr(self.model, "feature_importances_", None)
        if imp is None:
            return None
        import pandas as pd

        return pd.DataFrame({"marker": self.geno.markers, "importance": imp[: self.geno.p]})
