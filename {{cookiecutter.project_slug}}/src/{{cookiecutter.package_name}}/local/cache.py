"""Step caching, honoured locally with SageMaker Pipelines' rules.

A job step whose definition carries `CacheConfig: {Enabled: true, ExpireAfter}` is not run
again when an earlier successful run of the same step of the same pipeline had the same cache
key, within ExpireAfter: the cached run's properties (its job name, its output URIs, its
property files) are handed on instead, as SageMaker hands on the cached job's. The key is:

- SageMaker's default cache key attributes of the step type (`KEY_ATTRIBUTES`), read from the
  step's resolved request. An upstream step that ran again wrote a new prefix, so every step
  that reads it misses too; ProcessingOutputConfig and OutputDataConfig are not key attributes.
- The code the job runs: the image by digest. Locally a job runs this checkout's code and reads
  its config file, so the venv runtime gives their digest in place of an image's.

Only successful runs are recorded, and the most recent one wins. A hit whose outputs are gone
from the workspace is a miss: locally nothing can be reused that is not there.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

# "Default cache key attributes by pipeline step type" (SageMaker developer guide).
KEY_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "Processing": ("AppSpecification", "Environment", "ProcessingInputs"),
    "Training": (
        "AlgorithmSpecification",
        "CheckpointConfig",
        "DebugHookConfig",
        "DebugRuleConfigurations",
        "Environment",
        "HyperParameters",
        "InputDataConfig",
    ),
    "Tuning": ("HyperParameterTuningJobConfig", "TrainingJobDefinition", "TrainingJobDefinitions"),
    "Transform": ("DataProcessing", "Environment", "ModelName", "TransformInput"),
}
# Of a tuning step's TrainingJobDefinition, only these children are key attributes.
TUNING_DEFINITION_KEYS = (
    "AlgorithmSpecification",
    "HyperParameterRanges",
    "InputDataConfig",
    "StaticHyperParameters",
    "TuningObjective",
)
CACHEABLE = tuple(KEY_ATTRIBUTES)
_DURATION = re.compile(
    r"P?(?=\d|T\d)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?)?", re.IGNORECASE
)


def parse_expire_after(text: str) -> timedelta:
    """CacheConfig's ExpireAfter, an ISO 8601 duration (a year counts 365 days, a month 30)."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise ValueError(f"ExpireAfter {text!r} is not an ISO 8601 duration such as P30D, PT12H or P1DT6H")
    years, months, weeks, days, hours, minutes = (int(g or 0) for g in match.groups())
    return timedelta(days=365 * years + 30 * months + 7 * weeks + days, hours=hours, minutes=minutes)


def cache_settings(step: dict[str, Any]) -> timedelta | None:
    """How long a step's cached runs stay valid, or None when the step is not cached."""
    config = step.get("CacheConfig") or {}
    if step["Type"] not in CACHEABLE or not config.get("Enabled"):
        return None
    expire = config.get("ExpireAfter")
    return parse_expire_after(expire) if expire else timedelta.max


def key_attributes(kind: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The part of a resolved request that decides a cache hit, per SageMaker's default key attributes."""
    chosen = {name: arguments[name] for name in KEY_ATTRIBUTES[kind] if name in arguments}
    if kind == "Tuning" and "TrainingJobDefinition" in chosen:
        definition = chosen["TrainingJobDefinition"]
        chosen["TrainingJobDefinition"] = {k: definition[k] for k in TUNING_DEFINITION_KEYS if k in definition}
    return chosen


def cache_key(kind: str, arguments: dict[str, Any], code: dict[str, str]) -> str:
    """sha256 of the key attributes and of the code each image the step names runs (`code`: image -> digest)."""
    material = {"type": kind, "attributes": key_attributes(kind, arguments), "code": dict(sorted(code.items()))}
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class CacheHit:
    properties: dict[str, Any]
    source_execution_arn: str
    finished_at: datetime


class StepCache:
    """Successful step runs of one workspace, by pipeline, step and key: `<root>/<pipeline>/<step>/<key>.json`."""

    def __init__(self, root: Path, exists: Any = None) -> None:
        """`exists(uri)` tells whether an s3:// output a cached run published is still there."""
        self.root = Path(root)
        self.exists = exists or (lambda _uri: True)

    def _entry(self, pipeline: str, step: str, key: str) -> Path:
        return self.root / pipeline / step / f"{key}.json"

    def lookup(self, pipeline: str, step: str, key: str, expire_after: timedelta, now: datetime) -> CacheHit | None:
        path = self._entry(pipeline, step, key)
        try:
            entry = json.loads(path.read_text("utf-8"))
            finished = datetime.fromisoformat(entry["finished_at"])
            properties, source = entry["properties"], entry["execution_arn"]
            outputs = output_uris(properties)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # never recorded, or a record that cannot be read (cut short, hand-edited): run the step
        if expire_after != timedelta.max and now - finished > expire_after:
            return None
        if not all(self.exists(uri) for uri in outputs):
            return None
        return CacheHit(properties, source, finished)

    def record(
        self, pipeline: str, step: str, key: str, properties: dict[str, Any], execution_arn: str, now: datetime
    ) -> None:
        """Record a successful run; it replaces any earlier one with the same key (the most recent wins)."""
        path = self._entry(pipeline, step, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"finished_at": now.isoformat(), "execution_arn": execution_arn, "properties": properties}
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            partial.write_text(json.dumps(entry, indent=2, default=str), "utf-8")
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)  # a full disk leaves no half-written record behind


def output_uris(properties: dict[str, Any]) -> list[str]:
    """The S3 outputs a job step's properties point at: what a hit hands on."""
    found = [o["S3Output"]["S3Uri"] for o in properties.get("ProcessingOutputConfig", {}).get("Outputs", {}).values()]
    if "ModelArtifacts" in properties:
        found.append(properties["ModelArtifacts"]["S3ModelArtifacts"])
    if "TransformOutput" in properties:
        found.append(properties["TransformOutput"]["S3OutputPath"])
    return found


def images_in(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k in ("ImageUri", "TrainingImage", "Image") and isinstance(v, str)]
        return found + [image for v in node.values() for image in images_in(v)]
    if isinstance(node, list):
        return [image for v in node for image in images_in(v)]
    return []
