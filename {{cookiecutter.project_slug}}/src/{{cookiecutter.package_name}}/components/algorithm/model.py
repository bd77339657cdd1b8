"""Fit, predict and evaluate on DataFrames: the pure core of the algorithm component.

The model is whichever estimator `algorithm.estimator` names (estimators/: the contract and the
built-ins; HistGradientBoosting by default). A TrainedModel holds it with the schema that gives
its inputs and outputs meaning, and prepares every matrix the way its estimator wants
(processing.preprocess.prepare) before the estimator sees it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
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
from ..processing.preprocess import learn_preparation, prepare, prepared_columns
from . import decision as decisions
from . import estimators
from .estimators import DEFAULT, Estimator, resolve

SCHEMA_FILE = "schema.json"
EVALUATION_FILE = "evaluation.json"
ESTIMATOR_FILE = "estimator.json"  # which estimator, and what its explanations need from training
LEGACY_MODEL_FILE = "model.joblib"  # a model saved before the estimator contract (HistGradientBoosting)
BACKGROUND_ROWS = 100  # training rows kept for model-agnostic explanations


@dataclass
class TrainedModel:
    """The fitted model, its estimator (the contract it is used through) and the schema of its data.

    `reference` is each prepared column's mean on the training rows (what a linear explanation is
    measured from); `background` a sample of encoded training rows (what a model-agnostic one is).
    """

    estimator: Estimator
    fitted: Any
    schema: DataSchema
    estimator_name: str
    reference: np.ndarray
    background: np.ndarray
    # A binary model's decision (decision.py): its threshold, how it was set, its validation scores.
    decision: dict[str, Any] | None = None

    @property
    def is_classifier(self) -> bool:
        return self.schema.classes is not None

    @property
    def threshold(self) -> float | None:
        """The cut-off on the positive class's probability (binary), or None."""
        if self.schema.classes is None or len(self.schema.classes) != 2:
            return None
        return float((self.decision or decisions.DEFAULT)["threshold"])

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """The class index each row of probabilities is decided as: by the threshold (binary), else the likeliest."""
        threshold = self.threshold
        return proba.argmax(axis=1) if threshold is None else decisions.decide(proba[:, 1], threshold)

    def prepared(self, X: np.ndarray) -> np.ndarray:
        """Encoded rows (processing's output) as this model's estimator wants them."""
        return prepare(X, self.schema, self.estimator.preparation)

    def column_features(self) -> list[int]:
        """For each column the estimator sees, the index of the feature it comes from (one-hot columns share one)."""
        return [feature for _, feature in prepared_columns(self.schema, self.estimator.preparation)]

    def values(self, X: np.ndarray) -> np.ndarray:
        """A regressor's predictions for encoded rows."""
        return self.estimator.predict(self.fitted, self.prepared(X))

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities for encoded rows, one column per schema class, even if training lacked one."""
        proba = self.estimator.predict_proba(self.fitted, self.prepared(X))
        full = np.zeros((len(X), len(self.schema.classes or [])))
        full[:, self.estimator.classes(self.fitted)] = proba
        return full

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.estimator.save(self.fitted, directory)
        self.schema.save(directory / SCHEMA_FILE)
        record = {
            "estimator": self.estimator_name,
            "model_file": self.estimator.model_file,
            "preparation": self.estimator.preparation,
            "explanation": self.estimator.explanation,
            "reference": _json_numbers(self.reference),
            "background": _json_numbers(self.background),
            "decision": self.decision,
        }
        (directory / ESTIMATOR_FILE).write_text(json.dumps(record) + "\n", "utf-8")

    @classmethod
    def load(cls, directory: Path) -> TrainedModel:
        """The model in `directory`, loaded without running code from it (no pickle)."""
        if not (directory / ESTIMATOR_FILE).is_file() and (directory / LEGACY_MODEL_FILE).is_file():
            return cls._load_legacy(directory)
        missing = [name for name in (ESTIMATOR_FILE, SCHEMA_FILE) if not (directory / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{missing} not found in model directory {directory}")
        record = json.loads((directory / ESTIMATOR_FILE).read_text("utf-8"))
        estimator = resolve(record["estimator"])
        if not (directory / estimator.model_file).is_file():
            raise FileNotFoundError(f"{estimator.model_file} not found in model directory {directory}")
        background = np.asarray(record.get("background") or [], dtype="float64")
        return cls(
            estimator,
            estimator.load(directory),
            DataSchema.load(directory / SCHEMA_FILE),
            record["estimator"],
            np.asarray(record.get("reference") or [], dtype="float64"),
            background,
            record.get("decision"),
        )

    @classmethod
    def _load_legacy(cls, directory: Path) -> TrainedModel:
        """A model an earlier version of this project saved with joblib: HistGradientBoosting.

        joblib unpickles, so it runs code from the file: it is read only after the job checked the
        file against the manifest's digest (check_pinned), and only models registered before
        estimator.json existed are saved this way. Train again to leave it behind.
        """
        import joblib

        schema = DataSchema.load(directory / SCHEMA_FILE)
        fitted = joblib.load(directory / LEGACY_MODEL_FILE)
        return cls(resolve(DEFAULT), fitted, schema, DEFAULT, np.empty(0), np.empty((0, len(schema.features))))


def parse_hyperparameters(raw: dict[str, str], estimator_name: str = DEFAULT) -> dict[str, Any]:
    """The named estimator's typed hyperparameters from SageMaker's strings (estimators.parse_hyperparameters)."""
    return estimators.parse_hyperparameters(resolve(estimator_name), raw)


def split_target(matrix: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Processed training data holds the target first, then the features."""
    return matrix.iloc[:, 1:], matrix.iloc[:, 0].to_numpy()


