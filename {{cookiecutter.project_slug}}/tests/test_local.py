"""End to end in local mode: train, infer, drift, retrain, promote, and nothing registered on failure."""

import copy
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.local.commands import (
    land_labels,
    local_infer,
    local_train,
    seed_markers,
)
from {{ cookiecutter.package_name }}.local.demo import (
    labels_for,
)
from {{ cookiecutter.package_name }}.local.executor import (
    LocalExecutor,
)
from {{ cookiecutter.package_name }}.local.workspace import (
    Workspace,
)
from {{ cookiecutter.package_name }}.pipelines import names
from {{ cookiecutter.package_name }}.pipelines.definition import (
    definition,
)
from {{ cookiecutter.package_name }}.registry.manifest import (
    ModelRegistry,
    manifest_parameter,
)
from {{ cookiecutter.package_name }}.sample_data import (
    generate,
)

from .conftest import SRC, a_bad_hyperparameter, fewer_rounds, subprocess_env


def quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="module")
def data(tmp_path_factory, target, problem_type):
    root = tmp_path_factory.mktemp("data")
    files = {}
    generate(2500, target_column=target, problem_type=problem_type, seed=1).to_csv(root / "train.csv", index=False)
    files["train"] = root / "train.csv"
    for name, stage in (("holdout", 0), ("drifted", 4)):
        frame = generate(600, target_column=target, problem_type=problem_type, seed=50, drift_stage=stage)
        frame.drop(columns=[target]).to_csv(root / f"{name}.csv", index=False)
        frame[[target]].to_csv(root / f"{name}-truth.csv", index=False)
        files[name] = root / f"{name}.csv"
    return files


@pytest.fixture(scope="module")
def story(tmp_path_factory, config, data, target):
    """One workspace: train; infer on a holdout and land its labels; infer on drift (retrains on them);
    promote v1; infer again (cooling down)."""
    workspace = Workspace(tmp_path_factory.mktemp("workspace"))
    first = local_train(data["train"], config, "dev", workspace, quiet)
    holdout = local_infer(data["holdout"], config, "dev", workspace, quiet)
    truth = pd.read_csv(data["holdout"].with_name("holdout-truth.csv"))[target]
    labels = data["holdout"].with_name("holdout-labels.csv")
    labels_for(Path(holdout["predictions"]), truth, target).to_csv(labels, index=False)
    landed = land_labels(labels, config, "dev", workspace)
    drifted = local_infer(data["drifted"], config, "dev", workspace, quiet)
    registry = ModelRegistry(workspace.store, manifest_parameter(config, "dev"))
    versions_after_drift = [v.version for v in registry.history()]
    registry.promote(1)
    again = local_infer(data["drifted"], config, "dev", workspace, quiet)
    return {
        "workspace": workspace,
        "first": first,
        "holdout": holdout,
        "landed": landed,
        "drifted": drifted,
        "versions_after_drift": versions_after_drift,
        "registry": registry,
        "again": again,
    }


def test_training_registers_version_one_with_every_artefact(story):
    first = story["first"]
    assert first["status"] == "Succeeded" and first["manifest_version"] == 1
    assert set(first["artifacts"]) == {"model", "baseline", "explainability", "preprocessing"}
    assert first["artifacts"]["model"].endswith("model.tar.gz")
    assert all(Path(p).exists() for p in first["artifacts"].values())
    assert first["metrics"]
    assert "Model evaluation" in Path(first["reports"]["evaluation"]).read_text()
    assert "SHAP summary" in Path(first["reports"]["explainability"]).read_text()


def test_holdout_rows_and_predictions_match_without_drift(story, data):
    holdout = story["holdout"]
    rows = len(pd.read_csv(data["holdout"]))
    assert holdout["status"] == "Succeeded"
    assert holdout["rows"] == rows
    assert len(Path(holdout["predictions"]).read_text().strip().split("\n")) == rows
    assert len(pd.read_csv(holdout["explanations"])) == rows
    assert holdout["drift"] == {"detected": False, "drifted_features": []}
    assert holdout["retrain_triggered"] is False


