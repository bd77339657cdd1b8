"""The training pipeline: Processing -> Training -> (MonitoringBaseline || Explainability) -> Register.

Training is a TrainingStep, or a TuningStep over config's ranges when tuning is enabled.

Step caching (pipelines.cache): the job steps carry CacheConfig, because every input that can
change is addressed by content. The training data is a `sha256=<digest>/` snapshot (Processing
and MonitoringBaseline check the digest, and refuse a prefix that names none while caching is
on, so no successful run of a mutable prefix is ever recorded); images are digest-pinned; the
config is in the image, the hyperparameters in the request. Every other input is an upstream
step's output, under a prefix of the execution that wrote it, so a step that ran again makes
every step after it miss. Register (a Lambda) always runs; a TuningStep is never cached: its
best model's URI is built from the current execution's prefix, where a cached tuning job's
model is not.
"""

from __future__ import annotations

from typing import Any

from ..components.algorithm.model import objective_metric
from . import layout
from .steps import cache_config, component_step, output_uri, pipeline_context


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
    layout.prepare_sdk(config)
    from sagemaker.core import shapes
    from sagemaker.core.lambda_helper import Lambda
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join
    from sagemaker.core.workflow.parameters import ParameterString
    from sagemaker.mlops.workflow.lambda_step import LambdaOutput, LambdaOutputTypeEnum, LambdaStep
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.steps import TrainingStep, TuningStep
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import Compute, InputData
    from sagemaker.train.tuner import HyperparameterTuner

    context = pipeline_context(config, env, "training", images)
    session, role, bucket = context.session, context.role, context.bucket
    image, run_uri = context.image, context.run_uri
    settings = config["pipelines"]

    input_data = ParameterString("InputData", default_value=f"s3://{bucket}/data/train/")
    training_type = ParameterString("TrainingInstanceType", default_value=settings["training_instance_type"])
    git_sha = ParameterString("GitSha", default_value="unknown")

    job = context.job
    cache = cache_config(config)
    guard = {"INPUT_DATA": input_data, "STEP_CACHING": "on" if settings["cache"]["enabled"] else "off"}
    processing = component_step(
        "Processing",
        "train",
        image=image["processing"],
        inputs={"raw": input_data},
        outputs={name: run_uri("processing", name) for name in ("train", "validation", "artifacts")},
        environment=guard,
        cache_config=cache,
        **job,
    )

    trainer = ModelTrainer(
        training_image=image["algorithm"],
        role=role,
        sagemaker_session=session,
        base_job_name="training",
        compute=Compute(instance_type=training_type, instance_count=1),
        hyperparameters=dict(config["algorithm"]["hyperparameters"]),
        output_data_config=shapes.OutputDataConfig(s3_output_path=run_uri("model")),
    )
    metric_definitions = [
        {"Name": f"validation:{m}", "Regex": f"validation:{m}=([-+0-9.eE]+)"} for m in layout.metric_names(config)
    ]
    channels = [
        InputData(channel_name=name, data_source=output_uri(processing, name), content_type="text/csv")
        for name in ("train", "validation", "artifacts")
    ]
    tuning = config["algorithm"]["tuning"]
    if tuning["enabled"]:
        objective, direction = objective_metric(config["data"]["problem_type"])
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
        training = TuningStep("Training", step_args=tuner.tune(inputs=channels), retry_policies=context.retry_policies)
        model_prefix = Join(on="/", values=["runs/training", ExecutionVariables.PIPELINE_EXECUTION_ID, "model"])
        model_uri = training.get_top_model_s3_uri(top_k=0, s3_bucket=bucket, prefix=model_prefix)
        best = training.properties.BestTrainingJob.FinalHyperParameterTuningJobObjectiveMetric.Value
        metrics = {f"metric_{objective.split(':', 1)[1]}": best}
    else:
        trainer = trainer.with_metric_definitions(
            [shapes.MetricDefinition(name=d["Name"], regex=d["Regex"]) for d in metric_definitions]
        )
        training = TrainingStep(
            "Training",
            step_args=trainer.train(input_data_config=channels),
            retry_policies=context.retry_policies,
            cache_config=cache,
        )
        model_uri = training.properties.ModelArtifacts.S3ModelArtifacts
        metrics = {
            f"metric_{m}": training.properties.FinalMetricDataList[f"validation:{m}"].Value
            for m in layout.metric_names(config)
        }

    baseline = component_step(
        "MonitoringBaseline",
        "train",
        image=image["monitoring"],
        inputs={"raw": input_data},
        outputs={"baseline": run_uri("monitoring", "baseline")},
        depends_on=[training],
        environment=guard,
        cache_config=cache,
        **job,
    )
    explainability = component_step(
        "Explainability",
        "train",
        image=image["explainability"],
        inputs={
            "model": model_uri,
            "data": output_uri(processing, "validation"),
            "artifacts": output_uri(processing, "artifacts"),
        },
        outputs={"report": run_uri("explainability", "report")},
        cache_config=cache,
        **job,
    )

    register = LambdaStep(
        "Register",
        lambda_func=Lambda(function_arn=layout.lambda_arn(config, env, "register"), session=session),
        inputs={
            "manifest_parameter": layout.manifest_parameter(config, env),
            "run_id": ExecutionVariables.PIPELINE_EXECUTION_ID,
            "pipeline_execution": ExecutionVariables.PIPELINE_EXECUTION_ARN,
            "training_data": input_data,
            "model": model_uri,
            "preprocessing": output_uri(processing, "artifacts"),
            "baseline": output_uri(baseline, "baseline"),
            "explainability": output_uri(explainability, "report"),
            "git_sha": git_sha,
            "template_version": config["project"]["template_version"],
            **metrics,
        },
        outputs=[LambdaOutput(output_name="manifest_version", output_type=LambdaOutputTypeEnum.Integer)],
        depends_on=[baseline, explainability],
    )

    return Pipeline(
        name=layout.pipeline_name(config, env, "training"),
        parameters=[
            input_data,
            *image.values(),
            context.processing_type,
            training_type,
            git_sha,
        ],
        steps=[processing, training, baseline, explainability, register],
        sagemaker_session=session,
    )
