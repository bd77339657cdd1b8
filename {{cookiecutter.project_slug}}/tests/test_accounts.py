"""One AWS account per environment: the cross-account grants, and the deploy flow simulated across accounts.

The flow runs the real pipeline of infra/cicd.yml stage by stage against moto: the image build
(its buildspec's commands, with docker stood in), then each environment's deploy action, which
assumes the role its `RoleArn` names in that environment's account and runs the deploy
buildspec's commands there. An approval stage stops the flow until it is approved.
"""

import io
import json
import re
import shlex
import subprocess
import zipfile

import boto3
import pytest
import yaml
from moto import mock_aws

from {{ cookiecutter.package_name }} import (
    channels,
    cli,
    deploy_images,
)
from {{ cookiecutter.package_name }}.lambdas import (
    approval,
    available,
)
from {{ cookiecutter.package_name }}.pipelines import layout
from {{ cookiecutter.package_name }}.pipelines.definition import (
    definition,
)
from {{ cookiecutter.package_name }}.pipelines.names import (
    REGISTER,
)
from {{ cookiecutter.package_name }}.registry.digests import (
    PINNED,
)
from {{ cookiecutter.package_name }}.registry.manifest import (
    RegisteredModel,
    prefix,
)
from {{ cookiecutter.package_name }}.registry.packages import (
    group_of,
    package_request,
)

from .test_infra import ROOT, resources, statements, template

