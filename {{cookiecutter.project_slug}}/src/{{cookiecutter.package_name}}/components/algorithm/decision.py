"""The decision a binary model makes: the cut-off on its positive class's probability.

`algorithm.decision` in config/project.yaml sets it, one of:
- `threshold: 0.5`: a fixed cut-off;
- `objective: f1`: the cut-off that maximises F1 on the validation rows;
- `objective: recall, min_recall: 0.8`: the highest cut-off whose validation recall is at least
  `min_recall` (the most precise model that still finds that share of positives);
- `objective: cost, false_positive_cost: 1, false_negative_cost: 5`: the cut-off with the lowest
  total cost on the validation rows.

Training chooses it (train mode) and saves it with the model; every later use of the model
(the model server, the gate, the estimate, explanations) applies that one number: a row is
positive when its probability is at least the threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT = {"threshold": 0.5}


def choose(settings: dict[str, Any] | None, truth: np.ndarray, probability: np.ndarray) -> dict[str, Any]:
    """The threshold `settings` ask for, chosen on validation (truth 0/1, the positive class's probability).

    Returns the record saved with the model: the threshold, how it was set, and the validation
    precision, recall and F1 at it.
    """
    settings = dict(settings or DEFAULT)
    truth = np.asarray(truth, dtype=int)
    probability = np.asarray(probability, dtype=float)
    if "threshold" in settings:
        threshold, how = float(settings["threshold"]), "fixed"
    else:
        objective = settings["objective"]
        # Every distinct probability is a candidate: at p >= candidate, those rows are positive.
        candidates = np.unique(probability)
        scores = [_counts(truth, probability >= c) for c in candidates]
        if objective == "f1":
            chosen = int(np.argmax([_f1(*s) for s in scores]))
        elif objective == "recall":
            floor = float(settings["min_recall"])
            reaching = [i for i, s in enumerate(scores) if _recall(*s) >= floor]
            if not reaching:
                raise ValueError(f"No threshold reaches a validation recall of {floor}.")
            chosen = max(reaching)
        else:
            fp_cost, fn_cost = float(settings["false_positive_cost"]), float(settings["false_negative_cost"])
            costs = [fp * fp_cost + fn * fn_cost for _, fp, fn in scores]
            chosen = int(np.argmin(costs))
        threshold, how = float(candidates[chosen]), f"chosen on validation: {_objective_words(settings)}"
    tp, fp, fn = _counts(truth, probability >= threshold)
    return {
        "threshold": threshold,
        "how": how,
        "validation": {"precision": _precision(tp, fp, fn), "recall": _recall(tp, fp, fn), "f1": _f1(tp, fp, fn)},
    }


def decide(probability: np.ndarray, threshold: float) -> np.ndarray:
    """Class indices (1 the positive class) of the positive class's probabilities."""
    return (np.asarray(probability, dtype=float) >= threshold).astype(int)


def _objective_words(settings: dict[str, Any]) -> str:
    objective = settings["objective"]
    if objective == "f1":
        return "the highest F1"
    if objective == "recall":
        return f"the highest threshold with recall at least {settings['min_recall']}"
    return (
        f"the lowest cost, a false positive costing {settings['false_positive_cost']} "
        f"and a false negative {settings['false_negative_cost']}"
    )


def _counts(truth: np.ndarray, positive: np.ndarray) -> tuple[int, int, int]:
    return (
        int((positive & (truth == 1)).sum()),
        int((positive & (truth == 0)).sum()),
        int((~positive & (truth == 1)).sum()),
    )


def _precision(tp: int, fp: int, fn: int) -> float:
    return tp / (tp + fp) if tp + fp else 0.0


def _recall(tp: int, fp: int, fn: int) -> float:
    return tp / (tp + fn) if tp + fn else 0.0


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0
