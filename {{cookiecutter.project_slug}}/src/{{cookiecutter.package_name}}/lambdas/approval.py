"""Approval: a decision given in Studio on a model package reaches Parameter Store.

EventBridge delivers "SageMaker Model Package State Change" events of the environment's package
group whose `ModelApprovalStatus` is Approved or Rejected (infra/environment.yml's rule filters
on both; this handler checks again, and reads the package's status now rather than the event's).
With one account per environment the group lives in the tooling account, whose rule forwards its
events to the environment's default event bus (infra/cicd.yml), where the same rule hears them:

- **Approved**: the label `approved` moves to the package's manifest version, once that version
  is a usable, pinned manifest (registry promote's check). A version that cannot serve is not
  promoted: its package goes back to PendingManualApproval, and the alert says why.
- **Rejected**, of a version that does not serve: recorded on the package, nothing moves.
- **Rejected**, of the serving version: the version that served before it serves again, if there
  is one that can; otherwise the rejection is refused (the package is approved again) and
  alerted on, since inference would have no model to serve.

Every other status (PendingManualApproval, a package of another group or of no manifest version)
changes nothing. The package group is then reconciled with Parameter Store, so at most one package
is Approved: the serving version's.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from ..registry.manifest import APPROVED, MalformedManifest, ModelRegistry, RegisteredModel
from ..registry.packages import (
    APPROVED_STATUS,
    CANDIDATE,
    PENDING_STATUS,
    REJECTED,
    REJECTED_STATUS,
    SERVING,
    SUPERSEDED,
    Package,
    PackageMirror,
    group_of,
    owner_of,
)
from ..registry.store import ParameterNotFound
from .mirroring import keep_in_step
from .services import current

EVENT_TYPE = "SageMaker Model Package State Change"
MANIFEST_SUFFIX = "/model/manifest"
DECISIONS = (APPROVED_STATUS, REJECTED_STATUS)


def rule(group: str) -> dict[str, Any]:
    """The EventBridge pattern of the deployed rule: this group's packages, approved or rejected, nothing else.

    A group given by ARN lives in another account (the tooling account): only that account's events
    about it are heard, as forwarded to this one.
    """
    pattern: dict[str, Any] = {
        "source": ["aws.sagemaker"],
        "detail-type": [EVENT_TYPE],
        "detail": {"ModelPackageGroupName": [group_of(group)], "ModelApprovalStatus": list(DECISIONS)},
    }
    if owner_of(group, ""):
        pattern["account"] = [owner_of(group, "")]
    return pattern


def matches(event: dict[str, Any], group: str) -> bool:
    """Whether the rule delivers an event: every field the pattern names holds one of its values."""
    pattern, detail = rule(group), event.get("detail") or {}
    return all(event.get(key) in values for key, values in pattern.items() if key != "detail") and all(
        detail.get(key) in values for key, values in pattern["detail"].items()
    )


# The Lambda's environment (infra/environment.yml): which group it answers for, and which parameter it moves.
SETTINGS = {
    "manifest_parameter": "MANIFEST_PARAMETER",
    "package_group": "PACKAGE_GROUP",
    "environment": "ENVIRONMENT_NAME",
    "project": "PROJECT",
    "algorithm_image": "ALGORITHM_IMAGE",
}


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """EventBridge's entry point: the settings come from the Lambda's environment.

    The image a version registered before the mirror is mirrored with is the deployed algorithm
    image, `<prefix>/images/algorithm` beside the manifest parameter, unless ALGORITHM_IMAGE names one.
    """
    settings = {key: os.environ.get(variable, "") for key, variable in SETTINGS.items()}
    if not settings["algorithm_image"] and settings["manifest_parameter"].endswith(MANIFEST_SUFFIX):
        images = settings["manifest_parameter"].removesuffix(MANIFEST_SUFFIX) + "/images/algorithm"
        # Versions with no image of their own are not mirrored until one is deployed.
        with contextlib.suppress(ParameterNotFound):
            settings["algorithm_image"] = current().store.get(images).value
    return decide(event, settings)


def decide(event: dict[str, Any], settings: dict[str, str]) -> dict[str, Any]:
    """Carry one package's approval or rejection to Parameter Store; what was done, and why."""
    services = current()
    detail = event.get("detail") or {}
    if event.get("detail-type") != EVENT_TYPE or detail.get("ModelPackageGroupName") != group_of(
        settings["package_group"]
    ):
        return _answer("ignored", "not a state change of this environment's package group")
    described = services.packages.describe_model_package(ModelPackageName=detail["ModelPackageArn"])
    package = Package.described(described)
    if package is None:
        return _answer("ignored", "the package names no manifest version: it was not registered here")
    registry = ModelRegistry(services.store, settings["manifest_parameter"])
    mirror = PackageMirror(
        services.packages, registry, settings["package_group"], settings["algorithm_image"], settings["environment"]
    )
    where = f"{settings['project']} ({settings['environment']})"
    try:
        champion = registry.champion()
    except MalformedManifest:  # the label is on a version that cannot serve: approving another one is the cure
        champion = None
    serving = champion.version if champion else None
    if package.status == APPROVED_STATUS:
        answer = _approved(services, registry, mirror, package, serving, where)
    elif package.status == REJECTED_STATUS:
        answer = _rejected(services, registry, mirror, package, serving, where)
    else:
        answer = _answer("none", f"v{package.manifest_version} is {package.status}: neither approved nor rejected")
    keep_in_step(services, mirror, where)
    return answer


