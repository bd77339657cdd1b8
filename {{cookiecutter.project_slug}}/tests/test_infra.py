"""The CloudFormation stacks and buildspecs, read as data: secure defaults and real commands."""

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }}.cli import (
    build_parser,
)

ROOT = Path(__file__).resolve().parents[1]
CODEBUILD_IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
# Python runtimes that image ships (aws-codebuild-docker-images, al/x86_64/standard/5.0/runtimes.yml).
CODEBUILD_PYTHONS = {"3.9", "3.10", "3.11", "3.12", "3.13", "3.14"}
WILDCARD_ACTION = re.compile(r"^(\*|[a-z0-9-]+:\*)$")


class CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form functions (!Ref, !Sub, ...) kept as data."""


def _function(loader, tag_suffix, node):
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


CloudFormationLoader.add_multi_constructor("!", _function)


def template(name):
    return yaml.load((ROOT / "infra" / name).read_text(), Loader=CloudFormationLoader)


def resources(document, kind):
    return {name: r["Properties"] for name, r in document["Resources"].items() if r["Type"] == kind}


def statements(document):
    for name, resource in document["Resources"].items():
        properties = resource.get("Properties", {})
        documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        documents += [
            properties[k]
            for k in ("PolicyDocument", "KeyPolicy", "AssumeRolePolicyDocument", "ModelPackageGroupPolicy")
            if k in properties
        ]
        if "Statement" in properties:  # an event bus policy: one statement
            documents.append({"Statement": [properties["Statement"]]})
        for policy in documents:
            for statement in policy["Statement"]:
                yield name, statement


@pytest.fixture(scope="module")
def environment():
    return template("environment.yml")


@pytest.fixture(scope="module")
def cicd():
    return template("cicd.yml")


@pytest.mark.parametrize("name", ["environment.yml", "cicd.yml"])
def test_no_iam_statement_allows_wildcard_actions(name):
    checked = 0
    for resource, statement in statements(template(name)):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Effect"] == "Allow":
            assert not [a for a in actions if WILDCARD_ACTION.match(a)], f"{resource}: {actions}"
        checked += 1
    assert checked > 10


def test_four_scanned_immutable_encrypted_repositories(cicd):
    repositories = resources(cicd, "AWS::ECR::Repository")
    assert sorted(r["RepositoryName"].rsplit("-", 1)[1] for r in repositories.values()) == sorted(
        ["processing", "algorithm", "monitoring", "explainability"]
    )
    for repository in repositories.values():
        assert repository["ImageTagMutability"] == "IMMUTABLE"
        assert repository["ImageScanningConfiguration"]["ScanOnPush"] is True
        assert repository["EncryptionConfiguration"]["EncryptionType"] == "KMS"
        assert "LifecyclePolicyText" in repository["LifecyclePolicy"]


@pytest.mark.parametrize("name", ["environment.yml", "cicd.yml"])
def test_buckets_are_locked_down(name):
    document = template(name)
    buckets = resources(document, "AWS::S3::Bucket")
    policies = {p["Bucket"]["Ref"]: p["PolicyDocument"] for p in resources(document, "AWS::S3::BucketPolicy").values()}
    assert buckets
    for bucket_name, bucket in buckets.items():
        encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        assert encryption["SSEAlgorithm"] == "aws:kms"
        assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
        assert (
            all(bucket["PublicAccessBlockConfiguration"].values())
            and len(bucket["PublicAccessBlockConfiguration"]) == 4
        )
        assert bucket["LifecycleConfiguration"]["Rules"]
        deny = [s for s in policies[bucket_name]["Statement"] if s["Effect"] == "Deny"]
        assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    if name == "environment.yml":  # the data and the key that decrypts it outlive the stack
        for kept in ("DataBucket", "AccessLogBucket", "DataKey"):
            resource = document["Resources"][kept]
            assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain", kept


def test_pipeline_goes_from_source_to_prod_through_an_approval(cicd, config):
    (pipeline,) = resources(cicd, "AWS::CodePipeline::Pipeline").values()
    assert pipeline["PipelineType"] == "V2"
    stages = [stage["Name"] for stage in pipeline["Stages"]]
    envs = [e.capitalize() for e in config["environments"]]
    expected = ["Source", "Test", "BuildImages", f"Deploy{envs[0]}"]
    for env in envs[1:]:
        expected += [f"Approve{env}", f"Deploy{env}"]
    assert stages == expected
    source = pipeline["Stages"][0]["Actions"][0]["ActionTypeId"]
    assert source["Provider"] == "CodeStarSourceConnection"
    approvals = [a for s in pipeline["Stages"] for a in s["Actions"] if a["ActionTypeId"]["Category"] == "Approval"]
    assert len(approvals) == len(envs) - 1


def test_only_the_image_build_is_privileged(cicd):
    projects = resources(cicd, "AWS::CodeBuild::Project")
    privileged = [p["Name"] for p in projects.values() if p["Environment"]["PrivilegedMode"]]
    assert privileged == [f"{cicd_slug(cicd)}-build-images"]
    for project in projects.values():
        assert project["Environment"]["Image"] == CODEBUILD_IMAGE
        assert (ROOT / project["Source"]["BuildSpec"]).is_file()


def cicd_slug(cicd):
    return resources(cicd, "AWS::CodePipeline::Pipeline")["Pipeline"]["Name"]


def test_schedule_starts_the_launcher_with_the_configured_expression(environment, config):
    schedules = resources(environment, "AWS::Scheduler::Schedule")
    schedule = schedules["InferenceSchedule"]
    assert schedule["ScheduleExpression"] == config["inference"]["schedule"]
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": "LauncherFunction.Arn"}
    quality = schedules["QualitySchedule"]
    assert quality["ScheduleExpression"] == config["quality"]["schedule"]
    assert quality["Target"]["Arn"] == {"Fn::GetAtt": "LauncherFunction.Arn"}
    expected = '"quality_pipeline": "' + config["project"]["slug"] + '-${Environment}-quality"'
    assert expected in quality["Target"]["Input"]["Fn::Sub"][0]
    # The daily start also retries the model registry mirror: it names the group (checked below) and the stage.
    assert json.loads(schedule["Target"]["Input"]["Fn::Sub"][0])["environment"] == "${Environment}"


def test_kept_predictions_inputs_and_labels_expire_as_configured(environment, config):
    rules = {
        r["Id"]: r for r in environment["Resources"]["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    }
    kept = (("ExpireKeptPredictions", "predictions/"), ("ExpireLabels", "labels/"), ("ExpireKeptInputs", "inputs/"))
    assert rules["ExpireRunInputs"]["Prefix"] == "data/inference-runs/"
    assert rules["ExpireRunInputs"]["ExpirationInDays"] == config["quality"]["retention_days"]
    for rule, prefix in kept:
        assert rules[rule]["Prefix"] == prefix
        assert rules[rule]["ExpirationInDays"] == config["quality"]["retention_days"]
        assert rules[rule]["ObjectSizeGreaterThan"] == 0  # the deploy stage's empty marker stays


def test_the_lambdas_may_read_the_artefacts_they_pin_and_the_labels_they_count_and_nothing_else(environment, config):
    """What the handlers read through S3: Register the run's folder artefacts (to pin them by digest);
    `lambdas/retraining.py` labels/ (listed and read) and sets' lineage.json."""
    granted = {
        (action, json_text(statement.get("Resource")), json_text(statement.get("Condition")))
        for name, statement in statements(environment)
        if name == "LambdaRole" and statement["Effect"] == "Allow"
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        if action.startswith("s3:")
    }
    pinned = ("processing/artifacts", "monitoring/baseline", "explainability/report")
    folders = [f"runs/training/*/{folder}/*" for folder in pinned]
    listing = json_text({"Fn::GetAtt": "DataBucket.Arn"})
    artefacts = {
        ("s3:GetObject", json_text([{"Fn::Sub": "${DataBucket.Arn}/" + folder} for folder in folders]), "null"),
        ("s3:ListBucket", listing, json_text({"StringLike": {"s3:prefix": folders}})),
        # The launcher's copy of a landed batch, for the scheduled run to read.
        ("s3:GetObject", json_text({"Fn::Sub": "${DataBucket.Arn}/data/inference/*"}), "null"),
        ("s3:ListBucket", listing, json_text({"StringLike": {"s3:prefix": "data/inference/*"}})),
        ("s3:PutObject", json_text({"Fn::Sub": "${DataBucket.Arn}/data/inference-runs/*"}), "null"),
    }
    if config["inference"]["drift_action"] != "retrain":
        assert granted == artefacts, "a repository that only alerts reads only the artefacts Register pins"
        return
    readable = ["${DataBucket.Arn}/labels/*", "${DataBucket.Arn}/data/train/*/lineage.json"]
    labels = json_text([{"Fn::Sub": resource} for resource in readable])
    assert granted == artefacts | {
        ("s3:GetObject", labels, "null"),
        ("s3:ListBucket", listing, json_text({"StringLike": {"s3:prefix": "labels/*"}})),
    }


