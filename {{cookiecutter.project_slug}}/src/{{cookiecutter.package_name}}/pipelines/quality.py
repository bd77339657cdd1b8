"""The model-quality pipeline: ModelQuality -> QualityCheck (-> RetrainOnQuality or AlertOnQuality).

ModelQuality joins the kept predictions of the window's inference runs with the labels that
have landed (monitoring's `quality` mode) and writes Model Monitor's model-quality statistics
and violations. A violation starts the Lambda that data drift starts (`drift_action`): with
`retrain`, the same retrain Lambda and the same cooling period, so drift and a quality drop in
one day retrain once.
"""

from __future__ import annotations

from typing import Any

from .. import job_environment as job_env
from ..channels import LABELS, MODEL, MONITORING, PREDICTIONS, QUALITY
from ..registry.digests import DIGESTS_ENV
from . import layout, names
from .inference import drift_action_lambda
from .sdk import prepare_sdk
from .steps import component_step, output_uri, pipeline_context


def build_quality_pipeline(config: dict[str, Any], env: str, images: dict[str, str] | None = None) -> Any:
    """The model-quality pipeline of one environment; the model comes in as a parameter."""
    prepare_sdk(config)
    from sagemaker.core.workflow.conditions import ConditionEquals
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import JsonGet
    from sagemaker.core.workflow.parameters import ParameterString
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.pipeline import Pipeline

    context = pipeline_context(config, env, "quality", images)
    settings = config["quality"]
    model_uri = ParameterString("ModelUri")
    digests = ParameterString("ArtifactDigests")  # the manifest's: the job checks the model before opening it
    manifest_version = ParameterString("ManifestVersion", default_value="latest")
    predictions = ParameterString("PredictionsData", default_value=layout.predictions_prefix(config, env))
    labels = ParameterString("LabelsData", default_value=layout.labels_prefix(config, env))
    start = ParameterString("StartOffset", default_value=settings["start_offset"])
    end = ParameterString("EndOffset", default_value=settings["end_offset"])
    minimum = ParameterString("MinLabelledRows", default_value=str(settings["min_labelled_rows"]))

    report = PropertyFile(name=names.QUALITY_REPORT, output_name=QUALITY, path="quality.json")
    model_quality = component_step(
        names.MODEL_QUALITY,
        MONITORING,
        "quality",
        image=context.image[MONITORING],
        inputs={PREDICTIONS: predictions, LABELS: labels, MODEL: model_uri},
        outputs={QUALITY: context.run_uri(MONITORING, QUALITY)},
        property_files=[report],
        environment={
            job_env.QUALITY_START_OFFSET: start,
            job_env.QUALITY_END_OFFSET: end,
            job_env.QUALITY_MIN_LABELLED_ROWS: minimum,
            job_env.EVALUATION_TIME: ExecutionVariables.START_DATETIME,
            DIGESTS_ENV: digests,
        },
        **context.job,
    )
    on_violation = drift_action_lambda(
        config, env, context.session, names.QUALITY, manifest_version, output_uri(model_quality, QUALITY),
        cause="model quality",
    )  # fmt: skip
    quality_check = ConditionStep(
        names.QUALITY_CHECK,
        conditions=[
            ConditionEquals(
                left=JsonGet(step_name=model_quality.name, property_file=report, json_path="violated"), right=True
            )
        ],
        if_steps=[on_violation],
        else_steps=[],
    )
    return Pipeline(
        name=layout.pipeline_name(config, env, "quality"),
        parameters=[
            model_uri, digests, manifest_version, predictions, labels, start, end, minimum, *context.image.values(),
            context.processing_type,
        ],
        steps=[model_quality, quality_check],
        sagemaker_session=context.session,
    )  # fmt: skip
