"""Compare production summaries with the baseline: violations and the drift decision.

The decision is sample-size aware, in the spirit of Model Monitor's "Robust" comparison:
a feature drifts only when its distance exceeds the configured threshold *and* the
difference is statistically significant for the sizes of both samples (Bonferroni-corrected
across every test made). Small undrifted samples therefore do not raise false alarms, and
huge samples do not flag differences too small to matter.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .baseline import OTHER, feature_statistics
from .summary import CategoricalSummary, NumericSummary, Summary, empty_templates

# The three tails below are plain math rather than SciPy's special functions, whose import costs
# a tenth of a second in every monitoring job; tests hold them to SciPy's values.


def kolmogorov_sf(y: float) -> float:
    """P(K > y) for the Kolmogorov distribution (scipy.special.kolmogorov)."""
    if y <= 0.0:
        return 1.0
    if y < 1.0:  # the Jacobi theta form of the CDF converges fast for small y
        factor = -(math.pi**2) / (8.0 * y * y)
        cdf = math.sqrt(2.0 * math.pi) / y * sum(math.exp((2 * k - 1) ** 2 * factor) for k in range(1, 8))
        return 1.0 - cdf
    terms = (math.exp(-2.0 * k * k * y * y) for k in range(1, 101))
    return min(1.0, 2.0 * sum(term if k % 2 else -term for k, term in enumerate(terms, start=1)))


def chi2_sf(statistic: float, dof: int) -> float:
    """P(X > statistic) for a chi-square variable with `dof` degrees of freedom (scipy.special.chdtrc)."""
    if statistic <= 0.0:
        return 1.0
    a, x = dof / 2.0, statistic / 2.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:  # series for the lower regularized gamma P(a, x); Q = 1 - P
        term = total = 1.0 / a
        n = a
        while abs(term) > abs(total) * 1e-16:
            n += 1.0
            term *= x / n
            total += term
        return max(0.0, 1.0 - total * math.exp(log_front))
    # Lentz's continued fraction for Q(a, x)
    tiny = 1e-300
    b = x + 1.0 - a
    c, d = 1.0 / tiny, 1.0 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return math.exp(log_front) * h


def ks_distance(baseline_counts: list[float], production_counts: list[float]) -> float:
    """Kolmogorov-Smirnov distance between two histograms on the same bucket edges."""
    b = np.cumsum(baseline_counts) / max(sum(baseline_counts), 1)
    p = np.cumsum(production_counts) / max(sum(production_counts), 1)
    return float(np.max(np.abs(b - p))) if len(b) else 0.0


def ks_p_value(distance: float, n: int, m: int) -> float:
    """Asymptotic two-sample KS p-value for samples of sizes n and m."""
    if n == 0 or m == 0:
        return 1.0
    return kolmogorov_sf(distance * math.sqrt(n * m / (n + m)))


def chi2_p_value(baseline: np.ndarray, production: np.ndarray) -> float:
    """Chi-square test of homogeneity between two count vectors over the same categories."""
    table = np.vstack([baseline, production])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or table[1].sum() == 0:
        return 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return chi2_sf(statistic, table.shape[1] - 1)  # as chi2_contingency(correction=False)


def missing_rate_p_value(n_missing_b: int, n_b: int, n_missing_p: int, n_p: int) -> float:
    """One-sided two-proportion z-test: is production missing more often than the baseline?"""
    if n_b == 0 or n_p == 0:
        return 1.0
    pooled = (n_missing_b + n_missing_p) / (n_b + n_p)
    if pooled in (0.0, 1.0):
        return 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_b + 1 / n_p))
    z = (n_missing_p / n_p - n_missing_b / n_b) / se
    return 0.5 * math.erfc(z / math.sqrt(2.0))  # the normal survival function


def _baseline_summary(feature: dict[str, Any]) -> Summary:
    if "numerical_statistics" in feature:
        numerical = feature["numerical_statistics"]
        buckets = numerical["distribution"]["kll"]["buckets"]
        edges = [b["lower_bound"] for b in buckets] + [buckets[-1]["upper_bound"]]
        return NumericSummary(
            edges, [int(b["count"]) for b in buckets], missing=int(numerical["common"]["num_missing"])
        )
    strings = feature["string_statistics"]
    counts = {b["value"]: int(b["count"]) for b in strings["distribution"]["categorical"]["buckets"]}
    return CategoricalSummary(counts, missing=int(strings["common"]["num_missing"]))


def compare(
    production: dict[str, Summary],
    production_columns: list[str],
    statistics: dict[str, Any],
    constraints: dict[str, Any],
) -> tuple[list[dict[str, str]], dict[str, Any], dict[str, Any]]:
    """Judge production summaries against the baseline.

    Returns (violations for constraint_violations.json, drift.json, production statistics.json).
    """
    config = constraints["monitoring_config"]["distribution_constraints"]
    baseline_features = {f["name"]: f for f in statistics["features"]}
    excluded = set(constraints.get("excluded_columns", []))
    alpha = config["significance_level"] / (2 * len(baseline_features))  # two tests per feature
    missing_columns = [name for name in baseline_features if name not in production_columns]
    violations = [
        _violation(name, "missing_column_check", f"Column '{name}' of the baseline is missing from production data.")
        for name in missing_columns
    ]
    violations += [
        _violation(name, "extra_column_check", f"Column '{name}' is not in the baseline; it is not monitored.")
        for name in production_columns
        if name not in baseline_features and name not in excluded
    ]
    report: dict[str, dict[str, Any]] = {}
    for name, feature in baseline_features.items():
        if name in production:
            report[name], found = judge_feature(name, feature, production[name], config, alpha)
            violations += found
    drifted = [name for name, r in report.items() if r["drift"]]
    n_production = max((r["production_rows"] for r in report.values()), default=0)
    drift = {
        "drift_detected": bool(drifted),
        "drifted_features": drifted,
        "missing_columns": missing_columns,
        "n_baseline": int(statistics["dataset"]["item_count"]),
        "n_production": int(n_production),
        "significance_level": config["significance_level"],
        "per_test_significance": alpha,
        "method": "KS (numeric) and L-infinity with chi-square (categorical), sample-size aware, "
        "plus a one-sided test on missing values",
        "features": report,
    }
    production_statistics = {
        "version": 0.0,
        "dataset": {"item_count": int(n_production)},
        "features": [feature_statistics(name, summary) for name, summary in production.items()],
    }
    return violations, drift, production_statistics


def _violation(name: str, check: str, description: str) -> dict[str, str]:
    return {"feature_name": name, "constraint_check_type": check, "description": description}


def judge_feature(
    name: str, feature: dict[str, Any], prod: Summary, config: dict[str, Any], alpha: float
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """One feature's drift.json entry, and its violations: its values, its distribution, its missing values."""
    base = _baseline_summary(feature)
    result: dict[str, Any] = {
        "baseline_missing_fraction": _fraction(base.missing, base.present + base.missing),
        "production_missing_fraction": _fraction(prod.missing, prod.present + prod.missing),
        "production_rows": prod.present + prod.missing,
    }
    violations = _value_violations(name, base, prod)
    if isinstance(base, NumericSummary) and isinstance(prod, NumericSummary):
        distance = ks_distance(base.counts, prod.counts)
        p_value = ks_p_value(distance, base.present, prod.present)
        threshold = config["comparison_threshold"]
        result.update(kind="numeric", method="ks", statistic=distance, threshold=threshold, p_value=p_value)
    else:
        assert isinstance(base, CategoricalSummary) and isinstance(prod, CategoricalSummary)
        distance, p_value, unseen = _categorical_distance(base, prod)
        threshold = config["categorical_comparison_threshold"]
        result.update(kind="categorical", method="linf", statistic=distance, threshold=threshold, p_value=p_value)
        result["unseen_values"] = unseen
        if unseen:
            shown = ", ".join(sorted(unseen)[:5])
            violations.append(
                _violation(
                    name,
                    "categorical_values_check",
                    f"{sum(unseen.values())} value(s) of '{name}' outside the baseline domain: {shown}.",
                )
            )
    distribution_drift = prod.present > 0 and p_value < alpha and distance > threshold
    constant = _constant_that_moved(name, feature, base, prod)
    if constant:
        violations.append(_violation(name, "baseline_drift_check", constant))
    if distribution_drift:
        violations.append(
            _violation(
                name,
                "baseline_drift_check",
                f"Distribution distance {distance:.3f} exceeds threshold {threshold} (p={p_value:.2g} < {alpha:.2g}).",
            )
        )
    completeness_p = missing_rate_p_value(
        base.missing, base.present + base.missing, prod.missing, prod.present + prod.missing
    )
    increase = result["production_missing_fraction"] - result["baseline_missing_fraction"]
    completeness_drift = completeness_p < alpha and increase > config["completeness_tolerance"]
    if completeness_drift:
        violations.append(
            _violation(
                name,
                "completeness_check",
                f"Missing values rose from {result['baseline_missing_fraction']:.1%} to "
                f"{result['production_missing_fraction']:.1%} (p={completeness_p:.2g}).",
            )
        )
    hits = (
        ("distribution", distribution_drift),
        ("constant moved", bool(constant)),
        ("missing values", completeness_drift),
    )
    reasons = [r for r, hit in hits if hit]
    result.update(completeness_p_value=completeness_p, drift=bool(reasons), drift_reasons=reasons)
    return result, violations


