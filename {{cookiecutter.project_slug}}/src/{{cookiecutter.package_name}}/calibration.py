"""A classifier's calibration map, fitted on validation data and checked by cross-fitting.

Training fits it (isotonic, from the model's probability to the rate observed) and records
the check; monitoring's performance estimate (CBPE) maps an inference batch's probabilities
through it, and only for a model whose check passed. Neither component owns this module.
"""

from __future__ import annotations

import numpy as np

CALIBRATION_BINS = 10
CALIBRATION_TOLERANCE = 0.05  # expected calibration error this far above its noise floor: no estimate
NULL_DRAWS = 20  # label draws that give the noise floor


def expected_calibration_error(correct: np.ndarray, confidence: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """The mean gap between confidence and how often it was right, over equal-width bins, weighted by rows.

    Binary: `confidence` is the positive class's probability and `correct` whether the row is
    positive. Multiclass: the predicted class's probability and whether the prediction was right.
    """
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    said = np.bincount(index, weights=confidence, minlength=bins)
    was = np.bincount(index, weights=correct.astype(float), minlength=bins)
    return float(np.sum(np.abs(said - was)) / len(confidence))


def fit_calibration(confidence: np.ndarray, correct: np.ndarray) -> dict[str, list[float]]:
    """An isotonic map from the model's probability to the observed rate, as two lists for np.interp."""
    from sklearn.isotonic import IsotonicRegression

    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(confidence, correct.astype(float))
    return {"x": fitted.X_thresholds_.tolist(), "y": fitted.y_thresholds_.tolist()}


def calibrate(mapping: dict[str, list[float]], confidence: np.ndarray) -> np.ndarray:
    """Probabilities through a map from `fit_calibration`."""
    return np.interp(confidence, mapping["x"], mapping["y"])


def _cross_fitted_error(probability: np.ndarray, correct: np.ndarray, halves: np.ndarray) -> float:
    """The expected calibration error of each half's probabilities under the map fitted on the other half."""
    crossed = np.empty(len(probability))
    for fit_on in (halves, ~halves):
        crossed[~fit_on] = calibrate(fit_calibration(probability[fit_on], correct[fit_on]), probability[~fit_on])
    return expected_calibration_error(correct, crossed)


def calibration_record(
    problem_type: str, truth: np.ndarray, predicted: np.ndarray, probability: np.ndarray | None
) -> dict:
    """What training records on its validation rows: the calibration map, and whether it holds.

    Binary: class indices and the positive class's probability; multiclass: class indices and
    the predicted class's probability; regression, no probability. The check cross-fits: a map
    fitted on one half of the rows calibrates the other half, and the expected calibration
    error of both halves, so calibrated, may exceed its noise floor by at most
    CALIBRATION_TOLERANCE. With so few rows that the floor itself is above twice the
    tolerance, the check means nothing, and the record says so.
    """
    if problem_type == "regression":
        return {"estimable": False, "reason": "regression: a prediction states nothing about its own error"}
    correct = truth == 1 if problem_type == "binary_classification" else truth == predicted
    halves = np.random.default_rng(0).permutation(len(truth)) % 2 == 0
    ece = _cross_fitted_error(probability, correct, halves)
    # Even perfectly calibrated probabilities show an error on finite rows, from the bins and from
    # maps fitted on half of them. Its floor is the mean error of this same check on labels drawn
    # from the calibrated probabilities themselves (a parametric bootstrap); the check is on the
    # excess over that floor, and only where the floor is low enough for the check to mean something.
    rng = np.random.default_rng(1)
    calibrated = calibrate(fit_calibration(probability, correct), probability)
    floor = float(
        np.mean(
            [
                _cross_fitted_error(probability, rng.uniform(size=len(truth)) < calibrated, halves)
                for _ in range(NULL_DRAWS)
            ]
        )
    )
    excess = max(ece - floor, 0.0)
    if floor > 2 * CALIBRATION_TOLERANCE:
        passed, reason = (
            False,
            (
                f"too few validation rows ({len(truth)}) to check calibration: even calibrated probabilities would "
                f"show an expected calibration error of {floor:.3f}; train on more rows"
            ),
        )
    else:
        passed = bool(excess <= CALIBRATION_TOLERANCE)
        reason = (
            ""
            if passed
            else (
                f"expected calibration error {ece:.3f} is {excess:.3f} above its noise floor {floor:.3f}, "
                f"more than {CALIBRATION_TOLERANCE}"
            )
        )
    return {
        "estimable": passed,
        "expected_calibration_error": ece,
        "noise_floor": floor,
        "excess_calibration_error": excess,
        "uncalibrated_expected_calibration_error": expected_calibration_error(correct, probability),
        "bins": CALIBRATION_BINS,
        "tolerance": CALIBRATION_TOLERANCE,
        "rows": len(truth),
        "map": fit_calibration(probability, correct),
        "reason": reason,
    }
