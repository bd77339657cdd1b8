"""The SageMaker Model Registry, kept in step with the manifest: one model package per manifest version.

Parameter Store stays the one source of truth the pipelines read (manifest.py). Each version is
mirrored as a model package in the environment's group, `<slug>-<env>`, so that Studio shows the
models where SageMaker users look for them. The package carries the algorithm image and the model
data, the metrics (evaluation, the data-quality baseline, the model-quality constraints, the
explanations), the drift-check baselines, and the manifest version and digest in
`CustomerMetadataProperties`.

In a bake with one account per environment, the groups live in the tooling account, where Studio
shows every environment's models side by side; each environment names its group by ARN
(`group_arn`), and the group's resource policy (infra/cicd.yml) lets that environment's account
mirror into it and nothing else.

Approval means "serves": exactly the version carrying the `approved` label has an Approved
package (lifecycle `Serving`); a version that served before goes back to PendingManualApproval
(`Superseded`), and one never promoted waits as `Candidate`. A promotion here approves the package;
an approval or a rejection given in Studio reaches Parameter Store through lambdas/approval.py.

A mirror never blocks a registration. Every call reconciles the whole group with the manifest
history, so a version a failed call left out is mirrored by the next one (a registration, a
promotion, an approval, a scheduled inference start, or `registry sync`); the caller reports the
failure.

Two backends answer the same calls: boto3's SageMaker client on AWS, and FilePackages, the
workspace's stand-in with SageMaker's semantics for local mode.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .digests import DIGESTS_ENV, serving_digests
from .manifest import APPROVED, ModelRegistry, RegisteredModel

# ModelApprovalStatus values, and what ModelLifeCycle's StageStatus says of a version here.
APPROVED_STATUS, PENDING_STATUS, REJECTED_STATUS = "Approved", "PendingManualApproval", "Rejected"
SERVING, CANDIDATE, SUPERSEDED, REJECTED = "Serving", "Candidate", "Superseded", "Rejected"
VERSION_KEY, DIGEST_KEY, PARAMETER_KEY = "manifest_version", "manifest_sha256", "manifest_parameter"
GROUP_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
GROUP_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):model-package-group/(?P<name>.+)$"
)
JSON = "application/json"
DESCRIPTION_CHARACTERS = 1024


def group_name(slug: str, env: str) -> str:
    """The environment's model package group: `<slug>-<env>`, as SageMaker allows a group to be named."""
    name = f"{slug}-{env}"
    if not GROUP_PATTERN.match(name):
        raise ValueError(f"{name!r} cannot name a model package group: letters, digits and single hyphens, 63 at most.")
    return name


def group_arn(region: str, account: str, name: str) -> str:
    """A group of another account, as SageMaker's calls name it: by ARN."""
    return f"arn:aws:sagemaker:{region}:{account}:model-package-group/{name}"


def group_of(group: str) -> str:
    """A group's name, whether it is given by name or by ARN; events and Studio name it so."""
    found = GROUP_ARN.match(group)
    return found["name"] if found else group


def owner_of(group: str, default: str) -> str:
    """The account a group lives in: the one its ARN names, else `default` (the caller's own)."""
    found = GROUP_ARN.match(group)
    return found["account"] if found else default


