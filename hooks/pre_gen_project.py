"""Validate every answer before anything is written, and report every problem at once.

Each answer is read as data: the `tojson` lines below turn it into a Python string literal,
so no answer can inject code. On any error the hook exits 1 and cookiecutter removes the
half-made project directory.
"""

import keyword
import re
import sys

PROJECT_NAME = {{cookiecutter.project_name | tojson}}
PROJECT_SLUG = {{cookiecutter.project_slug | tojson}}
PACKAGE_NAME = {{cookiecutter.package_name | tojson}}
DESCRIPTION = {{cookiecutter.description | tojson}}
AUTHOR_NAME = {{cookiecutter.author_name | tojson}}
AUTHOR_EMAIL = {{cookiecutter.author_email | tojson}}
AWS_ACCOUNT_ID = {{cookiecutter.aws_account_id | tojson}}
AWS_REGION = {{cookiecutter.aws_region | tojson}}
PROBLEM_TYPE = {{cookiecutter.problem_type | tojson}}
ESTIMATOR = {{cookiecutter.estimator | tojson}}
TARGET_COLUMN = {{cookiecutter.target_column | tojson}}
SSM_ROOT = {{cookiecutter.ssm_root | tojson}}
ENVIRONMENTS = {{cookiecutter.environments | tojson}}
ENVIRONMENT_ACCOUNTS = {{cookiecutter.environment_accounts | tojson}}
INFERENCE_SCHEDULE = {{cookiecutter.inference_schedule | tojson}}
DRIFT_ACTION = {{cookiecutter.drift_action | tojson}}
PYTHON_VERSION = {{cookiecutter.python_version | tojson}}
LICENSE = {{cookiecutter.license | tojson}}

