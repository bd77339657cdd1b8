"""Deploy: render every definition with digest-pinned images and upsert them on SageMaker."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from .. import channels
from ..lambdas import available
from ..registry.manifest import image_parameter, prefix
from ..registry.store import ParameterNotFound, ParameterStore, SsmParameterStore
from . import layout
from .definition import KINDS, definition


def pinned_images(config: dict[str, Any], env: str, store: ParameterStore) -> dict[str, str]:
    """The image URI of each component, as the image build wrote it to Parameter Store."""
    images, missing = {}, []
    for component in channels.COMPONENTS:
        try:
            images[component] = store.get(image_parameter(config, env, component)).value
        except ParameterNotFound:
            missing.append(image_parameter(config, env, component))
    if missing:
        raise ValueError(f"No image URI at {missing}; build and push the images first (buildspecs/build-images.yml).")
    unpinned = [uri for uri in images.values() if "@sha256:" not in uri]
    if unpinned:
        raise ValueError(f"Image URIs {unpinned} are not pinned by digest; deploy only digest-pinned images.")
    return images


def upsert(config: dict[str, Any], env: str, client: Any = None, store: ParameterStore | None = None) -> dict[str, str]:
    """Create or update every pipeline of `env`; record each ARN under <prefix>/pipelines/<kind>."""
    region = config["aws"]["region"]
    store = store or SsmParameterStore(region=region)
    images = pinned_images(config, env, store)
    if client is None:
        import boto3

        client = boto3.client("sagemaker", region_name=region)
    arns = {}
    for kind in KINDS:
        request = pipeline_request(config, env, kind, images)
        exists = pipeline_exists(client, request["PipelineName"])
        response = client.update_pipeline(**request) if exists else client.create_pipeline(**request)
        arns[kind] = response["PipelineArn"]
        store.put(f"{prefix(config, env)}/pipelines/{kind}", arns[kind])
    return arns


def seed_markers(config: dict[str, Any], env: str, client: Any = None) -> list[str]:
    """Put the empty markers that let the pipelines run before any batch, label or kept input exists."""
    if client is None:
        import boto3

        client = boto3.client("s3", region_name=config["aws"]["region"])
    markers = layout.markers(config, env)
    for uri in markers:
        bucket_name, key = uri.removeprefix("s3://").split("/", 1)
        client.put_object(Bucket=bucket_name, Key=key, Body=b"")
    return markers


def pipeline_request(config: dict[str, Any], env: str, kind: str, images: dict[str, str]) -> dict[str, Any]:
    """The CreatePipeline / UpdatePipeline request of one pipeline: its definition, role and parallelism."""
    return {
        "PipelineName": layout.pipeline_name(config, env, kind),
        "PipelineDefinition": json.dumps(definition(config, env, kind, images)),
        "RoleArn": layout.role_arn(config, env),
        # Not part of the definition: SageMaker takes it with the pipeline (and local mode from config).
        "ParallelismConfiguration": {"MaxParallelExecutionSteps": int(config["pipelines"]["max_parallel_steps"])},
    }


def pipeline_exists(client: Any, name: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        client.describe_pipeline(PipelineName=name)
    except ClientError as exc:
        error = exc.response["Error"]
        if error["Code"] == "ResourceNotFound" or "could not find" in error.get("Message", "").lower():
            return False
        raise
    return True


# What the Lambdas import: handlers and the registry, nothing that needs pandas or the SDK.
LAMBDA_MODULES = ("__init__.py", "lambdas", "registry")


def lambda_package() -> bytes:
    """A zip of the handlers and the registry, importable on the stock Python Lambda runtime."""
    package = Path(__file__).resolve().parents[1]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in LAMBDA_MODULES:
            paths = [package / entry] if entry.endswith(".py") else sorted((package / entry).rglob("*.py"))
            for path in paths:
                info = zipfile.ZipInfo(f"{package.name}/{path.relative_to(package).as_posix()}", (2026, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def publish_lambdas(config: dict[str, Any], env: str, client: Any = None) -> dict[str, str]:
    """Replace each Lambda's code with this package's handlers; returns the new code hashes."""
    if client is None:
        import boto3

        client = boto3.client("lambda", region_name=config["aws"]["region"])
    code = lambda_package()
    published = {}
    for function in available():
        response = client.update_function_code(FunctionName=layout.name(config, env, function), ZipFile=code)
        published[function] = response["CodeSha256"]
    return published
