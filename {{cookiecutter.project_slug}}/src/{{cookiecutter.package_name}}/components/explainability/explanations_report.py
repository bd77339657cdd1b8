"""The SHAP summary people read: global importance and, for the top features, value against effect."""

from __future__ import annotations

import io
from html import escape

import numpy as np

from ...reports import embedded_png, page, table

TOP_FEATURES = 3


def _figure_png(draw) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = draw(plt)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def importance_png(importance: dict[str, float], label: str) -> bytes:
    """Mean |SHAP| per original feature, largest on top."""
    ordered = sorted(importance.items(), key=lambda kv: kv[1])[-15:]

    def draw(plt):
        figure, axis = plt.subplots(figsize=(6, 0.35 * len(ordered) + 1))
        axis.barh([name for name, _ in ordered], [value for _, value in ordered], color="#d64545")
        axis.set_xlabel(f"mean |SHAP value| ({label})")
        axis.set_title("Global feature importance")
        return figure

    return _figure_png(draw)


def dependence_png(name: str, values: np.ndarray, shap: np.ndarray) -> bytes:
    """A feature's (encoded) value against its SHAP value: how the feature moves the prediction."""

    def draw(plt):
        figure, axis = plt.subplots(figsize=(5, 3.2))
        axis.scatter(values, shap, s=6, alpha=0.5, color="#243b53")
        axis.axhline(0, color="#9fb3c8", linewidth=1)
        axis.set_xlabel(f"{name} (processed value; categories by code)")
        axis.set_ylabel("SHAP value")
        return figure

    return _figure_png(draw)


def render_summary(
    importance: dict[str, dict[str, float]],
    sample: np.ndarray,
    sample_shap: dict[str, np.ndarray],
    feature_names: list[str],
    outputs: dict[str, str],
) -> tuple[str, bytes]:
    """The summary page and its global-importance PNG (also written on its own).

    `outputs` names, per label, what its attributions add up to: the page says it in words.
    """
    label, values = next(iter(importance.items()))
    png = importance_png(values, label)
    body = [
        f"<p>SHAP attributions per original feature. They explain <b>{escape(outputs.get(label, label))}</b>"
        f"{' and of each other class' if len(importance) > 1 else ''}: for each row, they add up to that "
        "output minus its expected value. Mean absolute values over the explained rows.</p>",
        embedded_png(png, "Global feature importance (mean |SHAP value|)"),
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
    for name in sorted(values, key=lambda f: -values[f])[:TOP_FEATURES]:
        column = feature_names.index(name)
        body.append(
            embedded_png(
                dependence_png(name, sample[:, column], shap_values[:, column]), f"{name}: value against SHAP value"
            )
        )
    return page("SHAP summary", "\n".join(body)), png
