import copy
import json
import re

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.components.monitoring.__main__ import (
    apply_threshold_overrides,
)
from {{ cookiecutter.package_name }}.components.monitoring.baseline import (
    build_baseline,
)
from {{ cookiecutter.package_name }}.components.monitoring.drift import (
    compare,
)
from {{ cookiecutter.package_name }}.components.monitoring.summary import (
    CategoricalSummary,
    NumericSummary,
    empty_templates,
    merge_all,
    summarize,
)
from {{ cookiecutter.package_name }}.sample_data import (
    generate,
)


@pytest.fixture(scope="module")
def baseline(config):
    data = config["data"]
    training = generate(20000, target_column=data["target_column"], problem_type=data["problem_type"], seed=11)
    return build_baseline(training, excluded_columns=[data["target_column"]], settings=config["monitoring"])


def judge(production: pd.DataFrame, baseline):
    statistics, constraints = baseline
    summaries = summarize(production, empty_templates(statistics))
    return compare(summaries, list(production.columns), statistics, constraints)


def test_statistics_follow_model_monitor_format(baseline):
    statistics, constraints = baseline
    assert statistics["dataset"]["item_count"] == 20000
    for feature in statistics["features"]:
        assert feature["inferred_type"] in {"Integral", "Fractional", "String"}
        if feature["inferred_type"] == "String":
            stats = feature["string_statistics"]
            assert {"common", "distinct_count", "distribution"} <= set(stats)
            assert (
                sum(b["count"] for b in stats["distribution"]["categorical"]["buckets"])
                == stats["common"]["num_present"]
            )
        else:
            stats = feature["numerical_statistics"]
            assert {"common", "mean", "sum", "std_dev", "min", "max", "distribution"} <= set(stats)
            buckets = stats["distribution"]["kll"]["buckets"]
            assert sum(b["count"] for b in buckets) == stats["common"]["num_present"]
            assert buckets[0]["lower_bound"] == stats["min"] and buckets[-1]["upper_bound"] == stats["max"]
    config = constraints["monitoring_config"]["distribution_constraints"]
    assert config["comparison_method"] == "Robust"
    assert [f["name"] for f in constraints["features"]] == [f["name"] for f in statistics["features"]]
    assert all(0 < f["completeness"] <= 1 for f in constraints["features"])
    json.dumps(statistics), json.dumps(constraints)


@pytest.mark.parametrize("rows", [20, 100, 1000, 20000])
def test_no_false_alarm_on_undrifted_samples_of_any_size(baseline, rows):
    alarms = 0
    for seed in range(8):
        _, drift, _ = judge(generate(rows, seed=1000 + seed, drift_stage=0), baseline)
        alarms += drift["drift_detected"]
    assert alarms == 0


def test_shifted_mean_is_detected_in_that_feature(baseline):
    production = generate(2000, seed=21)
    production["monthly_charges"] = production["monthly_charges"] + 15
    violations, drift, _ = judge(production, baseline)
    assert drift["drifted_features"] == ["monthly_charges"]
    assert any(v["constraint_check_type"] == "baseline_drift_check" for v in violations)


def test_drift_stages_are_detected_and_grow(baseline):
    counts = [len(judge(generate(2000, seed=30, drift_stage=s), baseline)[1]["drifted_features"]) for s in range(6)]
    assert counts[0] == 0
    assert counts[5] >= 4
    assert counts == sorted(counts)


def test_new_category_is_a_violation_and_drift(baseline):
    production = generate(2000, seed=22)
    production.loc[production.index[:400], "payment_method"] = "barter"
    violations, drift, _ = judge(production, baseline)
    assert "payment_method" in drift["drifted_features"]
    assert drift["features"]["payment_method"]["unseen_values"] == {"barter": 400}
    assert any(
        v["constraint_check_type"] == "categorical_values_check" and "barter" in v["description"] for v in violations
    )


