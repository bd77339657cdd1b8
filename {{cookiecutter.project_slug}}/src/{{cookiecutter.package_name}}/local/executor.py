"""Execute a SageMaker pipeline definition locally, step by step, with SageMaker's job semantics.

The definition JSON is the only input: the graph comes from its steps, DependsOn and the
step properties its expressions read. Each job runs its component's real entrypoint as a
subprocess under its own OPT_ML_ROOT; `s3://` maps into the workspace; Lambda steps call
the same handlers the deployed Lambdas run.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..lambdas import handler_for
from ..lambdas.services import Services, installed
from ..pipelines import layout
from ..pipelines.graph import ancestors, check_selection, step_graph
from ..pipelines.layout import component_of_image
from .cache import StepCache, cache_key, cache_settings
from .expressions import ExpressionError, Resolver, walk
from .jobs import JobRunner, StepFailed
from .processes import running
from .retries import TransientFailure, run_with_retries
from .runtimes import VENV, JobFailed, Runtime
from .scheduling import check_supported, run_graph
from .workspace import Workspace, WorkspaceObjects

__all__ = ["Execution", "ExecutionNotFound", "LocalExecutor", "StepFailed", "StepResult", "resolve_parameters"]


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
    run_dir: Path
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
            run_dir=self.workspace.run_dir(pipeline, execution_id),
            started=self.clock().isoformat(),
        )
        names = None
        given = dict(parameters or {})
        if selected:
            source = self.load(reference or self.latest(pipeline), pipeline)
            if source["status"] not in ("Succeeded", "Failed"):
                raise ExecutionNotFound(
                    f"The reference execution {source['execution_id']} is {source['status']}: a selective "
                    "execution needs a Succeeded or Failed one."
                )
            graph = step_graph({s["Name"]: s for s in definition["Steps"]})
            chosen = check_selection(graph, selected)
            needed = ancestors(graph, chosen) - chosen
            execution.reused = reusable(source, needed, definition["Steps"])
            missing = sorted(needed - set(execution.reused))
            if missing:
                raise ExecutionNotFound(
                    f"Steps {missing} did not succeed in the reference execution {source['execution_id']}, and the "
                    "selected steps need their outputs: select them too, or reference another execution."
                )
            names = chosen | needed
            execution.source_arn, execution.selected = source["arn"], sorted(chosen)
            given = {**source["parameters"], **given}
        execution.parameters = resolve_parameters(definition, given)
        try:
            execution.run_dir.mkdir(parents=True, exist_ok=True)
            (execution.run_dir / "definition.json").write_text(json.dumps(definition, indent=2), "utf-8")
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
        run_dir = self.workspace.run_dir(record["pipeline"], execution_id)
        definition = json.loads((run_dir / "definition.json").read_text("utf-8"))
        execution = Execution(
            pipeline=record["pipeline"],
            execution_id=execution_id,
            arn=record["arn"],
            run_dir=run_dir,
            parameters=record["parameters"],
            started=record["started"],
        )
        if record.get("selective"):
            execution.source_arn, execution.selected = record["selective"]["source"], record["selective"]["steps"]
        everything = {s["Name"] for s in definition["Steps"]}
        execution.reused = reusable(record, everything, definition["Steps"], own=True)
        # The steps that succeeded are kept, not run again: each says so (`reused`), with where it ran.
        execution.steps = [
            StepResult(**(s | {"reused_from": s.get("reused_from") or record["arn"]}))
            for s in record["steps"]
            if s["name"] in execution.reused
        ]
        names = None
        if execution.selected:
            graph = step_graph({s["Name"]: s for s in definition["Steps"]})
            names = set(execution.selected) | ancestors(graph, set(execution.selected))
        self.progress(f"[bold]{execution.pipeline}[/] retrying execution {execution_id}")
        return self._execute(definition, execution, names)

    def load(self, execution_id: str, pipeline: str | None = None) -> dict[str, Any]:
        """An execution's record (execution.json) from the workspace's runs."""
        pattern = f"{pipeline or '*'}/{execution_id}/execution.json"
        found = sorted((self.workspace.root / "runs").glob(pattern)) if execution_id else []
        if not found:
            raise ExecutionNotFound(
                f"No execution {execution_id!r} in {self.workspace.root / 'runs'}; its ids are the run folders' names."
            )
        try:
            return json.loads(found[0].read_text("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ExecutionNotFound(
                f"{found[0]} cannot be read ({exc}): the execution's record was cut short, perhaps by a full disk. "
                "Start a new execution; this one cannot be retried or referenced."
            ) from exc

    def latest(self, pipeline: str) -> str:
        """The latest execution of a pipeline: a selective execution's default reference."""
        runs = sorted(p.parent.name for p in (self.workspace.root / "runs" / pipeline).glob("*/execution.json"))
        if not runs:
            raise ExecutionNotFound(f"{pipeline} has no execution to reference yet: run it once first.")
        return runs[-1]

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
        getattr(self.runtime, "reset_code_digest", lambda: None)()  # code changed since the last run misses
        if not execution.reused:
            self.progress(f"[bold]{execution.pipeline}[/] execution {execution.execution_id}")
        execution.status, execution.failure = "Executing", ""
        try:
            self._save(execution, lock)
            run_graph(
                set(steps) if names is None else names,
                graph,
                lambda name: self._run_step(steps[name], resolver, execution, lock),
                self.max_parallel,
                failed=lambda: bool(execution.failure),
            )
        except OSError as exc:  # the executor's own files (its record, staging), outside any job
            with lock:
                execution.failure = execution.failure or executor_failure(exc)
        execution.status = "Failed" if execution.failure else "Succeeded"
        self._status_event(execution)
        with contextlib.suppress(OSError):  # a disk still full: the status event and the answer carry the reason
            self._save(execution, lock)
        return execution

    def _save(self, execution: Execution, lock: threading.Lock) -> None:
        """execution.json, replaced whole: a write that fails (a full disk) leaves the last whole record."""
        with lock:
            text = json.dumps(execution.record(), indent=2, default=str)
        partial = execution.run_dir / f".execution.json.{threading.get_ident()}.partial"
        try:
            partial.write_text(text, "utf-8")
            partial.replace(execution.run_dir / "execution.json")
        finally:
            partial.unlink(missing_ok=True)

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
            (execution.run_dir / "status-event.json").write_text(json.dumps(event, indent=2), "utf-8")
        reason = f": {execution.failure}" if execution.failure else ""
        self.progress(
            f"  [magenta]EVENT[/] {execution.pipeline} execution {execution.execution_id} {execution.status}{reason}"
        )

    # ------------------------------------------------------------------ steps

    def _run_step(self, step: dict[str, Any], resolver: Resolver, execution: Execution, lock: threading.Lock) -> None:
        name, kind = step["Name"], step["Type"]
        if (name in execution.reused and kind != "Condition") or self._reuse_condition(step, execution):
            self._reuse(step, execution, lock)
            return
        sandbox = execution.run_dir / "steps" / name
        sandbox.mkdir(parents=True, exist_ok=True)
        self.progress(f"  [cyan]▶[/] {name} ({kind})")
        started = time.perf_counter()
        result = StepResult(name, kind, "Succeeded", log=str(sandbox / "job.log"))
        runner = getattr(self, f"_run_{kind.lower()}")
        attempts = iter(range(1, 1_000_000))

        def attempt() -> dict[str, Any]:
            number = next(attempts)
            injected = self.faults(name, number) if self.faults else None
            if injected:
                raise TransientFailure(injected, f"injected into attempt {number} of {name}")
            return runner(step, resolver, sandbox, execution, lock)

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
        self._save(execution, lock)
        if result.status == "Failed":
            self.progress(f"  [red]✗[/] {name} failed after {result.seconds:.1f}s: {result.reason}")
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
        images = sorted(set(_images_in(args)))
        digest = getattr(self.runtime, "code_digest", None)
        return {image: digest(image) if digest else image for image in images}

    # ------------------------------------------------------------------ step types

    def _run_processing(self, step, resolver, sandbox, execution, lock) -> dict[str, Any]:
        job_name = f"{step['Name'].lower()}-{execution.execution_id}"
        return self.jobs.processing(resolver(step["Arguments"]), sandbox, job_name, step.get("PropertyFiles", []))

    def _run_training(self, step, resolver, sandbox, execution, lock) -> dict[str, Any]:
        job_name = f"{step['Name'].lower()}-{execution.execution_id}"
        return self.jobs.training(resolver(step["Arguments"]), sandbox, job_name)

    def _run_tuning(self, step, resolver, sandbox, execution, lock) -> dict[str, Any]:
        max_jobs = int(self.config["algorithm"]["tuning"]["local_max_jobs"])
        return self.jobs.tuning(resolver(step["Arguments"]), sandbox, f"tuning-{execution.execution_id}", max_jobs)

    def _run_model(self, step, resolver, sandbox, execution, lock) -> dict[str, Any]:
        args = resolver(step["Arguments"])
        container = args["PrimaryContainer"]
        if component_of_image(container["Image"]) != "algorithm":
            raise StepFailed(f"model image {container['Image']} is not the algorithm component")
        model_name = f"{step['Name'].lower()}-{execution.execution_id}"
        with lock:
            self.models[model_name] = container
        return {"ModelName": model_name, "PrimaryContainer": container}

    def _run_transform(self, step, resolver, sandbox, execution, lock) -> dict[str, Any]:
        args = resolver(step["Arguments"])
        model = self.models.get(args["ModelName"])
        if model is None:
            raise StepFailed(f"model {args['ModelName']} was not created in this execution")
        return self.jobs.transform(args, model, sandbox, f"{step['Name'].lower()}-{execution.execution_id}")

    def _run_lambda(self, step, resolver, sandbox, execution, lock) -> dict[str, Any]:
        event = resolver(step.get("Arguments", {}))
        function = step["FunctionArn"].rsplit(":", 1)[-1]
        prefix = f"{self.config['project']['slug']}-{self.env}-"
        handler = handler_for(function.removeprefix(prefix))
        if handler is None:
            raise StepFailed(f"no handler in lambdas/ for Lambda function {function!r}")
        services = Services(
            self.workspace.store, LocalSageMaker(self), self._notify, WorkspaceObjects(self.workspace), self.clock
        )
        with installed(services):
            response = handler(event, None)
        (sandbox / "job.log").write_text(
            json.dumps({"event": event, "response": response}, indent=2, default=str), "utf-8"
        )
        outputs = {o["OutputName"]: response.get(o["OutputName"]) for o in step.get("OutputParameters", [])}
        return {"OutputParameters": outputs}

    def _run_condition(self, step, resolver, sandbox, execution, lock) -> dict[str, Any]:
        arguments = step["Arguments"]
        outcome = all(resolver.condition(c) for c in arguments["Conditions"])
        branch = arguments["IfSteps"] if outcome else arguments["ElseSteps"]
        for nested in branch:
            self._run_step(nested, resolver, execution, lock)
            if execution.failure:
                break
        return {"Outcome": outcome}

    def _run_fail(self, step, resolver, sandbox, execution, lock) -> dict[str, Any]:
        raise StepFailed(str(resolver(step.get("Arguments", {}).get("ErrorMessage", "FailStep reached"))))

    def _notify(self, subject: str, message: str) -> None:
        self.alerts.append({"subject": subject, "message": message})
        self.progress(f"  [yellow]ALERT[/] {subject}: {message}")


