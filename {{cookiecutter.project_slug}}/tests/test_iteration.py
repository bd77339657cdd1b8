"""Iterating on the training pipeline locally: step caching, retrying a failed execution, selective runs."""

import copy
import json
import subprocess
import sys

import pytest

from {{ cookiecutter.package_name }}.container import (
    file_sha256,
)
from {{ cookiecutter.package_name }}.local.commands import (
    local_rerun,
    local_retry,
    local_train,
)
from {{ cookiecutter.package_name }}.local.executor import (
    ExecutionNotFound,
    LocalExecutor,
)
from {{ cookiecutter.package_name }}.local.workspace import (
    Workspace,
)
from {{ cookiecutter.package_name }}.pipelines import layout, names
from {{ cookiecutter.package_name }}.pipelines.definition import (
    cached_definition,
)
from {{ cookiecutter.package_name }}.registry.manifest import (
    ModelRegistry,
    manifest_parameter,
)
from {{ cookiecutter.package_name }}.sample_data import (
    generate,
)

from .conftest import SRC, subprocess_env

JOB_STEPS = ("Processing", "Training", names.MONITORING_BASELINE, names.EXPLAINABILITY)
# Never cached: the data assembly reads prefixes that grow, the snapshot and the gate this execution's outputs.
UNCACHED = (names.TRAINING_DATA, names.TRAINING_DATA_SNAPSHOT, names.GATE)
EVERY_STEP = (*UNCACHED, *JOB_STEPS, names.REGISTER)
pytestmark = pytest.mark.xdist_group("iteration")  # one worker builds the module's workspace


def quiet(_line: str) -> None:
    pass


def changed_hyperparameter(config):
    """The config with one hyperparameter changed (the learning rate, or the first one)."""
    changed = copy.deepcopy(config)
    hyperparameters = changed["algorithm"]["hyperparameters"]
    name = "learning_rate" if "learning_rate" in hyperparameters else next(iter(hyperparameters))
    value = hyperparameters[name]
    halved = int(value) // 2 if str(value).isdigit() else float(value) / 2  # an integer stays one
    hyperparameters[name] = str(halved) if isinstance(value, str) else halved
    return changed


@pytest.fixture(scope="module")
def iteration(tmp_path_factory, config, target, problem_type):
    """One workspace: a cold run, a warm run, a hyperparameter change that fails, its retry, a selective run."""
    if config["algorithm"]["tuning"]["enabled"]:
        pytest.skip("a TuningStep is never cached")
    root = tmp_path_factory.mktemp("iteration")
    data = root / "train.csv"
    generate(1500, target_column=target, problem_type=problem_type, seed=3).to_csv(data, index=False)
    workspace = Workspace(root / "workspace")
    cold = local_train(data, config, "dev", workspace, quiet)
    warm = local_train(data, config, "dev", workspace, quiet)

    changed = changed_hyperparameter(config)
    failing = LocalExecutor(
        workspace,
        changed,
        "dev",
        progress=quiet,
        faults=lambda s, n: "SageMaker.CAPACITY_ERROR" * (s == names.EXPLAINABILITY),
    )
    failing.sleep = lambda _seconds: None
    snapshot, _ = workspace.snapshot(data, f"s3://{layout.bucket(config, 'dev')}/data/train/")
    pipeline = layout.pipeline_name(config, "dev", "training")
    definition = cached_definition(changed, "dev", "training", workspace.definitions)
    failed = failing.run(definition, {"InputData": snapshot}, pipeline)
    versions_after_failure = [
        v.version for v in ModelRegistry(workspace.store, manifest_parameter(config, "dev")).history()
    ]
    retried = local_retry(failed.execution_id, changed, "dev", workspace, quiet)
    selective = local_rerun(
        "training",
        [names.EXPLAINABILITY, names.REGISTER],
        config,
        "dev",
        workspace,
        reference=cold["run_id"],
        progress=quiet,
    )
    return {
        "workspace": workspace,
        "data": data,
        "cold": cold,
        "warm": warm,
        "failed": failed,
        "versions_after_failure": versions_after_failure,
        "retried": retried,
        "selective": selective,
    }


def manifest(iteration, config, version):
    return ModelRegistry(iteration["workspace"].store, manifest_parameter(config, "dev")).get(version=version).manifest


def test_a_cold_run_runs_every_step(iteration):
    cold = iteration["cold"]
    assert cold["status"] == "Succeeded", cold.get("failure")
    assert cold["steps"] == {name: "ran" for name in EVERY_STEP}


