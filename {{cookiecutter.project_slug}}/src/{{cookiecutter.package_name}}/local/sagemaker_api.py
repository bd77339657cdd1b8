"""The part of the SageMaker API the Lambdas use, answered by running pipelines locally."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .executions import Execution
from .jobs import StepFailed

if TYPE_CHECKING:
    from .executor import LocalExecutor


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