def json_text(value) -> str:
    return json.dumps(value, sort_keys=True)


def test_lambda_handlers_exist_and_logs_are_kept(environment, config):
    import importlib

    functions = resources(environment, "AWS::Lambda::Function")
    expected = ["alert", "approval", "launcher", "register"] + (
        ["retrain"] if config["inference"]["drift_action"] == "retrain" else []
    )
    assert sorted(f["Handler"].split(".")[-2] for f in functions.values()) == expected
    for function in functions.values():
        module, handler = function["Handler"].rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), handler))
    for group in resources(environment, "AWS::Logs::LogGroup").values():
        assert group["RetentionInDays"] >= 365


def test_alarms_watch_every_pipeline(environment, config):
    alarms = resources(environment, "AWS::CloudWatch::Alarm").values()
    watched = {
        d["Value"]["Fn::Sub"].rsplit("-", 1)[1] for a in alarms for d in a["Dimensions"] if d["Name"] == "PipelineName"
    }
    assert watched == {"training", "inference", "quality"}


def test_image_parameters_are_seeded(environment):
    names = [p["Name"]["Fn::Sub"][0] for p in resources(environment, "AWS::SSM::Parameter").values()]
    assert sorted(n.rsplit("/", 1)[1] for n in names) == ["algorithm", "explainability", "monitoring", "processing"]


