"""Retrain: start the training pipeline on drift or a quality drop, at most once per cooling period."""

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
    subject = f"{event.get('cause', 'data drift').capitalize()} in {event['project']} ({event['environment']})"
    try:
        last = json.loads(services.store.get(event["state_parameter"]).value)
        last_started = datetime.fromisoformat(last["started_at"])
    except ParameterNotFound:
        last_started = None
    cooldown = timedelta(hours=float(event["cooldown_hours"]))
    if last_started is not None and now - last_started < cooldown:
        services.notify(subject, f"Retraining skipped: cooling down until {(last_started + cooldown).isoformat()}.")
        return {"retrain_started": False, "reason": "cooling down"}

    try:
        training_data = (
            ModelRegistry(services.store, event["manifest_parameter"]).for_inference().manifest.get("training_data")
        )
    except (ParameterNotFound, ValueError):
        training_data = None
    if not training_data:
        # The training prefix holds every run's snapshot: without the manifest's own URI a retrain
        # would read all of them. Nothing started, so the cooling period is not used.
        reason = f"the model in {event['manifest_parameter']} names no training data (manifest training_data)"
        services.notify(subject, f"Retraining not started: {reason}. Train once with the pipeline to record it.")
        return {"retrain_started": False, "reason": reason}
    try:
        response = services.sagemaker.start_pipeline_execution(
            PipelineName=event["training_pipeline"],
            PipelineExecutionDisplayName=f"retrain-after-{event['run_id']}"[:82],
            PipelineParameters=[{"Name": "InputData", "Value": training_data}],
        )
    except Exception as exc:  # noqa: BLE001 - any refusal: alert, and leave the cooling period unused
        reason = f"{type(exc).__name__}: {exc}"
        services.notify(subject, f"Retraining could not start: {reason}. The next drift will try again.")
        return {"retrain_started": False, "reason": reason}
    state = {"started_at": now.isoformat(), "execution": response["PipelineExecutionArn"], "trigger": event["run_id"]}
    services.store.put(event["state_parameter"], json.dumps(state))
    services.notify(subject, f"Retraining started: {response['PipelineExecutionArn']}.")
    return {"retrain_started": True, "execution": response["PipelineExecutionArn"]}
