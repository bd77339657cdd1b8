"""Ground truth: the labels that land after scoring, read and reduced to one label per inference id.

Labels land as CSV `inference_id,<target>` under `labels/yyyy/mm/dd/hh/`, the hour (UTC) they
arrived. Two jobs read them: monitoring's model-quality job, which judges the predictions
they label, and processing's retraining-data job, which turns the labelled rows into training
data. Both read them here, so that both agree on which label a row has: the latest to arrive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .data_schema import ID_COLUMN

LABEL_PARTITION = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(\d{2})")
# Each landed label's file, relative to the labels prefix (lineage names the files a retrain used).
LABEL_FILE = "label_file"


@dataclass
class Window:
    """Scoring times [now + start, now + end): Model Monitor's StartOffset and EndOffset."""

    now: datetime
    start: timedelta
    end: timedelta

    @property
    def begins(self) -> datetime:
        return self.now + self.start

    @property
    def ends(self) -> datetime:
        return self.now + self.end


def read_labels(path: Path, target: str, problem_type: str) -> pd.DataFrame:
    """A ground-truth file, checked: header `inference_id,<target>`, an id on every row, valid labels.

    The strict CSV rules apply first (UTF-8, every row as wide as the header). A regression
    label must be a number; a classifier's is its class name as the training data wrote it.
    A row without a label is kept (the jobs count it); a row without an id is an error.
    """
    from .csv_input import check_file

    check_file(path)
    frame = pd.read_csv(path, dtype="string", keep_default_na=False, na_values=[""])
    expected = [ID_COLUMN, target]
    if list(frame.columns) != expected:
        raise ValueError(
            f"{path}: the header is {','.join(map(str, frame.columns))}; a labels file has exactly "
            f"{','.join(expected)} (the inference id from the predictions, then the true {target})."
        )
    no_id = frame[ID_COLUMN].isna()
    if no_id.any():
        line = int(np.flatnonzero(no_id.to_numpy())[0]) + 2
        raise ValueError(f"{path}, line {line}: no inference_id; every label needs the id of its prediction.")
    if problem_type == "regression":
        numbers = pd.to_numeric(frame[target], errors="coerce")
        bad = numbers.isna() & frame[target].notna()
        if bad.any():
            line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
            raise ValueError(
                f"{path}, line {line}: {frame[target][bad].iloc[0]!r} is not a number, as {target} must be."
            )
    return frame


def arrival_hour(relative: str) -> datetime | None:
    """The arrival hour (UTC) a labels file's path names (`.../yyyy/mm/dd/hh/...`), or None."""
    match = LABEL_PARTITION.search(relative)
    return datetime(*(int(g) for g in match.groups()), tzinfo=UTC) if match else None


def label_files(root: Path) -> list[Path]:
    """The labels files under `root`, in path order; hidden files (the deployment's marker) are not labels."""
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def landed_labels(root: Path, target: str, problem_type: str) -> pd.DataFrame:
    """Every labels file under `root` (labels/yyyy/mm/dd/hh/), each row with its arrival hour (UTC) and file."""
    frames = []
    for path in label_files(root):
        relative = path.relative_to(root).as_posix()
        arrived = arrival_hour(relative)
        if arrived is None:
            raise ValueError(
                f"{path}: labels must land under labels/yyyy/mm/dd/hh/ (their arrival hour, UTC); "
                "this file is not in such a folder."
            )
        frame = read_labels(path, target, problem_type)
        frames.append(frame.assign(arrived_at=pd.Timestamp(arrived), **{LABEL_FILE: relative}))
    if not frames:
        return pd.DataFrame(
            {ID_COLUMN: pd.Series(dtype="string"), target: pd.Series(dtype="string"),
             "arrived_at": pd.Series(dtype="datetime64[ns, UTC]"), LABEL_FILE: pd.Series(dtype="string")}
        )  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def latest_labels(labels: pd.DataFrame, target: str, now: datetime) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One label per inference id: the latest to arrive by `now` (a correction replaces what it corrects).

    Labels that arrive after `now` do not count yet, and an empty label is counted and left out.
    Returns the labels kept and what was left out: duplicates and empty labels.
    """
    arrived = labels[labels["arrived_at"] <= now]
    empty = arrived[target].isna()
    ordered = arrived[~empty].sort_values("arrived_at", kind="mergesort")
    duplicates = int(ordered[ID_COLUMN].duplicated().sum())
    latest = ordered.drop_duplicates(ID_COLUMN, keep="last")
    return latest, {"duplicate_labels": duplicates, "empty_labels": int(empty.sum())}
