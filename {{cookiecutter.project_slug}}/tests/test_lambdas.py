"""The Lambda handlers against moto: the same functions the deployed Lambdas and local mode run."""

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from {{ cookiecutter.package_name }}.lambdas import (
    alert,
    launcher,
    register,
    retrain,
)
from {{ cookiecutter.package_name }}.lambdas.services import (
    Services,
    installed,
)
from {{ cookiecutter.package_name }}.registry.manifest import (
    ModelRegistry,
)
from {{ cookiecutter.package_name }}.registry.store import (
    SsmParameterStore,
)

REGION = "eu-west-1"
MANIFEST = "/mlops/test/dev/model/manifest"
STATE = "/mlops/test/dev/state/last-retrain"


@pytest.fixture
def aws():
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        sagemaker.create_pipeline(
            PipelineName="test-dev-training",
            PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
            RoleArn="arn:aws:iam::123456789012:role/test",
        )
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        sent = []

        def notify(subject, message):
            sns.publish(TopicArn=topic, Subject=subject, Message=message)
            sent.append(subject)

        services = Services(SsmParameterStore(boto3.client("ssm", region_name=REGION)), sagemaker, notify)
        with installed(services):
            yield services, sent


def register_event(run="run1"):
    return {
        "manifest_parameter": MANIFEST,
        "run_id": run,
        "pipeline_execution": f"arn:aws:sagemaker:{REGION}:123456789012:pipeline/test-dev-training/execution/{run}",
        "training_data": "s3://bucket/data/train/",
        "model": "s3://bucket/model.tar.gz",
        "preprocessing": "s3://bucket/artifacts",
        "baseline": "s3://bucket/baseline",
        "explainability": "s3://bucket/explainability",
        "git_sha": "abc",
        "template_version": "0.1.0",
        "metric_auc": "0.81",
        "metric_accuracy": 0.7,
    }


def drift_event():
    return {
        "project": "test",
        "environment": "dev",
        "run_id": "inference1",
        "manifest_version": "1",
        "drift_report": "s3://bucket/report",
        "training_pipeline": "test-dev-training",
        "manifest_parameter": MANIFEST,
        "state_parameter": STATE,
        "cooldown_hours": 24.0,
    }


def test_register_writes_a_manifest_version_to_ssm(aws):
    services, _ = aws
    assert register.handler(register_event("run1")) == {"manifest_version": 1}
    assert register.handler(register_event("run2")) == {"manifest_version": 2}
    manifest = ModelRegistry(services.store, MANIFEST).get(version=1).manifest
    assert manifest["metrics"] == {"auc": 0.81, "accuracy": 0.7}
    assert manifest["artifacts"]["baseline"] == "s3://bucket/baseline"
    assert manifest["template_version"] == "0.1.0"


def test_register_refuses_a_partial_manifest(aws):
    services, _ = aws
    event = register_event()
    event["baseline"] = ""
    with pytest.raises(ValueError, match="incomplete"):
        register.handler(event)
    assert ModelRegistry(services.store, MANIFEST).history() == []


def test_retrain_starts_the_training_pipeline_on_the_manifests_data(aws):
    services, sent = aws
    register.handler(register_event())
    result = retrain.handler(drift_event())
    assert result["retrain_started"] is True
    assert "test-dev-training/execution/" in result["execution"]
    state = json.loads(services.store.get(STATE).value)
    assert state["execution"] == result["execution"] and state["trigger"] == "inference1"
    assert any("Drift in test" in s for s in sent)


def test_retrain_respects_the_cooling_period(aws):
    register.handler(register_event())
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    assert retrain.handler(drift_event(), now=now)["retrain_started"] is True
    assert retrain.handler(drift_event(), now=now + timedelta(hours=23))["retrain_started"] is False
    assert retrain.handler(drift_event(), now=now + timedelta(hours=25))["retrain_started"] is True


def test_alert_only_notifies(aws):
    _, sent = aws
    assert alert.handler(drift_event()) == {"retrain_started": False}
    assert sent == ["Drift in test (dev)"]


def test_launcher_starts_inference_with_the_approved_models_uris(aws):
    services, _ = aws
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


def test_launcher_without_a_model_fails_clearly(aws):
    event = {"manifest_parameter": MANIFEST, "inference_pipeline": "test-dev-inference", "input_data": "s3://b/in/"}
    with pytest.raises(KeyError, match="run the training pipeline first"):
        launcher.handler(event)
