"""The batch-inference pipeline: Processing -> Transform -> (Estimate || Monitoring || Explainability) -> DriftCheck.

Scale-out: Processing, MonitoringShards and ExplainabilityShards run on the
ProcessingInstanceCount parameter's instances, each given a share of the input files
(ShardedByS3Key). Monitoring and Explainability then merge the shards' summaries on one
instance, reaching the result a single pass would. Batch Transform scales by
`transform_instance_count`, `max_payload_mb` and `max_concurrent_transforms`.

On drift, `drift_action: retrain` starts the training pipeline through a Lambda (which
respects a cooling period and also alerts); `alert` only alerts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .. import job_environment as job_env
from ..channels import (
    ALGORITHM,
    ARTIFACTS,
    BASELINE,
    DATA,
    ESTIMATE,
    EXPLAINABILITY,
    EXPLANATIONS,
    KEPT,
    MODEL,
    MONITORING,
    PREDICTIONS,
    PROCESSED,
    PROCESSING,
    RAW,
    REPORT,
    SCORED,
    SUMMARIES,
    SUMMARY,
)
from ..lambdas import available
from ..registry.digests import DIGESTS_ENV
from . import layout, names
from .sdk import prepare_sdk
from .steps import PipelineContext, component_step, output_uri, pipeline_context


@dataclass
class InferenceParameters:
    """The inference pipeline's parameters: the batch, the model the manifest names, and the drift thresholds."""

    input_data: Any
    model_uri: Any
    preprocessing_uri: Any
    baseline_uri: Any
    digests: Any  # the manifest's digests of those artefacts: every job checks what it loads before opening it
    manifest_version: Any
    transform_type: Any
    thresholds: dict[str, Any]  # each drift threshold's environment variable -> its parameter

    @property
    def pinned(self) -> dict[str, Any]:
        """The environment every job that loads a registered artefact gets."""
        return {DIGESTS_ENV: self.digests}


def build_inference_pipeline(config: dict[str, Any], env: str, images: dict[str, str] | None = None) -> Any:
    """The batch-inference pipeline of one environment; the model comes in as parameters."""
    prepare_sdk(config)
    from sagemaker.mlops.workflow.pipeline import Pipeline

    context = pipeline_context(config, env, "inference", images)
    parameters = inference_parameters(config, context.bucket)
    processing, model, transform = scoring_steps(config, env, context, parameters)
    estimate, monitoring_shards, monitoring, drift_report = monitoring_steps(
        config, env, context, parameters, transform
    )
    explainability_shards, explainability = explainability_steps(context, parameters, processing, transform)
    drift_check = drift_check_step(config, env, context, parameters, monitoring, drift_report, explainability)
    p = parameters
    return Pipeline(
        name=layout.pipeline_name(config, env, "inference"),
        parameters=[
            p.input_data, p.model_uri, p.preprocessing_uri, p.baseline_uri, p.digests, p.manifest_version,
            *context.image.values(), context.processing_type, context.processing_count, p.transform_type,
            *p.thresholds.values(),
        ],
        steps=[
            processing, model, transform, estimate, monitoring_shards, monitoring,
            explainability_shards, explainability, drift_check,
        ],
        sagemaker_session=context.session,
    )  # fmt: skip


def inference_parameters(config: dict[str, Any], bucket: str) -> InferenceParameters:
    from sagemaker.core.workflow.parameters import ParameterString

    settings, monitoring = config["pipelines"], config["monitoring"]
    thresholds = {
        job_env.DRIFT_SIGNIFICANCE_LEVEL: ("DriftSignificanceLevel", monitoring["significance_level"]),
        job_env.DRIFT_COMPARISON_THRESHOLD: ("DriftComparisonThreshold", monitoring["comparison_threshold"]),
        job_env.DRIFT_CATEGORICAL_THRESHOLD: (
            "DriftCategoricalThreshold", monitoring["categorical_comparison_threshold"]
        ),
        job_env.DRIFT_COMPLETENESS_TOLERANCE: ("DriftCompletenessTolerance", monitoring["completeness_tolerance"]),
    }  # fmt: skip
    return InferenceParameters(
        input_data=ParameterString("InputData", default_value=f"s3://{bucket}/data/inference/"),
        model_uri=ParameterString("ModelUri"),
        preprocessing_uri=ParameterString("PreprocessingUri"),
        baseline_uri=ParameterString("BaselineUri"),
        digests=ParameterString("ArtifactDigests"),
        manifest_version=ParameterString("ManifestVersion", default_value="latest"),
        transform_type=ParameterString("TransformInstanceType", default_value=settings["transform_instance_type"]),
        thresholds={
            variable: ParameterString(name, default_value=str(value)) for variable, (name, value) in thresholds.items()
        },
    )


