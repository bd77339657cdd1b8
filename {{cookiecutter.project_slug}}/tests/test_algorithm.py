import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.components.algorithm.model import (
    TrainedModel,
    evaluate,
    fit,
    parse_hyperparameters,
    predict,
)


def test_hyperparameters_are_parsed_from_strings():
    parsed = parse_hyperparameters(
        {"learning_rate": "0.05", "max_iter": "10", "max_depth": "None", "early_stopping": "false"}
    )
    assert parsed == {"learning_rate": 0.05, "max_iter": 10, "max_depth": None, "early_stopping": False}


def test_sagemaker_added_hyperparameters_are_ignored():
    assert parse_hyperparameters({"_tuning_objective_metric": "validation:auc", "sagemaker_region": "x"}) == {}


def test_bad_hyperparameters_are_all_named():
    with pytest.raises(ValueError) as error:
        parse_hyperparameters({"max_iter": "many", "colour": "blue"})
    assert "'max_iter'='many'" in str(error.value)
    assert "unknown hyperparameter 'colour'" in str(error.value)


def test_model_learns_signal(trained_model, processed, problem_type):
    _, _, validation = processed
    metrics = evaluate(trained_model, validation)
    if problem_type == "regression":
        assert metrics["r2"] > 0.5
    else:
        assert metrics["auc"] > 0.65
        assert 0 <= metrics["accuracy"] <= 1


def test_predictions_have_one_row_per_input_and_readable_labels(trained_model, processed):
    schema, _, validation = processed
    X = validation.iloc[:, 1:].to_numpy()
    predictions = predict(trained_model, X)
    assert len(predictions) == len(X)
    if schema.classes is None:
        assert list(predictions.columns) == ["prediction"]
    else:
        assert list(predictions.columns) == ["label", "probability"]
        assert set(predictions["label"]) <= set(schema.classes)
        assert predictions["probability"].between(0, 1).all()


def test_model_survives_save_and_load(trained_model, processed, tmp_path):
    _, _, validation = processed
    trained_model.save(tmp_path)
    loaded = TrainedModel.load(tmp_path)
    X = validation.iloc[:, 1:].to_numpy()
    pd.testing.assert_frame_equal(predict(loaded, X), predict(trained_model, X))


def test_missing_values_are_scored(trained_model, processed):
    schema, _, _ = processed
    X = np.full((3, len(schema.features)), np.nan)
    assert len(predict(trained_model, X)) == 3


def test_feature_count_mismatch_is_explained(processed, config):
    schema, train, _ = processed
    with pytest.raises(ValueError, match=r"feature columns but schema\.json lists"):
        fit(train.iloc[:, :-1], schema, config["algorithm"]["hyperparameters"], config["algorithm"]["estimator"])