def fit(
    train: pd.DataFrame, schema: DataSchema, hyperparameters: dict[str, str], estimator_name: str = DEFAULT
) -> TrainedModel:
    """Fit the named estimator on processed training data (target first, then features in schema order)."""
    X, y = split_target(train)
    if X.shape[1] != len(schema.features):
        raise ValueError(
            f"Training data has {X.shape[1]} feature columns but schema.json lists "
            f"{len(schema.features)}; train and artifacts must come from the same processing run."
        )
    estimator = resolve(estimator_name)
    params = estimators.parse_hyperparameters(estimator, hyperparameters)
    if schema.classes is not None:
        y = y.astype(int)
        present = np.unique(y)
        if len(present) < 2:
            raise ValueError(f"Training data holds a single class ({schema.classes[int(present[0])]}).")
    if estimator.preparation != "native" and any(f.kind == "numeric" and f.fill is None for f in schema.features):
        # Processing learns the preparation on the train split; a schema from elsewhere (an older
        # processing run, a notebook) gets it from the same rows here, and the model keeps it.
        schema = learn_preparation(train, DataSchema.from_dict(schema.to_dict()))
    encoded = X.to_numpy(dtype="float64")
    prepared = prepare(encoded, schema, estimator.preparation)
    fitted = estimator.fit(estimator.build(schema.problem_type, params), prepared, y)
    sample = np.random.default_rng(0).choice(len(encoded), min(BACKGROUND_ROWS, len(encoded)), replace=False)
    reference = np.nanmean(prepared, axis=0) if len(prepared) else np.empty(prepared.shape[1])
    return TrainedModel(estimator, fitted, schema, estimator_name, reference, encoded[np.sort(sample)])


def _json_numbers(values: np.ndarray) -> list:
    """An array as JSON lists, with NaN (a missing value) as null."""
    return np.where(np.isnan(values), None, values).tolist()


def predict_proba(model: TrainedModel, X: np.ndarray) -> np.ndarray:
    """Class probabilities with one column per schema class, even if training lacked one."""
    return model.probabilities(X)


