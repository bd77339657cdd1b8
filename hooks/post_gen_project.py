"""Runs after cookiecutter writes the repository: print what to do next.

It has no side effects (no git init, no network), so cruft can re-run it on every update.
"""

import sys

PROJECT_SLUG = {{cookiecutter.project_slug | tojson}}
TARGET_COLUMN = {{cookiecutter.target_column | tojson}}


def next_steps(slug: str, target: str) -> str:
    return (
        f"\nCreated {slug}. Next steps:\n"
        f"  cd {slug}\n"
        "  make test    # lint, hadolint and the test suite (creates .venv first)\n"
        "  make demo    # train on sample data, then score batches of growing drift\n"
        f"Then replace the sample with your own CSV; its target column must be '{target}'.\n"
    )


if __name__ == "__main__":
    sys.stdout.write(next_steps(PROJECT_SLUG, TARGET_COLUMN))