def test_more_missing_values_is_a_completeness_violation(baseline):
    production = generate(2000, seed=23)
    production.loc[production.index[:600], "tenure_months"] = np.nan
    violations, drift, _ = judge(production, baseline)
    assert "tenure_months" in drift["drifted_features"]
    assert any(
        v["feature_name"] == "tenure_months" and v["constraint_check_type"] == "completeness_check" for v in violations
    )
    assert drift["features"]["tenure_months"]["drift_reasons"] == ["missing values"]


def test_all_nan_column_is_recorded_not_crashed(baseline):
    production = generate(500, seed=24).assign(monthly_charges=np.nan)
    _, drift, _ = judge(production, baseline)
    assert "monthly_charges" in drift["drifted_features"]
    assert drift["features"]["monthly_charges"]["production_missing_fraction"] == 1.0


def test_missing_and_extra_columns_are_violations(baseline):
    production = generate(500, seed=25).drop(columns=["age"]).assign(surprise=1)
    violations, drift, _ = judge(production, baseline)
    checks = {(v["feature_name"], v["constraint_check_type"]) for v in violations}
    assert ("age", "missing_column_check") in checks
    assert ("surprise", "extra_column_check") in checks
    assert drift["missing_columns"] == ["age"]


def test_text_in_numeric_column_is_a_data_type_violation(baseline):
    production = generate(200, seed=26).astype({"age": object})
    production.loc[production.index[:5], "age"] = "unknown"
    violations, _, _ = judge(production, baseline)
    assert any(v["feature_name"] == "age" and v["constraint_check_type"] == "data_type_check" for v in violations)


def test_target_column_in_production_is_not_an_extra_column(baseline, target):
    violations, _, _ = judge(generate(300, seed=27, target_column=target), baseline)
    assert not [v for v in violations if v["constraint_check_type"] == "extra_column_check"]


def test_shards_merge_to_the_single_pass_decision(baseline):
    statistics, constraints = baseline
    production = generate(3000, seed=28, drift_stage=3)
    whole = summarize(production, empty_templates(statistics))
    shards = [summarize(production.iloc[i::7], empty_templates(statistics)) for i in range(7)]
    merged = merge_all(shards)
    columns = list(production.columns)
    violations, drift, _ = compare(merged, columns, statistics, constraints)
    assert (violations, drift) == compare(whole, columns, statistics, constraints)[:2]
    assert drift["drift_detected"]


def test_threshold_overrides_replace_recorded_values_and_are_checked(baseline):
    _, constraints = baseline
    changed = apply_threshold_overrides(copy.deepcopy(constraints), {"DRIFT_COMPARISON_THRESHOLD": "0.3"})
    assert changed["monitoring_config"]["distribution_constraints"]["comparison_threshold"] == 0.3
    unchanged = apply_threshold_overrides(copy.deepcopy(constraints), {"DRIFT_COMPARISON_THRESHOLD": " "})
    assert unchanged == constraints
    with pytest.raises(Exception, match=r"DRIFT_SIGNIFICANCE_LEVEL=0\.5 is outside"):
        apply_threshold_overrides(copy.deepcopy(constraints), {"DRIFT_SIGNIFICANCE_LEVEL": "0.5"})
    with pytest.raises(Exception, match="is not a number"):
        apply_threshold_overrides(copy.deepcopy(constraints), {"DRIFT_COMPARISON_THRESHOLD": "high"})


def test_integer_features_get_bins_on_observed_values(baseline):
    statistics, _ = baseline
    calls = next(f for f in statistics["features"] if f["name"] == "support_calls")
    bounds = [b["lower_bound"] for b in calls["numerical_statistics"]["distribution"]["kll"]["buckets"]]
    assert all(float(b).is_integer() for b in bounds)
    assert all(b["count"] > 0 for b in calls["numerical_statistics"]["distribution"]["kll"]["buckets"][:-1])