def test_every_inference_run_writes_its_performance_estimate(story, problem_type):
    """Before any label: a classifier's expected metrics (CBPE); regression says there is none."""
    estimate = story["holdout"]["estimate"]
    if problem_type == "regression":
        assert estimate["estimated"] is False and "regression" in estimate["reason"]
        return
    if not estimate["estimated"]:  # the model failed its calibration check at training: the reason says so
        assert "calibration error" in estimate["reason"]
        return
    assert 0.0 <= estimate["metrics"]["accuracy"] <= 1.0
    if problem_type == "binary_classification":
        assert set(estimate["metrics"]) == {"auc", "accuracy", "precision", "recall", "f1"}


def test_drift_is_reported_and_acted_on(story, config):
    drifted = story["drifted"]
    assert drifted["drift"]["detected"] is True
    assert "monthly_charges" in drifted["drift"]["drifted_features"]
    if config["inference"]["drift_action"] == "retrain":
        assert drifted["retrain_triggered"] is True
        assert story["versions_after_drift"] == [1, 2], "the retrain must register a new manifest version"
        assert drifted["retrain"]["version"] == 2 and drifted["retrain"]["decision"]
    else:
        assert drifted["retrain_triggered"] is False
        assert story["versions_after_drift"] == [1]


def test_a_retrain_learns_the_labelled_production_rows_and_records_their_lineage(story, config, data, target):
    """v2's data: v1's snapshot, plus the holdout run's labelled rows rebuilt from its kept input, less the newest
    fifth held out for the gate; the manifest names the base, the run with its rows, and the labels file."""
    if config["inference"]["drift_action"] != "retrain":
        pytest.skip("drift_action is alert")
    registry, workspace = story["registry"], story["workspace"]
    v1, v2 = registry.get(version=1).manifest, registry.get(version=2).manifest
    lineage = v2["lineage"]
    assert lineage["base"] == {"uri": v1["training_data"], "sha256": v1["training_data_sha256"]}
    assert lineage["runs"] == {story["holdout"]["run_id"]: 480} and lineage["holdout"]["rows"] == 120
    assert lineage["labels"]["files"] == [story["landed"]["uri"].split("/labels/", 1)[1]]
    assert v2["training_data_sha256"] != v1["training_data_sha256"]
    assert v2["gate"]["champion_version"] == "1" and v2["gate"]["set"] == "recent" and v2["gate"]["rows"] == 120
    snapshot = workspace.path(v2["training_data"])
    record = json.loads((snapshot / "lineage.json").read_text())
    files = {source["file"]: source for source in record["sources"]}
    assert files["base/train.csv"]["kind"] == "upload" and files["base/train.csv"]["rows"] == 2500
    (production,) = [f for f in files if f.startswith("production/")]
    assert (snapshot / "base" / "train.csv").read_bytes() == data["train"].read_bytes()
    rows = pd.read_csv(snapshot / production, dtype=str, keep_default_na=False)
    # An independent rebuild: row i of the holdout batch is the prediction (and label) with id "<run>:holdout.csv:i".
    batch = pd.read_csv(data["holdout"], dtype=str, keep_default_na=False)
    truth = pd.read_csv(data["holdout"].with_name("holdout-truth.csv"), dtype=str, keep_default_na=False)[target]
    index = rows["inference_id"].str.rsplit(":", n=1).str[1].astype(int) - 1
    assert len(set(index)) == 480 and index.max() < 600
    expected = batch.iloc[index].reset_index(drop=True)
    for column in batch.columns:
        assert rows[column].tolist() == [_same_number(v) for v in expected[column]], column
    assert rows[target].tolist() == truth.iloc[index].tolist()


def _same_number(text: str) -> str:
    """A kept input holds each value as processing read it: numbers in their shortest form (3.0 is 3)."""
    try:
        return f"{float(text):.15g}"
    except ValueError:
        return text


def test_promoted_version_is_used_for_inference(story):
    assert story["again"]["manifest_version"] == 1