PROBLEM_TYPES = ("binary_classification", "multiclass_classification", "regression")
DRIFT_ACTIONS = ("retrain", "alert")
ESTIMATORS = ("hist_gradient_boosting", "xgboost", "lightgbm", "random_forest", "linear")
PYTHON_VERSIONS = ("3.11", "3.12", "3.13")
LICENSES = ("MIT", "Apache-2.0", "Proprietary")
# Regions with a SageMaker endpoint, from botocore's endpoint data (tests keep this in step).
SAGEMAKER_REGIONS = frozenset(
    [
        "af-south-1",
        "ap-east-1",
        "ap-east-2",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-6",
        "ap-southeast-7",
        "ca-central-1",
        "ca-west-1",
        "cn-north-1",
        "cn-northwest-1",
        "eu-central-1",
        "eu-central-2",
        "eu-isoe-west-1",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "eusc-de-east-1",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-gov-east-1",
        "us-gov-west-1",
        "us-iso-east-1",
        "us-isob-east-1",
        "us-isof-east-1",
        "us-isof-south-1",
        "us-west-1",
        "us-west-2",
    ]
)
# Importable names the generated package must not shadow: its dependencies and their imports.
DEPENDENCIES = frozenset(
    [
        "boto3",
        "botocore",
        "cookiecutter",
        "cruft",
        "hadolint",
        "jsonschema",
        "joblib",
        "moto",
        "numba",
        "numpy",
        "pandas",
        "pytest",
        "requests",
        "rich",
        "ruff",
        "sagemaker",
        "scipy",
        "shap",
        "sklearn",
        "scikit_learn",
        "waitress",
        "yaml",
        "pyyaml",
    ]
)
SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PACKAGE = re.compile(r"^[a-z_][a-z0-9_]*$")
ENVIRONMENT = re.compile(r"^[a-z][a-z0-9]{0,9}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SSM_PATH = re.compile(r"^(/[a-zA-Z0-9_.-]+)+$")
RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
CRON_FIELD = {
    "minutes": re.compile(r"^[0-9*,/-]+$"),
    "hours": re.compile(r"^[0-9*,/-]+$"),
    "day-of-month": re.compile(r"^([0-9*,/?LW-]+)$"),
    "month": re.compile(r"^([0-9*,/-]+|[A-Za-z,-]+)$"),
    "day-of-week": re.compile(r"^([1-7*,/?L#-]+|[A-Za-z,#-]+)$"),
    "year": re.compile(r"^[0-9*,/-]+$"),
}
SSM_MAX_LEVELS = 15
# Longest fixed suffixes of the names derived from <slug>-<env>-: the S3 bucket adds the
# account id (63 characters at most), IAM roles add '-sagemaker-execution' (64 at most).
DERIVED_NAMES = {
    "S3 bucket": (63, "{slug}-{env}-{account}"),
    "IAM role": (64, "{slug}-{env}-sagemaker-execution"),
    "Lambda function": (64, "{slug}-{env}-register"),
}


def check_text(field, value, problems, max_length=200, name=True):
    if not value.strip():
        problems.append(f"{field} is empty; give a non-empty value.")
    elif name and value != value.strip():  # a name is matched or shown as written: no stray spaces
        problems.append(f"{field} {value!r} begins or ends with a space; answer {value.strip()!r}.")
    elif len(value) > max_length:
        problems.append(f"{field} is {len(value)} characters long; use at most {max_length}.")


def check_slug(slug, environments, account, problems):
    if not SLUG.match(slug):
        problems.append(
            f"project_slug {slug!r} is not a valid S3/ECR/CodeBuild name; use lowercase letters and "
            "digits, single hyphens between them, starting with a letter (e.g. 'customer-churn')."
        )
        return
    if slug.startswith("sthree-") or slug.endswith("-s3alias"):
        problems.append(f"project_slug {slug!r} uses a prefix or suffix S3 reserves; choose another slug.")
    longest_env = max(environments, key=len, default="dev")
    for what, (limit, pattern) in DERIVED_NAMES.items():
        name = pattern.format(slug=slug, env=longest_env, account=account)
        if len(name) > limit:
            problems.append(
                f"project_slug {slug!r} is too long: the {what} name {name!r} would be {len(name)} "
                f"characters, over AWS's {limit}; shorten the slug by {len(name) - limit} or more."
            )


def check_package(package, problems):
    if not PACKAGE.match(package):
        problems.append(
            f"package_name {package!r} is not a Python identifier; use lowercase letters, digits and "
            "underscores, not starting with a digit."
        )
    elif keyword.iskeyword(package) or keyword.issoftkeyword(package):
        problems.append(f"package_name {package!r} is a Python keyword; choose another name.")
    elif package in sys.stdlib_module_names:
        problems.append(f"package_name {package!r} would shadow the standard library module; choose another name.")
    elif package in DEPENDENCIES:
        problems.append(f"package_name {package!r} would shadow a dependency of the project; choose another name.")


def parse_environments(text):
    return [part.strip() for part in text.split(",")]


def check_environments(environments, problems):
    bad = [env for env in environments if not ENVIRONMENT.match(env)]
    if bad or not environments:
        problems.append(
            f"environments {bad or environments!r}: each must be 1-10 lowercase letters or digits, starting "
            "with a letter, separated by commas (e.g. 'dev,prod')."
        )
    duplicates = sorted({env for env in environments if environments.count(env) > 1})
    if duplicates:
        problems.append(f"environments repeat {duplicates}; list each environment once.")


def parse_environment_accounts(text):
    """`dev=111111111111,prod=222222222222` as [(env, account)]; empty text is [] (one account for all)."""
    return (
        [tuple(part.strip().split("=", 1)) if "=" in part else (part.strip(), None) for part in text.split(",")]
        if text.strip()
        else []
    )


def check_environment_accounts(text, environments, tooling, problems):
    pairs = parse_environment_accounts(text)
    if not pairs:
        return
    example = ",".join(f"{env}={str(i + 1) * 12}" for i, env in enumerate(environments[:2])) or "dev=111111111111"
    malformed = [name for name, account in pairs if account is None]
    if malformed:
        problems.append(
            f"environment_accounts {text!r}: {malformed} have no account; write env=account for each "
            f"environment, separated by commas (e.g. {example!r}), or leave it empty for one account."
        )
        return
    for name, account in pairs:
        if not re.match(r"^\d{12}$", account.strip()):
            problems.append(f"environment_accounts: the account of {name!r}, {account!r}, must be exactly 12 digits.")
    named = [name for name, _ in pairs]
    if named != environments:
        problems.append(
            f"environment_accounts names {named}, but environments are {environments}: name every environment "
            "exactly once, in the order of environments."
        )
    accounts = [account.strip() for _, account in pairs]
    shared = sorted({a for a in accounts if accounts.count(a) > 1})
    if shared:
        problems.append(
            f"environment_accounts gives {shared} to more than one environment; give each environment its own "
            "account, or leave environment_accounts empty to keep them all in one."
        )
    if tooling in accounts:
        problems.append(
            f"environment_accounts: aws_account_id {tooling} is the tooling account, where CI/CD runs; it cannot "
            "also be an environment's account. Use a separate tooling account, or leave environment_accounts empty."
        )


def check_ssm_root(root, slug, environments, problems):
    if not SSM_PATH.match(root):
        problems.append(
            f"ssm_root {root!r} is not a Parameter Store path; start with '/', use letters, digits, "
            "'.', '-' and '_' between single slashes, and no trailing slash (e.g. '/mlops')."
        )
        return
    if re.match(r"^/(aws|ssm)", root, re.IGNORECASE):
        problems.append(f"ssm_root {root!r} begins with '/aws' or '/ssm', which Parameter Store reserves.")
    longest_env = max(environments, key=len, default="dev")
    deepest = f"{root}/{slug}/{longest_env}/model/manifest"
    levels = deepest.count("/")
    if levels > SSM_MAX_LEVELS:
        problems.append(
            f"ssm_root {root!r} is too deep: {deepest!r} has {levels} levels, over Parameter Store's "
            f"{SSM_MAX_LEVELS}; use at most {SSM_MAX_LEVELS - 4} levels."
        )
    if len(deepest) > 1011:
        problems.append(f"ssm_root {root!r} makes parameter names longer than Parameter Store's 1011 characters.")


def check_schedule(expression, problems):
    rate = RATE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1:
            problems.append(f"inference_schedule {expression!r}: the rate must be at least 1.")
        elif (value == 1) != (not unit.endswith("s")):
            fixed = f"rate({value} {unit.rstrip('s') if value == 1 else unit + 's'})"
            problems.append(
                f"inference_schedule {expression!r}: write {fixed!r} (singular unit for 1, plural otherwise)."
            )
        return
    cron = re.match(r"^cron\((.*)\)$", expression)
    if not cron:
        problems.append(
            f"inference_schedule {expression!r} is neither rate(...) nor cron(...); e.g. 'rate(1 day)' or "
            "'cron(0 6 * * ? *)' (minutes hours day-of-month month day-of-week year)."
        )
        return
    fields = cron.group(1).split()
    if len(fields) != 6:
        problems.append(
            f"inference_schedule {expression!r} has {len(fields)} cron fields; EventBridge needs 6: "
            "minutes hours day-of-month month day-of-week year (e.g. 'cron(0 6 * * ? *)')."
        )
        return
    for (name, pattern), value in zip(CRON_FIELD.items(), fields, strict=True):
        if not pattern.match(value):
            problems.append(f"inference_schedule {expression!r}: {name} field {value!r} is not valid cron syntax.")
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        problems.append(f"inference_schedule {expression!r}: exactly one of day-of-month and day-of-week must be '?'.")


def check_choice(field, value, choices, problems):
    if value not in choices:
        problems.append(f"{field} {value!r} is not one of {', '.join(choices)}.")


def validate(answers):
    """Every problem with the answers, each naming the field, the value and the fix."""
    problems = []
    environments = parse_environments(answers["environments"])
    check_text("project_name", answers["project_name"], problems)
    check_text("target_column", answers["target_column"], problems)
    check_text("author_name", answers["author_name"], problems)
    check_text("description", answers["description"] or "-", problems, max_length=500, name=False)
    if not EMAIL.match(answers["author_email"]):
        problems.append(f"author_email {answers['author_email']!r} is not an e-mail address.")
    if not re.match(r"^\d{12}$", answers["aws_account_id"]):
        problems.append(f"aws_account_id {answers['aws_account_id']!r} must be exactly 12 digits.")
    if answers["aws_region"] not in SAGEMAKER_REGIONS:
        problems.append(
            f"aws_region {answers['aws_region']!r} has no SageMaker endpoint; use one of "
            f"{', '.join(sorted(SAGEMAKER_REGIONS)[:6])}, ..."
        )
    check_environments(environments, problems)
    check_environment_accounts(answers["environment_accounts"], environments, answers["aws_account_id"], problems)
    check_slug(answers["project_slug"], environments, answers["aws_account_id"], problems)
    check_package(answers["package_name"], problems)
    check_ssm_root(answers["ssm_root"], answers["project_slug"], environments, problems)
    check_schedule(answers["inference_schedule"], problems)
    check_choice("problem_type", answers["problem_type"], PROBLEM_TYPES, problems)
    check_choice("estimator", answers["estimator"], ESTIMATORS, problems)
    check_choice("drift_action", answers["drift_action"], DRIFT_ACTIONS, problems)
    check_choice("python_version", answers["python_version"], PYTHON_VERSIONS, problems)
    check_choice("license", answers["license"], LICENSES, problems)
    return problems


ANSWERS = {
    "project_name": PROJECT_NAME,
    "project_slug": PROJECT_SLUG,
    "package_name": PACKAGE_NAME,
    "description": DESCRIPTION,
    "author_name": AUTHOR_NAME,
    "author_email": AUTHOR_EMAIL,
    "aws_account_id": AWS_ACCOUNT_ID,
    "aws_region": AWS_REGION,
    "problem_type": PROBLEM_TYPE,
    "estimator": ESTIMATOR,
    "target_column": TARGET_COLUMN,
    "ssm_root": SSM_ROOT,
    "environments": ENVIRONMENTS,
    "environment_accounts": ENVIRONMENT_ACCOUNTS,
    "inference_schedule": INFERENCE_SCHEDULE,
    "drift_action": DRIFT_ACTION,
    "python_version": PYTHON_VERSION,
    "license": LICENSE,
}


def main():
    problems = validate(ANSWERS)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        sys.stderr.write(f"Cannot create the project; {len(problems)} answer(s) need fixing:\n{lines}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
