"""`make bench`: side-by-side benchmarks of a freshly baked repository.

Writes benchmarks/results.json (every measurement) and benchmarks/BENCHMARKS.md (the tables).
Each figure is a ratio of two measurements taken in this one run, on this one machine, whose
details are recorded with them. Nothing here is a test: no time is asserted anywhere.

Run by `make bench` (the template's .venv, plus Evidently in its own venv because it needs
pandas<3). `--quick` shrinks every size about tenfold to try the harness in a few minutes;
its numbers are not the published ones.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parent
sys.path.insert(0, str(HERE))

import drift_data  # noqa: E402
import estimators  # noqa: E402
import images  # noqa: E402
import load  # noqa: E402
import report  # noqa: E402

PACKAGE = "customer_churn"  # the default bake's package name


@dataclass
class Measured:
    """One command: its wall time, the peak resident memory of its largest process, its output."""

    seconds: float
    peak_mb: float
    stdout: str
    floor_mb: float = 0.0  # what the launcher itself carried into the figure

    def last_json(self) -> dict[str, Any]:
        return json.loads(self.stdout.strip().splitlines()[-1])


LAUNCHER = HERE / "launcher.py"


def measure(command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> Measured:
    """Run `command` through the small launcher: its wall time, and the peak RSS of its largest process.

    The launcher, not this harness, is the job's parent: Linux carries a parent's high-water
    mark into a child's `ru_maxrss`, and this process holds hundreds of megabytes.
    """
    with (
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as err,
        tempfile.NamedTemporaryFile("r", suffix=".json") as report,
    ):
        launched = [sys.executable, "-S", "-I", str(LAUNCHER), report.name, *command]
        code = subprocess.run(launched, cwd=cwd, env=env, stdout=out, stderr=err, text=True, check=False).returncode
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
        measured = json.loads(Path(report.name).read_text() or "{}")
    if code != 0 or not measured:
        raise RuntimeError(f"{' '.join(command)} exited {code}:\n{stderr[-4000:]}{stdout[-2000:]}")
    return Measured(measured["seconds"], measured["maxrss_kb"] / 1024, stdout, measured["launcher_hwm_kb"] / 1024)


PINNED_FOLDERS = (("preprocessing", "artifacts"), ("baseline", "baseline"))


class Bench:
    """The baked repository and the interpreters the benchmarks run with."""

    def __init__(self, work: Path, evidently_python: Path, quick: bool) -> None:
        self.work = work
        self.python = sys.executable
        self.evidently_python = evidently_python
        self.quick = quick
        self.project = work / "bake" / "customer-churn"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.project / "src"), "PYTHONHASHSEED": "0"}

    def import_package(self) -> None:
        """Make the baked package importable in this process (scoring and SHAP run in-process)."""
        if str(self.project / "src") not in sys.path:
            sys.path.insert(0, str(self.project / "src"))

    def cli(self, *args: str | Path, workspace: Path) -> Measured:
        command = [self.python, "-m", PACKAGE, "--workspace", str(workspace), *map(str, args)]
        return measure(command, cwd=self.project, env=self.env)

    def pinned(self, root: Path) -> dict[str, str]:
        """ARTIFACT_DIGESTS of the artefacts staged under an OPT_ML_ROOT, as a pipeline passes the manifest's."""
        self.import_package()
        from customer_churn.registry.digests import DIGESTS_ENV, archive_contents_digest, file_sha256, folder_digest

        inputs = root / "processing" / "input"
        digests = {name: folder_digest(inputs / f) for name, f in PINNED_FOLDERS if (inputs / f).is_dir()}
        if (inputs / "model" / "model.tar.gz").exists():
            digests["model"] = file_sha256(inputs / "model" / "model.tar.gz")
            digests["model_contents"] = archive_contents_digest(inputs / "model" / "model.tar.gz")
        return {DIGESTS_ENV: json.dumps(digests)}

    def component(self, component: str, mode: str, root: Path) -> Measured:
        env = {**self.env, "OPT_ML_ROOT": str(root), **self.pinned(root)}
        return measure([self.python, "-m", f"{PACKAGE}.components.{component}", mode], cwd=self.project, env=env)

    def sample(self, rows: int, out: Path, *, stage: int = 0, seed: int = 0, target: bool = True) -> Path:
        flags = [] if target else ["--without-target"]
        args = ["sample", "--rows", rows, "--stage", stage, "--seed", seed, *flags, "--out", out]
        self.cli(*args, workspace=self.work / "unused")
        return out


