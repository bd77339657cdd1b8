"""A binary model's decision: the threshold the team sets, or the one validation chooses for its objective."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, recall_score

from {{ cookiecutter.package_name }}.components.algorithm import decision
from {{ cookiecutter.package_name }}.components.algorithm.model import (
    TrainedModel,
    choose_decision,
    evaluate,
    fit,
    predict,
)
from {{ cookiecutter.package_name }}.components.processing.preprocess import fit as learn
from {{ cookiecutter.package_name }}.components.processing.preprocess import to_training_matrix
from {{ cookiecutter.package_name }}.config import ConfigError, validate_config

RNG = np.random.default_rng(5)
TRUTH = (RNG.uniform(size=500) < 0.3).astype(int)
PROBABILITY = np.clip(0.3 * TRUTH + RNG.uniform(size=500) * 0.7, 0, 1)
CANDIDATES = np.unique(PROBABILITY)


def test_a_fixed_threshold_is_kept_as_set():
    record = decision.choose({"threshold": 0.7}, TRUTH, PROBABILITY)
    assert record["threshold"] == 0.7 and record["how"] == "fixed"
    assert record["validation"]["recall"] == pytest.approx(recall_score(TRUTH, PROBABILITY >= 0.7))


def test_the_f1_objective_takes_the_threshold_of_the_best_f1():
    record = decision.choose({"objective": "f1"}, TRUTH, PROBABILITY)
    best = max(f1_score(TRUTH, c <= PROBABILITY) for c in CANDIDATES)
    assert record["validation"]["f1"] == pytest.approx(best)
    assert f1_score(TRUTH, record["threshold"] <= PROBABILITY) == pytest.approx(best)
    assert record["threshold"] != 0.5


def test_the_recall_objective_takes_the_highest_threshold_that_keeps_the_recall():
    record = decision.choose({"objective": "recall", "min_recall": 0.9}, TRUTH, PROBABILITY)
    threshold = record["threshold"]
    assert recall_score(TRUTH, threshold <= PROBABILITY) >= 0.9
    higher = CANDIDATES[threshold < CANDIDATES]
    assert all(recall_score(TRUTH, c <= PROBABILITY) < 0.9 for c in higher)


def test_the_cost_objective_takes_the_cheapest_threshold():
    settings = {"objective": "cost", "false_positive_cost": 1, "false_negative_cost": 5}
    threshold = decision.choose(settings, TRUTH, PROBABILITY)["threshold"]

    def cost(c):
        positive = c <= PROBABILITY
        return ((positive & (TRUTH == 0)).sum() * 1) + ((~positive & (TRUTH == 1)).sum() * 5)

    assert cost(threshold) == min(cost(c) for c in CANDIDATES)
    assert threshold < decision.choose({"objective": "f1"}, TRUTH, PROBABILITY)["threshold"]  # misses cost more


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(0)
    signal = rng.uniform(size=600)
    outcome = np.where(signal + rng.normal(0, 0.3, size=600) > 0.8, "yes", "no")
    schema, labelled = learn(pd.DataFrame({"signal": signal, "outcome": outcome}), "outcome", "binary_classification")
    return schema, to_training_matrix(labelled, schema)


def test_the_model_decides_by_its_threshold_everywhere_and_keeps_it(binary, tmp_path):
    schema, matrix = binary
    model = fit(matrix, schema, {"max_iter": "30"}, "hist_gradient_boosting")
    choose_decision(model, matrix, {"threshold": 0.9})
    X = matrix.iloc[:, 1:].to_numpy()
    predicted = predict(model, X)
    assert ((predicted["probability"] >= 0.9) == (predicted["label"] == "yes")).all()
    assert (predicted["probability"] >= 0.5).sum() > (predicted["label"] == "yes").sum(), "0.9 is not 0.5"
    truth = matrix.iloc[:, 0].to_numpy().astype(int)
    accuracy = ((predicted["probability"] >= 0.9).astype(int) == truth).mean()
    assert evaluate(model, matrix)["accuracy"] == pytest.approx(accuracy)
    model.save(tmp_path)
    loaded = TrainedModel.load(tmp_path)
    assert loaded.threshold == 0.9 and loaded.decision["how"] == "fixed"
    pd.testing.assert_frame_equal(predict(loaded, X), predicted)


def test_a_decision_outside_binary_classification_or_set_twice_is_refused(config):
    changed = copy.deepcopy(config)
    changed["data"]["problem_type"] = "regression"
    changed["data"].pop("positive_class", None)
    changed["algorithm"]["decision"] = {"threshold": 0.5}
    with pytest.raises(ConfigError, match=r"algorithm\.decision sets a threshold"):
        validate_config(changed)
    twice = copy.deepcopy(config)
    twice["algorithm"]["decision"] = {"threshold": 0.5, "objective": "f1"}
    with pytest.raises(ConfigError, match=r"algorithm\.decision"):
        validate_config(twice)
    floorless = copy.deepcopy(config)
    floorless["algorithm"]["decision"] = {"objective": "recall"}
    with pytest.raises(ConfigError, match="min_recall"):
        validate_config(floorless)
