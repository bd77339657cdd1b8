"""Alert: tell people that a pipeline found data drift or a drop in model quality."""

from __future__ import annotations

from typing import Any

from .services import current


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    cause = event.get("cause", "data drift")
    current().notify(
        f"{cause.capitalize()} in {event['project']} ({event['environment']})",
        f"Run {event['run_id']} (model version {event['manifest_version']}) found {cause}; report: {event['report']}",
    )
    return {"retrain_started": False, "reason": "drift_action is alert", "execution": ""}
