"""Register: the training pipeline's last step writes the run's manifest as a new version."""

from __future__ import annotations

import re
from typing import Any

from ..registry.manifest import ModelRegistry
from .services import current

ARTIFACT_KEYS = ("model", "preprocessing", "baseline", "explainability")


def training_data_digest(uri: str | None) -> str | None:
    """The sha256 a content-addressed input prefix (`.../sha256=<digest>/`) is named by, else None."""
    match = re.search(r"/sha256=([0-9a-f]{64})/?$", uri or "")
    return match.group(1) if match else None


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Write one manifest version; SageMaker passes every value in `event` as the step's input."""
    manifest = {
        "run_id": event["run_id"],
        "pipeline_execution": event["pipeline_execution"],
        "training_data": event.get("training_data"),
        "training_data_sha256": training_data_digest(event.get("training_data")),
        "artifacts": {key: event[key] for key in ARTIFACT_KEYS},
        "metrics": {key.removeprefix("metric_"): float(v) for key, v in event.items() if key.startswith("metric_")},
        "git_sha": event.get("git_sha", "unknown"),
        "template_version": event["template_version"],
    }
    version = ModelRegistry(current().store, event["manifest_parameter"]).register(manifest)
    return {"manifest_version": version}