def predict(model: TrainedModel, X: np.ndarray) -> pd.DataFrame:
    """Predictions in the output format of serve mode.

    Classification: `label` and `probability` (of the positive class for binary, of the
    predicted class for multiclass). Regression: `prediction`.
    """
    if not model.is_classifier:
        return pd.DataFrame({"prediction": model.values(X)})
    classes = np.asarray(model.schema.classes)
    proba = predict_proba(model, X)
    best = model.decide(proba)
    probability = proba[:, 1] if len(classes) == 2 else proba[np.arange(len(X)), best]
    return pd.DataFrame({"label": classes[best], "probability": probability})


def choose_decision(model: TrainedModel, validation: pd.DataFrame, settings: dict[str, Any] | None) -> None:
    """A binary model's threshold, as `algorithm.decision` asks, chosen on the validation rows."""
    if model.threshold is None:
        return
    X, y = split_target(validation)
    probability = model.probabilities(X.to_numpy(dtype="float64"))[:, 1]
    model.decision = decisions.choose(settings, y.astype(int), probability)


def evaluate(model: TrainedModel, validation: pd.DataFrame) -> dict[str, float]:
    """Validation metrics. The first one is the objective metric tuning optimises."""
    X, y = split_target(validation)
    X = X.to_numpy(dtype="float64")
    if not model.is_classifier:
        predicted = model.values(X)
        return {
            "rmse": float(root_mean_squared_error(y, predicted)),
            "mae": float(mean_absolute_error(y, predicted)),
            "r2": float(r2_score(y, predicted)) if len(y) > 1 else float("nan"),
        }
    y = y.astype(int)
    proba = predict_proba(model, X)
    predicted = model.decide(proba)
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
        "estimator": model.estimator_name,
        "n_iter": _iterations(model.fitted),
        "decision": model.decision,
        "data_warnings": model.schema.warnings,
    }
    (directory / EVALUATION_FILE).write_text(json.dumps(evaluation, indent=2) + "\n", "utf-8")


def _iterations(fitted: Any) -> int | None:
    """The boosting iterations or solver steps a model took, where it says (None where it does not)."""
    steps = getattr(fitted, "n_iter_", None)
    return None if steps is None else int(np.max(steps))


QUALITY_CONSTRAINTS_FILE = "quality_constraints.json"
CALIBRATION_FILE = "calibration.json"


def validation_outcomes(model: TrainedModel, validation: pd.DataFrame) -> tuple[Any, np.ndarray | None]:
    """The validation rows as model-quality outcomes, and the class probabilities (None for regression)."""
    from ...model_metrics import Outcomes

    X, y = split_target(validation)
    X = X.to_numpy(dtype="float64")
    problem = model.schema.problem_type
    if not model.is_classifier:
        return Outcomes(problem, y.astype(float), model.values(X)), None
    proba = predict_proba(model, X)
    predicted = model.decide(proba)
    score = proba[:, 1] if problem == "binary_classification" else None
    return Outcomes(problem, y.astype(int), predicted, score, list(model.schema.classes)), proba


def write_quality_baseline(directory: Path, model: TrainedModel, validation: pd.DataFrame, tolerance: float) -> dict:
    """What model-quality monitoring needs from training, beside the model: constraints and calibration.

    quality_constraints.json holds Model Monitor's model-quality constraints, derived from the
    validation metrics; calibration.json the calibration map and check that gate the estimate
    an inference run writes before labels arrive.
    """
    from ...calibration import calibration_record
    from ...model_metrics import best_constant, derive_constraints, metric_values

    outcomes, proba = validation_outcomes(model, validation)
    values = metric_values(outcomes)
    constraints = derive_constraints(outcomes.problem_type, values, tolerance, best_constant(outcomes))
    # The probability calibrated: the positive class's (binary), the predicted class's (multiclass).
    confidence = None if proba is None else outcomes.score if outcomes.score is not None else proba.max(axis=1)
    calibration = calibration_record(outcomes.problem_type, outcomes.truth, outcomes.predicted, confidence)
    (directory / QUALITY_CONSTRAINTS_FILE).write_text(json.dumps(constraints, indent=2) + "\n", "utf-8")
    (directory / CALIBRATION_FILE).write_text(json.dumps(calibration) + "\n", "utf-8")
    return {"validation": values, "constraints": constraints, "calibration": calibration}
