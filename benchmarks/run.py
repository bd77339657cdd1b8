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

    def component(self, component: str, mode: str, root: Path) -> Measured:
        env = {**self.env, "OPT_ML_ROOT": str(root)}
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
    data = bench.work / "e2e"
    train = bench.sample(rows, data / "train.csv", seed=11)
    infer = bench.sample(rows, data / "infer.csv", seed=12, target=False)
    workspace = data / "workspace"
    shutil.rmtree(workspace, ignore_errors=True)
    # The first run builds and caches both pipeline definitions (the SageMaker SDK's import).
    cold_train = bench.cli("local", "train", "--data", train, "--json", workspace=workspace)
    cold_infer = bench.cli("local", "infer", "--data", infer, "--json", workspace=workspace)
    local_runs, plain_runs = [], []
    for round_ in range(rounds):
        plain = measure(
            [bench.python, str(HERE / "plain_pipeline.py"), "--package", PACKAGE, "--train", str(train),
             "--infer", str(infer), "--out", str(data / f"plain-{round_}")],
            cwd=bench.project, env=bench.env,
        )  # fmt: skip
        trained = bench.cli("local", "train", "--data", train, "--json", workspace=workspace)
        inferred = bench.cli("local", "infer", "--data", infer, "--json", workspace=workspace)
        plain_runs.append(plain.seconds)
        local_runs.append(
            {
                "train_seconds": trained.seconds,
                "infer_seconds": inferred.seconds,
                "total": trained.seconds + inferred.seconds,
            }
        )
        outcome = inferred.last_json()
        if outcome["status"] != "Succeeded" or outcome["rows"] != rows:
            raise RuntimeError(f"local infer did not score every row: {outcome}")
        if outcome["retrain_triggered"]:  # a retrain would add a training run the plain script never does
            raise RuntimeError("the undrifted batch triggered a retrain; the comparison would not be like for like")
    local_total = statistics.median(r["total"] for r in local_runs)
    plain_total = statistics.median(plain_runs)
    return {
        "rows": rows,
        "rounds": rounds,
        "local_runs": local_runs,
        "plain_seconds": plain_runs,
        "local_seconds": local_total,
        "plain_median_seconds": plain_total,
        "overhead": local_total / plain_total,
        "cold_seconds": cold_train.seconds + cold_infer.seconds,
        "goal": "overhead <= 1.5x",
        "met": local_total / plain_total <= 1.5,
        "artifacts": trained.last_json()["artifacts"],
    }


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


def drift_detection(bench: Bench, sizes: list[int], reference_rows: int) -> dict[str, Any]:
    data = bench.work / "drift"
    data.mkdir(parents=True, exist_ok=True)
    reference = drift_data.write(data / "reference.csv", reference_rows, drifted=False, target="churn", seed=1)
    baseline = bench.component("monitoring", "train", sandbox(data / "baseline-job", {"raw": reference}))
    baseline_dir = data / "baseline-job" / "processing" / "output" / "baseline"
    features = drift_data.NUMERIC + drift_data.CATEGORICAL
    results = []
    for rows in sizes:
        current = drift_data.write(data / f"current-{rows}.csv", rows, drifted=True, target="churn", seed=2)
        root = sandbox(data / f"serve-{rows}", {"raw": current, "baseline": baseline_dir})
        ours = bench.component("monitoring", "serve", root)
        decision = json.loads((root / "processing" / "output" / "report" / "drift.json").read_text())
        try:
            theirs = measure(
                [str(bench.evidently_python), str(HERE / "evidently_drift.py"), "--reference", str(reference),
                 "--current", str(current)]
            )  # fmt: skip
            evidently: dict[str, Any] = {"seconds": theirs.seconds, "peak_mb": theirs.peak_mb} | theirs.last_json()
        except RuntimeError as exc:  # an out-of-memory kill is a result too
            evidently = {"failed": str(exc)[-600:]}
        row: dict[str, Any] = {
            "rows": rows,
            "features": len(features),
            "csv_mb": current.stat().st_size / 2**20,
            "ours": {
                "seconds": ours.seconds,
                "peak_mb": ours.peak_mb,
                "drift_detected": decision["drift_detected"],
                "drifted_features": decision["drifted_features"],
            },
            "evidently": {k: v for k, v in evidently.items() if k != "features"},
        }
        if "failed" not in evidently:
            row["speedup"] = evidently["seconds"] / ours.seconds
            row["speedup_vs_report_only"] = evidently["report_seconds"] / ours.seconds
            row["memory_ratio"] = evidently["peak_mb"] / ours.peak_mb
            row["agreement"] = _agreement(decision["drifted_features"], evidently["drifted_features"], features)
            row["agreement"]["dataset_decision_ours"] = decision["drift_detected"]
            row["agreement"]["dataset_decision_evidently"] = evidently["dataset_drift"]
        results.append(row)
        current.unlink()
    largest = results[-1]
    return {
        "reference_rows": reference_rows,
        "baseline_seconds": baseline.seconds,
        "truth": drift_data.DRIFTED,
        "sizes": results,
        "goal": ">= 10x faster than Evidently, peak memory <= 1 GB at the largest size",
        "met": all(r.get("speedup", 0) >= 10 for r in results) and largest["ours"]["peak_mb"] <= 1024,
    }