PULL_ACTIONS = {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"}
MIRROR_ACTIONS = {
    f"sagemaker:{a}" for a in ("DescribeModelPackageGroup", "ListModelPackages", "CreateModelPackage",
                               "DescribeModelPackage", "UpdateModelPackage")
}  # fmt: skip
ROLE_KINDS = {"deploy", "deploy-build", "sagemaker-execution"}


def sub(value):
    """A `!Sub` string with the partition filled in (the only variable the cross-account ARNs use)."""
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    return text.replace("${AWS::Partition}", "aws")


def as_list(value):
    return value if isinstance(value, list) else [value]


def role(config, env, kind):
    return f"arn:aws:iam::{layout.account(config, env)}:role/{config['project']['slug']}-{env}-{kind}"


# --- the grants ------------------------------------------------------------------------------


def cross_account_grants(config):
    """Every Allow statement of cicd.yml whose principal is an environment's account, with where it is."""
    accounts = set(config["aws"]["environment_accounts"].values())
    cicd = template("cicd.yml")
    found = [(name, s) for name, s in statements(cicd)]
    for name, repository in resources(cicd, "AWS::ECR::Repository").items():
        found += [(name, s) for s in repository["RepositoryPolicyText"]["Statement"]]
    grants = []
    for name, statement in found:
        principals = as_list(statement.get("Principal", {}).get("AWS", [])) if statement["Effect"] == "Allow" else []
        named = {a for p in principals for a in accounts if f"::{a}:" in sub(p)}
        if named:
            grants.append((name, statement, named))
    return grants


def test_every_cross_account_grant_names_exact_principals_and_exact_actions(config):
    grants = cross_account_grants(config)
    assert grants
    for name, statement, named in grants:
        (account,) = named
        env = next(e for e, a in config["aws"]["environment_accounts"].items() if a == account)
        actions = set(as_list(statement["Action"]))
        assert not [a for a in actions if "*" in a], f"{name} {statement['Sid']}: {actions}"
        if name.endswith("ModelPackageGroup"):  # people there promote too: the account's IAM picks its principals
            assert name == f"{env.capitalize()}ModelPackageGroup" and "Condition" not in statement
            assert actions == MIRROR_ACTIONS
            assert [sub(r) for r in statement["Resource"]] == [
                "arn:aws:sagemaker:${AWS::Region}:${AWS::AccountId}:" + kind + "/" + group_of(
                    layout.package_group(config, env)) + tail
                for kind, tail in (("model-package-group", ""), ("model-package", "/*"))
            ]  # fmt: skip
            continue
        # The account's root is only the door: the condition admits exact roles of that environment.
        principals = [sub(p) for p in as_list(statement["Condition"]["ArnEquals"]["aws:PrincipalArn"])]
        assert principals and not [p for p in principals if "*" in p], statement["Sid"]
        assert {p.rsplit(f"/{config['project']['slug']}-{env}-", 1)[-1] for p in principals} <= ROLE_KINDS
        assert all(p.startswith(f"arn:aws:iam::{account}:role/") for p in principals)
        if name.endswith("Repository"):
            assert actions == PULL_ACTIONS and principals == [role(config, env, "sagemaker-execution")]
        elif name == "ArtifactBucketPolicy":
            assert actions == {"s3:GetObject", "s3:GetObjectVersion"}
            assert sorted(principals) == sorted([role(config, env, "deploy"), role(config, env, "deploy-build")])
        else:  # the artifact key
            assert actions in ({"kms:Decrypt", "kms:DescribeKey"}, {"kms:Decrypt"})
            if actions == {"kms:Decrypt"}:  # image layers only, through ECR
                assert principals == [role(config, env, "sagemaker-execution")]
                assert statement["Condition"]["StringEquals"]["kms:ViaService"] == {
                    "Fn::Sub": "ecr.${AWS::Region}.amazonaws.com"
                }


def test_every_environment_gets_its_grants_and_no_other_account_any(config):
    grants = cross_account_grants(config)
    per_account = {}
    for name, _, named in grants:
        for account in named:
            per_account.setdefault(account, set()).add(name)
    assert set(per_account) == set(config["aws"]["environment_accounts"].values())
    repositories = {f"{c.capitalize()}Repository" for c in channels.COMPONENTS}
    for names in per_account.values():
        env = next(n.removesuffix("ModelPackageGroup") for n in names if n.endswith("ModelPackageGroup"))
        assert names == {"ArtifactKey", "ArtifactBucketPolicy", *repositories, f"{env}ModelPackageGroup"}


def test_studio_decisions_in_the_tooling_account_reach_each_environment_and_only_its_own(config):
    """Each group's approvals and rejections (never a pending package) are forwarded to its environment's
    default bus by one role, which may put events there and nowhere else; each bus admits that role's
    model registry events alone, and each environment's rule hears only its group, from the tooling account."""
    cicd, environment = template("cicd.yml"), template("environment.yml")
    tooling = layout.tooling_account(config)
    accounts = config["aws"]["environment_accounts"]
    buses = {env: "arn:aws:events:${AWS::Region}:" + accounts[env] + ":event-bus/default" for env in accounts}
    rules = resources(cicd, "AWS::Events::Rule")
    forwarding = f"{config['project']['slug']}-model-events"
    for env in config["environments"]:
        forward = rules[f"{env.capitalize()}ModelApprovalForward"]
        heard = approval.rule(layout.package_group(config, env))
        assert heard.pop("account") == [tooling]  # the forwarded events keep the account they happened in
        assert forward["EventPattern"] == heard
        (target,) = forward["Targets"]
        assert sub(target["Arn"]) == buses[env] and target["RoleArn"] == {"Fn::GetAtt": "ModelEventsRole.Arn"}
        # What cannot be delivered is kept and alarmed on, not lost (the next reconciliation would undo it).
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": "UndeliveredModelApprovals.Arn"}}
        # A name of its own: a single-account environment stack in this account has `-model-approval`.
        assert forward["Name"] == f"{config['project']['slug']}-{env}-model-approval-forward"
    queue_policy = cicd["Resources"]["UndeliveredModelApprovalsPolicy"]["Properties"]["PolicyDocument"]
    (keep,) = queue_policy["Statement"]
    assert keep["Principal"] == {"Service": "events.amazonaws.com"} and keep["Action"] == "sqs:SendMessage"
    assert keep["Condition"]["ArnEquals"]["aws:SourceArn"] == [
        {"Fn::GetAtt": f"{env.capitalize()}ModelApprovalForward.Arn"} for env in config["environments"]
    ]
    alarm = cicd["Resources"]["UndeliveredModelApprovalsAlarm"]["Properties"]
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": "UndeliveredModelApprovals.QueueName"}}
    ]
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    events_role = cicd["Resources"]["ModelEventsRole"]["Properties"]
    assert events_role["RoleName"] == forwarding
    (trust,) = events_role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    (policy,) = events_role["Policies"]
    (put,) = policy["PolicyDocument"]["Statement"]
    assert put["Action"] == "events:PutEvents" and sorted(sub(r) for r in put["Resource"]) == sorted(buses.values())
    bus = environment["Resources"]["ModelEventsFromTooling"]["Properties"]
    admitted = bus["Statement"]
    assert sub(admitted["Principal"]["AWS"]) == f"arn:aws:iam::{tooling}:root"
    assert admitted["Action"] == "events:PutEvents"
    assert sub(admitted["Condition"]["ArnEquals"]["aws:PrincipalArn"]) == f"arn:aws:iam::{tooling}:role/{forwarding}"
    assert admitted["Condition"]["StringEquals"] == {
        "events:source": "aws.sagemaker", "events:detail-type": approval.EVENT_TYPE
    }  # fmt: skip
    assert environment["Resources"]["ModelApprovalRule"]["Properties"]["EventPattern"]["account"] == [tooling]