@pytest.mark.parametrize("name", ["test.yml", "build-images.yml", "deploy.yml"])
def test_buildspec_structure_and_runtime(name):
    spec = yaml.safe_load((ROOT / "buildspecs" / name).read_text())
    assert spec["version"] == 0.2
    assert set(spec["phases"]) <= {"install", "pre_build", "build", "post_build"}
    python = spec["phases"]["install"]["runtime-versions"]["python"]
    assert python in CODEBUILD_PYTHONS
    dockerfile = (ROOT / "docker" / "algorithm" / "Dockerfile").read_text()
    assert f"python:{python}-slim" in dockerfile, "CI must test on the Python the images run"


@pytest.mark.parametrize("name", ["test.yml", "build-images.yml", "deploy.yml"])
def test_buildspec_commands_are_real_make_targets_and_cli_commands(name):
    spec = yaml.safe_load((ROOT / "buildspecs" / name).read_text())
    makefile = (ROOT / "Makefile").read_text()
    commands = [c for phase in spec["phases"].values() for c in phase.get("commands", [])]
    for command in commands:
        for target in re.findall(r"\bmake ([a-z-]+)", command):
            assert re.search(rf"^{target}:", makefile, re.MULTILINE), f"no make target {target}"
        for cli in re.findall(r"-m \S+ ([^;>|]+)", command):
            arguments = ["x" if "$" in word else word for word in shlex.split(cli)]
            build_parser().parse_args(arguments)


