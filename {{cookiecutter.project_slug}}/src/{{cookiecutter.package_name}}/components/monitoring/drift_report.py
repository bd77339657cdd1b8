"""The drift report a person reads: the decision, each feature's distributions and statistic."""

from __future__ import annotations

from html import escape
from typing import Any

from ...reports import page, paired_bars, table

MAX_CATEGORIES_SHOWN = 12


def _shares(counts: list[float]) -> list[float]:
    total = sum(counts) or 1.0
    return [c / total for c in counts]


def distribution_chart(name: str, baseline: dict[str, Any], production: dict[str, Any] | None) -> str:
    """Baseline and production shares on the baseline's buckets (numeric) or categories."""
    if production is None:
        return "<p>Missing from production data.</p>"
    if "numerical_statistics" in baseline:
        buckets = baseline["numerical_statistics"]["distribution"]["kll"]["buckets"]
        produced = production.get("numerical_statistics", {}).get("distribution", {}).get("kll", {}).get("buckets", [])
        labels = [f"{b['lower_bound']:.3g}" for b in buckets]
        base = _shares([b["count"] for b in buckets])
        prod = _shares([b["count"] for b in produced]) if len(produced) == len(buckets) else [0.0] * len(buckets)
        caption = f"{name}: share of rows per baseline quantile bin (lower bound shown)"
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
        caption = f"{name}: share of rows per category (baseline grey, production red)"
    return paired_bars(labels, base, prod, caption)


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
                f" — distance {result['statistic']:.3f} vs threshold {result['threshold']}" if result else ""
            )
            body.append(f"<h3>{heading}</h3>{distribution_chart(name, feature, produced.get(name))}")
    items = "".join(
        f"<li><b>{escape(v['feature_name'])}</b> {escape(v['constraint_check_type'])}: {escape(v['description'])}</li>"
        for v in violations
    )
    body.append(f"<h2>Violations ({len(violations)})</h2><ul>{items or '<li>None</li>'}</ul>")
    return page(title, "\n".join(body))
