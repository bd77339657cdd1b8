"""SHAP values on arrays: the pure core of the explainability component.

Path-dependent TreeSHAP (no background data) is exact for tree models and needs no sample
of training data at serve time. Each processed column is one original feature, so
attributions are reported per original feature name.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # scikit-learn loads with the model itself; merge mode never needs it
    from ..algorithm.model import TrainedModel

METHOD = "TreeSHAP (exact, path-dependent), written in Clarify's kernel_shap layout"


@dataclass
class Explanation:
    """Attributions for a block of rows: values[row, feature] per explained output."""

    values: dict[str, np.ndarray]
    expected_values: dict[str, float]
    feature_names: list[str]


def tree_explainer(model: TrainedModel) -> Any:
    """A TreeExplainer without background data: exact and independent of any data sample."""
    import shap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return shap.TreeExplainer(model.estimator, feature_perturbation="tree_path_dependent")


def output_labels(model: TrainedModel) -> list[str]:
    """What is explained: the target (regression), the positive class (binary), each class."""
    classes = model.schema.classes
    if classes is None:
        return [model.schema.target]
    if len(classes) == 2:
        return [classes[1]]
    return [classes[int(i)] for i in model.estimator.classes_]


def explain(model: TrainedModel, X: np.ndarray, explainer: Any | None = None) -> Explanation:
    """Exact SHAP values for every row, per explained output (log-odds for classifiers)."""
    explainer = explainer or tree_explainer(model)
    raw = np.asarray(explainer.shap_values(X, check_additivity=True))
    expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    labels = output_labels(model)
    if raw.ndim == 2:
        values = {labels[0]: raw}
        expected_values = {labels[0]: float(expected[-1])}
    else:
        values = {label: raw[:, :, i] for i, label in enumerate(labels)}
        expected_values = {label: float(expected[i]) for i, label in enumerate(labels)}
    return Explanation(values, expected_values, model.schema.feature_names)


def global_importance(explanation: Explanation) -> dict[str, dict[str, float]]:
    """Mean absolute SHAP value per feature and output, as Clarify reports globally."""
    return {
        label: {name: float(v) for name, v in zip(explanation.feature_names, np.abs(values).mean(axis=0), strict=True)}
        for label, values in explanation.values.items()
    }


def analysis_json(importance: dict[str, dict[str, float]], expected: dict[str, float], n_rows: int) -> dict[str, Any]:
    """analysis.json in Clarify's `explanations.kernel_shap.<label>.global_shap_values` shape."""
    return {
        "version": "1.0",
        "explanations": {
            "kernel_shap": {
                label: {
                    "global_shap_values": dict(sorted(values.items(), key=lambda kv: -kv[1])),
                    "expected_value": expected[label],
                    "method": METHOD,
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
    stacked = np.stack([explanation.values[label] for label in labels], axis=2)
    predicted = model.estimator.predict(X).astype(int)
    class_index = np.asarray(model.estimator.classes_).astype(int)
    position = np.searchsorted(class_index, predicted)
    frame = pd.DataFrame(stacked[np.arange(len(X)), :, position], columns=explanation.feature_names)
    frame.insert(0, "explained_label", np.asarray(model.schema.classes)[predicted])
    return frame
