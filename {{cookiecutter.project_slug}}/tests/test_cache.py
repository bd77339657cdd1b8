"""Step caching's rules: SageMaker's default key attributes, ExpireAfter, most recent wins, scope, what is recorded."""

import copy
from datetime import UTC, datetime, timedelta

import pytest

from {{ cookiecutter.package_name }}.local.cache import (
    StepCache,
    cache_key,
    cache_settings,
    key_attributes,
    parse_expire_after,
)
from {{ cookiecutter.package_name }}.local.executor import (
    LocalExecutor,
)
from {{ cookiecutter.package_name }}.local.jobs import (
    JobRunner,
)
from {{ cookiecutter.package_name }}.local.workspace import (
    Workspace,
)
from {{ cookiecutter.package_name }}.pipelines import names

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
CODE = {"img": "sha256:aaa"}

PROCESSING = {
    "AppSpecification": {"ImageUri": "img", "ContainerArguments": ["train"]},
    "Environment": {"INPUT_DATA": "s3://b/data/train/sha256=1/"},
    "ProcessingInputs": [
        {
            "InputName": "raw",
            "S3Input": {"S3Uri": "s3://b/data/train/sha256=1/", "LocalPath": "/opt/ml/processing/input"},
        }
    ],
    "ProcessingOutputConfig": {"Outputs": [{"OutputName": "train", "S3Output": {"S3Uri": "s3://b/runs/1/train"}}]},
    "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large"}},
    "RoleArn": "arn:aws:iam::123456789012:role/r",
}
TRAINING = {
    "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
    "HyperParameters": {"learning_rate": "0.1"},
    "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/runs/1/train"}}}],
    "OutputDataConfig": {"S3OutputPath": "s3://b/runs/1/model"},
    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
}


def changed(arguments, path, value):
    changed = copy.deepcopy(arguments)
    node = changed
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P30D", timedelta(days=30)),
        ("PT12H", timedelta(hours=12)),
        ("P4DT12H", timedelta(days=4, hours=12)),
        ("p30d", timedelta(days=30)),
        ("T12H", timedelta(hours=12)),  # the forms of the SDK's and the developer guide's examples
        ("30d", timedelta(days=30)),
        ("30dT5h", timedelta(days=30, hours=5)),
        ("P1Y", timedelta(days=365)),
        ("P2W", timedelta(days=14)),
        ("PT16M", timedelta(minutes=16)),
    ],
)
def test_expire_after_is_an_iso_8601_duration(text, expected):
    assert parse_expire_after(text) == expected


@pytest.mark.parametrize("text", ["P", "PT", "P1H", "forever", ""])
def test_a_bad_expire_after_is_named(text):
    with pytest.raises(ValueError, match="ISO 8601 duration"):
        parse_expire_after(text)


def test_only_job_steps_with_caching_enabled_are_cached():
    assert cache_settings({"Type": "Processing", "CacheConfig": {"Enabled": True, "ExpireAfter": "P1D"}}) == timedelta(
        days=1
    )
    assert cache_settings({"Type": "Processing", "CacheConfig": {"Enabled": False, "ExpireAfter": "P1D"}}) is None
    assert cache_settings({"Type": "Processing"}) is None
    assert cache_settings({"Type": "Lambda", "CacheConfig": {"Enabled": True}}) is None  # not cacheable on SageMaker
    assert cache_settings({"Type": "Training", "CacheConfig": {"Enabled": True}}) == timedelta.max


@pytest.mark.parametrize(
    ("arguments", "path", "value", "hit"),
    [
        (PROCESSING, ["ProcessingOutputConfig", "Outputs", 0, "S3Output", "S3Uri"], "s3://b/runs/2/train", True),
        (PROCESSING, ["ProcessingResources", "ClusterConfig", "InstanceType"], "ml.m5.xlarge", True),
        (PROCESSING, ["RoleArn"], "arn:aws:iam::123456789012:role/other", True),
        (PROCESSING, ["Environment", "INPUT_DATA"], "s3://b/data/train/sha256=2/", False),
        (PROCESSING, ["ProcessingInputs", 0, "S3Input", "S3Uri"], "s3://b/data/train/sha256=2/", False),
        (PROCESSING, ["AppSpecification", "ContainerArguments"], ["serve"], False),
        (TRAINING, ["OutputDataConfig", "S3OutputPath"], "s3://b/runs/2/model", True),
        (TRAINING, ["ResourceConfig", "InstanceType"], "ml.c5.xlarge", True),
        (TRAINING, ["StoppingCondition", "MaxRuntimeInSeconds"], 60, True),
        (TRAINING, ["HyperParameters", "learning_rate"], "0.05", False),
        (TRAINING, ["InputDataConfig", 0, "DataSource", "S3DataSource", "S3Uri"], "s3://b/runs/2/train", False),
        (TRAINING, ["AlgorithmSpecification", "TrainingImage"], "img@sha256:bbb", False),
    ],
)
def test_the_key_holds_sagemakers_default_key_attributes_and_nothing_else(arguments, path, value, hit):
    kind = "Processing" if arguments is PROCESSING else "Training"
    other = changed(arguments, path, value)
    code = {image: "sha256:aaa" for image in ("img", "img@sha256:bbb")}
    assert (cache_key(kind, arguments, code) == cache_key(kind, other, code)) is hit


def test_the_code_an_image_runs_is_part_of_the_key():
    assert cache_key("Processing", PROCESSING, CODE) != cache_key("Processing", PROCESSING, {"img": "sha256:bbb"})


