"""Model quality: metrics as scikit-learn computes them, Model Monitor's formats, the join with late labels."""

import json
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from {{ cookiecutter.package_name }} import model_metrics
from {{ cookiecutter.package_name }}.components.monitoring import model_quality as quality
from {{ cookiecutter.package_name }}.components.monitoring.model_quality import Window
from {{ cookiecutter.package_name }}.model_metrics import Outcomes


def binary_outcomes(n=2000, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    score = rng.uniform(size=n)
    if ties:
        score = np.round(score, 1)  # many tied scores: the AUC must count ties as scikit-learn does
    truth = (rng.uniform(size=n) < score).astype(int)
    return Outcomes("binary_classification", truth, (score > 0.5).astype(int), score, ["no", "yes"])


@pytest.mark.parametrize("ties", [False, True], ids=["distinct-scores", "tied-scores"])
def test_binary_metrics_match_scikit_learn(ties):
    o = binary_outcomes(ties=ties)
    ours = model_metrics.metric_values(o)
    assert ours["auc"] == pytest.approx(sk.roc_auc_score(o.truth, o.score), abs=1e-12)
    assert ours["accuracy"] == pytest.approx(sk.accuracy_score(o.truth, o.predicted))
    assert ours["precision"] == pytest.approx(sk.precision_score(o.truth, o.predicted))
    assert ours["recall"] == pytest.approx(sk.recall_score(o.truth, o.predicted))
    assert ours["f1"] == pytest.approx(sk.f1_score(o.truth, o.predicted))
    assert ours["log_loss"] == pytest.approx(sk.log_loss(o.truth, o.score), rel=1e-9)


def test_multiclass_metrics_match_scikit_learn():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 3, 1500)
    predicted = np.where(rng.uniform(size=1500) < 0.7, truth, rng.integers(0, 3, 1500))
    o = Outcomes("multiclass_classification", truth, predicted, None, ["a", "b", "c"])
    ours = model_metrics.metric_values(o)
    assert ours["accuracy"] == pytest.approx(sk.accuracy_score(truth, predicted))
    assert ours["weighted_f1"] == pytest.approx(sk.f1_score(truth, predicted, average="weighted"))


def test_regression_metrics_match_scikit_learn():
    rng = np.random.default_rng(2)
    truth = rng.normal(50, 10, 1000)
    predicted = truth + rng.normal(0, 3, 1000)
    ours = model_metrics.metric_values(Outcomes("regression", truth, predicted))
    assert ours["mae"] == pytest.approx(sk.mean_absolute_error(truth, predicted))
    assert ours["rmse"] == pytest.approx(sk.root_mean_squared_error(truth, predicted))
    assert ours["r2"] == pytest.approx(sk.r2_score(truth, predicted))


def test_best_constant_predictors_are_what_a_constant_scores():
    o = binary_outcomes()
    constant = model_metrics.best_constant(o)
    majority = int(o.truth.mean() >= 0.5)
    assert constant["accuracy"] == pytest.approx(sk.accuracy_score(o.truth, np.full(len(o), majority)))
    assert constant["recall"] == 1.0  # all positive
    assert constant["auc"] == 0.5
    assert constant["log_loss"] == pytest.approx(sk.log_loss(o.truth, np.full(len(o), o.truth.mean())))
    truth = np.array([1.0, 2.0, 3.0, 10.0])
    regression = model_metrics.best_constant(Outcomes("regression", truth, truth))
    assert regression == {
        "mae": pytest.approx(sk.mean_absolute_error(truth, np.full(4, np.median(truth)))),
        "rmse": pytest.approx(np.std(truth)),
        "r2": 0.0,
    }


def test_statistics_are_model_monitors_format_with_bootstrap_intervals():
    o = binary_outcomes(n=1000)
    when = datetime(2026, 1, 2, 3, tzinfo=UTC)
    statistics = json.loads(json.dumps(model_metrics.quality_statistics(o, when)))  # plain JSON throughout
    assert statistics["version"] == 0.0
    assert statistics["dataset"] == {"item_count": 1000, "evaluation_time": when.isoformat()}
    metrics = statistics["binary_classification_metrics"]
    for name in ("auc", "accuracy", "precision", "recall", "f1", "log_loss"):
        entry = metrics[name]
        assert set(entry) == {"value", "standard_deviation", "confidence_interval"}
        interval = entry["confidence_interval"]
        assert interval["lower"] <= entry["value"] <= interval["upper"] and interval["level"] == 0.95
        assert 0 < entry["standard_deviation"] < 0.1
        assert set(metrics[f"{name}_best_constant_classifier"]) == {"value", "standard_deviation"}
    matrix = metrics["confusion_matrix"]
    assert matrix["yes"]["yes"] == int(np.sum((o.truth == 1) & (o.predicted == 1)))
    assert matrix["no"]["yes"] == int(np.sum((o.truth == 0) & (o.predicted == 1)))
    assert model_metrics.quality_statistics(o, when) == model_metrics.quality_statistics(o, when), (
        "seeded: reproducible"
    )