def _value_violations(name: str, base: Summary, prod: Summary) -> list[dict[str, str]]:
    """A numeric column's values that are not numbers, or negative where the baseline never was."""
    if not (isinstance(base, NumericSummary) and isinstance(prod, NumericSummary)):
        return []
    found = []
    if prod.invalid:
        found.append(
            _violation(name, "data_type_check", f"{prod.invalid} value(s) of numeric column '{name}' are not numbers.")
        )
    if base.negative == 0 and prod.negative > 0:
        found.append(
            _violation(
                name,
                "non_negative_check",
                f"{prod.negative} negative value(s) in '{name}', never negative in the baseline.",
            )
        )
    return found


def _constant_that_moved(name: str, feature: dict[str, Any], base: Summary, prod: Summary) -> str:
    """A numeric feature constant in the baseline that takes other values: its bins are one point, so KS says 0."""
    if not (isinstance(base, NumericSummary) and isinstance(prod, NumericSummary)) or not base.present:
        return ""
    statistics = feature["numerical_statistics"]
    value = statistics["min"]
    if statistics["max"] != value or not prod.present or prod.minimum == prod.maximum == value:
        return ""
    return (
        f"'{name}' was constant ({value:g}) in the baseline; production holds other values "
        f"({prod.minimum:g} to {prod.maximum:g})."
    )


def _fraction(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _categorical_distance(base: CategoricalSummary, prod: CategoricalSummary) -> tuple[float, float, dict[str, int]]:
    """L-infinity distance and chi-square p-value; values unknown to the baseline form one bucket."""
    known = list(base.counts)
    pooled_other = OTHER in base.counts
    unseen = {v: c for v, c in prod.counts.items() if v not in base.counts}
    prod_counts = {v: prod.counts.get(v, 0) for v in known}
    if pooled_other:
        prod_counts[OTHER] += sum(unseen.values())
        unseen = {}
    b = np.array([base.counts[v] for v in known] + [0], dtype=float)
    p = np.array([prod_counts[v] for v in known] + [sum(unseen.values())], dtype=float)
    if p.sum() == 0:
        return 0.0, 1.0, unseen
    distance = float(np.max(np.abs(b / b.sum() - p / p.sum())))
    return distance, chi2_p_value(b, p), unseen


__all__ = ["compare", "empty_templates", "ks_distance", "ks_p_value"]
