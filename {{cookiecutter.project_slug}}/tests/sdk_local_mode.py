"""The SageMaker Python SDK's local mode (LocalSession) as a second client of the images.

`make sdk-local-test` runs jobs through it (tests/test_sdk_local.py). Local mode runs each job
with docker-compose; here that is Debian's docker-compose 1.29 against podman's Docker API
(`podman system service`), or a docker daemon. Where local mode differs from SageMaker, the
difference is worked around here, in one place each, and named (BUG:). None of them is
SageMaker's, and none changes what the job itself does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from {{ cookiecutter.package_name }}.container import safe_extract
from {{ cookiecutter.package_name }}.images import Engine, job_limits

from .conftest import REASON_FILES

SDK_CONFIG = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
COMPOSE_MISSING = (
    "docker-compose is missing: the SDK's local mode runs every job through it. "
    "Debian/Ubuntu: apt-get install --no-install-recommends docker-compose"
)


class CheckFailed(Exception):
    """A job did something other than what SageMaker would have done."""


@contextmanager
def docker_api(engine: Engine, workdir: Path) -> Iterator[None]:
    """A Docker API for docker-compose: podman's, on a socket of our own (DOCKER_HOST), or docker's daemon.

    The service gets the engine's global flags, so it sees the images `make images` built
    (the same runtime and image store).
    """
    if shutil.which("docker-compose") is None:
        raise CheckFailed(COMPOSE_MISSING)
    if engine.runner != "podman":
        yield
        return
    socket_path, log = workdir / "podman.sock", workdir / "podman-service.log"
    with log.open("wb") as sink:
        service = subprocess.Popen(
            engine.command("system", "service", "--time=0", f"unix://{socket_path}"), stdout=sink, stderr=sink
        )
        previous = os.environ.get("DOCKER_HOST")
        try:
            deadline = time.monotonic() + 30
            while not socket_path.is_socket():
                if service.poll() is not None or time.monotonic() > deadline:
                    raise CheckFailed(f"podman system service did not answer: {log.read_text()[-2000:]}")
                time.sleep(0.2)
            os.environ["DOCKER_HOST"] = f"unix://{socket_path}"
            yield
        finally:
            if previous is None:
                os.environ.pop("DOCKER_HOST", None)
            else:
                os.environ["DOCKER_HOST"] = previous
            service.terminate()
            try:
                service.wait(timeout=30)
            except subprocess.TimeoutExpired:
                service.kill()
                service.wait()


def job_ulimits() -> dict[str, dict[str, int]]:
    """The images' own limits (images.job_limits), in compose's shape, for every service.

    Not the SDK's: containers made through podman's API ask for nofile and nproc limits above a
    sandbox's hard limits otherwise ("error setting rlimit type 7: operation not permitted").
    """
    return {name: {"soft": soft, "hard": hard} for name, (soft, hard) in job_limits().items()}


def local_client(container_root: Path, port: int) -> Any:
    """LocalSession's SageMaker client, with its jobs' folders under `container_root`."""
    import boto3
    from sagemaker.core.local import LocalSession

    session = LocalSession(boto_session=boto3.Session(), sagemaker_config=SDK_CONFIG)
    session.config = {
        "local": {
            "local_code": True,
            "container_root": str(container_root),
            "serving_port": port,
            "container_config": {"ulimits": job_ulimits()},
        }
    }
    return session.sagemaker_client


# ------------------------------------------------------------------ local mode's bugs, one place each
# Not hit here, so not worked around: ModelTrainer in local-container mode does not append
# `train` (create_training_job is called directly, and appends it); /execution-parameters must
# say "MultiRecord", not "MULTI_RECORD", but the SDK reads it only when BatchStrategy is left
# out, and the Transform step sets it; the pipeline-level local session (not used here).


def with_entrypoint(engine: Engine, app: dict[str, Any]) -> dict[str, Any]:
    """BUG: ContainerArguments without ContainerEntrypoint raises KeyError: 'entrypoint'.

    SageMaker appends the arguments to the image's ENTRYPOINT; naming that ENTRYPOINT is the same.
    """
    if "ContainerArguments" not in app or "ContainerEntrypoint" in app:
        return app
    found = subprocess.run(engine.command("image", "inspect", app["ImageUri"]), capture_output=True, text=True)
    if found.returncode != 0:
        raise CheckFailed(f"cannot inspect {app['ImageUri']}: {found.stderr.strip()}; run `make images` first")
    return {**app, "ContainerEntrypoint": json.loads(found.stdout)[0]["Config"]["Entrypoint"]}


def unsharded(inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """BUG: local Processing refuses S3DataDistributionType ShardedByS3Key. One instance's shard is everything."""
    for item in inputs:
        if item["S3Input"].get("S3DataDistributionType") == "ShardedByS3Key":
            item["S3Input"]["S3DataDistributionType"] = "FullyReplicated"
    return inputs


def unpacked_model(archive: Path, destination: Path) -> str:
    """BUG: local serving unpacks model.tar.gz beside itself and mounts that folder at /opt/ml/model.

    The server then also sees model.tar.gz (and training's output.tar.gz), and refuses files
    the manifest does not pin. SageMaker mounts the archive's contents alone: so does this.
    """
    safe_extract(archive, destination)
    return f"file://{destination}"


