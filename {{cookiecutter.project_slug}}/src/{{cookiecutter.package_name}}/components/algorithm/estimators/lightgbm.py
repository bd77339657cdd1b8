"""LightGBM. Missing values natively; categories as their codes.

Saved in LightGBM's own text format, and explained by LightGBM's exact TreeSHAP
(`pred_contrib`), which adds up to the raw score: log-odds, or each class's raw score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from . import Estimator, Hyperparameter


class Booster:
    """A loaded LightGBM booster and its class count: what `LightGBM` reads in place of a fitted LGBMModel."""

    def __init__(self, booster: Any, n_classes: int) -> None:
        self.booster, self.n_classes = booster, n_classes


class LightGBM(Estimator):
    name = "lightgbm"
    preparation = "native"
    explanation = "tree"
    model_file = "model.lightgbm.txt"
    hyperparameters: ClassVar[dict[str, Hyperparameter]] = {
        "n_estimators": Hyperparameter(int, {"type": "integer", "min": 100, "max": 600}),
        "learning_rate": Hyperparameter(
            float, {"type": "continuous", "min": 0.02, "max": 0.3, "scaling": "Logarithmic"}
        ),
        "num_leaves": Hyperparameter(int, {"type": "integer", "min": 8, "max": 128}),
        "min_child_samples": Hyperparameter(int, {"type": "integer", "min": 5, "max": 60}),
        "subsample": Hyperparameter(float),
        "colsample_bytree": Hyperparameter(float),
        "reg_lambda": Hyperparameter(float),
        "random_state": Hyperparameter(int),
        "n_jobs": Hyperparameter(int),
    }

    def build(self, problem_type: str, params: dict[str, Any]) -> Any:
        import lightgbm

        kind = lightgbm.LGBMRegressor if problem_type == "regression" else lightgbm.LGBMClassifier
        return kind(**{"verbose": -1, **params})

    def _booster(self, model: Any) -> Any:
        return model.booster if isinstance(model, Booster) else model.booster_

    def predict(self, model: Any, X: np.ndarray) -> np.ndarray:
        return np.asarray(self._booster(model).predict(X), dtype=float)

    def predict_proba(self, model: Any, X: np.ndarray) -> np.ndarray:
        proba = np.asarray(self._booster(model).predict(X), dtype=float)
        return np.column_stack([1 - proba, proba]) if proba.ndim == 1 else proba

    def classes(self, model: Any) -> np.ndarray:
        n_classes = model.n_classes if isinstance(model, Booster) else int(model.n_classes_)
        return np.arange(n_classes)

    def save(self, model: Any, directory: Path) -> None:
        self._booster(model).save_model(str(directory / self.model_file))

    def load(self, directory: Path) -> Any:
        import lightgbm

        booster = lightgbm.Booster(model_file=str(directory / self.model_file))
        objective = str(booster.params.get("objective", ""))
        n_classes = int(booster.params.get("num_class", 1))
        return Booster(booster, 0 if objective.startswith("regression") else max(2, n_classes))

    def contributions(self, model: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raw = np.asarray(self._booster(model).predict(X, pred_contrib=True), dtype=float)
        outputs = raw.shape[1] // (X.shape[1] + 1)
        raw = raw.reshape(len(X), outputs, X.shape[1] + 1)  # rows, outputs, columns + bias
        return np.transpose(raw[:, :, :-1], (0, 2, 1)), raw[0, :, -1]


ESTIMATOR = LightGBM()
