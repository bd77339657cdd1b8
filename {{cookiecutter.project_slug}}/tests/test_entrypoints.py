"""Every component and mode through its real entrypoint, under OPT_ML_ROOT, as SageMaker runs it."""

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }}.components.algorithm.estimators import resolve
from {{ cookiecutter.package_name }}.config import load_config
from {{ cookiecutter.package_name }}.local.packing import (
    pack_model,
    stage_input,
)
from {{ cookiecutter.package_name }}.local.runtimes import (
    JobFailed,
    run_component,
)
from {{ cookiecutter.package_name }}.local.transform import (
    batch_transform,
    model_server,
    transform_file,
)
from {{ cookiecutter.package_name }}.model_metrics import METRICS
from {{ cookiecutter.package_name }}.pipelines.inference import transform_data_processing
from {{ cookiecutter.package_name }}.registry.digests import (
    file_sha256,
    folder_digest,
)
from {{ cookiecutter.package_name }}.sample_data import (
    generate,
)

from .conftest import (
    entrypoint,
    job_reason,
    pinned,
    pinned_model,
    planted_model,
    subprocess_env,
    tamper_archive,
)


def _job(workdir, name):
    return workdir / "jobs" / name


@pytest.fixture(scope="module")
def chain(tmp_path_factory, config, target, problem_type):
    """Every component and mode in pipeline order, each job in its own OPT_ML_ROOT sandbox.

    These jobs start cold, each in a fresh interpreter: an import that only a warm start
    provides (see local/warm.py) fails here. The other tests run their jobs warm.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOCAL_WARM_START", "0")  # each job in a fresh interpreter, as in a container
        return _run_chain(tmp_path_factory, config, target, problem_type)


def _run_chain(tmp_path_factory, config, target, problem_type):
    workdir = tmp_path_factory.mktemp("chain")
    train_csv = workdir / "train.csv"
    generate(1500, target_column=target, problem_type=problem_type, seed=3).to_csv(train_csv, index=False)
    batch = workdir / "batch.csv"
    frame = generate(300, target_column=target, problem_type=problem_type, seed=4)
    frame.drop(columns=[target]).to_csv(batch, index=False)

    processing = _job(workdir, "processing-train")
    stage_input(train_csv, processing / "processing" / "input" / "raw")
    run_component("processing", "train", processing)
    out = processing / "processing" / "output"
    algorithm = _job(workdir, "algorithm-train")
    for channel in ("train", "validation", "artifacts"):
        stage_input(out / channel, algorithm / "input" / "data" / channel)
    (algorithm / "input" / "config").mkdir(parents=True)
    hyperparameters = json.dumps(config["algorithm"]["hyperparameters"])
    (algorithm / "input" / "config" / "hyperparameters.json").write_text(hyperparameters)
    run_component("algorithm", "train", algorithm)
    archive = pack_model(algorithm / "model", workdir / "model.tar.gz")
    monitoring = _job(workdir, "monitoring-train")
    stage_input(train_csv, monitoring / "processing" / "input" / "raw")
    run_component("monitoring", "train", monitoring)
    explainability = _job(workdir, "explainability-train")
    stage_input(archive, explainability / "processing" / "input" / "model")
    stage_input(out / "validation", explainability / "processing" / "input" / "data")
    stage_input(out / "artifacts", explainability / "processing" / "input" / "artifacts")
    run_component("explainability", "train", explainability)
    trained = {
        "artifacts": str(out / "artifacts"),
        "baseline": str(monitoring / "processing" / "output" / "baseline"),
        "explainability": str(explainability / "processing" / "output" / "report"),
    }

    serve = _job(workdir, "processing-serve")
    stage_input(batch, serve / "processing" / "input" / "raw")
    stage_input(out / "artifacts", serve / "processing" / "input" / "artifacts")
    run_component("processing", "serve", serve, environment=pinned(serve))
    processed = serve / "processing" / "output" / "processed" / batch.name
    predictions = _job(workdir, "transform") / "output" / f"{batch.name}.out"
    keep_ids = transform_data_processing(problem_type)
    rows = batch_transform(
        archive, processed, predictions, _job(workdir, "transform"), data_processing=keep_ids,
        environment=pinned_model(archive),
    )  # fmt: skip
    drift = _job(workdir, "monitoring-serve")
    stage_input(batch, drift / "processing" / "input" / "raw")
    stage_input(Path(trained["baseline"]), drift / "processing" / "input" / "baseline")
    run_component("monitoring", "serve", drift, environment=pinned(drift))
    explain = _job(workdir, "explainability-serve")
    stage_input(archive, explain / "processing" / "input" / "model")
    stage_input(processed, explain / "processing" / "input" / "data")
    stage_input(out / "artifacts", explain / "processing" / "input" / "artifacts")
    run_component("explainability", "serve", explain, environment=pinned(explain))
    report = drift / "processing" / "output" / "report"
    result = {
        "rows": rows,
        "predictions": str(predictions),
        "drift": json.loads((report / "drift.json").read_text()),
        "report": str(report / "report.html"),
        "explanations": str(explain / "processing" / "output" / "report" / "explanations_shap" / "out.csv"),
    }
    return workdir, trained, batch, result


def run(component, mode, root):
    return subprocess.run([*entrypoint(component), mode], env=subprocess_env(root), capture_output=True, text=True)


# Each loader of a registered artefact: (component, mode, the chain job whose inputs it takes, the file swapped,
# the artefact as the manifest pins it). An archive is pinned by its bytes, a folder by its listing.
ARTIFACTS = "processing/input/artifacts/schema.json"
BASELINE = "processing/input/baseline/statistics.json"
MODEL = "processing/input/model/model.tar.gz"
# The model file the configured estimator saves (model.skops for the scikit-learn ones).
MODEL_FILE = resolve(load_config()["algorithm"]["estimator"]).model_file
EXPLAIN = "explainability-serve"
PINNED_LOADS = {
    "processing serve, the preprocessing": ("processing", "serve", "processing-serve", ARTIFACTS, "preprocessing"),
    "monitoring serve, the baseline": ("monitoring", "serve", "monitoring-serve", BASELINE, "baseline"),
    "monitoring estimate, the model": ("monitoring", "estimate", EXPLAIN, MODEL, "model"),
    "explainability serve, the model": ("explainability", "serve", EXPLAIN, MODEL, "model"),
    "explainability serve, the preprocessing": ("explainability", "serve", EXPLAIN, ARTIFACTS, "preprocessing"),
    "explainability merge, the preprocessing": ("explainability", "merge", EXPLAIN, ARTIFACTS, "preprocessing"),
    "algorithm serve, the model": ("algorithm", "serve", "algorithm-train", f"model/{MODEL_FILE}", "model_contents"),
}  # fmt: skip


@pytest.mark.parametrize("case", PINNED_LOADS)
def test_an_artefact_changed_after_registration_fails_the_job_before_anything_is_read_from_it(chain, tmp_path, case):
    """The job checks the manifest's digest first: it names the artefact and both digests, and runs no code from it."""
    component, mode, job, swapped, artefact = PINNED_LOADS[case]
    workdir, _, _, _ = chain
    root, marker = tmp_path / "job", tmp_path / "payload-ran"
    staged = "model" if component == "algorithm" else "processing/input"
    shutil.copytree(_job(workdir, job) / staged, root / staged)
    env = subprocess_env(root)  # the digests of the artefacts as they were registered
    target = root / swapped
    if target.name == "model.tar.gz":
        tamper_archive(target, marker)
    elif target.name == MODEL_FILE:
        target.write_bytes(planted_model(marker))
    else:
        target.write_text(target.read_text() + " ")  # one byte more: no code in it, but not what was registered
    result = subprocess.run([*entrypoint(component), mode], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0, f"{case}: the job ran on a changed artefact"
    checked = target if artefact == "model" else target.parent
    found = file_sha256(checked) if checked.is_file() else folder_digest(checked)
    registered = json.loads(env["ARTIFACT_DIGESTS"])[artefact]
    # A model server (Batch Transform) has no reason file: its log says why.
    failure = result.stderr if component == "algorithm" else job_reason(root)
    assert f"The {artefact} artefact at {checked} is not the one the manifest pins" in failure
    assert f"its sha256 is {found}, the manifest's {registered}" in failure
    assert not marker.exists(), f"{case}: code from the swapped file ran"
    assert not list((root / "processing" / "output").rglob("*.*")), "nothing is published from a changed artefact"


def test_the_planted_model_runs_its_command_when_loaded_unchecked(tmp_path):
    """The control for the test above: loading the swapped file without the check runs its code."""
    marker = tmp_path / "payload-ran"
    (tmp_path / "model.joblib").write_bytes(planted_model(marker))
    loading = "import joblib, sys; joblib.load(sys.argv[1])"
    subprocess.run([sys.executable, "-c", loading, str(tmp_path / "model.joblib")], check=True, capture_output=True)
    assert marker.exists()


def test_processing_train_writes_target_first_headerless_csvs(chain, target):
    workdir, _, _, _ = chain
    out = workdir / "jobs" / "processing-train" / "processing" / "output"
    schema = json.loads((out / "artifacts" / "schema.json").read_text())
    train_rows = pd.read_csv(out / "train" / "train.csv", header=None)
    assert train_rows.shape[1] == len(schema["features"]) + 1
    assert schema["target"] == target
    assert not any(p.name.startswith(".") for p in out.iterdir()), "staging folders must not be left behind"


def test_algorithm_train_writes_model_and_prints_metrics(chain, problem_type):
    workdir, _, _, _ = chain
    model_dir = workdir / "jobs" / "algorithm-train" / "model"
    assert {MODEL_FILE, "estimator.json", "schema.json", "evaluation.json", "evaluation.html"} <= {
        p.name for p in model_dir.iterdir()
    }
    log = (workdir / "jobs" / "algorithm-train" / "job.log").read_text()
    objective = "validation:rmse=" if problem_type == "regression" else "validation:auc="
    assert objective in log


def test_algorithm_train_records_quality_constraints_and_calibration(chain, problem_type, config):
    """Model-quality monitoring's baseline: constraints from the validation metrics, and the calibration check."""
    workdir, _, _, _ = chain
    model_dir = workdir / "jobs" / "algorithm-train" / "model"
    constraints = json.loads((model_dir / "quality_constraints.json").read_text())
    section = constraints[f"{problem_type}_constraints"]
    higher_is_better = {"auc", "accuracy", "precision", "recall", "f1", "weighted_f1", "r2"}
    for name, rule in section.items():
        expected = "LessThanThreshold" if name in higher_is_better else "GreaterThanThreshold"
        assert rule["comparison_operator"] == expected and isinstance(rule["threshold"], float)
    # Every metric has a limit, or the reason it has none (validation did not beat the best constant).
    unconstrained = constraints.get("unconstrained", {})
    assert set(section) | set(unconstrained) == set(METRICS[problem_type]) and section
    assert not set(section) & set(unconstrained)
    calibration = json.loads((model_dir / "calibration.json").read_text())
    log = (workdir / "jobs" / "algorithm-train" / "job.log").read_text()
    if problem_type == "regression":
        assert calibration["estimable"] is False and "no performance estimate" in log
    else:
        assert 0 <= calibration["expected_calibration_error"] <= 1 and len(calibration["map"]["x"]) >= 1
        assert ("estimable" in log) == calibration["estimable"]


def test_hyperparameters_file_holds_only_strings(chain):
    workdir, _, _, _ = chain
    values = json.loads(
        (workdir / "jobs" / "algorithm-train" / "input" / "config" / "hyperparameters.json").read_text()
    )
    assert values and all(isinstance(v, str) for v in values.values())


def test_monitoring_and_explainability_train_outputs(chain):
    _, trained, _, _ = chain
    assert {"statistics.json", "constraints.json"} <= {p.name for p in Path(trained["baseline"]).iterdir()}
    analysis = json.loads((Path(trained["explainability"]) / "analysis.json").read_text())
    report = Path(trained["explainability"])
    importance = (report / "summary.svg").read_text()
    assert importance.startswith("<svg") and importance in (report / "summary.html").read_text()
    assert "kernel_shap" in analysis["explanations"]


def test_serve_chain_keeps_one_row_per_input(chain):
    _, _, batch, result = chain
    rows = len(pd.read_csv(batch))
    assert result["rows"] == rows
    predictions = Path(result["predictions"]).read_text().strip().split("\n")
    assert len(predictions) == rows
    explanations = pd.read_csv(result["explanations"])
    assert len(explanations) == rows
    assert result["drift"]["drift_detected"] is False
    # Every published row starts with its inference id: the processed row's, in the same order.
    ids = [f"run:{batch.name}:{row}" for row in range(1, rows + 1)]
    assert [line.split(",", 1)[0] for line in predictions] == ids
    assert explanations.columns[0] == "inference_id" and explanations["inference_id"].tolist() == ids


def test_monitoring_serve_writes_all_reports(chain):
    _, _, _, result = chain
    report = Path(result["report"]).parent
    assert {"constraint_violations.json", "drift.json", "statistics.json", "report.html"} <= {
        p.name for p in report.iterdir()
    }
    drift = json.loads((report / "drift.json").read_text())
    assert {"drift_detected", "drifted_features"} <= set(drift)
    assert "<svg" in (report / "report.html").read_text()


def test_a_retrains_split_does_not_depend_on_the_inference_ids_of_its_production_rows(tmp_path, sample):
    """An inference id carries its execution's random id: the same rows must split the same way whatever it is."""
    written = {}
    for prefix in ("20261201060000aaaaaa", "20261201060000bbbbbb"):
        root = tmp_path / prefix
        raw = root / "processing" / "input" / "raw"
        (raw / "production").mkdir(parents=True)
        sample.iloc[:400].to_csv(raw / "base.csv", index=False)
        production = sample.iloc[400:].reset_index(drop=True)
        ids = [f"{prefix}:batch.csv:{row}" for row in range(1, len(production) + 1)]
        production.insert(0, "inference_id", ids)
        production.to_csv(raw / "production" / "run.csv", index=False)
        assert run("processing", "train", root).returncode == 0
        output = root / "processing" / "output"
        written[prefix] = {name: (output / name / f"{name}.csv").read_bytes() for name in ("train", "validation")}
    first, second = written.values()
    assert first["validation"] and first == second


def test_processing_train_without_target_fails_with_one_line_and_publishes_nothing(tmp_path, sample, target):
    raw = tmp_path / "processing" / "input" / "raw"
    raw.mkdir(parents=True)
    sample.drop(columns=[target]).to_csv(raw / "train.csv", index=False)
    result = run("processing", "train", tmp_path)
    assert result.returncode != 0
    failure = job_reason(tmp_path)
    assert failure.count("\n") == 1 and f"'{target}'" in failure and "missing" in failure
    output = tmp_path / "processing" / "output"
    assert not output.exists() or not any(p for p in output.rglob("*") if p.is_file())


def test_empty_input_file_is_a_clear_failure(tmp_path):
    raw = tmp_path / "processing" / "input" / "raw"
    raw.mkdir(parents=True)
    (raw / "train.csv").write_text("")
    assert run("monitoring", "train", tmp_path).returncode != 0
    assert "is empty" in job_reason(tmp_path)


def test_no_input_file_is_a_clear_failure(tmp_path):
    (tmp_path / "processing" / "input" / "raw").mkdir(parents=True)
    assert run("processing", "train", tmp_path).returncode != 0
    assert "No CSV file found" in job_reason(tmp_path)


def test_processing_serve_with_missing_column_fails_without_partial_output(chain, tmp_path, sample, target):
    _, trained, _, _ = chain
    raw = tmp_path / "processing" / "input" / "raw"
    raw.mkdir(parents=True)
    dropped = next(c for c in sample.columns if c != target)
    sample.drop(columns=[target, dropped]).to_csv(raw / "batch.csv", index=False)
    artifacts = tmp_path / "processing" / "input" / "artifacts"
    artifacts.mkdir(parents=True)
    (artifacts / "schema.json").write_text((Path(trained["artifacts"]) / "schema.json").read_text())
    assert run("processing", "serve", tmp_path).returncode != 0
    assert f"'{dropped}'" in job_reason(tmp_path)
    assert not (tmp_path / "processing" / "output" / "processed" / "batch.csv").exists()


def test_processing_serve_keeps_files_of_the_same_name_in_different_folders_apart(chain, tmp_path, sample, target):
    _, trained, _, _ = chain
    raw = tmp_path / "processing" / "input" / "raw"
    for day, rows in (("2026-11-01", 5), ("2026-11-02", 7)):
        (raw / day).mkdir(parents=True)
        sample.drop(columns=[target]).head(rows).to_csv(raw / day / "part-0.csv", index=False)
    stage_input(Path(trained["artifacts"]), tmp_path / "processing" / "input" / "artifacts")
    assert run("processing", "serve", tmp_path).returncode == 0
    processed = tmp_path / "processing" / "output" / "processed"
    lengths = {p.parent.name: len(p.read_text().splitlines()) for p in processed.rglob("part-0.csv")}
    assert lengths == {"2026-11-01": 5, "2026-11-02": 7}


def test_non_string_hyperparameters_fail_training(chain, tmp_path):
    workdir, _, _, _ = chain
    source = workdir / "jobs" / "algorithm-train" / "input"
    subprocess.run(["cp", "-r", str(source), str(tmp_path / "input")], check=True)
    (tmp_path / "input" / "config" / "hyperparameters.json").write_text('{"max_iter": 10}')
    assert run("algorithm", "train", tmp_path).returncode != 0
    assert "not strings" in job_reason(tmp_path, "Training")
    assert not (tmp_path / "model").exists() or not any((tmp_path / "model").iterdir())


def test_local_mode_reads_a_failed_jobs_reason_where_sagemaker_reads_it_for_that_job(chain, tmp_path):
    """A Training job's reason is output/failure; read as a Processing job's (output/message), none is there."""
    workdir, _, _, _ = chain
    for job in ("Training", "Processing"):
        root = tmp_path / job
        shutil.copytree(workdir / "jobs" / "algorithm-train" / "input", root / "input")
        (root / "input" / "config" / "hyperparameters.json").write_text('{"max_iter": 10}')
        with pytest.raises(JobFailed) as failed:
            run_component("algorithm", "train", root, job=job)
        reason = str(failed.value)
        if job == "Training":
            assert reason.startswith("algorithm train: Hyperparameters ['max_iter']")
            assert "no reason in" not in reason
        else:
            assert "exit code 1, with no reason in /opt/ml/output/message; its log's last error: algorithm" in reason


def test_explainability_without_model_fails_clearly(tmp_path):
    (tmp_path / "processing" / "input" / "model").mkdir(parents=True)
    assert run("explainability", "serve", tmp_path).returncode != 0
    assert "model.tar.gz" in job_reason(tmp_path)


def test_unknown_mode_is_a_usage_error(tmp_path):
    result = run("processing", "fit", tmp_path)
    assert result.returncode == 2
    assert "train|serve" in result.stderr


def _run_shards(workdir, component, mode, files, shard_input, inputs, count):
    """A sharded job's instances, one OPT_ML_ROOT each: files dealt round-robin, as local mode does."""
    hosts = [f"algo-{i + 1}" for i in range(count)]
    roots = []
    for index, host in enumerate(hosts):
        root = _job(workdir, f"{component}-{mode}-{host}")
        (root / "config").mkdir(parents=True)
        (root / "config" / "resourceconfig.json").write_text(json.dumps({"current_host": host, "hosts": hosts}))
        (root / "processing" / "input" / shard_input).mkdir(parents=True)
        for path in files[index::count]:
            stage_input(path, root / "processing" / "input" / shard_input)
        for input_name, source in inputs.items():
            stage_input(Path(source), root / "processing" / "input" / input_name)
        run_component(component, mode, root, environment=pinned(root))
        roots.append(root)
    return roots


def _run_merge(workdir, component, roots, inputs):
    """The merge job over every instance's summary output; returns its report folder."""
    merge = _job(workdir, f"{component}-merge")
    for root in roots:
        stage_input(root / "processing" / "output" / "summary", merge / "processing" / "input" / "summaries")
    assert len(list((merge / "processing" / "input" / "summaries").glob("*.json"))) == len(roots)
    for input_name, source in inputs.items():
        stage_input(Path(source), merge / "processing" / "input" / input_name)
    run_component(component, "merge", merge, environment=pinned(merge))
    return merge / "processing" / "output" / "report"


def _split(source: Path, directory: Path, parts: int, header: bool) -> list[Path]:
    frame = pd.read_csv(source, header=0 if header else None)
    directory.mkdir(parents=True)
    paths = []
    for i in range(parts):
        path = directory / f"part-{i}.csv"
        frame.iloc[i::parts].to_csv(path, index=False, header=header)
        paths.append(path)
    return paths


def test_monitoring_shards_merge_to_exactly_the_single_pass_report(chain):
    workdir, trained, batch, _ = chain
    files = _split(batch, workdir / "monitoring-parts", 3, header=True)
    baseline = {"baseline": trained["baseline"]}
    # Four instances for three files: one instance gets nothing, and that is not an error.
    roots = _run_shards(workdir, "monitoring", "summarize", files, "raw", baseline, 4)
    merged = _run_merge(workdir, "monitoring", roots, baseline)
    single = workdir / "jobs" / "monitoring-serve" / "processing" / "output" / "report"
    for name in ("drift.json", "constraint_violations.json"):
        assert json.loads((merged / name).read_text()) == json.loads((single / name).read_text()), name
    # Counts, histograms and extremes are exact; sums and moments differ only in summation order.
    statistics = [_rounded(json.loads((d / "statistics.json").read_text())) for d in (merged, single)]
    assert statistics[0] == statistics[1]


def _rounded(value):
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def test_explainability_shards_merge_to_the_single_pass_analysis(chain):
    workdir, trained, _, result = chain
    processed = workdir / "jobs" / "processing-serve" / "processing" / "output" / "processed"
    files = _split(next(processed.glob("*.csv")), workdir / "explain-parts", 3, header=False)
    inputs = {"model": workdir / "model.tar.gz", "artifacts": trained["artifacts"]}
    roots = _run_shards(workdir, "explainability", "explain", files, "data", inputs, 2)
    report = _run_merge(workdir, "explainability", roots, {"artifacts": trained["artifacts"]})

    single = json.loads((Path(result["explanations"]).parents[1] / "analysis.json").read_text())
    merged = json.loads((report / "analysis.json").read_text())
    assert merged["n_rows"] == single["n_rows"] == result["rows"]
    for label, values in single["explanations"]["kernel_shap"].items():
        got = merged["explanations"]["kernel_shap"][label]
        assert got["global_shap_values"] == pytest.approx(values["global_shap_values"], rel=1e-9)
        assert list(got["global_shap_values"]) == list(values["global_shap_values"])  # same ranking
    assert (report / "summary.html").is_file()
    # Per-row values: each part's file holds its rows' values, row for row.
    expected = pd.read_csv(result["explanations"])
    for index, path in enumerate(files):
        owner = roots[index % 2] / "processing" / "output" / "explanations" / path.name
        pd.testing.assert_frame_equal(pd.read_csv(owner), expected.iloc[index::3].reset_index(drop=True))


def test_a_merge_without_shard_summaries_fails_clearly(tmp_path):
    (tmp_path / "processing" / "input" / "summaries").mkdir(parents=True)
    completed = run("monitoring", "merge", tmp_path)
    assert completed.returncode != 0
    failure = job_reason(tmp_path)
    assert "baseline not found" in failure or "No shard summary" in failure


def test_concurrent_mini_batches_come_back_in_input_order(chain, problem_type):
    workdir, _, batch, result = chain
    processed = workdir / "jobs" / "processing-serve" / "processing" / "output" / "processed" / batch.name
    output = workdir / "concurrent" / "out.csv"
    archive = workdir / "model.tar.gz"
    with model_server(archive, workdir / "jobs" / "transform-concurrent", environment=pinned_model(archive)) as base:
        # ~2 KB payloads: dozens of requests, three in flight at a time.
        rows = transform_file(
            base, processed, output, 2048, concurrency=3, data_processing=transform_data_processing(problem_type)
        )
    assert rows == result["rows"]
    assert output.read_bytes() == Path(result["predictions"]).read_bytes()


def test_explainability_on_two_workers_writes_byte_for_byte_what_one_writes(chain, tmp_path, config):
    workdir, _, _, _ = chain
    inputs = _job(workdir, "explainability-serve") / "processing" / "input"
    outputs = {}
    for workers in (1, 2):
        settings = copy.deepcopy(config)
        settings["explainability"].update(workers=workers, chunk_rows=100)  # 300 rows: three chunks
        config_file = tmp_path / f"project-{workers}.yaml"
        config_file.write_text(yaml.safe_dump(settings))
        root = tmp_path / f"workers-{workers}"
        shutil.copytree(inputs, root / "processing" / "input")
        run_component("explainability", "serve", root, environment=pinned(root) | {"PROJECT_CONFIG": str(config_file)})
        assert f"on {workers} worker(s)" in (root / "job.log").read_text()
        report = root / "processing" / "output" / "report"
        outputs[workers] = {
            name: (report / name).read_bytes() for name in ("explanations_shap/out.csv", "analysis.json")
        }
    assert outputs[1] == outputs[2]
    assert outputs[1]["explanations_shap/out.csv"].count(b"\n") == 301


def test_a_stop_during_pooled_explanations_fails_the_job_and_publishes_nothing(chain, tmp_path, config):
    import signal
    import time

    workdir, _, _, _ = chain
    inputs = _job(workdir, "explainability-serve") / "processing" / "input"
    root = tmp_path / "job"
    shutil.copytree(inputs, root / "processing" / "input")
    data = next((root / "processing" / "input" / "data").rglob("*.csv"))
    data.write_bytes(data.read_bytes() * 300)  # 90,000 rows: far longer than the stop takes to land
    settings = copy.deepcopy(config)
    settings["explainability"].update(workers=2, chunk_rows=1000)
    config_file = tmp_path / "project.yaml"
    config_file.write_text(yaml.safe_dump(settings))
    env = subprocess_env(root, PROJECT_CONFIG=str(config_file))
    process = subprocess.Popen([*entrypoint("explainability"), "serve"], env=env, stderr=subprocess.PIPE, text=True)
    staging = root / "processing" / "output" / "report" / ".partial" / "explanations_shap" / "out.csv"
    deadline = time.monotonic() + 120
    while not (staging.is_file() and staging.stat().st_size) and process.poll() is None:
        assert time.monotonic() < deadline, "the job never started writing explanations"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143, process.stderr.read()[-2000:]
    assert "stopped by signal SIGTERM" in job_reason(root)
    report = root / "processing" / "output" / "report"
    assert not [p for p in report.rglob("*") if p.is_file()], "a stopped job published output"


def test_monitoring_estimate_is_cbpe_on_the_published_predictions(chain, tmp_path, problem_type):
    import numpy as np

    from {{ cookiecutter.package_name }}.components.monitoring.estimate import estimate as cbpe

    workdir, _, _, result = chain
    root = tmp_path / "job"
    stage_input(Path(result["predictions"]), root / "processing" / "input" / "predictions")
    stage_input(workdir / "model.tar.gz", root / "processing" / "input" / "model")
    run_component("monitoring", "estimate", root, environment=pinned(root))
    written = json.loads((root / "processing" / "output" / "estimate" / "estimate.json").read_text())
    calibration = json.loads((workdir / "jobs" / "algorithm-train" / "model" / "calibration.json").read_text())
    if problem_type == "regression":
        assert written["estimated"] is False and "regression" in written["reason"]
        return
    assert written["estimated"] == calibration["estimable"]
    predictions = pd.read_csv(result["predictions"], header=None, dtype={0: "string", 1: "string"})
    classes = json.loads((workdir / "jobs" / "algorithm-train" / "model" / "schema.json").read_text())["classes"]
    predicted = predictions[1].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=int)
    expected = cbpe(problem_type, predicted, predictions[2].to_numpy(dtype=np.float64), calibration)
    assert written == json.loads(json.dumps(expected))
    assert written["rows"] == result["rows"]


