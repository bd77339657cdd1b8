"""Step builders shared by both pipelines: one component job, inputs and outputs by name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import channels
from . import layout
from .layout import CONTAINER_ROOT
from .sdk import pipeline_session


@dataclass
class PipelineContext:
    """What both pipelines share: session, role, bucket, image and processing parameters."""

    kind: str
    session: Any
    role: str
    bucket: str
    image: dict[str, Any]
    processing_type: Any
    processing_count: Any  # instances of the inference pipeline's sharded serve steps
    retry_policies: list[Any]

    def run_uri(self, *parts: str) -> Any:
        """s3://<bucket>/runs/<kind>/<execution id>/<parts...>: one prefix per execution."""
        from sagemaker.core.workflow.execution_variables import ExecutionVariables
        from sagemaker.core.workflow.functions import Join

        return Join(
            on="/", values=[f"s3://{self.bucket}/runs/{self.kind}", ExecutionVariables.PIPELINE_EXECUTION_ID, *parts]
        )

    @property
    def job(self) -> dict[str, Any]:
        """The arguments every component_step of this pipeline shares (one instance unless sharded)."""
        return {
            "role": self.role,
            "session": self.session,
            "instance_type": self.processing_type,
            "instance_count": 1,
            "retry_policies": self.retry_policies,
        }


def pipeline_context(config: dict[str, Any], env: str, kind: str, images: dict[str, str] | None) -> PipelineContext:
    """The shared part of a pipeline; images default to the unpinned URIs."""
    from sagemaker.core.workflow.parameters import ParameterInteger, ParameterString

    settings = config["pipelines"]
    uris = {c: (images or {}).get(c) or layout.default_image(config, c) for c in channels.COMPONENTS}
    return PipelineContext(
        kind=kind,
        session=pipeline_session(config, env),
        role=layout.role_arn(config, env),
        bucket=layout.bucket(config, env),
        image={c: ParameterString(f"{c.capitalize()}Image", default_value=uris[c]) for c in channels.COMPONENTS},
        processing_type=ParameterString("ProcessingInstanceType", default_value=settings["processing_instance_type"]),
        processing_count=ParameterInteger(
            "ProcessingInstanceCount", default_value=int(settings.get("serve_instance_count", 1))
        ),
        retry_policies=retry_policies(config),
    )


def cache_config(config: dict[str, Any]) -> Any:
    """pipelines.cache as the steps' CacheConfig: a step reuses its last successful run with the same key.

    Only steps whose every changing input is content-addressed carry it (see training.py);
    switched off, the definition says Enabled false, so SageMaker runs every step.
    """
    from sagemaker.mlops.workflow.steps import CacheConfig

    cache = config["pipelines"]["cache"]
    return CacheConfig(enable_caching=bool(cache["enabled"]), expire_after=cache["expire_after"])


def retry_policies(config: dict[str, Any]) -> list[Any]:
    """What every job step retries (pipelines.retry): SageMaker's transient job errors, then the service's.

    The order is kept: a Model step (which runs no job) takes the second alone.
    """
    from sagemaker.mlops.workflow.retry import (
        SageMakerJobExceptionTypeEnum,
        SageMakerJobStepRetryPolicy,
        StepExceptionTypeEnum,
        StepRetryPolicy,
    )

    retry = config["pipelines"]["retry"]
    timing = {
        "max_attempts": int(retry["max_attempts"]),
        "interval_seconds": int(retry["interval_seconds"]),
        "backoff_rate": float(retry["backoff_rate"]),
    }
    job_errors = [
        SageMakerJobExceptionTypeEnum.CAPACITY_ERROR,
        SageMakerJobExceptionTypeEnum.RESOURCE_LIMIT,
        SageMakerJobExceptionTypeEnum.INTERNAL_ERROR,
    ]
    return [
        SageMakerJobStepRetryPolicy(exception_types=job_errors, **timing),
        StepRetryPolicy(
            exception_types=[StepExceptionTypeEnum.THROTTLING, StepExceptionTypeEnum.SERVICE_FAULT], **timing
        ),
    ]


def processing_input(name: str, source: Any, sharded: bool = False) -> Any:
    """An S3 prefix downloaded to /opt/ml/processing/input/<name>.

    Sharded inputs give each instance a share of the objects (ShardedByS3Key); the others
    reach every instance whole (FullyReplicated).
    """
    from sagemaker.core.shapes import ProcessingInput, ProcessingS3Input

    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(
            s3_uri=source,
            local_path=f"{CONTAINER_ROOT}/input/{name}",
            s3_data_type="S3Prefix",
            s3_input_mode="File",
            s3_data_distribution_type="ShardedByS3Key" if sharded else "FullyReplicated",
        ),
    )


def processing_output(name: str, destination: Any) -> Any:
    from sagemaker.core.shapes import ProcessingOutput, ProcessingS3Output

    return ProcessingOutput(
        output_name=name,
        s3_output=ProcessingS3Output(
            s3_uri=destination, local_path=f"{CONTAINER_ROOT}/output/{name}", s3_upload_mode="EndOfJob"
        ),
    )


def component_step(
    step_name: str,
    component: str,
    mode: str,
    *,
    image: Any,
    instance_type: Any,
    instance_count: Any,
    role: str,
    session: Any,
    inputs: dict[str, Any],
    outputs: dict[str, Any],
    property_files: list[Any] | None = None,
    depends_on: list[Any] | None = None,
    environment: dict[str, Any] | None = None,
    sharded: tuple[str, ...] = (),
    retry_policies: list[Any] | None = None,
    cache_config: Any = None,
) -> Any:
    """A ProcessingStep running `component`'s image in `mode` (its ContainerArguments).

    Its inputs and outputs are the channels channels.MODES declares for the mode, no more and no
    fewer. The inputs named in `sharded` are split across the job's instances by S3 key.
    """
    declared = channels.mode(component, mode)
    for side, given, expected in (("inputs", inputs, declared.inputs), ("outputs", outputs, declared.outputs)):
        if set(given) != set(expected):
            raise ValueError(
                f"{step_name} gives {component} {mode} the {side} {sorted(given)}, but channels.MODES declares "
                f"{sorted(expected)}: the step and its job must agree on every channel."
            )
    from sagemaker.core.processing import Processor
    from sagemaker.mlops.workflow.steps import ProcessingStep

    processor = Processor(
        role=role,
        image_uri=image,
        instance_count=instance_count,
        instance_type=instance_type,
        sagemaker_session=session,
        base_job_name=step_name.lower(),
        env=environment,
    )
    step_args = processor.run(
        inputs=[processing_input(n, s, sharded=n in sharded) for n, s in inputs.items()],
        outputs=[processing_output(n, d) for n, d in outputs.items()],
        arguments=[mode],
    )
    return ProcessingStep(
        step_name, step_args=step_args, property_files=property_files, depends_on=depends_on,
        retry_policies=retry_policies, cache_config=cache_config,
    )  # fmt: skip


def output_uri(step: Any, output: str) -> Any:
    """The S3 URI a processing step wrote one of its outputs to."""
    return step.properties.ProcessingOutputConfig.Outputs[output].S3Output.S3Uri
