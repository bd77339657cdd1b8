"""The hooks: every bad answer refused with a message that names it, nothing left on disk."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import botocore.session
import pytest
import yaml
from cookiecutter.environment import StrictEnvironment
from cookiecutter.exceptions import FailedHookException
from cookiecutter.generate import generate_context

from .conftest import DEFAULTS, TEMPLATE, bake


def render_hook(name: str, tmp_path: Path, **answers: str):
    """Render a hook with cookiecutter's own environment and context, then import it."""
    context = generate_context(str(TEMPLATE / "cookiecutter.json"), extra_context=answers)
    values = dict(context["cookiecutter"])
    env = StrictEnvironment(context=context, keep_trailing_newline=True)
    for key in ("project_slug", "package_name"):  # derived answers, rendered as cookiecutter does
        if key not in answers:
            values[key] = env.from_string(values[key]).render(cookiecutter=values)
    for key, value in values.items():
        if isinstance(value, list):
            values[key] = value[0]
    source = env.from_string((TEMPLATE / "hooks" / f"{name}.py").read_text()).render(cookiecutter=values)
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"{name}_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def pre(tmp_path):
    return render_hook("pre_gen_project", tmp_path)


def defaults(pre) -> dict[str, str]:
    return dict(pre.ANSWERS)


def test_defaults_are_valid(pre):
    assert pre.validate(defaults(pre)) == []
    assert pre.main() == 0


def test_rendered_hook_reads_answers_as_data(tmp_path):
    hook = render_hook("pre_gen_project", tmp_path, description='He said "hi"\nand left', target_column="a'b")
    assert hook.DESCRIPTION == 'He said "hi"\nand left'
    assert hook.TARGET_COLUMN == "a'b"


def test_all_problems_are_reported_together(pre):
    answers = defaults(pre) | {"aws_account_id": "12", "aws_region": "moon-1", "target_column": ""}
    problems = pre.validate(answers)
    assert len(problems) == 3
    assert [p.split()[0] for p in problems] == ["target_column", "aws_account_id", "aws_region"]


def test_region_list_matches_botocore(pre):
    session = botocore.session.get_session()
    regions = set()
    for partition in session.get_available_partitions():
        regions |= set(session.get_available_regions("sagemaker", partition_name=partition))
    assert regions == pre.SAGEMAKER_REGIONS


@pytest.mark.parametrize(
    ("schedule", "ok"),
    [
        ("rate(1 day)", True),
        ("rate(6 hours)", True),
        ("rate(30 minutes)", True),
        ("cron(0 6 * * ? *)", True),
        ("cron(15 10 ? * MON-FRI *)", True),
        ("cron(0 8 1 * ? 2027)", True),
        ("rate(1 days)", False),
        ("rate(2 hour)", False),
        ("rate(0 minutes)", False),
        ("rate(5 weeks)", False),
        ("cron(0 6 * * *)", False),
        ("cron(0 6 * * * *)", False),
        ("cron(0 6 ? * ? *)", False),
        ("cron(0 25h * * ? *)", False),
        ("at(2026-01-01T00:00:00)", False),
        ("daily", False),
    ],
)
def test_schedule_syntax(pre, schedule, ok):
    problems = []
    pre.check_schedule(schedule, problems)
    assert (problems == []) is ok, problems


