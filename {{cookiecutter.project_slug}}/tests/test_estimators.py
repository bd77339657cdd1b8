"""The estimator conformance suite: what every estimator must do for the algorithm, explanations and monitoring.

It runs each built-in whose library this repository installs, the example in custom_estimators/,
and the estimator config/project.yaml names. `make check-estimator` runs it for the configured
one alone (or for ESTIMATOR=<name>, or several, comma-separated): a team adding its own
estimator runs it first.

Each estimator is fitted on the same small table for every problem type: numbers with missing
values, a category with missing and unseen values, and a target that rises with `signal`.
"""

from __future__ import annotations

import importlib.util
import math
import os

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.components.algorithm import estimators
from {{ cookiecutter.package_name }}.components.algorithm.model import TrainedModel, fit, write_quality_baseline
from {{ cookiecutter.package_name }}.components.explainability.shap_values import explain
from {{ cookiecutter.package_name }}.components.processing.preprocess import (
    fit as learn,
)
from {{ cookiecutter.package_name }}.components.processing.preprocess import (
    learn_preparation,
    split,
    to_training_matrix,
    transform,
)
from {{ cookiecutter.package_name }}.config import load_config

LIBRARIES = {"xgboost": "xgboost", "lightgbm": "lightgbm"}
EXAMPLE = "custom_estimators.extra_trees_pipeline"
PROBLEMS = ("binary_classification", "multiclass_classification", "regression")
# Small and quick, but fitting each estimator's grain: few trees, few iterations.
SMALL = {
    "hist_gradient_boosting": {"max_iter": "30", "random_state": "0"},
    "random_forest": {"n_estimators": "20", "random_state": "0"},
    "linear": {},
    "xgboost": {"n_estimators": "30", "random_state": "0"},
    "lightgbm": {"n_estimators": "30", "random_state": "0"},
    EXAMPLE: {"n_estimators": "10", "random_state": "0"},
}


def _names() -> list[str]:
    chosen = os.environ.get("ESTIMATOR")
    if chosen:
        return [name.strip() for name in chosen.split(",")]
    names = [n for n in estimators.BUILT_IN if n not in LIBRARIES or importlib.util.find_spec(LIBRARIES[n])]
    configured = load_config()["algorithm"]["estimator"]
    return list(dict.fromkeys([*names, EXAMPLE, configured]))


def table(problem_type: str, rows: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.uniform(0, 1, rows)
    noise = rng.normal(0, 1, rows)
    noise[rng.uniform(size=rows) < 0.1] = np.nan
    colour = rng.choice(["red", "green", "blue"], rows).astype(object)
    colour[rng.uniform(size=rows) < 0.05] = None
    score = 3 * signal + 0.5 * (colour == "red") + 0.2 * rng.normal(size=rows)
    if problem_type == "regression":
        target = score
    elif problem_type == "binary_classification":
        target = np.where(score > np.median(score), "yes", "no")
    else:
        target = np.asarray(["low", "mid", "high"])[np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))]
    return pd.DataFrame({"signal": signal, "noise": noise, "colour": colour, "outcome": target})


@pytest.fixture(scope="module", params=PROBLEMS)
def data(request):
    """(schema, train matrix, validation matrix, raw validation rows) as processing train writes them."""
    raw = table(request.param)
    schema, labelled = learn(raw, "outcome", request.param)
    train, validation = split(labelled, schema, 0.25, seed=7)
    train_matrix = to_training_matrix(train, schema)
    schema = learn_preparation(train_matrix, schema)
    return schema, train_matrix, to_training_matrix(validation, schema), validation


@pytest.fixture(scope="module", params=_names())
def trained(request, data):
    schema, train, validation, _ = data
    return fit(train, schema, SMALL.get(request.param, {}), request.param), validation


@pytest.fixture(scope="module")
def explained(trained):
    """The first validation rows and their explanation: 40, or 24 for a model-agnostic one (it takes seconds)."""
    model, validation = trained
    X = validation.iloc[: 24 if model.estimator.explanation == "model_agnostic" else 40, 1:].to_numpy()
    return model, X, explain(model, X)


def _outputs(model: TrainedModel, X: np.ndarray) -> np.ndarray:
    return model.probabilities(X) if model.is_classifier else model.values(X)


def test_it_fits_and_predicts_one_answer_per_row(trained):
    model, validation = trained
    X = validation.iloc[:, 1:].to_numpy()
    out = _outputs(model, X)
    assert len(out) == len(X) and np.isfinite(out).all()
    if model.is_classifier:
        assert out.shape[1] == len(model.schema.classes)
        np.testing.assert_allclose(out.sum(axis=1), 1, rtol=0, atol=1e-12)
        assert (out >= 0).all()


