import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.sample_data import (
    generate,
)


def test_generation_is_deterministic(target, problem_type):
    a = generate(500, target_column=target, problem_type=problem_type, seed=3)
    b = generate(500, target_column=target, problem_type=problem_type, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(generate(500, target_column=target, problem_type=problem_type, seed=4))


def test_table_has_numeric_categorical_and_missing_values(sample, target):
    features = sample.drop(columns=[target])
    assert any(pd.api.types.is_numeric_dtype(features[c]) for c in features)
    assert any(not pd.api.types.is_numeric_dtype(features[c]) for c in features)
    assert features.isna().any().sum() >= 2


def test_binary_target_depends_on_features():
    data = generate(20000, target_column="churn", problem_type="binary_classification", seed=1)
    rate = (data["churn"] == "yes").groupby(data["contract"]).mean()
    assert rate["month-to-month"] > rate["two-year"] + 0.15


@pytest.mark.parametrize("problem_type", ["multiclass_classification", "regression"])
def test_target_matches_problem_type(problem_type):
    data = generate(2000, target_column="y", problem_type=problem_type, seed=1)
    if problem_type == "regression":
        assert pd.api.types.is_numeric_dtype(data["y"])
        assert np.corrcoef(data["y"], data["monthly_charges"])[0, 1] > 0.5
    else:
        assert set(data["y"]) == {"low", "medium", "high"}


def test_drift_grows_with_stage():
    stages = [generate(20000, seed=5, drift_stage=s) for s in range(6)]
    means = [s["monthly_charges"].mean() for s in stages]
    missing = [s["age"].isna().mean() for s in stages]
    assert means == sorted(means) and means[5] - means[0] > 15
    assert missing == sorted(missing) and missing[5] > 0.3
    assert "digital-wallet" not in set(stages[1]["payment_method"])
    assert "digital-wallet" in set(stages[3]["payment_method"])


def test_scales_to_a_million_rows():
    data = generate(1_000_000, seed=2)
    assert len(data) == 1_000_000
    assert data["tenure_months"].notna().all()


@pytest.mark.parametrize("problem_type", ["binary_classification", "multiclass_classification", "regression"])
def test_concept_stages_keep_the_inputs_and_move_the_target(problem_type):
    base = generate(3000, target_column="y", problem_type=problem_type, seed=5)
    moved = generate(3000, target_column="y", problem_type=problem_type, seed=5, concept_stage=3)
    pd.testing.assert_frame_equal(base.drop(columns=["y"]), moved.drop(columns=["y"]))
    if problem_type == "regression":
        assert np.corrcoef(base["y"], moved["y"])[0, 1] < 0.9
    else:
        assert (base["y"] != moved["y"]).mean() > 0.2
    with pytest.raises(ValueError, match=r"concept_stage must be in 0\.\.3"):
        generate(10, concept_stage=4)
