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
# non-default estimator beside the default one (LightGBM multiclass, linear regression).
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


# The whole suites take minutes each; every other test takes seconds. Under `--dist loadgroup
# --no-loadscope-reorder`, xdist hands each worker two work units at the start, and more only as
# its tests end, in collection order: two long runs listed together would queue on one worker. So
# the two longest start first, one per worker, and the third comes after two short tests, to go to
# whichever worker frees first.
LONGEST = (
    "test_bake.py::test_generated_test_suite_passes[multiclass-alert]",
    "test_generated_make.py::test_generated_make_test_passes_from_scratch",
    "test_bake.py::test_generated_test_suite_passes[regression-py312]",
)


def pytest_collection_modifyitems(items: list) -> None:
    longest = [item for name in LONGEST for item in items if item.nodeid.endswith(name)]
    rest = [item for item in items if item not in longest]
    items[:] = longest[:2] + rest[:2] + longest[2:] + rest[2:]
