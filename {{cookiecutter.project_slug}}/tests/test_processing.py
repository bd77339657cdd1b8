import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.components.processing.preprocess import (
    encode_target,
    fit,
    inference_ids,
    row_keys,
    split,
    to_training_matrix,
    transform,
)
from {{ cookiecutter.package_name }}.data_schema import (
    DataSchema,
)
from {{ cookiecutter.package_name }}.sample_data import (
    generate,
)

PINNED_KEYS = [0.066876, 0.065594, 0.254399]


@pytest.fixture
def fitted(sample, target, problem_type):
    return fit(sample, target, problem_type, max_categories=50)


def test_fit_learns_kinds_categories_and_missing_rates(fitted, sample, target):
    schema, _ = fitted
    assert target not in schema.feature_names
    assert schema.feature_names == [c for c in sample.columns if c != target]
    for feature in schema.features:
        column = sample[feature.name]
        expected = "numeric" if pd.api.types.is_numeric_dtype(column) else "categorical"
        assert feature.kind == expected
        assert feature.missing_fraction == pytest.approx(column.isna().mean())
        if feature.kind == "categorical":
            assert set(feature.categories) == set(column.dropna())


def test_schema_round_trips_through_json(fitted, tmp_path):
    schema, _ = fitted
    schema.save(tmp_path / "schema.json")
    assert DataSchema.load(tmp_path / "schema.json") == schema


def test_transform_keeps_row_order_and_encodes_by_learned_categories(fitted, sample, target):
    schema, _ = fitted
    shuffled = sample.sample(frac=1.0, random_state=1).drop(columns=[target])
    features, report = transform(shuffled, schema)
    assert list(features.index) == list(shuffled.index)
    assert list(features.columns) == schema.feature_names
    for feature in schema.features:
        if feature.kind == "categorical":
            categories = feature.categories
            decoded = features[feature.name].map(lambda code, c=categories: None if np.isnan(code) else c[int(code)])
            original = shuffled[feature.name].astype(object)
            assert decoded.fillna("<NA>").tolist() == original.fillna("<NA>").tolist()
    assert report.unseen_categories == {}


def test_transform_re_learns_nothing(fitted, sample, target):
    schema, _ = fitted
    first_rows, _ = transform(sample.head(10), schema)
    all_rows, _ = transform(sample, schema)
    pd.testing.assert_frame_equal(first_rows, all_rows.head(10))


def test_unseen_category_becomes_missing_and_is_counted(fitted, sample, target):
    schema, _ = fitted
    categorical = next(f.name for f in schema.features if f.kind == "categorical")
    production = sample.drop(columns=[target]).head(5).copy()
    production.loc[production.index[0], categorical] = "never-seen-before"
    features, report = transform(production, schema)
    assert np.isnan(features[categorical].iloc[0])
    assert report.unseen_categories == {categorical: 1}


def test_serve_rejects_csv_with_missing_column(fitted, sample, target):
    schema, _ = fitted
    dropped = schema.feature_names[0]
    with pytest.raises(ValueError, match=f"'{dropped}'.*missing"):
        transform(sample.drop(columns=[target, dropped]), schema)


def test_extra_columns_are_reported_and_ignored(fitted, sample, target):
    schema, _ = fitted
    features, report = transform(sample.assign(unexpected=1), schema)
    assert report.ignored_columns == ["unexpected"]
    assert "unexpected" not in features


def test_text_in_numeric_column_is_a_clear_error(fitted, sample, target):
    schema, _ = fitted
    numeric = next(f.name for f in schema.features if f.kind == "numeric")
    broken = sample.drop(columns=[target]).head(3).astype({numeric: object})
    broken.loc[broken.index[1], numeric] = "n/a-ish"
    with pytest.raises(ValueError, match=f"'{numeric}' is numeric.*n/a-ish"):
        transform(broken, schema)


def test_split_is_reproducible_and_stratified_in_expectation(fitted, problem_type):
    schema, labelled = fitted
    train_a, validation_a = split(labelled, schema, 0.2, seed=42)
    _, validation_b = split(labelled, schema, 0.2, seed=42)
    pd.testing.assert_frame_equal(validation_a, validation_b)
    assert len(train_a) + len(validation_a) == len(labelled)
    # Each row on its own: within four standard deviations of the binomial count.
    spread = 4 * (len(labelled) * 0.2 * 0.8) ** 0.5
    assert len(validation_a) == pytest.approx(0.2 * len(labelled), abs=spread)
    if problem_type != "regression":
        share_all = labelled[schema.target].value_counts(normalize=True)
        share_validation = validation_a[schema.target].value_counts(normalize=True)
        assert (share_all - share_validation).abs().max() < 0.04
    _, other_seed = split(labelled, schema, 0.2, seed=7)
    assert not other_seed.equals(validation_a), "the seed picks another split"


def test_a_row_keeps_its_side_of_the_split_when_the_data_grows(fitted, sample, target, problem_type):
    """What lets the gate score the champion on validation rows it never trained on: a grown set moves no row."""
    schema, labelled = fitted
    _, before = split(labelled, schema, 0.2, seed=42)
    grown = pd.concat([labelled, generate(800, target_column=target, problem_type=problem_type, seed=99)])
    grown_schema, grown_rows = fit(grown.reset_index(drop=True), target, problem_type)
    train, after = split(grown_rows, grown_schema, 0.2, seed=42)
    columns = list(labelled.columns)
    key = lambda frame: set(map(tuple, frame[columns].astype(str).to_numpy()))  # noqa: E731
    assert key(before) <= key(after), "a validation row of the smaller set stays in validation"
    assert not key(before) & key(train)


