"""The Lambda handlers against moto: the same functions the deployed Lambdas and local mode run."""

import json

import pytest

from {{ cookiecutter.package_name }}.lambdas import (
    alert,
    launcher,
    register,
)
from {{ cookiecutter.package_name }}.registry.digests import (
    PINNED,
)
from {{ cookiecutter.package_name }}.registry.manifest import (
    ModelRegistry,
)

from .conftest import BUCKET, MANIFEST, drift_event, register_event


def test_register_writes_a_manifest_version_to_ssm(lambda_aws):
    services, _ = lambda_aws
    assert register.handler(register_event("run1"))["manifest_version"] == 1
    assert register.handler(register_event("run2", champion="1"))["manifest_version"] == 2
    manifest = ModelRegistry(services.store, MANIFEST).get(version=1).manifest
    assert manifest["metrics"] == {"auc": 0.81, "accuracy": 0.7}
    assert manifest["artifacts"]["baseline"] == "s3://bucket/baseline"
    assert manifest["template_version"] == "0.1.0"
    assert manifest["trained_at"] == "2026-11-24T06:00:00+00:00" and manifest["model_identity"] == "identity-of-run1"
    assert manifest["gate"]["passed"] is True and manifest["gate"]["report"].endswith("/run1/gate")


@pytest.mark.parametrize(
    ("event", "promoted", "why"),
    [
        (register_event("run2", champion="1"), True, "promoted: first model"),
        (register_event("run2", champion="1", passed=False), False, "candidate: the gate did not pass it"),
        (register_event("run2", champion="1", promotion="manual"), False, "and promotion is manual here"),
        (register_event("run2", champion=""), False, "the gate compared it with no champion, but v1 serves now"),
        (register_event("run2", champion="7"), False, "the gate compared it with v7, but v1 serves now"),
    ],
    ids=["passed-auto", "failed", "manual", "no-champion-compared", "another-champion-compared"],
)
def test_register_promotes_only_a_passed_model_against_the_champion_that_still_serves(lambda_aws, event, promoted, why):
    services, _ = lambda_aws
    assert register.handler(register_event("run1"))["promoted"] is True  # the first model of the environment
    answer = register.handler(event)
    assert answer["manifest_version"] == 2 and answer["registered"] is True and answer["promoted"] is promoted
    assert why in answer["decision"]
    registry = ModelRegistry(services.store, MANIFEST)
    assert registry.champion().version == (2 if promoted else 1)
    recorded = registry.get(version=2).manifest["promotion"]
    assert recorded == {"mode": event["promotion"], "promoted": promoted, "reason": answer["decision"]}


def test_register_tells_the_alert_topic_what_became_of_the_model(lambda_aws):
    _, sent = lambda_aws
    named = {"project": "test", "environment": "dev"}
    register.handler(register_event("run1") | named)
    register.handler(register_event("run2", champion="1", passed=False) | named)
    register.handler(register_event("run3", identity="identity-of-run2") | named)
    assert sent == [
        "Model v1 promoted in test (dev)",
        "Model v2 is a candidate in test (dev)",
        "Training of run run3 made no new model in test (dev)",
    ]


def test_a_model_equal_to_a_registered_one_registers_nothing_and_names_it(lambda_aws):
    services, _ = lambda_aws
    register.handler(register_event("run1"))
    same_artefact = register_event("run2") | {"model": register_event("run1")["model"]}
    same_identity = register_event("run3", identity="identity-of-run1")
    for event in (same_artefact, same_identity):
        answer = register.handler(event)
        assert answer == {
            "manifest_version": 1,
            "registered": False,
            "promoted": False,
            "decision": "equal to v1: nothing registered",
        }
    assert [v.version for v in ModelRegistry(services.store, MANIFEST).history()] == [1]
    assert register.handler(register_event("run4"))["manifest_version"] == 2  # another model is registered


def test_register_refuses_a_partial_manifest(lambda_aws):
    services, _ = lambda_aws
    event = register_event()
    event["baseline"] = ""
    with pytest.raises(ValueError, match="incomplete"):
        register.handler(event)
    assert ModelRegistry(services.store, MANIFEST).history() == []


