"""The pipeline definitions: the graph ARCHITECTURE describes, and valid SageMaker requests."""

import ast
import copy
import json
import os
import re
import subprocess
import sys

import botocore.session
import pytest
from botocore.validate import ParamValidator

from {{ cookiecutter.package_name }} import channels
from {{ cookiecutter.package_name }}.lambdas import (
    available,
)
from {{ cookiecutter.package_name }}.local.expressions import (
    Resolver,
)
from {{ cookiecutter.package_name }}.pipelines import layout, names
from {{ cookiecutter.package_name }}.pipelines.definition import (
    KINDS,
    definition,
)

from .conftest import SRC

REQUESTS = {
    "Processing": ("CreateProcessingJob", "ProcessingJobName"),
    "Training": ("CreateTrainingJob", "TrainingJobName"),
    "Transform": ("CreateTransformJob", "TransformJobName"),
    "Model": ("CreateModel", "ModelName"),
    "Tuning": ("CreateHyperParameterTuningJob", "HyperParameterTuningJobName"),
}
SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")


def variant(config, **changes):
    changed = copy.deepcopy(config)
    for path, value in changes.items():
        *sections, key = path.split("__")
        target = changed
        for section in sections:
            target = target[section]
        target[key] = value
    return changed


# The baked answers plus the other problem types, drift actions and tuning.
VARIANTS = {
    "baked": {},
    "multiclass-alert": {"data__problem_type": "multiclass_classification", "inference__drift_action": "alert"},
    "regression-retrain": {"data__problem_type": "regression", "inference__drift_action": "retrain"},
    "binary-tuning": {"data__problem_type": "binary_classification", "algorithm__tuning__enabled": True},
    "regression-tuning-alert": {
        "data__problem_type": "regression",
        "algorithm__tuning__enabled": True,
        "inference__drift_action": "alert",
    },
}


# A repository baked with drift_action: alert has no retrain Lambda, so it cannot build retrain variants.
BUILDABLE = sorted(
    n for n, v in VARIANTS.items() if v.get("inference__drift_action", "alert") in available() or n == "baked"
)


@pytest.fixture(scope="module", params=BUILDABLE)
def definitions(request, config):
    changed = variant(config, **VARIANTS[request.param])
    return changed, {kind: definition(changed, "dev", kind) for kind in KINDS}


def test_the_docs_diagram_draws_each_pipelines_steps_in_their_pipeline(definitions):
    """docs/pipelines.md's diagram against the definitions: every step drawn, and none in the wrong pipeline."""
    _, built = definitions
    page = (SRC.parent / "docs" / "pipelines.md").read_text()
    diagram = page.split("```mermaid", 1)[1].split("```", 1)[0]
    pipelines = dict(re.findall(r"subgraph (\w+)\n(.*?)\n  end", diagram, re.S))
    actions = {names.action_step(a, s) for a in ("retrain", "alert") for s in (names.DRIFT, names.QUALITY)}
    properties = {names.DATASET_REPORT, names.GATE_REPORT, names.DRIFT_REPORT, names.QUALITY_REPORT}
    steps_named = {v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)} - properties
    steps_named = (steps_named - {names.DRIFT, names.QUALITY}) | actions
    assert set(pipelines) == set(built)
    for kind, definition_json in built.items():
        steps = {step["Name"] for step in all_steps(definition_json["Steps"])}
        drawn = set(re.findall(r"\b[A-Z][A-Za-z]+\b", pipelines[kind])) & steps_named
        assert steps <= drawn, f"{kind}: steps the diagram in docs/pipelines.md does not draw: {steps - drawn}"
        assert drawn - steps <= actions, f"{kind}: the diagram draws steps of another pipeline: {drawn - steps}"


def concrete(definition_json):
    """Resolve expressions to type-correct stand-ins: parameter defaults, placeholder step outputs."""
    defaults = {
        p["Name"]: p.get("DefaultValue", f"s3://placeholder/{p['Name']}") for p in definition_json["Parameters"]
    }

    def lookup(tokens, text):
        if tokens[0] == "Parameters":
            return defaults[tokens[1]]
        if tokens[0] == "Execution":
            return "execution-id"
        if tokens[2:3] == ["PropertyFiles"]:
            return {"sha256": "0" * 64}  # a property file: what a JsonGet reads from it
        return "s3://placeholder/step-output"

    return Resolver(lookup)


