"""The drift report a person reads: the decision, each feature's distributions and statistic."""

from __future__ import annotations

from html import escape
from typing import Any

from ...reports import page, paired_bars, table

MAX_CATEGORIES_SHOWN = 12


def _shares(counts: list[float]) -> list[float]:
    total = sum(counts) or 1.0
    return [c / total for c in counts]


def _bucket_label(bucket: dict[str, Any], integral: bool) -> str:
    """A bin as a reader names it: its integers ("3", "4 to 6") or its range ("0.263 to 0.28")."""
    low, high = float(bucket["lower_bound"]), float(bucket["upper_bound"])
    if integral:  # [low, high) holds low .. high - 1; the last bin, [max, max], holds the maximum
        top = high - 1 if high > low else high
        return f"{low:g}" if top <= low else f"{low:g} to {top:g}"
    return f"{low:.3g} to {high:.3g}"


def distribution_chart(name: str, baseline: dict[str, Any], production: dict[str, Any] | None) -> str:
    """Baseline and production shares on the baseline's buckets (numeric) or categories."""
    if production is None:
        return "<p>Missing from production data.</p>"
    if "numerical_statistics" in baseline:
        buckets = baseline["numerical_statistics"]["distribution"]["kll"]["buckets"]
        produced = production.get("numerical_statistics", {}).get("distribution", {}).get("kll", {}).get("buckets", [])
        # Integer data's bins (summary.quantile_edges): integer edges, and a last bin [max, max] of its own.
        integral = buckets[-1]["lower_bound"] == buckets[-1]["upper_bound"] and all(
            float(b["lower_bound"]).is_integer() for b in buckets
        )
        labels = [_bucket_label(b, integral) for b in buckets]
        base = _shares([b["count"] for b in buckets])
        prod = _shares([b["count"] for b in produced]) if len(produced) == len(buckets) else [0.0] * len(buckets)
        caption = f"{name}: share of rows per bin of the baseline's quantiles"
        x_label = f"{name} ({'integers' if integral else 'values'}, binned at the baseline's quantiles)"
    else:
        base_counts = {
            b["value"]: b["count"] for b in baseline["string_statistics"]["distribution"]["categorical"]["buckets"]
        }
        prod_counts = {
            b["value"]: b["count"]
            for b in production.get("string_statistics", {})
            .get("distribution", {})
            .get("categorical", {})
            .get("buckets", [])
        }
        order = sorted(
            set(base_counts) | set(prod_counts), key=lambda v: -(base_counts.get(v, 0) + prod_counts.get(v, 0))
        )
        labels = order[:MAX_CATEGORIES_SHOWN]
        base_total = sum(base_counts.values()) or 1
        prod_total = sum(prod_counts.values()) or 1
        base = [base_counts.get(v, 0) / base_total for v in labels]
        prod = [prod_counts.get(v, 0) / prod_total for v in labels]
        caption = f"{name}: share of rows per category"
        x_label = f"{name} (category)"
    return paired_bars(labels, base, prod, caption, x_label)


def render_report(
    drift: dict[str, Any],
    violations: list[dict[str, str]],
    title: str,
    baseline_statistics: dict[str, Any] | None = None,
    production_statistics: dict[str, Any] | None = None,
) -> str:
    """The drift decision, each feature's statistic against its threshold and distributions, the violations."""
    verdict = "Drift detected" if drift["drift_detected"] else "No drift detected"
    rows = []
    for name, result in drift["features"].items():
        reasons = ", ".join(result.get("drift_reasons", []))
        status = f'<span class="drift">drift ({reasons})</span>' if result["drift"] else '<span class="ok">ok</span>'
        rows.append(
            [
                escape(name), result["kind"], result["method"], f"{result['statistic']:.3f}", result["threshold"],
                f"{result['p_value']:.3g}", f"{result['baseline_missing_fraction']:.1%}",
                f"{result['production_missing_fraction']:.1%}", status,
            ]
        )  # fmt: skip
    summary = (
        f'<p class="{"drift" if drift["drift_detected"] else "ok"}">{verdict}: {len(drift["drifted_features"])} of '
        f"{len(drift['features'])} features drifted ({drift['n_production']} production rows against a baseline of "
        f"{drift['n_baseline']}; per-test significance {drift['per_test_significance']:.2g}).</p>"
        f"<p>A feature's distribution drifts only when both hold: its distance is above its threshold and "
        f"its p-value is below {drift['per_test_significance']:.2g}. A distance above the threshold on too few "
        "rows to tell from noise is not drift, and neither is a certain but small change. Missing values "
        "drift apart from that: a rise beyond monitoring.completeness_tolerance, with a p-value below the same "
        "level.</p>"
    )
    header = [
        "feature",
        "kind",
        "test",
        "distance",
        "threshold",
        "p-value",
        "missing (baseline)",
        "missing (production)",
        "decision",
    ]
    body = [summary, table(header, rows)]
    if baseline_statistics and production_statistics is not None:
        produced = {f["name"]: f for f in production_statistics["features"]}
        body.append("<h2>Distributions</h2>")
        ordered = sorted(
            baseline_statistics["features"], key=lambda f: not drift["features"].get(f["name"], {}).get("drift")
        )
        for feature in ordered:
            name = feature["name"]
            result = drift["features"].get(name)
            heading = f"{escape(name)}" + (
                f" — distance {result['statistic']:.3f} vs threshold {result['threshold']},"
                f" p-value {result['p_value']:.3g} vs {drift['per_test_significance']:.2g}"
                if result
                else ""
            )
            body.append(f"<h3>{heading}</h3>{distribution_chart(name, feature, produced.get(name))}")
    items = "".join(
        f"<li><b>{escape(v['feature_name'])}</b> {escape(v['constraint_check_type'])}: {escape(v['description'])}</li>"
        for v in violations
    )
    body.append(f"<h2>Violations ({len(violations)})</h2><ul>{items or '<li>None</li>'}</ul>")
    return page(title, "\n".join(body))