BAD_ANSWERS = [
    ({"project_name": "   "}, "project_name"),
    ({"project_slug": "Customer Churn"}, "project_slug 'Customer Churn'"),
    ({"project_slug": "-churn"}, "project_slug '-churn'"),
    ({"project_slug": "churn--v2"}, "project_slug 'churn--v2'"),
    ({"project_slug": "churn_v2"}, "project_slug 'churn_v2'"),
    ({"project_slug": "2churn"}, "project_slug '2churn'"),
    ({"project_slug": "a-very-long-project-slug-for-customer-churn-x"}, "is too long: the IAM role name"),
    ({"project_slug": "sthree-churn"}, "S3 reserves"),
    ({"target_column": "deny "}, "target_column 'deny ' begins or ends with a space; answer 'deny'"),
    ({"project_name": " Churn"}, "project_name ' Churn' begins or ends with a space; answer 'Churn'"),
    ({"package_name": "class"}, "package_name 'class' is a Python keyword"),
    ({"package_name": "json"}, "would shadow the standard library"),
    ({"package_name": "pandas"}, "would shadow a dependency"),
    ({"package_name": "2fast"}, "package_name '2fast' is not a Python identifier"),
    ({"package_name": "churn-model"}, "package_name 'churn-model' is not a Python identifier"),
    ({"aws_account_id": "12345678901"}, "aws_account_id '12345678901' must be exactly 12 digits"),
    ({"aws_account_id": "12345678901a"}, "aws_account_id"),
    ({"aws_region": "eu-west-9"}, "aws_region 'eu-west-9' has no SageMaker endpoint"),
    ({"ssm_root": "mlops"}, "ssm_root 'mlops' is not a Parameter Store path"),
    ({"ssm_root": "/mlops/"}, "ssm_root '/mlops/' is not a Parameter Store path"),
    ({"ssm_root": "/ml ops"}, "ssm_root '/ml ops'"),
    ({"ssm_root": "/aws/ml"}, "begins with '/aws' or '/ssm'"),
    ({"ssm_root": "/SSM"}, "begins with '/aws' or '/ssm'"),
    ({"ssm_root": "/a/b/c/d/e/f/g/h/i/j/k/l"}, "is too deep"),
    ({"environments": "dev,dev"}, "environments repeat ['dev']"),
    ({"environments": "dev,Prod"}, "environments ['Prod']"),
    ({"environments": "dev,,prod"}, "environments ['']"),
    ({"environments": "development-eu"}, "environments ['development-eu']"),
    ({"inference_schedule": "cron(0 6 * * *)"}, "has 5 cron fields"),
    ({"inference_schedule": "every day"}, "neither rate(...) nor cron(...)"),
    ({"environment_accounts": "dev=111111111111"}, "environment_accounts names ['dev'], but environments are"),
    ({"environment_accounts": "prod=222222222222,dev=111111111111"}, "in the order of environments"),
    ({"environment_accounts": "dev=111111111111,prod=2222"}, "the account of 'prod', '2222', must be exactly 12"),
    ({"environment_accounts": "dev,prod=222222222222"}, "['dev'] have no account"),
    ({"environment_accounts": "dev=111111111111,prod=111111111111"}, "to more than one environment"),
    ({"environment_accounts": "dev=123456789012,prod=222222222222"}, "is the tooling account"),
    ({"target_column": ""}, "target_column is empty"),
    ({"author_email": "not-an-email"}, "author_email 'not-an-email'"),
]
# Choice questions: cookiecutter itself refuses a value outside the choices, before writing.
BAD_CHOICES = [
    {"python_version": "3.9"},
    {"problem_type": "ranking"},
    {"estimator": "catboost"},
    {"drift_action": "panic"},
    {"license": "GPL"},
]


@pytest.mark.parametrize(("answers", "message"), BAD_ANSWERS, ids=[m for _, m in BAD_ANSWERS])
def test_bad_answer_is_refused_and_nothing_is_left(tmp_path, capfd, answers, message):
    output = tmp_path / "out"
    output.mkdir()
    with pytest.raises(FailedHookException):
        bake(output, **answers)
    stderr = capfd.readouterr().err
    assert message in stderr
    assert "Cannot create the project" in stderr
    assert list(output.iterdir()) == []


@pytest.mark.parametrize("answers", BAD_CHOICES, ids=[next(iter(a)) for a in BAD_CHOICES])
def test_value_outside_the_choices_is_refused_and_nothing_is_left(tmp_path, pre, answers):
    ((field, value),) = answers.items()
    output = tmp_path / "out"
    output.mkdir()
    with pytest.raises(ValueError, match=f"{value} provided for choice variable {field}"):
        bake(output, **answers)
    assert list(output.iterdir()) == []
    problems: list[str] = []
    choices = {"python_version": pre.PYTHON_VERSIONS, "problem_type": pre.PROBLEM_TYPES}
    choices |= {"drift_action": pre.DRIFT_ACTIONS, "license": pre.LICENSES, "estimator": pre.ESTIMATORS}
    pre.check_choice(field, value, choices[field], problems)
    assert problems == [f"{field} {value!r} is not one of {', '.join(choices[field])}."]


