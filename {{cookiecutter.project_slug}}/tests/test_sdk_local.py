"""The images as SageMaker's own client runs them: the SDK's local mode (`make sdk-local-test`).

Every job is the pipeline definition's own step request (CreateProcessingJob's,
CreateTrainingJob's, CreateModel's, CreateTransformJob's), with its parameters resolved to
local values and its S3 URIs to local files, sent to LocalSession's SageMaker client:
processing train, a Training job, processing serve, then a Batch Transform through the model
server, and two jobs that must fail, with their reasons where SageMaker reads them. The SDK
creates /opt/ml/input/data mode 0700, root's, so the Training job also proves that the image
reads inputs only root can read. Needs `make images`, docker-compose and podman (or docker).
"""

from __future__ import annotations

import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.components.algorithm import estimators
from {{ cookiecutter.package_name }}.images import (
    detect_engine,
    image_name,
    require_images,
)
from {{ cookiecutter.package_name }}.local.expressions import (
    Resolver,
)
from {{ cookiecutter.package_name }}.local.transform import (
    batch_transform,
)
from {{ cookiecutter.package_name }}.pipelines import names
from {{ cookiecutter.package_name }}.pipelines.definition import (
    definition,
)
from {{ cookiecutter.package_name }}.pipelines.layout import (
    COMPONENTS,
)
from {{ cookiecutter.package_name }}.registry.digests import (
    DIGESTS_ENV,
    archive_contents_digest,
    file_sha256,
    folder_digest,
)
from {{ cookiecutter.package_name }}.sample_data import (
    generate,
)

from .conftest import a_bad_hyperparameter, free_port
from .sdk_local_mode import (
    CheckFailed,
    JobWatch,
    docker_api,
    local_client,
    transform_with_data_processing,
    unpacked_model,
    unsharded,
    with_entrypoint,
)

pytestmark = pytest.mark.sdk_local

EXECUTION = "sdk-local"
# The training pipeline's Processing step names its input by content (step caching needs it).
SNAPSHOT = "Steps.TrainingDataSnapshot.ProcessingOutputConfig.Outputs['snapshot'].S3Output.S3Uri"
PROCESSED = "Steps.Processing.ProcessingOutputConfig.Outputs['{}'].S3Output.S3Uri"


def step(definition: dict, name: str) -> dict[str, Any]:
    return next(s["Arguments"] for s in definition["Steps"] if s["Name"] == name)


def resolve(node: Any, values: dict[str, Any]) -> Any:
    """The definition's expressions with local values (`values` maps each Get path), as the executor resolves them."""

    def lookup(_tokens: list[str | int], path: str) -> Any:
        if path not in values:
            raise CheckFailed(f"no local value for {path}: the step reads something this check does not give")
        return values[path]

    return Resolver(lookup)(node)


def local_values(definition: dict, config: dict, **given: Any) -> dict[str, Any]:
    """Parameter defaults, instance type "local", the built images and the execution; then `given`.

    A bare name in `given` is a parameter; "Steps..." paths are step properties.
    """
    values = {f"Parameters.{p['Name']}": p["DefaultValue"] for p in definition["Parameters"] if "DefaultValue" in p}
    values.update({key: "local" for key in values if key.endswith("InstanceType")})
    values.update({f"Parameters.{c.capitalize()}Image": f"{image_name(config, c)}:latest" for c in COMPONENTS})
    values["Parameters.ProcessingInstanceCount"] = 1
    values["Execution.PipelineExecutionId"] = EXECUTION
    values["Execution.StartDateTime"] = datetime.now(UTC).isoformat(timespec="seconds")
    values.update({(key if "." in key else f"Parameters.{key}"): value for key, value in given.items()})
    return values


