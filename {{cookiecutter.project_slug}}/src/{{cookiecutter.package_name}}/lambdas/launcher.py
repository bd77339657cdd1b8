"""Launcher: EventBridge Scheduler's target. Starts batch inference or model quality with the approved model.

EventBridge cannot pass pipeline parameters by itself; this handler reads the approved (or
latest) manifest and passes its URIs to the pipeline the event names: `inference_pipeline`
(with `input_data`) or `quality_pipeline`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..registry.manifest import ModelRegistry
from .services import current


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Start the pipeline the event names with the model the registry serves."""
    services = current()
    registered = ModelRegistry(services.store, event["manifest_parameter"]).for_inference()
    if "quality_pipeline" in event:
        pipeline, parameters = event["quality_pipeline"], registered.parameters("quality")
    else:
        pipeline = event["inference_pipeline"]
        parameters = {"InputData": event["input_data"], **registered.parameters("inference")}
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    response = services.sagemaker.start_pipeline_execution(
        PipelineName=pipeline,
        PipelineExecutionDisplayName=f"scheduled-{stamp}",
        PipelineParameters=[{"Name": k, "Value": v} for k, v in parameters.items()],
    )
    return {"execution": response["PipelineExecutionArn"], "manifest_version": registered.version}