def test_injection_through_free_text_stays_inert(tmp_path):
    marker = tmp_path / "pwned"
    payload = f'x"""; import pathlib; pathlib.Path({str(marker)!r}).touch(); """'
    description = payload + "\n__import__('os').system('touch " + str(marker) + "')"
    project = bake(tmp_path / "out", description=description, author_name=payload)
    assert not marker.exists()
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert meta["description"] == description
    assert meta["authors"][0]["name"] == payload
    assert yaml.safe_load((project / "config" / "project.yaml").read_text())["project"]["description"] == description


@pytest.mark.parametrize(
    "answers",
    [
        {"project_name": "Prévision des Départs — Ünïcode", "author_name": "Zoë Ñúñez 山田"},
        {"project_name": "O'Brien's \"Churn\" & <Co>", "description": "Quotes \" and ' and \\ backslashes & <tags>"},
        {
            "project_name": "A Very Long Name For A Customer Lifetime Value And Churn Prediction Use Case",
            "project_slug": "clv-churn",
            "description": "Long. " * 80,
            "author_name": "The Analytics Platform Team Of The Customer Insights Division",
        },
    ],
    ids=["unicode", "quotes", "long"],
)
def test_unusual_valid_answers_bake_and_keep_their_text(tmp_path, answers):
    project = bake(tmp_path, **answers)
    config = yaml.safe_load((project / "config" / "project.yaml").read_text())
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert config["project"]["name"] == answers["project_name"]
    assert (project / "README.md").read_text().startswith(f"# {answers['project_name']}\n")
    if "description" in answers:
        assert meta["description"] == answers["description"] == config["project"]["description"]
    if "author_name" in answers:
        assert meta["authors"][0]["name"] == answers["author_name"]
        assert answers["author_name"] in (project / "LICENSE").read_text()
    assert (project / "src" / config["project"]["package"] / "cli.py").is_file()


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


def test_post_gen_hook_is_idempotent_and_has_no_side_effects(tmp_path):
    project = bake(tmp_path)
    hook = render_hook("post_gen_project", tmp_path)
    before = tree_digest(project)
    for _ in range(2):
        result = subprocess.run([sys.executable, hook.__file__], cwd=project, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert "make demo" in result.stdout
    assert tree_digest(project) == before
    assert not (project / ".git").exists()


def test_post_gen_hook_rejects_a_config_that_breaks_the_schema(tmp_path):
    project = bake(tmp_path)
    hook = render_hook("post_gen_project", tmp_path)
    config_path = project / "config" / "project.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["monitoring"]["significance_level"] = 2
    config["pipelines"]["transform_instance_count"] = 0
    config_path.write_text(yaml.safe_dump(config))
    problems = hook.config_problems(project, config["project"]["package"])
    assert [p.split(":")[0] for p in problems] == [
        "monitoring.significance_level",
        "pipelines.transform_instance_count",
    ]
    result = subprocess.run([sys.executable, hook.__file__], cwd=project, capture_output=True, text=True)
    assert result.returncode == 1 and "monitoring.significance_level" in result.stderr


def test_every_prompt_is_covered_by_the_hook(pre):
    questions = {k for k in DEFAULTS if not k.startswith("_")}
    assert set(pre.ANSWERS) == questions
    assert json.loads(json.dumps(pre.ANSWERS)) == pre.ANSWERS


def test_post_gen_hook_drops_the_retrain_lambda_when_drift_only_alerts(tmp_path):
    alert_only = bake(tmp_path / "alert", drift_action="alert")
    retraining = bake(tmp_path / "retrain", drift_action="retrain")
    assert not (alert_only / "src" / "customer_churn" / "lambdas" / "retrain.py").exists()
    assert not (alert_only / "tests" / "test_retrain.py").exists()
    assert (retraining / "src" / "customer_churn" / "lambdas" / "retrain.py").exists()
    assert "RetrainFunction" not in (alert_only / "infra" / "environment.yml").read_text()
    assert "RetrainFunction" in (retraining / "infra" / "environment.yml").read_text()
    hook = render_hook("post_gen_project", tmp_path, drift_action="alert")
    result = subprocess.run([sys.executable, hook.__file__], cwd=alert_only, capture_output=True, text=True)
    assert result.returncode == 0, "running the hook again must change nothing and succeed"
