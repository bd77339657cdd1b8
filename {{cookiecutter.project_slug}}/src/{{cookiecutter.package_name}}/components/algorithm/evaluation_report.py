"""The evaluation report of a training run: metrics, confusion matrix and ROC, or residuals."""

from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve

from ...reports import line_chart, page, scatter, table
from .model import TrainedModel, predict_proba, split_target

MAX_POINTS = 500


def render_evaluation(model: TrainedModel, validation: pd.DataFrame, metrics: dict[str, float]) -> str:
    """Validation metrics plus the plots that explain them, as one self-contained page."""
    X, y = split_target(validation)
    X = X.to_numpy(dtype="float64")
    schema = model.schema
    positive = (
        f", positive class <b>{escape(schema.classes[1])}</b> (the probability reported and explained), "
        f"decided positive at a probability of at least <b>{model.threshold:.4f}</b> "
        f"({escape((model.decision or {}).get('how', 'fixed'))})"
        if model.threshold is not None
        else ""
    )
    body = [
        f"<p>Problem type <b>{escape(schema.problem_type)}</b>, target <b>{escape(schema.target)}</b>{positive}, "
        f"estimator <b>{escape(model.estimator_name)}</b>, {len(y)} validation rows.</p>",
        table(["metric", "value"], [[escape(k), f"{v:.4f}"] for k, v in metrics.items()]),
    ]
    if schema.warnings:
        items = "".join(f"<li>{escape(w)}</li>" for w in schema.warnings)
        body.append(f"<h2>About the training data</h2><ul>{items}</ul>")
    if schema.classes is None:
        predicted = model.values(X)
        residuals = y - predicted
        rng = np.random.default_rng(0)
        shown = rng.choice(len(y), size=min(len(y), MAX_POINTS), replace=False)
        body.append("<h2>Residuals</h2>")
        body.append(
            scatter(
                predicted[shown].tolist(),
                residuals[shown].tolist(),
                f"Residual (actual - predicted) against predicted {schema.target}, {len(shown)} rows",
                f"predicted {schema.target}",
                "residual",
            )
        )
        quantiles = np.quantile(residuals, [0.05, 0.25, 0.5, 0.75, 0.95])
        body.append(
            table(
                ["residual quantile", "5%", "25%", "50%", "75%", "95%"], [["value", *(f"{q:.3g}" for q in quantiles)]]
            )
        )
        return page("Model evaluation", "\n".join(body))

    y = y.astype(int)
    classes = list(schema.classes)
    proba = predict_proba(model, X)
    matrix = confusion_matrix(y, model.decide(proba), labels=list(range(len(classes))))
    body.append("<h2>Confusion matrix</h2><p>Rows: actual class. Columns: predicted class.</p>")
    body.append(
        table(
            ["actual \\ predicted", *map(escape, classes)],
            [[escape(c), *row] for c, row in zip(classes, matrix.tolist(), strict=True)],
        )
    )
    curves = {}
    targets = [1] if len(classes) == 2 else range(len(classes))
    for index in targets:
        positives = (y == index).astype(int)
        if positives.min() == positives.max():
            continue
        fpr, tpr, _ = roc_curve(positives, proba[:, index])
        auc = roc_auc_score(positives, proba[:, index])
        curves[f"{classes[index]} (AUC {auc:.3f})"] = (fpr.tolist(), tpr.tolist())
    body.append("<h2>ROC</h2>")
    body.append(
        line_chart(
            curves,
            "True positive rate against false positive rate, one curve per class",
            "false positive rate",
            "true positive rate",
            diagonal=True,
        )
    )
    return page("Model evaluation", "\n".join(body))
