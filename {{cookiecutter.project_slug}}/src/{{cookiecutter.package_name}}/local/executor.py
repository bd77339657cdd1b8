"""Execute a SageMaker pipeline definition locally, step by step, with SageMaker's job semantics.

The definition JSON is the only input: the graph comes from its steps, DependsOn and the
step properties its expressions read. Each job runs its component's real entrypoint as a
subprocess under its own OPT_ML_ROOT; `s3://` maps into the workspace; Lambda steps call
the same handlers the deployed Lambdas run.
"""

from __future__ import annotations

import json
import math
import random
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..lambdas import handler_for
from ..lambdas.services import Services, installed
from ..local_jobs import (
    VENV,
    JobFailed,
    RecordShaping,
    Runtime,
    model_server,
    pack_model,
    run_component,
    transform_file,
)
from ..pipelines.layout import component_of_image
from .expressions import ExpressionError, Resolver, referenced_steps, walk
from .retries import TransientFailure, run_with_retries
from .workspace import Workspace

SUPPORTED = ("Processing", "Training", "Tuning", "Model", "Transform", "Condition", "Lambda", "Fail")
OPT_ML = "/opt/ml/"
# A local multi-instance job runs its instances as concurrent processes on this machine.
MAX_LOCAL_INSTANCES = 16


class StepFailed(RuntimeError):
    """A step failed; the message is its failure reason."""


class UnsupportedStep(ValueError):
    """The definition holds a step type local mode cannot run."""