def test_fewer_than_200_rows_give_no_spread_as_model_monitor_does():
    statistics = model_metrics.quality_statistics(binary_outcomes(n=150), datetime.now(UTC))
    auc = statistics["binary_classification_metrics"]["auc"]
    assert auc["standard_deviation"] == "NaN" and "confidence_interval" not in auc


@pytest.mark.parametrize(
    ("problem_type", "validation", "expected"),
    [
        (
            "binary_classification",
            {"auc": 0.8, "accuracy": 0.75, "f1": 0.6, "log_loss": 0.5},
            {
                "auc": (0.72, "LessThanThreshold"),
                "accuracy": (0.675, "LessThanThreshold"),
                "f1": (0.54, "LessThanThreshold"),
                "log_loss": (0.55, "GreaterThanThreshold"),
            },
        ),
        (
            "regression",
            {"rmse": 10.0, "mae": 8.0, "r2": 0.5},
            {
                "rmse": (11.0, "GreaterThanThreshold"),
                "mae": (8.8, "GreaterThanThreshold"),
                "r2": (0.4, "LessThanThreshold"),
            },
        ),
    ],
)
def test_constraints_come_from_validation_metrics_with_the_operator_of_their_direction(
    problem_type, validation, expected
):
    constraints = model_metrics.derive_constraints(problem_type, validation, tolerance=0.1)
    section = constraints[f"{problem_type}_constraints"]
    assert {k: (pytest.approx(v["threshold"]), v["comparison_operator"]) for k, v in section.items()} == expected
    assert constraints["version"] == 0.0


def imbalanced_outcomes(problem_type, n=3000, seed=7):
    """A weak model on a target where one answer dominates: a constant scores nearly as well."""
    rng = np.random.default_rng(seed)
    if problem_type == "binary_classification":
        truth = (rng.uniform(size=n) < 0.09).astype(int)
        score = np.clip(0.05 + 0.5 * truth * rng.uniform(size=n) + 0.1 * rng.uniform(size=n), 0, 1)
        return Outcomes(problem_type, truth, (score > 0.5).astype(int), score, ["no", "yes"])
    if problem_type == "multiclass_classification":
        truth = rng.choice(3, n, p=[0.9, 0.06, 0.04])
        predicted = np.where(rng.uniform(size=n) < 0.8, truth, 0)
        return Outcomes(problem_type, truth, predicted, None, ["a", "b", "c"])
    truth = np.where(rng.uniform(size=n) < 0.95, 10.0, 100.0) + rng.normal(0, 1, n)
    return Outcomes(problem_type, truth, truth + rng.normal(0, 12, n))


@pytest.mark.parametrize("problem_type", ["binary_classification", "multiclass_classification", "regression"])
@pytest.mark.parametrize("tolerance", [0.1, 0.5])
def test_no_derived_limit_accepts_what_the_best_constant_predictor_achieves(problem_type, tolerance):
    outcomes = imbalanced_outcomes(problem_type)
    values, constant = model_metrics.metric_values(outcomes), model_metrics.best_constant(outcomes)
    derived = model_metrics.derive_constraints(problem_type, values, tolerance, constant)
    limits = derived[f"{problem_type}_constraints"]
    margin = model_metrics.CONSTANT_MARGIN
    for name, higher_is_better in model_metrics.METRICS[problem_type].items():
        if name in limits:
            floor = constant[name] + margin if higher_is_better else constant[name] * (1 - margin)
            assert limits[name]["threshold"] >= floor if higher_is_better else limits[name]["threshold"] <= floor
        else:  # only a metric on which the model itself does not beat the constant goes without a limit
            assert "best constant" in derived["unconstrained"][name]
            assert values[name] < constant[name] + margin if higher_is_better else values[name] > constant[name]
    assert limits, "some metric keeps a limit"


