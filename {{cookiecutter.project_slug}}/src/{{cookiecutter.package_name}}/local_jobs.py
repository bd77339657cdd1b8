"""Run components locally the way SageMaker runs their containers: one sandbox per job.

Each job is a subprocess of the component's real entrypoint with OPT_ML_ROOT set to its
sandbox. Batch Transform starts the real HTTP server and sends it MultiRecord mini-batches.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

PACKAGE = __package__


class JobFailed(RuntimeError):
    """A component exited non-zero; the message is its FailureReason."""


def run_component(component: str, mode: str, root: Path, log: Path | None = None) -> None:
    """Run `python -m <package>.components.<component> <mode>` with OPT_ML_ROOT=root."""
    env = {**os.environ, "OPT_ML_ROOT": str(root), "PYTHONPATH": _pythonpath()}
    log = log or root / "job.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as sink:
        result = subprocess.run(
            [sys.executable, "-m", f"{PACKAGE}.components.{component}", mode],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        failure = root / "output" / "failure"
        reason = failure.read_text("utf-8").strip() if failure.is_file() else f"exit code {result.returncode}"
        raise JobFailed(f"{component} {mode} failed: {reason} (log: {log})")


def _pythonpath() -> str:
    source_root = str(Path(__file__).resolve().parents[1])
    existing = os.environ.get("PYTHONPATH")
    return source_root if not existing else f"{source_root}{os.pathsep}{existing}"


def stage_input(source: Path, destination: Path) -> None:
    """Copy a file or a folder's contents into an input location, as SageMaker downloads S3 data."""
    destination.mkdir(parents=True, exist_ok=True)
    if source.is_file():
        shutil.copy2(source, destination / source.name)
    else:
        shutil.copytree(source, destination, dirs_exist_ok=True)


def pack_model(model_dir: Path, archive: Path) -> Path:
    """Pack a training job's model directory as SageMaker does: model.tar.gz at the root."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for item in sorted(model_dir.iterdir()):
            tar.add(item, arcname=item.name)
    return archive


def unpack_model(archive: Path, model_dir: Path) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(model_dir, filter="data")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def batch_transform(
    archive: Path, input_file: Path, output_file: Path, root: Path, records_per_batch: int = 1000
) -> int:
    """Serve the model and score `input_file` in MultiRecord mini-batches; write one line per record."""
    unpack_model(archive, root / "model")
    port = _free_port()
    env = {**os.environ, "OPT_ML_ROOT": str(root), "SAGEMAKER_BIND_TO_PORT": str(port), "PYTHONPATH": _pythonpath()}
    log = (root / "job.log").open("w", encoding="utf-8")
    server = subprocess.Popen(
        [sys.executable, "-m", f"{PACKAGE}.components.algorithm", "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base, server, root)
        lines = input_file.read_text("utf-8").splitlines()
        output_file.parent.mkdir(parents=True, exist_ok=True)
        with output_file.open("w", encoding="utf-8") as sink:
            for start in range(0, len(lines), records_per_batch):
                payload = ("\n".join(lines[start : start + records_per_batch]) + "\n").encode()
                request = urllib.request.Request(
                    f"{base}/invocations", data=payload, headers={"Content-Type": "text/csv"}, method="POST"
                )
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        sink.write(response.read().decode())
                except urllib.error.HTTPError as exc:
                    raise JobFailed(
                        f"transform failed on records {start + 1}..: {exc.read().decode().strip()}"
                    ) from exc
        return len(lines)
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def _wait_until_healthy(base: str, server: subprocess.Popen, root: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            failure = root / "output" / "failure"
            reason = failure.read_text("utf-8").strip() if failure.is_file() else "server exited"
            raise JobFailed(f"algorithm serve failed to start: {reason}")
        try:
            with urllib.request.urlopen(f"{base}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise JobFailed(f"algorithm serve did not answer /ping within {timeout:.0f}s")
