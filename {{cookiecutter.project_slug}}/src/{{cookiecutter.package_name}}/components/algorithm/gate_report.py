"""The gate's report: the challenger and the champion side by side on the same rows, and the decision."""

from __future__ import annotations

from html import escape
from typing import Any

from ...reports import page, table
from .gate import CONFIDENCE, PRIMARY

SET_NAMES = {
    "recent": "Recent labelled production rows (held out of training by scoring time)",
    "validation": "Validation split (rows neither model trained on)",
}


def render_gate(record: dict[str, Any]) -> str:
    """One page a reviewer can decide from: the verdict with its numbers, then every metric of every set."""
    primary = PRIMARY[record["problem_type"]]
    champion = record["champion_version"]
    verdict = "passes" if record["passed"] else "does not pass"
    css = "ok" if record["passed"] else "drift"
    body = [
        f'<p class="{css}">The challenger {verdict} the gate: {escape(record["reason"])}.</p>',
        f"<p>Primary metric <b>{primary}</b>; deciding set <b>{escape(record['deciding'])}</b>; "
        f"tolerance {record['tolerance']} below the champion; sets of at least {record['min_rows']} rows count. "
        + (
            f"Champion: <b>version {escape(champion)}</b>."
            if champion
            else "There is no champion: a first model passes on the absolute check alone."
        )
        + "</p>",
    ]
    if record.get("champion_error"):
        body.append(f'<p class="drift">The champion could not score the rows: {escape(record["champion_error"])}</p>')
    for name, title in SET_NAMES.items():
        result = record["sets"].get(name) or {"rows": 0, "metrics": {}}
        body.append(f"<h2>{escape(title)}</h2><p>{result['rows']} rows.</p>")
        if not result["metrics"]:
            continue
        constant = result.get("best_constant", {})
        header = ["metric", "challenger"]
        if champion:
            header += ["champion", "difference", f"{CONFIDENCE:.0%} interval of the difference"]
        header.append("best constant")
        rows = []
        for metric, entry in result["metrics"].items():
            row = [f"<b>{escape(metric)}</b>" if metric == primary else escape(metric), _value(entry["challenger"])]
            if champion:
                bounds = entry.get("interval")
                shown = f"{bounds[0]:+.4f} to {bounds[1]:+.4f}" if bounds else "-"
                row += [_value(entry.get("champion")), _value(entry.get("difference"), signed=True), shown]
            row.append(_value(constant.get(metric)))
            rows.append(row)
        body.append(table(header, rows))
    body.append(
        "<p>Intervals come from a paired bootstrap: the same resampled rows score both models, so the interval "
        "is of the difference itself. Smaller is better for log_loss, rmse and mae.</p>"
    )
    return page("Champion-challenger gate", "\n".join(body))


def _value(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"
