"""Execute a SageMaker pipeline definition locally, step by step, with SageMaker's job semantics.

The definition JSON is the only input: the graph comes from its steps, DependsOn and the
step properties its expressions read. Each job runs its component's real entrypoint as a
subprocess under its own OPT_ML_ROOT; `s3://` maps into the workspace; Lambda steps call
the same handlers the deployed Lambdas run.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..pipelines import layout
from ..pipelines.graph import step_graph
from .cache import StepCache, cache_key, cache_settings, images_in
from .executions import (
    Execution,
    ExecutionNotFound,
    StepResult,
    executor_failure,
    latest,
    load,
    new_execution_id,
    save,
)
from .expressions import ExpressionError, Resolver, walk
from .handlers import HANDLERS, StepRun
from .jobs import JobRunner, StepFailed
from .planning import plan_retry, plan_selective, resolve_parameters
from .processes import running
from .retries import TransientFailure, run_with_retries
from .runtimes import VENV, JobFailed, Runtime
from .scheduling import check_supported, run_graph
from .workspace import Workspace

__all__ = ["Execution", "ExecutionNotFound", "LocalExecutor", "StepFailed", "StepResult", "resolve_parameters"]


# How the lines of every step begin (started, done, reused), and the status event's: what --quiet leaves out.
STEP_LINES = ("  [cyan]▶", "  [green]✓", "  [green]↺")
EVENT_LINE = "  [magenta]EVENT"


def quiet(progress: Callable[[str], None]) -> Callable[[str], None]:
    """`progress` with each execution's first line, its alerts, retries and failures, not every step."""

    def show(line: str) -> None:
        if not line.startswith((*STEP_LINES, EVENT_LINE)):
            progress(line)

    return show


