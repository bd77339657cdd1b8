"""XGBoost (the `xgboost-cpu` wheel). Missing values natively; categories as their codes.

Saved in XGBoost's own JSON format, and explained by XGBoost's exact TreeSHAP
(`pred_contribs`), which adds up to the margin: log-odds, or each class's raw score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from . import Estimator, Hyperparameter, parse_optional_int


class XGBoost(Estimator):
    name = "xgboost"
    preparation = "native"
    explanation = "tree"
    model_file = "model.xgboost.json"
    hyperparameters: ClassVar[dict[str, Hyperparameter]] = {
        "n_estimators": Hyperparameter(int, {"type": "integer", "min": 100, "max": 600}),
        "learning_rate": Hyperparameter(
            float, {"type": "continuous", "min": 0.02, "max": 0.3, "scaling": "Logarithmic"}
        ),
        "max_depth": Hyperparameter(parse_optional_int, {"type": "integer", "min": 3, "max": 10}),
        "min_child_weight": Hyperparameter(float, {"type": "continuous", "min": 1.0, "max": 20.0}),
        "subsample": Hyperparameter(float, {"type": "continuous", "min": 0.5, "max": 1.0}),
        "colsample_bytree": Hyperparameter(float),
        "reg_lambda": Hyperparameter(float),
        "reg_alpha": Hyperparameter(float),
        "random_state": Hyperparameter(int),
        "n_jobs": Hyperparameter(int),
    }

    def build(self, problem_type: str, params: dict[str, Any]) -> Any:
        import xgboost

        kind = xgboost.XGBRegressor if problem_type == "regression" else xgboost.XGBClassifier
        return kind(**{"tree_method": "hist", **params})

    def predict_proba(self, model: Any, X: np.ndarray) -> np.ndarray:
        # XGBoost answers in float32, whose rows miss 1 by up to 1e-7 (scikit-learn's metrics warn):
        # the binary complement and the multiclass rows are taken again in float64.
        proba = np.asarray(model.predict_proba(X), dtype=float)
        if proba.shape[1] == 2:
            return np.column_stack([1 - proba[:, 1], proba[:, 1]])
        return proba / proba.sum(axis=1, keepdims=True)

    def classes(self, model: Any) -> np.ndarray:
        return np.arange(int(model.n_classes_)) if hasattr(model, "n_classes_") else np.asarray(model.classes_)

    def save(self, model: Any, directory: Path) -> None:
        model.save_model(directory / self.model_file)

    def load(self, directory: Path) -> Any:
        import json

        import xgboost

        path = directory / self.model_file
        objective = json.loads(path.read_text("utf-8"))["learner"]["objective"]["name"]
        model = xgboost.XGBRegressor() if objective.startswith("reg:") else xgboost.XGBClassifier()
        model.load_model(path)
        return model

    def contributions(self, model: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import xgboost

        # float64 from here: XGBoost answers in float32, and sums of float32 depend on their order.
        raw = np.asarray(model.get_booster().predict(xgboost.DMatrix(X, missing=np.nan), pred_contribs=True), float)
        raw = raw[:, None, :] if raw.ndim == 2 else raw  # rows, outputs, columns + bias
        values = np.transpose(raw[:, :, :-1], (0, 2, 1))
        return values, raw[0, :, -1]


ESTIMATOR = XGBoost()
