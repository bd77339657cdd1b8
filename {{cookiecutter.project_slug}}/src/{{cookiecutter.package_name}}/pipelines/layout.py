"""Names and locations every pipeline, Lambda and deployment agrees on, derived from config."""

from __future__ import annotations

from typing import Any

from ..channels import COMPONENTS
from ..registry.manifest import manifest_parameter, prefix
from ..registry.packages import group_arn, group_name

CONTAINER_ROOT = "/opt/ml/processing"
METRIC_NAMES = {
    "regression": ["rmse", "mae", "r2"],
    "classification": ["auc", "accuracy", "f1", "log_loss"],
}


def metric_names(config: dict[str, Any]) -> list[str]:
    kind = "regression" if config["data"]["problem_type"] == "regression" else "classification"
    return METRIC_NAMES[kind]


def objective_metric(problem_type: str) -> tuple[str, str]:
    """The metric tuning optimises and its direction (the algorithm logs it as `validation:<name>=<value>`)."""
    if problem_type == "regression":
        return "validation:rmse", "Minimize"
    return "validation:auc", "Maximize"


def name(config: dict[str, Any], env: str, suffix: str) -> str:
    """<slug>-<env>-<suffix>: pipelines, Lambdas, roles and buckets share this pattern."""
    prefix(config, env)  # validates env
    return f"{config['project']['slug']}-{env}-{suffix}"


def account(config: dict[str, Any], env: str) -> str:
    """The AWS account an environment lives in: its own (aws.environment_accounts), else aws.account_id."""
    prefix(config, env)  # validates env
    return (config["aws"].get("environment_accounts") or {}).get(env) or config["aws"]["account_id"]


def tooling_account(config: dict[str, Any]) -> str:
    """Where CI/CD and the image repositories live: aws.account_id."""
    return config["aws"]["account_id"]


def multi_account(config: dict[str, Any]) -> bool:
    return bool(config["aws"].get("environment_accounts"))


def bucket(config: dict[str, Any], env: str) -> str:
    value = name(config, env, account(config, env))
    if len(value) > 63:
        raise ValueError(f"Bucket name {value!r} exceeds S3's 63 characters; choose a shorter project slug.")
    return value


def pipeline_name(config: dict[str, Any], env: str, kind: str) -> str:
    return name(config, env, kind)


def role_arn(config: dict[str, Any], env: str) -> str:
    return f"arn:aws:iam::{account(config, env)}:role/{name(config, env, 'sagemaker-execution')}"


def package_group(config: dict[str, Any], env: str) -> str:
    """The environment's model package group, the mirror of its manifest (registry/packages.py), as its calls name it.

    With one account per environment, every group lives in the tooling account (infra/cicd.yml),
    and the environment names it by ARN; otherwise it is the environment's own, named by name.
    """
    name = group_name(config["project"]["slug"], env)
    if multi_account(config):
        return group_arn(config["aws"]["region"], tooling_account(config), name)
    return name


def lambda_arn(config: dict[str, Any], env: str, function: str) -> str:
    region = config["aws"]["region"]
    return f"arn:aws:lambda:{region}:{account(config, env)}:function:{name(config, env, function)}"


def default_image(config: dict[str, Any], component: str) -> str:
    """The unpinned image URI (the repositories live in the tooling account); deployment passes the pinned one."""
    registry = f"{tooling_account(config)}.dkr.ecr.{config['aws']['region']}.amazonaws.com"
    return f"{registry}/{config['project']['slug']}-{component}:latest"


def component_of_image(image_uri: str) -> str:
    """Which component an image URI runs: its repository name ends with -<component>."""
    repository = image_uri.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    for component in COMPONENTS:
        if repository.endswith(f"-{component}") or repository == component:
            return component
    raise ValueError(f"Image {image_uri!r} is not one of this project's components {COMPONENTS}.")


def state_parameter(config: dict[str, Any], env: str, what: str) -> str:
    return f"{prefix(config, env)}/state/{what}"


__all__ = ["manifest_parameter", "prefix"]


def labels_prefix(config: dict[str, Any], env: str) -> str:
    """s3://<bucket>/labels/: every labels file, partitioned by arrival hour below it."""
    return f"s3://{bucket(config, env)}/labels/"


def labels_uri(config: dict[str, Any], env: str, arrived: Any) -> str:
    """s3://<bucket>/labels/yyyy/mm/dd/hh/: where ground truth lands, by its arrival time (UTC)."""
    return f"{labels_prefix(config, env)}{arrived:%Y/%m/%d/%H}/"


def predictions_prefix(config: dict[str, Any], env: str) -> str:
    """s3://<bucket>/predictions/: every inference run's kept predictions, one folder per execution."""
    return f"s3://{bucket(config, env)}/predictions/"


def inputs_prefix(config: dict[str, Any], env: str) -> str:
    """s3://<bucket>/inputs/: every inference run's kept raw input, one folder per execution (retraining data)."""
    return f"s3://{bucket(config, env)}/inputs/"


def empty_prefix(config: dict[str, Any], env: str) -> str:
    """s3://<bucket>/empty/: an input that holds nothing (no champion yet; no production rows to add)."""
    return f"s3://{bucket(config, env)}/empty/"


# A Processing input whose S3 prefix holds no object fails the job. Some inputs are empty until
# the first batch is scored, kept or labelled, and one is empty on purpose (empty_prefix), so
# deployment puts an empty marker in each (the jobs ignore it; no lifecycle rule expires an
# empty object).
MARKER = ".keep"


def markers(config: dict[str, Any], env: str) -> list[str]:
    """The empty objects that keep the pipelines' shared input prefixes from being empty."""
    prefixes = [predictions_prefix, labels_prefix, inputs_prefix, empty_prefix]
    return [f"{prefix_of(config, env)}{MARKER}" for prefix_of in prefixes]
