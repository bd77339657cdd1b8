"""Baking helpers shared by the template tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
DEFAULTS = json.loads((TEMPLATE / "cookiecutter.json").read_text("utf-8"))
BIN = Path(sys.executable).parent

# Option combinations every template change is checked against (cookiecutter-data-science's
# config-generator idea): each problem type, each drift action, license and Python version, and a
# non-default estimator beside the default one (LightGBM multiclass, linear regression). The binary
# one, XGBoost, runs its whole suite under `make test-images` (tests/test_images.py, WHOLE_SUITE).
MATRIX = {
    "defaults": {},
    "multiclass-alert": {
        "problem_type": "multiclass_classification",
        "target_column": "risk_tier",
        "drift_action": "alert",
        "license": "Apache-2.0",
        "estimator": "lightgbm",
    },
    "regression-py312": {
        "project_name": "Spend Forecast",
        "problem_type": "regression",
        "estimator": "linear",
        "target_column": "monthly_spend",
        "python_version": "3.12",
        "license": "Proprietary",
        "environments": "dev,staging,prod",
        "environment_accounts": "dev=111111111111,staging=222222222222,prod=333333333333",
        "aws_account_id": "999999999999",
    },
}


def bake(output_dir: Path, **extra_context: str) -> Path:
    """Bake the template non-interactively and return the generated repository."""
    return Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=extra_context, output_dir=str(output_dir)))


# The template's run keeps both cores busy with two bakes at once: each bake's OpenMP pools
# (HistGradientBoosting, LightGBM, XGBoost) take one thread, instead of spinning against the other's.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def run_in(project: Path, *command: str, timeout: int = 600, **env: str) -> subprocess.CompletedProcess:
    """Run a command inside a generated repository, with its src/ importable."""
    full_env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(project / "src"), **env}
    full_env.pop("PROJECT_CONFIG", None)
    return subprocess.run(command, cwd=project, env=full_env, capture_output=True, text=True, timeout=timeout)
