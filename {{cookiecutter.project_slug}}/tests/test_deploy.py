"""Deployment upserts both pipelines with digest-pinned images, against moto."""

import io
import json
import subprocess
import sys
import zipfile

import pytest
from moto import mock_aws

from {{ cookiecutter.package_name }}.deploy_images import (
    build_and_push,
    promote_images,
)
from {{ cookiecutter.package_name }}.lambdas import (
    available,
)
from {{ cookiecutter.package_name }}.pipelines import names
from {{ cookiecutter.package_name }}.pipelines.deploy import (
    lambda_package,
    publish_lambdas,
    upsert,
)
from {{ cookiecutter.package_name }}.registry.digests import (
    serving_digests,
)
from {{ cookiecutter.package_name }}.registry.manifest import (
    image_parameter,
    prefix,
)
from {{ cookiecutter.package_name }}.registry.store import (
    SsmParameterStore,
)

from .conftest import DIGESTS, aws_client

COMPONENTS = ("processing", "algorithm", "monitoring", "explainability")


@pytest.fixture
def aws(config):
    with mock_aws():
        region = config["aws"]["region"]
        yield SsmParameterStore(aws_client("ssm", region)), aws_client("sagemaker", region)


def pin_images(store, config, digest="a" * 64, pinned=True):
    for c in COMPONENTS:
        suffix = f"@sha256:{digest}" if pinned else ":latest"
        store.put(image_parameter(config, "dev", c), f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/x-{c}{suffix}")


def test_upsert_creates_then_updates_both_pipelines_and_records_arns(aws, config):
    store, sagemaker = aws
    pin_images(store, config)
    arns = upsert(config, "dev", client=sagemaker, store=store)
    assert set(arns) == {"training", "inference", "quality"}
    assert store.get(f"{prefix(config, 'dev')}/pipelines/training").value == arns["training"]
    described = sagemaker.describe_pipeline(PipelineName=arns["training"].rsplit("/", 1)[-1])
    parameters = {p["Name"]: p.get("DefaultValue") for p in json.loads(described["PipelineDefinition"])["Parameters"]}
    assert parameters["AlgorithmImage"].endswith("x-algorithm@sha256:" + "a" * 64)
    pin_images(store, config, digest="b" * 64)
    assert upsert(config, "dev", client=sagemaker, store=store) == arns
    described = sagemaker.describe_pipeline(PipelineName=arns["inference"].rsplit("/", 1)[-1])
    assert "b" * 64 in described["PipelineDefinition"]


MARKERS = ["predictions/.keep", "labels/.keep", "inputs/.keep", "empty/.keep"]


def test_deploy_seeds_the_shared_input_prefixes_with_empty_markers(aws, config):
    from {{ cookiecutter.package_name }}.pipelines.deploy import seed_markers
    from {{ cookiecutter.package_name }}.pipelines.layout import bucket

    s3 = aws_client("s3", config["aws"]["region"])
    name = bucket(config, "dev")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": config["aws"]["region"]})
    assert seed_markers(config, "dev", s3) == [f"s3://{name}/{key}" for key in MARKERS]
    for key in MARKERS:
        assert s3.get_object(Bucket=name, Key=key)["ContentLength"] == 0


def test_a_retrain_started_by_hand_on_aws_grows_the_promoted_models_data(aws, config):
    """`pipelines retrain`: what the retrain Lambda would start, for repositories that only alert too."""
    from {{ cookiecutter.package_name }}.lambdas.services import S3Objects
    from {{ cookiecutter.package_name }}.pipelines.executions import retrain
    from {{ cookiecutter.package_name }}.pipelines.layout import bucket
    from {{ cookiecutter.package_name }}.registry.manifest import ModelRegistry, manifest_parameter

    store, sagemaker = aws
    pin_images(store, config)
    upsert(config, "dev", client=sagemaker, store=store)
    s3 = aws_client("s3", config["aws"]["region"])
    name = bucket(config, "dev")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": config["aws"]["region"]})
    registry = ModelRegistry(store, manifest_parameter(config, "dev"))
    data = f"s3://{name}/data/train/sha256={'d' * 64}/"
    model = f"s3://{name}/runs/training/x/model.tar.gz"
    artifacts = {"model": model, "preprocessing": "s3://p", "baseline": "s3://b", "explainability": "s3://e"}
    registry.register(
        {"run_id": "x", "pipeline_execution": "x", "trained_at": "2026-11-24T06:00:00+00:00", "training_data": data,
         "artifacts": artifacts, "digests": DIGESTS, "metrics": {}, "git_sha": "a", "template_version": "0"}
    )  # fmt: skip
    objects = S3Objects(s3)
    with pytest.raises(ValueError, match="Nothing to retrain on: no version of"):
        retrain(config, "dev", store=store, objects=objects, client=sagemaker)
    registry.promote(1)
    with pytest.raises(ValueError, match=r"Nothing to retrain on: 0 labelled row\(s\) in 0 file\(s\) arrived"):
        retrain(config, "dev", store=store, objects=objects, client=sagemaker)
    rows = "".join(f"id-{i},x\n" for i in range(config["retraining"]["min_new_labelled_rows"]))
    s3.put_object(Bucket=name, Key="labels/2026/11/25/06/l.csv", Body=f"inference_id,y\n{rows}".encode())
    started = retrain(config, "dev", "age_out", store=store, objects=objects, client=sagemaker)
    assert started["new_labelled_rows"] == config["retraining"]["min_new_labelled_rows"]
    given = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=started["execution_arn"])
    assert {p["Name"]: p["Value"] for p in given["PipelineParameters"]} == {
        "InputData": data, "ProductionInputs": f"s3://{name}/inputs/", "ProductionLabels": f"s3://{name}/labels/",
        "ChampionModelUri": model, "ChampionVersion": "1", "BaseRows": "age_out",
        "ChampionDigests": serving_digests({"digests": DIGESTS}),
    }  # fmt: skip


