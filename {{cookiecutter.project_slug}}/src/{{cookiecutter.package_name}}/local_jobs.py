"""Run components locally the way SageMaker runs their containers: one sandbox per job.

Each job is a subprocess of the component's real entrypoint with OPT_ML_ROOT set to its
sandbox. Batch Transform starts the real HTTP server and sends it MultiRecord mini-batches.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

PACKAGE = __package__


class JobFailed(RuntimeError):
    """A component exited non-zero; the message is its FailureReason."""


def run_component(
    component: str, mode: str, root: Path, log: Path | None = None, environment: dict[str, str] | None = None
) -> None:
    """Run `python -m <package>.components.<component> <mode>` with OPT_ML_ROOT=root (and the job's env)."""
    env = {**os.environ, **(environment or {}), "OPT_ML_ROOT": str(root), "PYTHONPATH": _pythonpath()}
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


@contextlib.contextmanager
def model_server(archive: Path, root: Path) -> Iterator[str]:
    """Unpack model.tar.gz into the sandbox's model/ and serve it; yields the base URL."""
    unpack_model(archive, root / "model")
    port = _free_port()
    env = {**os.environ, "OPT_ML_ROOT": str(root), "SAGEMAKER_BIND_TO_PORT": str(port), "PYTHONPATH": _pythonpath()}
    root.mkdir(parents=True, exist_ok=True)
    with (root / "job.log").open("w", encoding="utf-8") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", f"{PACKAGE}.components.algorithm", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_healthy(base, server, root)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=10)


def transform_file(
    base: str, input_file: Path, output_file: Path, max_payload_bytes: int = 6 * 1024 * 1024, concurrency: int = 1
) -> int:
    """Send a file's lines as MultiRecord mini-batches of at most `max_payload_bytes`; one line out per line in.

    Up to `concurrency` requests are in flight at once (MaxConcurrentTransforms); answers are
    written in input order, and at most `concurrency` batches are held in memory.
    """
    output_file.parent.mkdir(parents=True, exist_ok=True)
    records = 0
    with (
        input_file.open("rb") as source,
        output_file.open("wb") as sink,
        ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool,
    ):
        in_flight: deque[tuple[Future[bytes], int]] = deque()

        def write_oldest() -> None:
            future, expected = in_flight.popleft()
            answer = future.result()
            lines = answer.count(b"\n")
            if lines != expected:
                raise JobFailed(f"the model answered {lines} lines for {expected} records")
            sink.write(answer)

        def send(batch: list[bytes]) -> None:
            nonlocal records
            if len(in_flight) >= max(1, concurrency):
                write_oldest()
            in_flight.append((pool.submit(_invoke, base, b"".join(batch), records), len(batch)))
            records += len(batch)

        batch: list[bytes] = []
        size = 0
        for line in source:
            if not line.strip():
                continue
            line = line if line.endswith(b"\n") else line + b"\n"
            if batch and size + len(line) > max_payload_bytes:
                send(batch)
                batch, size = [], 0
            batch.append(line)
            size += len(line)
        if batch:
            send(batch)
        while in_flight:
            write_oldest()
    return records


def _invoke(base: str, payload: bytes, offset: int) -> bytes:
    request = urllib.request.Request(
        f"{base}/invocations", data=payload, headers={"Content-Type": "text/csv"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        raise JobFailed(f"transform failed on records after {offset}: {exc.read().decode().strip()}") from exc


def batch_transform(archive: Path, input_file: Path, output_file: Path, root: Path) -> int:
    """Score one file with the model in `archive`, as a Batch Transform job would."""
    with model_server(archive, root) as base:
        return transform_file(base, input_file, output_file)


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
