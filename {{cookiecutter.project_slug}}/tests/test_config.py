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


def with_accounts(config, accounts):
    changed = copy.deepcopy(config)
    changed["aws"]["environment_accounts"] = accounts
    return changed


def test_environment_accounts_name_every_environment_in_its_own_account(config):
    envs = config["environments"]
    tooling = config["aws"]["account_id"]
    good = {env: str(i + 1) * 12 for i, env in enumerate(envs)}
    assert tooling not in good.values()
    validate_config(with_accounts(config, good))
    validate_config(with_accounts(config, dict(reversed(list(good.items())))))  # a mapping's order is no meaning
    cases = [
        (dict(list(good.items())[:-1]), "but environments are"),
        ({**good, "qa": "9" * 12}, "name no other"),
        ({env: "1" * 12 for env in envs}, "to more than one environment"),
        ({**good, envs[0]: tooling}, "the tooling account"),
        ({**good, envs[0]: "123"}, r"environment_accounts\." + envs[0]),
        ({}, "environment_accounts"),
    ]
    for accounts, message in cases:
        with pytest.raises(ConfigError, match=message):
            validate_config(with_accounts(config, accounts))


def test_each_environment_lives_in_its_account_and_the_images_in_the_tooling_one(config):
    from {{ cookiecutter.package_name }}.pipelines import layout

    envs = config["environments"]
    changed = with_accounts(config, {env: str(i + 1) * 12 for i, env in enumerate(envs)})
    single = copy.deepcopy(config)
    single["aws"].pop("environment_accounts", None)
    tooling = config["aws"]["account_id"]
    for i, env in enumerate(envs):
        account = str(i + 1) * 12
        assert layout.account(changed, env) == account
        assert layout.bucket(changed, env).endswith(f"-{env}-{account}")
        assert layout.role_arn(changed, env).startswith(f"arn:aws:iam::{account}:role/")
        assert f":{account}:function:" in layout.lambda_arn(changed, env, "register")
        assert layout.account(single, env) == tooling  # one account: as before
    assert layout.default_image(changed, "algorithm").startswith(f"{tooling}.dkr.ecr.")
    assert layout.multi_account(changed) and not layout.multi_account(single)