def sandbox(root: Path, inputs: dict[str, Path]) -> Path:
    """An OPT_ML_ROOT whose processing inputs link to `inputs` (a file or a directory each)."""
    shutil.rmtree(root, ignore_errors=True)
    for name, source in inputs.items():
        target = root / "processing" / "input" / name
        target.mkdir(parents=True)
        sources = sorted(source.iterdir()) if source.is_dir() else [source]
        for path in sources:
            (target / path.name).symlink_to(path.resolve())
    return root


# --- time to first result ---------------------------------------------------------------


def time_to_first_result(bench: Bench) -> dict[str, Any]:
    bake_dir = bench.work / "bake"
    shutil.rmtree(bake_dir, ignore_errors=True)
    cookiecutter = Path(sys.executable).parent / "cookiecutter"
    bake = measure([str(cookiecutter), "--no-input", "--output-dir", str(bake_dir), str(TEMPLATE)])
    suite = measure(
        [bench.python, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider"], cwd=bench.project, env=bench.env
    )
    summary = suite.stdout.strip().splitlines()[-1]
    return {"bake_seconds": bake.seconds, "test_suite_seconds": suite.seconds, "test_suite_summary": summary}


# --- local end to end -------------------------------------------------------------------


def local_end_to_end(bench: Bench, rows: int, rounds: int) -> dict[str, Any]:
    """`local train` + `local infer` against the plain script, paired round by round.

    Each round runs the three side by side (the script in one process, the script with TreeSHAP on
    every core, then the pipelines), every other round in the opposite order, so that a machine
    that slows or speeds up during the run weighs on both sides alike. The overhead is the median
    of the rounds' own ratios.
    """
    data = bench.work / "e2e"
    train = bench.sample(rows, data / "train.csv", seed=11)
    infer = bench.sample(rows, data / "infer.csv", seed=12, target=False)
    workspace = data / "workspace"
    shutil.rmtree(workspace, ignore_errors=True)
    # The first run builds and caches both pipeline definitions (the SageMaker SDK's import).
    # Every training run runs every step (--no-cache): the script it is compared with caches nothing.
    cold_train = bench.cli("local", "train", "--data", train, "--no-cache", "--json", workspace=workspace)
    cold_infer = bench.cli("local", "infer", "--data", infer, "--json", workspace=workspace)
    local_runs, plain_runs, pooled_runs, pooled_phases = [], [], [], []

    def plain(round_: int, workers: int) -> Measured:
        return measure(
            [bench.python, str(HERE / "plain_pipeline.py"), "--package", PACKAGE, "--train", str(train),
             "--infer", str(infer), "--out", str(data / f"plain-{round_}-{workers}"), "--workers", str(workers)],
            cwd=bench.project, env=bench.env,
        )  # fmt: skip

    def pipelines() -> tuple[dict[str, Any], dict[str, str]]:
        trained = bench.cli("local", "train", "--data", train, "--no-cache", "--json", workspace=workspace)
        inferred = bench.cli("local", "infer", "--data", infer, "--json", workspace=workspace)
        outcome = inferred.last_json()
        if outcome["status"] != "Succeeded" or outcome["rows"] != rows:
            raise RuntimeError(f"local infer did not score every row: {outcome}")
        if outcome["retrain_triggered"]:  # a retrain would add a training run the plain script never does
            raise RuntimeError("the undrifted batch triggered a retrain; the comparison would not be like for like")
        return {
            "train_seconds": trained.seconds,
            "infer_seconds": inferred.seconds,
            "total": trained.seconds + inferred.seconds,
            "train_run": trained.last_json()["run_id"],
            "infer_run": outcome["run_id"],
        }, trained.last_json()["artifacts"]

    for round_ in range(rounds):
        order = ["one", "pooled", "local"] if round_ % 2 == 0 else ["local", "pooled", "one"]
        for what in order:
            if what == "local":
                run, artifacts = pipelines()
                local_runs.append(run)
            else:
                measured = plain(round_, 1 if what == "one" else 0)
                (plain_runs if what == "one" else pooled_runs).append(measured.seconds)
                if what == "pooled":
                    inside = measured.last_json()
                    pooled_phases.append(
                        {
                            "start_and_imports": measured.seconds - inside["train_seconds"] - inside["infer_seconds"],
                            "train": inside["train_seconds"],
                            "infer": inside["infer_seconds"],
                        }
                    )
    ratios = [run["total"] / pooled for run, pooled in zip(local_runs, pooled_runs, strict=True)]
    last = local_runs[-1]
    breakdown = end_to_end_breakdown(bench, workspace, last["train_run"], last["infer_run"])
    overhead = statistics.median(ratios)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "breakdown": breakdown,
        "rows": rows,
        "rounds": rounds,
        "local_runs": local_runs,
        "plain_seconds": plain_runs,
        "local_seconds": statistics.median(r["total"] for r in local_runs),
        "plain_median_seconds": statistics.median(plain_runs),
        "overhead": statistics.median(r["total"] / p for r, p in zip(local_runs, plain_runs, strict=True)),
        "pooled_seconds": pooled_runs,
        "pooled_phases": pooled_phases,
        "pooled_median_seconds": statistics.median(pooled_runs),
        "round_ratios": ratios,
        "overhead_vs_pooled": overhead,
        "cold_seconds": cold_train.seconds + cold_infer.seconds,
        "goal": "overhead <= 1.25x against the script with the same parallelism (median of paired rounds)",
        "met": overhead <= 1.25,
        "artifacts": artifacts,
    }