class LocalSageMaker:
    """The part of the SageMaker API the Lambdas use, answered by running pipelines locally."""

    def __init__(self, executor: LocalExecutor) -> None:
        self.executor = executor
        self.executions: list[Execution] = []

    def start_pipeline_execution(self, PipelineName: str, PipelineParameters=(), **_: Any) -> dict[str, str]:
        from ..pipelines.definition import KINDS, cached_definition

        kind = next((k for k in KINDS if PipelineName.endswith(f"-{k}")), None)
        if kind is None:
            raise StepFailed(f"Unknown pipeline {PipelineName}")
        parameters = {p["Name"]: p["Value"] for p in PipelineParameters}
        executor = self.executor
        built = cached_definition(executor.config, executor.env, kind, executor.workspace.definitions, executor.images)
        nested = executor.run(built, parameters, PipelineName)
        self.executions.append(nested)
        if nested.status != "Succeeded":
            # Locally the execution runs to its end inside this call: a failed one did not deliver a
            # retrain, so it must not use up the cooling period (the Lambda records only a started one).
            raise StepFailed(f"execution {nested.execution_id} of {PipelineName} failed: {nested.failure}")
        return {"PipelineExecutionArn": nested.arn}


def resolve_parameters(definition: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Parameter values: given ones (checked against the declared names and types), else defaults."""
    declared = {p["Name"]: p for p in definition.get("Parameters", [])}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValueError(f"Unknown pipeline parameter(s) {unknown}; the pipeline declares {sorted(declared)}.")
    values: dict[str, Any] = {}
    casts = {"String": str, "Integer": int, "Float": float, "Boolean": lambda v: str(v).lower() == "true"}
    for name, spec in declared.items():
        if name in given:
            values[name] = casts[spec["Type"]](given[name])
        elif "DefaultValue" in spec:
            values[name] = spec["DefaultValue"]
        else:
            raise ValueError(f"Pipeline parameter {name!r} has no default; pass a value for it.")
    return values


def reusable(
    record: dict[str, Any], names: set[str], steps: list[dict[str, Any]], own: bool = False
) -> dict[str, tuple[dict[str, Any], str]]:
    """Of `names` (and the steps nested in them), those that succeeded in `record`, with their properties.

    `own`: for a retry of that same execution, where a step reused by a selective run stays reused.
    """
    succeeded = {s["name"] for s in record["steps"] if s["status"] == "Succeeded"}
    nested = {
        child["Name"]
        for step in steps
        if step["Type"] == "Condition" and step["Name"] in names
        for child in step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"]
    }
    sources = {s["name"]: s.get("reused_from") or record["arn"] for s in record["steps"]} if own else {}
    return {
        name: (record["properties"][name], sources.get(name, record["arn"]))
        for name in (names | nested) & succeeded
        if name in record["properties"]
    }


def _images_in(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k in ("ImageUri", "TrainingImage", "Image") and isinstance(v, str)]
        return found + [image for v in node.values() for image in _images_in(v)]
    if isinstance(node, list):
        return [image for v in node for image in _images_in(v)]
    return []
