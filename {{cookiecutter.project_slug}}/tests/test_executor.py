"""The local executor's semantics: expressions, graph order, parameters, failures."""

import json

import pytest

from {{ cookiecutter.package_name }}.local.executor import (
    LocalExecutor,
    resolve_parameters,
)
from {{ cookiecutter.package_name }}.local.expressions import (
    ExpressionError,
    Resolver,
    json_path,
    path_tokens,
)
from {{ cookiecutter.package_name }}.local.handlers import (
    HANDLERS,
)
from {{ cookiecutter.package_name }}.local.scheduling import (
    UnsupportedStep,
)
from {{ cookiecutter.package_name }}.local.workspace import (
    Workspace,
)


def resolver(values):
    def lookup(tokens, text):
        node = values
        for token in tokens:
            node = node[token]
        return node

    return Resolver(lookup)


def test_property_paths_are_tokenised():
    path = "Steps.Processing.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"
    assert path_tokens(path) == [
        "Steps",
        "Processing",
        "ProcessingOutputConfig",
        "Outputs",
        "train",
        "S3Output",
        "S3Uri",
    ]
    assert path_tokens("Steps.T.FinalMetricDataList['validation:auc'].Value")[3] == "validation:auc"
    assert path_tokens("a.b[2]") == ["a", "b", 2]


def test_get_join_and_json_get_resolve():
    resolve = resolver({"Parameters": {"Bucket": "b"}, "Steps": {"M": {"PropertyFiles": {"R": {"x": {"y": [1, 2]}}}}}})
    assert resolve({"Get": "Parameters.Bucket"}) == "b"
    assert resolve({"Std:Join": {"On": "/", "Values": ["s3:/", {"Get": "Parameters.Bucket"}, "k", 3]}}) == "s3://b/k/3"
    json_get = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.M.PropertyFiles.R"}, "Path": "x.y[1]"}}
    assert resolve(json_get) == 2
    assert resolve({"A": [{"Get": "Parameters.Bucket"}]}) == {"A": ["b"]}


def test_conditions_evaluate():
    resolve = resolver({"Parameters": {"N": 5, "Flag": True}})
    n = {"Get": "Parameters.N"}
    assert resolve.condition({"Type": "Equals", "LeftValue": {"Get": "Parameters.Flag"}, "RightValue": True})
    assert resolve.condition({"Type": "GreaterThan", "LeftValue": n, "RightValue": 4})
    assert not resolve.condition({"Type": "LessThanOrEqualTo", "LeftValue": n, "RightValue": 4})
    assert resolve.condition({"Type": "In", "QueryValue": n, "Values": [1, 5]})
    assert resolve.condition({"Type": "Not", "Expression": {"Type": "Equals", "LeftValue": n, "RightValue": 1}})
    false = {"Type": "Equals", "LeftValue": n, "RightValue": 0}
    assert resolve.condition({"Type": "Or", "Conditions": [false, {"Type": "Equals", "LeftValue": n, "RightValue": 5}]})


def test_bad_json_path_is_explained():
    with pytest.raises(ExpressionError, match="'missing'"):
        json_path({"a": 1}, "missing")


def test_parameters_use_defaults_cast_types_and_refuse_unknown_names():
    definition = {
        "Parameters": [
            {"Name": "A", "Type": "String", "DefaultValue": "x"},
            {"Name": "N", "Type": "Integer", "DefaultValue": 1},
            {"Name": "Required", "Type": "String"},
        ]
    }
    assert resolve_parameters(definition, {"N": "3", "Required": "r"}) == {"A": "x", "N": 3, "Required": "r"}
    with pytest.raises(ValueError, match="Unknown pipeline parameter"):
        resolve_parameters(definition, {"Required": "r", "Typo": 1})
    with pytest.raises(ValueError, match="'Required' has no default"):
        resolve_parameters(definition, {})


def test_unsupported_step_type_is_a_clear_error(tmp_path, config):
    definition = {"Parameters": [], "Steps": [{"Name": "Emr", "Type": "EMR", "Arguments": {}}]}
    with pytest.raises(UnsupportedStep, match="'Emr' has type 'EMR'"):
        LocalExecutor(Workspace(tmp_path), config, "dev", progress=lambda _: None).run(definition)


def test_fail_step_stops_the_run_and_later_steps_never_start(tmp_path, config):
    definition = {
        "Parameters": [{"Name": "Why", "Type": "String", "DefaultValue": "bad data"}],
        "Steps": [
            {"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": {"Get": "Parameters.Why"}}},
            {"Name": "After", "Type": "Fail", "Arguments": {"ErrorMessage": "never"}, "DependsOn": ["Stop"]},
        ],
    }
    execution = LocalExecutor(Workspace(tmp_path), config, "dev", progress=lambda _: None).run(definition)
    assert execution.status == "Failed"
    assert execution.failure == "Stop: bad data"
    assert [s.name for s in execution.steps] == ["Stop"]
    assert json.loads((execution.execution_dir / "execution.json").read_text())["status"] == "Failed"


