"""Fit, predict and evaluate on DataFrames: the pure core of the algorithm component.

The model is scikit-learn's HistGradientBoosting, which handles missing values natively.
Categorical features arrive as ordinal codes (most frequent category first) and are split
as numbers: shap's TreeSHAP mis-reads HistGradientBoosting's native categorical splits, and
explanations must add up exactly to the model's output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

from ...data_schema import DataSchema

MODEL_FILE = "model.joblib"
SCHEMA_FILE = "schema.json"
EVALUATION_FILE = "evaluation.json"


def _bool(text: str) -> bool | str:
    lowered = text.strip().lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    if lowered == "auto":
        return "auto"
    raise ValueError("expected true, false or auto")


def _optional_int(text: str) -> int | None:
    return None if text.strip().lower() in {"none", "null", ""} else int(text)


HYPERPARAMETERS: dict[str, Any] = {
    "learning_rate": float,
    "max_iter": int,
    "max_leaf_nodes": _optional_int,
    "max_depth": _optional_int,
    "min_samples_leaf": int,
    "l2_regularization": float,
    "max_bins": int,
    "early_stopping": _bool,
    "validation_fraction": float,
    "n_iter_no_change": int,
    "random_state": int,
}


def parse_hyperparameters(raw: dict[str, str]) -> dict[str, Any]:
    """Turn SageMaker's string hyperparameters into typed estimator arguments.

    Keys SageMaker adds itself (`sagemaker_*`, `_tuning_objective_metric`) are ignored.
    """
    parsed: dict[str, Any] = {}
    errors = []
    for key, value in raw.items():
        if key.startswith(("sagemaker_", "_")):
            continue
        if key not in HYPERPARAMETERS:
            errors.append(f"unknown hyperparameter '{key}' (known: {', '.join(sorted(HYPERPARAMETERS))})")
            continue
        try:
            parsed[key] = HYPERPARAMETERS[key](value)
        except ValueError as exc:
            errors.append(f"hyperparameter '{key}'={value!r} is invalid: {exc}")
    if errors:
        raise ValueError("; ".join(errors))
    return parsed


@dataclass
class TrainedModel:
    """The estimator together with the schema that gives its inputs and outputs meaning."""

    estimator: HistGradientBoostingClassifier | HistGradientBoostingRegressor
    schema: DataSchema

    @property
    def is_classifier(self) -> bool:
        return self.schema.classes is not None

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.estimator, directory / MODEL_FILE)
        self.schema.save(directory / SCHEMA_FILE)

    @classmethod
    def load(cls, directory: Path) -> TrainedModel:
        missing = [name for name in (MODEL_FILE, SCHEMA_FILE) if not (directory / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{missing} not found in model directory {directory}")
        return cls(joblib.load(directory / MODEL_FILE), DataSchema.load(directory / SCHEMA_FILE))


def split_target(matrix: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Processed training data holds the target first, then the features."""
    return matrix.iloc[:, 1:], matrix.iloc[:, 0].to_numpy()


def fit(train: pd.DataFrame, schema: DataSchema, hyperparameters: dict[str, str]) -> TrainedModel:
    """Fit on processed training data (target first, then features in schema order)."""
    X, y = split_target(train)
    if X.shape[1] != len(schema.features):
        raise ValueError(
            f"Training data has {X.shape[1]} feature columns but schema.json lists "
            f"{len(schema.features)}; train and artifacts must come from the same processing run."
        )
    params = {"categorical_features": None, **parse_hyperparameters(hyperparameters)}
    if schema.classes is None:
        estimator = HistGradientBoostingRegressor(**params)
    else:
        present = np.unique(y)
        if len(present) < 2:
            raise ValueError(f"Training data holds a single class ({schema.classes[int(present[0])]}).")
        estimator = HistGradientBoostingClassifier(**params)
    estimator.fit(X.to_numpy(dtype="float64"), y)
    return TrainedModel(estimator, schema)


def predict_proba(model: TrainedModel, X: np.ndarray) -> np.ndarray:
    """Class probabilities with one column per schema class, even if training lacked one."""
    proba = model.estimator.predict_proba(X)
    full = np.zeros((len(X), len(model.schema.classes or [])))
    full[:, model.estimator.classes_.astype(int)] = proba
    return full