def _approved(
    services: Any, registry: ModelRegistry, mirror: PackageMirror, package: Package, serving: int | None, where: str
) -> dict[str, Any]:
    version = package.manifest_version
    if serving == version:
        return _answer("none", f"v{version} already serves")
    try:
        registry.promote(version)
    except (MalformedManifest, ParameterNotFound) as exc:
        why = f"v{version} was approved in the model registry, but cannot serve: {exc}"
        mirror.mark(package, PENDING_STATUS, CANDIDATE, why)
        services.notify(f"Approval of model v{version} refused in {where}", why)
        return _answer("refused", why)
    was = f"; v{serving} no longer serves" if serving else ""
    services.notify(f"Model v{version} promoted in {where}", f"Approved in the model registry{was}.")
    return _answer("promoted", f"v{version} serves: approved in the model registry{was}", version)


def _rejected(
    services: Any, registry: ModelRegistry, mirror: PackageMirror, package: Package, serving: int | None, where: str
) -> dict[str, Any]:
    version = package.manifest_version
    if serving != version:
        if not mirror.mark(package, REJECTED_STATUS, REJECTED, f"v{version} was rejected in the model registry"):
            return _answer("none", f"v{version}'s rejection is recorded already")
        return _answer("recorded", f"v{version} was rejected; it does not serve, so nothing moves")
    fallback = _served_before(registry, mirror.packages(), version)
    if fallback is None:
        why = (
            f"A reviewer rejected v{version} in the model registry, but v{version} serves and no other version can "
            f"(none served before it and is still usable): the rejection is refused, and v{version} serves on. Train "
            "or promote another version first (registry promote --version N), then reject this one."
        )
        mirror.mark(package, APPROVED_STATUS, SERVING, why)
        services.notify(f"Rejection of the serving model v{version} refused in {where}", why)
        return _answer("refused", why)
    registry.promote(fallback.version)
    mirror.mark(package, REJECTED_STATUS, REJECTED, f"v{version} was rejected in the model registry")
    why = f"v{version} was rejected in the model registry; v{fallback.version}, which served before it, serves again"
    services.notify(f"Serving model v{version} rejected in {where}", why)
    return _answer("rolled back", why, fallback.version)


def _served_before(registry: ModelRegistry, packages: dict[int, Package], rejected: int) -> RegisteredModel | None:
    """The newest other version that served once (its package says Superseded), is not rejected, and can serve."""
    for version in reversed(registry.history()):
        package = packages.get(version.version)
        if version.version == rejected or package is None or package.stage_status != SUPERSEDED:
            continue
        if package.status != REJECTED_STATUS and not version.problem and version.pinned:
            return version
    return None


def _answer(action: str, reason: str, serving: int | None = None) -> dict[str, Any]:
    return {"action": action, "reason": reason, "serving": serving, "label": APPROVED}