def test_alert_only_notifies(lambda_aws):
    _, sent = lambda_aws
    answer = {"retrain_started": False, "reason": "drift_action is alert", "execution": ""}
    assert alert.handler(drift_event()) == answer
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
    register.handler(register_event("run2", champion="1"))  # promoted: it passed the gate against v1
    ModelRegistry(services.store, MANIFEST).promote(1)  # and a person moved the label back
    s3 = services.objects.client
    landed = {"data/inference/2026/12/06/batch.csv": b"a,b\n1,2\n", "data/inference/extra.csv": b"a,b\n3,4\n"}
    for key, body in {**landed, "data/inference/.keep": b""}.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    event = {"manifest_parameter": MANIFEST, "inference_pipeline": "test-dev-inference"}
    result = launcher.handler(event | {"input_data": f"s3://{BUCKET}/data/inference/"})
    assert result["manifest_version"] == 1
    assert "test-dev-inference/execution/" in result["execution"]
    given = services.sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=result["execution"])
    parameters = {p["Name"]: p["Value"] for p in given["PipelineParameters"]}
    run = parameters["InputData"]  # the run's own copy of what had landed, never the landing prefix
    assert run.startswith(f"s3://{BUCKET}/data/inference-runs/scheduled-") and run.endswith("/")
    # The next batch replaces the landed one: the run (and a retry of it) still reads what it was started on.
    s3.put_object(Bucket=BUCKET, Key="data/inference/2026/12/06/batch.csv", Body=b"a,b\n9,9\n")
    copied = {uri.removeprefix(run): services.objects.read(uri) for uri in services.objects.list(run)}
    assert copied == {key.removeprefix("data/inference/"): body for key, body in landed.items()}
    assert json.loads(parameters["ArtifactDigests"])["model"] == register_event("run1")["model_sha256"]


def test_launcher_starts_nothing_when_nothing_has_landed(lambda_aws):
    services, _ = lambda_aws
    register.handler(register_event("run1"))
    services.objects.client.put_object(Bucket=BUCKET, Key="data/inference/.keep", Body=b"")
    event = {"manifest_parameter": MANIFEST, "inference_pipeline": "test-dev-inference"}
    result = launcher.handler(event | {"input_data": f"s3://{BUCKET}/data/inference/"})
    assert result["execution"] == "" and "nothing has landed under" in result["reason"]


def test_launcher_without_a_model_fails_clearly(lambda_aws):
    event = {"manifest_parameter": MANIFEST, "inference_pipeline": "test-dev-inference", "input_data": "s3://b/in/"}
    with pytest.raises(KeyError, match="run the training pipeline first"):
        launcher.handler(event)


def test_launcher_serves_only_a_promoted_version(lambda_aws):
    register.handler(register_event("run1", promotion="manual"))
    event = {"manifest_parameter": MANIFEST, "inference_pipeline": "test-dev-inference", "input_data": "s3://b/in/"}
    refused = r"is promoted .*v1 \(candidate: it passed the gate .*registry promote --version N"
    with pytest.raises(KeyError, match=refused):
        launcher.handler(event)


def test_launcher_starts_model_quality_with_the_approved_model(lambda_aws):
    services, _ = lambda_aws
    services.sagemaker.create_pipeline(
        PipelineName="test-dev-quality",
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
        RoleArn="arn:aws:iam::123456789012:role/test",
    )
    register.handler(register_event("run1"))
    register.handler(register_event("run2", promotion="manual"))
    result = launcher.handler({"manifest_parameter": MANIFEST, "quality_pipeline": "test-dev-quality"})
    assert result["manifest_version"] == 1
    (execution,) = services.sagemaker.list_pipeline_executions(PipelineName="test-dev-quality")[
        "PipelineExecutionSummaries"
    ]
    described = services.sagemaker.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution["PipelineExecutionArn"]
    )["PipelineParameters"]
    given = {p["Name"]: p["Value"] for p in described}
    digests = json.loads(given.pop("ArtifactDigests"))  # the manifest's pins, for the job to check the model
    assert given == {"ModelUri": register_event("run1")["model"], "ManifestVersion": "1"}
    assert digests["model"] == register_event("run1")["model_sha256"] and set(digests) == set(PINNED)
