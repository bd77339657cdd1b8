"""A classifier's performance estimated before its labels arrive, from its own probabilities.

If the probabilities are calibrated, a row scored p is positive with probability p, so the
confusion matrix a batch will show once it is labelled has an expected value already:
expected true positives are the sum of p over rows predicted positive, expected false
positives the sum of 1 - p over them, and so on (confidence-based performance estimation, as
NannyML's CBPE). The estimate holds under covariate shift (the inputs move, the relation from
inputs to label stays) and cannot see concept drift, which only labels reveal. It is only as
good as the calibration, so training fits a calibration map on validation data (isotonic,
from the model's probability to the rate observed), checks it by cross-fitting (the expected
calibration error of each half's probabilities under the map fitted on the other half, less
the error that calibrated probabilities show by chance on that many rows), and records both;
an inference run estimates from the mapped probabilities, and only for a model whose check
passed.

Regression gets no estimate: a predicted value carries no statement of its own error, so
nothing sound can be estimated without labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...calibration import calibrate

METHOD = "CBPE: the expected confusion matrix under the model's calibrated probabilities"


def expected_auc(probability: np.ndarray) -> float:
    """The ROC AUC expected when each row is positive with its probability."""
    order = np.argsort(-probability, kind="mergesort")
    p = probability[order]
    # One point per distinct score: tied rows move the curve together, as the realised curve does.
    last = np.r_[np.flatnonzero(np.diff(p) != 0), len(p) - 1]
    tp, fp = np.cumsum(p)[last], np.cumsum(1 - p)[last]
    if tp[-1] <= 0 or fp[-1] <= 0:
        return float("nan")
    tpr, fpr = np.r_[0.0, tp / tp[-1]], np.r_[0.0, fp / fp[-1]]
    return float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2))


def estimate_binary(predicted: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """Expected accuracy, precision, recall, F1 and AUC of predicted labels (0/1) and positive probabilities."""
    positive = predicted == 1
    tp, fp = probability[positive].sum(), (1 - probability[positive]).sum()
    fn, tn = probability[~positive].sum(), (1 - probability[~positive]).sum()
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "auc": expected_auc(probability),
        "accuracy": float((tp + tn) / len(probability)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0,
    }


def estimate(problem_type: str, predicted: np.ndarray, probability: np.ndarray, calibration: dict) -> dict[str, Any]:
    """The estimate an inference run writes (estimate.json): metrics, or why there are none.

    Binary: `predicted` 0/1 and `probability` of the positive class. Multiclass: `probability`
    of the predicted class, which gives the expected accuracy (weighted F1 would need every
    class's probability, which the predictions do not carry).
    """
    summary = {k: v for k, v in calibration.items() if k != "map"}
    base = {"method": METHOD, "rows": len(predicted), "calibration": summary}
    if problem_type == "regression" or not calibration.get("estimable"):
        return base | {"estimated": False, "metrics": {}, "reason": calibration.get("reason", "")}
    probability = calibrate(calibration["map"], probability)
    if problem_type == "binary_classification":
        metrics = estimate_binary(predicted, probability)
    else:
        metrics = {"accuracy": float(probability.mean())}
    return base | {"estimated": True, "metrics": metrics, "reason": ""}


def estimate_batch(
    problem_type: str, classes: list[str] | None, frames: list[Any], calibration: dict[str, Any]
) -> dict[str, Any]:
    """The estimate of a batch from the Transform's rows (`inference_id,label,probability` for a classifier)."""
    labels = [frame[1].to_numpy(dtype=object) for frame in frames] if classes is not None else []
    probabilities = [frame[2].to_numpy(dtype="float64") for frame in frames] if classes is not None else []
    label = np.concatenate(labels) if labels else np.array([], dtype=object)
    probability = np.concatenate(probabilities) if probabilities else np.array([])
    known = classes or []
    unknown = sorted(set(label) - set(known))
    if unknown:
        raise ValueError(f"The predictions hold labels {unknown[:5]} that the model's classes {known} do not.")
    index = {name: i for i, name in enumerate(known)}
    predicted = np.asarray([index[value] for value in label], dtype=int)  # 1 is the positive class of a binary model
    return estimate(problem_type, predicted, probability, calibration)
