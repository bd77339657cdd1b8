"""Register: the training pipeline's last step writes the run's manifest as a new version, and promotes it.

- A model equal to a registered version (the same artefact, or the same identity: a retrain that
  reproduced it) registers nothing; the answer names the version it equals.
- The answer (the step's outputs): the version, whether it was registered and promoted, and why.
- Otherwise the manifest records the training data and its lineage, the artefacts and their
  digests (registry/digests.py: the model's as the gate read it, each folder's as it is stored
  now), the metrics and the gate's verdict. With `promotion: auto` a model that passed the gate is promoted, as
  long as the champion it was compared with still serves; anything else stays a candidate, and
  the manifest says why.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..registry.digests import prefix_digest
from ..registry.manifest import ModelRegistry
from .mirroring import keep_in_step, mirror_of
from .services import current

ARTIFACT_KEYS = ("model", "preprocessing", "baseline", "explainability")
FOLDERS = ("preprocessing", "baseline", "explainability")


def training_data_digest(uri: str | None) -> str | None:
    """The sha256 a content-addressed input prefix (`.../sha256=<digest>/`) is named by, else None."""
    match = re.search(r"/sha256=([0-9a-f]{64})/?$", uri or "")
    return match.group(1) if match else None


def _flag(value: Any) -> bool:
    """A Boolean step input, as SageMaker or local mode hands it on (true, "true", "True")."""
    return value is True or str(value).strip().lower() == "true"


def promotion(event: dict[str, Any], gate: dict[str, Any] | None, serving: int | None) -> tuple[bool, str]:
    """Whether the new version is promoted, and why (or why not), in words for `registry history`."""
    if gate is None:
        return False, "candidate: no gate verdict was recorded for this run"
    if not _flag(event.get("gate_passed")):
        return False, f"candidate: the gate did not pass it: {gate.get('reason', '')}"
    if event.get("promotion", "manual") != "auto":
        return False, f"candidate: it passed the gate ({gate.get('reason', '')}), and promotion is manual here"
    compared = str(event.get("champion_version") or "")
    now = str(serving or "")
    if compared != now:
        was = f"v{compared}" if compared else "no champion"
        return False, (
            f"candidate: the gate compared it with {was}, but v{now or '-'} serves now; compare them, then promote"
        )
    return True, f"promoted: {gate.get('reason', 'it passed the gate')}"


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Write one manifest version (or none for a duplicate); SageMaker passes every value in `event`."""
    registry = ModelRegistry(current().store, event["manifest_parameter"])
    services = current()
    same = registry.equal_to(event.get("model_identity") or "", event["model"])
    if same is not None:
        decision = f"equal to v{same.version}: nothing registered"
        _tell(services, event, f"Training of run {event['run_id']} made no new model", f"The model is {decision}.")
        return {"manifest_version": same.version, "registered": False, "promoted": False, "decision": decision}
    gate = json.loads(event["gate_record"]) if event.get("gate_record") else None
    lineage = json.loads(event["lineage"]) if event.get("lineage") else None
    champion = registry.champion()
    # An unpinned champion serves nothing (inference refuses it): the new model does not wait for it.
    promoted, reason = promotion(event, gate, champion.version if champion and champion.pinned else None)
    digests = {"model": event.get("model_sha256"), "model_contents": event.get("model_contents_sha256")}
    for key in (k for k in FOLDERS if event.get(k)):  # a missing artefact: the manifest is incomplete
        try:
            digests[key] = prefix_digest(services.objects, event[key])
        except ValueError as exc:
            raise ValueError(f"The {key} artefact is missing ({exc}); nothing was registered.") from exc
    manifest = {
        "run_id": event["run_id"],
        "pipeline_execution": event["pipeline_execution"],
        "trained_at": event.get("trained_at"),
        "training_data": event.get("training_data"),
        "training_data_sha256": training_data_digest(event.get("training_data")),
        "lineage": lineage,
        "artifacts": {key: event[key] for key in ARTIFACT_KEYS},
        "digests": digests,
        "model_identity": event.get("model_identity"),
        "metrics": {key.removeprefix("metric_"): float(v) for key, v in event.items() if key.startswith("metric_")},
        "gate": gate and gate | {"report": event.get("gate_report")},
        "promotion": {"mode": event.get("promotion", "manual"), "promoted": promoted, "reason": reason},
        "git_sha": event.get("git_sha", "unknown"),
        "template_version": event["template_version"],
        "algorithm_image": event.get("algorithm_image"),
    }
    version = registry.register(manifest)
    if promoted:
        registry.promote(version)
        _tell(services, event, f"Model v{version} promoted", f"{reason}. Report: {event.get('gate_report')}")
    else:
        _tell(
            services, event, f"Model v{version} is a candidate",
            f"{reason}. Report: {event.get('gate_report')}. To serve it: registry promote --version {version}.",
        )  # fmt: skip
    answer = {"manifest_version": version, "registered": True, "promoted": promoted, "decision": reason}
    mirror = mirror_of(services, registry, event)
    if mirror is not None:  # after Parameter Store has the version: a failed mirror never blocks it
        where = f"{event.get('project', '')} ({event.get('environment', '')})"
        answer["package_mirror"] = keep_in_step(services, mirror, where)
    return answer


def _tell(services: Any, event: dict[str, Any], what: str, message: str) -> None:
    """The alert topic hears what a training run made of its model: promoted, a candidate (and why), or nothing."""
    where = f"{event.get('project', '')} ({event.get('environment', '')})" if event.get("project") else ""
    services.notify(f"{what} in {where}" if where else what, message)