def test_a_limit_below_the_best_constant_is_raised_to_beat_it():
    """The mortgage table: accuracy 0.9265 against a constant's 0.9034 once passed with a limit of 0.8102."""
    derived = model_metrics.derive_constraints(
        "binary_classification", {"accuracy": 0.9265, "auc": 0.80}, 0.1, {"accuracy": 0.9034, "auc": 0.5}
    )
    limits = derived["binary_classification_constraints"]
    assert limits["accuracy"]["threshold"] == pytest.approx(0.9134)
    assert limits["auc"]["threshold"] == pytest.approx(0.72)  # well above the constant's: as derived


def test_violations_name_each_broken_constraint_in_model_monitors_format():
    o = binary_outcomes(n=500)
    statistics = model_metrics.quality_statistics(o, datetime.now(UTC))
    actual = statistics["binary_classification_metrics"]
    constraints = model_metrics.derive_constraints(
        "binary_classification",
        {"auc": actual["auc"]["value"] * 1.5, "accuracy": actual["accuracy"]["value"] * 0.5, "log_loss": 0.01},
        tolerance=0.0,
    )
    violations = model_metrics.check_constraints(statistics, constraints)
    assert [v["metric_name"] for v in violations] == ["auc", "log_loss"]
    for violation in violations:
        assert set(violation) == {"constraint_check_type", "description", "metric_name"}
    assert violations[0]["constraint_check_type"] == "LessThanThreshold"
    assert violations[1]["constraint_check_type"] == "GreaterThanThreshold"
    assert violations[0]["description"].startswith("Metric auc with ")
    assert (
        model_metrics.check_constraints(statistics, model_metrics.derive_constraints("binary_classification", {}, 0.1))
        == []
    )


def test_a_violation_must_hold_for_the_whole_confidence_interval():
    o = binary_outcomes(n=500)
    statistics = model_metrics.quality_statistics(o, datetime.now(UTC))
    auc = statistics["binary_classification_metrics"]["auc"]
    lower, upper = auc["confidence_interval"]["lower"], auc["confidence_interval"]["upper"]
    assert lower < auc["value"] < upper

    def rule(threshold):
        return {
            "binary_classification_constraints": {
                "auc": {"threshold": threshold, "comparison_operator": "LessThanThreshold"}
            }
        }

    # The value is below the threshold, but the interval reaches above it: sampling noise, no violation.
    assert model_metrics.check_constraints(statistics, rule((auc["value"] + upper) / 2)) == []
    (violation,) = model_metrics.check_constraints(statistics, rule(upper + 0.001))
    assert "95% interval" in violation["description"]
    # Without an interval (fewer than 200 rows) the value itself decides.
    small = model_metrics.quality_statistics(binary_outcomes(n=100), datetime.now(UTC))
    value = small["binary_classification_metrics"]["auc"]["value"]
    assert model_metrics.check_constraints(small, rule(value + 0.001))
    assert not model_metrics.check_constraints(small, rule(value - 0.001))


def judged_window(minimum: int, threshold_above_auc: float = 0.01):
    """120 labelled binary rows judged with quality.min_labelled_rows = `minimum`, against one rule on AUC
    `threshold_above_auc` above the window's own AUC (a point value that breaks it); and that AUC."""
    from types import SimpleNamespace

    o = binary_outcomes(n=120, seed=3)
    ids = [f"id-{i}" for i in range(len(o))]
    predictions = scored(ids, [5] * len(o)).assign(
        run_id="run-1", label=np.asarray(["no", "yes"])[o.predicted], probability=o.score
    )
    labels = landed(ids, np.asarray(["no", "yes"])[o.truth], [1] * len(o))
    auc = model_metrics.metric_values(o)["auc"]
    rule = {"threshold": auc + threshold_above_auc, "comparison_operator": "LessThanThreshold"}
    constraints = {"binary_classification_constraints": {"auc": rule}}
    schema = SimpleNamespace(problem_type="binary_classification", classes=["no", "yes"])
    return quality.judge(predictions, labels, [], window(), schema, "churn", constraints, minimum), constraints, auc


