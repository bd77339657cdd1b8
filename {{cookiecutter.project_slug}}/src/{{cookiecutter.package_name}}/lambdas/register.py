"""Register: the training pipeline's last step writes the run's manifest as a new version."""

from __future__ import annotations

from typing import Any

from ..registry.manifest import ModelRegistry
from .services import current

ARTIFACT_KEYS = ("model", "preprocessing", "baseline", "explainability")


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Write one manifest version; SageMaker passes every value in `event` as the step's input."""
    manifest = {
        "run_id": event["run_id"],
        "pipeline_execution": event["pipeline_execution"],
        "training_data": event.get("training_data"),
        "artifacts": {key: event[key] for key in ARTIFACT_KEYS},
        "metrics": {key.removeprefix("metric_"): float(v) for key, v in event.items() if key.startswith("metric_")},
        "git_sha": event.get("git_sha", "unknown"),
        "template_version": event["template_version"],
    }
    version = ModelRegistry(current().store, event["manifest_parameter"]).register(manifest)
    return {"manifest_version": version}
