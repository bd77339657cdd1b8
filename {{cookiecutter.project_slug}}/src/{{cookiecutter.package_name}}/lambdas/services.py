"""The AWS services a handler uses, swappable for local mode.

On AWS, handlers get boto3 clients and SSM. The local executor installs a file-backed
Parameter Store, a SageMaker stand-in that runs pipelines locally, and an alert log.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from ..registry.store import ParameterStore, SsmParameterStore


@dataclass
class Services:
    store: ParameterStore
    sagemaker: Any
    notify: Any  # callable(subject: str, message: str) -> None


_current: ContextVar[Services | None] = ContextVar("services", default=None)


def current() -> Services:
    """The services installed by local mode, or real AWS ones."""
    installed = _current.get()
    if installed is not None:
        return installed
    import boto3

    topic = os.environ.get("ALERT_TOPIC_ARN")
    sns = boto3.client("sns")

    def notify(subject: str, message: str) -> None:
        if topic:
            sns.publish(TopicArn=topic, Subject=subject[:100], Message=message)
        print(f"ALERT {subject}: {message}")

    return Services(SsmParameterStore(boto3.client("ssm")), boto3.client("sagemaker"), notify)


@contextlib.contextmanager
def installed(services: Services) -> Iterator[Services]:
    token = _current.set(services)
    try:
        yield services
    finally:
        _current.reset(token)
