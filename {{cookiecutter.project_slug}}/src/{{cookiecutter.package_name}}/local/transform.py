"""Batch Transform, emulated: the real model server, sent MultiRecord mini-batches with SageMaker's record shaping.

The server runs through a runtime (runtimes.py): this venv, or the algorithm's image.
"""

from __future__ import annotations

import contextlib
import csv
import io
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..channels import TRANSFORM_JOB
from .packing import unpack_model
from .runtimes import VENV, JobFailed, Runtime, failure_reason


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
            reason = failure_reason(root, log, server.returncode, TRANSFORM_JOB)
            raise JobFailed(f"algorithm serve failed to start: {reason} (log: {log})")
        try:
            with urllib.request.urlopen(f"{base}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise JobFailed(f"algorithm serve did not answer /ping within {timeout:.0f}s")
