"""The SageMaker Model Registry mirror: every manifest version a model package, approvals kept in step both ways.

Every call the mirror and the approval handler make is checked against botocore's service model
(types, required members, lengths and the patterns Python can read) before the workspace's
FilePackages answers it; the AWS path runs against botocore's Stubber on a real client.
"""

from __future__ import annotations

import json
import re
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from botocore.validate import ParamValidator

from {{ cookiecutter.package_name }}.lambdas import approval, launcher, register
from {{ cookiecutter.package_name }}.lambdas.services import Services, installed
from {{ cookiecutter.package_name }}.registry.manifest import ModelRegistry
from {{ cookiecutter.package_name }}.registry.packages import (
    APPROVED_STATUS,
    PENDING_STATUS,
    REJECTED_STATUS,
    FilePackages,
    MirrorIncomplete,
    Package,
    PackageMirror,
    group_name,
    owner_of,
    package_request,
    state_change_event,
)

from .conftest import MANIFEST, REGION, aws_client, register_event

SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")
GROUP = "test-dev"
TOOLING = "999999999999"
# The same group in the tooling account, as an environment names it with one account per environment.
CENTRAL = f"arn:aws:sagemaker:{REGION}:{TOOLING}:model-package-group/{GROUP}"
IMAGE = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/test-algorithm@sha256:{'c' * 64}"
# As the deployed approval Lambda has them: no image of its own (and none deployed in these tests' SSM).
SETTINGS = {
    "manifest_parameter": MANIFEST, "package_group": GROUP, "environment": "dev", "project": "test",
    "algorithm_image": "",
}  # fmt: skip


def shape_problems(value: Any, shape: Any, where: str = "") -> list[str]:
    """What botocore's validator leaves unchecked: string lengths, list and map sizes, and plain patterns."""
    problems = []
    limits = shape.metadata
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, member in value.items():
            problems += shape_problems(member, shape.members[name], f"{where}.{name}")
    elif shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            problems += shape_problems(item, shape.member, f"{where}[{index}]")
    elif shape.type_name == "map" and isinstance(value, dict):
        if len(value) > limits.get("max", len(value)):
            problems.append(f"{where}: {len(value)} entries, at most {limits['max']}")
        for key, item in value.items():
            problems += shape_problems(key, shape.key, f"{where} key")
            problems += shape_problems(item, shape.value, f"{where}.{key}")
    elif shape.type_name == "string" and isinstance(value, str):
        if not limits.get("min", 0) <= len(value) <= limits.get("max", len(value)):
            problems.append(f"{where}: {len(value)} characters, not within {limits.get('min', 0)}-{limits.get('max')}")
        pattern = limits.get("pattern", "")
        if pattern and "\\p" not in pattern and not re.fullmatch(pattern, value):
            problems.append(f"{where}: {value!r} does not match {pattern}")
        if "\\p" in pattern and not value.isprintable():  # \\p{...} classes hold no control character
            problems.append(f"{where}: {value!r} holds a control character, which {pattern} refuses")
        if "enum" in shape.metadata and value not in shape.metadata["enum"]:
            problems.append(f"{where}: {value!r} is not one of {shape.metadata['enum']}")
    return problems


def assert_valid_request(operation: str, params: dict[str, Any]) -> None:
    shape = SAGEMAKER.operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    assert not report.has_errors(), f"{operation}: {report.generate_report()}"
    problems = shape_problems(params, shape, operation)
    assert not problems, problems


class Checked:
    """FilePackages, with every call's arguments checked against SageMaker's service model first."""

    def __init__(self, packages: FilePackages) -> None:
        self.packages = packages
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        if name == "answers":  # set by the fixture; never forwarded
            raise AttributeError(name)
        method = getattr(self.packages, name)
        operation = "".join(part.capitalize() for part in name.split("_"))

        def call(**params: Any) -> Any:
            assert_valid_request(operation, params)
            self.calls.append((operation, params))
            return method(**params)

        return call


