"""Runs after cookiecutter writes the repository: drop what the options turned off, check
config/project.yaml, then say what to do next.

The config is validated against the same JSON Schema the generated code uses at run time
(src/<package>/config_schema.json). The hook is idempotent and has no side effects beyond the
project (no git init, no network), so cruft can re-run it on every update.
"""

import json
import sys
from pathlib import Path

PROJECT_SLUG = {{cookiecutter.project_slug | tojson}}
PACKAGE_NAME = {{cookiecutter.package_name | tojson}}
TARGET_COLUMN = {{cookiecutter.target_column | tojson}}
DRIFT_ACTION = {{cookiecutter.drift_action | tojson}}
ENVIRONMENT_ACCOUNTS = {{cookiecutter.environment_accounts | tojson}}


def turned_off(drift_action: str, package: str, environment_accounts: str = "") -> list[str]:
    """Files an answer makes dead code: with drift_action alert, nothing starts a retrain; with one
    account for every environment, there is no target account to deploy into."""
    paths = []
    if drift_action == "alert":
        paths += [f"src/{package}/lambdas/retrain.py", "tests/test_retrain.py"]
    if not environment_accounts.strip():
        paths += ["infra/target-account.yml", "tests/test_accounts.py"]
    return paths


def remove_turned_off(project: Path, paths: list[str]) -> None:
    for relative in paths:
        (project / relative).unlink(missing_ok=True)


def config_problems(project: Path, package: str) -> list[str]:
    """Schema violations of the generated config/project.yaml, each with its path in the file."""
    import yaml

    try:
        import jsonschema
    except ImportError:
        sys.stderr.write(
            "note: jsonschema is not installed where cookiecutter runs, so config/project.yaml was not "
            "checked here; `make test` checks it.\n"
        )
        return []
    schema = json.loads((project / "src" / package / "config_schema.json").read_text("utf-8"))
    config = yaml.safe_load((project / "config" / "project.yaml").read_text("utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '(top level)'}: {error.message}"
        for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    ]


def next_steps(slug: str, target: str) -> str:
    return (
        f"\nCreated {slug}. Next steps:\n"
        f"  cd {slug}\n"
        "  make test    # lint, hadolint and the test suite (creates .venv first)\n"
        "  make demo    # all three pipelines, locally, day by day: drift, labels, retrains and the gate\n"
        f"Then train on your own CSV (its target column must be '{target}'):\n"
        "  .venv/bin/python -m " + PACKAGE_NAME + " local train --data your.csv\n"
    )


def main() -> int:
    remove_turned_off(Path.cwd(), turned_off(DRIFT_ACTION, PACKAGE_NAME, ENVIRONMENT_ACCOUNTS))
    problems = config_problems(Path.cwd(), PACKAGE_NAME)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        sys.stderr.write(f"The generated config/project.yaml does not match its schema:\n{lines}\n")
        return 1
    sys.stdout.write(next_steps(PROJECT_SLUG, TARGET_COLUMN))
    return 0


if __name__ == "__main__":
    sys.exit(main())