def transform_data_processing(problem_type: str) -> dict[str, str]:
    """How Batch Transform keeps each prediction with its inference id (ID_COLUMN; its DataProcessing).

    Processed rows start with the inference id. The model gets the row without it
    (InputFilter); each answer is joined to its input row (JoinSource) and the published line
    keeps the id and the answer's columns (OutputFilter): `inference_id,label,probability`
    for classifiers, `inference_id,prediction` for regression.
    """
    answer = "-1" if problem_type == "regression" else "-2,-1"
    return {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": f"$[0,{answer}]"}


def scoring_steps(
    config: dict[str, Any], env: str, context: PipelineContext, parameters: InferenceParameters
) -> tuple[Any, Any, Any]:
    """Processing (serve) -> CreateModel -> Transform: the batch prepared as training's data was, then scored."""
    from sagemaker.core.transformer import Transformer
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join
    from sagemaker.mlops.workflow.model_step import ModelStep
    from sagemaker.mlops.workflow.steps import TransformStep
    from sagemaker.serve.model_builder import ModelBuilder

    execution_id = ExecutionVariables.PIPELINE_EXECUTION_ID
    settings = config["pipelines"]
    processing = component_step(
        names.PROCESSING,
        PROCESSING,
        "serve",
        image=context.image[PROCESSING],
        inputs={RAW: parameters.input_data, ARTIFACTS: parameters.preprocessing_uri},
        outputs={
            PROCESSED: context.run_uri(PROCESSING, PROCESSED),
            # The raw rows as scored, kept for retraining under the same retention as the predictions.
            KEPT: Join(on="/", values=[layout.inputs_prefix(config, env).rstrip("/"), execution_id]),
        },
        sharded=(RAW,),
        environment={
            job_env.INFERENCE_ID_PREFIX: execution_id,  # ids unique per execution
            job_env.SCORED_AT: ExecutionVariables.START_DATETIME,
        }
        | parameters.pinned,
        **context.job | {"instance_count": context.processing_count},
    )
    model = ModelStep(
        names.CREATE_MODEL,
        step_args=ModelBuilder(
            image_uri=context.image[ALGORITHM],
            s3_model_data_url=parameters.model_uri,
            env_vars=parameters.pinned,
            role_arn=context.role,
            sagemaker_session=context.session,
            log_level=logging.ERROR,  # its default, DEBUG, narrates every definition build
        ).build(),
        retry_policies=context.retry_policies[1:],  # a Model step takes only StepRetryPolicy (no job errors)
    )
    keep_ids = transform_data_processing(config["data"]["problem_type"])
    transformer = Transformer(
        model_name=model.properties.ModelName,
        instance_count=settings["transform_instance_count"],
        instance_type=parameters.transform_type,
        output_path=context.run_uri("predictions"),
        accept="text/csv",
        assemble_with="Line",
        strategy="MultiRecord",
        max_payload=settings["max_payload_mb"],
        max_concurrent_transforms=settings["max_concurrent_transforms"],
        sagemaker_session=context.session,
        base_transform_job_name="transform",
    )
    transform = TransformStep(
        names.TRANSFORM,
        step_args=transformer.transform(
            data=output_uri(processing, PROCESSED),
            content_type="text/csv",
            split_type="Line",
            input_filter=keep_ids["InputFilter"],
            join_source=keep_ids["JoinSource"],
            output_filter=keep_ids["OutputFilter"],
        ),
        retry_policies=context.retry_policies,
    )
    return processing, model, transform


def monitoring_steps(
    config: dict[str, Any], env: str, context: PipelineContext, parameters: InferenceParameters, transform: Any
) -> tuple[Any, Any, Any, Any]:
    """The estimate (with the batch's predictions kept for model quality), and drift: shards, then their merge."""
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join
    from sagemaker.core.workflow.properties import PropertyFile

    execution_id = ExecutionVariables.PIPELINE_EXECUTION_ID
    image, run_uri, pinned = context.image[MONITORING], context.run_uri, parameters.pinned
    kept = Join(on="/", values=[layout.predictions_prefix(config, env).rstrip("/"), execution_id])
    estimate = component_step(
        names.PERFORMANCE_ESTIMATE,
        MONITORING,
        "estimate",
        image=image,
        inputs={PREDICTIONS: run_uri(PREDICTIONS), MODEL: parameters.model_uri},
        outputs={ESTIMATE: run_uri(MONITORING, ESTIMATE), SCORED: kept},
        environment={job_env.RUN_ID: execution_id, job_env.SCORED_AT: ExecutionVariables.START_DATETIME} | pinned,
        depends_on=[transform],
        **context.job,
    )
    shards = component_step(
        names.MONITORING_SHARDS,
        MONITORING,
        "summarize",
        image=image,
        inputs={RAW: parameters.input_data, BASELINE: parameters.baseline_uri},
        outputs={SUMMARY: run_uri(MONITORING, SUMMARIES)},
        environment=pinned,
        depends_on=[transform],
        sharded=(RAW,),
        **context.job | {"instance_count": context.processing_count},
    )
    drift_report = PropertyFile(name=names.DRIFT_REPORT, output_name=REPORT, path="drift.json")
    monitoring = component_step(
        names.MONITORING,
        MONITORING,
        "merge",
        image=image,
        inputs={SUMMARIES: output_uri(shards, SUMMARY), BASELINE: parameters.baseline_uri},
        outputs={REPORT: run_uri(MONITORING, REPORT)},
        property_files=[drift_report],
        environment=parameters.thresholds | pinned,
        **context.job,
    )
    return estimate, shards, monitoring, drift_report


def explainability_steps(
    context: PipelineContext, parameters: InferenceParameters, processing: Any, transform: Any
) -> tuple[Any, Any]:
    """Each scored row explained on its shard, then the shards' summaries merged into one report."""
    image, run_uri, pinned = context.image[EXPLAINABILITY], context.run_uri, parameters.pinned
    shards = component_step(
        names.EXPLAINABILITY_SHARDS,
        EXPLAINABILITY,
        "explain",
        image=image,
        inputs={
            MODEL: parameters.model_uri,
            DATA: output_uri(processing, PROCESSED),
            ARTIFACTS: parameters.preprocessing_uri,
        },
        outputs={
            EXPLANATIONS: run_uri(EXPLAINABILITY, EXPLANATIONS),
            SUMMARY: run_uri(EXPLAINABILITY, SUMMARIES),
        },
        environment=pinned,
        depends_on=[transform],
        sharded=(DATA,),
        **context.job | {"instance_count": context.processing_count},
    )
    explainability = component_step(
        names.EXPLAINABILITY,
        EXPLAINABILITY,
        "merge",
        image=image,
        inputs={SUMMARIES: output_uri(shards, SUMMARY), ARTIFACTS: parameters.preprocessing_uri},
        outputs={REPORT: run_uri(EXPLAINABILITY, REPORT)},
        environment=pinned,
        **context.job,
    )
    return shards, explainability


def drift_check_step(
    config: dict[str, Any],
    env: str,
    context: PipelineContext,
    parameters: InferenceParameters,
    monitoring: Any,
    drift_report: Any,
    explainability: Any,
) -> Any:
    """On drift, the configured action (retrain or alert), once explanations are written."""
    from sagemaker.core.workflow.conditions import ConditionEquals
    from sagemaker.core.workflow.functions import JsonGet
    from sagemaker.mlops.workflow.condition_step import ConditionStep

    on_drift = drift_action_lambda(
        config, env, context.session, names.DRIFT, parameters.manifest_version, output_uri(monitoring, REPORT),
        cause="data drift",
    )  # fmt: skip
    return ConditionStep(
        names.DRIFT_CHECK,
        conditions=[
            ConditionEquals(
                left=JsonGet(step_name=monitoring.name, property_file=drift_report, json_path="drift_detected"),
                right=True,
            )
        ],
        if_steps=[on_drift],
        else_steps=[],
        depends_on=[explainability],
    )


def drift_action_lambda(
    config: dict[str, Any], env: str, session: Any, what: str, manifest_version: Any, report: Any, cause: str
) -> Any:
    """The LambdaStep `drift_action` names: Retrain<On What> (cooling period shared) or AlertOn<What>."""
    from sagemaker.core.lambda_helper import Lambda
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.mlops.workflow.lambda_step import LambdaOutput, LambdaOutputTypeEnum, LambdaStep

    action = config["inference"]["drift_action"]
    if action not in available():
        raise ValueError(
            f"config/project.yaml sets inference.drift_action to {action!r}, but this repository was generated "
            f"without the {action} Lambda (lambdas/{action}.py). Switch with "
            f'`cruft update --variables-to-update \'{{"drift_action": "{action}"}}\'`.'
        )
    event = {
        "project": config["project"]["slug"],
        "environment": env,
        "run_id": ExecutionVariables.PIPELINE_EXECUTION_ID,
        "manifest_version": manifest_version,
        "cause": cause,
        "report": report,
    }
    if action == "retrain":
        event |= {
            "training_pipeline": layout.pipeline_name(config, env, "training"),
            "manifest_parameter": layout.manifest_parameter(config, env),
            "state_parameter": layout.state_parameter(config, env, "last-retrain"),  # one cooling period for both
            "cooldown_hours": float(config["inference"]["retrain_cooldown_hours"]),
            # What a retrain adds to the serving model's data: kept inputs and the labels landed since.
            "labels_prefix": layout.labels_prefix(config, env),
            "inputs_prefix": layout.inputs_prefix(config, env),
            "min_new_labelled_rows": int(config["retraining"]["min_new_labelled_rows"]),
            "base_rows": config["retraining"]["base_rows"]["data_drift" if what == names.DRIFT else "quality_drop"],
        }
    return LambdaStep(
        names.action_step(action, what),
        lambda_func=Lambda(function_arn=layout.lambda_arn(config, env, action), session=session),
        inputs=event,
        outputs=[
            LambdaOutput(output_name="retrain_started", output_type=LambdaOutputTypeEnum.Boolean),
            LambdaOutput(output_name="reason", output_type=LambdaOutputTypeEnum.String),
            LambdaOutput(output_name="execution", output_type=LambdaOutputTypeEnum.String),
        ],
    )
