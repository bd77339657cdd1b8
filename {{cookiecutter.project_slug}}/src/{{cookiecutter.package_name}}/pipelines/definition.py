"""Render a pipeline's definition JSON: the one artefact deploy upserts and local mode runs."""

from __future__ import annotations

import json
from typing import Any

KINDS = ("training", "inference")


def build_pipeline(config: dict[str, Any], env: str, kind: str, images: dict[str, str] | None = None) -> Any:
    if kind == "training":
        from .training import build_training_pipeline

        return build_training_pipeline(config, env, images)
    if kind == "inference":
        from .inference import build_inference_pipeline

        return build_inference_pipeline(config, env, images)
    raise ValueError(f"Unknown pipeline {kind!r}; choose one of {KINDS}.")


def definition(config: dict[str, Any], env: str, kind: str, images: dict[str, str] | None = None) -> dict[str, Any]:
    """The pipeline definition as a dict (parsed from the SDK's JSON)."""
    from .layout import prepare_sdk

    pipeline = build_pipeline(config, env, kind, images)
    prepare_sdk(config)  # the SDK's loggers exist only once it is imported
    return json.loads(pipeline.definition())