def test_pipeline_status_changes_reach_the_alert_topic_as_configured(environment, config):
    rule = environment["Resources"]["PipelineStatusRule"]["Properties"]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.sagemaker"]
    assert pattern["detail-type"] == ["SageMaker Model Building Pipeline Execution Status Change"]
    assert sorted(pattern["detail"]["currentPipelineExecutionStatus"]) == sorted(
        config["notifications"]["pipeline_statuses"]
    )
    (prefix,) = pattern["detail"]["pipelineArn"]
    assert prefix["prefix"]["Fn::Sub"].endswith(":pipeline/" + config["project"]["slug"] + "-${Environment}-")
    assert rule["Targets"] == [{"Id": "alert-topic", "Arn": {"Ref": "AlertTopic"}}]
    statements = environment["Resources"]["AlertTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    publishers = {s["Principal"]["Service"]: s["Condition"] for s in statements}
    assert publishers["events.amazonaws.com"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": "PipelineStatusRule.Arn"}}
    }


def test_studio_approvals_and_rejections_and_nothing_else_reach_the_approval_lambda(environment, cicd, config):
    """The rule delivers this group's Approved and Rejected packages (never a PendingManualApproval one) to the
    approval Lambda, whose role may write the group's packages, with the mirror's actions and no more.

    With one account per environment the group lives in the tooling account (test_accounts.py holds
    its grants and the forwarding of its events); otherwise in the environment's, with no policy."""
    from {{ cookiecutter.package_name }}.lambdas.approval import rule
    from {{ cookiecutter.package_name }}.pipelines.layout import multi_account, package_group, tooling_account
    from {{ cookiecutter.package_name }}.registry.packages import group_of

    group = package_group(config, "dev")
    named = {"Fn::Sub": config["project"]["slug"] + "-${Environment}"}
    groups = resources(cicd, "AWS::SageMaker::ModelPackageGroup")
    if multi_account(config):
        owner = tooling_account(config)
        assert "ModelPackageGroup" not in environment["Resources"]
        assert sorted(g["ModelPackageGroupName"] for g in groups.values()) == sorted(
            config["project"]["slug"] + "-" + env for env in config["environments"]
        )
        by_arn = {"Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:" + owner + ":model-package-group/"
                  + config["project"]["slug"] + "-${Environment}"}  # fmt: skip
    else:
        owner, by_arn = "${AWS::AccountId}", named
        assert not groups, "the environment's own stack holds its group"
        group_resource = environment["Resources"]["ModelPackageGroup"]
        assert group_resource["Type"] == "AWS::SageMaker::ModelPackageGroup"
        assert group_resource["Properties"]["ModelPackageGroupName"] == named
        # The group lives in the environment's account, beside its Parameter Store, and only that
        # account's roles (by IAM, below) reach it: no resource policy grants any account anything.
        assert "ModelPackageGroupPolicy" not in group_resource["Properties"]
    approval_rule = environment["Resources"]["ModelApprovalRule"]["Properties"]
    pattern = json.loads(
        json_text(approval_rule["EventPattern"]).replace(json_text(named), json.dumps(group_of(group)))
    )
    assert pattern == rule(group)
    assert "PendingManualApproval" not in json_text(approval_rule["EventPattern"])
    (target,) = approval_rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": "ApprovalFunction.Arn"}
    permission = environment["Resources"]["ModelApprovalPermission"]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": "ModelApprovalRule.Arn"}
    variables = environment["Resources"]["ApprovalFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["PACKAGE_GROUP"] == by_arn
    assert "/model/manifest" in json_text(variables["MANIFEST_PARAMETER"])
    started = json.loads(environment["Resources"]["InferenceSchedule"]["Properties"]["Target"]["Input"]["Fn::Sub"][0])
    assert started["package_group"] == by_arn["Fn::Sub"]  # the daily start retries the mirror (lambdas/launcher.py)
    granted = {
        action: json_text(statement["Resource"])
        for name, statement in statements(environment)
        if name == "LambdaRole"
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        if action.startswith("sagemaker:") and action != "sagemaker:StartPipelineExecution"
    }
    scoped = json_text([
        {"Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:" + owner + ":" + kind + "/"
         + config["project"]["slug"] + "-${Environment}" + tail}
        for kind, tail in (("model-package-group", ""), ("model-package", "/*"))
    ])  # fmt: skip
    writes = ("DescribeModelPackageGroup", "CreateModelPackage", "DescribeModelPackage", "UpdateModelPackage")
    assert granted == {f"sagemaker:{a}": scoped for a in writes} | {"sagemaker:ListModelPackages": '"*"'}