def test_drift_thresholds_are_pipeline_parameters(story, config, data):
    relaxed = {
        "DriftComparisonThreshold": "1.0",
        "DriftCategoricalThreshold": "1.0",
        "DriftCompletenessTolerance": "1.0",
    }
    result = local_infer(data["drifted"], config, "dev", story["workspace"], quiet, parameters=relaxed)
    assert result["status"] == "Succeeded"
    assert result["drift"]["detected"] is False, "no distance can exceed 1.0, so the override must silence drift"


def test_retrain_cooling_period_stops_retrain_storms(story, config):
    if config["inference"]["drift_action"] != "retrain":
        pytest.skip("drift_action is alert")
    assert story["again"]["drift"]["detected"] is True
    assert story["again"]["retrain_triggered"] is False


def test_failed_training_registers_nothing(tmp_path, config, sample, target):
    workspace = Workspace(tmp_path)
    bad = tmp_path / "no_target.csv"
    sample.drop(columns=[target]).to_csv(bad, index=False)
    result = local_train(bad, config, "dev", workspace, quiet)
    assert result["status"] == "Failed"
    assert result["failure"].startswith("Processing:") and f"'{target}'" in result["failure"]
    assert "no reason in" not in result["failure"], "the reason must be where SageMaker reads a Processing job's"
    assert ModelRegistry(workspace.store, manifest_parameter(config, "dev")).history() == []


def test_a_failed_training_job_reports_the_reason_sagemaker_would_show(tmp_path, config, data):
    """A Training job's reason is read from output/failure (a Processing job's from output/message)."""
    broken = copy.deepcopy(config)
    key, value = a_bad_hyperparameter(config)
    broken["algorithm"]["hyperparameters"][key] = value
    result = local_train(data["train"], broken, "dev", Workspace(tmp_path), quiet)
    assert result["status"] == "Failed"
    assert result["failure"].startswith("Training: algorithm train: ")  # one prefix, not the job's twice
    assert f"hyperparameter '{key}'='{value}' is invalid" in result["failure"]
    assert "no reason in" not in result["failure"]


def test_training_input_is_snapshotted_by_content_and_never_overwritten(tmp_path, config, data, sample, target):
    """A later run, even a failed one with a file of the same name, cannot change what a manifest trained on."""
    workspace = Workspace(tmp_path / "ws")
    assert local_train(data["train"], config, "dev", workspace, quiet)["status"] == "Succeeded"
    manifest = ModelRegistry(workspace.store, manifest_parameter(config, "dev")).get().manifest
    digest = hashlib.sha256(data["train"].read_bytes()).hexdigest()
    assert manifest["training_data_sha256"] == digest
    assert manifest["training_data"].endswith(f"/data/train/sha256={digest}/")
    snapshot = workspace.path(manifest["training_data"])
    before = {p.name: p.read_bytes() for p in snapshot.iterdir()}
    assert before == {"train.csv": data["train"].read_bytes()}
    later = tmp_path / "later" / data["train"].name
    later.parent.mkdir()
    sample.drop(columns=[target]).to_csv(later, index=False)
    assert local_train(later, config, "dev", workspace, quiet)["status"] == "Failed"
    assert {p.name: p.read_bytes() for p in snapshot.iterdir()} == before
    assert not [p for p in snapshot.parent.iterdir() if p.name.startswith(".")], "no partial snapshot left"


def test_tuning_searches_the_ranges_and_registers_the_best_job(tmp_path, config, data):
    tuned = copy.deepcopy(config)
    tuned["algorithm"]["tuning"] |= {"enabled": True, "local_max_jobs": 3}
    tuned["algorithm"]["hyperparameters"] = fewer_rounds(config, 60)
    workspace = Workspace(tmp_path)
    seed_markers(workspace, tuned, "dev")
    input_uri, _ = workspace.snapshot(data["train"], "s3://bucket/data/train/")
    executor = LocalExecutor(workspace, tuned, "dev", progress=quiet)
    execution = executor.run(definition(tuned, "dev", "training"), {"InputData": input_uri}, "p-dev-training")
    assert execution.status == "Succeeded", execution.failure
    summaries = execution.output("Training", "TrainingJobSummaries")
    assert len(summaries) == 3
    assert len({json.dumps(j["TunedHyperParameters"], sort_keys=True) for j in summaries}) == 3
    scores = [j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for j in summaries]
    minimise = tuned["data"]["problem_type"] == "regression"
    assert scores == sorted(scores, reverse=not minimise)
    manifest = ModelRegistry(workspace.store, manifest_parameter(tuned, "dev")).get().manifest
    assert manifest["artifacts"]["model"].endswith(f"/{summaries[0]['TrainingJobName']}/output/model.tar.gz")
    assert Path(workspace.path(manifest["artifacts"]["model"])).is_file()
    objective = "rmse" if minimise else "auc"
    assert manifest["metrics"] == {objective: scores[0]}


