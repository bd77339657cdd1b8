"""Model quality on arrays: the pure core of monitoring's model-quality job.

Predictions are joined with ground-truth labels that arrive later, by inference id, over a
window of scoring times given as offsets from the job's time (Model Monitor's StartOffset and
EndOffset). The metrics come with a bootstrap standard deviation and confidence interval and
with the best constant predictor's value for reference, in Model Monitor's model-quality
statistics format; training derives threshold-and-operator constraints from its validation
metrics, and a run's violations are written in Model Monitor's constraint_violations format.

Metrics are computed here with numpy (they are recomputed on every bootstrap resample), and
are tested against scikit-learn's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...config import parse_offset as parse_offset  # re-exported: the window offsets are parsed here
from ...data_schema import ID_COLUMN

# The monitoring job reads labels through these (re-exported).
from ...ground_truth import Window as Window
from ...ground_truth import landed_labels as landed_labels
from ...ground_truth import latest_labels
from ...ground_truth import read_labels as read_labels
from ...model_metrics import Outcomes

# --- metrics ------------------------------------------------------------------------------


# --- constraints and violations -------------------------------------------------------------


# --- predictions joined with labels -------------------------------------------------------------


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


# --- the job's inputs: scored runs and landed labels ----------------------------------------------

# The scored predictions each inference run keeps (monitoring's estimate mode writes them).
PREDICTION_COLUMNS = {
    "classification": [ID_COLUMN, "label", "probability"],
    "regression": [ID_COLUMN, "prediction"],
}


@dataclass
class ScoredRun:
    """One inference run's kept predictions: where they are, when they were scored, its estimate."""

    run_id: str
    scored_at: datetime
    folder: Path
    estimate: dict[str, Any]


def scored_runs(root: Path) -> list[ScoredRun]:
    """Every run under `root` (one folder per run, with run.json), oldest first."""
    runs = []
    for path in sorted(root.rglob("run.json")):
        try:
            record = json.loads(path.read_text("utf-8"))
            scored_at = datetime.fromisoformat(record["scored_at"]).astimezone(UTC)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{path} is not a scored run's record (run.json with run_id and scored_at): {exc}"
            ) from exc
        runs.append(
            ScoredRun(str(record.get("run_id", path.parent.name)), scored_at, path.parent, record.get("estimate", {}))
        )
    return sorted(runs, key=lambda run: (run.scored_at, run.run_id))


def read_predictions(runs: list[ScoredRun], problem_type: str) -> pd.DataFrame:
    """The runs' predictions, each row with its run's id and scoring time."""
    kind = "regression" if problem_type == "regression" else "classification"
    columns = PREDICTION_COLUMNS[kind]
    frames = []
    for run in runs:
        path = run.folder / "predictions.csv"
        frame = pd.read_csv(path, dtype={ID_COLUMN: "string", "label": "string"}, keep_default_na=False, na_values=[""])
        if list(frame.columns) != columns:
            raise ValueError(f"{path} has columns {list(frame.columns)}; scored predictions have {columns}.")
        frames.append(frame.assign(run_id=run.run_id, scored_at=pd.Timestamp(run.scored_at)))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in columns}).assign(
            run_id=pd.Series(dtype="string"), scored_at=pd.Series(dtype="datetime64[ns, UTC]")
        )
    return pd.concat(frames, ignore_index=True)


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
