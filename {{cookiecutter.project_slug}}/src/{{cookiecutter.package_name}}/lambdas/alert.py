"""Alert: tell people that batch inference found drift."""

from __future__ import annotations

from typing import Any

from .services import current


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    current().notify(
        f"Drift in {event['project']} ({event['environment']})",
        f"Batch inference run {event['run_id']} (model version {event['manifest_version']}) found drift; "
        f"report: {event['drift_report']}",
    )
    return {"retrain_started": False}
