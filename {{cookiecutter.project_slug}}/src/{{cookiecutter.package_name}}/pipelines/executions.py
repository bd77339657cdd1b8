"""Deployed executions: start one (whole, or selective), retrain by hand, retry a failed one, snapshot training data.

The same rules as local mode (`local/scheduling.py`): a selective execution's steps must be
connected, and they reuse a reference execution's outputs for the steps they need; a retry
re-runs the failed step and every step after it. Every request is SageMaker's own API.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from ..registry.digests import content_digest
from . import layout
from .definition import definition
from .graph import check_selection, step_graph

REFERENCE_STATUSES = ("Succeeded", "Failed")


def _client(config: dict[str, Any], service: str, client: Any) -> Any:
    if client is not None:
        return client
    import boto3

    return boto3.client(service, region_name=config["aws"]["region"])


def start_execution(
    config: dict[str, Any],
    env: str,
    kind: str,
    parameters: dict[str, str] | None = None,
    steps: list[str] | None = None,
    reference: str | None = None,
    client: Any = None,
) -> dict[str, Any]:
    """StartPipelineExecution; with `steps`, a selective execution against `reference` (default: the latest
    Succeeded or Failed execution). The selection is checked against the definition before anything starts."""
    client = _client(config, "sagemaker", client)
    name = layout.pipeline_name(config, env, kind)
    request: dict[str, Any] = {
        "PipelineName": name,
        "PipelineParameters": [{"Name": k, "Value": str(v)} for k, v in (parameters or {}).items()],
        "ClientRequestToken": uuid.uuid4().hex,
        "ParallelismConfiguration": {"MaxParallelExecutionSteps": int(config["pipelines"]["max_parallel_steps"])},
    }
    if steps:
        built = definition(config, env, kind)
        check_selection(step_graph({s["Name"]: s for s in built["Steps"]}), steps)
        source = reference or latest_execution(client, name)
        request["SelectiveExecutionConfig"] = {
            "SourcePipelineExecutionArn": source,
            "SelectedSteps": [{"StepName": step} for step in steps],
        }
    response = client.start_pipeline_execution(**request)
    return {"execution_arn": response["PipelineExecutionArn"], "reference": request.get("SelectiveExecutionConfig", {})}


def retrain_request(config: dict[str, Any], env: str, store: Any, objects: Any, base_rows: str = "keep") -> Any:
    """What a retrain of `env` would start with now (see lambdas/retraining.py); ValueError when nothing is new."""
    from ..lambdas.retraining import retrain_request as request_for
    from ..registry.manifest import ModelRegistry, manifest_parameter

    request = request_for(
        ModelRegistry(store, manifest_parameter(config, env)),
        objects,
        layout.labels_prefix(config, env),
        layout.inputs_prefix(config, env),
        int(config["retraining"]["min_new_labelled_rows"]),
        base_rows,
    )
    if request.parameters is None:
        raise ValueError(f"Nothing to retrain on: {request.reason}.")
    return request


def retrain(
    config: dict[str, Any],
    env: str,
    base_rows: str = "keep",
    store: Any = None,
    objects: Any = None,
    client: Any = None,
) -> dict[str, Any]:
    """A retrain started by hand, as the retrain Lambda starts one: the promoted model's data and the labelled
    rows since the last training (no cooling period: a person asked). Refused when too few labels arrived."""
    from ..lambdas.services import S3Objects
    from ..registry.store import SsmParameterStore

    store = store or SsmParameterStore(region=config["aws"]["region"])
    request = retrain_request(config, env, store, objects or S3Objects(_client(config, "s3", None)), base_rows)
    started = start_execution(config, env, "training", request.parameters, client=client)
    return started | {"parameters": request.parameters, "new_labelled_rows": request.new_rows}


def latest_execution(client: Any, pipeline: str) -> str:
    """The newest execution of `pipeline` that a selective execution may reference."""
    pages = client.get_paginator("list_pipeline_executions").paginate(
        PipelineName=pipeline, SortBy="CreationTime", SortOrder="Descending"
    )
    for page in pages:
        for summary in page.get("PipelineExecutionSummaries", []):
            if summary.get("PipelineExecutionStatus") in REFERENCE_STATUSES:
                return summary["PipelineExecutionArn"]
    raise ValueError(f"{pipeline} has no Succeeded or Failed execution to reference; pass --reference ARN.")


def retry_execution(config: dict[str, Any], execution_arn: str, client: Any = None) -> str:
    """RetryPipelineExecution: the failed step and every step after it run again in the same execution."""
    client = _client(config, "sagemaker", client)
    response = client.retry_pipeline_execution(
        PipelineExecutionArn=execution_arn,
        ClientRequestToken=uuid.uuid4().hex,
        ParallelismConfiguration={"MaxParallelExecutionSteps": int(config["pipelines"]["max_parallel_steps"])},
    )
    return response["PipelineExecutionArn"]


def snapshot_data(config: dict[str, Any], env: str, source: Path, client: Any = None) -> dict[str, str]:
    """Upload training data under s3://<bucket>/data/train/sha256=<digest>/, once: the URI to pass as InputData.

    The prefix is named by the content (the one file's sha256, or the folder listing's), so a
    cached step that read it can never be reused for other data. Objects already there are kept;
    missing ones (an interrupted upload) are added.
    """
    source = Path(source)
    files = sorted(p for p in source.rglob("*.csv") if p.is_file()) if source.is_dir() else [source]
    if not files or not files[0].is_file():
        raise FileNotFoundError(f"{source} holds no CSV file; pass a CSV file or a folder of CSV files.")
    names = [p.relative_to(source).as_posix() for p in files] if source.is_dir() else [source.name]
    digest = content_digest(files, names if source.is_dir() else None)
    bucket = layout.bucket(config, env)
    key_prefix = f"data/train/sha256={digest}/"
    client = _client(config, "s3", client)
    present = {
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix)
        for item in page.get("Contents", [])
    }
    uploaded = 0
    for path, name in zip(files, names, strict=True):
        if key_prefix + name not in present:
            client.upload_file(str(path), bucket, key_prefix + name)
            uploaded += 1
    return {"uri": f"s3://{bucket}/{key_prefix}", "sha256": digest, "uploaded": str(uploaded)}
