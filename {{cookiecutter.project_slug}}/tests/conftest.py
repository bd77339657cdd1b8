"""Shared fixtures: the baked configuration, sample data, and container sandboxes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shlex
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import boto3
import botocore.loaders
import botocore.session
import pandas as pd
import pytest
import requests
from moto import mock_aws

from {{ cookiecutter.package_name }}.config import (
    load_config,
)
from {{ cookiecutter.package_name }}.lambdas.services import (
    S3Objects,
    Services,
    installed,
)
from {{ cookiecutter.package_name }}.local.workspace import (
    DEFINITIONS_CACHE_ENV,
)
from {{ cookiecutter.package_name }}.registry.digests import (
    DIGESTS_ENV,
    PINNED,
    archive_contents_digest,
    file_sha256,
    folder_digest,
)
from {{ cookiecutter.package_name }}.registry.store import (
    SsmParameterStore,
)
from {{ cookiecutter.package_name }}.sample_data import (
    generate,
)

PACKAGE = "{{ cookiecutter.package_name }}"
SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="session", autouse=True)
def shared_definitions(tmp_path_factory):
    """One pipeline-definition cache for every workspace of the session: its entries are content-addressed,
    so a workspace reuses only a definition built from the same config, code and SDK (building one costs seconds).
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DEFINITIONS_CACHE_ENV, str(tmp_path_factory.mktemp("definitions")))
        yield


@pytest.fixture(scope="session")
def config() -> dict:
    return load_config()


@pytest.fixture(scope="session")
def target(config) -> str:
    return config["data"]["target_column"]


@pytest.fixture(scope="session")
def problem_type(config) -> str:
    return config["data"]["problem_type"]


@pytest.fixture(scope="session")
def sample(config) -> pd.DataFrame:
    """The sample training table for the baked target and problem type."""
    data = config["data"]
    return generate(3000, target_column=data["target_column"], problem_type=data["problem_type"], seed=7)


@pytest.fixture
def opt_ml(tmp_path, monkeypatch) -> Path:
    """A sandbox standing in for /opt/ml, for in-process entrypoint calls."""
    root = tmp_path / "opt_ml"
    root.mkdir()
    monkeypatch.setenv("OPT_ML_ROOT", str(root))
    return root


# A registered version's digests (registry/digests.py), for manifests written by hand.
DIGESTS = {name: hashlib.sha256(name.encode()).hexdigest() for name in PINNED}


def subprocess_env(root: Path, **extra: str) -> dict[str, str]:
    """Environment for running an entrypoint as its own process, as the container would (artefacts pinned)."""
    pythonpath = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "OPT_ML_ROOT": str(root), "PYTHONPATH": pythonpath, **pinned(root), **extra}


def pinned(root: Path) -> dict[str, str]:
    """ARTIFACT_DIGESTS of the registered artefacts staged under `root` (an /opt/ml), as a pipeline passes them."""
    staged = {
        "model": root / "processing" / "input" / "model" / "model.tar.gz",
        "model_contents": root / "model",
        "preprocessing": root / "processing" / "input" / "artifacts",
        "baseline": root / "processing" / "input" / "baseline",
    }
    digests = {name: folder_digest(p) if p.is_dir() else file_sha256(p) for name, p in staged.items() if p.exists()}
    return {DIGESTS_ENV: json.dumps(digests)}


def pinned_model(archive: Path) -> dict[str, str]:
    """CreateModel's Environment for a model.tar.gz: the digest the server checks its unpacked files against."""
    return {DIGESTS_ENV: json.dumps({"model_contents": archive_contents_digest(archive)})}


# Where SageMaker reads a failed job's reason, by job type (AWS's docs; the code's table must agree).
REASON_FILES = {"Processing": "message", "Training": "failure"}


def job_reason(root: Path, job: str = "Processing") -> str:
    """The reason a failed job left where SageMaker reads it for its type, and nowhere else."""
    for other, name in REASON_FILES.items():
        misplaced = root / "output" / name
        assert other == job or not misplaced.exists(), f"a {job} job's reason went to {misplaced}, unread for it"
    return (root / "output" / REASON_FILES[job]).read_text("utf-8")


def entrypoint(component: str) -> list[str]:
    return [sys.executable, "-m", f"{PACKAGE}.components.{component}"]


@pytest.fixture(scope="session")
def processed(sample, target, problem_type):
    """Schema and processed train/validation matrices, as processing train writes them."""
    from {{ cookiecutter.package_name }}.components.processing.preprocess import (
        fit,
        split,
        to_training_matrix,
    )

    schema, labelled = fit(sample, target, problem_type)
    train, validation = split(labelled, schema, 0.2, seed=42)
    return schema, to_training_matrix(train, schema), to_training_matrix(validation, schema)


@pytest.fixture(scope="session")
def trained_model(processed, config):
    from {{ cookiecutter.package_name }}.components.algorithm.model import (
        fit,
    )

    schema, train, _ = processed
    return fit(train, schema, config["algorithm"]["hyperparameters"], config["algorithm"]["estimator"])


# Each boosted or bagged estimator's ensemble size: tests that train many models train smaller ones.
ROUNDS = {"hist_gradient_boosting": "max_iter", "xgboost": "n_estimators", "lightgbm": "n_estimators"}
ROUNDS |= {"random_forest": "n_estimators", "custom_estimators.extra_trees_pipeline": "n_estimators"}


def fewer_rounds(config: dict, rounds: int) -> dict[str, str]:
    """The configured hyperparameters, with an ensemble of `rounds` where the estimator has one."""
    key = ROUNDS.get(config["algorithm"]["estimator"])
    return dict(config["algorithm"]["hyperparameters"]) | ({key: str(rounds)} if key else {})