def readable(path: Path) -> Path:
    """A folder the SDK mounts as it is: 0755, as an S3 download would be."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


class Jobs:
    """The definitions' steps, sent to LocalSession's client; each job's record by name."""

    def __init__(self, engine, config, definitions, work: Path, client, watch: JobWatch) -> None:
        self.engine, self.config, self.work, self.client, self.watch = engine, config, work, client, watch
        self.training, self.inference = definitions["training"], definitions["inference"]
        self.records: dict[str, dict[str, Any]] = {}
        self.data_processing: dict[str, str] = {}

    def processing(self, name: str, definition: dict, inputs: dict[str, Path], **given: Any) -> dict[str, Any]:
        args = resolve(step(definition, "Processing"), local_values(definition, self.config, **given))
        for item in args["ProcessingInputs"]:
            item["S3Input"]["S3Uri"] = f"file://{inputs[item['InputName']]}"
        for item in args["ProcessingOutputConfig"]["Outputs"]:
            item["S3Output"]["S3Uri"] = f"file://{readable(self.work / name / item['OutputName'])}"
        args["AppSpecification"] = with_entrypoint(self.engine, args["AppSpecification"])
        args["ProcessingInputs"] = unsharded(args["ProcessingInputs"])
        return self.record(name, self.client.create_processing_job, ProcessingJobName=name, **args)

    def training_job(self, name: str, prepared: Path, **hyperparameters: str) -> dict[str, Any]:
        channels = {PROCESSED.format(c): f"file://{prepared / c}" for c in ("train", "validation", "artifacts")}
        args = resolve(step(self.training, "Training"), local_values(self.training, self.config, **channels))
        args["HyperParameters"] = {**args.get("HyperParameters", {}), **hyperparameters}
        args["OutputDataConfig"]["S3OutputPath"] = f"file://{readable(self.work / name)}"
        return self.record(name, self.client.create_training_job, TrainingJobName=name, **args)

    def record(self, name: str, call, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.records[name] = self.watch.run(call, *args, **kwargs)
        return self.records[name]


@pytest.fixture(scope="module")
def jobs(config, target, problem_type, tmp_path_factory):
    """Every job once, in pipeline order, through the SDK's local mode on the built images."""
    engine = detect_engine()
    require_images(config, engine)
    work = readable(tmp_path_factory.mktemp("sdk-local"))
    data = readable(work / "data")
    generate(1000, target_column=target, problem_type=problem_type, seed=5).to_csv(
        readable(data / "train") / "train.csv", index=False
    )
    batch = generate(400, target_column=target, problem_type=problem_type, seed=6).drop(columns=[target])
    batch.to_csv(readable(data / "batch") / "batch.csv", index=False)
    readable(data / "bad")
    batch.to_csv(data / "bad" / "train.csv", index=False)  # training rows without the target column
    definitions = {kind: definition(config, "dev", kind) for kind in ("training", "inference")}
    with docker_api(engine, work), JobWatch(engine).installed() as watch:
        run = Jobs(engine, config, definitions, work, local_client(readable(work / "containers"), free_port()), watch)
        snapshot = {SNAPSHOT: f"s3://bucket/data/train/sha256={file_sha256(data / 'train' / 'train.csv')}/"}
        run.processing("processing-train", run.training, {"raw": data / "train"}, **snapshot)
        run.training_job("training", work / "processing-train")
        archive = work / "training" / "model.tar.gz"
        if not archive.is_file():
            pytest.fail(f"the training job wrote no model.tar.gz: {run.records['training']}")
        artifacts = work / "processing-train" / "artifacts"
        digests = {
            "model": file_sha256(archive),
            "model_contents": archive_contents_digest(archive),
            "preprocessing": folder_digest(artifacts),
        }
        given = {
            "InputData": f"file://{data / 'batch'}",
            "PreprocessingUri": f"file://{artifacts}",
            "BaselineUri": "",
            "ModelUri": unpacked_model(archive, work / "model"),
            "ArtifactDigests": json.dumps(digests),
            PROCESSED.format("processed"): f"file://{work / 'processing-serve' / 'processed'}",
            "Steps.CreateModel.ModelName": "model",
        }
        run.processing("processing-serve", run.inference, {"raw": data / "batch", "artifacts": artifacts}, **given)
        values = local_values(run.inference, config, **given)
        run.client.create_model(ModelName="model", **resolve(step(run.inference, names.CREATE_MODEL), values))
        transform = resolve(step(run.inference, "Transform"), values)
        run.data_processing = dict(transform["DataProcessing"])
        run.record("transform", transform_with_data_processing, run.client, "transform", transform, work / "transform")
        bad = {SNAPSHOT: f"s3://bucket/data/train/sha256={file_sha256(data / 'bad' / 'train.csv')}/"}
        run.processing("processing-bad", run.training, {"raw": data / "bad"}, **bad)
        key, value = a_bad_hyperparameter(config)
        run.training_job("training-bad", work / "processing-train", **{key: value})
    yield run


def _succeeded(jobs, name: str) -> dict[str, Any]:
    record = jobs.records[name]
    assert not record["failed"], f"{name} failed through the SDK's local mode: {record}"
    return record


def test_processing_train_through_the_sdk_publishes_every_output(jobs):
    _succeeded(jobs, "processing-train")
    for output in ("train", "validation", "artifacts", "evaluation"):
        assert list((jobs.work / "processing-train" / output).iterdir()), f"nothing in the {output} output"
    assert (jobs.work / "processing-train" / "artifacts" / "schema.json").is_file()


def test_a_training_job_reads_the_sdks_root_only_inputs_and_packs_the_model(jobs):
    """The SDK makes /opt/ml/input/data 0700, root's: the image reads it as `app`, and trains."""
    _succeeded(jobs, "training")
    with tarfile.open(jobs.work / "training" / "model.tar.gz") as tar:
        assert estimators.resolve(jobs.config["algorithm"]["estimator"]).model_file in tar.getnames()
    described = jobs.client.describe_training_job(TrainingJobName="training")
    assert described["ModelArtifacts"]["S3ModelArtifacts"].endswith("model.tar.gz")


def test_batch_transform_through_the_sdk_publishes_what_local_mode_publishes(jobs, tmp_path):
    """Two clients of one image agree: the SDK's Transform (with SageMaker's filters) and local mode's."""
    _succeeded(jobs, "processing-serve")
    _succeeded(jobs, "transform")
    processed = jobs.work / "processing-serve" / "processed" / "batch.csv"
    through_sdk = (jobs.work / "transform" / "output" / "batch.csv.out").read_text().splitlines()
    assert len(through_sdk) == len(processed.read_text().splitlines()) == 400
    archive = jobs.work / "training" / "model.tar.gz"
    ours = tmp_path / "batch.csv.out"
    environment = {DIGESTS_ENV: json.dumps({"model_contents": archive_contents_digest(archive)})}
    batch_transform(archive, processed, ours, tmp_path / "server", data_processing=jobs.data_processing,
                    environment=environment)  # fmt: skip
    assert through_sdk == ours.read_text().splitlines()


def test_a_failed_processing_job_leaves_its_reason_where_sagemaker_reads_it(jobs, target):
    record = jobs.records["processing-bad"]
    assert record["failed"], "processing train succeeded on rows without the target column"
    assert set(record["reasons"]) == {"message"}, f"a Processing job's reason is output/message: {record}"
    reason = record["reasons"]["message"]
    assert reason.startswith("processing train: ") and f"'{target}'" in reason
    assert reason.endswith("\n") and reason.count("\n") == 1 and len(reason.encode()) <= 1024
    assert not list((jobs.work / "processing-bad" / "train").iterdir()), "nothing may be published"


def test_a_failed_training_job_leaves_its_reason_where_sagemaker_reads_it(jobs):
    record = jobs.records["training-bad"]
    key, value = a_bad_hyperparameter(jobs.config)
    assert record["failed"], f"training succeeded with {key}={value}"
    assert set(record["reasons"]) == {"failure"}, f"a Training job's reason is output/failure: {record}"
    reason = record["reasons"]["failure"]
    assert reason.startswith("algorithm train: ") and f"hyperparameter '{key}'='{value}' is invalid" in reason
