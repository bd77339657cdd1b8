import copy

import pytest
import yaml

from {{ cookiecutter.package_name }}.config import (
    ConfigError,
    load_config,
    validate_config,
)


def test_baked_config_is_valid(config):
    assert config["data"]["target_column"]
    assert config["environments"]


def test_invalid_config_names_every_wrong_field(config):
    broken = copy.deepcopy(config)
    broken["aws"]["account_id"] = "12345"
    broken["inference"]["drift_action"] = "panic"
    with pytest.raises(ConfigError) as error:
        validate_config(broken)
    message = str(error.value)
    assert "aws.account_id" in message
    assert "inference.drift_action" in message


def test_hyperparameters_must_be_strings(config):
    broken = copy.deepcopy(config)
    broken["algorithm"]["hyperparameters"]["max_iter"] = 100
    with pytest.raises(ConfigError, match=r"algorithm\.hyperparameters\.max_iter"):
        validate_config(broken)


def test_missing_config_file_says_how_to_fix(tmp_path):
    with pytest.raises(ConfigError, match="PROJECT_CONFIG"):
        load_config(tmp_path / "nowhere.yaml")


def test_config_file_is_read_from_project_config_env(tmp_path, monkeypatch, config):
    changed = copy.deepcopy(config)
    changed["monitoring"]["significance_level"] = 0.05
    path = tmp_path / "project.yaml"
    path.write_text(yaml.safe_dump(changed))
    monkeypatch.setenv("PROJECT_CONFIG", str(path))
    assert load_config()["monitoring"]["significance_level"] == 0.05


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"start_offset": "-PT0H", "end_offset": "-P1D"}, "must come before end_offset"),
        ({"start_offset": "-P30D", "retention_days": 30}, "must be longer than the window's start"),
        ({"start_offset": "last week"}, r"quality\.start_offset"),
    ],
)
def test_the_model_quality_window_is_checked(config, changes, message):
    broken = copy.deepcopy(config)
    broken["quality"].update(changes)
    with pytest.raises(ConfigError, match=message):
        validate_config(broken)
