"""A real update: template commit A, a team's changes, template commit B, `cruft update`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import BIN, TEMPLATE

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def run(*command: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **GIT_ENV}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{command}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result


def template_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=TEMPLATE,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [f for f in listed if (TEMPLATE / f).is_file()]


@pytest.fixture
def template_repo(tmp_path) -> Path:
    """This template, as commit A of a fresh git repository."""
    repo = tmp_path / "template"
    for name in template_files():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TEMPLATE / name, repo / name)
    run("git", "init", "-q", "-b", "main", cwd=repo)
    run("git", "add", "-A", cwd=repo)
    run("git", "commit", "-q", "-m", "A", cwd=repo)
    return repo


def test_cruft_update_brings_template_changes_and_keeps_team_edits(tmp_path, template_repo):
    cruft = str(BIN / "cruft")
    out = tmp_path / "out"
    run(cruft, "create", "--no-input", "--output-dir", str(out), str(template_repo), cwd=tmp_path)
    project = out / "customer-churn"
    state = json.loads((project / ".cruft.json").read_text())
    assert state["template"] == str(template_repo)
    run("git", "init", "-q", "-b", "main", cwd=project)
    run("git", "add", "-A", cwd=project)
    run("git", "commit", "-q", "-m", "generated", cwd=project)
    run(cruft, "check", cwd=project)

    # The team changes its repository.
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\n## Our notes\n\nKeep the approved model for audit.\n")
    config_path = project / "config" / "project.yaml"
    config_path.write_text(config_path.read_text().replace('max_iter: "300"', 'max_iter: "500"'))
    (project / "src" / "customer_churn" / "features.py").write_text('"""Team-specific feature code."""\n')
    run("git", "add", "-A", cwd=project)
    run("git", "commit", "-q", "-m", "team changes", cwd=project)

    # The platform team ships B: a new Makefile target and a new template version.
    makefile = template_repo / "{{cookiecutter.project_slug}}" / "Makefile"
    makefile.write_text(makefile.read_text() + "\nprint-version:\n\t@echo template-update-arrived\n")
    cookiecutter_json = template_repo / "cookiecutter.json"
    answers = json.loads(cookiecutter_json.read_text())
    answers["_template_version"] = "0.2.0"
    cookiecutter_json.write_text(json.dumps(answers, indent=2, ensure_ascii=False) + "\n")
    run("git", "commit", "-q", "-am", "B", cwd=template_repo)

    stale = subprocess.run([cruft, "check"], cwd=project, capture_output=True, text=True)
    assert stale.returncode != 0, "cruft check must fail while the repository is behind the template"
    run(cruft, "update", "-y", cwd=project)

    assert "template-update-arrived" in (project / "Makefile").read_text()
    config = yaml.safe_load(config_path.read_text())
    assert config["project"]["template_version"] == "0.2.0"
    assert config["algorithm"]["hyperparameters"]["max_iter"] == "500"
    assert "Keep the approved model for audit." in readme.read_text()
    assert (project / "src" / "customer_churn" / "features.py").is_file()
    assert not list(project.rglob("*.rej")), "the update must apply cleanly"
    run("git", "add", "-A", cwd=project)
    run("git", "commit", "-q", "-m", "update", cwd=project)
    run(cruft, "check", cwd=project)


def test_cruft_update_moves_a_repository_to_one_account_per_environment(tmp_path, template_repo):
    """The documented migration: one `cruft update --variables-to-update`, and the result passes its own tests."""
    import sys

    cruft = str(BIN / "cruft")
    out = tmp_path / "out"
    run(cruft, "create", "--no-input", "--output-dir", str(out), str(template_repo), cwd=tmp_path)
    project = out / "customer-churn"
    assert not (project / "infra" / "target-account.yml").exists()
    run("git", "init", "-q", "-b", "main", cwd=project)
    run("git", "add", "-A", cwd=project)
    run("git", "commit", "-q", "-m", "generated", cwd=project)
    accounts = "dev=111111111111,prod=222222222222"
    run(cruft, "update", "-y", "--variables-to-update", json.dumps({"environment_accounts": accounts}), cwd=project)
    config = yaml.safe_load((project / "config" / "project.yaml").read_text())
    assert config["aws"]["environment_accounts"] == {"dev": "111111111111", "prod": "222222222222"}
    assert (project / "infra" / "target-account.yml").is_file()
    assert "ApproveProd" in (project / "infra" / "cicd.yml").read_text()
    assert not list(project.rglob("*.rej")), "the update must apply cleanly"
    env = {k: v for k, v in os.environ.items() if k not in {"PROJECT_CONFIG", "PYTHONPATH"}}
    env["PYTHONPATH"] = str(project / "src")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    tests = subprocess.run(
        [*command, "tests/test_accounts.py", "tests/test_infra.py", "tests/test_config.py"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
