"""Model metrics and Model Monitor's model-quality formats, on arrays: what training and monitoring share.

The metrics come with a bootstrap standard deviation and confidence interval and with the
best constant predictor's value for reference, in Model Monitor's model-quality statistics
format; training derives threshold-and-operator constraints from its validation metrics, and
monitoring writes a run's violations in Model Monitor's constraint_violations format. Neither
component owns this module: the algorithm scores its validation split and the gate with it,
monitoring judges labelled production rows with it.

Metrics are computed here with numpy (they are recomputed on every bootstrap resample), and
are tested against scikit-learn's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

BOOTSTRAP_ROUNDS = 200
CONFIDENCE = 0.95
MIN_ROWS_FOR_SPREAD = 200  # as Model Monitor: fewer rows give a standard deviation of "NaN"
SECTIONS = {
    "binary_classification": "binary_classification",
    "multiclass_classification": "multiclass_classification",
    "regression": "regression",
}
# Each metric and whether a larger value is better (which decides a constraint's operator).
METRICS: dict[str, dict[str, bool]] = {
    "binary_classification": {
        "auc": True,
        "accuracy": True,
        "precision": True,
        "recall": True,
        "f1": True,
        "log_loss": False,
    },
    "multiclass_classification": {"accuracy": True, "weighted_f1": True},
    "regression": {"mae": False, "rmse": False, "r2": True},
}
# The metric that decides, for the gate and in the model-quality report's headline.
PRIMARY = {"binary_classification": "auc", "multiclass_classification": "accuracy", "regression": "rmse"}
EPSILON = 1e-15  # log-loss clips probabilities here, as scikit-learn does


@dataclass
class Outcomes:
    """What the metrics need, row for row: the truth, the predicted label or value, the score.

    Classifiers: `truth` and `predicted` are class indices into `classes`; `score` is the
    positive class's probability (binary) and None for multiclass. Regression: values.
    """

    problem_type: str
    truth: np.ndarray
    predicted: np.ndarray
    score: np.ndarray | None = None
    classes: list[str] | None = None

    def __len__(self) -> int:
        return len(self.truth)

    def take(self, rows: np.ndarray) -> Outcomes:
        score = None if self.score is None else self.score[rows]
        return Outcomes(self.problem_type, self.truth[rows], self.predicted[rows], score, self.classes)


def tie_groups(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scores' sort order and where each run of equal scores starts in it: AUC's one sort."""
    order = np.argsort(score, kind="mergesort")
    _, starts = np.unique(score[order], return_index=True)
    return order, starts