class Outage:
    """A model registry that answers every call with a service error, as during an outage."""

    def __getattr__(self, name: str) -> Any:
        def fail(**params: Any) -> Any:
            error = {"Error": {"Code": "ServiceUnavailable", "Message": "the service is unavailable"}}
            raise ClientError(error, "".join(part.capitalize() for part in name.split("_")))

        return fail


@pytest.fixture
def registry_aws(lambda_aws, tmp_path):
    """The handlers' moto services, with the workspace's model registry behind the service-model check, and
    every event it sends delivered as the deployed rule delivers it: the handler's own updates included."""
    services, sent = lambda_aws
    files = FilePackages(tmp_path / "packages", REGION, "123456789012")
    packages = Checked(files)
    packages.answers = []
    depth = []

    def deliver(event: dict[str, Any]) -> None:
        if not approval.matches(event, GROUP):
            return
        depth.append(event)
        assert len(depth) <= 4, f"the approval handler's own updates keep triggering it: {len(depth)} deep"
        try:
            packages.answers.append(approval.decide(event, SETTINGS))
        finally:
            depth.pop()

    files.listener = deliver
    with installed(Services(services.store, services.sagemaker, services.notify, services.objects, packages=packages)):
        yield services.store, packages, sent


def registered(run: str, **kwargs: Any) -> dict[str, Any]:
    mirrored = {"package_group": GROUP, "algorithm_image": IMAGE, "project": "test", "environment": "dev"}
    return register.handler(register_event(run, **kwargs) | mirrored)


def statuses(packages: Checked) -> dict[int, tuple[str, str]]:
    mirror = PackageMirror(packages, ModelRegistry(None, MANIFEST), GROUP, IMAGE, "dev")
    return {v: (p.status, p.stage_status) for v, p in mirror.packages().items()}


def review(packages: Checked, version: int, status: str) -> dict[str, Any]:
    """A decision given in Studio: what the handler answered to the event the rule delivered for it, if any."""
    before = len(packages.answers)
    packages.update_model_package(ModelPackageArn=statuses_arn(packages, version), ModelApprovalStatus=status)
    answers = packages.answers[before:]  # the handler's answer to this event ends last, after those it caused
    return answers[-1] if answers else {"action": "not delivered"}


