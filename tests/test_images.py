"""The four images, really built and run: the default bake, an XGBoost bake, and a bake on another Python.

Each bake builds its images with its own `make images` and runs its own `make images-test`
(every component mode in its image with SageMaker's root-owned volumes, compared byte for
byte with the venv; the model server over the loopback; stops and failure reasons). The
default bake also runs `make sdk-local-test`: the same images through the SageMaker SDK's
own local mode, with Debian's docker-compose on podman's Docker API. The XGBoost bake first
runs its own `make test` from scratch: its lock, its venv and its whole suite (a fourth whole
suite does not fit in the template's `make test`, see WHOLE_SUITE). Where
Docker Hub is out of reach, the base is the stand-in each bake's `make standin-base` makes
from Debian packages. Slow, and needs root, debootstrap, buildah and podman (or a docker
daemon), and docker-compose: `make test-images` runs it, and CI runs that after `make test`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ONE_THREAD, bake, run_in

pytestmark = pytest.mark.images

# The default bake; the default problem type with a non-default estimator, whose library its lock
# and images must carry; and one on the other Python a Debian release ships (Debian 13's 3.13),
# with another problem type, so that another set of wheels and code paths runs in images.
BAKES = {
    "defaults": {},
    "binary-xgboost": {"project_name": "Loan Default", "target_column": "defaulted", "estimator": "xgboost"},
    "regression-py313": {
        "project_name": "Spend Forecast",
        "problem_type": "regression",
        "target_column": "monthly_spend",
        "python_version": "3.13",
    },
}


# Bakes whose own `make test` (lint, venv from its own lock, whole suite) runs here, before their
# images: the template's `make test` runs three whole suites (the matrix's, tests/conftest.py) in
# its 8 minutes on 2 cores, and a fourth, measured, took its tests alone from 6m54s to 8m42s.
WHOLE_SUITE = {"binary-xgboost"}


def _ca_bundle() -> str:
    """The machine's CA bundle, for pip inside the build behind a TLS-intercepting proxy (a build secret)."""
    candidates = [os.environ.get(name, "") for name in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")]
    for value in [*candidates, "/etc/ssl/certs/ca-certificates.crt"]:
        if value and Path(value).is_file():
            return value
    return ""


def _base_image(python_version: str) -> str:
    """python:<v>-slim where Docker Hub answers ($TEMPLATE_BASE_IMAGE_REGISTRY=docker.io); else the stand-in."""
    if os.environ.get("TEMPLATE_BASE_IMAGE_REGISTRY") == "docker.io":
        return f"python:{python_version}-slim"
    return f"localhost/standin/python:{python_version}-slim"


def _make(
    project: Path, *targets: str, timeout: int = 2400, extra_env: dict[str, str] | None = None, **variables: str
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "MAKEFLAGS", "MFLAGS"}}
    env |= extra_env or {}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    command = ["make", *targets, *(f"{k}={v}" for k, v in variables.items())]
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=timeout)


def package(project: Path) -> str:
    return next(p.name for p in (project / "src").iterdir() if (p / "__init__.py").is_file())


def _image_exists(image: str) -> bool:
    for engine in ("podman", "docker"):
        try:
            if subprocess.run([engine, "image", "inspect", image], capture_output=True).returncode == 0:
                return True
        except FileNotFoundError:
            continue
    return False


@pytest.mark.parametrize("name", sorted(BAKES))
def test_bake_builds_its_images_and_they_run_as_sagemaker_runs_them(name, tmp_path):
    project = bake(tmp_path, **BAKES[name])
    python_version = BAKES[name].get("python_version", "3.11")
    base = _base_image(python_version)
    if base.startswith("localhost/standin/") and not _image_exists(base):
        made = _make(project, "standin-base", timeout=900)
        assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    if name in WHOLE_SUITE:
        suite = _make(project, "test", extra_env=ONE_THREAD)  # two workers, an OpenMP thread each
        assert suite.returncode == 0, suite.stdout[-5000:] + suite.stderr[-3000:]
        _all_passed(suite, at_least=900, skips=True)
    if sys.version_info[:2] >= tuple(map(int, python_version.split("."))):
        result = _make(project, "images-test", BASE_IMAGE=base, CA_BUNDLE=_ca_bundle())
    else:
        # The bake's own venv needs its Python on this machine; the template's venv holds the
        # same pins, so it drives the build and runs the venv side of every comparison.
        ca = ["--ca-bundle", _ca_bundle()] if _ca_bundle() else []
        build = run_in(project, sys.executable, "-m", package(project), "images", "build", "--base-image", base, *ca)
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
        result = run_in(project, sys.executable, "-m", "pytest", "-m", "images", "tests/test_images.py", timeout=2400)
    errors = "\n".join(line for line in result.stderr.splitlines() if not line.startswith("WARNING: Location"))
    assert result.returncode == 0, result.stdout[-5000:] + errors[-3000:]
    _all_passed(result, at_least=20)
    if name == "defaults":  # SageMaker's own client, the SDK's local mode, on the same images
        checked = _make(project, "sdk-local-test", BASE_IMAGE=base, CA_BUNDLE=_ca_bundle(), timeout=900)
        assert checked.returncode == 0, checked.stdout[-5000:] + checked.stderr[-3000:]
        _all_passed(checked, at_least=5)


def _all_passed(result: subprocess.CompletedProcess, at_least: int, skips: bool = False) -> None:
    """At least `at_least` passed, none failed, none skipped unless `skips` (a suite skips what its answers exclude)."""
    summary = [line for line in result.stdout.splitlines() if " passed" in line][-1]
    assert (skips or "skipped" not in summary) and "failed" not in summary, summary
    assert int(summary.split(" passed")[0].split()[-1]) >= at_least, summary