def all_steps(steps):
    for step in steps:
        yield step
        if step["Type"] == "Condition":
            yield from all_steps(step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"])


def test_every_job_step_is_a_valid_sagemaker_request(definitions):
    _, pipelines = definitions
    checked = 0
    for pipeline in pipelines.values():
        resolve = concrete(pipeline)
        for step in all_steps(pipeline["Steps"]):
            if step["Type"] not in REQUESTS:
                continue
            operation, name_field = REQUESTS[step["Type"]]
            request = {name_field: "job-name", **resolve(step["Arguments"])}
            report = ParamValidator().validate(request, SAGEMAKER.operation_model(operation).input_shape)
            assert not report.has_errors(), f"{step['Name']}: {report.generate_report()}"
            checked += 1
    assert checked == 16  # 7 training jobs, 8 inference jobs (Model, Transform, 6 Processing), 1 model quality


def test_every_component_step_wires_exactly_the_channels_its_mode_declares(definitions):
    """channels.MODES is the one home of the channels: each job step reads and writes what its mode declares."""
    _, built = definitions
    components = {f"Parameters.{c.capitalize()}Image": c for c in channels.COMPONENTS}
    wired = set()
    for definition_json in built.values():
        for step in all_steps(definition_json["Steps"]):
            args = step["Arguments"]
            if step["Type"] == "Processing":
                component = components[args["AppSpecification"]["ImageUri"]["Get"]]
                (mode,) = args["AppSpecification"]["ContainerArguments"]
                inputs = [i["InputName"] for i in args.get("ProcessingInputs", [])]
                outputs = [o["OutputName"] for o in args["ProcessingOutputConfig"]["Outputs"]]
            elif step["Type"] in ("Training", "Tuning"):
                job = args.get("TrainingJobDefinition", args)
                image = job["AlgorithmSpecification"]["TrainingImage"]
                component, mode = components[image["Get"]], "train"
                inputs, outputs = [c["ChannelName"] for c in job["InputDataConfig"]], []
            else:
                continue
            declared = channels.mode(component, mode)
            assert sorted(inputs) == sorted(declared.inputs), (step["Name"], inputs)
            assert sorted(outputs) == sorted(declared.outputs), (step["Name"], outputs)
            wired.add((component, mode))
    assert {(channels.ALGORITHM, "train"), (channels.MONITORING, "quality"), (channels.PROCESSING, "assemble")} <= wired


def test_a_step_that_wires_a_channel_its_mode_does_not_declare_is_refused():
    """The control: component_step checks the table when the graph is built, not only this test after it."""
    from {{ cookiecutter.package_name }}.pipelines.steps import component_step

    with pytest.raises(ValueError, match=r"Processing gives processing train the outputs \['train', 'trian'\]"):
        component_step(
            "Processing", channels.PROCESSING, "train", image="image", instance_type="ml.m5.large",
            instance_count=1, role="role", session=None, inputs={channels.RAW: "s3://b/raw"},
            outputs={"train": "s3://b/train", "trian": "s3://b/trian"},
        )  # fmt: skip


def test_every_job_step_retries_transient_errors_as_configured(definitions):
    config, pipelines = definitions
    retry = config["pipelines"]["retry"]
    timing = {"IntervalSeconds": retry["interval_seconds"], "BackoffRate": retry["backoff_rate"],
              "MaxAttempts": retry["max_attempts"]}  # fmt: skip
    expected = [
        {"ExceptionType": ["SageMaker.CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT", "SageMaker.JOB_INTERNAL_ERROR"]}
        | timing,
        {"ExceptionType": ["Step.THROTTLING", "Step.SERVICE_FAULT"]} | timing,
    ]
    checked = 0
    for pipeline in pipelines.values():
        for step in all_steps(pipeline["Steps"]):
            if step["Type"] in REQUESTS:
                wanted = expected[1:] if step["Type"] == "Model" else expected  # it runs no job
                assert step["RetryPolicies"] == wanted, step["Name"]
                checked += 1
    assert checked == 16


def test_the_training_job_steps_are_cached_as_configured_and_nothing_else_is(definitions):
    config, pipelines = definitions
    cache = config["pipelines"]["cache"]
    tuning = config["algorithm"]["tuning"]["enabled"]
    cached = {"Processing", names.MONITORING_BASELINE, names.EXPLAINABILITY} | (set() if tuning else {"Training"})
    for kind, pipeline in pipelines.items():
        for step in all_steps(pipeline["Steps"]):
            expected = {"Enabled": cache["enabled"], "ExpireAfter": cache["expire_after"]}
            if kind == "training" and step["Name"] in cached:
                assert step.get("CacheConfig") == expected, step["Name"]
            else:  # a tuning job's best model is found under this execution's prefix; batch runs score new data
                assert "CacheConfig" not in step, f"{kind} {step['Name']}"
    steps = {s["Name"]: s for s in pipelines["training"]["Steps"]}
    snapshot = {"Get": "Steps.TrainingDataSnapshot.ProcessingOutputConfig.Outputs['snapshot'].S3Output.S3Uri"}
    # the cached steps that read the data check its content address
    for name in ("Processing", names.MONITORING_BASELINE):
        environment = steps[name]["Arguments"]["Environment"]
        assert environment["INPUT_DATA"] == snapshot
        assert environment["STEP_CACHING"] == ("on" if cache["enabled"] else "off")
        (raw,) = steps[name]["Arguments"]["ProcessingInputs"]
        assert raw["S3Input"]["S3Uri"] == snapshot


def test_caching_can_be_switched_off(config):
    off = variant(config, pipelines__cache={"enabled": False, "expire_after": "PT1H"})
    steps = {s["Name"]: s for s in definition(off, "dev", "training")["Steps"]}
    assert steps["Processing"]["CacheConfig"] == {"Enabled": False, "ExpireAfter": "PT1H"}
    assert steps["Processing"]["Arguments"]["Environment"]["STEP_CACHING"] == "off"


def test_training_graph(definitions):
    config, pipelines = definitions
    steps = {s["Name"]: s for s in pipelines["training"]["Steps"]}
    tuning = config["algorithm"]["tuning"]["enabled"]
    assert [(s["Name"], s["Type"]) for s in pipelines["training"]["Steps"]] == [
        (names.TRAINING_DATA, "Processing"),
        (names.TRAINING_DATA_SNAPSHOT, "Processing"),
        ("Processing", "Processing"),
        ("Training", "Tuning" if tuning else "Training"),
        (names.MONITORING_BASELINE, "Processing"),
        (names.EXPLAINABILITY, "Processing"),
        (names.GATE, "Processing"),
        (names.REGISTER, "Lambda"),
    ]
    assert steps[names.MONITORING_BASELINE]["DependsOn"] == ["Training"]
    model_property = "TrainingJobSummaries[0].TrainingJobName" if tuning else "ModelArtifacts.S3ModelArtifacts"
    assert f"Steps.Training.{model_property}" in json.dumps(steps[names.EXPLAINABILITY])
    assert sorted(steps[names.REGISTER]["DependsOn"]) == [names.EXPLAINABILITY, names.MONITORING_BASELINE]
    objective = "validation:rmse" if config["data"]["problem_type"] == "regression" else "validation:auc"
    job = steps["Training"]["Arguments"]
    if tuning:
        settings = job["HyperParameterTuningJobConfig"]
        assert settings["HyperParameterTuningJobObjective"] == {
            "Type": "Minimize" if objective.endswith("rmse") else "Maximize",
            "MetricName": objective,
        }
        ranged = {r["Name"] for kind in settings["ParameterRanges"].values() for r in kind}
        assert ranged == set(config["algorithm"]["tuning"]["ranges"])
        job = job["TrainingJobDefinition"]
        hyperparameters = job["StaticHyperParameters"]
        assert "TrainingJobSummaries[0].TrainingJobName" in json.dumps(steps[names.REGISTER]["Arguments"]["model"])
    else:
        hyperparameters = job["HyperParameters"]
    assert all(isinstance(v, str) for v in hyperparameters.values())
    assert objective in [m["Name"] for m in job["AlgorithmSpecification"]["MetricDefinitions"]]
    assert [c["ChannelName"] for c in job["InputDataConfig"]] == ["train", "validation", "artifacts"]
    for name in ("Processing", names.MONITORING_BASELINE, names.EXPLAINABILITY):
        assert steps[name]["Arguments"]["AppSpecification"]["ContainerArguments"] == ["train"]


def test_training_learns_from_assembled_data_and_gates_the_model_against_the_champion(definitions):
    config, pipelines = definitions
    steps = {s["Name"]: s for s in pipelines["training"]["Steps"]}
    defaults = {p["Name"]: p.get("DefaultValue") for p in pipelines["training"]["Parameters"]}
    bucket = f"{config['project']['slug']}-dev-{layout.account(config, 'dev')}"
    empty = f"s3://{bucket}/empty/"
    # A training run on given data learns that data alone: no kept inputs, no labels, no champion by default.
    assert defaults["ProductionInputs"] == defaults["ProductionLabels"] == defaults["ChampionModelUri"] == empty
    assert defaults["ChampionVersion"] == "" and defaults["BaseRows"] == "keep"
    assert defaults["RetrainingWindow"] == config["retraining"]["window"]

    def inputs(name):
        return {i["InputName"]: i["S3Input"]["S3Uri"] for i in steps[name]["Arguments"]["ProcessingInputs"]}

    def modes(name):
        return steps[name]["Arguments"]["AppSpecification"]["ContainerArguments"]

    assert modes(names.TRAINING_DATA) == ["assemble"] and modes(names.TRAINING_DATA_SNAPSHOT) == ["snapshot"]
    assert inputs(names.TRAINING_DATA) == {
        "base": {"Get": "Parameters.InputData"},
        "inputs": {"Get": "Parameters.ProductionInputs"},
        "labels": {"Get": "Parameters.ProductionLabels"},
    }
    assert steps[names.TRAINING_DATA]["Arguments"]["Environment"]["ASSEMBLED_AT"] == {"Get": "Execution.StartDateTime"}
    assert steps[names.TRAINING_DATA]["Arguments"]["Environment"]["SNAPSHOT_PREFIX"] == f"s3://{bucket}/data/train/"
    (snapshot,) = steps[names.TRAINING_DATA_SNAPSHOT]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    address = snapshot["S3Output"]["S3Uri"]["Std:Join"]
    assert address["Values"][0] == f"s3://{bucket}/data/train/sha256="
    assert address["Values"][1]["Std:JsonGet"] == {
        "PropertyFile": {"Get": "Steps.TrainingData.PropertyFiles.DatasetReport"}, "Path": "sha256",
    }  # fmt: skip
    assert (
        steps[names.TRAINING_DATA_SNAPSHOT]["Arguments"]["Environment"]["SNAPSHOT_URI"] == snapshot["S3Output"]["S3Uri"]
    )
    # The gate: the algorithm image's compare mode, on the held-out recent rows and the validation rows.
    assert modes(names.GATE) == ["compare"]
    assert steps[names.GATE]["Arguments"]["AppSpecification"]["ImageUri"] == {"Get": "Parameters.AlgorithmImage"}
    gate_inputs = inputs(names.GATE)
    assert gate_inputs["champion"] == {"Get": "Parameters.ChampionModelUri"}
    assert gate_inputs["recent"] == {
        "Get": "Steps.TrainingData.ProcessingOutputConfig.Outputs['holdout'].S3Output.S3Uri"
    }
    assert gate_inputs["validation"] == {
        "Get": "Steps.Processing.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"
    }
    register = steps[names.REGISTER]["Arguments"]
    assert register["promotion"] == config["promotion"]["mode"]["dev"]
    assert register["gate_passed"]["Std:JsonGet"]["Path"] == "passed"
    dataset = {"Get": "Steps.TrainingData.PropertyFiles.DatasetReport"}
    assert register["lineage"]["Std:JsonGet"]["PropertyFile"] == dataset
    outputs = {o["OutputName"] for o in steps[names.REGISTER]["OutputParameters"]}
    assert outputs == {"manifest_version", "registered", "promoted", "decision"}


def test_inference_graph(definitions):
    config, pipelines = definitions
    steps = {s["Name"]: s for s in pipelines["inference"]["Steps"]}
    assert list(steps) == [
        "Processing",
        names.CREATE_MODEL,
        "Transform",
        names.PERFORMANCE_ESTIMATE,
        names.MONITORING_SHARDS,
        names.MONITORING,
        names.EXPLAINABILITY_SHARDS,
        names.EXPLAINABILITY,
        names.DRIFT_CHECK,
    ]
    transform = steps["Transform"]["Arguments"]
    assert transform["TransformInput"]["SplitType"] == "Line"
    assert transform["TransformInput"]["ContentType"] == "text/csv"
    assert transform["BatchStrategy"] == "MultiRecord"
    assert transform["TransformOutput"]["AssembleWith"] == "Line"
    assert transform["MaxPayloadInMB"] == config["pipelines"]["max_payload_mb"]
    # The model gets each row without its inference id; the published line is the id and the answer.
    answer = "$[0,-1]" if config["data"]["problem_type"] == "regression" else "$[0,-2,-1]"
    assert transform["DataProcessing"] == {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": answer}
    assert steps["Processing"]["Arguments"]["Environment"] == {
        "INFERENCE_ID_PREFIX": {"Get": "Execution.PipelineExecutionId"},
        "SCORED_AT": {"Get": "Execution.StartDateTime"},
        "ARTIFACT_DIGESTS": {"Get": "Parameters.ArtifactDigests"},
    }
    # Each run keeps its raw input, by execution, under the prefix a retrain rebuilds rows from.
    outputs = steps["Processing"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    kept = {o["OutputName"]: o["S3Output"]["S3Uri"] for o in outputs}
    bucket = f"{config['project']['slug']}-dev-{layout.account(config, 'dev')}"
    assert kept["kept"] == {
        "Std:Join": {"On": "/", "Values": [f"s3://{bucket}/inputs", {"Get": "Execution.PipelineExecutionId"}]}
    }
    assert steps[names.PERFORMANCE_ESTIMATE]["DependsOn"] == ["Transform"]
    assert steps[names.PERFORMANCE_ESTIMATE]["Arguments"]["AppSpecification"]["ContainerArguments"] == ["estimate"]
    assert steps[names.MONITORING_SHARDS]["DependsOn"] == ["Transform"]
    assert steps[names.EXPLAINABILITY_SHARDS]["DependsOn"] == ["Transform"]
    assert steps[names.MONITORING]["PropertyFiles"] == [
        {"PropertyFileName": names.DRIFT_REPORT, "OutputName": "report", "FilePath": "drift.json"}
    ]
    condition = steps[names.DRIFT_CHECK]["Arguments"]
    assert condition["Conditions"][0]["LeftValue"]["Std:JsonGet"]["Path"] == "drift_detected"
    action = config["inference"]["drift_action"]
    (on_drift,) = condition["IfSteps"]
    assert on_drift["Name"] == (
        names.action_step("retrain", names.DRIFT) if action == "retrain" else names.action_step("alert", names.DRIFT)
    )
    assert on_drift["FunctionArn"].endswith(f"-dev-{action}")
    assert condition["ElseSteps"] == []
    modes = {
        "Processing": "serve",
        names.MONITORING_SHARDS: "summarize",
        names.MONITORING: "merge",
        names.EXPLAINABILITY_SHARDS: "explain",
        names.EXPLAINABILITY: "merge",
    }
    for name, mode in modes.items():
        assert steps[name]["Arguments"]["AppSpecification"]["ContainerArguments"] == [mode]
    parameters = {p["Name"] for p in pipelines["inference"]["Parameters"]}
    assert {"InputData", "ModelUri", "PreprocessingUri", "BaselineUri", "ManifestVersion"} <= parameters
    assert {"TransformInstanceType", "ProcessingInstanceType", "ProcessingInstanceCount"} <= parameters
    thresholds = {"DriftSignificanceLevel", "DriftComparisonThreshold", "DriftCategoricalThreshold"}
    assert thresholds | {"DriftCompletenessTolerance"} <= parameters
    environment = steps[names.MONITORING]["Arguments"]["Environment"]
    assert environment["DRIFT_SIGNIFICANCE_LEVEL"] == {"Get": "Parameters.DriftSignificanceLevel"}


REGISTERED = {  # the parameters that name a registered artefact, and the digests that pin it
    "ModelUri": "ArtifactDigests",
    "PreprocessingUri": "ArtifactDigests",
    "BaselineUri": "ArtifactDigests",
    "ChampionModelUri": "ChampionDigests",
}


def test_every_job_that_loads_a_registered_artefact_is_given_its_digests(definitions):
    """A job reading a registered artefact gets the manifest's digests (ARTIFACT_DIGESTS) to check it before opening."""
    _, pipelines = definitions
    checked = []
    for kind, pipeline in pipelines.items():
        for step in pipeline["Steps"]:
            arguments = step.get("Arguments", {})
            container = arguments.get("PrimaryContainer")  # CreateModel: the Transform's model server
            if container is not None:
                sources = [container["ModelDataUrl"]]
                environment = container.get("Environment", {})
            else:
                sources = [i["S3Input"]["S3Uri"] for i in arguments.get("ProcessingInputs", [])]
                environment = arguments.get("Environment", {})
            named = {s["Get"].removeprefix("Parameters.") for s in sources if isinstance(s, dict) and "Get" in s}
            for parameter in sorted(named & set(REGISTERED)):
                assert environment.get("ARTIFACT_DIGESTS") == {"Get": f"Parameters.{REGISTERED[parameter]}"}, (
                    f"{kind}/{step['Name']} loads {parameter} without its digests"
                )
                checked.append(step["Name"])
    assert set(checked) == {
        "Processing", names.CREATE_MODEL, names.PERFORMANCE_ESTIMATE, names.MONITORING_SHARDS, names.MONITORING,
        names.EXPLAINABILITY_SHARDS, names.EXPLAINABILITY, names.MODEL_QUALITY, names.GATE,
    }  # fmt: skip


def test_every_inference_run_keeps_its_predictions_where_model_quality_reads_them(definitions):
    config, pipelines = definitions
    steps = {s["Name"]: s for s in pipelines["inference"]["Steps"]}
    estimate = steps[names.PERFORMANCE_ESTIMATE]["Arguments"]
    outputs = {o["OutputName"]: o["S3Output"]["S3Uri"] for o in estimate["ProcessingOutputConfig"]["Outputs"]}
    bucket = f"{config['project']['slug']}-dev-{layout.account(config, 'dev')}"
    assert outputs["scored"] == {
        "Std:Join": {"On": "/", "Values": [f"s3://{bucket}/predictions", {"Get": "Execution.PipelineExecutionId"}]}
    }
    assert estimate["Environment"] == {
        "RUN_ID": {"Get": "Execution.PipelineExecutionId"},
        "SCORED_AT": {"Get": "Execution.StartDateTime"},
        "ARTIFACT_DIGESTS": {"Get": "Parameters.ArtifactDigests"},
    }
    quality = {s["Name"]: s for s in pipelines["quality"]["Steps"]}
    inputs = {
        i["InputName"]: i["S3Input"]["S3Uri"] for i in quality[names.MODEL_QUALITY]["Arguments"]["ProcessingInputs"]
    }
    defaults = {p["Name"]: p.get("DefaultValue") for p in pipelines["quality"]["Parameters"]}
    assert inputs["predictions"] == {"Get": "Parameters.PredictionsData"}
    assert defaults["PredictionsData"] == f"s3://{bucket}/predictions/"
    assert defaults["LabelsData"] == f"s3://{bucket}/labels/"


def test_quality_graph(definitions):
    config, pipelines = definitions
    pipeline = pipelines["quality"]
    steps = {s["Name"]: s for s in pipeline["Steps"]}
    assert list(steps) == [names.MODEL_QUALITY, names.QUALITY_CHECK]
    job = steps[names.MODEL_QUALITY]["Arguments"]
    assert job["AppSpecification"]["ContainerArguments"] == ["quality"]
    assert job["AppSpecification"]["ImageUri"] == {"Get": "Parameters.MonitoringImage"}
    assert {i["InputName"] for i in job["ProcessingInputs"]} == {"predictions", "labels", "model"}
    assert job["Environment"] == {
        "QUALITY_START_OFFSET": {"Get": "Parameters.StartOffset"},
        "QUALITY_END_OFFSET": {"Get": "Parameters.EndOffset"},
        "QUALITY_MIN_LABELLED_ROWS": {"Get": "Parameters.MinLabelledRows"},
        "EVALUATION_TIME": {"Get": "Execution.StartDateTime"},
        "ARTIFACT_DIGESTS": {"Get": "Parameters.ArtifactDigests"},
    }
    defaults = {p["Name"]: p.get("DefaultValue") for p in pipeline["Parameters"]}
    assert defaults["StartOffset"] == config["quality"]["start_offset"]
    assert defaults["EndOffset"] == config["quality"]["end_offset"]
    assert defaults["MinLabelledRows"] == str(config["quality"]["min_labelled_rows"])
    assert steps[names.MODEL_QUALITY]["PropertyFiles"] == [
        {"PropertyFileName": names.QUALITY_REPORT, "OutputName": "quality", "FilePath": "quality.json"}
    ]
    condition = steps[names.QUALITY_CHECK]["Arguments"]
    assert condition["Conditions"][0]["LeftValue"]["Std:JsonGet"]["Path"] == "violated"
    (acted,) = condition["IfSteps"]
    action = config["inference"]["drift_action"]
    assert acted["Name"] == (
        names.action_step("retrain", names.QUALITY)
        if action == "retrain"
        else names.action_step("alert", names.QUALITY)
    )
    assert acted["FunctionArn"].endswith(f"-dev-{action}")
    assert acted["Arguments"]["cause"] == "model quality"
    # One cooling period for data drift and model quality: the same state parameter.
    drift_check = next(s for s in pipelines["inference"]["Steps"] if s["Name"] == names.DRIFT_CHECK)
    (on_drift,) = drift_check["Arguments"]["IfSteps"]
    if action == "retrain":
        assert acted["Arguments"]["state_parameter"] == on_drift["Arguments"]["state_parameter"]
        assert acted["Arguments"]["training_pipeline"] == on_drift["Arguments"]["training_pipeline"]
        # What a retrain grows the serving model's data with, and what it keeps of the older rows, by cause.
        bucket = f"{config['project']['slug']}-dev-{layout.account(config, 'dev')}"
        for event in (acted["Arguments"], on_drift["Arguments"]):
            assert event["labels_prefix"] == f"s3://{bucket}/labels/"
            assert event["inputs_prefix"] == f"s3://{bucket}/inputs/"
            assert event["min_new_labelled_rows"] == config["retraining"]["min_new_labelled_rows"]
        assert acted["Arguments"]["base_rows"] == config["retraining"]["base_rows"]["quality_drop"]
        assert on_drift["Arguments"]["base_rows"] == config["retraining"]["base_rows"]["data_drift"]
    outputs = {o["OutputName"] for o in acted["OutputParameters"]}
    assert outputs == {"retrain_started", "reason", "execution"}


def test_serve_steps_shard_their_data_and_merges_run_once(definitions):
    config, pipelines = definitions
    steps = {s["Name"]: s for s in pipelines["inference"]["Steps"]}
    count = {"Get": "Parameters.ProcessingInstanceCount"}
    sharded = {"Processing": "raw", names.MONITORING_SHARDS: "raw", names.EXPLAINABILITY_SHARDS: "data"}
    for name, shard_input in sharded.items():
        job = steps[name]["Arguments"]
        assert job["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == count
        distribution = {i["InputName"]: i["S3Input"]["S3DataDistributionType"] for i in job["ProcessingInputs"]}
        assert distribution.pop(shard_input) == "ShardedByS3Key"
        assert set(distribution.values()) <= {"FullyReplicated"}  # model, artifacts, baseline: whole everywhere
    for name in (names.MONITORING, names.EXPLAINABILITY):
        assert steps[name]["Arguments"]["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 1
        (summaries,) = [i for i in steps[name]["Arguments"]["ProcessingInputs"] if i["InputName"] == "summaries"]
        assert f"Steps.{name}Shards" in json.dumps(summaries)
    (parameter,) = [p for p in pipelines["inference"]["Parameters"] if p["Name"] == "ProcessingInstanceCount"]
    assert parameter["DefaultValue"] == config["pipelines"].get("serve_instance_count", 1)
    transform = steps["Transform"]["Arguments"]
    assert transform["TransformResources"]["InstanceCount"] == config["pipelines"]["transform_instance_count"]
    assert transform["MaxConcurrentTransforms"] == config["pipelines"]["max_concurrent_transforms"]
    # Training reads whole datasets: every job there runs on exactly one instance.
    for step in pipelines["training"]["Steps"]:
        if step["Type"] == "Processing":
            assert step["Arguments"]["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 1


def test_pinned_images_become_parameter_defaults(config):
    images = {
        c: f"1.dkr.ecr.eu-west-1.amazonaws.com/x-{c}@sha256:{'a' * 64}"
        for c in ("processing", "algorithm", "monitoring", "explainability")
    }
    training = definition(config, "dev", "training", images)
    defaults = {p["Name"]: p.get("DefaultValue") for p in training["Parameters"]}
    assert defaults["AlgorithmImage"] == images["algorithm"]


def test_retrain_needs_the_retrain_lambda(config):
    retrain = variant(config, inference__drift_action="retrain")
    if "retrain" in available():
        assert definition(retrain, "dev", "inference")["Steps"][-1]["Arguments"]["IfSteps"][0][
            "Name"
        ] == names.action_step("retrain", names.DRIFT)
    else:
        with pytest.raises(ValueError, match="without the retrain Lambda"):
            definition(retrain, "dev", "inference")


def test_unknown_environment_is_refused(config):
    with pytest.raises(ValueError, match="Unknown environment 'qa'"):
        definition(config, "qa", "training")


def test_definition_needs_no_credentials(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONPATH": str(SRC),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", "pipelines", "definition", "inference", "--env", "dev"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=SRC.parent,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["Version"] == "2020-12-01"


def _graph_names(definition: dict) -> set[str]:
    """Every step name and property-file name of a definition, in conditions' branches too."""
    found = set()
    steps = list(definition["Steps"])
    while steps:
        step = steps.pop()
        found.add(step["Name"])
        found |= {p["PropertyFileName"] for p in step.get("PropertyFiles", [])}
        if step["Type"] == "Condition":
            steps += step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"]
    return found


def test_every_name_the_graph_is_read_by_is_a_step_or_property_file_of_its_definitions(config):
    """pipelines/names.py is the one home of the graph's names: each is in a definition, and each step is in it."""
    drawn, actions = set(), [action for action in ("retrain", "alert") if action in available()]
    for action in actions:
        changed = copy.deepcopy(config)
        changed["inference"]["drift_action"] = action
        for kind in ("training", "inference", "quality"):
            drawn |= _graph_names(definition(changed, "dev", kind))
    named = {v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)} - {names.DRIFT, names.QUALITY}
    named |= {names.action_step(action, signal) for action in actions for signal in (names.DRIFT, names.QUALITY)}
    assert named == drawn, f"named only: {sorted(named - drawn)}; drawn only: {sorted(drawn - named)}"


def test_no_module_spells_a_step_name_but_the_names_module():
    """Local mode's summaries, the Lambdas, the CLI and the tests read steps through pipelines/names.py only.

    Processing, Training and Transform are also step types and job types, CreateModel is also an API
    operation, and ModelQuality and Explainability are also members of a model package's ModelMetrics and
    DriftCheckBaselines: those keep their own spelling.
    """
    steps = {v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)}
    steps |= {step for pair in names.ACTION_STEPS.values() for step in pair}
    steps -= {names.DRIFT, names.QUALITY, "Processing", "Training", "Transform", "CreateModel"}
    steps -= {"ModelQuality", "Explainability"}
    spelled = {}
    for path in sorted([*SRC.rglob("*.py"), *(SRC.parent / "tests").glob("*.py")]):
        if path.name == "names.py" and path.parent.name == "pipelines":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in steps:
                spelled.setdefault(str(path.relative_to(SRC.parent)), set()).add(node.value)
    assert not spelled, f"step names spelled outside pipelines/names.py: {spelled}"


IMPORTS_OF_A_DEFINITION = """
import json, sys
from {{ cookiecutter.package_name }}.config import load_config
from {{ cookiecutter.package_name }}.pipelines.definition import definition
for kind in ("training", "inference", "quality"):
    definition(load_config(), "dev", kind)
rooms = ("{{ cookiecutter.package_name }}.components", "{{ cookiecutter.package_name }}.local", "sklearn")
print(json.dumps(sorted(name for name in sys.modules if name.startswith(rooms))))
"""


def test_building_a_definition_imports_no_component_and_no_part_of_local_mode():
    """The graph names what the jobs run; it needs neither their code nor local mode's (nor scikit-learn)."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORTS_OF_A_DEFINITION],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=SRC.parent,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_a_cached_definition_is_reused_only_for_the_same_inputs(config, tmp_path, monkeypatch):
    import copy

    from {{ cookiecutter.package_name }}.local.workspace import (
        DEFINITIONS_CACHE_ENV,
        Workspace,
    )
    from {{ cookiecutter.package_name }}.pipelines.definition import (
        definition_key,
    )

    changed = copy.deepcopy(config)
    changed["algorithm"]["hyperparameters"]["learning_rate"] = "0.5"
    assert definition_key(config, "dev", "training", None) == definition_key(
        copy.deepcopy(config), "dev", "training", None
    )
    assert definition_key(config, "dev", "training", None) != definition_key(changed, "dev", "training", None)
    assert definition_key(config, "dev", "training", None) != definition_key(config, "prod", "training", None)
    assert definition_key(config, "dev", "training", None) != definition_key(config, "dev", "inference", None)
    monkeypatch.setenv(DEFINITIONS_CACHE_ENV, str(tmp_path / "shared"))
    assert Workspace(tmp_path / "a").definitions == Workspace(tmp_path / "b").definitions == tmp_path / "shared"
    monkeypatch.delenv(DEFINITIONS_CACHE_ENV)
    assert Workspace(tmp_path / "a").definitions == tmp_path / "a" / "definitions"
