"""channels.py, the one home of the components, their modes and their channels, seen from the job side.

The graph side (every definition's steps wire exactly the declared channels) is in test_pipelines.py.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from {{ cookiecutter.package_name }} import channels, container
from {{ cookiecutter.package_name }}.container import processing_input, processing_output, run_entrypoint

from .conftest import subprocess_env


@pytest.mark.parametrize("component", channels.COMPONENTS)
def test_each_entrypoint_offers_exactly_the_modes_the_table_declares(component, tmp_path):
    """An entrypoint run with no mode prints its usage, which lists the modes it dispatches."""
    module = f"{{ cookiecutter.package_name }}.components.{component}"
    result = subprocess.run(
        [sys.executable, "-m", module], env=subprocess_env(tmp_path), capture_output=True, text=True, check=False
    )
    assert result.returncode == 2, result.stderr
    offered = re.search(r"\{([a-z|]+)\}", result.stderr).group(1).split("|")
    assert sorted(offered) == sorted(channels.MODES[component])


def test_a_mode_that_reads_a_channel_it_does_not_declare_fails_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv(container.OPT_ML_ROOT_ENV, str(tmp_path))
    read = []

    def train():
        read.append(processing_input(channels.RAW))  # declared: fine
        processing_input("labels")  # monitoring train declares only raw

    assert run_entrypoint(channels.MONITORING, {"train": train}, ["train"]) == 1
    reason = (tmp_path / "output" / "message").read_text("utf-8")
    assert "monitoring train uses the channel 'labels'" in reason and "inputs (raw)" in reason, reason
    assert read == [tmp_path / "processing" / "input" / "raw"]


def test_a_mode_that_writes_an_undeclared_output_fails_and_the_check_ends_with_the_mode(tmp_path, monkeypatch):
    monkeypatch.setenv(container.OPT_ML_ROOT_ENV, str(tmp_path))

    def merge():
        processing_output(channels.SUMMARY)  # explain writes summaries; merge writes the report

    assert run_entrypoint(channels.EXPLAINABILITY, {"merge": merge}, ["merge"]) == 1
    assert "explainability merge uses the channel 'summary'" in (tmp_path / "output" / "message").read_text("utf-8")
    assert processing_output("anything") == tmp_path / "processing" / "output" / "anything"  # no mode runs now


def test_a_component_with_a_mode_the_table_lacks_is_refused_before_it_runs(tmp_path, monkeypatch):
    monkeypatch.setenv(container.OPT_ML_ROOT_ENV, str(tmp_path))
    ran = []
    with pytest.raises(ValueError, match=r"processing has modes channels\.MODES does not declare: score"):
        run_entrypoint(channels.PROCESSING, {"train": lambda: ran.append(1), "score": lambda: None}, ["train"])
    assert not ran


def test_a_training_mode_fails_where_sagemaker_reads_a_training_job_s_reason(tmp_path, monkeypatch):
    """The job type is the table's too: algorithm train is a Training job, so its reason goes to `failure`."""
    monkeypatch.setenv(container.OPT_ML_ROOT_ENV, str(tmp_path))

    def train():
        raise container.ComponentError("no rows")

    assert channels.mode(channels.ALGORITHM, "train").job == channels.TRAINING_JOB
    assert run_entrypoint(channels.ALGORITHM, {"train": train}, ["train"]) == 1
    assert (tmp_path / "output" / "failure").read_text("utf-8") == "algorithm train: no rows\n"
    assert not (tmp_path / "output" / "message").exists()


def test_an_unknown_component_or_mode_is_named_with_what_the_table_has():
    with pytest.raises(ValueError, match="'scoring' is not a component; the components are processing, algorithm"):
        channels.mode("scoring", "train")
    with pytest.raises(ValueError, match=r"monitoring has no mode 'drift'; channels\.MODES declares train, serve"):
        channels.mode(channels.MONITORING, "drift")