def csv_filter(expression: str) -> Callable[[list[str]], list[str]]:
    """A Batch Transform JSONPath filter on CSV fields: `$`, or `$[i, j:k, ...]`."""
    text = expression.replace(" ", "")
    if text == "$":
        return lambda fields: fields
    picks: list[int | slice] = []
    for item in text.removeprefix("$[").removesuffix("]").split(","):
        start, colon, stop = item.partition(":")
        picks.append(slice(int(start) if start else None, int(stop) if stop else None) if colon else int(item))
    return lambda fields: [f for p in picks for f in (fields[p] if isinstance(p, slice) else [fields[p]])]


def transform_with_data_processing(client: Any, name: str, args: dict[str, Any], work: Path) -> Path:
    """BUG: local Transform ignores DataProcessing and the HTTP status of /invocations.

    The model would get the id column, answer 400, and the SDK would write the error text as
    the output. SageMaker's filters are applied here around the SDK's transform: the
    InputFilter to a copy of the input, then each answer joined to its record (JoinSource)
    and the OutputFilter. One answer per record, or CheckFailed (which also catches an error body).
    """
    processing = args.pop("DataProcessing", {})
    keep, select = csv_filter(processing.get("InputFilter", "$")), csv_filter(processing.get("OutputFilter", "$"))
    join = processing.get("JoinSource", "None") == "Input"
    source = Path(args["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"].removeprefix("file://"))
    filtered, answered, output = work / "filtered", work / "answered", work / "output"
    for path in (filtered, answered, output):
        path.mkdir(parents=True, exist_ok=True)
    records = {}
    for path in sorted(p for p in source.iterdir() if p.is_file()):
        records[path.name] = [line for line in path.read_text("utf-8").splitlines() if line.strip()]
        (filtered / path.name).write_text("".join(",".join(keep(r.split(","))) + "\n" for r in records[path.name]))
    args["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] = f"file://{filtered}"
    args["TransformOutput"]["S3OutputPath"] = f"file://{answered}"
    client.create_transform_job(TransformJobName=name, **args)
    for file, lines in records.items():
        answers = [a for a in (answered / f"{file}.out").read_text("utf-8").splitlines() if a.strip()]
        if len(answers) != len(lines):
            raise CheckFailed(f"{file}: {len(answers)} answers for {len(lines)} records: {answers[:2]}")
        pairs = zip(lines, answers, strict=True)
        rows = (select((line.split(",") if join else []) + answer.split(",")) for line, answer in pairs)
        (output / f"{file}.out").write_text("".join(",".join(row) + "\n" for row in rows), "utf-8")
    return output


class JobWatch:
    """Hooks on local mode's container lifecycle: what each job's containers really did.

    `_compose` starts a job's containers; `_cleanup` runs once compose has ended, and deletes
    the per-host folders. Before that:
    - BUG: failure reasons are never read. /opt/ml/output is a per-host folder that local mode
      deletes unread (Training tars it into output.tar.gz), and its describe_* calls carry no
      ExitMessage or FailureReason. The reason files are copied out here.
    - BUG: docker-compose 1.29 on podman's API sometimes exits 0 for a failed container (it
      reads the state too early), and local mode trusts it. Each container's own exit code is
      read here.
    - The containers, which `compose up` leaves behind, are removed.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.containers: list[dict[str, Any]] = []
        self._pending: list[Any] = []

    @contextmanager
    def installed(self) -> Iterator[JobWatch]:
        from sagemaker.core.local.image import _SageMakerContainer

        compose, cleanup = _SageMakerContainer._compose, _SageMakerContainer._cleanup

        def watched_compose(container: Any, detached: bool = False) -> Any:
            self._pending.append(container)
            return compose(container, detached)

        def watched_cleanup(container: Any, dirs_to_delete: Any = None) -> Any:
            self._collect(container)
            return cleanup(container, dirs_to_delete)

        _SageMakerContainer._compose, _SageMakerContainer._cleanup = watched_compose, watched_cleanup
        try:
            yield self
        finally:
            _SageMakerContainer._compose, _SageMakerContainer._cleanup = compose, cleanup

    def _collect(self, container: Any) -> None:
        if container not in self._pending:
            return
        self._pending.remove(container)
        root = Path(container.container_root)
        services = yaml.safe_load((root / "docker-compose.yaml").read_text())["services"]
        for host, service in services.items():
            name = service["container_name"]
            # `wait`, not `inspect`: podman reports a container "stopped" before its exit code is final.
            waited = subprocess.run(self.engine.command("wait", name), capture_output=True, text=True, timeout=120)
            code = int(waited.stdout.split()[-1]) if waited.returncode == 0 else f"gone: {waited.stderr.strip()}"
            subprocess.run(self.engine.command("rm", "--force", name), capture_output=True, check=False)
            reasons = {}
            for file in REASON_FILES.values():
                path = root / host / "output" / file
                if path.is_file():
                    reasons[file] = path.read_text("utf-8", errors="replace")
            self.containers.append({"serving": container.container is not None, "exit": code, "reasons": reasons})

    def run(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """One job through the SDK: what the SDK said, and what its containers did."""
        before, raised, started = len(self.containers), None, time.monotonic()
        try:
            call(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - reported beside the containers' own view
            raised = exc
        finally:
            for container in list(self._pending):  # a model server that never answered /ping
                if container.container is not None:
                    container.container.down()
                self._collect(container)
        containers = self.containers[before:]
        stopped = (137, 143)  # a model server ends when its transform is done
        failed = [c for c in containers if c["exit"] != 0 and not (c["serving"] and c["exit"] in stopped)]
        reasons = {name: text for c in containers for name, text in c["reasons"].items()}
        return {
            "sdk_raised": raised,
            "containers": containers,
            "failed": bool(raised or failed),
            "reasons": reasons,
            "seconds": round(time.monotonic() - started, 1),
        }