def test_each_pipeline_request_is_valid_and_carries_the_configured_parallelism(config):
    import botocore.session
    from botocore.validate import ParamValidator

    from {{ cookiecutter.package_name }}.pipelines.deploy import pipeline_request

    model = botocore.session.get_session().get_service_model("sagemaker")
    images = {c: f"1.dkr.ecr.eu-west-1.amazonaws.com/x-{c}@sha256:{'a' * 64}" for c in COMPONENTS}
    for kind in ("training", "inference", "quality"):
        request = pipeline_request(config, "dev", kind, images)
        # botocore fills CreatePipeline's idempotency token itself
        for operation, extra in (("CreatePipeline", {"ClientRequestToken": "t" * 32}), ("UpdatePipeline", {})):
            report = ParamValidator().validate(request | extra, model.operation_model(operation).input_shape)
            assert not report.has_errors(), report.generate_report()
        assert request["ParallelismConfiguration"] == {
            "MaxParallelExecutionSteps": config["pipelines"]["max_parallel_steps"]
        }


def test_upsert_refuses_missing_images(aws, config):
    store, sagemaker = aws
    with pytest.raises(ValueError, match="build and push the images first"):
        upsert(config, "dev", client=sagemaker, store=store)


def test_upsert_refuses_unpinned_images(aws, config):
    store, sagemaker = aws
    pin_images(store, config, pinned=False)
    with pytest.raises(ValueError, match="not pinned by digest"):
        upsert(config, "dev", client=sagemaker, store=store)