def predict(model: TrainedModel, X: np.ndarray) -> pd.DataFrame:
    """Predictions in the output format of serve mode.

    Classification: `label` and `probability` (of the positive class for binary, of the
    predicted class for multiclass). Regression: `prediction`.
    """
    if not model.is_classifier:
        return pd.DataFrame({"prediction": model.estimator.predict(X)})
    classes = np.asarray(model.schema.classes)
    proba = predict_proba(model, X)
    best = proba.argmax(axis=1)
    probability = proba[:, 1] if len(classes) == 2 else proba[np.arange(len(X)), best]
    return pd.DataFrame({"label": classes[best], "probability": probability})


def evaluate(model: TrainedModel, validation: pd.DataFrame) -> dict[str, float]:
    """Validation metrics. The first one is the objective metric tuning optimises."""
    X, y = split_target(validation)
    X = X.to_numpy(dtype="float64")
    if not model.is_classifier:
        predicted = model.estimator.predict(X)
        return {
            "rmse": float(root_mean_squared_error(y, predicted)),
            "mae": float(mean_absolute_error(y, predicted)),
            "r2": float(r2_score(y, predicted)) if len(y) > 1 else float("nan"),
        }
    y = y.astype(int)
    proba = predict_proba(model, X)
    predicted = proba.argmax(axis=1)
    n_classes = proba.shape[1]
    metrics = {}
    if len(np.unique(y)) == n_classes:
        if n_classes == 2:
            metrics["auc"] = float(roc_auc_score(y, proba[:, 1]))
        else:
            metrics["auc"] = float(roc_auc_score(y, proba, multi_class="ovr", average="macro"))
    metrics["accuracy"] = float(accuracy_score(y, predicted))
    metrics["f1"] = float(f1_score(y, predicted, average="binary" if n_classes == 2 else "macro"))
    metrics["log_loss"] = float(log_loss(y, np.clip(proba, 1e-15, 1), labels=list(range(n_classes))))
    return metrics


def write_evaluation(directory: Path, metrics: dict[str, float], model: TrainedModel) -> None:
    evaluation = {
        "problem_type": model.schema.problem_type,
        "metrics": {name: {"value": value} for name, value in metrics.items()},
        "n_iter": int(getattr(model.estimator, "n_iter_", 0)),
        "data_warnings": model.schema.warnings,
    }
    (directory / EVALUATION_FILE).write_text(json.dumps(evaluation, indent=2) + "\n", "utf-8")


QUALITY_CONSTRAINTS_FILE = "quality_constraints.json"
CALIBRATION_FILE = "calibration.json"


def validation_outcomes(model: TrainedModel, validation: pd.DataFrame) -> tuple[Any, np.ndarray | None]:
    """The validation rows as model-quality outcomes, and the class probabilities (None for regression)."""
    from ...model_metrics import Outcomes

    X, y = split_target(validation)
    X = X.to_numpy(dtype="float64")
    problem = model.schema.problem_type
    if not model.is_classifier:
        return Outcomes(problem, y.astype(float), model.estimator.predict(X)), None
    proba = predict_proba(model, X)
    predicted = proba.argmax(axis=1)
    score = proba[:, 1] if problem == "binary_classification" else None
    return Outcomes(problem, y.astype(int), predicted, score, list(model.schema.classes)), proba


def write_quality_baseline(directory: Path, model: TrainedModel, validation: pd.DataFrame, tolerance: float) -> dict:
    """What model-quality monitoring needs from training, beside the model: constraints and calibration.

    quality_constraints.json holds Model Monitor's model-quality constraints, derived from the
    validation metrics; calibration.json the calibration map and check that gate the estimate
    an inference run writes before labels arrive.
    """
    from ...calibration import calibration_record
    from ...model_metrics import derive_constraints, metric_values

    outcomes, proba = validation_outcomes(model, validation)
    values = metric_values(outcomes)
    constraints = derive_constraints(outcomes.problem_type, values, tolerance)
    # The probability calibrated: the positive class's (binary), the predicted class's (multiclass).
    confidence = None if proba is None else outcomes.score if outcomes.score is not None else proba.max(axis=1)
    calibration = calibration_record(outcomes.problem_type, outcomes.truth, outcomes.predicted, confidence)
    (directory / QUALITY_CONSTRAINTS_FILE).write_text(json.dumps(constraints, indent=2) + "\n", "utf-8")
    (directory / CALIBRATION_FILE).write_text(json.dumps(calibration) + "\n", "utf-8")
    return {"validation": values, "constraints": constraints, "calibration": calibration}
