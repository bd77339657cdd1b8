"""Every bake's CloudFormation passes cfn-lint (no errors, no warnings) and checkov (no failures)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import TEMPLATE, bake

TOOLS = TEMPLATE / ".tools" / "bin"
BAKES = {
    "defaults": {},
    "three-environments-alert": {"environments": "dev,staging,prod", "drift_action": "alert", "python_version": "3.13"},
    "three-accounts": {
        "environments": "dev,staging,prod",
        "environment_accounts": "dev=111111111111,staging=222222222222,prod=333333333333",
        "aws_account_id": "999999999999",
    },
}


def tool(name: str) -> str:
    path = TOOLS / name
    if not path.exists():
        pytest.fail(f"{path} is missing; `make install` creates it")
    return str(path)


@pytest.fixture(scope="module", params=sorted(BAKES))
def infra(request, tmp_path_factory) -> Path:
    return bake(tmp_path_factory.mktemp(request.param), **BAKES[request.param]) / "infra"


def test_cfn_lint_reports_nothing(infra):
    result = subprocess.run([tool("cfn-lint"), *sorted(map(str, infra.glob("*.yml")))], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_checkov_finds_no_failed_check_and_every_skip_is_justified(infra):
    # --skip-download: offline, as in CI, with no attempt to reach the vendor's API.
    offline = ["--compact", "--skip-download", "--output", "json"]
    result = subprocess.run(
        [tool("checkov"), "--directory", str(infra), "--framework", "cloudformation", *offline],
        capture_output=True,
        text=True,
    )
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    summary = reports[0]["summary"]
    assert summary["failed"] == 0, [c["check_id"] for r in reports for c in r["results"]["failed_checks"]]
    assert summary["passed"] > 100 and summary["parsing_errors"] == 0
    for path in infra.glob("*.yml"):
        for line_number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip().startswith("- id: CKV"):
                following = path.read_text().splitlines()[line_number]
                assert following.strip().startswith("comment:") and len(following) > 40, f"{path.name}:{line_number}"
    skipped = {c["check_id"] for r in reports for c in r["results"]["skipped_checks"]}
    declared = {
        line.split("id:")[1].strip()
        for path in infra.glob("*.yml")
        for line in path.read_text().splitlines()
        if line.strip().startswith("- id: CKV")
    }
    assert declared == skipped, "every declared skip must guard a check that fires"


def test_templates_are_yaml_with_cloudformation_tags(infra):
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    for path in infra.glob("*.yml"):
        assert yaml.load(path.read_text(), Loader=Loader)["AWSTemplateFormatVersion"] == "2010-09-09"