def test_lambda_package_holds_only_light_modules_and_imports_without_pandas(tmp_path, config):
    package = config["project"]["package"]
    archive = zipfile.ZipFile(io.BytesIO(lambda_package()))
    names = archive.namelist()
    assert f"{package}/lambdas/register.py" in names and f"{package}/registry/store.py" in names
    assert not [n for n in names if "/components/" in n or "/pipelines/" in n]
    archive.extractall(tmp_path)
    probe = (
        "import sys\n"
        + "".join(f"import {package}.lambdas.{f}\n" for f in available())
        + "heavy = sorted(m for m in ('pandas', 'numpy', 'sklearn', 'sagemaker') if m in sys.modules)\n"
        + "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_publish_replaces_each_lambdas_code(aws, config):
    region = config["aws"]["region"]
    iam = aws_client("iam", region)
    role = iam.create_role(RoleName="lambda", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    client = aws_client("lambda", region)
    for function in available():
        client.create_function(
            FunctionName=f"{config['project']['slug']}-dev-{function}",
            Runtime="python3.11",
            Role=role,
            Handler=f"{config['project']['package']}.lambdas.{function}.handler",
            Code={"ZipFile": b"placeholder"},
        )
    published = publish_lambdas(config, "dev", client=client)
    assert set(published) == set(available())
    assert len(set(published.values())) == 1


class FakeDocker:
    """Records docker calls; answers `inspect` with a digest, as a registry push would."""

    def __init__(self, digest="c" * 64, cached=False):
        self.calls = []
        self.digest = digest
        self.cached = cached

    def __call__(self, arguments):
        self.calls.append(list(arguments))
        if arguments[0] == "manifest" and not self.cached:
            raise RuntimeError("no such manifest")
        if arguments[0] == "inspect":
            return f"{arguments[-1].split(':')[0]}@sha256:{self.digest}"
        return ""


def test_images_are_built_pushed_and_recorded_by_digest(aws, config):
    store, _ = aws
    docker = FakeDocker()
    pinned = build_and_push(config, "dev", "3f2c1ab", store, run=docker)
    assert set(pinned) == set(COMPONENTS)
    for component in COMPONENTS:
        uri = store.get(image_parameter(config, "dev", component)).value
        assert uri == pinned[component] and uri.endswith("@sha256:" + "c" * 64)
    builds = [c for c in docker.calls if c[0] == "build"]
    assert len(builds) == 4 and all("--cache-from" in c for c in builds)
    assert all(c[c.index("--file") + 1].startswith("docker/") for c in builds)
    pushes = [c[1] for c in docker.calls if c[0] == "push"]
    assert all(p.endswith(":3f2c1ab") for p in pushes), "tags are immutable: push only the git sha tag"


def test_bad_tag_and_missing_digest_are_refused(aws, config):
    store, _ = aws
    with pytest.raises(ValueError, match="plain git sha"):
        build_and_push(config, "dev", "latest:1", store, run=FakeDocker())
    with pytest.raises(RuntimeError, match="did not report a pushed digest"):
        build_and_push(config, "dev", "abc", store, run=lambda _args: "")


def test_promotion_copies_the_tested_digests(aws, config):
    store, _ = aws
    if len(config["environments"]) < 2:
        pytest.skip("a single environment has nothing to promote to")
    source, target = config["environments"][:2]
    pin_images(store, config, digest="d" * 64)
    for component in COMPONENTS:
        store.put(
            image_parameter(config, source, component), store.get(image_parameter(config, "dev", component)).value
        )
    promote_images(config, source, target, store)
    assert store.get(image_parameter(config, target, "algorithm")).value.endswith("d" * 64)


def stubbed_sagemaker(config):
    from botocore.stub import Stubber

    client = aws_client("sagemaker", config["aws"]["region"], aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def execution_arn(config, kind, execution):
    pipeline = f"{config['project']['slug']}-dev-{kind}"
    return f"arn:aws:sagemaker:eu-west-1:123456789012:pipeline/{pipeline}/execution/{execution}"


def test_a_selective_start_references_the_latest_finished_execution(config):
    from botocore.stub import ANY

    from {{ cookiecutter.package_name }}.pipelines.executions import start_execution

    client, stub = stubbed_sagemaker(config)
    name = f"{config['project']['slug']}-dev-training"
    stub.add_response(
        "list_pipeline_executions",
        {
            "PipelineExecutionSummaries": [
                {
                    "PipelineExecutionArn": execution_arn(config, "training", "running"),
                    "PipelineExecutionStatus": "Executing",
                },
                {
                    "PipelineExecutionArn": execution_arn(config, "training", "failed"),
                    "PipelineExecutionStatus": "Failed",
                },
            ]
        },
        {"PipelineName": name, "SortBy": "CreationTime", "SortOrder": "Descending"},
    )
    stub.add_response(
        "start_pipeline_execution",
        {"PipelineExecutionArn": execution_arn(config, "training", "new")},
        {
            "PipelineName": name,
            "PipelineParameters": [],
            "ClientRequestToken": ANY,
            "ParallelismConfiguration": {"MaxParallelExecutionSteps": config["pipelines"]["max_parallel_steps"]},
            "SelectiveExecutionConfig": {
                "SourcePipelineExecutionArn": execution_arn(config, "training", "failed"),
                "SelectedSteps": [{"StepName": names.EXPLAINABILITY}, {"StepName": names.REGISTER}],
            },
        },
    )
    with stub:
        started = start_execution(
            config, "dev", "training", steps=[names.EXPLAINABILITY, names.REGISTER], client=client
        )
    stub.assert_no_pending_responses()
    assert started["execution_arn"].endswith("/execution/new")


def test_a_selection_that_is_not_connected_is_refused_before_any_call(config):
    from {{ cookiecutter.package_name }}.pipelines.executions import start_execution

    client, stub = stubbed_sagemaker(config)
    with stub, pytest.raises(ValueError, match="lie on a path between selected steps"):
        start_execution(config, "dev", "training", steps=["Processing", names.REGISTER], client=client)


def test_a_plain_start_passes_its_parameters_and_a_retry_its_arn(config):
    from botocore.stub import ANY

    from {{ cookiecutter.package_name }}.pipelines.executions import retry_execution, start_execution

    client, stub = stubbed_sagemaker(config)
    parallelism = {"MaxParallelExecutionSteps": config["pipelines"]["max_parallel_steps"]}
    stub.add_response(
        "start_pipeline_execution",
        {"PipelineExecutionArn": execution_arn(config, "training", "one")},
        {
            "PipelineName": f"{config['project']['slug']}-dev-training",
            "PipelineParameters": [{"Name": "InputData", "Value": "s3://b/data/train/sha256=" + "0" * 64 + "/"}],
            "ClientRequestToken": ANY,
            "ParallelismConfiguration": parallelism,
        },
    )
    failed = execution_arn(config, "training", "failed")
    stub.add_response(
        "retry_pipeline_execution",
        {"PipelineExecutionArn": failed},
        {"PipelineExecutionArn": failed, "ClientRequestToken": ANY, "ParallelismConfiguration": parallelism},
    )
    with stub:
        start_execution(
            config, "dev", "training", {"InputData": "s3://b/data/train/sha256=" + "0" * 64 + "/"}, client=client
        )
        assert retry_execution(config, failed, client=client) == failed
    stub.assert_no_pending_responses()


def test_a_data_snapshot_is_named_by_its_sha256_and_uploaded_once(config, tmp_path):
    import hashlib

    from {{ cookiecutter.package_name }}.pipelines import layout
    from {{ cookiecutter.package_name }}.pipelines.executions import snapshot_data

    data = tmp_path / "train.csv"
    data.write_text("a,b\n1,2\n")
    with mock_aws():
        s3 = aws_client("s3", config["aws"]["region"])
        bucket = layout.bucket(config, "dev")
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": config["aws"]["region"]})
        first = snapshot_data(config, "dev", data, client=s3)
        digest = hashlib.sha256(data.read_bytes()).hexdigest()
        assert first == {"uri": f"s3://{bucket}/data/train/sha256={digest}/", "sha256": digest, "uploaded": "1"}
        assert s3.get_object(Bucket=bucket, Key=f"data/train/sha256={digest}/train.csv")["Body"].read() == b"a,b\n1,2\n"
        assert snapshot_data(config, "dev", data, client=s3)["uploaded"] == "0"
        data.write_text("a,b\n1,3\n")
        assert snapshot_data(config, "dev", data, client=s3)["sha256"] != digest  # other content, another prefix