def test_an_integer_feature_gets_one_bin_per_value_and_its_chart_names_them(config):
    """1 to 6: six bins, the largest value in a bin of its own, drawn as "1" ... "6" with a share axis and a legend."""
    from {{ cookiecutter.package_name }}.components.monitoring.drift_report import distribution_chart

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"rooms": rng.integers(1, 7, 3000).astype(float), "x": rng.normal(size=3000)})
    statistics, _ = build_baseline(frame, excluded_columns=[], settings=config["monitoring"])
    rooms = next(f for f in statistics["features"] if f["name"] == "rooms")
    buckets = rooms["numerical_statistics"]["distribution"]["kll"]["buckets"]
    assert [(b["lower_bound"], b["upper_bound"]) for b in buckets][-2:] == [(5.0, 6.0), (6.0, 6.0)]
    assert buckets[-1]["count"] == (frame["rooms"] == 6).sum() and buckets[-2]["count"] == (frame["rooms"] == 5).sum()
    chart = distribution_chart("rooms", rooms, rooms)
    ticks = re.findall(r'<text class="tick"[^>]*>[^<]*<title>([^<]*)</title>', chart)
    assert ticks == ["1", "2", "3", "4", "5", "6"]
    assert "share of rows (%)" in chart and "baseline (training)" in chart and "production" in chart


@pytest.mark.parametrize(("production_value", "drifted"), [(7.0, False), (9.0, True)])
def test_a_feature_constant_at_baseline_that_moves_is_drift(config, production_value, drifted):
    """Its histogram is one point, so the KS distance is 0 whatever production holds."""
    data = config["data"]
    training = generate(3000, target_column=data["target_column"], problem_type=data["problem_type"], seed=11)
    training["region_code"] = 7.0
    constant_baseline = build_baseline(
        training, excluded_columns=[data["target_column"]], settings=config["monitoring"]
    )
    production = generate(2000, seed=21).assign(region_code=production_value)
    violations, drift, _ = judge(production, constant_baseline)
    assert ("region_code" in drift["drifted_features"]) is drifted
    moved = [v for v in violations if v["feature_name"] == "region_code"]
    assert bool(moved) is drifted
    if drifted:
        assert "was constant (7) in the baseline" in moved[0]["description"]