def test_row_keys_are_pinned():
    """pandas' hashing decides each row's side: a change in it would move rows between train and validation once."""
    frame = pd.DataFrame({"a": [1.5, None, 3.0], "b": ["x", "y", None], "c": [1, 2, 3]})
    assert row_keys(frame, 42).round(6).tolist() == PINNED_KEYS


def test_rows_without_target_are_dropped_at_fit(sample, target, problem_type):
    with_missing = sample.copy()
    with_missing.loc[with_missing.index[:10], target] = None
    _, labelled = fit(with_missing, target, problem_type)
    assert len(labelled) == len(sample) - 10


def test_training_matrix_puts_target_first(fitted):
    schema, labelled = fitted
    matrix = to_training_matrix(labelled, schema)
    assert matrix.columns[0] == schema.target
    pd.testing.assert_series_equal(matrix.iloc[:, 0], encode_target(labelled[schema.target], schema), check_names=False)


def test_wrong_problem_type_is_explained(sample, target, problem_type):
    if problem_type == "regression":
        frame = sample.assign(**{target: ["a", "b", "c"] * (len(sample) // 3)})
        with pytest.raises(ValueError, match="must be numeric for regression"):
            fit(frame, target, problem_type)
    else:
        frame = sample.assign(**{target: "only-one"})
        with pytest.raises(ValueError, match="classes"):
            fit(frame, target, problem_type)


def test_all_missing_column_is_rejected_at_fit(sample, target, problem_type):
    with pytest.raises(ValueError, match="'empty' has no values"):
        fit(sample.assign(empty=np.nan), target, problem_type)


def test_an_all_empty_target_is_named_as_the_target(sample, target, problem_type):
    with pytest.raises(ValueError, match=f"Target column '{target}' has no values"):
        fit(sample.assign(**{target: np.nan}), target, problem_type)


def test_constant_and_identifier_like_columns_are_warned_about_and_kept(sample, target, problem_type):
    data = sample.assign(region="EU", order_ref=[f"R-{i:06d}" for i in range(len(sample))])
    schema, _ = fit(data, target, problem_type)
    warnings = "\n".join(schema.warnings)
    assert "Column 'region' is constant in the training data ('EU')" in warnings
    assert "Column 'order_ref' looks like an identifier" in warnings and "data.id_columns" in warnings
    assert {"region", "order_ref"} <= set(schema.feature_names), "warned about, not silently dropped"
    assert len(schema.warnings) == 2, "the sample's own columns are neither"
    listed, _ = fit(data, target, problem_type, id_columns=["order_ref"])
    assert "order_ref" not in listed.feature_names and len(listed.warnings) == 1


def test_inference_ids_name_the_execution_the_file_and_the_row():
    frame = pd.DataFrame({"x": [1, 2, 3]})
    assert inference_ids(frame, [], "day/batch.csv", 11, prefix="exec42").tolist() == [
        "exec42:day/batch.csv:11",
        "exec42:day/batch.csv:12",
        "exec42:day/batch.csv:13",
    ]
    assert inference_ids(frame, [], 'odd,"name".csv', 1, prefix="e")[0] == "e:odd__name_.csv:1"  # written unquoted


def test_inference_ids_come_from_the_id_columns_when_set():
    frame = pd.DataFrame({"customer": ["c1", "c2"], "month": [202601, 202602], "x": [0.5, 0.25]})
    assert inference_ids(frame, ["customer"], "b.csv", 1).tolist() == ["c1", "c2"]
    assert inference_ids(frame, ["customer", "month"], "b.csv", 1).tolist() == ["c1|202601", "c2|202602"]


@pytest.mark.parametrize(
    ("values", "message"),
    [(["c1", None], "Row 6 of b.csv has no value"), (["c1", "a,b"], "Row 6 of b.csv: its id 'a,b' holds a comma")],
    ids=["missing", "comma"],
)
def test_an_unusable_id_names_its_row(values, message):
    with pytest.raises(ValueError, match=message):
        inference_ids(pd.DataFrame({"customer": values}), ["customer"], "b.csv", 5)


def test_the_positive_class_is_the_one_config_names_and_its_probability_is_reported():
    """data.positive_class decides which class's probability the model reports; unset, the label that sorts last."""
    from {{ cookiecutter.package_name }}.components.algorithm.model import fit as train
    from {{ cookiecutter.package_name }}.components.algorithm.model import predict

    rng = np.random.default_rng(0)
    signal = rng.uniform(size=400)
    frame = pd.DataFrame({"signal": signal, "outcome": np.where(signal > 0.5, "approved", "denied")})
    schemas = {}
    for positive in (None, "approved", "denied"):
        schema, labelled = fit(frame, "outcome", "binary_classification", positive_class=positive)
        schemas[positive] = schema
        model = train(to_training_matrix(labelled, schema), schema, {"max_iter": "20"}, "hist_gradient_boosting")
        high = predict(model, np.array([[0.95]]))
        assert high["label"].iloc[0] == "approved"
        reported_low = positive != "approved"  # P(denied): "denied" sorts last, so it is the default
        assert (high["probability"].iloc[0] < 0.5) == reported_low, (positive, high)
    assert schemas[None].classes == ["approved", "denied"] and schemas["approved"].classes == ["denied", "approved"]
    with pytest.raises(ValueError, match=r"data.positive_class is 'yes', but target column 'outcome' holds"):
        fit(frame, "outcome", "binary_classification", positive_class="yes")


def test_a_positive_class_outside_binary_classification_is_refused(config):
    import copy

    from {{ cookiecutter.package_name }}.config import ConfigError, validate_config

    changed = copy.deepcopy(config)
    changed["data"]["problem_type"] = "regression"
    changed["data"]["positive_class"] = "yes"
    with pytest.raises(ConfigError, match="only binary_classification has a positive class"):
        validate_config(changed)
