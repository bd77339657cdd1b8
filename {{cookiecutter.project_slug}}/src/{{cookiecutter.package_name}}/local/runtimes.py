"""How a local job's process starts: a subprocess of this venv, or the component's image.

Each job runs the component's real entrypoint with its sandbox as /opt/ml: by default as a
subprocess of this environment's Python with OPT_ML_ROOT set (forked from the warm
interpreter, see warm.py), or, with `ContainerRuntime`, inside the component's image with the
sandbox mounted at /opt/ml. The job-code digest, a step cache key, lives here too.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

from .. import channels
from ..config import default_config_path
from ..container import REASON_FILES
from . import warm

PACKAGE = __package__.rpartition(".")[0]


class JobFailed(RuntimeError):
    """A component exited non-zero; the message is its FailureReason."""


class Runtime(Protocol):
    """How a job's process is started: the command line and environment for a component mode."""

    name: str

    def job(self, component: str, mode: str, root: Path, environment: dict[str, str]) -> tuple[list[str], dict]: ...

    def server(self, root: Path, port: int, environment: dict[str, str]) -> tuple[list[str], dict]: ...

    def warm_up(self) -> None:
        """Get ready for jobs before the first one is asked for (optional work; may do nothing)."""

    def code_digest(self, image_uri: str) -> str:
        """The digest of the code a job of this image runs, as a step cache key holds an image's digest."""

    def reset_code_digest(self) -> None:
        """Forget what code_digest read, so that a change made since the last run is seen (may do nothing)."""


# What a component's job runs: the components and the shared modules they import (a test keeps this
# list closed over their imports). The command line, pipelines and local mode are not part of a job.
JOB_CODE = (
    "__init__.py",
    "calibration.py",
    "channels.py",
    "components",
    "config.py",
    "config_schema.json",
    "container.py",
    "csv_input.py",
    "csv_output.py",
    "custom_estimators",
    "data_schema.py",
    "ground_truth.py",
    "job_environment.py",
    "model_metrics.py",
    "registry/__init__.py",
    "registry/digests.py",
    "reports.py",
)


# The config sections a job reads (a test keeps this list equal to what the components read).
JOB_CONFIG_SECTIONS = ("data", "processing", "monitoring", "quality", "explainability", "retraining", "promotion")
# Sections a job reads only some keys of. The hyperparameters reach a training job through its
# request, but the estimator they are for, and the decision it makes, are settings: another
# estimator or threshold is another job.
JOB_CONFIG_KEYS = {"algorithm": ("estimator", "decision")}


def job_settings(path: Path) -> dict[str, Any]:
    """The part of the config file that decides what a job does, by value (its comments and layout do not)."""
    import yaml

    if not path.is_file():
        return {}
    config = yaml.safe_load(path.read_text("utf-8")) or {}
    settings = {section: config.get(section) for section in JOB_CONFIG_SECTIONS}
    for section, keys in JOB_CONFIG_KEYS.items():
        settings[section] = {key: (config.get(section) or {}).get(key) for key in keys}
    return settings


def job_code_files(package: Path) -> list[Path]:
    files = []
    for name in JOB_CODE:
        path = package / name
        found = path.rglob("*") if path.is_dir() else [path]
        files += [p for p in found if p.is_file() and p.suffix in {".py", ".json"}]
    return sorted(files)


class VenvRuntime:
    """Each job as a subprocess of this environment's Python, with OPT_ML_ROOT as its /opt/ml.

    By default the job is forked from a warm interpreter that has already imported the
    libraries (see `local/warm.py`); LOCAL_WARM_START=0 starts each in a fresh interpreter.
    """

    name = "venv"

    def __init__(self) -> None:
        self.warm = warm.WarmInterpreter()
        self._code_digest: str | None = None

    def job(self, component: str, mode: str, root: Path, environment: dict[str, str]) -> tuple[list[str], dict]:
        env = {**os.environ, **environment, "OPT_ML_ROOT": str(root), "PYTHONPATH": _pythonpath()}
        module = f"{PACKAGE}.components.{component}"
        if warm.enabled(env):
            return self.warm.command(module, [mode], _warm_env()), env
        return [sys.executable, "-m", module, mode], env

    def warm_up(self) -> None:
        """Start the warm interpreter now, so that it imports while the run stages its inputs."""
        if warm.enabled():
            self.warm.start(_warm_env())

    def code_digest(self, image_uri: str) -> str:
        """Locally every image runs this checkout: the digest of the code a job runs and of the settings it reads.

        Read once per run (`reset_code_digest`), so a change made between runs is a cache miss.
        """
        if self._code_digest is None:
            digest = hashlib.sha256()
            package = Path(__file__).resolve().parents[1]
            for path in job_code_files(package):
                digest.update(f"{path.relative_to(package).as_posix()}\n".encode())
                digest.update(path.read_bytes())
            digest.update(json.dumps(job_settings(default_config_path()), sort_keys=True).encode())
            self._code_digest = f"sha256:{digest.hexdigest()}"
        return self._code_digest

    def reset_code_digest(self) -> None:
        self._code_digest = None

    def server(self, root: Path, port: int, environment: dict[str, str]) -> tuple[list[str], dict]:
        # The loopback only: on a laptop the model is not exposed to the network.
        bind = {"SAGEMAKER_BIND_TO_PORT": str(port), "MODEL_SERVER_HOST": "127.0.0.1"}
        return self.job(channels.ALGORITHM, "serve", root, environment | bind)


