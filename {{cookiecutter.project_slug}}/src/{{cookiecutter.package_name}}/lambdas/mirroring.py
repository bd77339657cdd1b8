"""The model registry mirror, as the handlers keep it: a mirror that fails is reported, and never fails the handler.

Parameter Store is the truth; registry/packages.py keeps the package group in step with it. A
failed mirror leaves Parameter Store as it is, alerts, and is retried by the next reconciliation
(a registration, a promotion, an approval event, a scheduled inference start, or `registry sync`).
"""

from __future__ import annotations

from typing import Any

from ..registry.manifest import ModelRegistry
from ..registry.packages import PackageMirror, mirror_errors

IN_STEP = "in step"


def keep_in_step(services: Any, mirror: PackageMirror, where: str) -> str:
    """Reconcile the group: "in step", or the failure in words (already sent to the alert topic)."""
    try:
        mirror.reconcile()
    except mirror_errors() as exc:  # any failure of the mirror's service: Parameter Store stays the truth
        reason = (
            f"The model registry mirror {mirror.group} could not be brought in step with {mirror.registry.parameter} "
            f"({type(exc).__name__}: {exc}). Parameter Store is unchanged and still decides what serves; the next "
            "registration, promotion, scheduled inference start or `registry sync` mirrors what is missing."
        )
        services.notify(f"Model registry mirror failed in {where}", reason)
        return reason
    return IN_STEP


def mirror_of(services: Any, registry: ModelRegistry, event: dict[str, Any]) -> PackageMirror | None:
    """The mirror a handler's event names (`package_group`, `algorithm_image`, `environment`), if it names one."""
    if services.packages is None or not event.get("package_group"):
        return None
    image = event.get("algorithm_image") or ""
    stage = event.get("environment") or event["package_group"]  # ModelLifeCycle's stage: the environment
    return PackageMirror(services.packages, registry, event["package_group"], image, stage)
