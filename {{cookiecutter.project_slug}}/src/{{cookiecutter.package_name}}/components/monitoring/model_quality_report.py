"""The model-quality report a person reads: the verdict, the metrics, and how they came about."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from html import escape
from typing import Any

from ...model_metrics import PRIMARY, Outcomes, calibration_curve
from ...reports import line_chart, page, scatter, table

MAX_POINTS = 2000  # residual dots drawn at most


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) and math.isfinite(value) else "-"


def _moment(text: str) -> str:
    """An ISO time as a person reads it: 2026-06-01 06:00 UTC."""
    return escape(datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"))


def _metrics_table(statistics: dict[str, Any], constraints: dict[str, Any], summary: dict[str, Any]) -> str:
    violated, judged = set(summary["violations"]), summary["judged"]
    section = next(key for key in statistics if key.endswith("_metrics"))
    metrics = statistics[section]
    rules = constraints.get(section.removesuffix("_metrics") + "_constraints", {})
    rows = []
    for name, entry in metrics.items():
        if name == "confusion_matrix" or "_best_constant_" in name:
            continue
        constant = next((v for k, v in metrics.items() if k.startswith(name + "_best_constant_")), {})
        interval = entry.get("confidence_interval")
        shown = f"{_number(interval['lower'])} to {_number(interval['upper'])}" if interval else "-"
        rule = rules.get(name)
        unconstrained = constraints.get("unconstrained", {}).get(name)
        bound = f"{rule['comparison_operator']} {rule['threshold']:.4g}" if rule else "no constraint"
        if unconstrained:
            bound = (
                f'<span title="{escape(unconstrained)}">no constraint: training did not beat the best constant</span>'
            )

        verdict = '<span class="drift">violated</span>' if name in violated else '<span class="ok">ok</span>'
        if not judged:
            verdict = "not judged"
        elif not rule:
            verdict = "-"
        rows.append([escape(name), _number(entry.get("value")), shown, _number(constant.get("value")), bound, verdict])
    return table(["metric", "value", "95% interval", "best constant", "violation if", "verdict"], rows)


def _confusion(statistics: dict[str, Any]) -> str:
    section = next(key for key in statistics if key.endswith("_metrics"))
    matrix = statistics[section].get("confusion_matrix")
    if not matrix:
        return ""
    classes = list(matrix)
    rows = [[f"<b>{escape(actual)}</b>", *(str(matrix[actual].get(c, 0)) for c in classes)] for actual in classes]
    return "<h2>Confusion matrix</h2>" + table(["actual \\ predicted", *classes], rows)


def _calibration(outcomes: Outcomes) -> str:
    curve = calibration_curve(outcomes)
    if not curve["predicted"]:
        return ""
    chart = line_chart(
        {"observed positive rate per bin": (curve["predicted"], curve["observed"])},
        "Calibration: mean predicted probability against the rate observed in the labels, per tenth of "
        "the probability range; each point's area is in proportion to its rows (hover for the count), "
        "and the dashed diagonal is perfect calibration",
        "mean predicted probability",
        "observed positive rate",
        diagonal=True,
        marker_sizes=curve["rows"],
    )
    rows = table(
        ["bin", "rows", "mean predicted", "observed rate"],
        [
            [str(i + 1), str(n), f"{p:.3f}", f"{o:.3f}"]
            for i, (n, p, o) in enumerate(zip(curve["rows"], curve["predicted"], curve["observed"], strict=True))
        ],
    )
    return "<h2>Calibration</h2>" + chart + rows


def _residuals(outcomes: Outcomes) -> str:
    if outcomes.problem_type != "regression" or not len(outcomes):
        return ""
    step = max(len(outcomes) // MAX_POINTS, 1)
    predicted, truth = outcomes.predicted[::step], outcomes.truth[::step]
    chart = scatter(
        predicted.tolist(), (truth - predicted).tolist(), "Residuals (truth - prediction) against the prediction",
        "prediction", "residual",
    )  # fmt: skip
    return "<h2>Residuals</h2>" + chart


def _over_time(summary: dict[str, Any], problem_type: str) -> str:
    runs = summary["runs"]
    if not runs:
        return ""
    primary = PRIMARY[problem_type]
    rows = []
    for run in runs:
        estimate = (run.get("estimate") or {}).get(primary)
        rows.append(
            [escape(run["run_id"]), _moment(run["scored_at"]), str(run["predictions"]), str(run["labelled"]),
             f"{run['coverage']:.0%}", _number(run["realised"].get(primary)), _number(estimate)]
        )  # fmt: skip
    chart = ""
    realised = [run["realised"].get(primary) for run in runs]
    if len(runs) > 1 and all(isinstance(v, float) and math.isfinite(v) for v in realised):
        xs = [float(i + 1) for i in range(len(runs))]
        series = {f"realised {primary}": (xs, realised)}
        estimates = [(run.get("estimate") or {}).get(primary) for run in runs]
        if all(isinstance(v, float) and math.isfinite(v) for v in estimates):
            series[f"estimated {primary}"] = (xs, estimates)
        chart = line_chart(
            series, f"{primary} per inference run, oldest to newest", "inference run (1 is the oldest)", primary,
            unit_square=False,
        )  # fmt: skip
    header = ["run", "scored at", "predictions", "labelled", "coverage", f"realised {primary}", f"estimated {primary}"]
    return "<h2>Over time, run by run</h2>" + chart + table(header, rows)


def render_quality_report(
    summary: dict[str, Any], statistics: dict[str, Any] | None, constraints: dict[str, Any], outcomes: Outcomes
) -> str:
    """The HTML report of one model-quality run."""
    join = summary["join"]
    if summary["violated"]:
        verdict = f'<p class="drift">Model quality violated: {escape(", ".join(summary["violations"]))}.</p>'
    elif summary["judged"]:
        verdict = '<p class="ok">Model quality holds: every constraint is met.</p>'
    else:
        verdict = (
            f"<p>Not judged: {summary['labelled_rows']} labelled rows in the window, fewer than the "
            f"{summary['min_labelled_rows']} a verdict needs.</p>"
        )
    delay = join["label_delay_hours"]
    start, end = (_moment(join["window"][side]) for side in ("start", "end"))
    facts = table(
        ["window (scoring time)", "predictions", "labelled", "coverage",
         "label delay, hours by the labels' hour folders (median / p90 / max)",
         "labels sent twice", "labels for ids not in the window", "empty labels", "labels of unknown classes",
         "predictions sharing an id"],
        [[f"{start} to {end}", str(join["predictions_in_window"]),
          str(join["labelled"]), f"{join['coverage']:.1%}",
          f"{_number(delay['median'])} / {_number(delay['p90'])} / {_number(delay['max'])}",
          str(join["duplicate_labels"]), str(join["labels_for_unknown_ids"]), str(join["empty_labels"]),
          str(summary["labels_for_unknown_classes"]), str(join["predictions_sharing_an_id"])]],
    )  # fmt: skip
    body = verdict + facts
    if statistics is not None:
        body += "<h2>Metrics</h2>" + _metrics_table(statistics, constraints, summary)
        body += _confusion(statistics) + _calibration(outcomes) + _residuals(outcomes)
    body += _over_time(summary, outcomes.problem_type)
    body += (
        "<p>Estimates come from each run's own probabilities before any label arrived (CBPE); they cannot see "
        "concept drift, which only labels reveal. A run's realised value is over its labelled rows only.</p>"
    )
    return page("Model quality report", body)