def manifest_sha256(version: RegisteredModel) -> str:
    """The digest of a version's manifest, as the package records it: its canonical JSON."""
    body = json.dumps(version.manifest, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def _json_at(folder: str, name: str) -> dict[str, str]:
    return {"ContentType": JSON, "S3Uri": f"{folder.rstrip('/')}/{name}"}


def package_request(group: str, parameter: str, version: RegisteredModel, image: str, stage: str) -> dict[str, Any]:
    """CreateModelPackage's arguments for one manifest version; `stage` is the environment's name."""
    manifest = version.manifest
    artifacts = manifest["artifacts"]
    baseline = {
        "Statistics": _json_at(artifacts["baseline"], "statistics.json"),
        "Constraints": _json_at(artifacts["baseline"], "constraints.json"),
    }
    metrics: dict[str, Any] = {
        "ModelDataQuality": baseline,
        "Explainability": {"Report": _json_at(artifacts["explainability"], "analysis.json")},
    }
    drift: dict[str, Any] = {
        "ModelDataQuality": baseline,
        "Explainability": {"Constraints": _json_at(artifacts["explainability"], "analysis.json")},
    }
    gate_folder = (manifest.get("gate") or {}).get("report")
    if gate_folder:  # the gate publishes the challenger's evaluation and model-quality constraints
        constraints = _json_at(gate_folder, "quality_constraints.json")
        metrics["ModelQuality"] = {"Statistics": _json_at(gate_folder, "evaluation.json"), "Constraints": constraints}
        drift["ModelQuality"] = {"Constraints": constraints}
    serving = APPROVED in version.labels
    reason = (manifest.get("promotion") or {}).get("reason", "")
    return {
        "ModelPackageGroupName": group,
        "ModelPackageDescription": _plain(f"v{version.version} of {parameter}: {reason}"),
        "InferenceSpecification": {
            "Containers": [
                {
                    "Image": manifest.get("algorithm_image") or image,
                    "ModelDataUrl": artifacts["model"],
                    # The model server checks the model against these before it loads it.
                    "Environment": {DIGESTS_ENV: serving_digests(manifest)},
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        "ModelApprovalStatus": APPROVED_STATUS if serving else PENDING_STATUS,
        "ModelMetrics": metrics,
        "DriftCheckBaselines": drift,
        "CustomerMetadataProperties": {
            VERSION_KEY: str(version.version),
            DIGEST_KEY: manifest_sha256(version),
            PARAMETER_KEY: parameter,
            "run_id": str(manifest.get("run_id", ""))[:256],
        },
        "ModelLifeCycle": _life_cycle(stage, SERVING if serving else CANDIDATE, reason),
        # At most 36 characters: the same version of the same manifest, created twice, is one package.
        "ClientToken": hashlib.sha256(f"{group}/{version.version}/{manifest_sha256(version)}".encode()).hexdigest()[
            :32
        ],
    }


def _life_cycle(stage: str, status: str, why: str) -> dict[str, str]:
    return {"Stage": stage, "StageStatus": status, "StageDescription": _plain(why)}


def _plain(text: str) -> str:
    """One line of at most 1,024 characters: SageMaker's descriptions take no line breaks or control characters."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:DESCRIPTION_CHARACTERS]


@dataclass
class Package:
    """One mirrored version, as the registry describes it."""

    arn: str
    manifest_version: int
    status: str
    stage_status: str

    @property
    def shown(self) -> str:
        """Its approval, and its lifecycle stage where that says more: `Approved (Serving)`, `Rejected`."""
        more = self.stage_status and self.stage_status != self.status
        return f"{self.status} ({self.stage_status})" if more else self.status

    @classmethod
    def described(cls, described: dict[str, Any]) -> Package | None:
        """A package of this mirror (it names its manifest version), or None for any other."""
        version = (described.get("CustomerMetadataProperties") or {}).get(VERSION_KEY, "")
        if not version.isdigit():
            return None
        stage = (described.get("ModelLifeCycle") or {}).get("StageStatus", "")
        return cls(described["ModelPackageArn"], int(version), described["ModelApprovalStatus"], stage)


@dataclass
class Reconciled:
    """What one reconciliation did: the packages it created and the approvals it changed."""

    created: list[int]
    changed: list[int]


class PackageMirror:
    """Keep one group's packages in step with one manifest parameter."""

    def __init__(self, client: Any, registry: ModelRegistry, group: str, image: str, stage: str) -> None:
        self.client = client
        self.registry = registry
        self.group = group
        self.image = image
        self.stage = stage

    def packages(self) -> dict[int, Package]:
        """The group's packages of this mirror, by manifest version (a missing group holds none)."""
        found: dict[int, Package] = {}
        token: dict[str, str] = {}
        while True:
            try:
                page = self.client.list_model_packages(ModelPackageGroupName=self.group, MaxResults=100, **token)
            except Exception as exc:
                if _not_found(exc):
                    return found
                raise
            for summary in page.get("ModelPackageSummaryList", []):
                described = self.client.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
                package = Package.described(described)
                if package is not None:
                    found.setdefault(package.manifest_version, package)
            if not page.get("NextToken"):
                return found
            token = {"NextToken": page["NextToken"]}

    def reconcile(self) -> Reconciled:
        """Mirror every usable version that has no package yet, and put every approval in step with the label.

        Each version is its own attempt: one that SageMaker refuses does not keep the others from the
        mirror. What failed is raised at the end, as MirrorIncomplete.
        """
        self._ensure_group()
        packages = self.packages()
        created, changed, failed = [], [], []
        for version in self.registry.history():
            if version.problem or not version.pinned:
                continue  # nothing SageMaker could serve: it stays in Parameter Store alone
            package = packages.get(version.version)
            try:
                if package is not None:
                    if self._settle(version, package):
                        changed.append(version.version)
                elif version.manifest.get("algorithm_image") or self.image:  # no image: no package to create
                    request = package_request(self.group, self.registry.parameter, version, self.image, self.stage)
                    self.client.create_model_package(**request)
                    created.append(version.version)
            except mirror_errors() as exc:
                failed.append(f"v{version.version}: {type(exc).__name__}: {exc}")
        if failed:
            raise MirrorIncomplete("; ".join(failed))
        return Reconciled(created, changed)

    def _settle(self, version: RegisteredModel, package: Package) -> bool:
        """Make a package's approval say whether its version serves; True if it changed.

        Only a package that served goes back as Superseded (a version that may serve again on a
        rollback); an Approved one that never served, as a Candidate.
        """
        serving = APPROVED in version.labels
        if serving:
            return self.mark(package, APPROVED_STATUS, SERVING, f"v{version.version} serves (label {APPROVED!r})")
        if package.status == APPROVED_STATUS:
            stage = SUPERSEDED if package.stage_status in (SERVING, SUPERSEDED) else CANDIDATE
            return self.mark(package, PENDING_STATUS, stage, f"v{version.version} does not serve")
        return False

    def mark(self, package: Package, status: str, stage: str, why: str) -> bool:
        """Set one package's approval and lifecycle stage, unless it has them already; True if it changed.

        An update that changes nothing is never sent: every update of a package is an event, and the
        approval rule would hand an unchanged Approved or Rejected package to its handler again.
        """
        if package.status == status and package.stage_status == stage:
            return False
        self.client.update_model_package(
            ModelPackageArn=package.arn,
            ModelApprovalStatus=status,
            ApprovalDescription=_plain(why),
            ModelLifeCycle=_life_cycle(self.stage, stage, why),
        )
        return True

    def _ensure_group(self) -> None:
        """Create the group if it is missing and named by name; one named by ARN is its own account's to create."""
        try:
            self.client.describe_model_package_group(ModelPackageGroupName=self.group)
        except Exception as exc:
            # SageMaker answers AccessDenied, not "does not exist", for another account's group it cannot read.
            if GROUP_ARN.match(self.group) and (_not_found(exc) or _denied(exc)):
                raise MirrorIncomplete(
                    f"the model package group {self.group} cannot be read from this account "
                    f"({type(exc).__name__}: {exc}): the tooling account's CI/CD stack (infra/cicd.yml) creates it "
                    "and admits this account; update that stack"
                ) from exc
            if not _not_found(exc):
                raise
            self.client.create_model_package_group(
                ModelPackageGroupName=self.group,
                ModelPackageGroupDescription=f"mirror of {self.registry.parameter}"[:DESCRIPTION_CHARACTERS],
            )


def _not_found(exc: Exception) -> bool:
    """SageMaker's answer for a group or package that does not exist (a ValidationException that says so)."""
    error = getattr(exc, "response", {}).get("Error", {})
    return error.get("Code") in {"ValidationException", "ResourceNotFound"} and "does not exist" in error.get(
        "Message", ""
    )


def _denied(exc: Exception) -> bool:
    """SageMaker's answer for a call that no policy allows (or the file store's, for another account's group)."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return isinstance(exc, PermissionError) or code in {"AccessDenied", "AccessDeniedException"}


def mirror_errors() -> tuple[type[Exception], ...]:
    """What a failed call to the model registry raises: SageMaker's and botocore's errors, or the file store's."""
    errors: tuple[type[Exception], ...] = (PackageNotFound, OSError, ValueError, KeyError)
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # a job image without boto3 never mirrors
        return errors
    return (*errors, BotoCoreError, ClientError)


class MirrorIncomplete(ValueError):
    """Some versions could not be mirrored or put in step; the message names each, and why."""


class PackageNotFound(Exception):
    """The answer FilePackages gives where SageMaker answers a ValidationException that says 'does not exist'."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.response = {"Error": {"Code": "ValidationException", "Message": message}}


class FilePackages:
    """SageMaker's model registry calls the mirror makes, on files under `root`, with SageMaker's semantics.

    Packages are numbered within their group from 1, a ClientToken makes a create idempotent, and
    every create and every update that changes a package is announced to `listener` as the
    "SageMaker Model Package State Change" event EventBridge would deliver.
    """

    def __init__(
        self, root: Path, region: str = "us-east-1", account: str = "000000000000", provisioned: tuple[str, ...] = ()
    ) -> None:
        self.root = Path(root)
        self.region, self.account = region, account
        # Groups a stack creates (infra/cicd.yml's, with one account per environment): they exist from the start.
        self.provisioned = provisioned
        self.listener: Callable[[dict[str, Any]], None] | None = None

    def _arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account}:{kind}/{name}"

    @contextlib.contextmanager
    def _group(self, name: str, create: bool = False) -> Iterator[dict[str, Any]]:
        path = self.root / f"{name}.json"
        if not path.exists() and not create and name not in self.provisioned:
            raise PackageNotFound(f"Model Package Group {name} does not exist.")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = json.loads(path.read_text("utf-8")) if path.exists() else None
            if state is None:
                state = {"group": {"ModelPackageGroupName": name, "ModelPackageGroupArn": self._arn(
                    "model-package-group", name.lower())}, "packages": []}  # fmt: skip
            before = json.dumps(state) if path.exists() else None
            yield state
            if json.dumps(state) == before:
                return  # a read: nothing to write
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(state, indent=1, ensure_ascii=False), "utf-8")
            temporary.replace(path)

    def create_model_package_group(self, ModelPackageGroupName: str, **extra: Any) -> dict[str, str]:
        with self._group(ModelPackageGroupName, create=True) as state:
            state["group"] |= extra
            return {"ModelPackageGroupArn": state["group"]["ModelPackageGroupArn"]}

    def describe_model_package_group(self, ModelPackageGroupName: str) -> dict[str, Any]:
        with self._group(self._own(ModelPackageGroupName)) as state:
            return dict(state["group"])

    def create_model_package(self, ModelPackageGroupName: str, ClientToken: str = "", **request: Any) -> dict:
        ModelPackageGroupName = self._own(ModelPackageGroupName)
        with self._group(ModelPackageGroupName) as state:
            for package in state["packages"]:
                if ClientToken and package.get("ClientToken") == ClientToken:
                    return {"ModelPackageArn": package["ModelPackageArn"]}
            number = len(state["packages"]) + 1
            name = f"{ModelPackageGroupName.lower()}/{number}"
            package = request | {
                "ModelPackageGroupName": ModelPackageGroupName,
                "ModelPackageVersion": number,
                "ModelPackageArn": self._arn("model-package", name),
                "ModelApprovalStatus": request.get("ModelApprovalStatus", PENDING_STATUS),
                "ModelPackageStatus": "Completed",
                "CreationTime": datetime.now(UTC).isoformat(),
                "ClientToken": ClientToken,
            }
            state["packages"].append(package)
        self._announce(package)
        return {"ModelPackageArn": package["ModelPackageArn"]}

    def list_model_packages(self, ModelPackageGroupName: str, MaxResults: int = 100, NextToken: str = "") -> dict:
        with self._group(self._own(ModelPackageGroupName)) as state:
            start = int(NextToken or 0)
            chosen = state["packages"][start : start + MaxResults]
            more = start + MaxResults < len(state["packages"])
        listed = [{k: p[k] for k in ("ModelPackageArn", "ModelPackageVersion", "ModelApprovalStatus")} for p in chosen]
        return {"ModelPackageSummaryList": listed} | ({"NextToken": str(start + MaxResults)} if more else {})

    def describe_model_package(self, ModelPackageName: str) -> dict[str, Any]:
        if ModelPackageName.startswith("arn:"):
            self._own(ModelPackageName.replace(":model-package/", ":model-package-group/", 1))
        group, _, number = ModelPackageName.rpartition(":model-package/")[2].rpartition("/")
        for name in self._group_names():
            if name.lower() == group:
                with self._group(name) as state:
                    for package in state["packages"]:
                        if str(package["ModelPackageVersion"]) == number:
                            return {k: v for k, v in package.items() if k != "ClientToken"}
        raise PackageNotFound(f"Model package {ModelPackageName} does not exist.")

    def update_model_package(self, ModelPackageArn: str, **change: Any) -> dict[str, str]:
        described = self.describe_model_package(ModelPackageArn)
        with self._group(described["ModelPackageGroupName"]) as state:
            package = next(p for p in state["packages"] if p["ModelPackageArn"] == ModelPackageArn)
            before = dict(package)
            package |= change
        if package != before:  # SageMaker sends an event for each change of approval or lifecycle
            self._announce(package)
        return {"ModelPackageArn": ModelPackageArn}

    def _own(self, group: str) -> str:
        """The name of a group of this registry, given by name or by ARN; another account's group is refused.

        SageMaker answers AccessDenied for a group whose policy does not grant the caller; this
        registry holds its own account's groups only.
        """
        found = GROUP_ARN.match(group)
        if found is None:
            return group
        if (found["region"], found["account"]) != (self.region, self.account):
            raise PermissionError(
                f"{group} lives in account {found['account']} ({found['region']}); this model registry is "
                f"account {self.account}'s ({self.region})."
            )
        return found["name"].split("/")[0]

    def _group_names(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.json")) if self.root.is_dir() else []

    def _announce(self, package: dict[str, Any]) -> None:
        if self.listener is not None:
            self.listener(state_change_event(package, self.region, self.account))


def state_change_event(package: dict[str, Any], region: str, account: str) -> dict[str, Any]:
    """The EventBridge event SageMaker sends when a package is created or its approval changes."""
    detail_keys = (
        "ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn", "ModelApprovalStatus",
        "ModelPackageStatus", "CustomerMetadataProperties",
    )  # fmt: skip
    return {
        "version": "0",
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Model Package State Change",
        "account": account,
        "region": region,
        "resources": [package["ModelPackageArn"]],
        "detail": {key: package[key] for key in detail_keys if key in package},
    }
