"""Render a pipeline's definition JSON: the one artefact deploy upserts and local mode runs."""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any

KINDS = ("training", "inference", "quality")


def build_pipeline(config: dict[str, Any], env: str, kind: str, images: dict[str, str] | None = None) -> Any:
    if kind == "training":
        from .training import build_training_pipeline

        return build_training_pipeline(config, env, images)
    if kind == "inference":
        from .inference import build_inference_pipeline

        return build_inference_pipeline(config, env, images)
    if kind == "quality":
        from .quality import build_quality_pipeline

        return build_quality_pipeline(config, env, images)
    raise ValueError(f"Unknown pipeline {kind!r}; choose one of {KINDS}.")


def definition(config: dict[str, Any], env: str, kind: str, images: dict[str, str] | None = None) -> dict[str, Any]:
    """The pipeline definition as a dict (parsed from the SDK's JSON)."""
    return json.loads(build_pipeline(config, env, kind, images).definition())


def definition_key(config: dict[str, Any], env: str, kind: str, images: dict[str, str] | None) -> str:
    """Everything a definition depends on: config, env, kind, images, this code and the SDK version."""
    digest = hashlib.sha256()
    digest.update(json.dumps([config, env, kind, images or {}], sort_keys=True).encode())
    package = Path(__file__).resolve().parents[1]
    sources = sorted((package / "pipelines").glob("*.py"))
    for source in sources:
        digest.update(source.read_bytes())
    digest.update(metadata.version("sagemaker").encode())
    return digest.hexdigest()[:20]


def cached_definition(
    config: dict[str, Any], env: str, kind: str, cache_dir: Path, images: dict[str, str] | None = None
) -> dict[str, Any]:
    """The definition, rebuilt only when something it depends on changed (building imports the SDK)."""
    path = Path(cache_dir) / f"{kind}-{definition_key(config, env, kind, images)}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            pass  # a cut-short entry (a killed run, a full disk) is a miss: built again below
    built = definition(config, env, kind, images)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps(built), "utf-8")
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return built
