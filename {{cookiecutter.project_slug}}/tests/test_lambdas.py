"""The Lambda handlers against moto: the same functions the deployed Lambdas and local mode run."""

import json

import pytest

from {{ cookiecutter.package_name }}.lambdas import (
    alert,
    launcher,
    register,
)
from {{ cookiecutter.package_name }}.registry.manifest import (
    ModelRegistry,
)

from .conftest import MANIFEST, drift_event, register_event


def test_register_writes_a_manifest_version_to_ssm(lambda_aws):
    services, _ = lambda_aws
    assert register.handler(register_event("run1")) == {"manifest_version": 1}
    assert register.handler(register_event("run2")) == {"manifest_version": 2}
    manifest = ModelRegistry(services.store, MANIFEST).get(version=1).manifest
    assert manifest["metrics"] == {"auc": 0.81, "accuracy": 0.7}
    assert manifest["artifacts"]["baseline"] == "s3://bucket/baseline"
    assert manifest["template_version"] == "0.1.0"


def test_register_refuses_a_partial_manifest(lambda_aws):
    services, _ = lambda_aws
    event = register_event()
    event["baseline"] = ""
    with pytest.raises(ValueError, match="incomplete"):
        register.handler(event)
    assert ModelRegistry(services.store, MANIFEST).history() == []


def test_alert_only_notifies(lambda_aws):
    _, sent = lambda_aws
    assert alert.handler(drift_event()) == {"retrain_started": False}
    assert sent == ["Data drift in test (dev)"]
    alert.handler(drift_event() | {"cause": "model quality"})
    assert sent[-1] == "Model quality in test (dev)"


def test_launcher_starts_inference_with_the_approved_models_uris(lambda_aws):
    services, _ = lambda_aws
    services.sagemaker.create_pipeline(
        PipelineName="test-dev-inference",
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
        RoleArn="arn:aws:iam::123456789012:role/test",
    )
    register.handler(register_event("run1"))
    second = register_event("run2") | {"model": "s3://bucket/model-2.tar.gz"}
    register.handler(second)
    ModelRegistry(services.store, MANIFEST).promote(1)
    event = {"manifest_parameter": MANIFEST, "inference_pipeline": "test-dev-inference", "input_data": "s3://b/in/"}
    result = launcher.handler(event)
    assert result["manifest_version"] == 1
    assert "test-dev-inference/execution/" in result["execution"]


def test_launcher_without_a_model_fails_clearly(lambda_aws):
    event = {"manifest_parameter": MANIFEST, "inference_pipeline": "test-dev-inference", "input_data": "s3://b/in/"}
    with pytest.raises(KeyError, match="run the training pipeline first"):
        launcher.handler(event)


def test_launcher_starts_model_quality_with_the_approved_model(lambda_aws):
    services, _ = lambda_aws
    services.sagemaker.create_pipeline(
        PipelineName="test-dev-quality",
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
        RoleArn="arn:aws:iam::123456789012:role/test",
    )
    register.handler(register_event("run1"))
    register.handler(register_event("run2") | {"model": "s3://bucket/model-2.tar.gz"})
    ModelRegistry(services.store, MANIFEST).promote(1)
    result = launcher.handler({"manifest_parameter": MANIFEST, "quality_pipeline": "test-dev-quality"})
    assert result["manifest_version"] == 1
    (execution,) = services.sagemaker.list_pipeline_executions(PipelineName="test-dev-quality")[
        "PipelineExecutionSummaries"
    ]
    described = services.sagemaker.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution["PipelineExecutionArn"]
    )["PipelineParameters"]
    assert {p["Name"]: p["Value"] for p in described} == {
        "ModelUri": register_event("run1")["model"],
        "ManifestVersion": "1",
    }