@dataclass
class StepResult:
    name: str
    type: str
    status: str
    seconds: float = 0.0
    reason: str = ""
    log: str = ""


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

    def output(self, step: str, *path: str | int) -> Any:
        """A property of a step that ran, e.g. output('Register', 'OutputParameters', 'manifest_version')."""
        return walk(self.properties[step], list(path), f"step {step}")


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
    ) -> None:
        """`max_parallel` defaults to config pipelines.max_parallel_steps. `faults(step, attempt)`
        may name a transient failure (an exception type such as SageMaker.CAPACITY_ERROR) for that
        attempt of that step, to see its retry policies work; None runs the attempt."""
        self.workspace = workspace
        self.runtime = runtime
        runtime.warm_up()
        self.config = config
        self.env = env
        self.progress = progress
        self.max_parallel = max_parallel or int(config["pipelines"].get("max_parallel_steps", 2))
        self.faults = faults
        self.sleep: Callable[[float], None] = time.sleep
        self.models: dict[str, dict[str, Any]] = {}
        self.alerts: list[dict[str, str]] = []
        self.events: list[dict[str, Any]] = []  # pipeline status changes the notifications rule sends
        self.images: dict[str, str] | None = None

    # ------------------------------------------------------------------ graph

    def run(
        self, definition: dict[str, Any], parameters: dict[str, Any] | None = None, pipeline: str = ""
    ) -> Execution:
        """Execute every step in dependency order; stop at the first failure."""
        steps = {step["Name"]: step for step in definition["Steps"]}
        check_supported(definition["Steps"])
        execution_id = new_execution_id()
        aws = self.config["aws"]
        pipeline = pipeline or definition.get("PipelineName", "pipeline")
        execution = Execution(
            pipeline=pipeline,
            execution_id=execution_id,
            arn=f"arn:aws:sagemaker:{aws['region']}:{aws['account_id']}:pipeline/{pipeline}/execution/{execution_id}",
            run_dir=self.workspace.run_dir(pipeline, execution_id),
        )
        execution.run_dir.mkdir(parents=True, exist_ok=True)
        self.workspace.clean_staging()
        values = resolve_parameters(definition, parameters or {})
        started = datetime.now(UTC)
        variables = {
            "PipelineExecutionId": execution_id,
            "PipelineExecutionArn": execution.arn,
            "PipelineName": pipeline,
            "StartDateTime": started.isoformat(),
            "CurrentDateTime": started.isoformat(),
        }
        lock = threading.Lock()

        def lookup(tokens: list[str | int], text: str) -> Any:
            head, rest = tokens[0], tokens[1:]
            if head == "Parameters":
                return walk(values, rest, text)
            if head == "Execution":
                return walk(variables, rest, text)
            if head == "Steps":
                with lock:
                    if rest[0] not in execution.properties:
                        raise ExpressionError(f"{text}: step {rest[0]!r} has not run")
                    return walk(execution.properties[rest[0]], rest[1:], text)
            raise ExpressionError(f"Unknown expression root in {text!r}")

        resolver = Resolver(lookup)
        dependencies = {name: dependencies_of(step) & set(steps) for name, step in steps.items()}
        unknown = {name: sorted(dependencies_of(step) - set(steps)) for name, step in steps.items()}
        unknown = {k: v for k, v in unknown.items() if v}
        if unknown:
            raise UnsupportedStep(f"Steps refer to steps that are not in the definition: {unknown}")
        self.progress(f"[bold]{pipeline}[/] execution {execution_id}")

        done: set[str] = set()
        running: dict[Future, str] = {}
        with ThreadPoolExecutor(max_workers=self.max_parallel) as pool:
            while len(done) < len(steps):
                if not execution.failure:
                    ready = [
                        name for name in steps
                        if name not in done and name not in running.values() and dependencies[name] <= done
                    ]  # fmt: skip
                    for name in ready:
                        running[pool.submit(self._run_step, steps[name], resolver, execution, lock)] = name
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    done.add(running.pop(future))
                    future.result()
        execution.status = "Failed" if execution.failure else "Succeeded"
        self._status_event(execution, started)
        (execution.run_dir / "execution.json").write_text(
            json.dumps(
                {
                    "status": execution.status,
                    "failure": execution.failure,
                    "steps": [s.__dict__ for s in execution.steps],
                },
                indent=2,
                default=str,
            ),
            "utf-8",
        )
        return execution

    def _status_event(self, execution: Execution, started: datetime) -> None:
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
                "executionStartTime": started.isoformat(),
                "executionEndTime": datetime.now(UTC).isoformat(),
                "currentPipelineExecutionStatus": execution.status,
                "previousPipelineExecutionStatus": "Executing",
            },
        }
        self.events.append(event)
        (execution.run_dir / "status-event.json").write_text(json.dumps(event, indent=2), "utf-8")
        reason = f": {execution.failure}" if execution.failure else ""
        self.progress(
            f"  [magenta]EVENT[/] {execution.pipeline} execution {execution.execution_id} {execution.status}{reason}"
        )

    def _run_step(self, step: dict[str, Any], resolver: Resolver, execution: Execution, lock: threading.Lock) -> None:
        name, kind = step["Name"], step["Type"]
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
            properties = run_with_retries(attempt, step.get("RetryPolicies", []), sleep=self.sleep, note=note)
            with lock:
                execution.properties[name] = properties
        except (StepFailed, JobFailed, TransientFailure, ExpressionError, OSError, ValueError, KeyError) as exc:
            result.status, result.reason = "Failed", str(exc)
            with lock:
                execution.failure = execution.failure or f"{name}: {exc}"
        result.seconds = round(time.perf_counter() - started, 2)
        with lock:
            execution.steps.append(result)
        if result.status == "Failed":
            self.progress(f"  [red]✗[/] {name} failed after {result.seconds:.1f}s: {result.reason}")
        else:
            self.progress(f"  [green]✓[/] {name} {result.seconds:.1f}s")

    # ------------------------------------------------------------------ jobs

    def _stage(self, uri: str, root: Path, local_path: str, what: str, share: tuple[int, int] = (0, 1)) -> None:
        """Download an input; `share` (i, n) gives instance i its ShardedByS3Key share of the objects."""
        source = self.workspace.path(uri)
        destination = root / local_path.removeprefix(OPT_ML)
        if not source.exists():
            raise StepFailed(f"{what}: {uri} does not exist (local: {source})")
        destination.mkdir(parents=True, exist_ok=True)
        if source.is_file():
            if share[0] == 0:
                shutil.copy2(source, destination / source.name)
            return
        index, count = share
        objects = sorted(p for p in source.rglob("*") if p.is_file())
        for path in objects[index::count]:
            target = destination / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)

    def _publish(self, roots: list[Path], local_path: str, uri: str) -> Path:
        """Upload an output from every instance to one prefix, as SageMaker does.

        Two instances writing the same key would silently overwrite each other on S3; here
        that is an error, so a component that is not shard-safe is caught locally.
        """
        destination = self.workspace.staging("output")  # published by one rename once every file is there
        owner: dict[Path, Path] = {}
        for root in roots:
            source = root / local_path.removeprefix(OPT_ML)
            if not source.is_dir():
                continue
            for path in sorted(p for p in source.rglob("*") if p.is_file()):
                relative = path.relative_to(source)
                if relative in owner:
                    raise StepFailed(
                        f"output {uri}: {relative} was written by two instances ({owner[relative].name} and "
                        f"{root.name}); with several instances, each must write its own file names"
                    )
                owner[relative] = root
                (destination / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, destination / relative)
        return self.workspace.publish(destination, uri)

    def _run_processing(self, step, resolver, sandbox, execution, lock) -> dict[str, Any]:
        args = resolver(step["Arguments"])
        count = int(args["ProcessingResources"]["ClusterConfig"]["InstanceCount"])
        if not 1 <= count <= MAX_LOCAL_INSTANCES:
            raise StepFailed(f"InstanceCount {count} is outside 1..{MAX_LOCAL_INSTANCES} for a local run")
        hosts = [f"algo-{i + 1}" for i in range(count)]
        roots = [sandbox / "opt_ml" if count == 1 else sandbox / host / "opt_ml" for host in hosts]
        for index, (host, root) in enumerate(zip(hosts, roots, strict=True)):
            for item in args.get("ProcessingInputs", []):
                s3 = item["S3Input"]
                sharded = s3.get("S3DataDistributionType") == "ShardedByS3Key"
                share = (index, count) if sharded else (0, 1)
                self._stage(s3["S3Uri"], root, s3["LocalPath"], f"input '{item['InputName']}'", share)
            config_dir = root / "config"
            config_dir.mkdir(parents=True, exist_ok=True)
            resource_config = {"current_host": host, "hosts": hosts}
            (config_dir / "resourceconfig.json").write_text(json.dumps(resource_config), "utf-8")
        component = component_of_image(args["AppSpecification"]["ImageUri"])
        mode = " ".join(args["AppSpecification"].get("ContainerArguments", []))
        environment = {k: str(v) for k, v in args.get("Environment", {}).items()}
        logs = [sandbox / "job.log"] if count == 1 else [sandbox / f"job-{host}.log" for host in hosts]
        with ThreadPoolExecutor(max_workers=count) as pool:
            jobs = [
                pool.submit(run_component, component, mode, root, log, environment, self.runtime)
                for root, log in zip(roots, logs, strict=True)
            ]
            for job in jobs:
                job.result()  # the first failure fails the step, as one failed instance fails the job
        outputs = {}
        published = {}
        for item in args.get("ProcessingOutputConfig", {}).get("Outputs", []):
            s3 = item["S3Output"]
            published[item["OutputName"]] = self._publish(roots, s3["LocalPath"], s3["S3Uri"])
            outputs[item["OutputName"]] = {"OutputName": item["OutputName"], "S3Output": dict(s3)}
        property_files = {}
        for spec in step.get("PropertyFiles", []):
            path = published[spec["OutputName"]] / spec["FilePath"]
            if not path.is_file():
                raise StepFailed(f"property file {spec['PropertyFileName']}: {spec['FilePath']} was not written")
            property_files[spec["PropertyFileName"]] = json.loads(path.read_text("utf-8"))
        return {
            "ProcessingJobName": f"{step['Name'].lower()}-{execution.execution_id}",
            "ProcessingJobStatus": "Completed",
            "ProcessingOutputConfig": {"Outputs": outputs},
            "PropertyFiles": property_files,
        }

    def _training_job(self, args: dict[str, Any], job_name: str, sandbox: Path) -> tuple[str, dict[str, float]]:
        """One training job: channels, hyperparameters.json, the entrypoint, model.tar.gz, metrics."""
        root = sandbox / "opt_ml"
        for channel in args.get("InputDataConfig", []):
            s3 = channel["DataSource"]["S3DataSource"]
            name = channel["ChannelName"]
            self._stage(s3["S3Uri"], root, f"{OPT_ML}input/data/{name}", f"channel '{name}'")
        hyperparameters = args.get("HyperParameters", {})
        not_strings = sorted(k for k, v in hyperparameters.items() if not isinstance(v, str))
        if not_strings:
            raise StepFailed(f"HyperParameters {not_strings} are not strings, which CreateTrainingJob refuses")
        config_dir = root / "input" / "config"
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "hyperparameters.json").write_text(json.dumps(hyperparameters), "utf-8")
        specification = args["AlgorithmSpecification"]
        if component_of_image(specification["TrainingImage"]) != "algorithm":
            raise StepFailed(f"training image {specification['TrainingImage']} is not the algorithm component")
        log = sandbox / "job.log"
        run_component("algorithm", "train", root, log=log, runtime=self.runtime)
        metrics = parse_metrics(log.read_text("utf-8"), specification.get("MetricDefinitions", []))
        output = args["OutputDataConfig"]["S3OutputPath"].rstrip("/") + f"/{job_name}/output/model.tar.gz"
        pack_model(root / "model", self.workspace.path(output))
        return output, metrics

    def _run_training(self, step, resolver, sandbox, execution, lock) -> dict[str, Any]:
        args = resolver(step["Arguments"])
        job_name = f"{step['Name'].lower()}-{execution.execution_id}"
        output, metrics = self._training_job(args, job_name, sandbox)
        return {
            "TrainingJobName": job_name,
            "TrainingJobStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": output},
            "FinalMetricDataList": {n: {"MetricName": n, "Value": v} for n, v in metrics.items()},
            "HyperParameters": args.get("HyperParameters", {}),
        }

    def _run_tuning(self, step, resolver, sandbox, execution, lock) -> dict[str, Any]:
        """A seeded random search over the step's ranges, at most tuning.local_max_jobs jobs."""
        args = resolver(step["Arguments"])
        tuning = args["HyperParameterTuningJobConfig"]
        objective = tuning["HyperParameterTuningJobObjective"]
        limit = int(tuning["ResourceLimits"]["MaxNumberOfTrainingJobs"])
        jobs = min(limit, int(self.config["algorithm"]["tuning"]["local_max_jobs"]))
        definition = args["TrainingJobDefinition"]
        rng = random.Random(execution.execution_id)
        summaries = []
        for number in range(1, jobs + 1):
            tuned = sample_hyperparameters(tuning["ParameterRanges"], rng)
            job_args = {**definition, "HyperParameters": {**definition.get("StaticHyperParameters", {}), **tuned}}
            job_name = f"tuning-{execution.execution_id}-{number:03d}"
            self.progress(f"    trial {number}/{jobs}: {tuned}")
            _, metrics = self._training_job(job_args, job_name, sandbox / job_name)
            if objective["MetricName"] not in metrics:
                raise StepFailed(f"job {job_name} did not report the objective metric {objective['MetricName']}")
            summaries.append(
                {
                    "TrainingJobName": job_name,
                    "TrainingJobStatus": "Completed",
                    "TunedHyperParameters": tuned,
                    "FinalHyperParameterTuningJobObjectiveMetric": {
                        "MetricName": objective["MetricName"],
                        "Value": metrics[objective["MetricName"]],
                    },
                }
            )
        maximise = objective["Type"] == "Maximize"
        summaries.sort(key=lambda j: j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"], reverse=maximise)
        return {
            "HyperParameterTuningJobName": f"tuning-{execution.execution_id}",
            "HyperParameterTuningJobStatus": "Completed",
            "BestTrainingJob": summaries[0],
            "TrainingJobSummaries": summaries,
        }

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
        data = args["TransformInput"]
        if data.get("SplitType") != "Line" or args.get("BatchStrategy") != "MultiRecord":
            raise StepFailed("local Batch Transform supports SplitType Line with BatchStrategy MultiRecord")
        source = self.workspace.path(data["DataSource"]["S3DataSource"]["S3Uri"])
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        if not files:
            raise StepFailed(f"transform input {data['DataSource']['S3DataSource']['S3Uri']} holds no files")
        output_uri = args["TransformOutput"]["S3OutputPath"]
        destination = self.workspace.staging("transform")  # every .out, published together when all are done
        max_payload = int(args.get("MaxPayloadInMB", 6)) * 1024 * 1024
        concurrency = int(args.get("MaxConcurrentTransforms", 1))
        shaping = args.get("DataProcessing", {})
        try:
            RecordShaping.from_data_processing(shaping)
        except ValueError as exc:
            raise StepFailed(f"Transform's DataProcessing: {exc}") from exc
        with model_server(self.workspace.path(model["ModelDataUrl"]), sandbox / "opt_ml", self.runtime) as base:
            for file in files:
                relative = file.relative_to(source) if source.is_dir() else Path(file.name)
                transform_file(base, file, destination / f"{relative}.out", max_payload, concurrency, shaping)
        self.workspace.publish(destination, output_uri)
        return {
            "TransformJobName": f"{step['Name'].lower()}-{execution.execution_id}",
            "TransformOutput": {"S3OutputPath": output_uri},
        }

    def _run_lambda(self, step, resolver, sandbox, execution, lock) -> dict[str, Any]:
        event = resolver(step.get("Arguments", {}))
        function = step["FunctionArn"].rsplit(":", 1)[-1]
        prefix = f"{self.config['project']['slug']}-{self.env}-"
        handler = handler_for(function.removeprefix(prefix))
        if handler is None:
            raise StepFailed(f"no handler in lambdas/ for Lambda function {function!r}")
        services = Services(self.workspace.store, LocalSageMaker(self), self._notify)
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


def check_supported(steps: list[dict[str, Any]]) -> None:
    for step in steps:
        if step["Type"] not in SUPPORTED:
            raise UnsupportedStep(
                f"Step {step['Name']!r} has type {step['Type']!r}, which local mode cannot run "
                f"(supported: {', '.join(SUPPORTED)})."
            )
        if step["Type"] == "Condition":
            check_supported(step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"])


def dependencies_of(step: dict[str, Any]) -> set[str]:
    """Explicit DependsOn plus every step whose properties the step's expressions read."""
    found = set(step.get("DependsOn", []))
    if step["Type"] == "Condition":
        found |= referenced_steps(step["Arguments"]["Conditions"])
        nested = step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"]
        inner = {s["Name"] for s in nested}
        for child in nested:
            found |= dependencies_of(child) - inner
        return found
    return found | referenced_steps(step.get("Arguments", {}))


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


def sample_hyperparameters(ranges: dict[str, list[dict[str, Any]]], rng: random.Random) -> dict[str, str]:
    """One draw from a tuning job's ParameterRanges, as strings (random search)."""
    values: dict[str, str] = {}
    for spec in ranges.get("ContinuousParameterRanges", []):
        low, high = float(spec["MinValue"]), float(spec["MaxValue"])
        if spec.get("ScalingType") == "Logarithmic":
            values[spec["Name"]] = f"{math.exp(rng.uniform(math.log(low), math.log(high))):.6g}"
        else:
            values[spec["Name"]] = f"{rng.uniform(low, high):.6g}"
    for spec in ranges.get("IntegerParameterRanges", []):
        low, high = int(spec["MinValue"]), int(spec["MaxValue"])
        if spec.get("ScalingType") == "Logarithmic":
            values[spec["Name"]] = str(round(math.exp(rng.uniform(math.log(low), math.log(high)))))
        else:
            values[spec["Name"]] = str(rng.randint(low, high))
    for spec in ranges.get("CategoricalParameterRanges", []):
        values[spec["Name"]] = rng.choice(spec["Values"])
    return values


def parse_metrics(log: str, definitions: list[dict[str, str]]) -> dict[str, float]:
    """What SageMaker does with MetricDefinitions: the last value each regex finds in the log."""
    metrics: dict[str, float] = {}
    for definition in definitions:
        matches = re.findall(definition["Regex"], log)
        if matches:
            metrics[definition["Name"]] = float(matches[-1])
    return metrics
