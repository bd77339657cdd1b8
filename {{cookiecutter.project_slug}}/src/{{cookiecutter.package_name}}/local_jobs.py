"""Run components locally the way SageMaker runs their containers: one sandbox per job.

Each job runs the component's real entrypoint with the sandbox as its /opt/ml: by default
as a subprocess of this environment's Python with OPT_ML_ROOT set, or, with
`ContainerRuntime`, inside the component's image with the sandbox mounted at /opt/ml.
Batch Transform starts the real HTTP server and sends it MultiRecord mini-batches.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
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
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from .config import default_config_path
from .container import PROCESSING, REASON_FILES, TRANSFORM, safe_extract
from .local import warm

PACKAGE = __package__


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


# What a component's job runs: the components and the shared modules they import (a test keeps this
# list closed over their imports). The command line, pipelines and local mode are not part of a job.
JOB_CODE = (
    "__init__.py",
    "components",
    "config.py",
    "config_schema.json",
    "container.py",
    "csv_input.py",
    "csv_output.py",
    "data_schema.py",
    "ground_truth.py",
    "registry/__init__.py",
    "registry/digests.py",
    "reports.py",
)


# The config sections a job reads (a test keeps this list equal to what the components read).
# The hyperparameters are not among them: a training job reads them from its request.
JOB_CONFIG_SECTIONS = ("data", "processing", "monitoring", "quality", "explainability", "retraining", "promotion")


def job_settings(path: Path) -> dict[str, Any]:
    """The part of the config file that decides what a job does, by value (its comments and layout do not)."""
    import yaml

    if not path.is_file():
        return {}
    config = yaml.safe_load(path.read_text("utf-8")) or {}
    return {section: config.get(section) for section in JOB_CONFIG_SECTIONS}


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
            package = Path(__file__).resolve().parent
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
        return self.job("algorithm", "serve", root, environment | bind)


class ContainerRuntime:
    """Each job inside its component's image, the sandbox mounted at /opt/ml, as SageMaker runs it.

    As root (CI), the container starts as root on root-owned mounts, exactly as on SageMaker.
    As another user, the job runs with that user's id, so that the sandbox stays theirs.
    """

    name = "containers"

    def __init__(self, config: dict[str, Any], engine: Any = None) -> None:
        from .images import COMPONENTS, detect_engine, image_name, require_images

        self.engine = engine or detect_engine()
        require_images(config, self.engine)
        self.images = {c: image_name(config, c) for c in COMPONENTS}

    def warm_up(self) -> None:
        """Nothing to warm: every job starts in a fresh container, as on SageMaker."""

    def code_digest(self, image_uri: str) -> str:
        """The image's id in the local store: a rebuilt image is a cache miss."""
        from .pipelines.layout import component_of_image

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
            self.images["algorithm"], ["serve"], mounts=mounts, environment=environment, publish=(port, 8080),
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
    job: str = PROCESSING,
) -> None:
    """Run a component mode's entrypoint as a `job` (Processing, Training) with `root` as its /opt/ml."""
    command, env = runtime.job(component, mode, root, environment or {})
    log = log or root / "job.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as sink:
        result = subprocess.run(command, env=env, stdout=sink, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        reason = _failure_reason(root, log, result.returncode, job)
        raise JobFailed(f"{component} {mode} failed: {reason} (log: {log})")


def _failure_reason(root: Path, log: Path, code: int, job: str) -> str:
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
    partial = archive.with_name(f".{archive.name}.partial-{os.getpid()}")
    try:
        with tarfile.open(partial, "w:gz") as tar:
            for item in sorted(model_dir.iterdir()):
                tar.add(item, arcname=item.name)
        partial.replace(archive)  # a killed run leaves no truncated model.tar.gz where Register points
    finally:
        partial.unlink(missing_ok=True)
    return archive


def unpack_model(archive: Path, model_dir: Path) -> None:
    safe_extract(archive, model_dir)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def model_server(
    archive: Path, root: Path, runtime: Runtime = VENV, environment: dict[str, str] | None = None
) -> Iterator[str]:
    """Unpack model.tar.gz into the sandbox's model/ and serve it (CreateModel's Environment); yields the base URL."""
    unpack_model(archive, root / "model")
    port = _free_port()
    command, env = runtime.server(root, port, environment or {})
    root.mkdir(parents=True, exist_ok=True)
    log_path = root / "job.log"
    with log_path.open("w", encoding="utf-8") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_healthy(base, server, root, log_path)
            yield base
        finally:
            server.terminate()  # SIGTERM; `podman run` and `docker run` pass it on to the container
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def transform_file(
    base: str,
    input_file: Path,
    output_file: Path,
    max_payload_bytes: int = 6 * 1024 * 1024,
    concurrency: int = 1,
    data_processing: dict[str, str] | None = None,
) -> int:
    """Send a file's lines as MultiRecord mini-batches of at most `max_payload_bytes`; one line out per line in.

    Up to `concurrency` requests are in flight at once (MaxConcurrentTransforms); answers are
    written in input order, and at most `concurrency` batches are held in memory. The answers
    go to a hidden file renamed to `output_file` once complete: a killed or failed transform
    leaves no partial `.out` where a later step or a person would read it. `data_processing`
    is the job's DataProcessing (InputFilter, JoinSource, OutputFilter), as Batch Transform
    applies it to CSV records.
    """
    output_file.parent.mkdir(parents=True, exist_ok=True)
    partial = output_file.with_name(f".{output_file.name}.partial")
    shaping = RecordShaping.from_data_processing(data_processing or {})
    try:
        records = _transform_into(base, input_file, partial, max_payload_bytes, concurrency, shaping)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(output_file)
    return records


def csv_filter(expression: str) -> Callable[[list[bytes]], list[bytes]]:
    """A Batch Transform filter on a CSV record's fields: `$` (all), or `$[...]` of indexes and slices.

    `$[1:]` drops the first field; `$[0,-2,-1]` keeps the first and the last two; `$[0,5:]`
    the first and the sixth on.
    """
    text = expression.strip()
    if text == "$":
        return lambda fields: fields
    if not (text.startswith("$[") and text.endswith("]")):
        raise ValueError(f"filter {expression!r}: local Batch Transform supports `$` or `$[i, j:k, ...]` on CSV")
    picks: list[int | slice] = []
    for item in text[2:-1].split(","):
        item = item.strip()
        try:
            if ":" in item:
                start, stop = (int(x) if x.strip() else None for x in item.split(":", 1))
                picks.append(slice(start, stop))
            else:
                picks.append(int(item))
        except ValueError as exc:
            raise ValueError(f"filter {expression!r}: {item!r} is neither an index nor a slice") from exc

    def apply(fields: list[bytes]) -> list[bytes]:
        chosen: list[bytes] = []
        for pick in picks:
            if isinstance(pick, slice):
                chosen.extend(fields[pick])
            else:
                chosen.append(fields[pick])
        return chosen

    return apply


class RecordShaping:
    """DataProcessing on CSV lines: what the model is sent, and what is written for each answer."""

    def __init__(self, input_filter: str = "$", join_input: bool = False, output_filter: str = "$") -> None:
        self.identity = input_filter == "$" and not join_input and output_filter == "$"
        self.input_filter, self.output_filter = csv_filter(input_filter), csv_filter(output_filter)
        self.join_input = join_input
        self.drops_first = input_filter.replace(" ", "") == "$[1:]"

    @classmethod
    def from_data_processing(cls, settings: dict[str, str]) -> RecordShaping:
        join = settings.get("JoinSource", "None")
        if join not in {"None", "Input"}:
            raise ValueError(f"JoinSource {join!r}: Batch Transform knows None and Input")
        return cls(settings.get("InputFilter", "$"), join == "Input", settings.get("OutputFilter", "$"))

    @staticmethod
    def fields(line: bytes) -> list[bytes]:
        if b'"' not in line:
            return line.split(b",")
        rows = csv.reader(io.StringIO(line.decode("utf-8")))
        return [field.encode("utf-8") for field in next(rows, [])]

    @staticmethod
    def line(fields: list[bytes]) -> bytes:
        if not any(b"," in f or b'"' in f for f in fields):
            return b",".join(fields) + b"\n"
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow([f.decode("utf-8") for f in fields])
        return out.getvalue().encode("utf-8")

    def _first_field_and_answer(self, inputs: list[bytes], answer: bytes) -> bytes | None:
        """The common shaping (the input's first field, then the whole answer) without splitting every field."""
        if not (self.join_input and inputs) or b'"' in answer or any(b'"' in line for line in inputs):
            return None
        results = answer.splitlines()
        width_in, width_out = inputs[0].count(b",") + 1, results[0].count(b",") + 1
        probe_in = [b"i%d" % i for i in range(width_in)]
        probe_out = [b"o%d" % i for i in range(width_out)]
        if self.output_filter(probe_in + probe_out) != [b"i0", *probe_out]:
            return None
        if any(line.count(b",") + 1 != width_in for line in inputs):
            return None
        written = [line.split(b",", 1)[0] + b"," + result + b"\n" for line, result in zip(inputs, results, strict=True)]
        return b"".join(written)

    def request(self, line: bytes) -> bytes:
        """What the model gets for one input line (newline included)."""
        if self.identity:
            return line
        if self.drops_first and b'"' not in line:
            return line.split(b",", 1)[1] if b"," in line else b"\n"
        return self.line(self.input_filter(self.fields(line.rstrip(b"\r\n"))))

    def answers(self, inputs: list[bytes], answer: bytes) -> bytes:
        """The lines written for a batch: each answer joined to its input and filtered."""
        if self.identity:
            return answer
        fast = self._first_field_and_answer(inputs, answer)
        if fast is not None:
            return fast
        written = []
        for line, result in zip(inputs, answer.splitlines(), strict=True):
            fields = self.fields(result)
            if self.join_input:
                fields = self.fields(line.rstrip(b"\r\n")) + fields
            written.append(self.line(self.output_filter(fields)))
        return b"".join(written)


def _transform_into(
    base: str, input_file: Path, output_file: Path, max_payload_bytes: int, concurrency: int, shaping: RecordShaping
) -> int:
    records = 0
    with (
        input_file.open("rb") as source,
        output_file.open("wb") as sink,
        ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool,
    ):
        in_flight: deque[tuple[Future[bytes], list[bytes]]] = deque()

        def write_oldest() -> None:
            future, inputs = in_flight.popleft()
            answer = future.result()
            lines = answer.count(b"\n")
            if lines != len(inputs):
                raise JobFailed(f"the model answered {lines} lines for {len(inputs)} records")
            try:
                sink.write(shaping.answers(inputs, answer))
            except (IndexError, ValueError) as exc:
                raise JobFailed(f"DataProcessing could not shape the answers: {exc}") from exc

        def send(batch: list[bytes]) -> None:
            nonlocal records
            if len(in_flight) >= max(1, concurrency):
                write_oldest()
            try:
                payload = b"".join(shaping.request(line) for line in batch)
            except (IndexError, ValueError) as exc:
                raise JobFailed(f"InputFilter could not select the fields of records after {records}: {exc}") from exc
            in_flight.append((pool.submit(_invoke, base, payload, records), batch))
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


def batch_transform(
    archive: Path,
    input_file: Path,
    output_file: Path,
    root: Path,
    runtime: Runtime = VENV,
    data_processing: dict[str, str] | None = None,
    environment: dict[str, str] | None = None,
) -> int:
    """Score one file with the model in `archive`, as a Batch Transform job would (with its DataProcessing)."""
    with model_server(archive, root, runtime, environment) as base:
        return transform_file(base, input_file, output_file, data_processing=data_processing)


def _wait_until_healthy(base: str, server: subprocess.Popen, root: Path, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            reason = _failure_reason(root, log, server.returncode, TRANSFORM)
            raise JobFailed(f"algorithm serve failed to start: {reason} (log: {log})")
        try:
            with urllib.request.urlopen(f"{base}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise JobFailed(f"algorithm serve did not answer /ping within {timeout:.0f}s")