def test_a_tuning_key_ignores_the_training_definitions_output_path_but_not_its_static_hyperparameters():
    definition = {
        "AlgorithmSpecification": {"TrainingImage": "img"},
        "StaticHyperParameters": {"max_iter": "300"},
        "OutputDataConfig": {"S3OutputPath": "s3://b/runs/1/model"},
    }
    tuning = {"HyperParameterTuningJobConfig": {"Strategy": "Bayesian"}, "TrainingJobDefinition": definition}
    elsewhere = changed(tuning, ["TrainingJobDefinition", "OutputDataConfig", "S3OutputPath"], "s3://b/runs/2/m")
    more = changed(tuning, ["TrainingJobDefinition", "StaticHyperParameters", "max_iter"], "500")
    assert "OutputDataConfig" not in key_attributes("Tuning", tuning)["TrainingJobDefinition"]
    assert cache_key("Tuning", tuning, CODE) == cache_key("Tuning", elsewhere, CODE)
    assert cache_key("Tuning", tuning, CODE) != cache_key("Tuning", more, CODE)


def properties(uri="s3://b/runs/1/train"):
    return {"ProcessingOutputConfig": {"Outputs": {"train": {"OutputName": "train", "S3Output": {"S3Uri": uri}}}}}


def test_a_recorded_run_is_a_hit_until_it_expires(tmp_path):
    cache = StepCache(tmp_path)
    cache.record("p", "Processing", "k", properties(), "arn:1", NOW)
    hit = cache.lookup("p", "Processing", "k", timedelta(days=1), NOW + timedelta(hours=23))
    assert hit is not None and hit.source_execution_arn == "arn:1" and hit.properties == properties()
    assert cache.lookup("p", "Processing", "k", timedelta(days=1), NOW + timedelta(days=1, minutes=1)) is None
    assert cache.lookup("p", "Processing", "k", timedelta.max, NOW + timedelta(days=3650)) is not None


def test_the_most_recent_successful_run_wins(tmp_path):
    cache = StepCache(tmp_path)
    cache.record("p", "Processing", "k", properties("s3://b/runs/1/train"), "arn:1", NOW)
    cache.record("p", "Processing", "k", properties("s3://b/runs/2/train"), "arn:2", NOW + timedelta(hours=1))
    hit = cache.lookup("p", "Processing", "k", timedelta(days=1), NOW + timedelta(hours=2))
    assert hit.source_execution_arn == "arn:2"
    assert hit.properties == properties("s3://b/runs/2/train")


def test_the_cache_is_scoped_to_the_pipeline_and_the_step(tmp_path):
    cache = StepCache(tmp_path)
    cache.record("training", "Processing", "k", properties(), "arn:1", NOW)
    assert cache.lookup("other-pipeline", "Processing", "k", timedelta(days=1), NOW) is None
    assert cache.lookup("training", names.EXPLAINABILITY, "k", timedelta(days=1), NOW) is None
    assert cache.lookup("training", "Processing", "other-key", timedelta(days=1), NOW) is None


def test_a_run_whose_outputs_are_gone_is_a_miss(tmp_path):
    present = {"s3://b/runs/1/train"}
    cache = StepCache(tmp_path, exists=present.__contains__)
    cache.record("p", "Processing", "k", properties(), "arn:1", NOW)
    assert cache.lookup("p", "Processing", "k", timedelta(days=1), NOW) is not None
    present.clear()
    assert cache.lookup("p", "Processing", "k", timedelta(days=1), NOW) is None


@pytest.mark.parametrize(
    "broken", ["{not json", "", '{"finished_at": "2026-12-01T12:00:00+00:00"}', "[]", '{"finished_at": 1}']
)
def test_an_unreadable_record_is_a_miss_not_an_error(tmp_path, broken):
    """A record cut short (a killed run, a full disk) or of another shape: the step runs again, nothing fails."""
    cache = StepCache(tmp_path)
    cache.record("p", "Processing", "k", properties(), "arn:1", NOW)
    assert cache.lookup("p", "Processing", "k", timedelta(days=1), NOW) is not None  # as written: a hit
    (record,) = [path for path in tmp_path.rglob("*") if path.is_file()]  # wherever the cache keeps it
    record.write_text(broken)
    assert cache.lookup("p", "Processing", "k", timedelta(days=1), NOW) is None


def test_a_failed_run_is_not_recorded(tmp_path, config, monkeypatch):
    """A cached step that fails (here its input is missing) leaves no record, so nothing can reuse it.

    The control: the same step, when its job succeeds, leaves one record where this test looks.
    """
    step = {
        "Name": "Processing",
        "Type": "Processing",
        "CacheConfig": {"Enabled": True, "ExpireAfter": "P30D"},
        "Arguments": {
            **PROCESSING,
            "AppSpecification": {
                "ImageUri": f"1.dkr.ecr.eu-west-1.amazonaws.com/{config['project']['slug']}-processing"
            },
        },
    }

    def run(name: str):
        workspace = Workspace(tmp_path / name)
        execution = LocalExecutor(workspace, config, "dev", progress=lambda _: None).run(
            {"Parameters": [], "Steps": [step]}, pipeline="p"
        )
        return execution, [p for p in (workspace.root / "cache").rglob("*") if p.is_file()]

    failed, records = run("failed")
    assert failed.status == "Failed" and "does not exist" in failed.failure
    assert records == []

    def completed(self, args, sandbox, job_name, property_files):
        return {"ProcessingJobName": job_name, "ProcessingJobStatus": "Completed", "PropertyFiles": {}}

    monkeypatch.setattr(JobRunner, "processing", completed)
    succeeded, records = run("succeeded")
    assert succeeded.status == "Succeeded", succeeded.failure
    assert len(records) == 1, "a successful run of the same step is recorded where the test looks"
