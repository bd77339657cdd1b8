"""The generated repository's own `make test` works on its own: its venv, its pins, its checks."""

from __future__ import annotations

import os
import subprocess

from .conftest import ONE_THREAD, bake


def test_generated_make_test_passes_from_scratch(tmp_path):
    project = bake(tmp_path)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PROJECT_CONFIG", "MAKEFLAGS", "MFLAGS"}
    }
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    env |= ONE_THREAD
    result = subprocess.run(["make", "test"], cwd=project, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert (project / ".venv" / "bin" / "pytest").exists()
    assert " passed" in result.stdout