def test_monitoring_estimate_of_a_model_without_calibration_says_to_retrain(chain, tmp_path):
    import tarfile

    workdir, _, _, result = chain
    root = tmp_path / "job"
    stage_input(Path(result["predictions"]), root / "processing" / "input" / "predictions")
    model = root / "processing" / "input" / "model"
    model.mkdir(parents=True)
    with tarfile.open(model / "model.tar.gz", "w:gz") as tar:  # a model trained before quality monitoring
        tar.add(workdir / "jobs" / "algorithm-train" / "model" / "schema.json", arcname="schema.json")
    completed = run("monitoring", "estimate", root)
    assert completed.returncode == 1
    assert "no calibration.json" in job_reason(root)
    assert not (root / "processing" / "output" / "estimate" / "estimate.json").exists()


def test_monitoring_quality_joins_the_labels_and_judges_them_against_trainings_constraints(
    chain, tmp_path, config, problem_type, target
):
    from {{ cookiecutter.package_name }} import model_metrics
    from {{ cookiecutter.package_name }}.components.monitoring.scored import PREDICTION_COLUMNS

    workdir, _, _, result = chain
    estimate = tmp_path / "estimate"
    stage_input(Path(result["predictions"]), estimate / "processing" / "input" / "predictions")
    stage_input(workdir / "model.tar.gz", estimate / "processing" / "input" / "model")
    scored_at = {"SCORED_AT": "2026-06-01T06:00:00Z", "RUN_ID": "run-1"}
    run_component("monitoring", "estimate", estimate, environment=scored_at | pinned(estimate))
    kept = estimate / "processing" / "output" / "scored"
    run = json.loads((kept / "run.json").read_text())
    assert run["run_id"] == "run-1" and run["scored_at"] == "2026-06-01T06:00:00+00:00" and run["rows"] == 300
    predictions = pd.read_csv(kept / "predictions.csv", dtype="string", keep_default_na=False)
    kind = "regression" if problem_type == "regression" else "classification"
    assert list(predictions.columns) == PREDICTION_COLUMNS[kind]

    # The batch's truth, sent as a team would: by inference id, 3 hours after scoring; one id never scored.
    truth = generate(300, target_column=target, problem_type=problem_type, seed=4)[target].astype(str)
    job = tmp_path / "quality"
    labels = job / "processing" / "input" / "labels" / "2026" / "06" / "01" / "09"
    labels.mkdir(parents=True)
    sent = pd.DataFrame({"inference_id": predictions["inference_id"], target: truth.to_numpy()})
    pd.concat([sent, pd.DataFrame({"inference_id": ["never-scored"], target: [truth.iloc[0]]})]).to_csv(
        labels / "labels.csv", index=False
    )
    stage_input(kept, job / "processing" / "input" / "predictions" / "run-1")
    stage_input(workdir / "model.tar.gz", job / "processing" / "input" / "model")
    window = {"QUALITY_START_OFFSET": "-P7D", "QUALITY_END_OFFSET": "-PT0H", "QUALITY_MIN_LABELLED_ROWS": "100"}
    window |= pinned(job)
    run_component("monitoring", "quality", job, environment=window | {"EVALUATION_TIME": "2026-06-02T00:00:00Z"})
    out = job / "processing" / "output" / "quality"
    statistics = json.loads((out / "statistics.json").read_text())
    summary = json.loads((out / "quality.json").read_text())
    constraints = json.loads((workdir / "jobs" / "algorithm-train" / "model" / "quality_constraints.json").read_text())

    schema = json.loads((workdir / "jobs" / "algorithm-train" / "model" / "schema.json").read_text())
    joined = predictions.assign(**{target: truth.to_numpy()})
    if problem_type == "regression":
        expected = model_metrics.Outcomes(
            problem_type, truth.astype(float).to_numpy(), predictions["prediction"].astype(float).to_numpy()
        )
    else:
        index = {c: i for i, c in enumerate(schema["classes"])}
        score = joined["probability"].astype(float).to_numpy() if problem_type == "binary_classification" else None
        expected = model_metrics.Outcomes(
            problem_type, truth.map(index).to_numpy(), joined["label"].map(index).to_numpy(), score, schema["classes"]
        )
    section = statistics[f"{problem_type}_metrics"]
    for name, value in model_metrics.metric_values(expected).items():
        assert section[name]["value"] == pytest.approx(value), name
    assert statistics["dataset"]["item_count"] == 300
    violations = json.loads((out / "constraint_violations.json").read_text())
    assert violations == {"violations": model_metrics.check_constraints(statistics, constraints)}
    assert summary["judged"] is True and summary["labelled_rows"] == 300 and summary["coverage"] == 1.0
    assert summary["violated"] is bool(violations["violations"])
    assert summary["join"]["labels_for_unknown_ids"] == 1
    assert summary["join"]["label_delay_hours"]["median"] == 3.0
    (judged_run,) = summary["runs"]
    assert judged_run["run_id"] == "run-1" and judged_run["labelled"] == 300
    html = (out / "report.html").read_text()
    for part in (["Residuals"] if problem_type == "regression" else ["Confusion matrix"]) + ["Over time"]:
        assert part in html, part
    if problem_type == "binary_classification":
        assert "Calibration" in html

    # Judged before the labels landed: nothing labelled, nothing judged, nothing violated.
    early = tmp_path / "early"
    shutil.copytree(job / "processing" / "input", early / "processing" / "input")
    run_component("monitoring", "quality", early, environment=window | {"EVALUATION_TIME": "2026-06-01T08:00:00Z"})
    summary = json.loads((early / "processing" / "output" / "quality" / "quality.json").read_text())
    assert summary["status"] == "insufficient labels" and summary["labelled_rows"] == 0
    assert summary["violated"] is False and summary["violations"] == []


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("QUALITY_START_OFFSET", "yesterday", "is not an offset like -P1D"),
        ("QUALITY_END_OFFSET", "-P30D", "must be earlier"),
        ("QUALITY_MIN_LABELLED_ROWS", "0", "at least 1"),
    ],
)
def test_monitoring_quality_refuses_a_bad_window_with_what_to_write(chain, tmp_path, variable, value, message):
    workdir, _, _, _ = chain
    root = tmp_path / "job"
    for name in ("predictions", "labels"):
        (root / "processing" / "input" / name).mkdir(parents=True)
    stage_input(workdir / "model.tar.gz", root / "processing" / "input" / "model")
    completed = subprocess.run(
        [*entrypoint("monitoring"), "quality"],
        env=subprocess_env(root, **{variable: value}),
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 1
    assert message in job_reason(root)
    assert not (root / "processing" / "output" / "quality" / "quality.json").exists()
