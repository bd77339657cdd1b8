"""Learn the data-quality baseline: Model Monitor's statistics.json and constraints.json."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ...data_schema import finite_numbers, is_numeric_column
from .summary import CategoricalSummary, NumericSummary, Summary, quantile_edges

MAX_DOMAIN_VALUES = 1000
# Categories beyond the MAX_DOMAIN_VALUES most frequent are pooled under this value.
OTHER = "__other__"


def feature_statistics(name: str, summary: Summary) -> dict[str, Any]:
    """One entry of statistics.json's `features`, in Model Monitor's format."""
    common = {"num_present": summary.present, "num_missing": summary.missing}
    if isinstance(summary, CategoricalSummary):
        ordered = sorted(summary.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        distinct = len(ordered)
        if distinct > MAX_DOMAIN_VALUES:
            pooled = sum(c for _, c in ordered[MAX_DOMAIN_VALUES - 1 :])
            ordered = [*ordered[: MAX_DOMAIN_VALUES - 1], (OTHER, pooled)]
        return {
            "name": name,
            "inferred_type": "String",
            "string_statistics": {
                "common": common,
                "distinct_count": float(distinct),
                "distribution": {"categorical": {"buckets": [{"value": v, "count": c} for v, c in ordered]}},
            },
        }
    n = summary.present
    mean = summary.total / n if n else 0.0
    variance = max(summary.total_sq / n - mean * mean, 0.0) if n else 0.0
    edges = summary.edges
    buckets = [
        {"lower_bound": edges[i], "upper_bound": edges[i + 1], "count": float(count)}
        for i, count in enumerate(summary.counts)
    ]
    integral = n > 0 and all(float(e).is_integer() for e in (summary.minimum, summary.maximum))
    return {
        "name": name,
        "inferred_type": "Integral" if integral else "Fractional",
        "numerical_statistics": {
            "common": common,
            "mean": mean,
            "sum": summary.total,
            "std_dev": math.sqrt(variance),
            "min": summary.minimum if n else 0.0,
            "max": summary.maximum if n else 0.0,
            "distribution": {"kll": {"buckets": buckets}},
        },
    }


def build_baseline(
    data: pd.DataFrame,
    *,
    excluded_columns: list[str],
    settings: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """statistics.json and constraints.json for the features of a training table.

    `settings` is config/project.yaml's `monitoring` section; it is recorded in
    constraints.json so that serve mode judges drift by the rules the baseline was built with.
    """
    features = [c for c in data.columns if c not in set(excluded_columns)]
    if not features:
        raise ValueError("No feature columns left to monitor after excluding the target and id columns.")
    statistics_features, constraint_features = [], []
    for name in features:
        column = data[name]
        numeric = is_numeric_column(column)
        if (finite_numbers(column) if numeric else column).notna().sum() == 0:
            raise ValueError(f"Column '{name}' has no values in the baseline data; there is nothing to compare with.")
        summary: Summary
        if numeric:
            values = finite_numbers(column).dropna().to_numpy(dtype="float64")
            summary = NumericSummary(quantile_edges(values, settings["histogram_bins"]), [])
            summary.counts = [0] * (len(summary.edges) - 1)
        else:
            summary = CategoricalSummary()
        summary.add(column)
        stats = feature_statistics(name, summary)
        statistics_features.append(stats)
        constraint: dict[str, Any] = {
            "name": name,
            "inferred_type": stats["inferred_type"],
            "completeness": summary.present / len(column),
        }
        if isinstance(summary, NumericSummary):
            constraint["num_constraints"] = {"is_non_negative": summary.negative == 0}
        elif len(summary.counts) <= MAX_DOMAIN_VALUES:
            constraint["string_constraints"] = {"domains": sorted(summary.counts)}
        constraint_features.append(constraint)
    statistics = {"version": 0.0, "dataset": {"item_count": len(data)}, "features": statistics_features}
    constraints = {
        "version": 0.0,
        "features": constraint_features,
        "excluded_columns": list(excluded_columns),
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 1.0,
            "domain_content_threshold": 1.0,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": settings["comparison_threshold"],
                "comparison_method": "Robust",
                "categorical_comparison_threshold": settings["categorical_comparison_threshold"],
                "categorical_drift_method": "LInfinity",
                "significance_level": settings["significance_level"],
                "completeness_tolerance": settings["completeness_tolerance"],
            },
        },
    }
    return statistics, constraints


def baseline_is_consistent(statistics: dict[str, Any], constraints: dict[str, Any]) -> None:
    """Both files must describe the same features, or they came from different runs."""
    a = [f["name"] for f in statistics.get("features", [])]
    b = [f["name"] for f in constraints.get("features", [])]
    if a != b or not a:
        raise ValueError(
            "statistics.json and constraints.json describe different features "
            f"({a[:5]} vs {b[:5]}); use both files from the same monitoring train run."
        )
    for feature in statistics["features"]:
        if "numerical_statistics" in feature:
            buckets = feature["numerical_statistics"]["distribution"]["kll"]["buckets"]
            if not buckets or not np.all(np.diff([x["lower_bound"] for x in buckets]) >= 0):
                raise ValueError(f"statistics.json has no usable histogram for feature '{feature['name']}'.")
