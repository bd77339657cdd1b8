"""A self-contained HTML drift report that a person can read without opening any JSON."""

from __future__ import annotations

from html import escape
from typing import Any

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933}
table{border-collapse:collapse;margin:1rem 0}th,td{padding:.35rem .7rem;border-bottom:1px solid #d9e2ec;text-align:left}
th{background:#f0f4f8}.drift{color:#b42318;font-weight:600}.ok{color:#027a48}
"""


def render_report(drift: dict[str, Any], violations: list[dict[str, str]], title: str) -> str:
    """The drift decision, each feature's statistic against its threshold, and the violations."""
    verdict = "Drift detected" if drift["drift_detected"] else "No drift detected"
    rows = []
    for name, result in drift["features"].items():
        status = '<span class="drift">drift</span>' if result["drift"] else '<span class="ok">ok</span>'
        rows.append(
            "<tr>"
            f"<td>{escape(name)}</td><td>{result['kind']}</td><td>{result['method']}</td>"
            f"<td>{result['statistic']:.3f}</td><td>{result['threshold']}</td><td>{result['p_value']:.3g}</td>"
            f"<td>{result['baseline_missing_fraction']:.1%}</td><td>{result['production_missing_fraction']:.1%}</td>"
            f"<td>{status}</td></tr>"
        )
    items = "".join(
        f"<li><b>{escape(v['feature_name'])}</b> {escape(v['constraint_check_type'])}: {escape(v['description'])}</li>"
        for v in violations
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{escape(title)}</h1>
<p class="{"drift" if drift["drift_detected"] else "ok"}">{verdict}: {len(drift["drifted_features"])} of
{len(drift["features"])} features drifted ({drift["n_production"]} production rows against a baseline of
{drift["n_baseline"]}; per-test significance {drift["per_test_significance"]:.2g}).</p>
<table><thead><tr><th>feature</th><th>kind</th><th>test</th><th>distance</th><th>threshold</th><th>p-value</th>
<th>missing (baseline)</th><th>missing (production)</th><th>decision</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<h2>Violations ({len(violations)})</h2>
<ul>{items or "<li>None</li>"}</ul>
</body></html>
"""
