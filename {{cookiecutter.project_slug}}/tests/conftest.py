"""Shared fixtures: the baked configuration, sample data, and container sandboxes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.config import (
    load_config,
)
from {{ cookiecutter.package_name }}.sample_data import (
    generate,
)

PACKAGE = "{{ cookiecutter.package_name }}"
SRC = Path(__file__).resolve().parents[1] / "src"


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


def subprocess_env(root: Path, **extra: str) -> dict[str, str]:
    """Environment for running an entrypoint as its own process, as the container would."""
    pythonpath = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "OPT_ML_ROOT": str(root), "PYTHONPATH": pythonpath, **extra}


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
    return fit(train, schema, config["algorithm"]["hyperparameters"])
