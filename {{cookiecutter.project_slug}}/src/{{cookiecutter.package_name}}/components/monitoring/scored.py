"""Scored predictions as files: the Transform's output that estimate mode reads, and the runs it keeps.

Each inference run keeps its predictions with a header, and a run.json (run id, scoring
time, the estimate); the quality mode reads them back, every run of its window.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ...data_schema import ID_COLUMN

# The scored predictions each inference run keeps (monitoring's estimate mode writes them).
PREDICTION_COLUMNS = {
    "classification": [ID_COLUMN, "label", "probability"],
    "regression": [ID_COLUMN, "prediction"],
}


@dataclass
class ScoredBatch:
    """One scored batch, an inference execution's kept predictions: where, when scored, its estimate."""

    run_id: str
    scored_at: datetime
    folder: Path
    estimate: dict[str, Any]


def scored_batches(root: Path) -> list[ScoredBatch]:
    """Every scored batch under `root` (one folder per execution, with its run.json record), oldest first."""
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
            ScoredBatch(str(record.get("run_id", path.parent.name)), scored_at, path.parent, record.get("estimate", {}))
        )
    return sorted(runs, key=lambda run: (run.scored_at, run.run_id))


def read_predictions(runs: list[ScoredBatch], problem_type: str) -> pd.DataFrame:
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


def read_transform_output(folder: Path, header: list[str]) -> tuple[list[str], list[pd.DataFrame]]:
    """Batch Transform's `.out` files under `folder`: each file's text (a newline at its end), and its rows."""
    outputs = sorted(p for p in folder.rglob("*.out") if p.is_file())
    if not outputs:
        raise ValueError(f"No predictions (Batch Transform's .out files) in {folder}.")
    lines, frames = [], []
    for path in outputs:
        text = path.read_text("utf-8")
        if not text.strip():
            continue
        frame = pd.read_csv(io.StringIO(text), header=None, dtype={0: "string", 1: "string"})
        if frame.shape[1] != len(header):
            raise ValueError(f"{path} has {frame.shape[1]} columns; the Transform writes {','.join(header)}.")
        lines.append(text if text.endswith("\n") else text + "\n")
        frames.append(frame)
    return lines, frames