def test_s3_uris_map_into_the_workspace(tmp_path):
    workspace = Workspace(tmp_path)
    assert workspace.path("s3://bucket/a/b.csv") == tmp_path / "s3" / "bucket" / "a" / "b.csv"
    assert workspace.uri(tmp_path / "s3" / "bucket" / "a") == "s3://bucket/a"
    with pytest.raises(ValueError, match="s3://"):
        workspace.path("/etc/passwd")


# --- retries and parallelism ------------------------------------------------------------------

JOB_POLICY = {
    "ExceptionType": ["SageMaker.CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT", "SageMaker.JOB_INTERNAL_ERROR"],
    "IntervalSeconds": 30,
    "BackoffRate": 2.0,
    "MaxAttempts": 3,
}


def alert_steps(config, names, policies=None):
    """Independent steps that call the alert Lambda handler (instant, no side effects beyond an alert)."""
    event = {"project": "p", "environment": "dev", "run_id": "r", "manifest_version": "1", "report": "s3://b/r"}
    return {
        "Parameters": [],
        "Steps": [
            {
                "Name": name,
                "Type": "Lambda",
                "FunctionArn": f"arn:aws:lambda:eu-west-1:123456789012:function:{config['project']['slug']}-dev-alert",
                "Arguments": event,
                "OutputParameters": [{"OutputName": "retrain_started", "OutputType": "Boolean"}],
                **({"RetryPolicies": policies} if policies else {}),
            }
            for name in names
        ],
    }


def faulted_executor(tmp_path, config, faults):
    """An executor with `faults(step, attempt)` injected, and the list its waits are recorded in."""
    executor = LocalExecutor(Workspace(tmp_path), config, "dev", progress=lambda _: None, faults=faults)
    slept = []
    executor.sleep = slept.append
    return executor, slept


def run_with_faults(tmp_path, config, faults):
    """One step with JOB_POLICY, run with `faults(step, attempt)` injected; the execution and the waits."""
    executor, slept = faulted_executor(tmp_path, config, faults)
    return executor.run(alert_steps(config, ["Step"], [JOB_POLICY])), slept


def test_a_transient_failure_is_retried_with_the_policys_backoff(tmp_path, config):
    faults = {("Step", 1): "SageMaker.CAPACITY_ERROR", ("Step", 2): "SageMaker.RESOURCE_LIMIT"}
    execution, slept = run_with_faults(tmp_path, config, lambda s, n: faults.get((s, n)))
    assert execution.status == "Succeeded", execution.failure
    assert slept == [30.0, 60.0]  # IntervalSeconds, then times BackoffRate


def test_a_failure_that_never_clears_fails_the_step_after_max_attempts(tmp_path, config):
    execution, slept = run_with_faults(tmp_path, config, lambda s, n: "SageMaker.CAPACITY_ERROR")
    assert execution.status == "Failed"
    assert "SageMaker.CAPACITY_ERROR: still failing after 3 retries (MaxAttempts 3)" in execution.failure
    assert slept == [30.0, 60.0, 120.0]


def test_a_failure_no_policy_names_is_not_retried(tmp_path, config):
    executor, slept = faulted_executor(tmp_path, config, lambda s, n: "SageMaker.CAPACITY_ERROR")
    step_errors_only = {"ExceptionType": ["Step.THROTTLING"], "IntervalSeconds": 5, "MaxAttempts": 2}
    execution = executor.run(alert_steps(config, ["Step"], [step_errors_only]))
    assert execution.status == "Failed" and "SageMaker.CAPACITY_ERROR" in execution.failure and slept == []


def test_a_lambda_step_gets_the_services_own_retry_of_throttling_and_faults(tmp_path, config):
    """A Lambda step carries no RetryPolicies; Pipelines still retries its throttling and service faults."""
    faults = {("Step", 1): "Step.THROTTLING", ("Step", 2): "Step.SERVICE_FAULT"}
    executor, slept = faulted_executor(tmp_path, config, lambda s, n: faults.get((s, n)))
    execution = executor.run(alert_steps(config, ["Step"]))
    assert execution.status == "Succeeded", execution.failure
    assert slept == [1.0, 2.0]
    executor.faults = lambda s, n: "Step.THROTTLING"
    slept.clear()
    execution = executor.run(alert_steps(config, ["Step"]))
    assert execution.status == "Failed" and "still failing after 5 retries" in execution.failure
    assert slept == [1.0, 2.0, 4.0, 8.0, 16.0]
    policy = {"ExceptionType": ["Step.THROTTLING"], "IntervalSeconds": 7, "BackoffRate": 1.0, "MaxAttempts": 1}
    slept.clear()
    execution = executor.run(alert_steps(config, ["Step"], [policy]))  # a step's own policy overrides the default
    assert execution.status == "Failed" and slept == [7.0]


