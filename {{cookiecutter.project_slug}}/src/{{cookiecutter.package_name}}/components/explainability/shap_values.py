"""SHAP values on arrays: the pure core of the explainability component.

How a model is explained is its estimator's choice (algorithm/estimators):
- "tree": exact TreeSHAP, path-dependent (no background data): shap's TreeExplainer, or the
  library's own exact contributions where it has them (XGBoost, LightGBM);
- "linear": exact linear SHAP, each prepared column's coefficient times its distance from the
  training mean;
- "model_agnostic": permutation SHAP over a sample of training rows, sampled, so its additivity
  residual is measured and written down.

Every explanation says what it adds up to (`Explanation.outputs`): the log-odds (binary) or raw
score (multiclass) of a named class, a class's probability, or the prediction. Attributions are
reported per original feature: one-hot columns are summed back to the feature they came from.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..algorithm.estimators import Estimator

if TYPE_CHECKING:  # scikit-learn loads with the model itself; merge mode never needs it
    from ..algorithm.model import TrainedModel

METHODS = {
    "tree": "TreeSHAP (exact, path-dependent)",
    "contributions": "TreeSHAP (exact, path-dependent; the {name} library's own contributions)",
    "linear": "linear SHAP (exact, features independent, measured from the training means)",
    "model_agnostic": "permutation SHAP (model-agnostic, sampled: {permutations} permutations, {rows} training rows)",
}
# Permutations a model-agnostic explanation samples per row: each costs 2 x features + 1 model calls
# on the background rows. Additivity holds exactly whatever the number; the attributions' noise falls with it.
PERMUTATIONS = 10
LAYOUT = "written in Clarify's kernel_shap layout"


@dataclass
class Explanation:
    """Attributions for a block of rows: values[row, feature] per explained output.

    `outputs` names, per label, what its values add up to with its expected value;
    `additivity_error` is the largest gap between that sum and the model's output (0 for exact methods).
    """

    values: dict[str, np.ndarray]
    expected_values: dict[str, float]
    feature_names: list[str]
    outputs: dict[str, str]
    method: str
    additivity_error: float = 0.0


def output_labels(model: TrainedModel) -> list[str]:
    """What is explained: the target (regression), the positive class (binary), each class the model knows."""
    classes = model.schema.classes
    if classes is None:
        return [model.schema.target]
    if len(classes) == 2:
        return [classes[1]]
    return [classes[int(i)] for i in model.estimator.classes(model.fitted)]


def output_names(model: TrainedModel) -> dict[str, str]:
    """Per explained label, the quantity its attributions add up to, in words."""
    kind = model.estimator.explained_output(model.schema.problem_type)
    labels = output_labels(model)
    if kind == "value":
        return {labels[0]: f"the predicted {model.schema.target}"}
    if kind == "probability":
        return {label: f"the probability of {label!r}" for label in labels}
    if len(labels) == 1:
        return {labels[0]: f"the log-odds of {labels[0]!r}"}
    return {label: f"the raw score (softmax logit) of {label!r}" for label in labels}


class Explainer:
    """Explains blocks of encoded rows of one model, the way its estimator says."""

    def __init__(self, model: TrainedModel) -> None:
        self.model = model
        self.kind = model.estimator.explanation
        self.labels = output_labels(model)
        self.outputs = output_names(model)
        self._shap: Any = None
        name = model.estimator.name
        own = type(model.estimator).contributions is not Estimator.contributions
        if self.kind == "tree" and own:
            self.method = METHODS["contributions"].format(name=name)
            self.kind = "contributions"
        elif self.kind == "tree":
            import shap

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._shap = shap.TreeExplainer(model.fitted, feature_perturbation="tree_path_dependent")
            self.method = METHODS["tree"]
        elif self.kind == "linear":
            self.method = METHODS["linear"]
        else:
            self.method = METHODS["model_agnostic"].format(permutations=PERMUTATIONS, rows=len(model.background))

    def explain(self, X: np.ndarray) -> Explanation:
        """Attributions per original feature and explained label, for encoded rows X."""
        if self.kind == "model_agnostic":
            values, expected, error = self._model_agnostic(X)
        else:
            values, expected = self._exact(self.model.prepared(X))
            values, error = self._per_feature(values), 0.0
        picked = self._outputs(values.shape[2])
        return Explanation(
            {label: values[:, :, i] for label, i in picked.items()},
            {label: float(expected[i]) for label, i in picked.items()},
            self.model.schema.feature_names,
            self.outputs,
            self.method,
            error,
        )

    def _exact(self, prepared: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(values[rows, prepared columns, outputs], expected[outputs]) of an exact method."""
        model = self.model
        if self.kind == "contributions":
            return model.estimator.contributions(model.fitted, prepared)
        if self.kind == "linear":
            coefficients, intercepts = model.estimator.linear_terms(model.fitted)
            centred = prepared - model.reference
            values = np.einsum("rc,oc->rco", centred, coefficients)
            return values, coefficients @ model.reference + intercepts
        raw = np.asarray(self._shap.shap_values(prepared, check_additivity=True))
        expected = np.atleast_1d(np.asarray(self._shap.expected_value, dtype=float))
        return (raw[:, :, None] if raw.ndim == 2 else raw), expected

    def _per_feature(self, values: np.ndarray) -> np.ndarray:
        """Prepared columns' attributions summed into the original features they came from."""
        features = self.model.column_features()
        if features == list(range(len(self.model.schema.features))):
            return values
        summed = np.zeros((values.shape[0], len(self.model.schema.features), values.shape[2]))
        for column, feature in enumerate(features):
            summed[:, feature, :] += values[:, column, :]
        return summed

    def _predict(self, X: np.ndarray) -> np.ndarray:
        """The model's outputs the model-agnostic method explains: [rows, outputs]."""
        model = self.model
        if not model.is_classifier:
            return model.values(X)[:, None]
        proba = model.probabilities(X)
        if len(model.schema.classes) == 2:
            return proba[:, [1]]
        return proba[:, model.estimator.classes(model.fitted)]

    def _model_agnostic(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        import shap

        background = self.model.background
        masker = shap.maskers.Independent(background, max_samples=len(background))
        explainer = shap.PermutationExplainer(self._predict, masker, seed=0)
        result = explainer(X, max_evals=PERMUTATIONS * (2 * X.shape[1] + 1), silent=True)
        values = np.asarray(result.values, dtype=float)
        values = values[:, :, None] if values.ndim == 2 else values
        expected = np.atleast_2d(np.asarray(result.base_values, dtype=float))
        expected = expected.T if expected.shape[0] == 1 and len(X) > 1 else expected
        error = float(np.max(np.abs(values.sum(axis=1) + expected - self._predict(X)))) if len(X) else 0.0
        return values, expected[0], error

    def _outputs(self, count: int) -> dict[str, int]:
        """Each explained label's position among the method's outputs (one output, or one per class)."""
        if count == 1:
            return {self.labels[0]: 0}
        known = [int(i) for i in self.model.estimator.classes(self.model.fitted)]
        classes = self.model.schema.classes or []
        if len(classes) == 2:
            return {classes[1]: known.index(1)}
        return {classes[index]: position for position, index in enumerate(known)}


def explain(model: TrainedModel, X: np.ndarray, explainer: Explainer | None = None) -> Explanation:
    """Attributions for every row of X (encoded), per explained output."""
    return (explainer or Explainer(model)).explain(X)


def global_importance(explanation: Explanation) -> dict[str, dict[str, float]]:
    """Mean absolute SHAP value per feature and output, as Clarify reports globally."""
    return {
        label: {name: float(v) for name, v in zip(explanation.feature_names, np.abs(values).mean(axis=0), strict=True)}
        for label, values in explanation.values.items()
    }


def analysis_json(
    importance: dict[str, dict[str, float]],
    expected: dict[str, float],
    n_rows: int,
    outputs: dict[str, str],
    method: str,
    additivity_error: float,
) -> dict[str, Any]:
    """analysis.json in Clarify's `explanations.kernel_shap.<label>.global_shap_values` shape.

    Each label also says what its values add up to (`explained_output`), by which method, and
    how far the sum was from the model's output at most (`additivity_error`: 0 for exact methods).
    """
    return {
        "version": "1.0",
        "explanations": {
            "kernel_shap": {
                label: {
                    "global_shap_values": dict(sorted(values.items(), key=lambda kv: -kv[1])),
                    "expected_value": expected[label],
                    "explained_output": outputs[label],
                    "method": f"{method}, {LAYOUT}",
                    "additivity_error": additivity_error,
                }
                for label, values in importance.items()
            }
        },
        "n_rows": n_rows,
    }


def per_row_columns(model: TrainedModel) -> list[str]:
    """The columns of `per_row_frame`: the features, after `explained_label` for multiclass."""
    multiclass = len(output_labels(model)) > 1
    return ["explained_label", *model.schema.feature_names] if multiclass else list(model.schema.feature_names)


def per_row_frame(model: TrainedModel, explanation: Explanation, X: np.ndarray) -> pd.DataFrame:
    """One row per input row: the SHAP values of the explained output, per original feature.

    For multiclass, each row explains its predicted class, named in `explained_label`.
    """
    labels = list(explanation.values)
    if len(labels) == 1:
        return pd.DataFrame(explanation.values[labels[0]], columns=explanation.feature_names)
    classes = np.asarray(model.schema.classes)
    predicted = classes[model.decide(model.probabilities(X))]
    stacked = np.stack([explanation.values[label] for label in labels], axis=2)
    position = np.asarray([labels.index(label) for label in predicted], dtype=int)
    frame = pd.DataFrame(stacked[np.arange(len(X)), :, position], columns=explanation.feature_names)
    frame.insert(0, "explained_label", predicted)
    return frame