class LocalExecutor:
    """Runs pipeline definitions of one project and environment in a workspace."""

    def __init__(
        self,
        workspace: Workspace,
        config: dict[str, Any],
        env: str,
        progress: Callable[[str], None] = print,
        max_parallel: int | None = None,
        runtime: Runtime = VENV,
        faults: Callable[[str, int], str | None] | None = None,
        caching: bool = True,
    ) -> None:
        """`max_parallel` defaults to config pipelines.max_parallel_steps. `faults(step, attempt)`
        may name a transient failure (an exception type such as SageMaker.CAPACITY_ERROR) for that
        attempt of that step, to see its retry policies work; None runs the attempt. `caching=False`
        runs every step even where CacheConfig would reuse one (successful runs are still recorded)."""
        self.workspace = workspace
        self.runtime = runtime
        runtime.warm_up()
        self.config = config
        self.env = env
        self.progress = progress
        self.max_parallel = max_parallel or int(config["pipelines"].get("max_parallel_steps", 2))
        self.faults = faults
        self.caching = caching
        self.sleep: Callable[[float], None] = time.sleep
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.jobs = JobRunner(workspace, runtime, progress)
        self.cache = StepCache(workspace.root / "cache", exists=lambda uri: workspace.path(uri).exists())
        self.models: dict[str, dict[str, Any]] = {}
        self.alerts: list[dict[str, str]] = []
        self.events: list[dict[str, Any]] = []  # pipeline status changes the notifications rule sends
        self.images: dict[str, str] | None = None

    # ------------------------------------------------------------------ executions

    def run(
        self,
        definition: dict[str, Any],
        parameters: dict[str, Any] | None = None,
        pipeline: str = "",
        selected: list[str] | None = None,
        reference: str | None = None,
    ) -> Execution:
        """Start an execution: every step in dependency order, stopping at the first failure.

        With `selected`, a selective execution (SelectiveExecutionConfig): only those steps run;
        the steps they depend on reuse the outputs of `reference` (an execution id; by default the
        latest execution of this pipeline), whose parameters are the defaults of this one.
        """
        check_supported(definition["Steps"])
        pipeline = pipeline or definition.get("PipelineName", "pipeline")
        execution_id = new_execution_id()
        region, account = self.config["aws"]["region"], layout.account(self.config, self.env)
        execution = Execution(
            pipeline=pipeline,
            execution_id=execution_id,
            arn=f"arn:aws:sagemaker:{region}:{account}:pipeline/{pipeline}/execution/{execution_id}",
            execution_dir=self.workspace.execution_dir(pipeline, execution_id),
            started=self.clock().isoformat(),
        )
        names = None
        given = dict(parameters or {})
        if selected:
            source = self.load(reference or latest(self.workspace.root / "runs", pipeline), pipeline)
            if source["status"] not in ("Succeeded", "Failed"):
                raise ExecutionNotFound(
                    f"The reference execution {source['execution_id']} is {source['status']}: a selective "
                    "execution needs a Succeeded or Failed one."
                )
            names, execution.reused = plan_selective(definition, source, selected)
            execution.source_arn, execution.selected = source["arn"], sorted(set(selected))
            given = {**source["parameters"], **given}
        execution.parameters = resolve_parameters(definition, given)
        try:
            execution.execution_dir.mkdir(parents=True, exist_ok=True)
            (execution.execution_dir / "definition.json").write_text(json.dumps(definition, indent=2), "utf-8")
        except OSError as exc:  # not even started: nothing to retry, the reason is the answer
            execution.status, execution.failure = "Failed", executor_failure(exc)
            self._status_event(execution)
            return execution
        return self._execute(definition, execution, names)

    def retry(self, execution_id: str, pipeline: str | None = None) -> Execution:
        """RetryPipelineExecution: the same execution again, from its failed step on.

        Steps that succeeded keep their outputs; the failed step and every step after it run,
        with the execution's own parameters and definition. An execution whose process was
        killed (it stopped without finishing) can be retried too.
        """
        record = self.load(execution_id, pipeline)
        if record["status"] == "Succeeded":
            raise ExecutionNotFound(f"Execution {execution_id} succeeded: there is nothing to retry.")
        if running(record):
            raise ExecutionNotFound(f"Execution {execution_id} is still running (process {record['pid']}).")
        execution_dir = self.workspace.execution_dir(record["pipeline"], execution_id)
        definition = json.loads((execution_dir / "definition.json").read_text("utf-8"))
        execution = Execution(
            pipeline=record["pipeline"],
            execution_id=execution_id,
            arn=record["arn"],
            execution_dir=execution_dir,
            parameters=record["parameters"],
            started=record["started"],
        )
        if record.get("selective"):
            execution.source_arn, execution.selected = record["selective"]["source"], record["selective"]["steps"]
        names, execution.reused = plan_retry(record, definition, execution.selected)
        # The steps that succeeded are kept, not run again: each says so (`reused`), with where it ran.
        execution.steps = [
            StepResult(**(s | {"reused_from": s.get("reused_from") or record["arn"]}))
            for s in record["steps"]
            if s["name"] in execution.reused
        ]
        self.progress(f"[bold]{execution.pipeline}[/] retrying execution {execution_id}")
        return self._execute(definition, execution, names)

    def load(self, execution_id: str, pipeline: str | None = None) -> dict[str, Any]:
        """An execution's record (execution.json) from the workspace's runs."""
        return load(self.workspace.root / "runs", execution_id, pipeline)

    def _execute(self, definition: dict[str, Any], execution: Execution, names: set[str] | None) -> Execution:
        steps = {step["Name"]: step for step in definition["Steps"]}
        graph = step_graph(steps)
        self.workspace.clean_staging()
        variables = {
            "PipelineExecutionId": execution.execution_id,
            "PipelineExecutionArn": execution.arn,
            "PipelineName": execution.pipeline,
            "StartDateTime": execution.started,
            "CurrentDateTime": execution.started,
        }
        lock = threading.Lock()

        def lookup(tokens: list[str | int], text: str) -> Any:
            head, rest = tokens[0], tokens[1:]
            if head == "Parameters":
                return walk(execution.parameters, rest, text)
            if head == "Execution":
                return walk(variables, rest, text)
            if head == "Steps":
                with lock:
                    if rest[0] not in execution.properties:
                        raise ExpressionError(f"{text}: step {rest[0]!r} has not run")
                    return walk(execution.properties[rest[0]], rest[1:], text)
            raise ExpressionError(f"Unknown expression root in {text!r}")

        resolver = Resolver(lookup)
        self.runtime.reset_code_digest()  # code changed since the last run misses
        if not execution.reused:
            self.progress(f"[bold]{execution.pipeline}[/] execution {execution.execution_id}")
        execution.status, execution.failure = "Executing", ""
        try:
            save(execution, lock)
            run_graph(
                set(steps) if names is None else names,
                graph,
                lambda name: self.run_step(steps[name], resolver, execution, lock),
                self.max_parallel,
                failed=lambda: bool(execution.failure),
            )
        except OSError as exc:  # the executor's own files (its record, staging), outside any job
            with lock:
                execution.failure = execution.failure or executor_failure(exc)
        execution.status = "Failed" if execution.failure else "Succeeded"
        self._status_event(execution)
        with contextlib.suppress(OSError):  # a disk still full: the status event and the answer carry the reason
            save(execution, lock)
        return execution

    def _status_event(self, execution: Execution) -> None:
        """EventBridge's pipeline status-change event, sent on as the deployed rule sends it (notifications)."""
        if execution.status not in self.config.get("notifications", {}).get("pipeline_statuses", []):
            return
        arn = execution.arn.rsplit("/execution/", 1)[0]
        event = {
            "source": "aws.sagemaker",
            "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
            "detail": {
                "pipelineArn": arn,
                "pipelineExecutionArn": execution.arn,
                "executionStartTime": execution.started,
                "executionEndTime": self.clock().isoformat(),
                "currentPipelineExecutionStatus": execution.status,
                "previousPipelineExecutionStatus": "Executing",
            },
        }
        self.events.append(event)
        with contextlib.suppress(OSError):  # the event is sent (printed) even where the disk refuses its copy
            (execution.execution_dir / "status-event.json").write_text(json.dumps(event, indent=2), "utf-8")
        # The reason is the run's last word (its summary), said once: here only where it failed.
        where = f" at {execution.failure.split(':', 1)[0]}" if execution.failure else ""
        self.progress(
            f"{EVENT_LINE}[/] {execution.pipeline} execution {execution.execution_id} {execution.status}{where}"
        )

    # ------------------------------------------------------------------ steps

    def run_step(self, step: dict[str, Any], resolver: Resolver, execution: Execution, lock: threading.Lock) -> None:
        name, kind = step["Name"], step["Type"]
        if (name in execution.reused and kind != "Condition") or self._reuse_condition(step, execution):
            self._reuse(step, execution, lock)
            return
        sandbox = execution.execution_dir / "steps" / name
        sandbox.mkdir(parents=True, exist_ok=True)
        self.progress(f"  [cyan]▶[/] {name} ({kind})")
        started = time.perf_counter()
        result = StepResult(name, kind, "Succeeded", log=str(sandbox / "job.log"))
        runner = HANDLERS[kind]
        attempts = iter(range(1, 1_000_000))

        def attempt() -> dict[str, Any]:
            number = next(attempts)
            injected = self.faults(name, number) if self.faults else None
            if injected:
                raise TransientFailure(injected, f"injected into attempt {number} of {name}")
            return runner(self, StepRun(step, resolver, sandbox, execution, lock))

        def note(line: str) -> None:
            self.progress(f"  [yellow]↻[/] {name}: {line}")

        try:
            expire, key, hit = cache_settings(step), "", None
            if expire is not None:
                args = resolver(step["Arguments"])
                key = cache_key(kind, args, self._code(args))
                hit = self.cache.lookup(execution.pipeline, name, key, expire, self.clock()) if self.caching else None
            if hit is not None:
                properties, result.cache_hit = hit.properties, hit.source_execution_arn
            else:
                properties = run_with_retries(attempt, step.get("RetryPolicies", []), sleep=self.sleep, note=note)
                if key:
                    self.cache.record(execution.pipeline, name, key, properties, execution.arn, self.clock())
            with lock:
                execution.properties[name] = properties
        except (StepFailed, JobFailed, TransientFailure, ExpressionError, OSError, ValueError, KeyError) as exc:
            result.status, result.reason = "Failed", str(exc)
            with lock:
                execution.failure = execution.failure or f"{name}: {exc}"
        result.seconds = round(time.perf_counter() - started, 2)
        with lock:
            execution.steps.append(result)
        save(execution, lock)
        if result.status == "Failed":
            self.progress(f"  [red]✗[/] {name} failed after {result.seconds:.1f}s (the reason ends the run's output)")
        elif result.cache_hit:
            source = result.cache_hit.rsplit("/", 1)[-1]
            self.progress(f"  [green]✓[/] {name} cached: the run of execution {source} is reused")
        else:
            self.progress(f"  [green]✓[/] {name} {result.seconds:.1f}s")

    def _reuse_condition(self, step: dict[str, Any], execution: Execution) -> bool:
        """A Condition is reused only when every step of the branch it took is reused too."""
        if step["Type"] != "Condition" or step["Name"] not in execution.reused:
            return False
        properties, _ = execution.reused[step["Name"]]
        arguments = step["Arguments"]
        branch = arguments["IfSteps"] if properties["Outcome"] else arguments["ElseSteps"]
        return all(nested["Name"] in execution.reused for nested in branch)

    def _reuse(self, step: dict[str, Any], execution: Execution, lock: threading.Lock) -> None:
        """Hand on an earlier run's properties (a retry's succeeded step, a selective run's unselected one)."""
        name = step["Name"]
        properties, source = execution.reused[name]
        nested = step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"] if step["Type"] == "Condition" else []
        with lock:
            execution.properties[name] = properties
            for child in nested:
                if child["Name"] in execution.reused:
                    execution.properties[child["Name"]] = execution.reused[child["Name"]][0]
            if step["Type"] == "Model":
                self.models[properties["ModelName"]] = properties["PrimaryContainer"]
            kept = {s.name for s in execution.steps}
            if source != execution.arn:  # a selective run's: recorded as reused (a retry keeps its own records)
                execution.steps += [
                    StepResult(n, t, "Succeeded", reused_from=source)
                    for n, t in [(name, step["Type"]), *((c["Name"], c["Type"]) for c in nested)]
                    if n not in kept and n in execution.reused
                ]
        where = "this execution's earlier run" if source == execution.arn else f"execution {source.rsplit('/', 1)[-1]}"
        self.progress(f"  [green]↺[/] {name} reused from {where}")

    def _code(self, args: dict[str, Any]) -> dict[str, str]:
        """Each image a request names, with the digest of the code it runs (for the cache key)."""
        images = sorted(set(images_in(args)))
        return {image: self.runtime.code_digest(image) for image in images}

    def notify(self, subject: str, message: str) -> None:
        self.alerts.append({"subject": subject, "message": message})
        self.progress(f"  [yellow]ALERT[/] {subject}: {message}")
