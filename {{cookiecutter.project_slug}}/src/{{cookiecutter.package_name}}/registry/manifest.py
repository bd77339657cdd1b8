"""The model manifest: one training run, stored as one version of one SSM parameter.

`<ssm_root>/<slug>/<env>/model/manifest` holds it. The parameter's history is the version
tracking; the `approved` label promotes a version, and inference serves only the promoted
version. A version without it is a candidate: its manifest records why (the gate's verdict,
or a manual promotion policy).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .digests import PINNED, serving_digests
from .store import ParameterNotFound, ParameterStore, ParameterVersion

APPROVED = "approved"
ARTIFACTS = ("model", "preprocessing", "baseline", "explainability")
REQUIRED = ("run_id", "pipeline_execution", "artifacts", "metrics", "git_sha", "template_version")
MANIFEST_BYTES = 4096  # Parameter Store's standard tier


def prefix(config: dict[str, Any], env: str) -> str:
    """The Parameter Store prefix of one environment: <ssm_root>/<slug>/<env>."""
    if env not in config["environments"]:
        raise ValueError(f"Unknown environment {env!r}; config/project.yaml lists {config['environments']}.")
    return f"{config['ssm_root'].rstrip('/')}/{config['project']['slug']}/{env}"


def manifest_parameter(config: dict[str, Any], env: str) -> str:
    return f"{prefix(config, env)}/model/manifest"


def image_parameter(config: dict[str, Any], env: str, component: str) -> str:
    return f"{prefix(config, env)}/images/{component}"


def missing_keys(manifest: dict[str, Any]) -> list[str]:
    """What a manifest lacks of the required keys and train-mode artefacts."""
    artifacts = manifest.get("artifacts")
    missing = [key for key in REQUIRED if key not in manifest]
    return missing + [f"artifacts.{a}" for a in ARTIFACTS if not isinstance(artifacts, dict) or not artifacts.get(a)]


def unpinned(manifest: dict[str, Any]) -> list[str]:
    """The artefact digests a manifest lacks (registry/digests.py): versions registered before pinning lack all."""
    digests = manifest.get("digests")
    return [f"digests.{d}" for d in PINNED if not isinstance(digests, dict) or not _sha256(digests.get(d))]


def _sha256(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def validate_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """A manifest must say where every train-mode artefact is, and pin it; a partial one is refused."""
    missing = missing_keys(manifest) + unpinned(manifest)
    if missing:
        raise ValueError(f"Manifest is incomplete, missing {missing}; nothing was registered.")
    return manifest


class MalformedManifest(ValueError):
    """A version whose value is not a complete manifest (written by hand, or by another tool)."""


def read_manifest(parameter: ParameterVersion) -> dict[str, Any]:
    """The manifest in one version, or MalformedManifest naming the version and what to do."""
    where = f"Version {parameter.version} of {parameter.name}"
    try:
        manifest = json.loads(parameter.value)
        if not isinstance(manifest, dict):
            raise ValueError("it is JSON but not an object")
        if missing := missing_keys(manifest):
            raise ValueError(f"it lacks {missing}")
        metrics = manifest["metrics"]
        if not isinstance(metrics, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in metrics.values()
        ):
            raise ValueError("its metrics are not a mapping of names to numbers")
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise MalformedManifest(
            f"{where} is not a usable model manifest ({exc}). Promote another version (registry promote --version N), "
            "or register a new one by training."
        ) from exc
    return manifest


@dataclass
class RegisteredModel:
    version: int
    labels: list[str]
    manifest: dict[str, Any]
    last_modified: str = ""
    # Why this version cannot be used, for a listing that shows every version; "" when it can.
    problem: str = ""

    @classmethod
    def from_parameter(cls, parameter: ParameterVersion) -> RegisteredModel:
        """A usable version, or MalformedManifest."""
        return cls(parameter.version, parameter.labels, read_manifest(parameter), parameter.last_modified)

    @property
    def pinned(self) -> bool:
        """Whether the manifest records every artefact's digest: no job loads an artefact it cannot check."""
        return not unpinned(self.manifest)

    def usable(self) -> RegisteredModel:
        """This version, once it can serve: pinned. Else a MalformedManifest that says what to do."""
        if not self.pinned:
            raise MalformedManifest(
                f"Version {self.version} records no digest of its artefacts (it was registered before artefacts were "
                "pinned), and no job loads an artefact it cannot check. Run the training pipeline to register a "
                "pinned version (locally `local retrain`, on AWS `pipelines retrain`), then promote it if it is a "
                "candidate."
            )
        return self

    def parameters(self, pipeline: str) -> dict[str, str]:
        """The pipeline parameters that run this version: `inference`, `quality`, or `champion` (training's gate).

        An unpinned champion cannot be loaded, so the gate gets none, and judges the new model alone.
        """
        if pipeline == "champion" and not self.pinned:
            return {}
        artifacts, digests = self.manifest["artifacts"], serving_digests(self.usable().manifest)
        if pipeline == "champion":
            return {
                "ChampionModelUri": artifacts["model"],
                "ChampionVersion": str(self.version),
                "ChampionDigests": digests,
            }
        parameters = {"ModelUri": artifacts["model"], "ArtifactDigests": digests, "ManifestVersion": str(self.version)}
        if pipeline == "inference":
            parameters |= {"PreprocessingUri": artifacts["preprocessing"], "BaselineUri": artifacts["baseline"]}
        return parameters

    @classmethod
    def listed(cls, parameter: ParameterVersion) -> RegisteredModel:
        """Any version, for history: a malformed one is kept, with its problem, instead of failing the listing."""
        try:
            return cls.from_parameter(parameter)
        except MalformedManifest as exc:
            return cls(parameter.version, parameter.labels, {}, parameter.last_modified, str(exc))


