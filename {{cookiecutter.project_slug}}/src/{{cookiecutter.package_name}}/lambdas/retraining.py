"""What a retrain starts with: the serving model's data, and the labelled rows that arrived since the last training.

The retrain Lambda (drift_action: retrain), `local retrain` and `pipelines retrain` ask the same
question here: is there enough that is new to learn from, and if so, which parameters start
the training pipeline on it? Repositories that only alert keep this module, for the retrains a
person starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..registry.manifest import ModelRegistry, RegisteredModel
from .services import ObjectStore

LINEAGE_FILE = "lineage.json"


@dataclass
class Request:
    """What a retrain would start with, or why it cannot: the parameters, or a reason; and the counts."""

    parameters: dict[str, str] | None
    reason: str
    new_rows: int = 0
    new_files: int = 0


def _partition(uri: str) -> datetime | None:
    """The arrival hour a labels object's key names (labels/yyyy/mm/dd/hh/...)."""
    parts = uri.split("/labels/", 1)[-1].split("/")
    try:
        return datetime(*(int(p) for p in parts[:4]), tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def used_label_files(objects: ObjectStore, manifest: dict[str, Any]) -> set[str]:
    """The labels files (relative to labels/) a training run used: its set's lineage.json, else the manifest's."""
    lineage = manifest.get("lineage") or {}
    data = manifest.get("training_data") or ""
    if not lineage:
        return set()
    try:
        record = json.loads(objects.read(data.rstrip("/") + "/" + LINEAGE_FILE))
        return {name for source in record["sources"] for name in source.get("labels", [])}
    except Exception:  # noqa: BLE001 - a missing or unreadable lineage.json (S3 or local): the manifest's list
        return set((lineage.get("labels") or {}).get("files", []))


def new_labels(objects: ObjectStore, labels_prefix: str, last: RegisteredModel) -> tuple[int, int]:
    """Labelled rows (and files) that arrived since the `last` training run and that it did not use."""
    since = last.manifest.get("trained_at") or last.last_modified
    cutoff = datetime.fromisoformat(since).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    used = used_label_files(objects, last.manifest)
    start = f"{labels_prefix}{cutoff - timedelta(hours=1):%Y/%m/%d/%H}/~"  # after every key of the hour before
    rows = files = 0
    for uri in objects.list(labels_prefix, start_after=start):
        relative = uri.removeprefix(labels_prefix)
        arrived = _partition(uri)
        if arrived is None or arrived < cutoff or relative in used or relative.rsplit("/", 1)[-1].startswith("."):
            continue
        lines = [line for line in objects.read(uri).decode("utf-8", errors="replace").splitlines() if line.strip()]
        rows += max(len(lines) - 1, 0)
        files += 1
    return rows, files


def retrain_request(
    registry: ModelRegistry,
    objects: ObjectStore,
    labels_prefix: str,
    inputs_prefix: str,
    minimum: int,
    base_rows: str = "keep",
) -> Request:
    """The training pipeline's parameters for a retrain now, or why there is none.

    `base_rows` (keep or age_out) is what becomes of the rows scored before the window.
    """
    champion = registry.champion()
    if champion is None:
        return Request(None, f"no version of {registry.parameter} is promoted: promote one, whose data a retrain grows")
    training_data = champion.manifest.get("training_data")
    if not training_data:
        # The training prefix holds every run's snapshot: without the manifest's own URI a retrain
        # would read all of them.
        return Request(None, f"the model in {registry.parameter} names no training data (manifest training_data)")
    history = [v for v in registry.history() if v.manifest]
    rows, files = new_labels(objects, labels_prefix, history[-1] if history else champion)
    if rows < minimum:
        return Request(
            None,
            f"{rows} labelled row(s) in {files} file(s) arrived since the last training (v{history[-1].version}), "
            f"fewer than the {minimum} a retrain needs (retraining.min_new_labelled_rows); land labels as CSV "
            f"inference_id,<target> under {labels_prefix}yyyy/mm/dd/hh/ (locally: `local labels --data FILE`)",
            rows,
            files,
        )
    parameters = {
        "InputData": training_data,
        "ProductionInputs": inputs_prefix,
        "ProductionLabels": labels_prefix,
        "BaseRows": base_rows,
        **champion.parameters("champion"),
    }
    return Request(parameters, "", rows, files)