def a_bad_hyperparameter(config: dict) -> tuple[str, str]:
    """The configured estimator's first hyperparameter with a value no estimator parses: (key, value)."""
    return next(iter(config["algorithm"]["hyperparameters"])), "many"


class _RunsACommand:
    """Unpickled, it runs `touch <marker>`: what anyone who can swap a model file could make a job do."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(self.marker)}",)


def planted_model(marker: Path) -> bytes:
    """A model file whose loading touches `marker`."""
    return pickle.dumps(_RunsACommand(marker))


def tamper_archive(archive: Path, marker: Path) -> None:
    """Rewrite model.tar.gz in place, its model file swapped for one whose loading touches `marker`."""
    with tarfile.open(archive) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    files["model.joblib"] = planted_model(marker)
    with tarfile.open(archive, "w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model, root, port: int, output=subprocess.DEVNULL) -> subprocess.Popen:
    """The real entrypoint serving `model` from root/model, as Batch Transform starts it."""
    model.save(root / "model")
    return subprocess.Popen(
        [*entrypoint("algorithm"), "serve"],
        env=subprocess_env(root, SAGEMAKER_BIND_TO_PORT=str(port)),
        stdout=output,
        stderr=subprocess.STDOUT if output is subprocess.PIPE else subprocess.DEVNULL,
        text=True,
    )


@pytest.fixture(scope="module")
def server(trained_model, tmp_path_factory):
    """The base URL of the real model server, serving the session's trained model over the loopback."""
    root = tmp_path_factory.mktemp("serve")
    port = free_port()
    process = start_server(trained_model, root, port)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/ping", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("algorithm serve did not answer /ping")
    yield base
    process.terminate()
    process.wait(timeout=10)


REGION = "eu-west-1"
# Every client in the tests shares one loader: botocore parses a service's model (SageMaker's is
# megabytes of JSON) once per test run, not once per client, as a fresh boto3 session would.
AWS_MODELS = botocore.loaders.create_loader()


def aws_client(service: str, region: str = REGION, **kwargs):
    """A boto3 client (of moto's AWS, inside `mock_aws`), on a fresh session that shares the parsed models."""
    session = botocore.session.get_session()
    session.register_component("data_loader", AWS_MODELS)
    return boto3.Session(botocore_session=session).client(service, region_name=region, **kwargs)


MANIFEST = "/mlops/test/dev/model/manifest"
STATE = "/mlops/test/dev/state/last-retrain"


BUCKET = "bucket"
TRAINED_AT = "2026-11-24T06:00:00+00:00"


@pytest.fixture
def lambda_aws():
    """moto SSM, S3, SageMaker (with a training pipeline) and SNS, installed as the handlers' services."""
    with mock_aws():
        sagemaker = aws_client("sagemaker")
        sagemaker.create_pipeline(
            PipelineName="test-dev-training",
            PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
            RoleArn="arn:aws:iam::123456789012:role/test",
        )
        sns = aws_client("sns")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        s3 = aws_client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        for key in ("artifacts/schema.json", "baseline/statistics.json", "explainability/analysis.json"):
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}")  # the folder artefacts Register pins
        sent = []

        def notify(subject, message):
            sns.publish(TopicArn=topic, Subject=subject, Message=message)
            sent.append(subject)

        ssm = SsmParameterStore(aws_client("ssm"))
        services = Services(ssm, sagemaker, notify, S3Objects(s3))
        with installed(services):
            yield services, sent


def gate_record(passed=True, champion="", reason="first model: auc 0.81 beats the best constant's 0.5"):
    """The gate's verdict as the Register step receives it (gate.json's `record`)."""
    return {
        "passed": passed, "reason": reason, "champion_version": champion, "metric": "auc", "set": "validation",
        "rows": 500, "challenger": 0.81, "champion": None, "difference": None, "interval": None,
    }  # fmt: skip


def register_event(run="run1", *, passed=True, champion="", promotion="auto", identity=None):
    """The Register step's input, as the training pipeline sends it (each run its own model)."""
    return {
        "manifest_parameter": MANIFEST,
        "run_id": run,
        "pipeline_execution": f"arn:aws:sagemaker:{REGION}:123456789012:pipeline/test-dev-training/execution/{run}",
        "trained_at": TRAINED_AT,
        "training_data": f"s3://{BUCKET}/data/train/sha256={'a' * 64}/",
        "base_data": f"s3://{BUCKET}/data/train/sha256={'a' * 64}/",
        "lineage": "",
        "model": f"s3://{BUCKET}/runs/training/{run}/model.tar.gz",
        "preprocessing": f"s3://{BUCKET}/artifacts",
        "baseline": f"s3://{BUCKET}/baseline",
        "explainability": f"s3://{BUCKET}/explainability",
        "gate_report": f"s3://{BUCKET}/runs/training/{run}/gate",
        "gate_passed": passed,
        "gate_record": json.dumps(gate_record(passed, champion)),
        "champion_version": champion,
        "model_identity": identity or f"identity-of-{run}",
        "model_sha256": "0" * 64,
        "model_contents_sha256": "1" * 64,
        "promotion": promotion,
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
        "cause": "data drift",
        "report": f"s3://{BUCKET}/report",
        "training_pipeline": "test-dev-training",
        "manifest_parameter": MANIFEST,
        "state_parameter": STATE,
        "cooldown_hours": 24.0,
        "labels_prefix": f"s3://{BUCKET}/labels/",
        "inputs_prefix": f"s3://{BUCKET}/inputs/",
        "min_new_labelled_rows": 3,
        "base_rows": "keep",
    }