# --- bounded memory of the serve modes --------------------------------------------------


def serve_memory(bench: Bench, e2e: dict[str, Any], drift: dict[str, Any], small: int, factor: int) -> dict[str, Any]:
    """Peak memory of each serve mode at two sizes `factor` apart: flat means bounded."""
    artifacts = {key: Path(path) for key, path in e2e["artifacts"].items()}
    data = bench.work / "memory"

    def processed(n: int) -> tuple[Path, Measured]:
        raw = bench.sample(n, data / f"raw-{n}.csv", seed=21, target=False)
        root = sandbox(data / f"processing-{n}", {"raw": raw, "artifacts": artifacts["preprocessing"]})
        return root / "processing" / "output" / "processed", bench.component("processing", "serve", root)

    series: dict[str, list[dict[str, float]]] = {"processing": [], "explainability": []}
    for n in (small, small * factor):
        _, job = processed(n)
        series["processing"].append({"rows": n, "seconds": job.seconds, "peak_mb": job.peak_mb})
    for n in (small // 10, small * factor // 10):  # TreeSHAP is the slow one: a tenth of the rows
        directory, _ = processed(n)
        inputs = {"model": artifacts["model"], "artifacts": artifacts["preprocessing"], "data": directory}
        job = bench.component("explainability", "serve", sandbox(data / f"explainability-{n}", inputs))
        series["explainability"].append({"rows": n, "seconds": job.seconds, "peak_mb": job.peak_mb})
    series["monitoring"] = [
        {"rows": s["rows"], "seconds": s["ours"]["seconds"], "peak_mb": s["ours"]["peak_mb"]} for s in drift["sizes"]
    ]
    growth = {
        name: {
            "rows_ratio": rows[-1]["rows"] / rows[0]["rows"],
            "peak_memory_ratio": rows[-1]["peak_mb"] / rows[0]["peak_mb"],
        }
        for name, rows in series.items()
    }
    return {"series": series, "growth": growth}


# --- scoring ----------------------------------------------------------------------------


def _payloads(processed: Path, max_bytes: int) -> list[bytes]:
    """The file's lines as MultiRecord mini-batches of at most `max_bytes`, as Batch Transform sends them."""
    payloads, batch, size = [], [], 0
    with processed.open("rb") as source:
        for line in source:
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
    from customer_churn.local_jobs import model_server

    settings = load_config(bench.project / "config" / "project.yaml")["pipelines"]
    max_bytes = int(settings["max_payload_mb"]) * 1024 * 1024
    concurrency = int(settings["max_concurrent_transforms"])
    payloads = _payloads(processed, max_bytes)
    X = pd.read_csv(processed, header=None, dtype="float64").to_numpy()
    root = bench.work / "scoring"
    shutil.rmtree(root, ignore_errors=True)
    with tarfile.open(artifacts["model"]) as tar:
        tar.extractall(root / "in-process", filter="data")
    model = TrainedModel.load(root / "in-process")

    in_process, served = [], []
    with model_server(artifacts["model"], root / "server") as base:
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


def explanations(
    bench: Bench, artifacts: dict[str, Path], processed: Path, tree_rows: int, kernel_rows: int
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
    X = pd.read_csv(processed, header=None, dtype="float64").to_numpy()
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
    return {
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
    args = parser.parse_args()
    if args.render:
        results = json.loads((args.out / "results.json").read_text("utf-8"))
        (args.out / "BENCHMARKS.md").write_text(report.render(results), "utf-8")
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
    results["local_end_to_end"] = local_end_to_end(bench, 100_000 // scale, rounds=1 if args.quick else 3)
    print("drift detection", flush=True)
    results["drift"] = drift_detection(bench, [1_000_000 // scale, 10_000_000 // scale], 200_000 // scale)
    print("serve-mode memory", flush=True)
    results["serve_memory"] = serve_memory(bench, results["local_end_to_end"], results["drift"], 100_000 // scale, 10)
    artifacts = {key: Path(path) for key, path in results["local_end_to_end"]["artifacts"].items()}
    processed = next(
        (bench.work / "memory" / f"processing-{1_000_000 // scale}").glob("processing/output/processed/*.csv")
    )
    print("scoring", flush=True)
    results["scoring"] = scoring(bench, artifacts, processed, repeats=3)
    print("explanations", flush=True)
    results["explanations"] = explanations(bench, artifacts, processed, 5000 // scale, 50 // (5 if args.quick else 1))

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    (args.out / "BENCHMARKS.md").write_text(report.render(results), "utf-8")
    print(f"wrote {args.out / 'results.json'} and {args.out / 'BENCHMARKS.md'}")


if __name__ == "__main__":
    main()
