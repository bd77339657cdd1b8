"""The training pipeline: TrainingData -> TrainingDataSnapshot -> Processing -> Training ->
(MonitoringBaseline || Explainability || Gate) -> Register.

- TrainingData assembles what the model learns from: the base set (InputData) and, for a
  retrain, the labelled production rows of the window (ProductionInputs, ProductionLabels),
  holding the newest of them out for the gate. Its defaults add nothing: a training run on
  given data learns exactly that data.
- TrainingDataSnapshot writes the set once under `data/train/sha256=<digest>/`, so everything
  downstream reads content-addressed data.
- Training is a TrainingStep, or a TuningStep over config's ranges when tuning is enabled.
- Gate scores the new model and the champion (ChampionModelUri, the serving version) on the
  same rows; Register records the verdict and, with `promotion.mode: auto`, promotes a model
  that passed. A model equal to a registered one registers nothing.

Step caching (pipelines.cache): Processing, Training, MonitoringBaseline and Explainability carry
CacheConfig, because every input that can change is addressed by content: the training data
by its snapshot's digest (Processing and MonitoringBaseline check it), images by digest, the
config in the image, the hyperparameters in the request; every other input is an upstream
step's output, under a prefix of the execution that wrote it, so a step that ran again makes
every step after it miss. TrainingData reads prefixes that grow, the snapshot and the gate
read this execution's outputs, and Register has side effects: none of them is cached. A
TuningStep is never cached either: its best model's URI is built from the current execution's
prefix, where a cached tuning job's model is not.
"""

from __future__ import annotations

from typing import Any

from .. import job_environment as job_env
from ..channels import (
    ALGORITHM,
    ARTIFACTS,
    BASE,
    BASELINE,
    CHALLENGER,
    CHAMPION,
    DATA,
    DATASET,
    EVALUATION,
    EXPLAINABILITY,
    GATE,
    HOLDOUT,
    INPUTS,
    LABELS,
    MODEL,
    MONITORING,
    PROCESSING,
    RAW,
    RECENT,
    REPORT,
    SET,
    SNAPSHOT,
    VALIDATION,
    mode,
)
from ..registry.digests import DIGESTS_ENV
from . import layout, names
from .sdk import prepare_sdk
from .steps import PipelineContext, cache_config, component_step, output_uri, pipeline_context


