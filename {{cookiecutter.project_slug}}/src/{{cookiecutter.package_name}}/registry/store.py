"""One Parameter Store contract, two backends: boto3 SSM for AWS, a file store for local mode.

The file store keeps SSM's semantics: every put is a new version, history is capped at 100
versions, a label names one version at a time (and moves when re-attached), and a put that
would drop a labelled version fails instead, so a labelled version is never lost.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

MAX_VERSIONS = 100
MAX_LABELS_PER_VERSION = 10
MAX_VALUE_BYTES = 4096  # the Standard tier; a manifest is about 1 KB
LABEL_PATTERN = re.compile(r"^(?![0-9])(?!aws)(?!ssm)[a-zA-Z0-9_.-]{1,100}$", re.IGNORECASE)


class ParameterNotFound(KeyError):
    """No such parameter, version or label."""


class ParameterLimitExceeded(RuntimeError):
    """A put would drop a labelled version (SSM: ParameterMaxVersionLimitExceeded)."""


@dataclass
class ParameterVersion:
    name: str
    version: int
    value: str
    labels: list[str] = field(default_factory=list)
    last_modified: str = ""


class ParameterStore(Protocol):
    """What the registry needs from Parameter Store."""

    def put(self, name: str, value: str, description: str = "") -> int: ...

    def get(self, name: str, selector: int | str | None = None) -> ParameterVersion: ...

    def history(self, name: str) -> list[ParameterVersion]: ...

    def label(self, name: str, version: int, labels: list[str]) -> None: ...


def check_labels(labels: list[str]) -> None:
    bad = [label for label in labels if not LABEL_PATTERN.match(label)]
    if bad:
        raise ValueError(
            f"Invalid label(s) {bad}: a label has 1-100 letters, digits, '.', '-' or '_', and must not "
            "start with a digit, 'aws' or 'ssm'."
        )
    if len(labels) > MAX_LABELS_PER_VERSION:
        raise ValueError(f"At most {MAX_LABELS_PER_VERSION} labels per version.")


class CorruptStore(ValueError):
    """A parameter file that this store cannot read; the message names it and what to do."""


def _load(path: Path) -> dict[str, Any]:
    """A parameter file's state, or CorruptStore naming the file."""
    try:
        state = json.loads(path.read_text("utf-8"))
        versions = state["versions"]
        if not isinstance(versions, list) or not all(
            isinstance(v, dict)
            and isinstance(v.get("version"), int)
            and isinstance(v.get("labels"), list)
            and isinstance(v.get("value"), str)
            for v in versions
        ):
            raise TypeError("its versions are not a list of {version, value, labels}")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CorruptStore(
            f"The local Parameter Store file {path} cannot be read ({type(exc).__name__}: {exc}). Restore it from "
            "a copy, or move it aside to start that parameter's history anew (its versions and labels are then lost)."
        ) from exc
    return state