def test_a_verdict_on_fewer_than_200_rows_still_needs_the_whole_interval_to_break_a_constraint():
    """A team that lowers quality.min_labelled_rows below 200 still gets verdicts that noise alone cannot break."""
    for minimum in (100, 120):
        judgement, _, auc = judged_window(minimum)
        entry = judgement.statistics["binary_classification_metrics"]["auc"]
        assert judgement.summary["judged"] and entry["value"] == pytest.approx(auc)
        assert entry["confidence_interval"]["upper"] > auc + 0.01, "the interval reaches the threshold"
        assert judgement.violations == [] and judgement.summary["violated"] is False, minimum


def verdicts(html: str) -> dict[str, str]:
    """The metrics table's verdict per metric, from a quality report."""
    table = html.split("<h2>Metrics</h2>", 1)[1].split("</table>", 1)[0]
    rows = [re.findall(r"<td>(.*?)</td>", row) for row in table.split("<tr>")[1:]]
    return {cells[0]: re.sub(r"<[^>]+>", "", cells[-1]) for cells in rows if cells}


def test_the_reports_verdicts_say_not_judged_when_nothing_was_and_nothing_where_no_rule_applies():
    from {{ cookiecutter.package_name }}.components.monitoring.model_quality_report import render_quality_report

    unjudged, constraints, _ = judged_window(minimum=200)
    assert not unjudged.summary["judged"]
    html = render_quality_report(unjudged.summary, unjudged.statistics, constraints, unjudged.outcomes)
    assert set(verdicts(html).values()) == {"not judged"}, verdicts(html)
    broken, constraints, _ = judged_window(minimum=100, threshold_above_auc=0.5)
    html = render_quality_report(broken.summary, broken.statistics, constraints, broken.outcomes)
    assert verdicts(html)["auc"] == "violated" and verdicts(html)["accuracy"] == "-", verdicts(html)


NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def scored(ids, hours_ago):
    return pd.DataFrame({"inference_id": ids, "scored_at": [NOW - timedelta(hours=h) for h in hours_ago]})


def landed(ids, values, hours_ago):
    return pd.DataFrame(
        {"inference_id": ids, "churn": values, "arrived_at": [NOW - timedelta(hours=h) for h in hours_ago]}
    )


def window(start="-P2D", end="-PT0H"):
    return Window(NOW, quality.parse_offset(start), quality.parse_offset(end))


def test_late_labels_count_once_they_have_landed_and_give_the_delay():
    predictions = scored(["a", "b", "c"], [40, 30, 20])
    labels = landed(["a", "b", "c"], ["yes", "no", "yes"], [39, 6, -1])  # c lands after the job's time
    joined, report = quality.join_labels(predictions, labels, "churn", window())
    assert sorted(joined["inference_id"]) == ["a", "b"]
    assert report["coverage"] == pytest.approx(2 / 3)
    assert report["label_delay_hours"]["max"] == pytest.approx(24.0)
    assert report["label_delay_hours"]["median"] == pytest.approx(12.5)


def test_an_id_scored_twice_is_counted_and_its_label_judges_both_predictions():
    predictions = scored(["a", "a", "b"], [30, 10, 10])
    labels = landed(["a", "b"], ["yes", "no"], [5, 5])
    joined, report = quality.join_labels(predictions, labels, "churn", window())
    assert report["predictions_sharing_an_id"] == 2
    assert sorted(joined["inference_id"]) == ["a", "a", "b"] and report["coverage"] == 1.0


def test_a_label_dated_by_the_hour_of_its_scoring_has_no_negative_delay():
    predictions = scored(["a"], [0.5])  # scored at 11:30
    labels = landed(["a"], ["yes"], [1])  # in the 11:00 folder
    _, report = quality.join_labels(predictions, labels, "churn", window())
    assert report["label_delay_hours"] == {"median": 0.0, "p90": 0.0, "max": 0.0}


def test_a_label_sent_twice_keeps_its_latest_arrival():
    joined, report = quality.join_labels(
        scored(["a"], [10]), landed(["a", "a", "a"], ["no", "yes", "no"], [9, 2, 5]), "churn", window()
    )
    assert joined["churn"].tolist() == ["yes"] and report["duplicate_labels"] == 2


def test_labels_for_unknown_ids_and_empty_labels_are_counted_and_left_out():
    joined, report = quality.join_labels(
        scored(["a", "b"], [10, 10]), landed(["a", "zzz", "b"], ["yes", "no", None], [1, 1, 1]), "churn", window()
    )
    assert joined["inference_id"].tolist() == ["a"]
    assert (report["labels_for_unknown_ids"], report["empty_labels"], report["coverage"]) == (1, 1, 0.5)