def parameter_ranges(ranges: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """config's tuning ranges as the SDK's parameter ranges."""
    from sagemaker.core.parameter import CategoricalParameter, ContinuousParameter, IntegerParameter

    result: dict[str, Any] = {}
    for name, spec in ranges.items():
        if spec["type"] == "categorical":
            result[name] = CategoricalParameter(spec["values"])
        else:
            kind = ContinuousParameter if spec["type"] == "continuous" else IntegerParameter
            result[name] = kind(spec["min"], spec["max"], scaling_type=spec.get("scaling", "Auto"))
    return result


def build_training_pipeline(config: dict[str, Any], env: str, images: dict[str, str] | None = None) -> Any:
    """The training pipeline of one environment, with image URIs as parameter defaults."""
    prepare_sdk(config)
    from sagemaker.mlops.workflow.pipeline import Pipeline

    context = pipeline_context(config, env, "training", images)
    parameters = training_parameters(config, env, context.bucket)
    assembly, snapshot = _data_steps(config, context, parameters)
    processing = _processing_step(config, context, snapshot)
    training, model_uri, metrics = _training_step(config, context, processing, parameters["TrainingInstanceType"])
    baseline, explainability = _analysis_steps(config, context, snapshot, processing, training, model_uri)
    gate = _gate_step(context, parameters, model_uri, assembly, processing)
    register = _register_step(
        config, env, context, parameters,
        {"assembly": assembly, "snapshot": snapshot, "processing": processing, "baseline": baseline,
         "explainability": explainability, "gate": gate},
        model_uri, metrics,
    )  # fmt: skip
    return Pipeline(
        name=layout.pipeline_name(config, env, "training"),
        parameters=[*parameters.values(), *context.image.values(), context.processing_type],
        steps=[assembly, snapshot, processing, training, baseline, explainability, gate, register],
        sagemaker_session=context.session,
    )


def _content_guard(config: dict[str, Any], snapshot: Any) -> dict[str, Any]:
    """What a job reading the training data checks: that its input is the snapshot its URI names."""
    caching = "on" if config["pipelines"]["cache"]["enabled"] else "off"
    return {job_env.INPUT_DATA: output_uri(snapshot, SNAPSHOT), job_env.STEP_CACHING: caching}


def _processing_step(config: dict[str, Any], context: PipelineContext, snapshot: Any) -> Any:
    """Processing (train): the snapshot split, and the preprocessing fitted on it."""
    return component_step(
        names.PROCESSING,
        PROCESSING,
        "train",
        image=context.image[PROCESSING],
        inputs={RAW: output_uri(snapshot, SNAPSHOT)},
        outputs={name: context.run_uri(PROCESSING, name) for name in mode(PROCESSING, "train").outputs},
        environment=_content_guard(config, snapshot),
        cache_config=cache_config(config),
        **context.job,
    )


def _analysis_steps(
    config: dict[str, Any], context: PipelineContext, snapshot: Any, processing: Any, training: Any, model_uri: Any
) -> tuple[Any, Any]:
    """MonitoringBaseline (the data-quality baseline of the training data) and Explainability (of the model)."""
    baseline = component_step(
        names.MONITORING_BASELINE,
        MONITORING,
        "train",
        image=context.image[MONITORING],
        inputs={RAW: output_uri(snapshot, SNAPSHOT)},
        outputs={BASELINE: context.run_uri(MONITORING, BASELINE)},
        depends_on=[training],
        environment=_content_guard(config, snapshot),
        cache_config=cache_config(config),
        **context.job,
    )
    explainability = component_step(
        names.EXPLAINABILITY,
        EXPLAINABILITY,
        "train",
        image=context.image[EXPLAINABILITY],
        inputs={
            MODEL: model_uri,
            DATA: output_uri(processing, VALIDATION),
            ARTIFACTS: output_uri(processing, ARTIFACTS),
        },
        outputs={REPORT: context.run_uri(EXPLAINABILITY, REPORT)},
        cache_config=cache_config(config),
        **context.job,
    )
    return baseline, explainability


def training_parameters(config: dict[str, Any], env: str, bucket: str) -> dict[str, Any]:
    """The training pipeline's parameters by name: its data, what a retrain adds, the champion, the run's facts."""
    from sagemaker.core.workflow.parameters import ParameterString

    settings = config["pipelines"]
    empty = layout.empty_prefix(config, env)
    return {
        "InputData": ParameterString("InputData", default_value=f"s3://{bucket}/data/train/"),
        "ProductionInputs": ParameterString("ProductionInputs", default_value=empty),
        "ProductionLabels": ParameterString("ProductionLabels", default_value=empty),
        "RetrainingWindow": ParameterString("RetrainingWindow", default_value=config["retraining"]["window"]),
        # keep or age_out: what becomes of rows scored before the window (the retrain Lambda chooses by cause).
        "BaseRows": ParameterString("BaseRows", default_value="keep"),
        "ChampionModelUri": ParameterString("ChampionModelUri", default_value=empty),
        "ChampionVersion": ParameterString("ChampionVersion", default_value=""),
        # The champion's manifest digests (registry/digests.py): the gate checks its model before opening it.
        "ChampionDigests": ParameterString("ChampionDigests", default_value=""),
        "TrainingInstanceType": ParameterString(
            "TrainingInstanceType", default_value=settings["training_instance_type"]
        ),
        "GitSha": ParameterString("GitSha", default_value="unknown"),
    }


def _data_steps(config: dict[str, Any], context: PipelineContext, parameters: dict[str, Any]) -> tuple[Any, Any]:
    """TrainingData (assemble the set) and TrainingDataSnapshot (write it under its digest)."""
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.properties import PropertyFile

    report = PropertyFile(name=names.DATASET_REPORT, output_name=DATASET, path="dataset.json")
    snapshots = f"s3://{context.bucket}/data/train/"
    assembly = component_step(
        names.TRAINING_DATA,
        PROCESSING,
        "assemble",
        image=context.image[PROCESSING],
        inputs={
            BASE: parameters["InputData"],
            INPUTS: parameters["ProductionInputs"],
            LABELS: parameters["ProductionLabels"],
        },
        outputs={name: context.run_uri("data", name) for name in mode(PROCESSING, "assemble").outputs},
        property_files=[report],
        environment={
            job_env.INPUT_DATA: parameters["InputData"],
            job_env.ASSEMBLED_AT: ExecutionVariables.START_DATETIME,
            job_env.RETRAINING_WINDOW: parameters["RetrainingWindow"],
            job_env.BASE_ROWS: parameters["BaseRows"],
            job_env.SNAPSHOT_PREFIX: snapshots,  # a base already there, under its digest, is not copied again
        },
        **context.job,
    )
    digest = JsonGet(step_name=assembly.name, property_file=report, json_path="sha256")
    address = Join(on="", values=[f"{snapshots}sha256=", digest, "/"])
    snapshot = component_step(
        names.TRAINING_DATA_SNAPSHOT,
        PROCESSING,
        "snapshot",
        image=context.image[PROCESSING],
        inputs={SET: output_uri(assembly, SET)},
        outputs={SNAPSHOT: address},
        environment={job_env.SNAPSHOT_URI: address},
        **context.job,
    )
    return assembly, snapshot


def _training_step(
    config: dict[str, Any], context: PipelineContext, processing: Any, instance_type: Any
) -> tuple[Any, Any, dict[str, Any]]:
    """The TrainingStep (or TuningStep), its model's URI, and the metrics Register records."""
    from sagemaker.core import shapes
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join
    from sagemaker.mlops.workflow.steps import TrainingStep, TuningStep
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import Compute, InputData
    from sagemaker.train.tuner import HyperparameterTuner

    trainer = ModelTrainer(
        training_image=context.image[ALGORITHM],
        role=context.role,
        sagemaker_session=context.session,
        base_job_name="training",
        compute=Compute(instance_type=instance_type, instance_count=1),
        hyperparameters=dict(config["algorithm"]["hyperparameters"]),
        output_data_config=shapes.OutputDataConfig(s3_output_path=context.run_uri("model")),
    )
    metric_definitions = [
        {"Name": f"validation:{m}", "Regex": f"validation:{m}=([-+0-9.eE]+)"} for m in layout.metric_names(config)
    ]
    channels = [
        InputData(channel_name=name, data_source=output_uri(processing, name), content_type="text/csv")
        for name in mode(ALGORITHM, "train").inputs
    ]
    tuning = config["algorithm"]["tuning"]
    if tuning["enabled"]:
        objective, direction = layout.objective_metric(config["data"]["problem_type"])
        tuner = HyperparameterTuner(
            model_trainer=trainer,
            objective_metric_name=objective,
            objective_type=direction,
            hyperparameter_ranges=parameter_ranges(tuning["ranges"]),
            metric_definitions=metric_definitions,
            max_jobs=tuning["max_jobs"],
            max_parallel_jobs=tuning["max_parallel_jobs"],
            strategy="Bayesian",
        )
        training = TuningStep(
            names.TRAINING, step_args=tuner.tune(inputs=channels), retry_policies=context.retry_policies
        )
        model_prefix = Join(on="/", values=["runs/training", ExecutionVariables.PIPELINE_EXECUTION_ID, "model"])
        model_uri = training.get_top_model_s3_uri(top_k=0, s3_bucket=context.bucket, prefix=model_prefix)
        best = training.properties.BestTrainingJob.FinalHyperParameterTuningJobObjectiveMetric.Value
        return training, model_uri, {f"metric_{objective.split(':', 1)[1]}": best}
    trainer = trainer.with_metric_definitions(
        [shapes.MetricDefinition(name=d["Name"], regex=d["Regex"]) for d in metric_definitions]
    )
    training = TrainingStep(
        names.TRAINING,
        step_args=trainer.train(input_data_config=channels),
        retry_policies=context.retry_policies,
        cache_config=cache_config(config),
    )
    metrics = {
        f"metric_{m}": training.properties.FinalMetricDataList[f"validation:{m}"].Value
        for m in layout.metric_names(config)
    }
    return training, training.properties.ModelArtifacts.S3ModelArtifacts, metrics


def _gate_step(
    context: PipelineContext, parameters: dict[str, Any], model_uri: Any, assembly: Any, processing: Any
) -> Any:
    """The champion-challenger gate: the algorithm image's compare mode, run as a Processing job."""
    from sagemaker.core.workflow.properties import PropertyFile

    return component_step(
        names.GATE,
        ALGORITHM,
        "compare",
        image=context.image[ALGORITHM],
        inputs={
            CHALLENGER: model_uri,
            CHAMPION: parameters["ChampionModelUri"],
            RECENT: output_uri(assembly, HOLDOUT),
            VALIDATION: output_uri(processing, EVALUATION),
        },
        outputs={GATE: context.run_uri(GATE)},
        property_files=[PropertyFile(name=names.GATE_REPORT, output_name=GATE, path="gate.json")],
        environment={
            job_env.CHAMPION_VERSION: parameters["ChampionVersion"],
            DIGESTS_ENV: parameters["ChampionDigests"],
        },
        **context.job,
    )


def _register_step(
    config: dict[str, Any],
    env: str,
    context: PipelineContext,
    parameters: dict[str, Any],
    steps: dict[str, Any],
    model_uri: Any,
    metrics: dict[str, Any],
) -> Any:
    """Register: the manifest (artefacts, lineage, the gate's verdict) as a new version, or none for a duplicate."""
    from sagemaker.core.lambda_helper import Lambda
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import JsonGet
    from sagemaker.mlops.workflow.lambda_step import LambdaOutput, LambdaOutputTypeEnum, LambdaStep

    gate, assembly = steps["gate"], steps["assembly"]

    def from_gate(path: str) -> Any:
        return JsonGet(step_name=gate.name, property_file=names.GATE_REPORT, json_path=path)

    return LambdaStep(
        names.REGISTER,
        lambda_func=Lambda(function_arn=layout.lambda_arn(config, env, "register"), session=context.session),
        inputs={
            "manifest_parameter": layout.manifest_parameter(config, env),
            "package_group": layout.package_group(config, env),
            "algorithm_image": context.image[ALGORITHM],
            "project": config["project"]["slug"],
            "environment": env,
            "run_id": ExecutionVariables.PIPELINE_EXECUTION_ID,
            "pipeline_execution": ExecutionVariables.PIPELINE_EXECUTION_ARN,
            "trained_at": ExecutionVariables.START_DATETIME,
            "training_data": output_uri(steps["snapshot"], SNAPSHOT),
            "base_data": parameters["InputData"],
            "lineage": JsonGet(step_name=assembly.name, property_file=names.DATASET_REPORT, json_path="lineage"),
            "model": model_uri,
            "preprocessing": output_uri(steps["processing"], ARTIFACTS),
            "baseline": output_uri(steps["baseline"], BASELINE),
            "explainability": output_uri(steps["explainability"], REPORT),
            "gate_report": output_uri(gate, GATE),
            "gate_passed": from_gate("passed"),
            "gate_record": from_gate("record"),
            "champion_version": from_gate("champion_version"),
            "model_identity": from_gate("model_identity"),
            "model_sha256": from_gate("model_sha256"),
            "model_contents_sha256": from_gate("model_contents_sha256"),
            "promotion": config["promotion"]["mode"][env],
            "git_sha": parameters["GitSha"],
            "template_version": config["project"]["template_version"],
            **metrics,
        },
        outputs=[
            LambdaOutput(output_name="manifest_version", output_type=LambdaOutputTypeEnum.Integer),
            LambdaOutput(output_name="registered", output_type=LambdaOutputTypeEnum.Boolean),
            LambdaOutput(output_name="promoted", output_type=LambdaOutputTypeEnum.Boolean),
            LambdaOutput(output_name="decision", output_type=LambdaOutputTypeEnum.String),
        ],
        depends_on=[steps["baseline"], steps["explainability"]],
    )
