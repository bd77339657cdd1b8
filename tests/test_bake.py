"""Each option combination bakes into a clean, parseable, lint-clean, passing repository."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from .conftest import BIN, MATRIX, bake, run_in

COMPONENTS = ["processing", "algorithm", "monitoring", "explainability"]
DOC_PAGES = ["accounts", "architecture", "contracts", "deploying", "local-mode", "pipelines", "your-own-model"]
LEFTOVER_JINJA = re.compile(r"\{\{-?\s*cookiecutter\.|\{%-?\s|\{#")


@pytest.fixture(scope="module", params=sorted(MATRIX))
def project(request, tmp_path_factory) -> Path:
    return bake(tmp_path_factory.mktemp(request.param), **MATRIX[request.param])


def expected_files(package: str, drift_action: str, multi_account: bool = False) -> set[str]:
    files = {
        ".dockerignore",
        ".gitignore",
        "LICENSE",
        "Makefile",
        "README.md",
        "pyproject.toml",
        "requirements.lock",
        "requirements-dev.lock",
        "config/project.yaml",
        "buildspecs/test.yml",
        "buildspecs/build-images.yml",
        "buildspecs/deploy.yml",
        "infra/cicd.yml",
        "infra/environment.yml",
        *(f"docker/{c}/Dockerfile" for c in COMPONENTS),
        "docker/standin-base.sh",
        *(f"docs/{page}.md" for page in DOC_PAGES),
        *(
            f"tests/{name}.py"
            for name in [
                "__init__",
                "conftest",
                "test_algorithm",
                "test_architecture",
                "test_bad_inputs",
                "test_cache",
                "test_channels",
                "test_cli",
                "test_config",
                "test_container",
                "test_csv_input",
                "test_csv_output",
                "test_decision",
                "test_deploy",
                "test_docs",
                "test_dockerfiles",
                "test_entrypoints",
                "test_estimate",
                "test_estimators",
                "test_executor",
                "test_explainability",
                "test_gate",
                "test_image_commands",
                "test_images",
                "test_infra",
                "test_iteration",
                "test_jobs",
                "test_lambdas",
                "test_local",
                "test_model_quality",
                "test_packages",
                "test_monitoring",
                "test_pipelines",
                "test_processing",
                "test_properties",
                "test_quality",
                "test_registry",
                "test_reports",
                "test_retrain",
                "test_retraining",
                "test_sample_data",
                "sdk_local_mode",
                "test_scheduling",
                "test_sdk_local",
                "test_server",
                "test_warm",
            ]
        ),
    }
    modules = [
        "__init__.py",
        "__main__.py",
        "calibration.py",
        "channels.py",
        "cli.py",
        "config.py",
        "config_schema.json",
        "container.py",
        "csv_input.py",
        "csv_output.py",
        "data_schema.py",
        "deploy_images.py",
        "ground_truth.py",
        "images.py",
        "job_environment.py",
        "model_metrics.py",
        "reports.py",
        "sample_data.py",
        "lambdas/__init__.py",
        "lambdas/alert.py",
        "lambdas/approval.py",
        "lambdas/launcher.py",
        "lambdas/mirroring.py",
        "lambdas/register.py",
        "lambdas/retrain.py",
        "lambdas/retraining.py",
        "lambdas/services.py",
        "local/__init__.py",
        "local/cache.py",
        "local/clean.py",
        "local/executions.py",
        "local/executor.py",
        "local/expressions.py",
        "local/handlers.py",
        "local/jobs.py",
        "local/model_packages.py",
        "local/packing.py",
        "local/planning.py",
        "local/processes.py",
        "local/retries.py",
        "local/commands.py",
        "local/runtimes.py",
        "local/sagemaker_api.py",
        "local/scheduling.py",
        "local/transform.py",
        "local/demo.py",
        "local/warm.py",
        "local/warm_client.py",
        "local/workspace.py",
        "pipelines/__init__.py",
        "pipelines/definition.py",
        "pipelines/deploy.py",
        "pipelines/executions.py",
        "pipelines/graph.py",
        "pipelines/inference.py",
        "pipelines/layout.py",
        "pipelines/names.py",
        "pipelines/quality.py",
        "pipelines/sdk.py",
        "pipelines/steps.py",
        "pipelines/training.py",
        "registry/__init__.py",
        "registry/digests.py",
        "registry/manifest.py",
        "registry/packages.py",
        "registry/store.py",
        "components/__init__.py",
        "components/processing/__init__.py",
        "components/processing/__main__.py",
        "components/processing/preprocess.py",
        "components/processing/retraining.py",
        "components/processing/retraining_files.py",
        "components/algorithm/__init__.py",
        "components/algorithm/__main__.py",
        "components/algorithm/gate.py",
        "components/algorithm/gate_report.py",
        "components/algorithm/model.py",
        "components/algorithm/evaluation_report.py",
        "components/algorithm/decision.py",
        "components/algorithm/server.py",
        "components/algorithm/estimators/__init__.py",
        "components/algorithm/estimators/hist_gradient_boosting.py",
        "components/algorithm/estimators/lightgbm.py",
        "components/algorithm/estimators/linear.py",
        "components/algorithm/estimators/random_forest.py",
        "components/algorithm/estimators/xgboost.py",
        "custom_estimators/__init__.py",
        "custom_estimators/extra_trees_pipeline.py",
        "components/monitoring/__init__.py",
        "components/monitoring/__main__.py",
        "components/monitoring/baseline.py",
        "components/monitoring/drift.py",
        "components/monitoring/estimate.py",
        "components/monitoring/model_quality.py",
        "components/monitoring/model_quality_report.py",
        "components/monitoring/drift_report.py",
        "components/monitoring/scored.py",
        "components/monitoring/summary.py",
        "components/explainability/__init__.py",
        "components/explainability/__main__.py",
        "components/explainability/pool.py",
        "components/explainability/explanations_report.py",
        "components/explainability/shap_values.py",
    ]
    files |= {f"src/{package}/{m}" for m in modules}
    if drift_action == "alert":  # the post-generation hook drops what nothing would call
        files -= {f"src/{package}/lambdas/retrain.py", "tests/test_retrain.py"}
    if multi_account:  # a deploy stack per environment account, and the cross-account tests
        files |= {"infra/target-account.yml", "tests/test_accounts.py"}
    return files


# What running a bake's own tests leaves behind (each is in the bake's .gitignore): not part of the bake.
RUN_LEFTOVERS = {"__pycache__", ".hypothesis", ".pytest_cache", ".ruff_cache"}


def project_files(project: Path) -> set[str]:
    return {str(p.relative_to(project)) for p in project.rglob("*") if p.is_file() and not RUN_LEFTOVERS & set(p.parts)}


def test_file_set_is_exact(project):
    config = yaml.safe_load((project / "config" / "project.yaml").read_text())
    multi = bool(config["aws"].get("environment_accounts"))
    expected = expected_files(config["project"]["package"], config["inference"]["drift_action"], multi)
    assert project_files(project) == expected


def test_no_jinja_is_left_over(project):
    leftovers = [f for f in project_files(project) if LEFTOVER_JINJA.search((project / f).read_text("utf-8"))]
    assert leftovers == []


class CloudFormationLoader(yaml.SafeLoader):
    """YAML that accepts CloudFormation's short-form functions (!Ref, !Sub, ...)."""


CloudFormationLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_every_structured_file_parses(project):
    for name in project_files(project):
        path = project / name
        if path.suffix in {".yaml", ".yml"}:
            assert yaml.load(path.read_text("utf-8"), Loader=CloudFormationLoader) is not None
        elif path.suffix == ".toml":
            tomllib.loads(path.read_text("utf-8"))
        elif path.suffix == ".json":
            json.loads(path.read_text("utf-8"))


def test_generated_code_is_ruff_clean(project):
    check = run_in(project, str(BIN / "ruff"), "check", "src", "tests")
    assert check.returncode == 0, check.stdout
    fmt = run_in(project, str(BIN / "ruff"), "format", "--check", "src", "tests")
    assert fmt.returncode == 0, fmt.stdout


def test_dockerfiles_are_hadolint_clean(project):
    dockerfiles = sorted(str(p) for p in project.glob("docker/*/Dockerfile"))
    result = run_in(project, str(BIN / "hadolint"), "--failure-threshold", "warning", *dockerfiles)
    assert result.returncode == 0, result.stdout + result.stderr


# The estimators each non-default bake's conformance suite checks (ESTIMATOR, comma-separated).
CONFORMANCE = {"linear": "linear,xgboost"}


# The default bake's suite runs in test_generated_make.py, under the bake's own `make test`.
@pytest.mark.parametrize("project", [name for name in sorted(MATRIX) if name != "defaults"], indirect=True)
def test_generated_test_suite_passes(project):
    # Its conformance suite checks the bake's own estimator (on every problem type), and XGBoost,
    # whose library the default bake lacks; the default bake's checks the other built-ins and the
    # custom example.
    estimator = yaml.safe_load((project / "config" / "project.yaml").read_text())["algorithm"]["estimator"]
    command = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    result = run_in(project, *command, timeout=900, ESTIMATOR=CONFORMANCE.get(estimator, estimator))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