def registered_folders(config, env, execution):
    """The folders Register records for one training execution, as the training definition names them."""
    steps = {step["Name"]: step for step in definition(config, env, "training")["Steps"]}
    output = re.compile(r"Steps\.(\w+)\.ProcessingOutputConfig\.Outputs\['(\w+)'\]\.S3Output\.S3Uri")

    def resolve(value):
        if value == {"Get": "Execution.PipelineExecutionId"}:
            return execution
        if isinstance(value, dict) and "Std:Join" in value:
            return value["Std:Join"]["On"].join(resolve(v) for v in value["Std:Join"]["Values"])
        if isinstance(value, dict) and "Get" in value:
            step, name = output.fullmatch(value["Get"]).groups()
            outputs = steps[step]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
            return resolve(next(o for o in outputs if o["OutputName"] == name)["S3Output"]["S3Uri"])
        return value

    register = steps[REGISTER]["Arguments"]
    return {name: resolve(register[name]) for name in ("baseline", "explainability", "gate_report")}


def test_the_tooling_accounts_reviewers_read_exactly_the_metric_files_its_studio_shows(config):
    """Every metric file a package points to (read from the training definition, through package_request)
    is readable from the tooling account, decrypted through S3 alone, and nothing else of the bucket is."""
    environment = template("environment.yml")
    tooling = f"arn:aws:iam::{layout.tooling_account(config)}:root"
    bucket_policy = environment["Resources"]["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (read,) = [s for s in bucket_policy if s["Effect"] == "Allow"]
    assert sub(read["Principal"]["AWS"]) == tooling and read["Action"] == "s3:GetObject"
    env = config["environments"][0]
    arn = "arn:aws:s3:::" + layout.bucket(config, env)
    granted = [sub(r).replace("${DataBucket.Arn}", arn) for r in read["Resource"]]
    folders = registered_folders(config, env, "EXECUTION")
    manifest = {"artifacts": {"model": "", "baseline": folders["baseline"],
                              "explainability": folders["explainability"]}, "gate": {"report": folders["gate_report"]},
                "digests": dict.fromkeys(PINNED, "0" * 64)}  # fmt: skip
    request = package_request("group", "parameter", RegisteredModel(1, [], manifest), "image", env)
    metrics = json.dumps([request["ModelMetrics"], request["DriftCheckBaselines"]])
    shown = re.findall(r'"S3Uri": "(s3://[^"]+)"', metrics)
    files = {"arn:aws:s3:::" + uri.removeprefix("s3://") for uri in shown}
    assert len(files) == 5
    # Any training execution's files, and only those files: the execution id is the one wildcard.
    assert sorted(granted) == sorted(file.replace("/EXECUTION/", "/*/") for file in files)
    (decrypt,) = [s for s in statements(environment) if s[0] == "DataKey" and s[1]["Sid"].startswith("Tooling")]
    decrypt = decrypt[1]
    assert sub(decrypt["Principal"]["AWS"]) == tooling and decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Condition"]["StringEquals"] == {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}
    contexts = [sub(c) for c in decrypt["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]]
    assert [c.replace("${Environment}", env).replace("${AWS::AccountId}", layout.account(config, env))
            for c in contexts] == [arn, arn + "/*"]  # fmt: skip


def test_each_environments_reviewers_get_one_policy_to_approve_its_models_and_read_what_they_approve(config):
    """`<slug>-<env>-model-reviewer`: the calls Studio makes to review that environment's group and no other, and
    the very metric files that environment's bucket lets the tooling account read, decrypted through S3."""
    cicd, environment = template("cicd.yml"), template("environment.yml")
    bucket_policy = environment["Resources"]["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (read,) = [s for s in bucket_policy if s["Effect"] == "Allow"]
    policies = resources(cicd, "AWS::IAM::ManagedPolicy")
    for env in config["environments"]:
        reviewer = policies[f"{env.capitalize()}ModelReviewerPolicy"]
        assert reviewer["ManagedPolicyName"] == f"{config['project']['slug']}-{env}-model-reviewer"
        found = {s["Sid"]: s for s in reviewer["PolicyDocument"]["Statement"]}
        group = group_of(layout.package_group(config, env))
        assert [sub(r) for r in found[f"Review{env.capitalize()}Packages"]["Resource"]] == [
            "arn:aws:sagemaker:${AWS::Region}:${AWS::AccountId}:model-package-group/" + group,
            "arn:aws:sagemaker:${AWS::Region}:${AWS::AccountId}:model-package/" + group + "/*",
        ]
        assert "sagemaker:UpdateModelPackage" in found[f"Review{env.capitalize()}Packages"]["Action"]
        arn = "arn:aws:s3:::" + layout.bucket(config, env)
        assert [sub(r) for r in found[f"Read{env.capitalize()}ModelMetrics"]["Resource"]] == [
            sub(r).replace("${DataBucket.Arn}", arn) for r in read["Resource"]
        ]
        decrypt = found[f"Decrypt{env.capitalize()}ModelMetrics"]
        assert sub(decrypt["Resource"]) == "arn:aws:kms:${AWS::Region}:" + layout.account(config, env) + ":key/*"
        assert [sub(c) for c in decrypt["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]] == [
            arn, arn + "/*"
        ]  # fmt: skip
        assert set(found) == {"ListGroups", f"Review{env.capitalize()}Packages", f"Read{env.capitalize()}ModelMetrics",
                              f"Decrypt{env.capitalize()}ModelMetrics"}  # fmt: skip


def test_only_the_tooling_pipeline_may_assume_a_deploy_role(config):
    target = template("target-account.yml")
    trust = target["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    pipeline_role = target["Mappings"]["Project"]["Names"]["PipelineRole"]
    assert (
        pipeline_role == f"arn:aws:iam::{layout.tooling_account(config)}:role/{config['project']['slug']}-codepipeline"
    )
    assert trust == [
        {"Effect": "Allow", "Principal": {"AWS": {"Fn::FindInMap": ["Project", "Names", "PipelineRole"]}},
         "Action": "sts:AssumeRole"}
    ]  # fmt: skip
    for name, statement in statements(target):
        actions = as_list(statement["Action"])
        assert not [a for a in actions if re.match(r"^(\*|[a-z0-9-]+:\*)$", a)], f"{name}: {actions}"
        if name != "LogKey":
            assert statement.get("Resource") != "*", f"{name} {statement.get('Sid')}: scope it to this project"
    cicd = template("cicd.yml")
    assumed = next(s for n, s in statements(cicd) if n == "PipelineRole" and s.get("Sid") == "AssumeDeployRoles")
    assert sorted(sub(r) for r in assumed["Resource"]) == sorted(
        role(config, e, "deploy") for e in config["environments"]
    )


def test_each_deploy_action_assumes_its_environments_role_after_an_approval(config):
    (pipeline,) = resources(template("cicd.yml"), "AWS::CodePipeline::Pipeline").values()
    stages = {stage["Name"]: stage for stage in pipeline["Stages"]}
    names = [stage["Name"] for stage in pipeline["Stages"]]
    for index, env in enumerate(config["environments"]):
        (action,) = stages[f"Deploy{env.capitalize()}"]["Actions"]
        assert sub(action["RoleArn"]) == role(config, env, "deploy")
        assert action["Configuration"]["ProjectName"] == f"{config['project']['slug']}-deploy-{env}"
        assert [a["Name"] for a in action["InputArtifacts"]] == ["Code", "Images"]
        if index:
            assert names[names.index(f"Deploy{env.capitalize()}") - 1] == f"Approve{env.capitalize()}"
    assert not resources(template("cicd.yml"), "AWS::CodeBuild::Project").keys() & {
        f"Deploy{e.capitalize()}Project" for e in config["environments"]
    }, "deploy projects live in the environments' accounts"


def test_the_execution_role_pulls_from_the_tooling_accounts_repositories(config):
    environment = template("environment.yml")
    policy = environment["Resources"]["SageMakerExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    pull = next(s for s in policy["Statement"] if s["Sid"] == "PullProjectImages")
    assert f":{layout.tooling_account(config)}:repository/{config['project']['slug']}-*" in sub(pull["Resource"])
    decrypt = next(s for s in policy["Statement"] if s["Sid"] == "DecryptProjectImages")
    assert decrypt["Action"] == "kms:Decrypt" and decrypt["Resource"] == {"Ref": "ImageKeyArn"}


# --- the flow --------------------------------------------------------------------------------


class ApprovalPending(RuntimeError):
    """The pipeline stops at an approval nobody gave."""


def buildspec_commands(name):
    """The package CLI commands of a buildspec's build phase, as argument lists (shell variables kept)."""
    spec = yaml.safe_load((ROOT / "buildspecs" / name).read_text())
    commands = []
    for command in spec["phases"]["build"]["commands"]:
        match = re.search(r"-m \S+ (.+?)(?: --json)?(?: > \S+)?$", command)
        if match and not command.startswith("if "):
            commands.append(match.group(1))
    return commands


def expand(command, variables):
    return [re.sub(r"\$\{?(\w+)\}?", lambda m: variables[m.group(1)], word) for word in shlex.split(command)]


def session_for(client, role_arn):
    credentials = client.assume_role(RoleArn=role_arn, RoleSessionName="pipeline")["Credentials"]
    return credentials, boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="eu-west-1",
    )


def use_credentials(monkeypatch, credentials):
    """What CodeBuild gives the commands: these credentials, in a fresh process (no cached session)."""
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", credentials["SessionToken"])


def fake_docker(arguments, **_):
    """docker build / push / inspect, as the image build calls them: each image gets its own digest."""
    import hashlib

    command = arguments[1:]
    if command[0] == "manifest":  # no earlier image to cache from
        return subprocess.CompletedProcess(arguments, 1, "", "no such manifest")
    output = ""
    if command[0] == "inspect":
        repository = command[-1].rsplit(":", 1)[0]
        output = f"{repository}@sha256:{hashlib.sha256(repository.encode()).hexdigest()}"
    return subprocess.CompletedProcess(arguments, 0, output, "")


def bootstrap(config, env, session):
    """What an environment account holds before its first deploy: environment.yml's bucket and Lambdas."""
    session.client("s3").create_bucket(
        Bucket=layout.bucket(config, env), CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    iam = session.client("iam")
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    arn = iam.create_role(RoleName=f"{env}-lambda", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    for function in available():
        session.client("lambda").create_function(
            FunctionName=layout.name(config, env, function), Runtime="python3.12", Role=arn,
            Handler="handler.handler", Code={"ZipFile": code.getvalue()},
        )  # fmt: skip


def run_pipeline(config, monkeypatch, tmp_path, approved, deployed):
    """CodePipeline's stages in order: build the images, then per environment an approval and a deploy."""
    (pipeline,) = resources(template("cicd.yml"), "AWS::CodePipeline::Pipeline").values()
    base = boto3.client("sts", region_name="eu-west-1")
    tooling_role = f"arn:aws:iam::{layout.tooling_account(config)}:role/{config['project']['slug']}-codepipeline"
    tooling_credentials, tooling = session_for(base, tooling_role)
    images = tmp_path / "Images" / "images.json"
    for stage in pipeline["Stages"]:
        (action,) = stage["Actions"]
        name = stage["Name"]
        if name == "BuildImages":
            images.parent.mkdir(parents=True, exist_ok=True)
            use_credentials(monkeypatch, tooling_credentials)
            monkeypatch.setattr(deploy_images.subprocess, "run", fake_docker)
            variables = {"DEPLOY_ENV": config["environments"][0], "CODEBUILD_RESOLVED_SOURCE_VERSION": "3f2c1ab"}
            for command in buildspec_commands("build-images.yml"):
                assert cli.main([*expand(command, variables)[:-1], str(images)]) == 0  # --out <artifact>
        elif name.startswith("Approve"):
            if name.removeprefix("Approve").lower() not in approved:
                raise ApprovalPending(f"{name} is waiting for approval")
        elif name.startswith("Deploy"):
            env = name.removeprefix("Deploy").lower()
            if env in deployed:
                continue
            credentials, _ = session_for(tooling.client("sts"), sub(action["RoleArn"]))
            use_credentials(monkeypatch, credentials)
            variables = {"DEPLOY_ENV": env, "CODEBUILD_SRC_DIR_Images": str(images.parent)}
            for command in buildspec_commands("deploy.yml"):
                assert cli.main(expand(command, variables)) == 0, command
            deployed.add(env)


def parameters(session):
    ssm = session.client("ssm")
    return sorted(p["Name"] for page in ssm.get_paginator("describe_parameters").paginate() for p in page["Parameters"])


def pipelines(session):
    return sorted(p["PipelineName"] for p in session.client("sagemaker").list_pipelines()["PipelineSummaries"])


@pytest.fixture
def accounts(config, monkeypatch):
    monkeypatch.delenv("MOTO_ACCOUNT_ID", raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        base = boto3.client("sts", region_name="eu-west-1")
        sessions = {}
        for env in config["environments"]:
            _, sessions[env] = session_for(base, role(config, env, "deploy"))
            bootstrap(config, env, sessions[env])
        _, sessions["tooling"] = session_for(
            base, f"arn:aws:iam::{layout.tooling_account(config)}:role/{config['project']['slug']}-codepipeline"
        )
        yield sessions


def test_the_first_environment_deploys_and_the_next_waits_for_its_approval(config, accounts, monkeypatch, tmp_path):
    first, *later = config["environments"]
    deployed = set()
    with pytest.raises(ApprovalPending, match=f"Approve{later[0].capitalize()} is waiting"):
        run_pipeline(config, monkeypatch, tmp_path, approved=set(), deployed=deployed)
    assert deployed == {first}
    own = prefix(config, first)
    assert [p for p in parameters(accounts[first]) if p.startswith(f"{own}/images/")] == sorted(
        f"{own}/images/{c}" for c in channels.COMPONENTS
    )
    assert pipelines(accounts[first]) == sorted(
        layout.pipeline_name(config, first, k) for k in ("inference", "quality", "training")
    )
    for env in later:  # refused: nothing reached an account whose approval is pending
        assert parameters(accounts[env]) == [] and pipelines(accounts[env]) == []
    assert parameters(accounts["tooling"]) == []


def test_after_each_approval_every_parameter_lands_in_its_own_account(config, accounts, monkeypatch, tmp_path):
    deployed = set()
    run_pipeline(config, monkeypatch, tmp_path, approved=set(config["environments"][1:]), deployed=deployed)
    assert deployed == set(config["environments"])
    pinned = {}
    for env in config["environments"]:
        names = parameters(accounts[env])
        assert names and all(n.startswith(prefix(config, env) + "/") for n in names), names
        ssm = accounts[env].client("ssm")
        pinned[env] = {c: ssm.get_parameter(Name=f"{prefix(config, env)}/images/{c}")["Parameter"]["Value"]
                       for c in channels.COMPONENTS}  # fmt: skip
        definition = (
            accounts[env]
            .client("sagemaker")
            .describe_pipeline(PipelineName=layout.pipeline_name(config, env, "training"))
        )
        assert definition["RoleArn"] == role(config, env, "sagemaker-execution")
        marker = accounts[env].client("s3").list_objects_v2(Bucket=layout.bucket(config, env))["Contents"]
        assert sorted(o["Key"] for o in marker) == ["empty/.keep", "inputs/.keep", "labels/.keep", "predictions/.keep"]
    registry = f"{layout.tooling_account(config)}.dkr.ecr.eu-west-1.amazonaws.com/"
    first = pinned[config["environments"][0]]
    assert all(uri.startswith(registry) and "@sha256:" in uri for uri in first.values())
    assert all(p == first for p in pinned.values()), "every environment runs the images the first one tested"
    assert parameters(accounts["tooling"]) == []


def test_images_that_are_not_this_projects_pinned_images_are_refused(config, tmp_path):
    from {{ cookiecutter.package_name }}.deploy_images import record_images
    from {{ cookiecutter.package_name }}.registry.store import FileParameterStore

    good = {c: f"{deploy_images.repository(config, c)}@sha256:{'a' * 64}" for c in channels.COMPONENTS}
    store = FileParameterStore(tmp_path)
    assert record_images(config, config["environments"][0], good, store) == good
    for bad in (
        {**good, "algorithm": good["algorithm"].replace("@sha256:", ":latest@sha256:")},
        {**good, "processing": "111111111111.dkr.ecr.eu-west-1.amazonaws.com/other@sha256:" + "a" * 64},
        {k: v for k, v in good.items() if k != "monitoring"},
    ):
        with pytest.raises(ValueError, match="not this project's pinned images"):
            record_images(config, config["environments"][0], bad, store)