def step_caching(bench: Bench, rows: int) -> dict[str, Any]:
    """`local train` cold, warm (unchanged data: every job step cached) and after one hyperparameter change."""
    data = bench.work / "caching"
    shutil.rmtree(data, ignore_errors=True)
    train = bench.sample(rows, data / "train.csv", seed=21)
    workspace = data / "workspace"
    shutil.rmtree(workspace, ignore_errors=True)
    # One definitions cache for every run, built by a first run elsewhere: the SDK's import is not a step.
    env = {**bench.env, "PIPELINE_DEFINITIONS_CACHE": str(data / "definitions")}

    def train_once(target: Path) -> Measured:
        command = [bench.python, "-m", PACKAGE, "--workspace", str(target), "local", "train", "--data", str(train)]
        return measure([*command, "--json"], cwd=bench.project, env=env)

    train_once(data / "warm-up")
    config = bench.project / "config" / "project.yaml"
    original = config.read_text("utf-8")
    runs = {}
    try:
        for name in ("cold", "warm", "one_parameter"):
            if name == "one_parameter":  # L2 regularisation switched on, in the file a team edits
                changed = original.replace('l2_regularization: "0.0"', 'l2_regularization: "1.0"', 1)
                if changed == original:
                    raise RuntimeError('no l2_regularization: "0.0" in config/project.yaml to change')
                config.write_text(changed, "utf-8")
                train_once(data / "warm-up-changed")  # its definition, built elsewhere as for the others
            measured = train_once(workspace)
            outcome = measured.last_json()
            if outcome["status"] != "Succeeded":
                raise RuntimeError(f"local train {name} failed: {outcome}")
            runs[name] = {"seconds": measured.seconds, "steps": outcome["steps"]}
    finally:
        config.write_text(original, "utf-8")
    cold = runs["cold"]["seconds"]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "rows": rows,
        **runs,
        "warm_ratio": runs["warm"]["seconds"] / cold,
        "one_parameter_ratio": runs["one_parameter"]["seconds"] / cold,
        "goal": "a warm run in at most 20% of the cold run's time; one changed hyperparameter re-runs only "
        "Training and what depends on it (beside the data assembly and the gate, which are never cached)",
        "met": runs["warm"]["seconds"] <= 0.2 * cold
        and {k for k, v in runs["one_parameter"]["steps"].items() if v == "ran"}
        == {"TrainingData", "TrainingDataSnapshot", "Training", "Explainability", "Gate", "Register"},
    }


def end_to_end_breakdown(bench: Bench, workspace: Path, train_run: str, infer_run: str) -> dict[str, Any]:
    """Where the local run's time goes: each step's seconds, and what every job pays before its work."""
    steps = {}
    for kind, run in (("training", train_run), ("inference", infer_run)):
        record = json.loads((workspace / "runs" / f"customer-churn-dev-{kind}" / run / "execution.json").read_text())
        steps[kind] = {step["name"]: step["seconds"] for step in record["steps"]}
    start = measure([bench.python, "-c", "pass"]).seconds
    heavy = {
        "algorithm": f"; import {PACKAGE}.components.algorithm.model, waitress",
        "explainability": "; import shap",
        "monitoring": f"; import {PACKAGE}.components.monitoring.drift",
    }
    imports = {}
    for component in ("processing", "algorithm", "monitoring", "explainability"):
        code = f"import {PACKAGE}.components.{component}.__main__{heavy.get(component, '')}"
        imports[component] = measure([bench.python, "-c", code], cwd=bench.project, env=bench.env).seconds - start
    return {"steps": steps, "interpreter_start_seconds": start, "import_seconds": imports}


