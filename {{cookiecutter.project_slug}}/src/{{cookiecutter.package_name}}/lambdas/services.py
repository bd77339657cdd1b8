"""The AWS services a handler uses, swappable for local mode.

On AWS, handlers get boto3 clients, SSM and S3. The local executor installs a file-backed
Parameter Store, the workspace's objects, a SageMaker stand-in that runs pipelines locally, an
alert log, and its own clock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ..registry.store import ParameterStore, SsmParameterStore


class ObjectStore(Protocol):
    """The part of S3 a handler reads: object listings under a prefix, and an object's bytes."""

    def list(self, prefix_uri: str, start_after: str = "") -> Iterator[str]:
        """The s3:// URI of every object under the prefix, in key order, after the URI `start_after`."""

    def read(self, uri: str) -> bytes: ...

    def copy(self, source_uri: str, target_uri: str) -> None:
        """Copy one object, within the store."""


class S3Objects:
    """ObjectStore over boto3's S3 client."""

    def __init__(self, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.client = client

    def list(self, prefix_uri: str, start_after: str = "") -> Iterator[str]:
        bucket, prefix = _split(prefix_uri)
        extra = {"StartAfter": _split(start_after)[1]} if start_after else {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, **extra):
            for item in page.get("Contents", []):
                yield f"s3://{bucket}/{item['Key']}"

    def read(self, uri: str) -> bytes:
        bucket, key = _split(uri)
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def copy(self, source_uri: str, target_uri: str) -> None:
        source_bucket, source_key = _split(source_uri)
        bucket, key = _split(target_uri)
        # Server-side; the managed copy goes multipart beyond 5 GB.
        self.client.copy({"Bucket": source_bucket, "Key": source_key}, bucket, key)


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


@dataclass
class Services:
    store: ParameterStore
    sagemaker: Any
    notify: Any  # callable(subject: str, message: str) -> None
    objects: ObjectStore | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # The model registry's calls (registry/packages.py): SageMaker's client, or the workspace's FilePackages.
    packages: Any = None


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

    sagemaker = boto3.client("sagemaker")
    return Services(SsmParameterStore(boto3.client("ssm")), sagemaker, notify, S3Objects(), packages=sagemaker)


@contextlib.contextmanager
def installed(services: Services) -> Iterator[Services]:
    token = _current.set(services)
    try:
        yield services
    finally:
        _current.reset(token)
