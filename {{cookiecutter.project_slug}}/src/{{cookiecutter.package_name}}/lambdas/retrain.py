"""Retrain: start the training pipeline on drift, at most once per cooling period."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from ..registry.manifest import ModelRegistry
from ..registry.store import ParameterNotFound
from .services import current


def handler(event: dict[str, Any], context: Any = None, now: datetime | None = None) -> dict[str, Any]:
    """Start a retrain unless one started less than `cooldown_hours` ago; always alert."""
    services = current()
    now = now or datetime.now(UTC)
    subject = f"Drift in {event['project']} ({event['environment']})"
    try:
        last = json.loads(services.store.get(event["state_parameter"]).value)
        last_started = datetime.fromisoformat(last["started_at"])
    except ParameterNotFound:
        last_started = None
    cooldown = timedelta(hours=float(event["cooldown_hours"]))
    if last_started is not None and now - last_started < cooldown:
        services.notify(subject, f"Retraining skipped: cooling down until {(last_started + cooldown).isoformat()}.")
        return {"retrain_started": False, "reason": "cooling down"}

    parameters = []
    try:
        training_data = (
            ModelRegistry(services.store, event["manifest_parameter"]).for_inference().manifest.get("training_data")
        )
    except ParameterNotFound:
        training_data = None
    if training_data:
        parameters.append({"Name": "InputData", "Value": training_data})
    response = services.sagemaker.start_pipeline_execution(
        PipelineName=event["training_pipeline"],
        PipelineExecutionDisplayName=f"retrain-after-{event['run_id']}"[:82],
        PipelineParameters=parameters,
    )
    state = {"started_at": now.isoformat(), "execution": response["PipelineExecutionArn"], "trigger": event["run_id"]}
    services.store.put(event["state_parameter"], json.dumps(state))
    services.notify(subject, f"Retraining started: {response['PipelineExecutionArn']}.")
    return {"retrain_started": True, "execution": response["PipelineExecutionArn"]}