def test_a_saved_model_loads_to_identical_predictions(trained, tmp_path):
    model, validation = trained
    X = validation.iloc[:, 1:].to_numpy()
    model.save(tmp_path / "first")
    loaded = TrainedModel.load(tmp_path / "first")
    assert type(loaded.estimator) is type(model.estimator)
    np.testing.assert_array_equal(_outputs(loaded, X), _outputs(model, X))


def test_the_same_fit_saves_the_same_bytes(trained, data, tmp_path):
    """A model's file depends on the model alone, not on where it sat in memory or when it was written:
    an image and a venv write the same file, and a digest names a model."""
    model, _ = trained
    schema, train, _, _ = data
    name, rows = model.estimator_name, train.head(150)
    first, again = (fit(rows, schema, SMALL.get(name, {}), name) for _ in range(2))
    first.save(tmp_path / "first")
    again.save(tmp_path / "again")
    name = model.estimator.model_file
    assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()


def test_missing_values_and_unseen_categories_are_answered(trained, data):
    model, _ = trained
    _, _, _, raw = data
    odd = raw.head(20).copy()
    odd["noise"] = np.nan
    odd["colour"] = ["purple", None] * 10  # unseen and missing: both encoded as missing
    encoded, report = transform(odd, model.schema)
    assert report.unseen_categories == {"colour": 10}
    out = _outputs(model, encoded.to_numpy())
    assert np.isfinite(out).all()


def test_a_bad_hyperparameter_is_named(trained):
    model, _ = trained
    estimator = model.estimator
    with pytest.raises(ValueError, match="unknown hyperparameter 'no_such_setting'"):
        estimators.parse_hyperparameters(estimator, {"no_such_setting": "1"})
    if estimator.hyperparameters:
        first = next(iter(estimator.hyperparameters))
        with pytest.raises(ValueError, match=f"hyperparameter '{first}'='not a value'"):
            estimators.parse_hyperparameters(estimator, {first: "not a value"})


def test_its_default_tuning_ranges_are_valid(trained):
    model, _ = trained
    ranges = estimators.default_ranges(model.estimator)
    estimators.check_ranges(model.estimator, ranges)
    with pytest.raises(ValueError, match="is no hyperparameter"):
        estimators.check_ranges(model.estimator, {"no_such_setting": {"type": "integer", "min": 1, "max": 2}})


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def test_each_rows_explanation_adds_up_to_the_output_it_names(explained):
    """Checked against the model's own predictions, not the explainer's notion of its output."""
    model, X, explanation = explained
    expected = explanation.expected_values
    totals = {label: values.sum(axis=1) + expected[label] for label, values in explanation.values.items()}
    kind = model.estimator.explained_output(model.schema.problem_type)
    classes = model.schema.classes
    tolerance = {"atol": 1e-5, "rtol": 1e-4}
    if kind == "value":
        np.testing.assert_allclose(totals[model.schema.target], model.values(X), **tolerance)
    elif kind == "probability":
        for label, total in totals.items():
            np.testing.assert_allclose(total, model.probabilities(X)[:, classes.index(label)], **tolerance)
    elif len(classes) == 2:
        probability = model.probabilities(X)[:, 1]
        np.testing.assert_allclose(1 / (1 + np.exp(-totals[classes[1]])), probability, **tolerance)
    else:
        scores = np.column_stack([totals[label] for label in classes])
        np.testing.assert_allclose(_softmax(scores), model.probabilities(X), **tolerance)
    assert explanation.additivity_error <= 1e-6
    for label, words in explanation.outputs.items():
        assert repr(label) in words or model.schema.target in words


def test_the_explanation_points_the_way_the_signal_does(explained):
    """`signal` raises the target: its attribution must rise with it for the class explained (or the value)."""
    model, X, explanation = explained
    column = model.schema.feature_names.index("signal")
    classes = model.schema.classes
    label = model.schema.target if classes is None else ("yes" if len(classes) == 2 else "high")
    correlation = np.corrcoef(X[:, column], explanation.values[label][:, column])[0, 1]
    assert correlation > 0.5, f"{model.estimator.name}: signal's attribution for {label} falls as signal rises"


def test_it_yields_the_calibration_record_the_estimate_needs(trained, tmp_path):
    model, validation = trained
    record = write_quality_baseline(tmp_path, model, validation, 0.1)
    assert record["constraints"] and (tmp_path / "quality_constraints.json").is_file()
    if model.is_classifier:
        calibration = record["calibration"]
        assert isinstance(calibration.get("estimable"), bool)
        assert calibration["estimable"] or calibration["reason"]
    assert all(math.isfinite(v) for v in record["validation"].values() if isinstance(v, float))