def test_a_second_run_on_unchanged_data_reuses_every_job_step_and_registers_nothing(iteration, config):
    warm, cold = iteration["warm"], iteration["cold"]
    assert warm["status"] == "Succeeded", warm.get("failure")
    ran = {name: "ran" for name in (*UNCACHED, names.REGISTER)}
    assert warm["steps"] == {**{name: "cached" for name in JOB_STEPS}, **ran}
    # The cached runs' outputs are handed on: the model is the first run's, so no version is added.
    assert warm["registered"] is False and warm["duplicate_of"] == 1 and warm["manifest_version"] == 1
    assert warm["decision"] == "equal to v1: nothing registered"
    record = json.loads(
        (
            iteration["workspace"].execution_dir(layout.pipeline_name(config, "dev", "training"), warm["run_id"])
            / "execution.json"
        ).read_text()
    )
    hits = {s["name"]: s["cache_hit"] for s in record["steps"] if s["cache_hit"]}
    assert set(hits) == set(JOB_STEPS) and all(arn.endswith(f"/execution/{cold['run_id']}") for arn in hits.values())


def test_one_changed_hyperparameter_reruns_only_training_and_what_depends_on_it(iteration, config):
    failed, retried = iteration["failed"], iteration["retried"]
    first = {s.name: s for s in failed.steps}
    assert bool(first["Processing"].cache_hit) and bool(first[names.MONITORING_BASELINE].cache_hit)
    assert not first["Training"].cache_hit and first["Training"].status == "Succeeded"
    assert first[names.EXPLAINABILITY].status == "Failed" and not first[names.EXPLAINABILITY].cache_hit
    assert retried["steps"][names.EXPLAINABILITY] == "ran"  # the new model's explanations: no cached run
    # What the failed attempt had done is kept, and says so.
    kept = (names.TRAINING_DATA, names.TRAINING_DATA_SNAPSHOT, "Processing", "Training", names.MONITORING_BASELINE)
    assert {retried["steps"][name] for name in kept} == {"reused"}
    new, old = manifest(iteration, config, retried["manifest_version"]), manifest(iteration, config, 1)
    assert new["artifacts"]["model"] != old["artifacts"]["model"]
    assert new["artifacts"]["explainability"] != old["artifacts"]["explainability"]
    assert new["artifacts"]["preprocessing"] == old["artifacts"]["preprocessing"]
    assert new["artifacts"]["baseline"] == old["artifacts"]["baseline"]


def test_a_failed_execution_registers_nothing_and_its_retry_runs_from_the_failed_step(iteration, config):
    failed, retried = iteration["failed"], iteration["retried"]
    assert failed.status == "Failed" and "CAPACITY_ERROR" in failed.failure
    assert names.REGISTER not in {s.name for s in failed.steps}
    assert iteration["versions_after_failure"] == [1]
    assert retried["status"] == "Succeeded", retried.get("failure")
    assert retried["run_id"] == failed.execution_id  # the same execution, as RetryPipelineExecution
    assert retried["manifest_version"] == 2 and retried["registered"] is True
    record = json.loads((failed.execution_dir / "execution.json").read_text())
    assert record["status"] == "Succeeded"
    # The steps that had succeeded were not run again: their records are the first attempt's.
    runs = [s["name"] for s in record["steps"]]
    assert sorted(runs) == sorted(EVERY_STEP)
    kept = {s.name: s.seconds for s in failed.steps if s.status == "Succeeded"}
    assert {s["name"]: s["seconds"] for s in record["steps"] if s["name"] in kept} == kept


def test_a_succeeded_or_unknown_execution_cannot_be_retried(iteration, config):
    with pytest.raises(ExecutionNotFound, match="succeeded: there is nothing to retry"):
        local_retry(iteration["cold"]["run_id"], config, "dev", iteration["workspace"], quiet)
    with pytest.raises(ExecutionNotFound, match="No execution 'nope'"):
        local_retry("nope", config, "dev", iteration["workspace"], quiet)


def test_a_selective_run_reuses_the_reference_for_the_steps_it_did_not_select(iteration, config):
    selective, cold = iteration["selective"], iteration["cold"]
    assert selective["status"] == "Succeeded", selective.get("failure")
    assert selective["reference"].endswith(f"/execution/{cold['run_id']}")
    assert selective["steps"] == {
        names.TRAINING_DATA: "reused",
        names.TRAINING_DATA_SNAPSHOT: "reused",
        "Processing": "reused",
        "Training": "reused",
        names.MONITORING_BASELINE: "reused",
        names.GATE: "reused",
        names.EXPLAINABILITY: "cached",  # selected, and its key is the reference's: a cache hit
        names.REGISTER: "ran",
    }
    # The reference's model, registered already: nothing new.
    assert selective["manifest_version"] == 1 and selective["registered"] is False


