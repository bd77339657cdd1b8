"""Load config/project.yaml and validate it against the one schema that describes it."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CONFIG_ENV = "PROJECT_CONFIG"


class ConfigError(ValueError):
    """config/project.yaml is missing or does not match config_schema.json."""


@cache
def config_schema() -> dict[str, Any]:
    """The JSON Schema of config/project.yaml, shipped inside the package."""
    text = resources.files(__package__).joinpath("config_schema.json").read_text("utf-8")
    return json.loads(text)


def default_config_path() -> Path:
    """$PROJECT_CONFIG if set (containers set it), else the repository's config/project.yaml."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return Path(__file__).resolve().parents[2] / "config" / "project.yaml"


def validate_config(config: Any, source: str = "config/project.yaml") -> dict[str, Any]:
    """Raise ConfigError listing every schema violation, each with its path in the file."""
    validator = jsonschema.Draft202012Validator(config_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for error in errors:
            where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
            lines.append(f"  - {where}: {error.message}")
        raise ConfigError(f"{source} is invalid:\n" + "\n".join(lines))
    quality = config["quality"]
    start, end = parse_offset(quality["start_offset"]), parse_offset(quality["end_offset"])
    problems = []
    if start >= end:
        problems.append(f"quality.start_offset {quality['start_offset']!r} must come before end_offset.")
    if timedelta(days=quality["retention_days"]) <= -start:
        problems.append(
            f"quality.retention_days {quality['retention_days']} must be longer than the window's start "
            f"({quality['start_offset']}), or the oldest predictions it judges would have expired."
        )
    window = parse_offset(config["retraining"]["window"])
    if timedelta(days=quality["retention_days"]) < -window:
        problems.append(
            f"retraining.window {config['retraining']['window']!r} reaches back further than quality.retention_days "
            f"({quality['retention_days']}): the inputs a retrain rebuilds rows from are kept only that long."
        )
    if config["data"].get("positive_class") is not None and config["data"]["problem_type"] != "binary_classification":
        problems.append(
            f"data.positive_class is {config['data']['positive_class']!r}, but only binary_classification has a "
            f"positive class (problem_type is {config['data']['problem_type']}): remove it."
        )
    if config["algorithm"].get("decision") is not None and config["data"]["problem_type"] != "binary_classification":
        problems.append(
            "algorithm.decision sets a threshold on the positive class's probability, which only "
            f"binary_classification has (problem_type is {config['data']['problem_type']}): remove it."
        )
    modes = config["promotion"]["mode"]
    if set(modes) != set(config["environments"]):
        problems.append(
            f"promotion.mode names {sorted(modes)}, but environments are {config['environments']}: give every "
            "environment auto or manual, and name no other."
        )
    problems += account_problems(config)
    if problems:
        raise ConfigError(f"{source} is invalid:\n" + "\n".join(f"  - {p}" for p in problems))
    return config


def account_problems(config: dict[str, Any]) -> list[str]:
    """aws.environment_accounts names every environment (in any order), each in its own account."""
    accounts = config["aws"].get("environment_accounts")
    if not accounts:
        return []
    problems = []
    if set(accounts) != set(config["environments"]):
        problems.append(
            f"aws.environment_accounts names {sorted(accounts)}, but environments are {config['environments']}: "
            "give every environment an account, and name no other."
        )
    values = list(accounts.values())
    shared = sorted({a for a in values if values.count(a) > 1})
    if shared:
        problems.append(f"aws.environment_accounts gives {shared} to more than one environment.")
    if config["aws"]["account_id"] in values:
        problems.append(
            f"aws.environment_accounts: {config['aws']['account_id']} is aws.account_id, the tooling account; "
            "an environment needs an account of its own."
        )
    return problems


MAX_OFFSET = timedelta(days=36_525)  # a century: no window of scoring times reaches further


def parse_offset(text: str) -> timedelta:
    """An ISO 8601 duration offset such as `-P1D`, `-PT6H` or `-P1DT12H` (days, hours, minutes), within a century."""
    match = re.fullmatch(r"(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?", text.strip())
    if not match or text.strip().lstrip("-") in {"P", "PT"}:
        raise ValueError(f"{text!r} is not an offset like -P1D, -PT6H or -P1DT12H")
    sign = -1 if match.group(1) else 1
    days, hours, minutes = (int(g or 0) for g in match.groups()[1:])
    if (days * 24 + hours) * 60 + minutes > MAX_OFFSET // timedelta(minutes=1):  # before timedelta can overflow
        raise ValueError(f"{text!r} reaches further than a century; give an offset such as -P30D")
    return sign * timedelta(days=days, hours=hours, minutes=minutes)


def check_window(start: str, end: str) -> None:
    """A window of scoring times, as the model-quality job takes it: two offsets, the start before the end."""
    if parse_offset(start) >= parse_offset(end):
        raise ValueError(f"The window's start {start!r} must come before its end {end!r}, as in -P7D to -PT0H.")


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """Read and validate the project configuration."""
    config_path = Path(path) if path else default_config_path()
    if not config_path.is_file():
        raise ConfigError(
            f"Configuration file {config_path} not found. Set ${CONFIG_ENV} to the path of "
            "config/project.yaml, or run from the repository checkout."
        )
    try:
        config = yaml.safe_load(config_path.read_text("utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config_path} is not valid YAML: {exc}") from exc
    return validate_config(config, str(config_path))