class ModelRegistry:
    """Register, look up and promote model manifests in one environment."""

    def __init__(self, store: ParameterStore, parameter: str) -> None:
        self.store = store
        self.parameter = parameter

    def register(self, manifest: dict[str, Any]) -> int:
        """Write a new version; returns its number."""
        body = json.dumps(fit_manifest(validate_manifest(manifest)), sort_keys=True, separators=(",", ":"))
        return self.store.put(self.parameter, body, description=f"model manifest of run {manifest['run_id']}")

    def history(self) -> list[RegisteredModel]:
        try:
            return [RegisteredModel.listed(v) for v in self.store.history(self.parameter)]
        except ParameterNotFound:
            return []

    def get(self, version: int | None = None, label: str | None = None) -> RegisteredModel:
        selector: int | str | None = version if version is not None else label
        return RegisteredModel.from_parameter(self.store.get(self.parameter, selector))

    def champion(self) -> RegisteredModel | None:
        """The promoted version (label `approved`), or None while no version is promoted."""
        try:
            return self.get(label=APPROVED)
        except ParameterNotFound:
            return None

    def for_inference(self) -> RegisteredModel:
        """The promoted version: inference serves nothing else. None promoted is an error that says how to promote."""
        champion = self.champion()
        if champion is not None:
            return champion.usable()
        versions = self.history()
        if not versions:
            raise ParameterNotFound(f"No model is registered at {self.parameter}; run the training pipeline first.")
        listed = ", ".join(f"v{v.version} ({_why_candidate(v)})" for v in versions[-3:])
        raise ParameterNotFound(
            f"No version of {self.parameter} is promoted (label {APPROVED!r}), and inference serves only a promoted "
            f"one. The latest: {listed}. Read their gate verdicts with `registry history`, then promote one with "
            "`registry promote --version N` (with --env for another environment, --aws for AWS)."
        )

    def promote(self, version: int, label: str = APPROVED) -> RegisteredModel:
        """Move `label` to `version`, once the version is known to be a usable manifest (else it stays put)."""
        chosen = self.get(version=version).usable()  # MalformedManifest or ParameterNotFound: the label stays put
        self.store.label(self.parameter, version, [label])
        return self.get(version=chosen.version)

    def equal_to(self, identity: str, model_uri: str) -> RegisteredModel | None:
        """The newest registered version of the same model: the same model artefact, or the same identity.

        An unpinned version (registered before pinning) is no twin: the same model registers again, pinned.
        """
        for registered in reversed(self.history()):
            manifest = registered.manifest
            if not manifest or not registered.pinned:
                continue
            if manifest["artifacts"].get("model") == model_uri or (
                identity and manifest.get("model_identity") == identity
            ):
                return registered
        return None


def _why_candidate(version: RegisteredModel) -> str:
    if version.problem:
        return "unusable"
    return (version.manifest.get("promotion") or {}).get("reason") or "candidate"


def fit_manifest(manifest: dict[str, Any], limit: int = MANIFEST_BYTES) -> dict[str, Any]:
    """The manifest within Parameter Store's size: long lineage lists are shortened to counts and digests.

    The whole lineage stays in the training set's lineage.json, which the manifest names.
    """
    body = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    lineage = manifest.get("lineage")
    if len(body.encode()) <= limit or not isinstance(lineage, dict):
        return manifest
    shortened = json.loads(json.dumps(lineage))
    labels = shortened.get("labels", {})
    if isinstance(labels, dict):
        labels.pop("files", None)
    for step in ("join", "runs"):
        if len(json.dumps({**manifest, "lineage": shortened}).encode()) <= limit:
            break
        value = shortened.pop(step, None)
        if step == "runs" and isinstance(value, dict):
            shortened["run_count"] = len(value)
    return {**manifest, "lineage": shortened | {"shortened": True}}