# --- drift detection --------------------------------------------------------------------


def _agreement(ours: list[str], theirs: list[str], features: list[str]) -> dict[str, Any]:
    same = [f for f in features if (f in ours) == (f in theirs)]
    truth = set(drift_data.DRIFTED)
    return {
        "features_agreeing": len(same),
        "features": len(features),
        "disagreements": sorted(set(features) - set(same)),
        "ours_matches_truth": set(ours) == truth,
        "evidently_matches_truth": set(theirs) == truth,
    }


def _phases(stdout: str) -> dict[str, float]:
    """The phase seconds monitoring serve prints: `monitoring serve: seconds check 0.3, ...`."""
    line = next(line for line in stdout.splitlines() if line.startswith("monitoring serve: seconds "))
    parts = [p.strip().rsplit(" ", 1) for p in line.removeprefix("monitoring serve: seconds ").split(",")]
    return {name: float(value) for name, value in parts}


def drift_detection(bench: Bench, rows: int, reference_rows: int) -> dict[str, Any]:
    """Monitoring serve against Evidently on one batch, and against the physical limit of reading it."""
    data = bench.work / "drift"
    data.mkdir(parents=True, exist_ok=True)
    reference = drift_data.write(data / "reference.csv", reference_rows, drifted=False, target="churn", seed=1)
    baseline = bench.component("monitoring", "train", sandbox(data / "baseline-job", {"raw": reference}))
    baseline_dir = data / "baseline-job" / "processing" / "output" / "baseline"
    features = drift_data.NUMERIC + drift_data.CATEGORICAL
    current = drift_data.write(data / f"current-{rows}.csv", rows, drifted=True, target="churn", seed=2)
    root = sandbox(data / f"serve-{rows}", {"raw": current, "baseline": baseline_dir})
    ours = bench.component("monitoring", "serve", root)
    decision = json.loads((root / "processing" / "output" / "report" / "drift.json").read_text())
    theirs = measure(
        [str(bench.evidently_python), str(HERE / "evidently_drift.py"), "--reference", str(reference),
         "--current", str(current)]
    )  # fmt: skip
    evidently: dict[str, Any] = {"seconds": theirs.seconds, "peak_mb": theirs.peak_mb} | theirs.last_json()
    # The physical limit: the same reader over the same file, plus one histogram pass, nothing else.
    limit = measure(
        [bench.python, str(HERE / "read_limit.py"), "--package", PACKAGE, "--csv", str(current), "--statistics",
         str(baseline_dir / "statistics.json")],
        cwd=bench.project, env=bench.env,
    )  # fmt: skip
    start = measure([bench.python, "-c", "pass"])
    modules = f"import {PACKAGE}.components.monitoring.__main__, {PACKAGE}.components.monitoring.drift"
    imports = measure([bench.python, "-c", modules], cwd=bench.project, env=bench.env)
    phases = _phases(ours.stdout)
    breakdown = {"interpreter start": start.seconds, "imports": imports.seconds - start.seconds, **phases}
    breakdown["other (baseline, staging, exit)"] = ours.seconds - sum(breakdown.values())
    agreement = _agreement(decision["drifted_features"], evidently["drifted_features"], features)
    agreement["dataset_decision_ours"] = decision["drift_detected"]
    agreement["dataset_decision_evidently"] = evidently["dataset_drift"]
    speedup = evidently["seconds"] / ours.seconds
    within = ours.seconds / limit.seconds
    return {
        "reference_rows": reference_rows,
        "baseline_seconds": baseline.seconds,
        "truth": drift_data.DRIFTED,
        "rows": rows,
        "features": len(features),
        "csv_mb": current.stat().st_size / 2**20,
        "csv": current,
        "ours": {
            "seconds": ours.seconds,
            "peak_mb": ours.peak_mb,
            "drift_detected": decision["drift_detected"],
            "drifted_features": decision["drifted_features"],
        },
        "evidently": {k: v for k, v in evidently.items() if k != "features"},
        "speedup": speedup,
        "speedup_vs_report_only": evidently["report_seconds"] / ours.seconds,
        "memory_ratio": evidently["peak_mb"] / ours.peak_mb,
        "agreement": agreement,
        "limit": {"seconds": limit.seconds, "peak_mb": limit.peak_mb, "within": within},
        "breakdown": breakdown,
        "goal": ">= 25x faster than Evidently with the same per-feature decisions; within 2x of the read limit",
        "met": speedup >= 25 and agreement["features_agreeing"] == len(features) and within <= 2,
        "baseline_dir": baseline_dir,
    }