@pytest.mark.parametrize(
    ("baseline", "production"),
    [([50, 30, 20], [25, 30, 45]), ([1000, 1], [990, 11]), ([5, 0, 7, 3], [4, 2, 0, 9]), ([100, 100], [100, 100])],
)
def test_the_chi_square_p_value_is_scipys(baseline, production):
    from scipy import stats

    from {{ cookiecutter.package_name }}.components.monitoring.drift import (
        chi2_p_value,
    )

    table = np.vstack([baseline, production]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    expected = stats.chi2_contingency(table, correction=False).pvalue
    assert chi2_p_value(np.asarray(baseline, float), np.asarray(production, float)) == pytest.approx(expected, rel=1e-9)


def test_the_kolmogorov_tail_is_scipys():
    from scipy import special

    from {{ cookiecutter.package_name }}.components.monitoring.drift import (
        kolmogorov_sf,
    )

    for y in [*np.linspace(0.02, 6.0, 300), 0.999999, 1.0, 1.000001, 8.0]:
        assert kolmogorov_sf(float(y)) == pytest.approx(float(special.kolmogorov(y)), rel=1e-9, abs=1e-300)
    assert kolmogorov_sf(0.0) == 1.0


@pytest.mark.parametrize("dof", [1, 2, 3, 7, 49, 500])
def test_the_chi_square_tail_is_scipys(dof):
    from scipy import special

    from {{ cookiecutter.package_name }}.components.monitoring.drift import (
        chi2_sf,
    )

    for statistic in [1e-6, *np.linspace(0.01, 4.0 * dof + 60.0, 200), 2000.0]:
        expected = float(special.chdtrc(dof, statistic))
        assert chi2_sf(float(statistic), dof) == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert chi2_sf(0.0, dof) == 1.0


@pytest.mark.parametrize("n_edges", [1, 2, 3, 51])
def test_bucket_counts_are_a_binary_search_per_value(n_edges):
    from {{ cookiecutter.package_name }}.components.monitoring.summary import (
        bucket_counts,
    )

    rng = np.random.default_rng(n_edges)
    edges = sorted(rng.choice(np.arange(-40.0, 40.0), size=n_edges, replace=False).tolist())
    values = np.concatenate([rng.integers(-50, 50, 5000).astype(float), np.asarray(edges)])  # ties on every edge
    n_buckets = max(len(edges) - 1, 1)
    index = np.searchsorted(np.asarray(edges[1:-1]), values, side="right")
    expected = np.bincount(index, minlength=n_buckets)[:n_buckets]
    assert bucket_counts(values, edges).tolist() == expected.tolist()
    assert bucket_counts(values[:0], edges).tolist() == [0] * n_buckets


@pytest.mark.parametrize(("missing_b", "missing_p"), [(10, 30), (30, 10), (0, 5), (50, 50)])
def test_the_missing_rate_p_value_is_the_normal_tail(missing_b, missing_p):
    from scipy import stats

    from {{ cookiecutter.package_name }}.components.monitoring.drift import (
        missing_rate_p_value,
    )

    n_b, n_p = 1000, 500
    pooled = (missing_b + missing_p) / (n_b + n_p)
    z = (missing_p / n_p - missing_b / n_b) / np.sqrt(pooled * (1 - pooled) * (1 / n_b + 1 / n_p))
    assert missing_rate_p_value(missing_b, n_b, missing_p, n_p) == pytest.approx(stats.norm.sf(z), rel=1e-9)


def test_categorical_counts_strip_and_pool_labels_as_processing_does():
    summary = CategoricalSummary()
    summary.add(pd.Series(["a", " a", "b ", "", None, "  ", "b"], dtype="string"))
    assert summary.counts == {"a": 2, "b": 2}
    assert summary.missing == 3


def test_numeric_summary_counts_infinities_and_text_as_missing():
    summary = NumericSummary([0.0, 5.0, 10.0], [0, 0])
    summary.add(pd.Series([1.0, np.inf, -np.inf, np.nan, 7.0]))
    summary.add(pd.Series(["2", "x", "inf", None], dtype="object"))
    assert summary.counts == [2, 1]
    assert summary.missing == 6 and summary.invalid == 1
    assert (summary.minimum, summary.maximum) == (1.0, 7.0)


def test_serve_summarizes_every_block_of_a_file_as_one_pass_would(tmp_path, monkeypatch, baseline, config):
    from functools import partial

    from {{ cookiecutter.package_name }} import csv_input
    from {{ cookiecutter.package_name }}.components.monitoring import __main__ as entry

    statistics, _ = baseline
    target = config["data"]["target_column"]
    raw = tmp_path / "processing" / "input" / "raw"
    raw.mkdir(parents=True)
    frame = generate(3000, target_column=target, problem_type=config["data"]["problem_type"], seed=5, drift_stage=2)
    frame.drop(columns=[target]).to_csv(raw / "batch.csv", index=False)
    monkeypatch.setenv("OPT_ML_ROOT", str(tmp_path))
    whole, _ = entry._summarize_raw(empty_templates(statistics), allow_none=False)
    monkeypatch.setattr(entry, "read_blocks", partial(csv_input.read_blocks, block_bytes=8192))  # dozens of blocks
    blocks, _ = entry._summarize_raw(empty_templates(statistics), allow_none=False)
    assert set(blocks) == set(whole)
    for name, summary in whole.items():
        other = blocks[name]
        assert other.missing == summary.missing and other.present == summary.present == 3000 - summary.missing
        if isinstance(summary, NumericSummary):
            assert other.counts == summary.counts
            assert (other.minimum, other.maximum) == (summary.minimum, summary.maximum)
            assert other.total == pytest.approx(summary.total)
        else:
            assert other.counts == summary.counts