def test_a_selection_that_is_not_connected_is_refused_before_anything_runs(iteration, config):
    runs = iteration["workspace"].root / "runs" / layout.pipeline_name(config, "dev", "training")
    before = sorted(p.name for p in runs.iterdir())
    between = r"\['Explainability', 'Gate', 'MonitoringBaseline', 'Training'\] lie on a path"
    with pytest.raises(ValueError, match=between):
        local_rerun("training", ["Processing", names.REGISTER], config, "dev", iteration["workspace"], progress=quiet)
    assert sorted(p.name for p in runs.iterdir()) == before


def test_changed_data_is_a_new_snapshot_and_no_step_is_reused(iteration, config, tmp_path):
    data = tmp_path / "train.csv"
    lines = iteration["data"].read_text().splitlines()
    data.write_text("\n".join([lines[0], *lines[2:]]) + "\n")  # one row fewer
    changed = local_train(data, config, "dev", iteration["workspace"], quiet)
    assert changed["status"] == "Succeeded", changed.get("failure")
    assert changed["steps"] == {name: "ran" for name in EVERY_STEP}


def test_a_training_input_at_a_mutable_prefix_is_snapshotted_by_content_before_any_cached_step(
    iteration, config, tmp_path
):
    """InputData that anyone can rewrite: what the cached steps read is a snapshot named by its content."""
    workspace = iteration["workspace"]
    mutable = f"s3://{layout.bucket(config, 'dev')}/data/train/latest/"
    workspace.path(mutable).mkdir(parents=True)
    (workspace.path(mutable) / "train.csv").write_bytes(iteration["data"].read_bytes())
    executor = LocalExecutor(workspace, config, "dev", progress=quiet)
    definition = cached_definition(config, "dev", "training", workspace.definitions)
    pipeline = layout.pipeline_name(config, "dev", "training")
    first = executor.run(definition, {"InputData": mutable}, pipeline)
    assert first.status == "Succeeded", first.failure
    read = first.output(
        names.TRAINING_DATA_SNAPSHOT, "ProcessingOutputConfig", "Outputs", "snapshot", "S3Output", "S3Uri"
    )
    assert read == f"s3://{layout.bucket(config, 'dev')}/data/train/sha256={file_sha256(iteration['data'])}/"
    assert {s.name for s in first.steps if s.cache_hit} == set(JOB_STEPS), "the same content: the cold run's steps"
    # The prefix is rewritten: the next run reads another snapshot, and no cached step is reused.
    lines = iteration["data"].read_text().splitlines()
    (workspace.path(mutable) / "train.csv").write_text("\n".join([lines[0], *lines[3:]]) + "\n")
    second = executor.run(definition, {"InputData": mutable}, pipeline)
    assert second.status == "Succeeded", second.failure
    assert not [s.name for s in second.steps if s.cache_hit]