class ContainerRuntime:
    """Each job inside its component's image, the sandbox mounted at /opt/ml, as SageMaker runs it.

    As root (CI), the container starts as root on root-owned mounts, exactly as on SageMaker.
    As another user, the job runs with that user's id, so that the sandbox stays theirs.
    """

    name = "containers"

    def __init__(self, config: dict[str, Any], engine: Any = None) -> None:
        from ..images import detect_engine, image_name, require_images

        self.engine = engine or detect_engine()
        require_images(config, self.engine)
        self.images = {c: image_name(config, c) for c in channels.COMPONENTS}

    def warm_up(self) -> None:
        """Nothing to warm: every job starts in a fresh container, as on SageMaker."""

    def reset_code_digest(self) -> None:
        """Nothing to forget: code_digest asks the image store each time."""

    def code_digest(self, image_uri: str) -> str:
        """The image's id in the local store: a rebuilt image is a cache miss."""
        from ..pipelines.layout import component_of_image

        image = self.images[component_of_image(image_uri)]
        found = subprocess.run(
            self.engine.command("image", "inspect", "--format", "{{.Id}}", image),
            capture_output=True,
            text=True,
            check=False,
        )
        if found.returncode != 0 or not found.stdout.strip():
            raise JobFailed(f"cannot read the id of image {image}: {found.stderr.strip() or 'no output'}")
        return found.stdout.strip()

    def _identity(self) -> list[str]:
        if os.geteuid() == 0:
            return []
        if self.engine.runner == "podman":
            return ["--userns=keep-id"]
        return ["--user", f"{os.geteuid()}:{os.getegid()}"]

    def job(self, component: str, mode: str, root: Path, environment: dict[str, str]) -> tuple[list[str], dict]:
        mounts = [(root, "/opt/ml", False)]
        command = self.engine.run_command(
            self.images[component], [mode], mounts=mounts, environment=environment, options=self._identity()
        )
        return command, dict(os.environ)

    def server(self, root: Path, port: int, environment: dict[str, str]) -> tuple[list[str], dict]:
        (root / "output").mkdir(parents=True, exist_ok=True)
        mounts = [(root / "model", "/opt/ml/model", True), (root / "output", "/opt/ml/output", False)]
        command = self.engine.run_command(
            self.images[channels.ALGORITHM], ["serve"], mounts=mounts, environment=environment, publish=(port, 8080),
            options=self._identity(),
        )  # fmt: skip
        return command, dict(os.environ)


VENV = VenvRuntime()


def run_component(
    component: str,
    mode: str,
    root: Path,
    log: Path | None = None,
    environment: dict[str, str] | None = None,
    runtime: Runtime = VENV,
    job: str | None = None,
) -> None:
    """Run a component mode's entrypoint with `root` as its /opt/ml, as the job channels.MODES names (or `job`)."""
    job = job or channels.mode(component, mode).job
    command, env = runtime.job(component, mode, root, environment or {})
    log = log or root / "job.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as sink:
        result = subprocess.run(command, env=env, stdout=sink, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        reason = failure_reason(root, log, result.returncode, job)
        # A job's own reason already begins "<component> <mode>: " (container.run_entrypoint): one prefix.
        said = reason if reason.startswith(f"{component} {mode}: ") else f"{component} {mode}: {reason}"
        raise JobFailed(f"{said} (log: {log})")


def failure_reason(root: Path, log: Path, code: int, job: str) -> str:
    """The reason SageMaker shows for a failed `job`: the file it reads for that job type, else the exit code.

    Without that file, the log's last ERROR line is added, and the missing file is named: a
    component that writes its reason elsewhere is seen here, as on SageMaker.
    """
    name = REASON_FILES.get(job)
    if name and (root / "output" / name).is_file():
        return (root / "output" / name).read_text("utf-8").strip()
    errors = [line for line in log.read_text("utf-8", errors="replace").splitlines() if line.startswith("ERROR ")]
    if not name:  # a model server: its log is where it says why
        return errors[-1].removeprefix("ERROR ") if errors else f"exit code {code}"
    last = f"; its log's last error: {errors[-1].removeprefix('ERROR ')}" if errors else ""
    return f"exit code {code}, with no reason in /opt/ml/output/{name}{last}"


def _warm_env() -> dict[str, str]:
    """The warm interpreter's environment: this process's, with the project on the path as in every job."""
    return {**os.environ, "PYTHONPATH": _pythonpath()}


def _pythonpath() -> str:
    source_root = str(Path(__file__).resolve().parents[2])
    existing = os.environ.get("PYTHONPATH")
    return source_root if not existing else f"{source_root}{os.pathsep}{existing}"
