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
from typing import Any

from .. import job_environment as job_env
from ..lambdas import available
from ..registry.digests import DIGESTS_ENV
from . import layout, names
from .steps import component_step, output_uri, pipeline_context


def build_inference_pipeline(config: dict[str, Any], env: str, images: dict[str, str] | None = None) -> Any:
    """The batch-inference pipeline of one environment; the model comes in as parameters."""
    layout.prepare_sdk(config)
    from sagemaker.core.transformer import Transformer
    from sagemaker.core.workflow.conditions import ConditionEquals
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.parameters import ParameterString
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.model_step import ModelStep
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.steps import TransformStep
    from sagemaker.serve.model_builder import ModelBuilder

    context = pipeline_context(config, env, "inference", images)
    execution_id = ExecutionVariables.PIPELINE_EXECUTION_ID
    session, role, bucket = context.session, context.role, context.bucket
    image, run_uri = context.image, context.run_uri
    settings = config["pipelines"]

    input_data = ParameterString("InputData", default_value=f"s3://{bucket}/data/inference/")
    model_uri = ParameterString("ModelUri")
    preprocessing_uri = ParameterString("PreprocessingUri")
    baseline_uri = ParameterString("BaselineUri")
    # The manifest's digests of those artefacts: every job checks what it loads before opening it.
    digests = ParameterString("ArtifactDigests")
    pinned = {DIGESTS_ENV: digests}
    manifest_version = ParameterString("ManifestVersion", default_value="latest")
    transform_type = ParameterString("TransformInstanceType", default_value=settings["transform_instance_type"])
    monitoring_settings = config["monitoring"]
    thresholds = {
        job_env.DRIFT_SIGNIFICANCE_LEVEL: ParameterString(
            "DriftSignificanceLevel", default_value=str(monitoring_settings["significance_level"])
        ),
        job_env.DRIFT_COMPARISON_THRESHOLD: ParameterString(
            "DriftComparisonThreshold", default_value=str(monitoring_settings["comparison_threshold"])
        ),
        job_env.DRIFT_CATEGORICAL_THRESHOLD: ParameterString(
            "DriftCategoricalThreshold", default_value=str(monitoring_settings["categorical_comparison_threshold"])
        ),
        job_env.DRIFT_COMPLETENESS_TOLERANCE: ParameterString(
            "DriftCompletenessTolerance", default_value=str(monitoring_settings["completeness_tolerance"])
        ),
    }

    job = context.job
    shards = job | {"instance_count": context.processing_count}
    processing = component_step(
        names.PROCESSING,
        "serve",
        image=image["processing"],
        inputs={"raw": input_data, "artifacts": preprocessing_uri},
        outputs={
            "processed": run_uri("processing", "processed"),
            # The raw rows as scored, kept for retraining under the same retention as the predictions.
            "kept": Join(on="/", values=[layout.inputs_prefix(config, env).rstrip("/"), execution_id]),
        },
        sharded=("raw",),
        environment={
            job_env.INFERENCE_ID_PREFIX: execution_id,  # ids unique per execution
            job_env.SCORED_AT: ExecutionVariables.START_DATETIME,
        }
        | pinned,
        **shards,
    )

    model = ModelStep(
        names.CREATE_MODEL,
        step_args=ModelBuilder(
            image_uri=image["algorithm"],
            s3_model_data_url=model_uri,
            env_vars=pinned,
            role_arn=role,
            sagemaker_session=session,
            log_level=logging.ERROR,  # its default, DEBUG, narrates every definition build
        ).build(),
        retry_policies=context.retry_policies[1:],  # a Model step takes only StepRetryPolicy (no job errors)
    )
    keep_ids = layout.transform_data_processing(config["data"]["problem_type"])
    transformer = Transformer(
        model_name=model.properties.ModelName,
        instance_count=settings["transform_instance_count"],
        instance_type=transform_type,
        output_path=run_uri("predictions"),
        accept="text/csv",
        assemble_with="Line",
        strategy="MultiRecord",
        max_payload=settings["max_payload_mb"],
        max_concurrent_transforms=settings["max_concurrent_transforms"],
        sagemaker_session=session,
        base_transform_job_name="transform",
    )
    transform = TransformStep(
        names.TRANSFORM,
        step_args=transformer.transform(
            data=output_uri(processing, "processed"),
            content_type="text/csv",
            split_type="Line",
            input_filter=keep_ids["InputFilter"],
            join_source=keep_ids["JoinSource"],
            output_filter=keep_ids["OutputFilter"],
        ),
        retry_policies=context.retry_policies,
    )

    # The estimate, and the batch's predictions kept where the model-quality pipeline reads them.
    kept = Join(on="/", values=[layout.predictions_prefix(config, env).rstrip("/"), execution_id])
    performance_estimate = component_step(
        names.PERFORMANCE_ESTIMATE,
        "estimate",
        image=image["monitoring"],
        inputs={"predictions": run_uri("predictions"), "model": model_uri},
        outputs={"estimate": run_uri("monitoring", "estimate"), "scored": kept},
        environment={job_env.RUN_ID: execution_id, job_env.SCORED_AT: ExecutionVariables.START_DATETIME} | pinned,
        depends_on=[transform],
        **job,
    )
    monitoring_shards = component_step(
        names.MONITORING_SHARDS,
        "summarize",
        image=image["monitoring"],
        inputs={"raw": input_data, "baseline": baseline_uri},
        outputs={"summary": run_uri("monitoring", "summaries")},
        environment=pinned,
        depends_on=[transform],
        sharded=("raw",),
        **shards,
    )
    drift_report = PropertyFile(name=names.DRIFT_REPORT, output_name="report", path="drift.json")
    monitoring = component_step(
        names.MONITORING,
        "merge",
        image=image["monitoring"],
        inputs={"summaries": output_uri(monitoring_shards, "summary"), "baseline": baseline_uri},
        outputs={"report": run_uri("monitoring", "report")},
        property_files=[drift_report],
        environment=thresholds | pinned,
        **job,
    )
    explainability_shards = component_step(
        names.EXPLAINABILITY_SHARDS,
        "explain",
        image=image["explainability"],
        inputs={"model": model_uri, "data": output_uri(processing, "processed"), "artifacts": preprocessing_uri},
        outputs={
            "explanations": run_uri("explainability", "explanations"),
            "summary": run_uri("explainability", "summaries"),
        },
        environment=pinned,
        depends_on=[transform],
        sharded=("data",),
        **shards,
    )
    explainability = component_step(
        names.EXPLAINABILITY,
        "merge",
        image=image["explainability"],
        inputs={"summaries": output_uri(explainability_shards, "summary"), "artifacts": preprocessing_uri},
        outputs={"report": run_uri("explainability", "report")},
        environment=pinned,
        **job,
    )

    on_drift = drift_action_lambda(
        config, env, session, names.DRIFT, manifest_version, output_uri(monitoring, "report"), cause="data drift"
    )
    drift_check = ConditionStep(
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

    return Pipeline(
        name=layout.pipeline_name(config, env, "inference"),
        parameters=[
            input_data, model_uri, preprocessing_uri, baseline_uri, digests, manifest_version, *image.values(),
            context.processing_type, context.processing_count, transform_type, *thresholds.values(),
        ],
        steps=[
            processing, model, transform, performance_estimate, monitoring_shards, monitoring,
            explainability_shards, explainability, drift_check,
        ],
        sagemaker_session=session,
    )  # fmt: skip


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
