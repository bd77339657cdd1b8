import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from .conftest import SRC, subprocess_env


def cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", *args],
        cwd=cwd,
        env=subprocess_env(cwd),
        capture_output=True,
        text=True,
    )


def test_sample_writes_training_table_with_target(tmp_path, target):
    result = cli("sample", "--rows", "50", "--out", str(tmp_path / "train.csv"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert target in pd.read_csv(tmp_path / "train.csv").columns


def test_sample_writes_drifted_production_batch_without_target(tmp_path, target):
    out = tmp_path / "stage.csv"
    result = cli("sample", "--rows", "40", "--stage", "4", "--without-target", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(out)
    assert len(frame) == 40 and target not in frame.columns


def test_bad_config_is_reported_without_a_traceback(tmp_path):
    bad = tmp_path / "project.yaml"
    bad.write_text("project: [not, a, mapping]\n")
    result = subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", "sample", "--out", str(tmp_path / "x.csv")],
        env=subprocess_env(tmp_path, PROJECT_CONFIG=str(bad)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "is invalid" in result.stderr and "project" in result.stderr
    assert "Traceback" not in result.stderr
    assert SRC.is_dir()


def test_a_corrupt_registry_stops_local_train_before_any_job(tmp_path, sample):
    data = tmp_path / "train.csv"
    sample.to_csv(data, index=False)
    corrupt = tmp_path / "ws" / "ssm" / "mlops" / "x" / "dev" / "model" / "manifest.json"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_text('{"versions": [{"version": 1,')
    result = cli("--workspace", str(tmp_path / "ws"), "local", "train", "--data", str(data), cwd=tmp_path)
    assert result.returncode == 2
    assert str(corrupt) in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "ws" / "runs").exists(), "no job may run"


@pytest.mark.parametrize("where", ["before", "after"])
def test_the_workspace_may_be_named_before_or_after_the_command(tmp_path, where):
    """`--workspace W registry history` and `registry history --workspace W` read the same workspace."""
    from {{ cookiecutter.package_name }}.cli import build_parser

    command = ["registry", "history"]
    given = ["--workspace", str(tmp_path / "ws")]
    args = build_parser().parse_args(given + command if where == "before" else command + given)
    assert args.workspace == tmp_path / "ws"
    assert build_parser().parse_args(["local", "clean"]).workspace == Path(".local")
    corrupt = tmp_path / "ws" / "ssm" / "mlops" / "x" / "dev" / "model" / "manifest.json"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_text("{")
    result = cli(*(given + command if where == "before" else command + given), cwd=tmp_path)
    assert result.returncode == 2 and str(corrupt) in result.stderr  # it read that workspace, not .local


def test_an_offset_given_as_the_docs_write_it_is_an_offset_not_an_option(tmp_path):
    """`--start-offset -P7D`: the value starts with a dash, and is still the option's value."""
    given = ("local", "quality", "--start-offset", "-P7D", "--end-offset", "-PT0H")
    result = cli("--workspace", str(tmp_path / "ws"), *given, cwd=tmp_path)
    assert result.returncode == 2
    assert "expected one argument" not in result.stderr
    assert "No model is registered" in result.stderr  # past the arguments, to the first real check


@pytest.mark.parametrize(
    ("start", "named"),
    [("-P99999999D", "reaches further than a century"), ("-PT99999999999999H", "reaches further than a century"),
     ("-P7X", "is not an offset like"), ("-PT0H", "must come before its end")],
)  # fmt: skip
def test_a_bad_offset_is_refused_before_any_job_runs(tmp_path, start, named):
    result = cli("--workspace", str(tmp_path / "ws"), "local", "quality", "--start-offset", start, cwd=tmp_path)
    assert result.returncode == 2 and named in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, "said once"
    assert not (tmp_path / "ws" / "runs").exists(), "no execution, no alert"


def test_a_reader_that_stops_reading_ends_the_command_quietly(tmp_path):
    """`registry history --json | head -c 1`: the reader goes away; no 'Broken pipe' error, no traceback."""
    command = [sys.executable, "-m", "{{ cookiecutter.package_name }}", "--workspace", str(tmp_path / "ws")]
    process = subprocess.Popen(
        [*command, "registry", "history", "--json"],
        env=subprocess_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdout.close()  # before the command writes a byte
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 0
    assert stderr == "", stderr


def _parsers(parser):
    """The parser and every subcommand's parser under it, with their command paths."""
    found = [("", parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += [(f"{name} {path}".strip(), p) for path, p in _parsers(sub)]
    return found


def test_every_option_and_argument_has_help():
    from {{ cookiecutter.package_name }}.cli import build_parser

    missing = [
        f"{path or '(top)'}: {action.option_strings or action.dest}"
        for path, parser in _parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and not action.help
    ]
    assert missing == []


@pytest.mark.parametrize(
    "argv, suggestion",
    [(["local", "trian"], "did you mean 'train'?"), (["registry", "promte"], "did you mean 'promote'?")],
)
def test_a_mistyped_command_gets_the_nearest_one_suggested(argv, suggestion, capsys):
    from {{ cookiecutter.package_name }}.cli import main

    with pytest.raises(SystemExit) as ended:
        main(argv)
    assert ended.value.code == 2 and suggestion in capsys.readouterr().err


def test_only_a_label_with_an_effect_is_accepted(capsys):
    from {{ cookiecutter.package_name }}.cli import main

    with pytest.raises(SystemExit):
        main(["registry", "promote", "--version", "1", "--label", "prod"])
    assert "invalid choice: 'prod'" in capsys.readouterr().err


def test_a_failure_piped_to_a_log_is_said_once_on_one_unbroken_line(tmp_path, sample, target):
    """Without a terminal nothing wraps: the reason, its log path and the data's columns stay on one line."""
    data = tmp_path / "train.csv"
    sample.rename(columns={target: target.upper()}).to_csv(data, index=False)
    workspace = tmp_path / "a-workspace-whose-path-is-long-enough-to-have-wrapped-at-eighty-or-two-hundred-columns"
    result = cli("--workspace", str(workspace), "local", "train", "--data", str(data), cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    (said,) = [line for line in lines if "is missing from the training data" in line]
    assert said.startswith("training failed: ") and said.endswith("Nothing was registered.")
    assert f"The header has '{target.upper()}'" in said and str(workspace) in said
    assert "processing train failed" not in said and said.count("processing train: ") == 1


def test_quiet_says_one_line_per_execution_its_alerts_and_the_result(tmp_path, sample, capsys):
    from {{ cookiecutter.package_name }}.cli import main

    data = tmp_path / "train.csv"
    sample.to_csv(data, index=False)
    code = main(["--workspace", str(tmp_path / "ws"), "local", "train", "--data", str(data), "--quiet"])
    lines = capsys.readouterr().err.splitlines()
    assert code == 0
    assert lines[0].endswith("-training execution " + lines[0].rsplit(" ", 1)[-1])
    assert not [line for line in lines if line.lstrip().startswith(("▶", "✓", "↺", "EVENT"))]
    assert any("ALERT Model v1 promoted" in line for line in lines)
    assert any(line.startswith("training Succeeded: model version 1") for line in lines)