# --- bounded memory of the serve modes --------------------------------------------------


def _head(source: Path, target: Path, rows: int, header: bool) -> Path:
    """The first `rows` rows of a CSV file (and its header, if it has one)."""
    with source.open("rb") as src, target.open("wb") as out:
        for number, line in enumerate(src):
            if number >= rows + header:
                break
            out.write(line)
    return target


def serve_memory(bench: Bench, artifacts: dict[str, Path], drift: dict[str, Any], sizes: list[int]) -> dict[str, Any]:
    """Peak memory of each serve mode at three sizes spanning 100x: flat means bounded.

    Explainability runs at a tenth of the rows (TreeSHAP is the slow one), so its sizes span 100x too.
    """
    data = bench.work / "memory"
    data.mkdir(parents=True, exist_ok=True)
    series: dict[str, list[dict[str, float]]] = {"processing": [], "monitoring": [], "explainability": []}
    largest = bench.sample(max(sizes), data / "raw-largest.csv", seed=21, target=False)
    processed_largest = None
    for n in sizes:
        raw = largest if n == max(sizes) else _head(largest, data / f"raw-{n}.csv", n, header=True)
        root = sandbox(data / f"processing-{n}", {"raw": raw, "artifacts": artifacts["preprocessing"]})
        job = bench.component("processing", "serve", root)
        series["processing"].append({"rows": n, "seconds": job.seconds, "peak_mb": job.peak_mb})
        if n == max(sizes):
            processed_largest = next((root / "processing" / "output" / "processed").glob("*.csv"))
    big_drift = drift_data.write(data / "drift-largest.csv", max(sizes), drifted=True, target="churn", seed=2)
    for n in sizes:
        raw = big_drift if n == max(sizes) else _head(big_drift, data / f"drift-{n}.csv", n, header=True)
        root = sandbox(data / f"monitoring-{n}", {"raw": raw, "baseline": Path(drift["baseline_dir"])})
        job = bench.component("monitoring", "serve", root)
        series["monitoring"].append({"rows": n, "seconds": job.seconds, "peak_mb": job.peak_mb})
    for n in (size // 10 for size in sizes):
        processed = _head(processed_largest, data / f"processed-{n}.csv", n, header=False)
        inputs = {"model": artifacts["model"], "artifacts": artifacts["preprocessing"], "data": processed}
        job = bench.component("explainability", "serve", sandbox(data / f"explainability-{n}", inputs))
        series["explainability"].append({"rows": n, "seconds": job.seconds, "peak_mb": job.peak_mb})
    growth = {
        name: {
            "rows_ratio": rows[-1]["rows"] / rows[0]["rows"],
            "peak_memory_ratio": max(r["peak_mb"] for r in rows) / rows[0]["peak_mb"],
        }
        for name, rows in series.items()
    }
    return {
        "series": series,
        "growth": growth,
        "goal": "every peak within 1.25x of the smallest size's peak",
        "met": all(g["peak_memory_ratio"] <= 1.25 for g in growth.values()),
        "processed": processed_largest,
    }


# --- scoring ----------------------------------------------------------------------------


def _features(processed: Path) -> np.ndarray:
    """Processed production rows without their inference id (the first field): what the model gets."""
    return pd.read_csv(processed, header=None, dtype={0: "string"}).iloc[:, 1:].to_numpy(dtype="float64")


def _payloads(processed: Path, max_bytes: int) -> list[bytes]:
    """The file's lines as MultiRecord mini-batches of at most `max_bytes`, as Batch Transform sends them.

    Each line loses its inference id first, as the Transform's InputFilter `$[1:]` does.
    """
    payloads, batch, size = [], [], 0
    with processed.open("rb") as source:
        for record in source:
            line = record.split(b",", 1)[1]
            if batch and size + len(line) > max_bytes:
                payloads.append(b"".join(batch))
                batch, size = [], 0
            batch.append(line)
            size += len(line)
    if batch:
        payloads.append(b"".join(batch))
    return payloads


def _post(base: str, payload: bytes) -> int:
    request = urllib.request.Request(f"{base}/invocations", data=payload, headers={"Content-Type": "text/csv"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return response.read().count(b"\n")


def scoring(bench: Bench, artifacts: dict[str, Path], processed: Path, repeats: int) -> dict[str, Any]:
    bench.import_package()
    from customer_churn.components.algorithm.model import TrainedModel, predict
    from customer_churn.config import load_config
    from customer_churn.local.transform import model_server

    settings = load_config(bench.project / "config" / "project.yaml")["pipelines"]
    max_bytes = int(settings["max_payload_mb"]) * 1024 * 1024
    concurrency = int(settings["max_concurrent_transforms"])
    payloads = _payloads(processed, max_bytes)
    X = _features(processed)
    root = bench.work / "scoring"
    shutil.rmtree(root, ignore_errors=True)
    with tarfile.open(artifacts["model"]) as tar:
        tar.extractall(root / "in-process", filter="data")
    model = TrainedModel.load(root / "in-process")

    in_process, served = [], []
    server = bench.pinned(sandbox(root / "pins", {"model": artifacts["model"]}))  # CreateModel's Environment
    with model_server(artifacts["model"], root / "server", environment=server) as base:
        _post(base, payloads[0])  # warm up
        for _ in range(repeats):
            started = time.perf_counter()
            predict(model, X)
            in_process.append(len(X) / (time.perf_counter() - started))
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
                answered = sum(pool.map(lambda p: _post(base, p), payloads))
            served.append(answered / (time.perf_counter() - started))
            if answered != len(X):
                raise RuntimeError(f"/invocations answered {answered} lines for {len(X)} rows")
    ratio = max(served) / max(in_process)
    return {
        "rows": len(X),
        "payloads": len(payloads),
        "max_payload_mb": settings["max_payload_mb"],
        "concurrent_requests": concurrency,
        "in_process_rows_per_second": max(in_process),
        "invocations_rows_per_second": max(served),
        "ratio": ratio,
        "goal": "/invocations throughput >= 50% of in-process predict",
        "met": ratio >= 0.5,
    }


# --- explanations -----------------------------------------------------------------------


def explainability_workers(
    bench: Bench, artifacts: dict[str, Path], processed: Path, rows: int, model: Any
) -> dict[str, Any]:
    """Explainability serve on 1 and on 2 worker processes, and shap's raw TreeExplainer in one process."""
    import shap
    import yaml

    root = bench.work / "explanations" / "workers"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    data = _head(processed, root / "processed.csv", rows, header=False)
    config = yaml.safe_load((bench.project / "config" / "project.yaml").read_text("utf-8"))
    seconds, outputs = {}, {}
    for workers in (1, 2):
        config["explainability"]["workers"] = workers
        config_file = root / f"project-{workers}.yaml"
        config_file.write_text(yaml.safe_dump(config), "utf-8")
        inputs = {"model": artifacts["model"], "artifacts": artifacts["preprocessing"], "data": data}
        job_root = sandbox(root / f"job-{workers}", inputs)
        env = {**bench.env, "OPT_ML_ROOT": str(job_root), "PROJECT_CONFIG": str(config_file), **bench.pinned(job_root)}
        command = [bench.python, "-m", f"{PACKAGE}.components.explainability", "serve"]
        seconds[workers] = measure(command, cwd=bench.project, env=env).seconds
        outputs[workers] = (job_root / "processing/output/report/explanations_shap/out.csv").read_bytes()
    X = _features(data)
    started = time.perf_counter()
    shap.TreeExplainer(model.estimator, feature_perturbation="tree_path_dependent").shap_values(X)
    raw_seconds = time.perf_counter() - started
    scaling = seconds[1] / seconds[2]
    return {
        "rows": len(X),
        "cores": os.cpu_count(),
        "rows_per_second": {str(w): len(X) / s for w, s in seconds.items()},
        "scaling_1_to_2": scaling,
        "identical_output": outputs[1] == outputs[2],
        "shap_raw_rows_per_second": len(X) / raw_seconds,
        "goal": "rows per second grow >= 1.7x from 1 to 2 workers, byte-identical output",
        "met": scaling >= 1.7 and outputs[1] == outputs[2],
    }


def explanations(
    bench: Bench, artifacts: dict[str, Path], processed: Path, tree_rows: int, kernel_rows: int, workers_rows: int
) -> dict[str, Any]:
    import shap

    bench.import_package()
    from customer_churn.components.algorithm.model import TrainedModel
    from customer_churn.components.explainability.shap_values import explain

    root = bench.work / "explanations"
    shutil.rmtree(root, ignore_errors=True)
    with tarfile.open(artifacts["model"]) as tar:
        tar.extractall(root, filter="data")
    model = TrainedModel.load(root)
    X = _features(processed)
    rows = X[:tree_rows]

    started = time.perf_counter()
    tree = explain(model, rows)
    tree_per_row = (time.perf_counter() - started) / len(rows)
    exact = next(iter(tree.values.values()))

    # Clarify's method: KernelSHAP against a k-means summary of the data, on the same model output.
    background = shap.kmeans(X[-2000:], 10)
    kernel_explainer = shap.KernelExplainer(model.estimator.decision_function, background)
    sample = rows[:kernel_rows]
    started = time.perf_counter()
    approximate = np.asarray(kernel_explainer.shap_values(sample, nsamples="auto", silent=True))
    kernel_per_row = (time.perf_counter() - started) / len(sample)
    scale = float(np.abs(exact[:kernel_rows]).mean())
    error = float(np.abs(approximate - exact[:kernel_rows]).mean())
    workers = explainability_workers(bench, artifacts, processed, workers_rows, model)
    return {
        "workers": workers,
        "model_output": "decision_function (log-odds), which TreeSHAP explains",
        "tree_rows": len(rows),
        "kernel_rows": len(sample),
        "kernel_background": "shap.kmeans(data, 10)",
        "tree_ms_per_row": tree_per_row * 1000,
        "kernel_ms_per_row": kernel_per_row * 1000,
        "speedup": kernel_per_row / tree_per_row,
        "kernel_mean_abs_error_vs_exact": error,
        "kernel_relative_error": error / scale if scale else None,
    }


# --- machine ----------------------------------------------------------------------------


def machine(bench: Bench) -> dict[str, Any]:
    cpu = "unknown"
    if Path("/proc/cpuinfo").is_file():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = {name: metadata.version(name) for name in ("numpy", "pandas", "scikit-learn", "shap", "sagemaker")}
    probe = "import evidently, pandas; print(evidently.__version__, pandas.__version__)"
    evidently = subprocess.run(
        [str(bench.evidently_python), "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_gb, 1),
        "python": platform.python_version(),
        "packages": versions | {"evidently": evidently[0], "pandas (Evidently's venv)": evidently[1]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evidently-python", type=Path, help="Evidently's venv interpreter (needed unless --render)")
    parser.add_argument("--work", type=Path, default=TEMPLATE / ".local" / "bench")
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--quick", action="store_true", help="about a tenth of every size; not for publishing")
    parser.add_argument("--render", action="store_true", help="only rewrite BENCHMARKS.md from results.json")
    parser.add_argument("--images", action="store_true", help="only the image benchmarks, merged into results.json")
    parser.add_argument("--base-image", default="localhost/standin/python:3.11-slim", help="BASE_IMAGE for --images")
    parser.add_argument("--ca-bundle", default="", help="extra CA bundle for pip in the image build (--images)")
    parser.add_argument("--load", action="store_true", help="only the model server load figure, merged in")
    parser.add_argument("--caching", action="store_true", help="only the step-caching figures, merged in")
    parser.add_argument("--end-to-end", action="store_true", help="only the local end-to-end figures, merged in")
    parser.add_argument(
        "--estimators", action="store_true", help="only the built-in estimators side by side, merged in"
    )
    args = parser.parse_args()
    if args.render:
        results = json.loads((args.out / "results.json").read_text("utf-8"))
        (args.out / "BENCHMARKS.md").write_text(report.render(results), "utf-8")
        return
    if args.caching or args.end_to_end:
        args.work.mkdir(parents=True, exist_ok=True)
        path = args.out / "results.json"
        results = json.loads(path.read_text("utf-8"))
        bench = Bench(args.work, Path(sys.executable), args.quick)
        shutil.rmtree(args.work / "bake", ignore_errors=True)  # this checkout's code, never an older bake
        cookiecutter = Path(sys.executable).parent / "cookiecutter"
        measure([str(cookiecutter), "--no-input", "--output-dir", str(args.work / "bake"), str(TEMPLATE)])
        rows = 10_000 if args.quick else 100_000
        if args.caching:
            results["step_caching"] = part = step_caching(bench, rows)
        else:
            part = local_end_to_end(bench, rows, rounds=1 if args.quick else 5)
            part.pop("artifacts")
            results["local_end_to_end"] = part
        path.write_text(json.dumps(results, indent=2, default=str) + "\n", "utf-8")
        (args.out / "BENCHMARKS.md").write_text(report.render(results), "utf-8")
        print(json.dumps(part, indent=2))
        return
    if args.estimators:
        args.work.mkdir(parents=True, exist_ok=True)
        path = args.out / "results.json"
        results = json.loads(path.read_text("utf-8"))
        shutil.rmtree(args.work / "bake", ignore_errors=True)  # this checkout's code, never an older bake
        cookiecutter = Path(sys.executable).parent / "cookiecutter"
        measure([str(cookiecutter), "--no-input", "--output-dir", str(args.work / "bake"), str(TEMPLATE)])
        results["estimators"] = part = estimators.benchmark(
            args.work / "bake" / "customer-churn", 5_000 if args.quick else 50_000
        )
        path.write_text(json.dumps(results, indent=2, default=str) + "\n", "utf-8")
        (args.out / "BENCHMARKS.md").write_text(report.render(results), "utf-8")
        print(json.dumps(part, indent=2))
        return
    if args.images or args.load:
        args.work.mkdir(parents=True, exist_ok=True)
        path = args.out / "results.json"
        results = json.loads(path.read_text("utf-8")) if path.is_file() else {}
        if args.images:
            rows, rounds = (2_000, 1) if args.quick else (20_000, 3)
            part = images.image_benchmarks(args.work, TEMPLATE, args.base_image, args.ca_bundle, rows, rounds)
            results["images"] = part
        else:
            results["load"] = part = load.load_benchmark(args.work, TEMPLATE, 1_000 if args.quick else 10_000, 32, 10)
        path.write_text(json.dumps(results, indent=2) + "\n", "utf-8")
        if "machine" in results:
            (args.out / "BENCHMARKS.md").write_text(report.render(results), "utf-8")
        print(json.dumps(part, indent=2))
        return

    if args.evidently_python is None:
        parser.error("--evidently-python is required to run the benchmarks")
    args.work.mkdir(parents=True, exist_ok=True)
    bench = Bench(args.work, args.evidently_python, args.quick)
    scale = 10 if args.quick else 1
    results: dict[str, Any] = {"quick": args.quick, "machine": machine(bench)}
    print("time to first result: bake and the generated test suite", flush=True)
    results["time_to_first_result"] = time_to_first_result(bench)
    print("local end to end", flush=True)
    results["local_end_to_end"] = local_end_to_end(bench, 100_000 // scale, rounds=1 if args.quick else 5)
    print("step caching", flush=True)
    results["step_caching"] = step_caching(bench, 100_000 // scale)
    print("drift detection", flush=True)
    results["drift"] = drift_detection(bench, 1_000_000 // scale, 200_000 // scale)
    artifacts = {key: Path(path) for key, path in results["local_end_to_end"].pop("artifacts").items()}
    print("serve-mode memory", flush=True)
    sizes = [100_000 // scale, 1_000_000 // scale, 10_000_000 // scale]
    results["serve_memory"] = serve_memory(bench, artifacts, results["drift"], sizes)
    processed = _head(
        results["serve_memory"].pop("processed"), bench.work / "processed-1m.csv", 1_000_000 // scale, header=False
    )
    print("scoring", flush=True)
    results["scoring"] = scoring(bench, artifacts, processed, repeats=3)
    print("explanations", flush=True)
    results["explanations"] = explanations(
        bench, artifacts, processed, 5000 // scale, 50 // (5 if args.quick else 1), 200_000 // scale
    )
    for key in ("csv", "baseline_dir"):  # paths on this machine: not results
        results["drift"].pop(key)

    previous = args.out / "results.json"
    if previous.is_file():  # the image and load figures come from their own runs: keep them
        kept = json.loads(previous.read_text("utf-8"))
        results |= {key: kept[key] for key in ("images", "load") if key in kept}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n", "utf-8")
    (args.out / "BENCHMARKS.md").write_text(report.render(results), "utf-8")
    print(f"wrote {args.out / 'results.json'} and {args.out / 'BENCHMARKS.md'}")


if __name__ == "__main__":
    main()
