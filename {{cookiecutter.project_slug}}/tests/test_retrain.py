"""The retrain Lambda against moto (left out of repositories baked with drift_action: alert)."""

import json
from datetime import UTC, datetime, timedelta

from {{ cookiecutter.package_name }}.lambdas import (
    register,
    retrain,
)

from .conftest import BUCKET, STATE, drift_event, register_event

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)  # a day after the registered model's training


def land(services, hour: str, name: str, rows: int) -> str:
    """A labels file of `rows` rows under labels/<hour>/, as a team's process lands it."""
    key = f"labels/{hour}/{name}"
    body = "inference_id,churn\n" + "".join(f"{name}-{i},yes\n" for i in range(rows))
    services.objects.client.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
    return key


def started(services) -> list[dict]:
    executions = services.sagemaker.list_pipeline_executions(PipelineName="test-dev-training")
    return executions["PipelineExecutionSummaries"]


def test_retrain_starts_on_the_champions_data_and_the_labelled_production_rows(lambda_aws):
    services, sent = lambda_aws
    register.handler(register_event())
    land(services, "2026/11/24/09", "late.csv", 4)
    result = retrain.handler(drift_event(), now=NOW)
    assert result["retrain_started"] is True and result["reason"] == ""
    assert "test-dev-training/execution/" in result["execution"]
    state = json.loads(services.store.get(STATE).value)
    assert state["execution"] == result["execution"] and state["trigger"] == "inference1"
    (execution,) = started(services)
    given = services.sagemaker.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution["PipelineExecutionArn"]
    )["PipelineParameters"]
    given = {p["Name"]: p["Value"] for p in given}
    assert json.loads(given.pop("ChampionDigests"))["model"] == register_event()["model_sha256"]
    assert given == {
        "InputData": register_event()["training_data"],
        "ProductionInputs": f"s3://{BUCKET}/inputs/",
        "ProductionLabels": f"s3://{BUCKET}/labels/",
        "ChampionModelUri": register_event()["model"],
        "ChampionVersion": "1",
        "BaseRows": "keep",
    }
    assert sent == ["Model v1 promoted", "Data drift in test (dev)"]  # the registration, then the retrain


def test_retrain_with_too_few_new_labels_does_not_start_and_says_how_many_came(lambda_aws):
    services, _ = lambda_aws
    register.handler(register_event())  # trained at 2026-11-24 06:00
    land(services, "2026/11/23/22", "before.csv", 50)  # before the training: not new
    land(services, "2026/11/24/09", "after.csv", 2)
    services.objects.client.put_object(Bucket=BUCKET, Key="labels/.keep", Body=b"")
    result = retrain.handler(drift_event(), now=NOW)  # at least 3 needed
    assert result["retrain_started"] is False
    assert result["reason"].startswith("2 labelled row(s) in 1 file(s) arrived since the last training (v1)")
    assert "under s3://bucket/labels/yyyy/mm/dd/hh/" in result["reason"]
    assert started(services) == [] and _state_versions(services) == [], "the cooling period stays unused"
    land(services, "2026/11/25/08", "more.csv", 1)
    assert retrain.handler(drift_event(), now=NOW)["retrain_started"] is True


def test_labels_the_last_training_used_are_not_new(lambda_aws):
    """A retrain's set lists the labels files it used (lineage.json): the next retrain counts only others."""
    services, _ = lambda_aws
    used = land(services, "2026/11/24/06", "used.csv", 10).removeprefix("labels/")
    land(services, "2026/11/24/06", "unused.csv", 1)
    data = f"s3://{BUCKET}/data/train/sha256={'b' * 64}/"
    lineage = {"sources": [{"file": "production/x.csv", "kind": "production", "labels": [used]}]}
    services.objects.client.put_object(
        Bucket=BUCKET, Key=data.removeprefix(f"s3://{BUCKET}/") + "lineage.json", Body=json.dumps(lineage).encode()
    )
    summary = {"labels": {"count": 1}}
    register.handler(register_event() | {"training_data": data, "lineage": json.dumps(summary)})
    result = retrain.handler(drift_event(), now=NOW)
    assert result["reason"].startswith("1 labelled row(s) in 1 file(s) arrived since the last training (v1)")


def test_retrain_respects_the_cooling_period(lambda_aws):
    services, _ = lambda_aws
    register.handler(register_event())
    land(services, "2026/11/24/09", "labels.csv", 10)
    now = NOW
    assert retrain.handler(drift_event(), now=now)["retrain_started"] is True
    assert retrain.handler(drift_event(), now=now + timedelta(hours=23))["retrain_started"] is False
    assert retrain.handler(drift_event(), now=now + timedelta(hours=25))["retrain_started"] is True


def test_a_quality_violation_retrains_and_shares_the_cooling_period_with_drift(lambda_aws):
    services, sent = lambda_aws
    register.handler(register_event())
    land(services, "2026/11/24/09", "labels.csv", 10)
    quality = drift_event() | {"cause": "model quality", "run_id": "quality1", "base_rows": "age_out"}
    assert retrain.handler(quality, now=NOW)["retrain_started"] is True
    assert sent[-1].startswith("Model quality in test")
    given = services.sagemaker.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=started(services)[0]["PipelineExecutionArn"]
    )["PipelineParameters"]
    assert {p["Name"]: p["Value"] for p in given}["BaseRows"] == "age_out"
    # Drift an hour later finds the period the quality retrain started: no second retrain.
    assert retrain.handler(drift_event(), now=NOW + timedelta(hours=1)) == {
        "retrain_started": False, "reason": "cooling down", "execution": "",
    }  # fmt: skip


def test_retrain_that_cannot_start_leaves_the_cooling_period_unused(lambda_aws):
    services, _ = lambda_aws
    register.handler(register_event())
    land(services, "2026/11/24/09", "labels.csv", 10)
    missing = {**drift_event(), "training_pipeline": "test-dev-no-such-pipeline"}
    result = retrain.handler(missing, now=NOW)
    assert result["retrain_started"] is False
    assert "test-dev-no-such-pipeline" in result["reason"]
    assert _state_versions(services) == [], "a start that failed recorded a cooling period"
    assert retrain.handler(drift_event(), now=NOW)["retrain_started"] is True  # the next drift is not cooled down


def test_retrain_refuses_a_model_whose_manifest_names_no_training_data(lambda_aws):
    services, _ = lambda_aws
    event = register_event()
    del event["training_data"]
    register.handler(event)
    result = retrain.handler(drift_event(), now=NOW)
    assert result["retrain_started"] is False
    assert "names no training data" in result["reason"]
    assert _state_versions(services) == []
    assert started(services) == []


def test_retrain_needs_a_promoted_model_to_grow_from(lambda_aws):
    services, _ = lambda_aws
    register.handler(register_event(promotion="manual"))
    land(services, "2026/11/24/09", "labels.csv", 10)
    result = retrain.handler(drift_event(), now=NOW)
    assert result["retrain_started"] is False and "is promoted: promote one" in result["reason"]
    assert started(services) == []


def _state_versions(services):
    from {{ cookiecutter.package_name }}.registry.store import ParameterNotFound

    try:
        return services.store.history(STATE)
    except ParameterNotFound:
        return []