def auc(
    truth: np.ndarray,
    score: np.ndarray,
    weights: np.ndarray | None = None,
    groups: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """Area under the ROC curve (ties counted half): each positive against the negatives scored below it.

    `weights` count each row so many times (a bootstrap resample); `groups` (`tie_groups`)
    spare the sort when one set of scores is weighed many times.
    """
    order, starts = tie_groups(score) if groups is None else groups
    weight = np.ones(len(truth)) if weights is None else weights.astype("float64")
    sorted_weight = weight[order]
    positives = np.add.reduceat(sorted_weight * truth[order], starts)
    negatives = np.add.reduceat(sorted_weight, starts) - positives
    total_positive, total_negative = positives.sum(), negatives.sum()
    if total_positive == 0 or total_negative == 0:
        return float("nan")
    below = np.cumsum(negatives) - negatives  # negatives scored strictly lower
    return float(np.sum(positives * (below + negatives / 2)) / (total_positive * total_negative))


def _binary(
    truth: np.ndarray,
    predicted: np.ndarray,
    score: np.ndarray,
    weights: np.ndarray | None = None,
    groups: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, float]:
    weight = np.ones(len(truth)) if weights is None else weights.astype("float64")
    tp = float(np.sum(weight * ((predicted == 1) & (truth == 1))))
    fp = float(np.sum(weight * ((predicted == 1) & (truth == 0))))
    fn = float(np.sum(weight * ((predicted == 0) & (truth == 1))))
    n = float(weight.sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    clipped = np.clip(score, EPSILON, 1 - EPSILON)
    losses = truth * np.log(clipped) + (1 - truth) * np.log(1 - clipped)
    return {
        "auc": auc(truth, score, weights, groups),
        "accuracy": float(np.sum(weight * (predicted == truth))) / n,
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "log_loss": float(-np.sum(weight * losses) / n),
    }


def _weighted_f1(truth: np.ndarray, predicted: np.ndarray, n_classes: int, weights: np.ndarray | None = None) -> float:
    weight = np.ones(len(truth)) if weights is None else weights.astype("float64")
    right = truth == predicted
    support = np.bincount(truth, weights=weight, minlength=n_classes)
    tp = np.bincount(truth[right], weights=weight[right], minlength=n_classes)
    predicted_count = np.bincount(predicted, weights=weight, minlength=n_classes)
    denominator = support + predicted_count
    f1 = np.divide(2 * tp, denominator, out=np.zeros(n_classes), where=denominator > 0)
    return float(np.sum(f1 * support) / support.sum())


def metric_values(
    outcomes: Outcomes, weights: np.ndarray | None = None, groups: tuple[np.ndarray, np.ndarray] | None = None
) -> dict[str, float]:
    """Every metric of the problem type on these rows.

    `weights` count each row so many times: a bootstrap resample as row counts, without copying
    rows (with `groups`, the scores' `tie_groups`, not even the sort AUC needs).
    """
    truth, predicted = outcomes.truth, outcomes.predicted
    if outcomes.problem_type == "binary_classification":
        return _binary(truth, predicted, outcomes.score, weights, groups)
    weight = np.ones(len(truth)) if weights is None else weights.astype("float64")
    total = float(weight.sum())
    if outcomes.problem_type == "multiclass_classification":
        n_classes = len(outcomes.classes or []) or int(max(truth.max(), predicted.max()) + 1)
        return {
            "accuracy": float(np.sum(weight * (truth == predicted))) / total,
            "weighted_f1": _weighted_f1(truth, predicted, n_classes, weights),
        }
    error = predicted - truth
    mean = float(np.sum(weight * truth)) / total
    spread = float(np.sum(weight * (truth - mean) ** 2))
    squared = float(np.sum(weight * error**2))
    return {
        "mae": float(np.sum(weight * np.abs(error))) / total,
        "rmse": float(math.sqrt(squared / total)),
        "r2": 1.0 - squared / spread if spread > 0 else float("nan"),
    }


def best_constant(outcomes: Outcomes) -> dict[str, float]:
    """Each metric's value for the best constant predictor: what a model must beat to be useful.

    A constant label (the better of all-negative and all-positive per metric, the majority
    class for accuracy), the base rate as a constant probability; for regression the mean
    (RMSE, R²) and the median (MAE) of the truth.
    """
    truth, n = outcomes.truth, len(outcomes)
    if outcomes.problem_type == "binary_classification":
        rate = float(truth.mean())
        values = [_binary(truth, np.full(n, label), np.full(n, rate)) for label in (0, 1)]
        best = {name: max(v[name] for v in values) for name in ("accuracy", "precision", "recall", "f1")}
        base = float(np.clip(rate, EPSILON, 1 - EPSILON))
        best["auc"] = 0.5
        best["log_loss"] = float(-(rate * math.log(base) + (1 - rate) * math.log(1 - base)))
        return best
    if outcomes.problem_type == "multiclass_classification":
        n_classes = len(outcomes.classes or []) or int(truth.max() + 1)
        majority = int(np.bincount(truth, minlength=n_classes).argmax())
        constant = np.full(n, majority)
        return {
            "accuracy": float(np.mean(truth == constant)),
            "weighted_f1": _weighted_f1(truth, constant, n_classes),
        }
    mean, median = float(truth.mean()), float(np.median(truth))
    return {
        "mae": float(np.mean(np.abs(truth - median))),
        "rmse": float(math.sqrt(np.mean((truth - mean) ** 2))),
        "r2": 0.0,
    }


def bootstrap(outcomes: Outcomes, rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0) -> dict[str, np.ndarray]:
    """Each metric on `rounds` resamples of the rows, drawn with replacement (seeded: reproducible)."""
    rng = np.random.default_rng(seed)
    n = len(outcomes)
    draws: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, value in metric_values(outcomes.take(rng.integers(0, n, n))).items():
            draws.setdefault(name, []).append(value)
    return {name: np.asarray(values) for name, values in draws.items()}


def _json_number(value: float) -> float | str:
    return "NaN" if value is None or not math.isfinite(value) else float(value)


def quality_statistics(
    outcomes: Outcomes,
    evaluation_time: datetime,
    extra: dict[str, Any] | None = None,
    spread_from: int = MIN_ROWS_FOR_SPREAD,
) -> dict:
    """statistics.json in Model Monitor's model-quality format, plus confidence intervals.

    Each metric is `{"value", "standard_deviation", "confidence_interval": {"lower", "upper",
    "level"}}` and has a `<metric>_best_constant_classifier` (or `_regressor`) twin. The
    standard deviation and interval come from a bootstrap, from `spread_from` rows on (200, as
    Model Monitor; a verdict on fewer rows asks for them from there, so that its noise is known).
    """
    values = metric_values(outcomes)
    constant = best_constant(outcomes)
    spread = bootstrap(outcomes) if len(outcomes) >= spread_from else {}
    low, high = (1 - CONFIDENCE) / 2 * 100, (1 + CONFIDENCE) / 2 * 100
    suffix = "_best_constant_regressor" if outcomes.problem_type == "regression" else "_best_constant_classifier"
    metrics: dict[str, Any] = {}
    for name, value in values.items():
        draws = spread.get(name)
        draws = None if draws is None else draws[np.isfinite(draws)]
        entry: dict[str, Any] = {"value": _json_number(value), "standard_deviation": "NaN"}
        if draws is not None and len(draws) > 1:
            entry["standard_deviation"] = float(np.std(draws, ddof=1))
            entry["confidence_interval"] = {
                "lower": float(np.percentile(draws, low)),
                "upper": float(np.percentile(draws, high)),
                "level": CONFIDENCE,
            }
        metrics[name] = entry
        metrics[name + suffix] = {"value": _json_number(constant[name]), "standard_deviation": "NaN"}
    if outcomes.classes is not None:
        metrics["confusion_matrix"] = confusion_matrix(outcomes)
    return {
        "version": 0.0,
        "dataset": {"item_count": len(outcomes), "evaluation_time": evaluation_time.isoformat()},
        f"{SECTIONS[outcomes.problem_type]}_metrics": metrics,
        **(extra or {}),
    }


def confusion_matrix(outcomes: Outcomes) -> dict[str, dict[str, int]]:
    """Counts as Model Monitor writes them: actual class, then predicted class."""
    classes = outcomes.classes or []
    return {
        actual: {
            guess: int(np.sum((outcomes.truth == i) & (outcomes.predicted == j))) for j, guess in enumerate(classes)
        }
        for i, actual in enumerate(classes)
    }


# How far a derived limit stays on the better side of the best constant predictor: 0.01 above it
# for a metric where higher is better (they all lie in [0, 1]; R²'s constant is 0), 1% below it
# for an error (log loss, RMSE, MAE).
CONSTANT_MARGIN = 0.01


def derive_constraints(
    problem_type: str, validation: dict[str, float], tolerance: float, constant: dict[str, float] | None = None
) -> dict[str, Any]:
    """Model-quality constraints from training's validation metrics.

    A metric where larger is better must stay at or above `value * (1 - tolerance)`
    (`LessThanThreshold` is the violation); one where smaller is better at or below
    `value * (1 + tolerance)` (`GreaterThanThreshold`). R² allows `tolerance` absolutely.
    Metrics validation did not compute (an AUC with one class) get no constraint.

    No limit accepts what the best constant predictor (`constant`, on the same validation rows)
    achieves: each is raised (or, for an error, lowered) to beat it by CONSTANT_MARGIN. A metric
    on which validation itself does not beat the constant by that margin (accuracy on an
    imbalanced target, say) gets no limit, and `unconstrained` says why.
    """
    constraints, unconstrained = {}, {}
    for name, higher_is_better in METRICS[problem_type].items():
        value = validation.get(name)
        if value is None or not math.isfinite(value):
            continue
        if name == "r2":
            threshold = value - tolerance
        else:
            threshold = value * (1 - tolerance) if higher_is_better else value * (1 + tolerance)
        base = (constant or {}).get(name)
        if base is not None and math.isfinite(base):
            floor = base + CONSTANT_MARGIN if higher_is_better else base * (1 - CONSTANT_MARGIN)
            if (value < floor) if higher_is_better else (value > floor):
                unconstrained[name] = (
                    f"validation {name} {value:.4g} does not beat the best constant predictor's {base:.4g} by "
                    f"the margin ({floor:.4g}): no limit on it would mean anything"
                )
                continue
            threshold = max(threshold, floor) if higher_is_better else min(threshold, floor)
        operator = "LessThanThreshold" if higher_is_better else "GreaterThanThreshold"
        constraints[name] = {"threshold": float(threshold), "comparison_operator": operator}
    derived: dict[str, Any] = {"version": 0.0, f"{SECTIONS[problem_type]}_constraints": constraints}
    if unconstrained:
        derived["unconstrained"] = unconstrained
    return derived


def check_constraints(statistics: dict[str, Any], constraints: dict[str, Any]) -> list[dict[str, str]]:
    """Violations in Model Monitor's constraint_violations.json format (its `violations` list).

    Where the metric has a bootstrap interval, the violation must hold for the whole interval:
    a metric that must not fall below its threshold violates only when even its upper bound
    does. A window's sampling noise alone therefore does not start a retrain.
    """
    section = next(key for key in statistics if key.endswith("_metrics"))
    metrics = statistics[section]
    rules = constraints.get(section.removesuffix("_metrics") + "_constraints", {})
    found = []
    for name, rule in rules.items():
        entry = metrics.get(name)
        value = None if entry is None else entry.get("value")
        if not isinstance(value, int | float):
            continue  # not computable on this window (an AUC with one class): no verdict
        threshold, operator = float(rule["threshold"]), rule["comparison_operator"]
        interval = entry.get("confidence_interval") or {"lower": value, "upper": value}
        below, above = float(interval["upper"]), float(interval["lower"])  # the bound nearest to compliance
        broken = {
            "LessThanThreshold": below < threshold,
            "GreaterThanThreshold": above > threshold,
            "LessThanOrEqualToThreshold": below <= threshold,
            "GreaterThanOrEqualToThreshold": above >= threshold,
        }.get(operator)
        if broken is None:
            raise ValueError(f"constraint on {name}: unknown comparison_operator {operator!r}")
        if broken:
            spread = entry.get("standard_deviation")
            plus_minus = f" +/- {spread:.4g}" if isinstance(spread, float) else ""
            shown = f" (95% interval {above:.4g} to {below:.4g})" if "confidence_interval" in entry else ""
            found.append(
                {
                    "constraint_check_type": operator,
                    "description": (
                        f"Metric {name} with {value:.4g}{plus_minus}{shown} was {operator} '{threshold:.4g}'"
                    ),
                    "metric_name": name,
                }
            )
    return found


def calibration_curve(outcomes: Outcomes, bins: int = 10) -> dict[str, list[float]]:
    """Mean predicted probability against the observed rate per equal-width bin (binary: positive class)."""
    if outcomes.score is None:
        return {"predicted": [], "observed": [], "rows": []}
    index = np.minimum((outcomes.score * bins).astype(int), bins - 1)
    rows = np.bincount(index, minlength=bins)
    said = np.bincount(index, weights=outcomes.score, minlength=bins)
    was = np.bincount(index, weights=outcomes.truth.astype(float), minlength=bins)
    keep = rows > 0
    return {
        "predicted": (said[keep] / rows[keep]).tolist(),
        "observed": (was[keep] / rows[keep]).tolist(),
        "rows": rows[keep].tolist(),
    }
