"""A local pipeline execution and its record (execution.json): what retries and selective runs read back."""

from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .expressions import walk


class ExecutionNotFound(ValueError):
    """No execution of that id in the workspace, or one that cannot be retried or referenced."""


@dataclass
class StepResult:
    name: str
    type: str
    status: str
    seconds: float = 0.0
    reason: str = ""
    log: str = ""
    # CacheHitResult.SourcePipelineExecutionArn: the execution whose run of this step a cache hit reused.
    cache_hit: str = ""
    # SelectiveExecutionResult.SourcePipelineExecutionArn: the execution whose outputs were reused.
    reused_from: str = ""


@dataclass
class Execution:
    pipeline: str
    execution_id: str
    arn: str
    execution_dir: Path
    status: str = "Executing"
    steps: list[StepResult] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    failure: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    started: str = ""
    source_arn: str = ""  # the reference of a selective execution
    selected: list[str] | None = None
    # Steps not run again (a retry's succeeded ones, a selective run's unselected ones): name -> (properties, source).
    reused: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)

    def output(self, step: str, *path: str | int) -> Any:
        """A property of a step that ran, e.g. output('Register', 'OutputParameters', 'manifest_version')."""
        return walk(self.properties[step], list(path), f"step {step}")

    def processing_output(self, step: str, channel: str) -> str:
        """The S3 URI a processing step wrote its output `channel` to (a channels.py name)."""
        return self.output(step, "ProcessingOutputConfig", "Outputs", channel, "S3Output", "S3Uri")

    def record(self) -> dict[str, Any]:
        """execution.json: what `local retry` and a selective run's reference read back."""
        return {
            "pipeline": self.pipeline,
            "execution_id": self.execution_id,
            "arn": self.arn,
            "status": self.status,
            "failure": self.failure,
            "started": self.started,
            "parameters": self.parameters,
            "selective": {"source": self.source_arn, "steps": self.selected} if self.selected else None,
            "pid": os.getpid(),
            "steps": [s.__dict__ for s in self.steps],
            "properties": self.properties,
        }


def executor_failure(exc: OSError) -> str:
    """An error of the executor's own, in words: what it could not do, where, and what to do."""
    where = f" {exc.filename}" if exc.filename else ""
    return (
        f"the local executor could not write{where}: {exc.strerror or exc}. Free the disk or fix the folder's "
        "permissions, then retry the execution (local retry)"
    )


def new_execution_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(3)


def save(execution: Execution, lock: threading.Lock) -> None:
    """execution.json, replaced whole: a write that fails (a full disk) leaves the last whole record."""
    with lock:
        text = json.dumps(execution.record(), indent=2, default=str)
    partial = execution.execution_dir / f".execution.json.{threading.get_ident()}.partial"
    try:
        partial.write_text(text, "utf-8")
        partial.replace(execution.execution_dir / "execution.json")
    finally:
        partial.unlink(missing_ok=True)


def load(runs: Path, execution_id: str, pipeline: str | None = None) -> dict[str, Any]:
    """An execution's record (execution.json) from the workspace's runs."""
    pattern = f"{pipeline or '*'}/{execution_id}/execution.json"
    found = sorted(runs.glob(pattern)) if execution_id else []
    if not found:
        raise ExecutionNotFound(f"No execution {execution_id!r} in {runs}; its ids are the run folders' names.")
    try:
        return json.loads(found[0].read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExecutionNotFound(
            f"{found[0]} cannot be read ({exc}): the execution's record was cut short, perhaps by a full disk. "
            "Start a new execution; this one cannot be retried or referenced."
        ) from exc


def latest(runs: Path, pipeline: str) -> str:
    """The latest execution of a pipeline: a selective execution's default reference."""
    runs = sorted(p.parent.name for p in (runs / pipeline).glob("*/execution.json"))
    if not runs:
        raise ExecutionNotFound(f"{pipeline} has no execution to reference yet: run it once first.")
    return runs[-1]
