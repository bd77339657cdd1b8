"""Deployment upserts both pipelines with digest-pinned images, against moto."""

import json

import boto3
import pytest
from moto import mock_aws

from {{ cookiecutter.package_name }}.pipelines.deploy import (
    upsert,
)
from {{ cookiecutter.package_name }}.registry.manifest import (
    image_parameter,
    prefix,
)
from {{ cookiecutter.package_name }}.registry.store import (
    SsmParameterStore,
)

COMPONENTS = ("processing", "algorithm", "monitoring", "explainability")


@pytest.fixture
def aws(config):
    with mock_aws():
        region = config["aws"]["region"]
        yield SsmParameterStore(boto3.client("ssm", region_name=region)), boto3.client("sagemaker", region_name=region)


def pin_images(store, config, digest="a" * 64, pinned=True):
    for c in COMPONENTS:
        suffix = f"@sha256:{digest}" if pinned else ":latest"
        store.put(image_parameter(config, "dev", c), f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/x-{c}{suffix}")


def test_upsert_creates_then_updates_both_pipelines_and_records_arns(aws, config):
    store, sagemaker = aws
    pin_images(store, config)
    arns = upsert(config, "dev", client=sagemaker, store=store)
    assert set(arns) == {"training", "inference"}
    assert store.get(f"{prefix(config, 'dev')}/pipelines/training").value == arns["training"]
    described = sagemaker.describe_pipeline(PipelineName=arns["training"].rsplit("/", 1)[-1])
    parameters = {p["Name"]: p.get("DefaultValue") for p in json.loads(described["PipelineDefinition"])["Parameters"]}
    assert parameters["AlgorithmImage"].endswith("x-algorithm@sha256:" + "a" * 64)
    pin_images(store, config, digest="b" * 64)
    assert upsert(config, "dev", client=sagemaker, store=store) == arns
    described = sagemaker.describe_pipeline(PipelineName=arns["inference"].rsplit("/", 1)[-1])
    assert "b" * 64 in described["PipelineDefinition"]


def test_upsert_refuses_missing_images(aws, config):
    store, sagemaker = aws
    with pytest.raises(ValueError, match="build and push the images first"):
        upsert(config, "dev", client=sagemaker, store=store)


def test_upsert_refuses_unpinned_images(aws, config):
    store, sagemaker = aws
    pin_images(store, config, pinned=False)
    with pytest.raises(ValueError, match="not pinned by digest"):
        upsert(config, "dev", client=sagemaker, store=store)