def documented_json_keys() -> dict[str, tuple[set[str], dict[str, set[str]]]]:
    """What docs/local-mode.md says each local command's --json line holds: its keys, and each nested object's."""
    items = re.split(r"\n(?=- )", (SRC.parent / "docs" / "local-mode.md").read_text())
    found = {}
    for item in items:  # a list item and its continuation lines, which wrap a long key list
        line = " ".join(part.strip() for part in item.split("\n  -", 1)[0].splitlines())
        listed = re.match(r"- ((?:`local \w+`(?:, )?)+): `(\{.*\})`", line)
        if not listed:
            continue
        keys, nested, depth, current = set(), {}, 0, None
        for token in re.finditer(r'"(\w+)"(: \{)?|[{}]', listed.group(2)):
            if token.group(0) == "{":
                depth += 1
            elif token.group(0) == "}":
                depth -= 1
            elif depth == 1:
                keys.add(token.group(1))
                if token.group(2):
                    current, depth = token.group(1), 2
                    nested[current] = set()
            elif depth == 2 and current:
                nested[current].add(token.group(1))
        for command in re.findall(r"`(local \w+)`", listed.group(1)):
            found[command] = (keys, nested)
    return found


def assert_as_documented(command: str, answer: dict) -> None:
    keys, nested = documented_json_keys()[command]
    assert set(answer) == keys, f"docs/local-mode.md and `{command} --json` differ: {set(answer) ^ keys}"
    for name, inner in nested.items():
        assert answer[name] is None or set(answer[name]) == inner, f"{command}: {name}"


