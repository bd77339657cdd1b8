"""The retrain Lambda against moto (left out of repositories baked with drift_action: alert)."""

import json
from datetime import UTC, datetime, timedelta

from {{ cookiecutter.package_name }}.lambdas import (
    register,
    retrain,
)

from .conftest import STATE, drift_event, register_event


def test_retrain_starts_the_training_pipeline_on_the_manifests_data(lambda_aws):
    services, sent = lambda_aws
    register.handler(register_event())
    result = retrain.handler(drift_event())
    assert result["retrain_started"] is True
    assert "test-dev-training/execution/" in result["execution"]
    state = json.loads(services.store.get(STATE).value)
    assert state["execution"] == result["execution"] and state["trigger"] == "inference1"
    assert any("Data drift in test" in s for s in sent)


def test_retrain_respects_the_cooling_period(lambda_aws):
    register.handler(register_event())
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    assert retrain.handler(drift_event(), now=now)["retrain_started"] is True
    assert retrain.handler(drift_event(), now=now + timedelta(hours=23))["retrain_started"] is False
    assert retrain.handler(drift_event(), now=now + timedelta(hours=25))["retrain_started"] is True


def test_a_quality_violation_retrains_and_shares_the_cooling_period_with_drift(lambda_aws):
    _, sent = lambda_aws
    register.handler(register_event())
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    quality = drift_event() | {"cause": "model quality", "run_id": "quality1"}
    assert retrain.handler(quality, now=now)["retrain_started"] is True
    assert sent[-1].startswith("Model quality in test")
    # Drift an hour later finds the period the quality retrain started: no second retrain.
    assert retrain.handler(drift_event(), now=now + timedelta(hours=1)) == {
        "retrain_started": False, "reason": "cooling down",
    }  # fmt: skip


def test_retrain_that_cannot_start_leaves_the_cooling_period_unused(lambda_aws):
    services, _ = lambda_aws
    register.handler(register_event())
    missing = {**drift_event(), "training_pipeline": "test-dev-no-such-pipeline"}
    result = retrain.handler(missing)
    assert result["retrain_started"] is False
    assert "test-dev-no-such-pipeline" in result["reason"]
    assert _state_versions(services) == [], "a start that failed recorded a cooling period"
    assert retrain.handler(drift_event())["retrain_started"] is True  # the next drift is not cooled down


def test_retrain_refuses_a_model_whose_manifest_names_no_training_data(lambda_aws):
    services, _ = lambda_aws
    event = register_event()
    del event["training_data"]
    register.handler(event)
    result = retrain.handler(drift_event())
    assert result["retrain_started"] is False
    assert "names no training data" in result["reason"]
    assert _state_versions(services) == []
    executions = services.sagemaker.list_pipeline_executions(PipelineName="test-dev-training")
    assert executions["PipelineExecutionSummaries"] == []


def _state_versions(services):
    from {{ cookiecutter.package_name }}.registry.store import ParameterNotFound

    try:
        return services.store.history(STATE)
    except ParameterNotFound:
        return []
