"""The SHAP summary people read: global importance and, for the top features, value against effect."""

from __future__ import annotations

import math
from html import escape

import numpy as np

from ...data_schema import Feature
from ...reports import figure, horizontal_bars, page, scatter, table

MAX_IMPORTANCE_BARS = 15


TOP_FEATURES = 3


def importance_svg(importance: dict[str, float], label: str) -> str:
    """Mean |SHAP| per original feature, largest on top (at most MAX_IMPORTANCE_BARS): a standalone SVG."""
    ordered = sorted(importance.items(), key=lambda kv: -kv[1])[:MAX_IMPORTANCE_BARS]
    return horizontal_bars(ordered, "Global feature importance", f"mean |SHAP value| ({label})")


def dependence_chart(feature: Feature, values: np.ndarray, shap: np.ndarray) -> str:
    """A feature's value against its SHAP value: how the feature moves the prediction.

    A categorical feature is drawn as one strip per category, named (its processed values are
    codes in the schema's category order); a numeric one on its own scale.
    """
    caption = f"{feature.name}: value against SHAP value"
    if feature.kind == "categorical":
        codes = [c if math.isnan(c) or 0 <= c < len(feature.categories) else math.nan for c in values.tolist()]
        chart = scatter(codes, shap.tolist(), caption, f"{feature.name} (category)", "SHAP value", feature.categories)
    else:
        chart = scatter(values.tolist(), shap.tolist(), caption, feature.name, "SHAP value")
    return chart


def render_summary(
    importance: dict[str, dict[str, float]],
    sample: np.ndarray,
    sample_shap: dict[str, np.ndarray],
    features: list[Feature],
    outputs: dict[str, str],
) -> tuple[str, str]:
    """The summary page and its global-importance SVG (also written on its own).

    `outputs` names, per label, what its attributions add up to: the page says it in words.
    """
    label, values = next(iter(importance.items()))
    svg = importance_svg(values, label)
    body = [
        f"<p>SHAP attributions per original feature. They explain <b>{escape(outputs.get(label, label))}</b>"
        f"{' and of each other class' if len(importance) > 1 else ''}: for each row, they add up to that "
        "output minus its expected value. Mean absolute values over the explained rows.</p>",
        figure(svg, "Global feature importance (mean |SHAP value|)"),
        table(
            ["feature", *map(escape, importance)],
            [
                [escape(f), *(f"{importance[lbl][f]:.4f}" for lbl in importance)]
                for f in sorted(values, key=lambda f: -values[f])
            ],
        ),
        "<h2>Top features</h2>",
    ]
    shap_values = sample_shap[label]
    by_name = {feature.name: (column, feature) for column, feature in enumerate(features)}
    for name in sorted(values, key=lambda f: -values[f])[:TOP_FEATURES]:
        column, feature = by_name[name]
        body.append(dependence_chart(feature, sample[:, column], shap_values[:, column]))
    return page("SHAP summary", "\n".join(body)), svg
