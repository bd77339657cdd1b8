"""The SageMaker SDK, ready to build definitions offline: its environment, its session, its logs quieted."""

from __future__ import annotations

import functools
import logging
import os
import warnings
from typing import Any

from .layout import bucket


def prepare_sdk(config: dict[str, Any]) -> None:
    """What the SDK needs before it is imported: a region, and no IAM calls to validate roles."""
    os.environ.setdefault("AWS_DEFAULT_REGION", config["aws"]["region"])
    os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")
    # The SDK narrates a definition build (no waits, no logs, Lambda code not updated): all expected
    # here. Its loggers exist only once it is imported, so import it before quieting them.
    warnings.filterwarnings("ignore", module=r"sagemaker(\..*)?")
    import sagemaker.mlops.workflow.pipeline  # noqa: F401
    from sagemaker.mlops.workflow import steps

    # Each ProcessingStep and TransformStep builds a LocalSagemakerClient only to read one of its
    # method names (the expected caller of its step_args); building one opens a boto3 session,
    # 0.3 s a step. The names are all it needs.
    steps.LocalSagemakerClient = _LocalClientNames

    for name in ["sagemaker", *logging.root.manager.loggerDict]:
        if name.startswith("sagemaker"):
            logging.getLogger(name).setLevel(logging.ERROR)


class _LocalClientNames:
    """The two methods of the SDK's LocalSagemakerClient whose names its step constructors check."""

    def create_processing_job(self) -> None: ...

    def create_transform_job(self) -> None: ...


def pipeline_session(config: dict[str, Any], env: str) -> Any:
    """A PipelineSession that needs no credentials: building a definition calls no AWS API."""
    prepare_sdk(config)
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    return PipelineSession(boto_session=_boto_session(config["aws"]["region"]), default_bucket=bucket(config, env))


@functools.cache
def _boto_session(region: str) -> Any:
    """One boto3 session per region for every definition built in this process: a new one
    parses botocore's endpoint and service models again (about half a second)."""
    import boto3

    return boto3.Session(region_name=region)