def test_each_version_is_mirrored_with_its_image_model_metrics_baselines_and_manifest(registry_aws):
    store, packages, _ = registry_aws
    assert registered("run1")["package_mirror"] == "in step"
    registered("run2", champion="1", passed=False)
    assert statuses(packages) == {1: (APPROVED_STATUS, "Serving"), 2: (PENDING_STATUS, "Candidate")}
    created = [params for operation, params in packages.calls if operation == "CreateModelPackage"]
    first = created[0]
    version = ModelRegistry(store, MANIFEST).get(version=1)
    container = first["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == IMAGE and container["ModelDataUrl"] == version.manifest["artifacts"]["model"]
    assert json.loads(container["Environment"]["ARTIFACT_DIGESTS"])["model"] == "0" * 64
    metrics, drift = first["ModelMetrics"], first["DriftCheckBaselines"]
    assert metrics["ModelQuality"]["Statistics"]["S3Uri"].endswith("/run1/gate/evaluation.json")
    assert metrics["ModelQuality"]["Constraints"]["S3Uri"].endswith("/run1/gate/quality_constraints.json")
    assert metrics["ModelDataQuality"]["Constraints"]["S3Uri"] == "s3://bucket/baseline/constraints.json"
    assert metrics["Explainability"]["Report"]["S3Uri"] == "s3://bucket/explainability/analysis.json"
    assert drift["ModelDataQuality"] == metrics["ModelDataQuality"]
    assert drift["ModelQuality"]["Constraints"] == metrics["ModelQuality"]["Constraints"]
    properties = first["CustomerMetadataProperties"]
    assert properties["manifest_version"] == "1" and properties["manifest_parameter"] == MANIFEST
    assert re.fullmatch(r"[0-9a-f]{64}", properties["manifest_sha256"])
    # A second reconciliation creates nothing: the group already mirrors every version.
    assert PackageMirror(packages, ModelRegistry(store, MANIFEST), GROUP, IMAGE, "dev").reconcile().created == []


def test_a_promotion_approves_its_package_and_supersedes_the_one_that_served(registry_aws):
    store, packages, _ = registry_aws
    registered("run1")
    registered("run2", champion="1", passed=False)
    registry = ModelRegistry(store, MANIFEST)
    registry.promote(2)
    PackageMirror(packages, registry, GROUP, IMAGE, "dev").reconcile()
    assert statuses(packages) == {1: (PENDING_STATUS, "Superseded"), 2: (APPROVED_STATUS, "Serving")}


def test_an_event_for_an_unapproved_package_promotes_nothing(registry_aws):
    store, packages, _ = registry_aws
    registered("run1")
    registered("run2", champion="1", passed=False)
    # The rule does not deliver it; and were it delivered, the handler reads the status now, not the event's.
    assert review(packages, 2, PENDING_STATUS) == {"action": "not delivered"}
    arn = statuses_arn(packages, 2)
    stale = {
        "source": "aws.sagemaker", "detail-type": approval.EVENT_TYPE,
        "detail": {"ModelPackageGroupName": GROUP, "ModelPackageArn": arn, "ModelApprovalStatus": APPROVED_STATUS},
    }  # fmt: skip
    assert approval.decide(stale, SETTINGS)["action"] == "none"
    assert ModelRegistry(store, MANIFEST).champion().version == 1
    other_group = stale | {"detail": stale["detail"] | {"ModelPackageGroupName": "another-dev"}}
    assert not approval.matches(other_group, GROUP)
    assert approval.decide(other_group, SETTINGS)["action"] == "ignored"


def statuses_arn(packages: Checked, version: int) -> str:
    listed = packages.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    return next(p["ModelPackageArn"] for p in listed if p["ModelPackageVersion"] == version)


SUPERSEDED, SERVES, PENDING, REJECTED = (
    (PENDING_STATUS, "Superseded"), (APPROVED_STATUS, "Serving"), (PENDING_STATUS, "Candidate"),
    (REJECTED_STATUS, "Rejected"),
)  # fmt: skip


@pytest.mark.parametrize(
    ("second_promoted", "reviewed", "decision", "action", "serving", "after", "alert"),
    [
        (False, 2, APPROVED_STATUS, "promoted", 2, {1: SUPERSEDED, 2: SERVES}, "Model v2 promoted in test (dev)"),
        (False, 2, REJECTED_STATUS, "recorded", 1, {1: SERVES, 2: REJECTED}, None),
        (True, 2, REJECTED_STATUS, "rolled back", 1, {1: SERVES, 2: REJECTED},
         "Serving model v2 rejected in test (dev)"),
        (False, 1, REJECTED_STATUS, "refused", 1, {1: SERVES, 2: PENDING},
         "Rejection of the serving model v1 refused in test (dev)"),
    ],
    ids=["approve-a-candidate", "reject-a-candidate", "reject-the-serving-one", "reject-the-only-one-that-can-serve"],
)  # fmt: skip
def test_a_decision_in_studio_reaches_parameter_store(
    registry_aws, second_promoted, reviewed, decision, action, serving, after, alert
):
    """Approving promotes; rejecting a candidate is recorded; rejecting the serving version brings back the one that
    served before it, or, when none can serve, is refused (the package approved again) and alerted on."""
    store, packages, sent = registry_aws
    registered("run1")
    registered("run2", champion="1", passed=second_promoted)
    answer = review(packages, reviewed, decision)
    assert answer["action"] == action
    assert ModelRegistry(store, MANIFEST).champion().version == serving
    assert statuses(packages) == after
    assert alert is None or alert in sent
    if action == "refused":  # the reviewer sees in Studio why the rejection was undone
        assert "v1 serves and no other version can" in answer["reason"]
        described = packages.describe_model_package(ModelPackageName=statuses_arn(packages, reviewed))
        assert "the rejection is refused" in described["ApprovalDescription"]


def test_a_mirror_outage_never_blocks_a_registration_and_the_next_one_mirrors_both(lambda_aws, tmp_path):
    services, sent = lambda_aws
    down = Services(services.store, services.sagemaker, services.notify, services.objects, packages=Outage())
    with installed(down):
        answer = registered("run1")
    assert answer["registered"] and answer["promoted"] and answer["manifest_version"] == 1
    assert "could not be brought in step" in answer["package_mirror"]
    assert "ServiceUnavailable" in answer["package_mirror"]
    assert "Model registry mirror failed in test (dev)" in sent
    assert ModelRegistry(services.store, MANIFEST).champion().version == 1
    packages = Checked(FilePackages(tmp_path / "packages", REGION, "123456789012"))
    with installed(Services(services.store, services.sagemaker, services.notify, services.objects, packages=packages)):
        assert registered("run2", champion="1", passed=False)["package_mirror"] == "in step"
    assert statuses(packages) == {1: (APPROVED_STATUS, "Serving"), 2: (PENDING_STATUS, "Candidate")}


def test_each_scheduled_start_retries_the_mirror_and_an_outage_never_stops_it(lambda_aws, tmp_path):
    services, sent = lambda_aws
    services.objects.client.put_object(Bucket="bucket", Key="data/inference/batch.csv", Body=b"a,b\n1,2\n")
    with installed(Services(services.store, services.sagemaker, services.notify, services.objects, packages=Outage())):
        registered("run1")
        started = launcher.handler(scheduled_event())
    assert started["execution"] and "could not be brought in step" in started["package_mirror"]
    assert sent.count("Model registry mirror failed in dev") == 1
    packages = Checked(FilePackages(tmp_path / "packages", REGION, "123456789012"))
    with installed(Services(services.store, services.sagemaker, services.notify, services.objects, packages=packages)):
        assert launcher.handler(scheduled_event())["package_mirror"] == "in step"
    assert statuses(packages) == {1: (APPROVED_STATUS, "Serving")}


def scheduled_event() -> dict[str, str]:
    """What the inference schedule sends the launcher (infra/environment.yml)."""
    return {
        "manifest_parameter": MANIFEST, "inference_pipeline": "test-dev-training",
        "input_data": "s3://bucket/data/inference/", "package_group": GROUP, "environment": "dev",
    }  # fmt: skip


@pytest.mark.parametrize("group", [GROUP, CENTRAL], ids=["own-account", "tooling-account"])
def test_the_aws_path_sends_these_calls_to_sagemaker(lambda_aws, group):
    """A real boto3 client under botocore's Stubber: each request and response checked against the service model.
    With one account per environment, every call names the tooling account's group by ARN."""
    services, _ = lambda_aws
    registered_version = register.handler(register_event("run1"))["manifest_version"]
    registry = ModelRegistry(services.store, MANIFEST)
    client = aws_client("sagemaker")
    owner = owner_of(group, "123456789012")
    group_arn = f"arn:aws:sagemaker:{REGION}:{owner}:model-package-group/{GROUP}"
    package_arn = f"arn:aws:sagemaker:{REGION}:{owner}:model-package/{GROUP}/1"
    request = package_request(group, MANIFEST, registry.get(version=registered_version), IMAGE, "dev")
    assert request["ModelPackageGroupName"] == group
    assert_valid_request("CreateModelPackage", request)
    with Stubber(client) as stub:
        stub.add_response("describe_model_package_group", {
            "ModelPackageGroupName": GROUP, "ModelPackageGroupArn": group_arn, "CreationTime": "2026-12-06T00:00:00Z",
            "CreatedBy": {}, "ModelPackageGroupStatus": "Completed"}, {"ModelPackageGroupName": group})  # fmt: skip
        stub.add_response("list_model_packages", {"ModelPackageSummaryList": []},
                          {"ModelPackageGroupName": group, "MaxResults": 100})  # fmt: skip
        stub.add_response("create_model_package", {"ModelPackageArn": package_arn}, request)
        done = PackageMirror(client, registry, group, IMAGE, "dev").reconcile()
        stub.assert_no_pending_responses()
    assert done.created == [1]
    with Stubber(client) as stub:
        stub.add_response("update_model_package", {"ModelPackageArn": package_arn}, {
            "ModelPackageArn": package_arn, "ModelApprovalStatus": PENDING_STATUS, "ApprovalDescription": ANY,
            "ModelLifeCycle": {"Stage": "dev", "StageStatus": "Superseded", "StageDescription": ANY}})  # fmt: skip
        served = Package(package_arn, 1, APPROVED_STATUS, "Serving")
        PackageMirror(client, registry, group, IMAGE, "dev").mark(served, PENDING_STATUS, "Superseded", "v1 left")
        stub.assert_no_pending_responses()


# --- one account per environment: the groups live in the tooling account -------------------------


def test_on_aws_a_tooling_group_this_account_may_not_read_is_named_with_the_stack_that_grants_it(lambda_aws):
    """SageMaker answers AccessDenied for another account's group that does not exist or does not admit the
    caller: the mirror says which stack makes and grants it, and never creates a group of its own."""
    services, _ = lambda_aws
    register.handler(register_event("run1"))
    client = aws_client("sagemaker")
    denied = "User is not authorized to perform: sagemaker:DescribeModelPackageGroup"
    with Stubber(client) as stub:
        stub.add_client_error("describe_model_package_group", "AccessDeniedException", denied, 400,
                              expected_params={"ModelPackageGroupName": CENTRAL})  # fmt: skip
        with pytest.raises(MirrorIncomplete, match=r"creates it and admits this account; update that stack"):
            PackageMirror(client, ModelRegistry(services.store, MANIFEST), CENTRAL, IMAGE, "dev").reconcile()
        stub.assert_no_pending_responses()  # no CreateModelPackageGroup, no CreateModelPackage


def central_registry(services: Any, root: Any, account: str = TOOLING, provisioned: tuple[str, ...] = (GROUP,)):
    """The tooling account's model registry (its stack made the group), heard by the environment's rule."""
    files = FilePackages(root, REGION, account, provisioned)
    packages = Checked(files)
    packages.answers = []
    settings = SETTINGS | {"package_group": CENTRAL}

    def deliver(event: dict[str, Any]) -> None:
        if approval.matches(event, CENTRAL):  # forwarded to the environment's bus, where its rule hears it
            packages.answers.append(approval.decide(event, settings))

    files.listener = deliver
    return Services(services.store, services.sagemaker, services.notify, services.objects, packages=packages)


def test_an_environment_mirrors_into_the_tooling_accounts_group_and_a_decision_there_moves_its_label(
    lambda_aws, tmp_path
):
    services, sent = lambda_aws
    central = central_registry(services, tmp_path / "tooling")
    packages = central.packages
    mirrored = {"package_group": CENTRAL, "algorithm_image": IMAGE, "project": "test", "environment": "dev"}
    with installed(central):
        assert register.handler(register_event("run1") | mirrored)["package_mirror"] == "in step"
        register.handler(register_event("run2", champion="1", passed=False) | mirrored)
        named = {params["ModelPackageGroupName"] for _, params in packages.calls if "ModelPackageGroupName" in params}
        assert named == {CENTRAL}, "every call names the tooling account's group by ARN"
        listed = PackageMirror(packages, ModelRegistry(services.store, MANIFEST), CENTRAL, IMAGE, "dev").packages()
        assert {v: (p.status, p.stage_status) for v, p in listed.items()} == {1: SERVES, 2: PENDING}
        assert listed[2].arn.startswith(f"arn:aws:sagemaker:{REGION}:{TOOLING}:model-package/{GROUP}/")
        # A reviewer approves v2 in the tooling account's Studio: the event comes back, and v2 serves.
        packages.update_model_package(ModelPackageArn=listed[2].arn, ModelApprovalStatus=APPROVED_STATUS)
    assert packages.answers[-1]["action"] == "promoted"
    assert ModelRegistry(services.store, MANIFEST).champion().version == 2
    assert "Model v2 promoted in test (dev)" in sent
    event = state_change_event(packages.describe_model_package(ModelPackageName=listed[2].arn), REGION, TOOLING)
    assert approval.matches(event, CENTRAL)
    # The same group name in any other account (the environment's own, say) is not this environment's group.
    assert not approval.matches(event | {"account": "123456789012"}, CENTRAL)


def test_a_group_the_environment_cannot_reach_or_that_no_stack_made_is_reported_and_never_created_here(
    lambda_aws, tmp_path
):
    services, sent = lambda_aws
    mirrored = {"package_group": CENTRAL, "algorithm_image": IMAGE, "project": "test", "environment": "dev"}
    # The environment's own registry, asked for the tooling account's group: refused, as SageMaker would.
    with installed(central_registry(services, tmp_path / "own", account="123456789012")):
        answer = register.handler(register_event("run1") | mirrored)
    assert answer["registered"] and answer["manifest_version"] == 1
    assert f"{CENTRAL} cannot be read from this account" in answer["package_mirror"]
    assert f"lives in account {TOOLING}" in answer["package_mirror"]
    # The tooling account before its stack made the group: the environment never makes one of its own.
    with installed(central_registry(services, tmp_path / "tooling", provisioned=())):
        answer = register.handler(register_event("run2", champion="1", passed=False) | mirrored)
    assert answer["registered"]
    assert "the tooling account's CI/CD stack (infra/cicd.yml) creates it" in answer["package_mirror"]
    assert not list((tmp_path / "tooling").glob("*.json")) and not list((tmp_path / "own").glob("*.json"))
    assert sent.count("Model registry mirror failed in test (dev)") == 2


def test_a_group_is_named_as_sagemaker_allows_or_refused():
    assert group_name("customer-churn", "dev") == "customer-churn-dev"
    with pytest.raises(ValueError, match="cannot name a model package group"):
        group_name("customer_churn", "dev")


def test_the_cli_shows_each_versions_package_and_a_review_in_the_workspace_moves_the_label(tmp_path, config, capsys):
    """Local mode keeps the same registry in the workspace: `registry history` shows the packages, and
    `registry review` (a reviewer in Studio) reaches the approval handler through the rule's filter."""
    from {{ cookiecutter.package_name }}.cli import main
    from {{ cookiecutter.package_name }}.local.model_packages import workspace_packages
    from {{ cookiecutter.package_name }}.local.workspace import Workspace, WorkspaceObjects
    from {{ cookiecutter.package_name }}.pipelines.layout import package_group
    from {{ cookiecutter.package_name }}.registry.manifest import manifest_parameter

    workspace = Workspace(tmp_path / "ws")
    for key in ("artifacts/schema.json", "baseline/statistics.json", "explainability/analysis.json"):
        (workspace.root / "s3" / "bucket" / key).parent.mkdir(parents=True, exist_ok=True)
        (workspace.root / "s3" / "bucket" / key).write_text("{}")
    sent = []

    def notify(subject: str, message: str) -> None:
        sent.append(subject)

    packages = workspace_packages(workspace, config, "dev", notify)
    local = {"manifest_parameter": manifest_parameter(config, "dev"), "package_group": package_group(config, "dev"),
             "algorithm_image": IMAGE, "project": config["project"]["slug"], "environment": "dev"}  # fmt: skip
    services = Services(workspace.store, None, notify, WorkspaceObjects(workspace), packages=packages)
    with installed(services):
        register.handler(register_event("run1") | local)
        register.handler(register_event("run2", champion="1", passed=False) | local)

    def cli(*args: str) -> Any:
        assert main(["--workspace", str(workspace.root), *args]) == 0
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    listed = cli("registry", "history", "--json")
    assert [(v["labels"], v["package"]["status"], v["package"]["stage_status"]) for v in listed] == [
        (["approved"], APPROVED_STATUS, "Serving"),
        ([], PENDING_STATUS, "Candidate"),
    ]
    reviewed = cli("registry", "review", "--version", "2", "--decision", "approve", "--json")
    assert reviewed["serving"] == 2 and reviewed["package"]["stage_status"] == "Serving"
    assert reviewed["refused"] is False
    assert cli("registry", "sync", "--json") == {"package_mirror": f"model registry {package_group(config, 'dev')} "
                                                 "in step: created no package, changed no approval"}  # fmt: skip
    listed = cli("registry", "history", "--json")
    assert [v["package"]["status"] for v in listed] == [PENDING_STATUS, APPROVED_STATUS]
    assert cli("registry", "show", "--json")["package"]["status"] == APPROVED_STATUS
    # Rejecting v2 brings back v1; rejecting v1 then is refused, and the command says so (exit 1).
    assert cli("registry", "review", "--version", "2", "--decision", "reject", "--json")["serving"] == 1
    rejected = ["registry", "review", "--version", "1", "--decision", "reject"]
    assert main(["--workspace", str(workspace.root), *rejected]) == 1
    assert "reject v1: refused; its package is Approved (Serving), and v1 serves" in capsys.readouterr().err


def test_versions_registered_before_the_mirror_are_mirrored_with_the_deployed_image_and_kept_in_step(registry_aws):
    """Manifests without an image of their own: `registry sync` with the deployed image mirrors them, and an
    approval by a handler that knows no image still leaves one package Approved, the serving one."""
    store, packages, _ = registry_aws
    older = {"package_group": GROUP, "project": "test", "environment": "dev"}  # no algorithm_image
    register.handler(register_event("run1") | older)
    register.handler(register_event("run2", champion="1", passed=False) | older)
    assert statuses(packages) == {}, "nothing to mirror without an image"
    registry = ModelRegistry(store, MANIFEST)
    assert PackageMirror(packages, registry, GROUP, IMAGE, "dev").reconcile().created == [1, 2]
    assert review(packages, 2, APPROVED_STATUS)["action"] == "promoted"
    assert statuses(packages) == {1: (PENDING_STATUS, "Superseded"), 2: (APPROVED_STATUS, "Serving")}


def test_an_approval_is_carried_out_while_the_labelled_version_is_unusable(registry_aws):
    store, packages, _ = registry_aws
    registered("run1")
    registered("run2", champion="1", passed=False)
    broken = store.put(MANIFEST, "not a manifest")
    store.label(MANIFEST, broken, ["approved"])
    assert review(packages, 2, APPROVED_STATUS)["action"] == "promoted"
    assert ModelRegistry(store, MANIFEST).champion().version == 2


def test_a_reason_with_line_breaks_is_one_plain_line_where_sagemaker_reads_it(registry_aws):
    store, _, _ = registry_aws
    registered("run1")
    version = ModelRegistry(store, MANIFEST).get(version=1)
    version.manifest["promotion"]["reason"] = "candidate: the gate failed:\nTraceback\tline 2"
    request = package_request(GROUP, MANIFEST, version, IMAGE, "dev")
    assert_valid_request("CreateModelPackage", request)
    assert "\n" not in request["ModelPackageDescription"] and "\n" not in json.dumps(request["ModelLifeCycle"])