def test_expire_after_bounds_retries_by_time_since_the_step_started():
    from {{ cookiecutter.package_name }}.local.retries import TransientFailure, run_with_retries

    now = [0.0]

    def attempt():
        raise TransientFailure("Step.SERVICE_FAULT")

    def sleep(seconds):
        now[0] += seconds

    policy = {"ExceptionType": ["Step.SERVICE_FAULT"], "IntervalSeconds": 60, "BackoffRate": 2.0, "ExpireAfterMin": 5}
    with pytest.raises(TransientFailure, match="ExpireAfterMin 5"):
        run_with_retries(attempt, [policy], sleep=sleep, clock=lambda: now[0])
    assert now[0] == 180.0  # waited 60 + 120; the next wait (240) would end past 5 minutes


def test_the_configured_parallelism_is_honoured(tmp_path, config, monkeypatch):
    import copy
    import threading
    import time

    running, most = [0], [0]
    lock = threading.Lock()
    original = HANDLERS["Lambda"]

    def slow(*args):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.3)
        with lock:
            running[0] -= 1
        return original(*args)

    monkeypatch.setitem(HANDLERS, "Lambda", slow)
    wide = copy.deepcopy(config)
    wide["pipelines"]["max_parallel_steps"] = 3
    execution = LocalExecutor(Workspace(tmp_path), wide, "dev", progress=lambda _: None).run(
        alert_steps(wide, [f"S{i}" for i in range(6)])
    )
    assert execution.status == "Succeeded" and most[0] == 3


def test_a_run_ending_in_a_notified_status_emits_eventbridges_status_event(tmp_path, config):
    import copy

    lines = []
    failing = {"Parameters": [], "Steps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "no"}}]}
    executor = LocalExecutor(Workspace(tmp_path), config, "dev", progress=lines.append)
    execution = executor.run(failing, pipeline="x-dev-training")
    assert "Failed" in config["notifications"]["pipeline_statuses"]
    (event,) = executor.events
    assert event["detail-type"] == "SageMaker Model Building Pipeline Execution Status Change"
    assert event["detail"]["currentPipelineExecutionStatus"] == "Failed"
    assert event["detail"]["pipelineExecutionArn"] == execution.arn
    assert event["detail"]["pipelineArn"] == execution.arn.rsplit("/execution/", 1)[0]
    assert json.loads((execution.execution_dir / "status-event.json").read_text()) == event
    assert any("EVENT" in line and line.endswith("Failed at Stop") for line in lines)
    assert sum("Stop: no" in line for line in lines) == 0, "the reason is the run's summary's to say, once"
    quiet = copy.deepcopy(config)
    quiet["notifications"]["pipeline_statuses"] = ["Succeeded"]
    executor = LocalExecutor(Workspace(tmp_path), quiet, "dev", progress=lambda _: None)
    executor.run(failing, pipeline="x-dev-training")
    assert executor.events == []


# --- errors outside any job ---------------------------------------------------------------------


def test_a_full_disk_in_the_executors_own_files_fails_the_execution_like_a_job_would(tmp_path, config, monkeypatch):
    """The executor's record cannot be written after the first step: named, Failed, its event sent, nothing partial."""
    from pathlib import Path

    original = Path.write_text
    writes = []

    def full_disk(self, text, *args, **kwargs):
        if self.name.startswith(".execution.json"):
            writes.append(self)
            if len(writes) > 1:  # the record before the first step is written; after it the disk is full
                original(self, "", *args, **kwargs)  # the 0-byte file a full disk leaves
                raise OSError(28, "No space left on device", str(self))
        return original(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    executor = LocalExecutor(Workspace(tmp_path), config, "dev", progress=lambda _: None)
    execution = executor.run(alert_steps(config, ["First", "Second"]), pipeline="x-dev-training")
    assert execution.status == "Failed"
    # The steps run side by side, each thread writing the record: the failure names a write that failed.
    failed = [f"the local executor could not write {path}: No space left on device" for path in writes[1:]]
    assert any(execution.failure.startswith(reason) for reason in failed), execution.failure
    assert "local retry" in execution.failure
    (event,) = executor.events
    assert event["detail"]["currentPipelineExecutionStatus"] == "Failed"
    assert not list(execution.execution_dir.glob(".*partial")), "no half-written record stays"
    monkeypatch.setattr(Path, "write_text", original)
    # The record on disk is the last whole one: once the disk has room and the failed process has ended (its pid,
    # here this test's, set to one that runs no more), the execution is retried.
    path = execution.execution_dir / "execution.json"
    record = json.loads(path.read_text())
    assert record["status"] == "Executing"
    path.write_text(json.dumps(record | {"pid": 2**22 + 1}))
    assert executor.retry(execution.execution_id).status == "Succeeded"


def test_a_record_cut_short_is_named_not_a_bare_json_error(tmp_path, config):
    from {{ cookiecutter.package_name }}.local.executor import ExecutionNotFound

    executor = LocalExecutor(Workspace(tmp_path), config, "dev", progress=lambda _: None)
    execution = executor.run(alert_steps(config, ["Only"]), pipeline="x-dev-training")
    record = execution.execution_dir / "execution.json"
    record.write_text(record.read_text()[:40])
    with pytest.raises(ExecutionNotFound, match=rf"{record} cannot be read .* cut short"):
        executor.retry(execution.execution_id)
