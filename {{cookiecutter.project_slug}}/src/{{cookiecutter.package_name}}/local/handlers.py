"""One handler per step type: what each step does when it runs, and the properties it leaves.

Each takes the executor, the step, its resolver, its sandbox and its execution, and returns
the properties the step's Describe call would (or raises StepFailed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING, Any

from ..channels import ALGORITHM
from ..lambdas import handler_for
from ..lambdas.services import Services, installed
from ..pipelines.layout import component_of_image
from .executions import Execution
from .expressions import Resolver
from .jobs import StepFailed
from .model_packages import workspace_packages
from .sagemaker_api import LocalSageMaker
from .workspace import WorkspaceObjects

if TYPE_CHECKING:
    from .executor import LocalExecutor


@dataclass
class StepRun:
    """One run of one step: the step, its execution's resolver, its sandbox and its execution."""

    step: dict[str, Any]
    resolver: Resolver
    sandbox: Path
    execution: Execution
    lock: Lock

    @property
    def job_name(self) -> str:
        """The job's name: the step's, lowercased, and the execution's id."""
        return f"{self.step['Name'].lower()}-{self.execution.execution_id}"


def run_processing(executor: LocalExecutor, run: StepRun) -> dict[str, Any]:
    arguments = run.resolver(run.step["Arguments"])
    return executor.jobs.processing(arguments, run.sandbox, run.job_name, run.step.get("PropertyFiles", []))


def run_training(executor: LocalExecutor, run: StepRun) -> dict[str, Any]:
    return executor.jobs.training(run.resolver(run.step["Arguments"]), run.sandbox, run.job_name)


def run_tuning(executor: LocalExecutor, run: StepRun) -> dict[str, Any]:
    max_jobs = int(executor.config["algorithm"]["tuning"]["local_max_jobs"])
    return executor.jobs.tuning(
        run.resolver(run.step["Arguments"]), run.sandbox, f"tuning-{run.execution.execution_id}", max_jobs
    )


def run_model(executor: LocalExecutor, run: StepRun) -> dict[str, Any]:
    args = run.resolver(run.step["Arguments"])
    container = args["PrimaryContainer"]
    if component_of_image(container["Image"]) != ALGORITHM:
        raise StepFailed(f"model image {container['Image']} is not the algorithm component")
    model_name = run.job_name
    with run.lock:
        executor.models[model_name] = container
    return {"ModelName": model_name, "PrimaryContainer": container}


def run_transform(executor: LocalExecutor, run: StepRun) -> dict[str, Any]:
    args = run.resolver(run.step["Arguments"])
    model = executor.models.get(args["ModelName"])
    if model is None:
        raise StepFailed(f"model {args['ModelName']} was not created in this execution")
    return executor.jobs.transform(args, model, run.sandbox, run.job_name)


def run_lambda(executor: LocalExecutor, run: StepRun) -> dict[str, Any]:
    event = run.resolver(run.step.get("Arguments", {}))
    function = run.step["FunctionArn"].rsplit(":", 1)[-1]
    prefix = f"{executor.config['project']['slug']}-{executor.env}-"
    handler = handler_for(function.removeprefix(prefix))
    if handler is None:
        raise StepFailed(f"no handler in lambdas/ for Lambda function {function!r}")
    packages = workspace_packages(executor.workspace, executor.config, executor.env, executor.notify)
    services = Services(
        executor.workspace.store,
        LocalSageMaker(executor),
        executor.notify,
        WorkspaceObjects(executor.workspace),
        executor.clock,
        packages,
    )
    with installed(services):
        response = handler(event, None)
    (run.sandbox / "job.log").write_text(
        json.dumps({"event": event, "response": response}, indent=2, default=str), "utf-8"
    )
    outputs = {o["OutputName"]: response.get(o["OutputName"]) for o in run.step.get("OutputParameters", [])}
    return {"OutputParameters": outputs}


def run_condition(executor: LocalExecutor, run: StepRun) -> dict[str, Any]:
    arguments = run.step["Arguments"]
    outcome = all(run.resolver.condition(c) for c in arguments["Conditions"])
    branch = arguments["IfSteps"] if outcome else arguments["ElseSteps"]
    for nested in branch:
        executor.run_step(nested, run.resolver, run.execution, run.lock)
        if run.execution.failure:
            break
    return {"Outcome": outcome}


def run_fail(executor: LocalExecutor, run: StepRun) -> dict[str, Any]:
    raise StepFailed(str(run.resolver(run.step.get("Arguments", {}).get("ErrorMessage", "FailStep reached"))))


HANDLERS: dict[str, Callable[..., dict[str, Any]]] = {
    "Processing": run_processing,
    "Training": run_training,
    "Tuning": run_tuning,
    "Model": run_model,
    "Transform": run_transform,
    "Lambda": run_lambda,
    "Condition": run_condition,
    "Fail": run_fail,
}
