"""Launcher: EventBridge Scheduler's target. Starts batch inference or model quality with the approved model.

EventBridge cannot pass pipeline parameters by itself; this handler reads the approved
manifest and passes its URIs and digests to the pipeline the event names: `inference_pipeline`
(with `input_data`, the prefix batches land under) or `quality_pipeline`.

An inference run never reads the landing prefix itself, where the next batch may replace this
one: the launcher copies what has landed to a prefix of the run's own,
`<landing>-runs/<run>/` (`s3://<bucket>/data/inference-runs/scheduled-.../`), and the run, its
retries and any selective run that references it read that copy. With nothing landed, nothing
starts.

The inference schedule's event also names the environment's model package group: each start
reconciles it with Parameter Store, which retries a model registry mirror a failed call left out.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from ..registry.manifest import ModelRegistry
from .mirroring import keep_in_step, mirror_of
from .services import current

MARKER = ".keep"  # the empty object deployment may put in a prefix; never data


def run_input(objects: Any, landing: str, run: str) -> tuple[str, int]:
    """Copy every object under the landing prefix to `<landing>-runs/<run>/`; its URI and how many were copied."""
    source = landing.rstrip("/") + "/"
    target = f"{landing.rstrip('/')}-runs/{run}/"
    copied = 0
    for uri in objects.list(source):
        key = uri.removeprefix(source)
        if key.endswith("/") or key.rsplit("/", 1)[-1] == MARKER:
            continue
        objects.copy(uri, target + key)
        copied += 1
    return target, copied


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Start the pipeline the event names with the model the registry serves."""
    services = current()
    answer = _start(services, event)
    # Each scheduled inference run also retries the model registry mirror, whether it started or had
    # nothing to score: what a failed call left out is mirrored within a day.
    mirror = mirror_of(services, ModelRegistry(services.store, event["manifest_parameter"]), event)
    if mirror is not None:
        answer["package_mirror"] = keep_in_step(services, mirror, event.get("environment", ""))
    return answer


def _start(services: Any, event: dict[str, Any]) -> dict[str, Any]:
    registered = ModelRegistry(services.store, event["manifest_parameter"]).for_inference()
    run = f"scheduled-{datetime.now(UTC):%Y%m%d%H%M%S}-{os.urandom(3).hex()}"
    if "quality_pipeline" in event:
        pipeline, parameters = event["quality_pipeline"], registered.parameters("quality")
    else:
        pipeline = event["inference_pipeline"]
        input_data, copied = run_input(services.objects, event["input_data"], run)
        if not copied:
            reason = f"nothing has landed under {event['input_data']}: no inference started"
            print(reason)
            return {"execution": "", "manifest_version": registered.version, "reason": reason}
        parameters = {"InputData": input_data, **registered.parameters("inference")}
    response = services.sagemaker.start_pipeline_execution(
        PipelineName=pipeline,
        PipelineExecutionDisplayName=run,
        PipelineParameters=[{"Name": k, "Value": v} for k, v in parameters.items()],
    )
    return {"execution": response["PipelineExecutionArn"], "manifest_version": registered.version, "reason": ""}