class FileParameterStore:
    """Parameters as JSON files under `root`; safe for concurrent writers (file locks)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, name: str) -> Path:
        if not name.startswith("/"):
            raise ValueError(f"Parameter name {name!r} must start with '/'.")
        return self.root / (name.strip("/") + ".json")

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[dict[str, Any]]:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = _load(path) if path.exists() else {"versions": []}
            yield state
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(state, indent=1, ensure_ascii=False), "utf-8")
            temporary.replace(path)

    def _read(self, name: str) -> dict[str, Any]:
        path = self._path(name)
        if not path.exists():
            raise ParameterNotFound(f"Parameter {name} not found.")
        return _load(path)

    def check(self) -> int:
        """Read every parameter file: a corrupt one is found before any job runs, not at Register."""
        files = sorted(self.root.rglob("*.json")) if self.root.is_dir() else []
        for path in files:
            _load(path)
        return len(files)

    def put(self, name: str, value: str, description: str = "") -> int:
        if len(value.encode()) > MAX_VALUE_BYTES:
            raise ValueError(
                f"Value of {name} is {len(value.encode())} bytes; Parameter Store allows {MAX_VALUE_BYTES}."
            )
        with self._locked(name) as state:
            versions = state["versions"]
            if len(versions) >= MAX_VERSIONS:
                oldest = versions[0]
                if oldest["labels"]:
                    raise ParameterLimitExceeded(
                        f"{name} has {MAX_VERSIONS} versions and the oldest (version {oldest['version']}) carries "
                        f"labels {oldest['labels']}; move or remove those labels before registering more."
                    )
                versions.pop(0)
            version = (versions[-1]["version"] if versions else state.get("last_version", 0)) + 1
            state["last_version"] = version
            versions.append(
                {"version": version, "value": value, "labels": [], "last_modified": datetime.now(UTC).isoformat()}
            )
            return version

    def get(self, name: str, selector: int | str | None = None) -> ParameterVersion:
        versions = self._read(name)["versions"]
        if selector is None:
            chosen = versions[-1]
        elif isinstance(selector, int):
            chosen = next((v for v in versions if v["version"] == selector), None)
        else:
            chosen = next((v for v in versions if selector in v["labels"]), None)
        if chosen is None:
            raise ParameterNotFound(f"Parameter {name} has no version {selector!r}.")
        return ParameterVersion(
            name, chosen["version"], chosen["value"], list(chosen["labels"]), chosen["last_modified"]
        )

    def history(self, name: str) -> list[ParameterVersion]:
        return [
            ParameterVersion(name, v["version"], v["value"], list(v["labels"]), v["last_modified"])
            for v in self._read(name)["versions"]
        ]

    def label(self, name: str, version: int, labels: list[str]) -> None:
        check_labels(labels)
        if not self._path(name).exists():
            raise ParameterNotFound(f"Parameter {name} not found.")
        with self._locked(name) as state:
            target = next((v for v in state["versions"] if v["version"] == version), None)
            if target is None:
                raise ParameterNotFound(f"Parameter {name} has no version {version}.")
            if len(set(target["labels"]) | set(labels)) > MAX_LABELS_PER_VERSION:
                raise ValueError(f"Version {version} of {name} would carry more than {MAX_LABELS_PER_VERSION} labels.")
            for other in state["versions"]:
                other["labels"] = [label for label in other["labels"] if label not in labels]
            target["labels"] = sorted(set(target["labels"]) | set(labels))


class SsmParameterStore:
    """The same contract over AWS Systems Manager Parameter Store."""

    def __init__(self, client: Any = None, region: str | None = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("ssm", region_name=region)
        self.client = client

    def put(self, name: str, value: str, description: str = "") -> int:
        from botocore.exceptions import ClientError

        if len(value.encode()) > MAX_VALUE_BYTES:
            raise ValueError(
                f"Value of {name} is {len(value.encode())} bytes; Parameter Store allows {MAX_VALUE_BYTES}."
            )

        try:
            response = self.client.put_parameter(
                Name=name, Value=value, Type="String", Overwrite=True, Tier="Standard",
                Description=description[:1024],
            )  # fmt: skip
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ParameterMaxVersionLimitExceeded":
                raise ParameterLimitExceeded(str(exc)) from exc
            raise
        return int(response["Version"])

    def get(self, name: str, selector: int | str | None = None) -> ParameterVersion:
        from botocore.exceptions import ClientError

        qualified = name if selector is None else f"{name}:{selector}"
        try:
            parameter = self.client.get_parameter(Name=qualified)["Parameter"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] in {"ParameterNotFound", "ParameterVersionNotFound"}:
                raise ParameterNotFound(f"Parameter {qualified} not found.") from exc
            raise
        labels = next((v.labels for v in self.history(name) if v.version == parameter["Version"]), [])
        return ParameterVersion(
            name, int(parameter["Version"]), parameter["Value"], labels, str(parameter.get("LastModifiedDate", ""))
        )

    def history(self, name: str) -> list[ParameterVersion]:
        from botocore.exceptions import ClientError

        versions: list[ParameterVersion] = []
        try:
            for page in self.client.get_paginator("get_parameter_history").paginate(Name=name):
                for item in page["Parameters"]:
                    versions.append(
                        ParameterVersion(
                            name, int(item["Version"]), item["Value"], list(item.get("Labels", [])),
                            str(item.get("LastModifiedDate", "")),
                        )
                    )  # fmt: skip
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ParameterNotFound":
                raise ParameterNotFound(f"Parameter {name} not found.") from exc
            raise
        return sorted(versions, key=lambda v: v.version)

    def label(self, name: str, version: int, labels: list[str]) -> None:
        from botocore.exceptions import ClientError

        check_labels(labels)
        try:
            response = self.client.label_parameter_version(Name=name, ParameterVersion=version, Labels=labels)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in {"ParameterNotFound", "ParameterVersionNotFound"}:
                raise ParameterNotFound(f"Parameter {name} has no version {version}.") from exc
            raise
        if response.get("InvalidLabels"):
            raise ValueError(f"Parameter Store refused labels {response['InvalidLabels']}.")
