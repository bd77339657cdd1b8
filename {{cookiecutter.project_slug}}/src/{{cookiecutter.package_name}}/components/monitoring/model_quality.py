"""Model quality, the pure core of monitoring's quality mode: predictions joined with their labels, judged.

Predictions are joined with ground-truth labels that arrive later, by inference id, over a
window of scoring times given as offsets from the job's time (Model Monitor's StartOffset and
EndOffset); the labelled rows are judged against training's constraints with the shared
model metrics (model_metrics.py). Reading the files is scored.py's and ground_truth's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ... import model_metrics as mm
from ...config import parse_offset as parse_offset  # re-exported: the window offsets are parsed here
from ...data_schema import DataSchema

# The monitoring job reads labels through these (re-exported).
from ...ground_truth import Window as Window
from ...ground_truth import landed_labels as landed_labels
from ...ground_truth import latest_labels
from ...ground_truth import read_labels as read_labels
from ...model_metrics import Outcomes
from .scored import ScoredBatch


def join_labels(
    predictions: pd.DataFrame, labels: pd.DataFrame, target: str, window: Window
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The window's predictions that have a label, with it; and what the join found.

    `predictions`: `inference_id`, `scored_at` (UTC) and the prediction columns.
    `labels`: `inference_id`, `target` and `arrived_at` (UTC, from the labels partition).
    Only labels that arrived by `window.now` count. A label sent twice or more keeps its
    latest arrival (a correction replaces what it corrects). A label for an id that was
    never scored is counted and left out, and so is an empty label.
    """
    in_window = predictions[(predictions["scored_at"] >= window.begins) & (predictions["scored_at"] < window.ends)]
    latest, dropped = latest_labels(labels, target, window.now)
    unknown = int((~latest["inference_id"].isin(predictions["inference_id"])).sum())
    joined = in_window.merge(latest[["inference_id", target, "arrived_at"]], on="inference_id", how="inner")
    # A label is dated by its hour folder, so one that came in the hour of its scoring reads as
    # arriving before it: its delay is known only to be under an hour, and counts as 0.
    delay_hours = np.maximum((joined["arrived_at"] - joined["scored_at"]).dt.total_seconds().to_numpy() / 3600.0, 0.0)
    report = {
        "window": {"start": window.begins.isoformat(), "end": window.ends.isoformat()},
        "predictions_in_window": len(in_window),
        # Ids from data.id_columns can repeat across runs (a customer scored twice): a label then
        # judges every prediction with its id.
        "predictions_sharing_an_id": int(in_window["inference_id"].duplicated(keep=False).sum()),
        "labelled": len(joined),
        "coverage": len(joined) / len(in_window) if len(in_window) else 0.0,
        "duplicate_labels": dropped["duplicate_labels"],
        "labels_for_unknown_ids": unknown,
        "empty_labels": dropped["empty_labels"],
        "label_delay_hours": {
            "median": float(np.median(delay_hours)) if len(joined) else None,
            "p90": float(np.percentile(delay_hours, 90)) if len(joined) else None,
            "max": float(delay_hours.max()) if len(joined) else None,
        },
    }
    return joined, report


def outcomes_of(
    joined: pd.DataFrame, target: str, problem_type: str, classes: list[str] | None
) -> tuple[Outcomes, int]:
    """The joined rows as Outcomes; and how many labels name a class the model does not know (left out)."""
    if problem_type == "regression":
        truth = pd.to_numeric(joined[target]).to_numpy(dtype="float64")
        return Outcomes(problem_type, truth, joined["prediction"].to_numpy(dtype="float64")), 0
    names = list(classes or [])
    index = {name: i for i, name in enumerate(names)}
    truth_labels = joined[target].astype(str).str.strip()
    known = truth_labels.isin(index).to_numpy()
    rows = joined[known]
    truth = truth_labels[known].map(index).to_numpy(dtype=int)
    predicted = rows["label"].astype(str).map(index).to_numpy(dtype=int)
    score = rows["probability"].to_numpy(dtype="float64") if problem_type == "binary_classification" else None
    return Outcomes(problem_type, truth, predicted, score, names), int((~known).sum())


@dataclass
class Judgement:
    """What the quality mode writes: Model Monitor's statistics and violations, and its summary."""

    statistics: dict[str, Any] | None  # None: no row was labelled
    statistics_file: dict[str, Any]  # what statistics.json holds: the statistics, or Model Monitor's empty shape
    violations: list[dict[str, str]]
    summary: dict[str, Any]
    outcomes: Outcomes


def judge(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    runs: list[ScoredBatch],
    window: Window,
    schema: DataSchema,
    target: str,
    constraints: dict[str, Any],
    minimum: int,
) -> Judgement:
    """The window's predictions joined with their labels and judged: with fewer than `minimum`
    labelled rows nothing is judged, and the summary says so. Each run gets its realised metrics
    beside the estimate it made when it scored."""
    problem_type = schema.problem_type
    joined, join = join_labels(predictions, labels, target, window)
    outcomes, unknown_classes = outcomes_of(joined, target, problem_type, schema.classes)
    # A verdict on fewer rows than Model Monitor's 200 still needs its intervals: without them a
    # window's sampling noise alone would break a constraint.
    spread_from = min(minimum, mm.MIN_ROWS_FOR_SPREAD)
    statistics = (
        mm.quality_statistics(outcomes, window.now, extra={"coverage": join}, spread_from=spread_from)
        if len(outcomes)
        else None
    )
    judged = len(outcomes) >= minimum
    violations = mm.check_constraints(statistics, constraints) if judged and statistics else []
    per_run = []
    for run in runs:
        mine = joined[joined["run_id"] == run.run_id]
        scored = int((predictions["run_id"] == run.run_id).sum())
        known = outcomes_of(mine, target, problem_type, schema.classes)[0]
        realised = mm.metric_values(known) if len(known) else {}  # labels naming no class the model knows
        estimated = run.estimate.get("metrics") if run.estimate.get("estimated") else None
        per_run.append(
            {"run_id": run.run_id, "scored_at": run.scored_at.isoformat(), "predictions": scored, "labelled": len(mine),
             "coverage": len(mine) / scored if scored else 0.0, "realised": realised, "estimate": estimated}
        )  # fmt: skip
    section = f"{mm.SECTIONS[problem_type]}_metrics"
    metrics = {} if statistics is None else {
        name: entry["value"] for name, entry in statistics[section].items()
        if name in mm.METRICS[problem_type] and isinstance(entry.get("value"), float)
    }  # fmt: skip
    summary = {
        "status": "judged" if judged else "insufficient labels",
        "judged": judged,
        "violated": bool(violations),
        "labelled_rows": len(outcomes),
        "min_labelled_rows": minimum,
        "coverage": join["coverage"],
        "metrics": metrics,
        "violations": [v["metric_name"] for v in violations],
        "labels_for_unknown_classes": unknown_classes,
        "join": join,
        "runs": per_run,
    }
    evaluated = {"item_count": 0, "evaluation_time": window.now.isoformat()}
    written = statistics if statistics is not None else {"version": 0.0, "dataset": evaluated, section: {}}
    return Judgement(statistics, written | ({} if statistics else {"coverage": join}), violations, summary, outcomes)
