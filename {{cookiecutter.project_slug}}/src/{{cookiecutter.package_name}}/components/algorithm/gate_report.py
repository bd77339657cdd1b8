"""The gate's report: the challenger and the champion side by side on the same rows, and the decision."""

from __future__ import annotations

from html import escape
from typing import Any

from ...model_metrics import PRIMARY
from ...reports import BASELINE, LINE, PRODUCTION, page, table
from .gate import CONFIDENCE

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
        entry = result["metrics"].get(primary, {})
        if champion and entry.get("interval"):
            body.append(difference_chart(primary, entry, record["tolerance"], name == record["deciding"]))
    body.append(
        "<p>Intervals come from a paired bootstrap: the same resampled rows score both models, so the interval "
        "is of the difference itself. Smaller is better for log_loss, rmse and mae.</p>"
    )
    return page("Champion-challenger gate", "\n".join(body))


def difference_chart(metric: str, entry: dict[str, Any], tolerance: float, deciding: bool) -> str:
    """The improvement over the champion on one axis: its 95% interval, zero, and the tolerance below it.

    Improvement is the difference turned so that right is better (for RMSE, a fall is an improvement).
    """
    sign = 1 if entry["higher_is_better"] else -1
    low, high = sorted(sign * bound for bound in entry["interval"])
    point = sign * entry["difference"]
    span = max(abs(low), abs(high), tolerance, 1e-6) * 1.25
    width, height, pad = 560, 110, 40

    def x(value: float) -> float:
        return pad + (value + span) / (2 * span) * (width - 2 * pad)

    ticks = [-span, -span / 2, 0.0, span / 2, span]
    parts = [
        f'<line x1="{pad}" y1="60" x2="{width - pad}" y2="60" stroke="#bcccdc"/>',
        *(
            f'<line x1="{x(t):.1f}" y1="57" x2="{x(t):.1f}" y2="63" stroke="#52606d"/>'
            f'<text class="tick" x="{x(t):.1f}" y="78" font-size="10" text-anchor="middle">{t:+.3f}</text>'
            for t in ticks
        ),
        f'<line x1="{x(0):.1f}" y1="20" x2="{x(0):.1f}" y2="66" stroke="{LINE}"/>',
        f'<line x1="{x(-tolerance):.1f}" y1="20" x2="{x(-tolerance):.1f}" y2="66" stroke="{BASELINE}" '
        'stroke-dasharray="4"/>',
        f'<line x1="{x(low):.1f}" y1="40" x2="{x(high):.1f}" y2="40" stroke="{PRODUCTION}" stroke-width="4"/>',
        f'<circle cx="{x(point):.1f}" cy="40" r="5" fill="{PRODUCTION}"/>',
        f'<text class="axis-label" x="{width / 2}" y="100" font-size="11" text-anchor="middle">'
        f"improvement of {escape(metric)} over the champion (right is better)</text>",
    ]
    caption = (
        f"{'Deciding set: ' if deciding else ''}the challenger's improvement, {point:+.4f}, with its 95% interval "
        f"{low:+.4f} to {high:+.4f} (red); zero (solid) and the tolerance -{tolerance} (dashed)."
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(caption)}">{"".join(parts)}</svg>'
    )
    return f'<figure class="chart">{svg}<figcaption>{escape(caption)}</figcaption></figure>'


def _value(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"