def test_the_window_selects_by_scoring_time_with_model_monitors_offsets():
    predictions = scored(["old", "in", "recent"], [80, 30, 2])
    labels = landed(["old", "in", "recent"], ["yes"] * 3, [0, 0, 0])
    joined, report = quality.join_labels(predictions, labels, "churn", window("-P3D", "-PT6H"))
    assert joined["inference_id"].tolist() == ["in"]
    assert report["predictions_in_window"] == 1 and report["labels_for_unknown_ids"] == 0
    assert report["window"] == {
        "start": (NOW - timedelta(days=3)).isoformat(),
        "end": (NOW - timedelta(hours=6)).isoformat(),
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-P1D", -timedelta(days=1)),
        ("-PT6H", -timedelta(hours=6)),
        ("-P1DT12H", -timedelta(hours=36)),
        ("PT0H", timedelta(0)),
        ("-PT30M", -timedelta(minutes=30)),
    ],
)
def test_offsets_are_iso_durations(text, expected):
    assert quality.parse_offset(text) == expected


@pytest.mark.parametrize("text", ["1D", "-P", "yesterday", "-P1W"])
def test_a_bad_offset_is_refused_with_examples(text):
    with pytest.raises(ValueError, match="not an offset like -P1D"):
        quality.parse_offset(text)


def _labels_file(tmp_path, text, name="labels.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_labels_land_under_their_arrival_hour_and_twice_is_once(tmp_path, config):
    from {{ cookiecutter.package_name }}.local.commands import land_labels
    from {{ cookiecutter.package_name }}.local.workspace import Workspace

    target = config["data"]["target_column"]
    value = "1.5" if config["data"]["problem_type"] == "regression" else "yes"
    workspace = Workspace(tmp_path / "ws")
    first = _labels_file(tmp_path, f"inference_id,{target}\nrun:a.csv:1,{value}\nrun:a.csv:2,{value}\n")
    when = datetime(2026, 3, 10, 14, 25, tzinfo=UTC)
    landed_once = land_labels(first, config, "dev", workspace, now=when)
    assert landed_once["rows"] == 2 and landed_once["arrived_at"] == when.isoformat()
    assert "/labels/2026/03/10/14/labels-" in landed_once["uri"]
    assert land_labels(first, config, "dev", workspace, now=when + timedelta(minutes=20))["uri"] == landed_once["uri"]
    second = _labels_file(tmp_path, f"inference_id,{target}\nrun:b.csv:1,{value}\n", "more.csv")
    land_labels(second, config, "dev", workspace, now=when)
    hour = workspace.path(landed_once["uri"]).parent
    assert len([p for p in hour.iterdir() if p.is_file()]) == 2  # both files kept, no partial left
    assert workspace.path(landed_once["uri"]).read_bytes() == first.read_bytes()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,{target}\na,1\n", "a labels file has exactly inference_id,{target}"),
        ("inference_id,{target},extra\na,1,2\n", "a labels file has exactly"),
        ("inference_id,{target}\n,1\n", "line 2: no inference_id"),
        ("inference_id,{target}\na,1\nb\n", "line 3: 1 field"),
    ],
    ids=["wrong-id-column", "extra-column", "row-without-id", "ragged-row"],
)
def test_a_bad_labels_file_is_refused_with_what_to_fix_and_lands_nothing(tmp_path, config, text, message):
    from {{ cookiecutter.package_name }}.local.commands import land_labels
    from {{ cookiecutter.package_name }}.local.workspace import Workspace

    target = config["data"]["target_column"]
    workspace = Workspace(tmp_path / "ws")
    path = _labels_file(tmp_path, text.format(target=target))
    with pytest.raises(ValueError, match=message.format(target=target)):
        land_labels(path, config, "dev", workspace)
    assert not list((tmp_path / "ws").rglob("labels-*"))


def test_a_regression_label_must_be_a_number(tmp_path):
    path = _labels_file(tmp_path, "inference_id,price\na,1.5\nb,cheap\n")
    with pytest.raises(ValueError, match=r"line 3: 'cheap' is not a number"):
        quality.read_labels(path, "price", "regression")
    empty = _labels_file(tmp_path, "inference_id,price\na,\n", "empty.csv")
    assert quality.read_labels(empty, "price", "regression")["price"].isna().all()  # kept: the quality job counts it