def test_the_cli_retries_and_reruns_with_a_json_line(iteration, config, tmp_path):
    workspace = iteration["workspace"].root
    command = [sys.executable, "-m", "{{ cookiecutter.package_name }}", "--workspace", str(workspace), "local"]
    env = subprocess_env(tmp_path)
    refused = subprocess.run(
        [*command, "rerun", "training", "--steps", "Processing,Register", "--json"],
        capture_output=True, text=True, env=env, cwd=SRC.parent, check=False,
    )  # fmt: skip
    assert refused.returncode == 2 and "lie on a path between selected steps" in refused.stderr
    unknown = subprocess.run(
        [*command, "retry", "20990101000000abcdef"],
        capture_output=True,
        text=True,
        env=env,
        cwd=SRC.parent,
        check=False,
    )
    assert unknown.returncode == 2 and "No execution '20990101000000abcdef'" in unknown.stderr
    done = subprocess.run(
        [*command, "rerun", "training", "--steps", names.REGISTER, "--reference", iteration["cold"]["run_id"],
         "--json"],
        capture_output=True, text=True, env=env, cwd=SRC.parent, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "Succeeded" and summary["steps"][names.REGISTER] == "ran"
    assert {summary["steps"][name] for name in JOB_STEPS} == {"reused"}


def test_a_killed_execution_can_be_retried(iteration, config):
    """An execution whose process died mid-run (its record says Executing) resumes like a failed one."""
    workspace = iteration["workspace"]
    pipeline = layout.pipeline_name(config, "dev", "training")
    run = workspace.execution_dir(pipeline, iteration["cold"]["run_id"])
    killed = workspace.execution_dir(pipeline, "20990101000000dead00")
    killed.mkdir(parents=True)
    (killed / "definition.json").write_text((run / "definition.json").read_text())
    record = json.loads((run / "execution.json").read_text())
    done = (names.TRAINING_DATA, names.TRAINING_DATA_SNAPSHOT, "Processing", "Training")
    record["steps"] = [s for s in record["steps"] if s["name"] in done]
    record["properties"] = {k: v for k, v in record["properties"].items() if k in done}
    record |= {"status": "Executing", "pid": 2**22 + 1, "execution_id": killed.name}
    record["arn"] = record["arn"].rsplit("/", 1)[0] + f"/{killed.name}"
    (killed / "execution.json").write_text(json.dumps(record))
    resumed = local_retry(killed.name, config, "dev", workspace, quiet)
    assert resumed["status"] == "Succeeded", resumed.get("failure")
    assert resumed["steps"]["Processing"] == "reused" and resumed["steps"]["Training"] == "reused"  # kept
    assert resumed["steps"][names.EXPLAINABILITY] == "cached"


def test_the_job_code_list_holds_every_module_the_components_import():
    """The venv's code digest covers what a job runs: the components and every module they import, transitively."""
    import ast

    from {{ cookiecutter.package_name }}.local.runtimes import JOB_CODE

    package = SRC / "{{ cookiecutter.package_name }}"
    todo, seen = sorted((package / "components").rglob("*.py")), set()
    while todo:
        path = todo.pop()
        parts = path.relative_to(package).with_suffix("").parts
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                target = (*parts[: len(parts) - node.level], *(node.module or "").split("."))
                module = package.joinpath(*target).with_suffix(".py")
                if target[0] != "components" and module.is_file() and module not in seen:
                    seen.add(module)
                    todo.append(module)
                    if len(target) > 1:  # a package's module imports its __init__ too
                        seen.add(package.joinpath(*target[:-1], "__init__.py"))
    names = {path.relative_to(package).as_posix() for path in seen}
    assert {"config.py", "container.py", "csv_input.py", "registry/digests.py"} <= names
    assert names <= set(JOB_CODE)


def test_the_job_settings_are_the_config_sections_the_components_read():
    """A job's settings by value are in its cache key: every section a component reads, and no other."""
    import re

    from {{ cookiecutter.package_name }}.local.runtimes import JOB_CONFIG_KEYS, JOB_CONFIG_SECTIONS

    package = SRC / "{{ cookiecutter.package_name }}"
    read = set()
    for path in (package / "components").rglob("*.py"):
        text = path.read_text()
        read |= set(re.findall(r"load_config\(\)\[\"(\w+)\"\]", text))
        if "load_config()" in text:
            read |= set(re.findall(r"\bconfig\[\"(\w+)\"\]", text))
    assert read and read <= set(JOB_CONFIG_SECTIONS) | set(JOB_CONFIG_KEYS)
    assert "algorithm" not in JOB_CONFIG_SECTIONS  # hyperparameters reach a job through its request


def test_editing_a_hyperparameter_in_the_config_file_leaves_the_jobs_settings_alone(tmp_path, monkeypatch):
    from {{ cookiecutter.package_name }}.config import CONFIG_ENV, load_config
    from {{ cookiecutter.package_name }}.local.runtimes import VenvRuntime

    source = (SRC.parent / "config" / "project.yaml").read_text()
    key = next(iter(load_config()["algorithm"]["hyperparameters"]))
    assert f"    {key}:" in source
    path = tmp_path / "project.yaml"
    monkeypatch.setenv(CONFIG_ENV, str(path))
    runtime = VenvRuntime()
    digests = []
    for text in (source, source.replace(f"    {key}:", f"    {key}: 0.05 #", 1), source + "\nmonitoring:\n"):
        path.write_text(text)
        runtime.reset_code_digest()
        digests.append(runtime.code_digest("image"))
    assert digests[0] == digests[1] != digests[2]


def test_choosing_another_estimator_changes_the_jobs_settings(tmp_path, monkeypatch):
    """Another estimator is another training job: a cached one of the first must not be reused."""
    import re

    from {{ cookiecutter.package_name }}.config import CONFIG_ENV
    from {{ cookiecutter.package_name }}.local.runtimes import VenvRuntime

    source = (SRC.parent / "config" / "project.yaml").read_text()
    other = re.sub(r"(?m)^  estimator: \S+$", "  estimator: estimators_own.my_model", source, count=1)
    assert other != source
    path = tmp_path / "project.yaml"
    monkeypatch.setenv(CONFIG_ENV, str(path))
    runtime = VenvRuntime()
    digests = []
    for text in (source, other):
        path.write_text(text)
        runtime.reset_code_digest()
        digests.append(runtime.code_digest("image"))
    assert digests[0] != digests[1]
