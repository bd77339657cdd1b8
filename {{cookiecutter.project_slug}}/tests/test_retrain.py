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
    assert any("Drift in test" in s for s in sent)


def test_retrain_respects_the_cooling_period(lambda_aws):
    register.handler(register_event())
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    assert retrain.handler(drift_event(), now=now)["retrain_started"] is True
    assert retrain.handler(drift_event(), now=now + timedelta(hours=23))["retrain_started"] is False
    assert retrain.handler(drift_event(), now=now + timedelta(hours=25))["retrain_started"] is True
