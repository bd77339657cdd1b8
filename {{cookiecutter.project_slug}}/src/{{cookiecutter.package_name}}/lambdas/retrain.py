"""Retrain: start the training pipeline on drift or a quality drop, when there is something new to learn.

A retrain trains on the serving model's training set plus the production rows whose labels
have landed (the pipeline's TrainingData step assembles them), and its gate compares the new
model with the serving one. It starts only
- once the cooling period since the last retrain is over (shared by drift and quality), and
- when at least `min_new_labelled_rows` labelled rows arrived since the last training run;
  with fewer the alert says how many came and how to land more.
A retrain that does not start leaves the cooling period unused.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from ..registry.manifest import ModelRegistry
from ..registry.store import ParameterNotFound
from .retraining import retrain_request
from .services import current


def handler(event: dict[str, Any], context: Any = None, now: datetime | None = None) -> dict[str, Any]:
    """Start a retrain unless one started less than `cooldown_hours` ago or nothing new arrived; always alert."""
    services = current()
    now = now or services.clock()
    subject = f"{event.get('cause', 'data drift').capitalize()} in {event['project']} ({event['environment']})"
    try:
        last = json.loads(services.store.get(event["state_parameter"]).value)
        last_started = datetime.fromisoformat(last["started_at"])
    except ParameterNotFound:
        last_started = None
    cooldown = timedelta(hours=float(event["cooldown_hours"]))
    if last_started is not None and now - last_started < cooldown:
        services.notify(subject, f"Retraining skipped: cooling down until {(last_started + cooldown).isoformat()}.")
        return {"retrain_started": False, "reason": "cooling down", "execution": ""}

    registry = ModelRegistry(services.store, event["manifest_parameter"])
    request = retrain_request(
        registry,
        services.objects,
        event["labels_prefix"],
        event["inputs_prefix"],
        int(event["min_new_labelled_rows"]),
        event.get("base_rows", "keep"),
    )
    if request.parameters is None:
        services.notify(subject, f"Retraining not started: {request.reason}. The cooling period stays unused.")
        return {"retrain_started": False, "reason": request.reason, "execution": ""}
    try:
        response = services.sagemaker.start_pipeline_execution(
            PipelineName=event["training_pipeline"],
            PipelineExecutionDisplayName=f"retrain-after-{event['run_id']}"[:82],
            PipelineParameters=[{"Name": k, "Value": v} for k, v in request.parameters.items()],
        )
    except Exception as exc:  # noqa: BLE001 - any refusal: alert, and leave the cooling period unused
        reason = f"{type(exc).__name__}: {exc}"
        services.notify(subject, f"Retraining could not start: {reason}. The next drift will try again.")
        return {"retrain_started": False, "reason": reason, "execution": ""}
    state = {"started_at": now.isoformat(), "execution": response["PipelineExecutionArn"], "trigger": event["run_id"]}
    services.store.put(event["state_parameter"], json.dumps(state))
    services.notify(
        subject,
        f"Retraining started on {request.new_rows} new labelled row(s): {response['PipelineExecutionArn']}.",
    )
    return {"retrain_started": True, "reason": "", "execution": response["PipelineExecutionArn"]}
