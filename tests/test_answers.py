"""Every question in cookiecutter.json changes something real in the generated repository."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

from .conftest import DEFAULTS, bake


@pytest.fixture(scope="module")
def default(tmp_path_factory) -> Path:
    return bake(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def changed(tmp_path_factory) -> Path:
    return bake(
        tmp_path_factory.mktemp("changed"),
        project_name="Fraud Scoring",
        description="Score card transactions for fraud.",
        author_name="Risk Analytics",
        author_email="risk@example.org",
        aws_account_id="210987654321",
        aws_region="us-east-1",
        problem_type="multiclass_classification",
        estimator="lightgbm",
        target_column="fraud_type",
        ssm_root="/platform/ml",
        environments="dev,staging,prod",
        environment_accounts="dev=111111111111,staging=222222222222,prod=333333333333",
        inference_schedule="rate(6 hours)",
        drift_action="alert",
        python_version="3.12",
        license="Apache-2.0",
    )


def config(project: Path) -> dict:
    return yaml.safe_load((project / "config" / "project.yaml").read_text())


def pyproject(project: Path) -> dict:
    return tomllib.loads((project / "pyproject.toml").read_text())


def test_every_question_is_covered_here():
    questions = {k for k in DEFAULTS if not k.startswith("_")}
    covered = {
        "project_name", "project_slug", "package_name", "description", "author_name", "author_email",
        "aws_account_id", "aws_region", "environment_accounts", "problem_type", "estimator", "target_column",
        "ssm_root", "environments", "inference_schedule", "drift_action", "python_version", "license",
    }  # fmt: skip
    assert questions == covered
    assert set(DEFAULTS["__prompts__"]) == questions


def test_project_name_slug_and_package_follow_the_name(default, changed):
    assert default.name == "customer-churn" and changed.name == "fraud-scoring"
    assert (changed / "src" / "fraud_scoring" / "components").is_dir()
    assert pyproject(changed)["project"]["name"] == "fraud-scoring"
    assert pyproject(changed)["project"]["scripts"] == {"fraud-scoring": "fraud_scoring.cli:main"}
    assert config(changed)["project"]["name"] == "Fraud Scoring"
    assert (changed / "README.md").read_text().startswith("# Fraud Scoring\n")
    assert (
        'ENTRYPOINT ["python", "-m", "fraud_scoring.components.monitoring"]'
        in (changed / "docker" / "monitoring" / "Dockerfile").read_text()
    )


def test_slug_and_package_can_be_chosen(tmp_path):
    project = bake(tmp_path, project_name="Churn", project_slug="churn-v2", package_name="churnv2")
    assert project.name == "churn-v2"
    assert (project / "src" / "churnv2" / "cli.py").is_file()


def test_description_and_author_reach_metadata_and_license(changed):
    meta = pyproject(changed)["project"]
    assert meta["description"] == "Score card transactions for fraud."
    assert meta["authors"] == [{"name": "Risk Analytics", "email": "risk@example.org"}]
    assert "Copyright (c) Risk Analytics" in (changed / "LICENSE").read_text()


def test_aws_answers_reach_config(default, changed):
    assert config(default)["aws"] == {"account_id": "123456789012", "region": "eu-west-1"}
    assert config(changed)["aws"] == {
        "account_id": "210987654321",
        "region": "us-east-1",
        "environment_accounts": {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"},
    }
    assert (changed / "infra" / "target-account.yml").is_file()
    assert not (default / "infra" / "target-account.yml").exists()


def test_problem_type_and_target_reach_config(changed):
    assert config(changed)["data"]["target_column"] == "fraud_type"
    assert config(changed)["data"]["problem_type"] == "multiclass_classification"


def test_the_estimator_reaches_config_with_its_own_settings_and_its_library_only_where_chosen(default, changed):
    """The estimator, its hyperparameters and ranges; its library in pyproject and both locks, in no other bake."""
    assert config(default)["algorithm"]["estimator"] == "hist_gradient_boosting"
    assert config(changed)["algorithm"]["estimator"] == "lightgbm"
    assert "num_leaves" in config(changed)["algorithm"]["hyperparameters"]
    assert "num_leaves" in config(changed)["algorithm"]["tuning"]["ranges"]
    assert "max_iter" in config(default)["algorithm"]["hyperparameters"]
    for project, present in ((changed, True), (default, False)):
        dependencies = pyproject(project)["project"]["dependencies"]
        assert any(d.startswith("lightgbm") for d in dependencies) is present
        for lock in ("requirements.lock", "requirements-dev.lock"):
            text = (project / lock).read_text()
            assert ("\nlightgbm==" in text) is present, lock
            assert "xgboost" not in text and "{%" not in text
    # A binary bake states its decision and positive class; a multiclass one has neither.
    assert config(default)["algorithm"]["decision"] == {"threshold": 0.5}
    assert config(default)["data"]["positive_class"] is None
    assert "decision" not in config(changed)["algorithm"] and "positive_class" not in config(changed)["data"]


def test_parameter_store_environments_schedule_and_drift_action(default, changed):
    assert config(default)["ssm_root"] == "/mlops"
    assert config(changed)["ssm_root"] == "/platform/ml"
    assert config(default)["environments"] == ["dev", "prod"]
    assert config(changed)["environments"] == ["dev", "staging", "prod"]
    # The first environment promotes a model that passes the gate; every later one waits for a person.
    assert config(default)["promotion"]["mode"] == {"dev": "auto", "prod": "manual"}
    assert config(changed)["promotion"]["mode"] == {"dev": "auto", "staging": "manual", "prod": "manual"}
    assert config(changed)["inference"]["schedule"] == "rate(6 hours)"
    assert config(default)["inference"]["drift_action"] == "retrain"
    assert config(changed)["inference"]["drift_action"] == "alert"


def test_python_version_reaches_images_and_tooling(default, changed):
    assert "ARG BASE_IMAGE=python:3.11-slim" in (default / "docker" / "algorithm" / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.12-slim" in (changed / "docker" / "algorithm" / "Dockerfile").read_text()
    assert pyproject(changed)["project"]["requires-python"] == ">=3.12"
    assert pyproject(changed)["tool"]["ruff"]["target-version"] == "py312"


@pytest.mark.parametrize(
    ("license_name", "spdx", "phrase"),
    [
        ("MIT", "MIT", "Permission is hereby granted, free of charge"),
        ("Apache-2.0", "Apache-2.0", "Apache License"),
        ("Proprietary", "LicenseRef-Proprietary", "All rights reserved."),
    ],
)
def test_license_choice_writes_its_text(tmp_path, license_name, spdx, phrase):
    project = bake(tmp_path, license=license_name)
    assert pyproject(project)["project"]["license"] == spdx
    assert phrase in (project / "LICENSE").read_text()