def test_cli_json_contract(tmp_path, data, story, target, config, capsys):
    # Through the CLI's main() in this process: its pipeline definitions (same config as the story's)
    # come from the session's shared cache, and its jobs from the session's warm interpreter.
    def cli(*args):
        code = main(["--workspace", str(tmp_path / "ws"), *args])
        out, err = capsys.readouterr()
        assert code == 0, err[-3000:]
        return json.loads(out.strip().splitlines()[-1])

    # Each command's JSON line holds exactly the keys docs/local-mode.md lists for it, nested ones too.
    trained = cli("local", "train", "--data", str(data["train"]), "--json")
    assert_as_documented("local train", trained)
    inferred = cli("local", "infer", "--data", str(data["holdout"]), "--json")
    assert_as_documented("local infer", inferred)
    # Ground truth for two of those predictions lands under the labels prefix.
    ids = [line.split(",", 1)[0] for line in Path(inferred["predictions"]).read_text().splitlines()[:2]]
    truths = pd.read_csv(data["train"])[target].iloc[:2].tolist()
    labels = tmp_path / "labels.csv"
    labels.write_text(f"inference_id,{target}\n" + "".join(f"{i},{t}\n" for i, t in zip(ids, truths, strict=True)))
    landed = cli("local", "labels", "--data", str(labels), "--json")
    assert_as_documented("local labels", landed)
    assert landed["rows"] == 2
    assert "/labels/" in landed["uri"] and landed["status"] == "Succeeded"
    judged = cli("local", "quality", "--json")  # two labels: fewer than a verdict needs
    assert_as_documented("local quality", judged)
    assert main(["--workspace", str(tmp_path / "ws"), "local", "quality"]) == 0  # as a person reads it
    said = capsys.readouterr().err
    assert f"not judged: a verdict needs {config['quality']['min_labelled_rows']} (--min-labelled-rows" in said, said
    assert judged["status"] == "Succeeded"
    assert_as_documented("local clean", cli("local", "clean", "--dry-run", "--json"))
    assert judged["labelled_rows"] == 2 and judged["judged"] is False and judged["violations"] == []
    history = cli("registry", "history", "--json")
    assert [v["version"] for v in history] == [1]
    # The same JSON line on the stdout of the command as its own process.
    command = [sys.executable, "-m", "{{ cookiecutter.package_name }}", "--workspace", str(tmp_path / "ws")]
    result = subprocess.run(
        [*command, "registry", "history", "--json"],
        env=subprocess_env(tmp_path),
        cwd=SRC.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == history
    promoted = cli("registry", "promote", "--version", "1", "--json")
    assert promoted["labels"] == ["approved"]


def test_sharded_inference_over_a_folder_equals_the_single_file_run(story, config, data, tmp_path):
    """The holdout as three files on two instances: same drift, predictions and SHAP, row for row."""
    batch = tmp_path / "batch"
    batch.mkdir()
    frame = pd.read_csv(data["holdout"])
    for i in range(3):
        frame.iloc[i * 200 : (i + 1) * 200].to_csv(batch / f"part-{i}.csv", index=False)
    single = story["holdout"]
    sharded = local_infer(batch, config, "dev", story["workspace"], quiet, instances=2)
    assert sharded["status"] == "Succeeded", sharded.get("failure")
    assert sharded["manifest_version"] == single["manifest_version"] == 1
    assert sharded["rows"] == len(frame)
    assert sharded["drift"] == single["drift"]
    parts = [f"part-{i}.csv" for i in range(3)]
    predictions = b"".join((Path(sharded["predictions"]) / f"{name}.out").read_bytes() for name in parts)
    single_lines = Path(single["predictions"]).read_bytes().splitlines()
    # The answers are the same, row for row; each run's ids name its own execution, file and row.
    assert [line.split(b",", 1)[1] for line in predictions.splitlines()] == [
        line.split(b",", 1)[1] for line in single_lines
    ]
    ids = [line.split(b",", 1)[0].decode() for line in predictions.splitlines()]
    assert ids[:2] == [f"{sharded['run_id']}:part-0.csv:1", f"{sharded['run_id']}:part-0.csv:2"]
    assert ids[200] == f"{sharded['run_id']}:part-1.csv:1" and len(set(ids)) == len(ids)
    assert single_lines[0].startswith(f"{single['run_id']}:".encode())
    explanations = pd.concat([pd.read_csv(Path(sharded["explanations"]) / name) for name in parts], ignore_index=True)
    assert explanations["inference_id"].tolist() == ids
    pd.testing.assert_frame_equal(
        explanations.drop(columns="inference_id"), pd.read_csv(single["explanations"]).drop(columns="inference_id")
    )
    run = story["workspace"].root / "runs" / f"{config['project']['slug']}-dev-inference" / sharded["run_id"]
    assert sorted(p.name for p in (run / "steps" / names.MONITORING_SHARDS).glob("job-*.log")) == [
        "job-algo-1.log",
        "job-algo-2.log",
    ]
    reports = [Path(r["explainability_report"]).parent / "analysis.json" for r in (single, sharded)]
    analyses = [json.loads(path.read_text()) for path in reports]
    assert analyses[0]["n_rows"] == analyses[1]["n_rows"] == len(frame)
    for label, values in analyses[0]["explanations"]["kernel_shap"].items():
        merged = analyses[1]["explanations"]["kernel_shap"][label]["global_shap_values"]
        assert merged == pytest.approx(values["global_shap_values"], rel=1e-9)


def test_two_runs_on_files_of_one_name_started_together_each_read_only_their_own_rows(
    tmp_path, story, target, problem_type
):
    """a/batch.csv (1,500 quiet rows) and b/batch.csv (2,500 drifted rows) at once in one workspace; then a's
    drift recomputed by a selective rerun reads a's rows again, not the latest file of that name."""
    import shutil

    workspace = tmp_path / "ws"
    shutil.copytree(story["workspace"].root, workspace)
    batches = {}
    for name, rows, stage in (("a", 1500, 0), ("b", 2500, 4)):
        (tmp_path / name).mkdir()
        frame = generate(rows, target_column=target, problem_type=problem_type, seed=70, drift_stage=stage)
        frame.drop(columns=[target]).to_csv(tmp_path / name / "batch.csv", index=False)
        batches[name] = rows
    command = [sys.executable, "-m", "{{ cookiecutter.package_name }}", "--workspace", str(workspace), "local"]
    run = dict(env=subprocess_env(tmp_path), cwd=SRC.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = {
        name: subprocess.Popen([*command, "infer", "--data", str(tmp_path / name / "batch.csv"), "--json"], **run)
        for name in batches
    }
    summaries = {}
    for name, process in started.items():
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
        summaries[name] = json.loads(out.strip().splitlines()[-1])

    def monitored(summary):
        return json.loads((Path(summary["report"]).parent / "drift.json").read_text())

    for name, rows in batches.items():
        assert summaries[name]["rows"] == rows and monitored(summaries[name])["n_production"] == rows
    assert summaries["a"]["drift"]["detected"] is False and summaries["b"]["drift"]["detected"] is True
    rerun = subprocess.run(
        [*command, "rerun", "inference", "--steps", "MonitoringShards,Monitoring", "--reference",
         summaries["a"]["run_id"], "--json"], timeout=600, **run,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    again = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert monitored(again)["n_production"] == batches["a"] and again["drift"] == summaries["a"]["drift"]
    assert again["steps"][names.MONITORING] == "ran" and again["steps"]["Transform"] == "reused"


def test_a_version_registered_before_pinning_is_refused_and_one_training_run_serves_again(
    tmp_path, story, config, data
):
    """A repository updated from before pinning: its versions record no digests. Inference refuses the approved
    one by name, and the label cannot move to one; training the same data registers the same model again, pinned,
    and (with promotion auto, no pinned champion to wait for) it serves."""
    import shutil

    workspace = Workspace(tmp_path / "ws")
    shutil.copytree(story["workspace"].root, workspace.root)  # its step cache makes the training below quick
    registry = ModelRegistry(workspace.store, manifest_parameter(config, "dev"))
    approved, versions = registry.champion().version, len(registry.history())
    stored = workspace.store._path(registry.parameter)  # the file store's own file: as an older template wrote it
    state = json.loads(stored.read_text())
    for entry in state["versions"]:
        entry["value"] = json.dumps({k: v for k, v in json.loads(entry["value"]).items() if k != "digests"})
    stored.write_text(json.dumps(state))
    with pytest.raises(ValueError, match=f"Version {approved} records no digest of its artefacts"):
        local_infer(data["holdout"], config, "dev", workspace, quiet)
    with pytest.raises(ValueError, match="registered before artefacts were pinned"):
        registry.promote(versions)
    trained = local_train(data["train"], config, "dev", workspace, quiet)
    assert trained["registered"] is True and trained["manifest_version"] == versions + 1, trained["decision"]
    assert registry.get(version=versions + 1).pinned
    if config["promotion"]["mode"]["dev"] == "auto":
        assert trained["promoted"] is True, trained["decision"]
        assert local_infer(data["holdout"], config, "dev", workspace, quiet)["status"] == "Succeeded"


def test_clean_frees_what_finished_runs_hold_and_keeps_what_is_still_read(tmp_path, story, config, data, capsys):
    """`local clean`: sandboxes of finished runs and their input copies go; logs, records, every published output
    (what the registry pins, the cache reuses, the kept predictions and inputs) and a running run's files stay."""
    import os
    import shutil

    root = tmp_path / "ws"
    shutil.copytree(story["workspace"].root, root)
    running = root / "runs" / "x-dev-inference" / "running"  # a run whose process is alive: this test's
    staged = running / "steps" / "Processing" / "opt_ml" / "processing" / "input" / "batch.csv"
    staged.parent.mkdir(parents=True)
    staged.write_text("a\n1\n")
    snapshots = sorted((root / "s3").glob("*/data/inference/sha256=*"))
    reading = {"InputData": f"s3://{snapshots[0].relative_to(root / 's3').as_posix()}/"}  # the live run's input
    record = {"status": "Executing", "pid": os.getpid(), "parameters": reading}
    (running / "execution.json").write_text(json.dumps(record))
    dead, live = (root / ".staging" / f"transform-{pid}-0a0b" for pid in (2**22 + 1, os.getpid()))
    for folder in (dead, live):
        folder.mkdir(parents=True)
    published = {p: p.read_bytes() for p in (root / "s3").rglob("*") if p.is_file() and "/inference/sha" not in str(p)}
    logs = sorted(p.relative_to(root) for p in (root / "runs").rglob("*.log"))
    code = main(["--workspace", str(root), "local", "clean", "--older-than", "PT0H", "--json"])
    cleaned = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and cleaned["freed_mb"] > 0 and cleaned["staging"] == 1
    finished = [p for p in (root / "runs").glob("*/*") if p != running]
    assert sorted(cleaned["runs"]) == sorted(f"{p.parent.name}/{p.name}" for p in finished)
    left = [p for p in (root / "runs").rglob("*") if p.is_file() and "opt_ml" in str(p) and running not in p.parents]
    assert left and all(p.name in {"job.log", "failure", "message"} for p in left), left
    assert sorted(p.relative_to(root) for p in (root / "runs").rglob("*.log")) == logs, "every job log stays"
    assert staged.exists() and not dead.exists() and live.exists()
    assert {p: p.read_bytes() for p in published} == published, "no published output is touched"
    assert len(snapshots) > 1 and list((root / "s3").glob("*/data/inference/sha256=*")) == snapshots[:1], (
        "only the input copy a kept run reads stays"
    )
    registry = ModelRegistry(Workspace(root).store, manifest_parameter(config, "dev"))
    approved = registry.champion().manifest  # what the registry pins is all there, digest for digest
    model = Workspace(root).path(approved["artifacts"]["model"]).read_bytes()
    assert hashlib.sha256(model).hexdigest() == approved["digests"]["model"]
    again = local_infer(data["holdout"], config, "dev", Workspace(root), quiet)
    assert again["status"] == "Succeeded" and again["drift"] == story["holdout"]["drift"]


def test_a_run_killed_during_transform_publishes_nothing_and_the_rerun_succeeds(
    tmp_path, story, data, target, problem_type
):
    import os
    import shutil
    import signal
    import time

    workspace = tmp_path / "ws"
    shutil.copytree(story["workspace"].root, workspace)
    batch = tmp_path / "large.csv"
    generate(30_000, target_column=target, problem_type=problem_type, seed=9).drop(columns=[target]).to_csv(
        batch, index=False
    )
    command = [sys.executable, "-m", "{{ cookiecutter.package_name }}", "--workspace", str(workspace)]
    command += ["local", "infer", "--data", str(batch), "--json"]
    run = dict(env=subprocess_env(tmp_path), cwd=SRC.parent, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    process = subprocess.Popen(command, start_new_session=True, **run)
    staging = workspace / ".staging"
    deadline = time.monotonic() + 240
    try:
        # Kill the whole run (executor and model server) while Transform's answers are being written.
        while not any(staging.glob("transform-*/**/.*.partial")):
            assert process.poll() is None, "the run ended before Transform wrote anything"
            assert time.monotonic() < deadline, "Transform never started writing"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    published = [p for p in (workspace / "s3").rglob("*.out")]
    before = {p for p in published if "inference" in str(p)}
    assert all(p.stat().st_size and p.read_bytes().endswith(b"\n") for p in before)
    killed = next(
        p
        for p in (workspace / "runs").glob("*inference/*")
        if json.loads((p / "execution.json").read_text())["status"] == "Executing"  # it never finished
    )
    assert not [p for p in (workspace / "s3").rglob(f"*{killed.name}*/predictions/*") if p.is_file()]
    # The rerun (on the holdout, to keep it quick) succeeds in the same workspace and clears the leftovers.
    rerun = subprocess.run([*command[:-2], str(data["holdout"]), "--json"], text=True, timeout=600, **run)
    assert rerun.returncode == 0
    summary = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert summary["status"] == "Succeeded" and summary["rows"] == 600
    assert not [p for p in staging.iterdir() if f"-{process.pid}-" in p.name], "the killed run's staging stays"
