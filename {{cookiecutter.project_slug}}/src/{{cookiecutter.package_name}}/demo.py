"""Run the four components in pipeline order on the sample data, and summarise the results.

Training: processing -> algorithm -> monitoring baseline and explainability.
Inference, per drift stage: processing -> transform -> monitoring and explainability.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .config import load_config
from .local_jobs import batch_transform, pack_model, run_component, stage_input
from .sample_data import DRIFT_STAGES, generate

console = Console(stderr=True)


def _hyperparameters(root: Path, values: dict[str, str]) -> None:
    path = root / "input" / "config" / "hyperparameters.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values), "utf-8")


def train(workdir: Path, train_csv: Path, config: dict[str, Any]) -> dict[str, Any]:
    jobs = workdir / "jobs"
    processing = jobs / "processing-train"
    stage_input(train_csv, processing / "processing" / "input" / "raw")
    run_component("processing", "train", processing)
    out = processing / "processing" / "output"

    algorithm = jobs / "algorithm-train"
    for channel in ("train", "validation", "artifacts"):
        stage_input(out / channel, algorithm / "input" / "data" / channel)
    _hyperparameters(algorithm, config["algorithm"]["hyperparameters"])
    run_component("algorithm", "train", algorithm)
    archive = pack_model(algorithm / "model", workdir / "artifacts" / "model.tar.gz")

    monitoring = jobs / "monitoring-train"
    stage_input(train_csv, monitoring / "processing" / "input" / "raw")
    run_component("monitoring", "train", monitoring)

    explainability = jobs / "explainability-train"
    stage_input(archive, explainability / "processing" / "input" / "model")
    stage_input(out / "validation", explainability / "processing" / "input" / "data")
    stage_input(out / "artifacts", explainability / "processing" / "input" / "artifacts")
    run_component("explainability", "train", explainability)

    evaluation = json.loads((algorithm / "model" / "evaluation.json").read_text("utf-8"))
    return {
        "metrics": {k: v["value"] for k, v in evaluation["metrics"].items()},
        "model": str(archive),
        "artifacts": str(out / "artifacts"),
        "baseline": str(monitoring / "processing" / "output" / "baseline"),
        "explainability": str(explainability / "processing" / "output" / "report"),
    }


def infer(workdir: Path, batch_csv: Path, trained: dict[str, Any]) -> dict[str, Any]:
    jobs = workdir / "jobs" / batch_csv.stem
    processing = jobs / "processing-serve"
    stage_input(batch_csv, processing / "processing" / "input" / "raw")
    stage_input(Path(trained["artifacts"]), processing / "processing" / "input" / "artifacts")
    run_component("processing", "serve", processing)
    processed = processing / "processing" / "output" / "processed" / batch_csv.name

    predictions = jobs / "transform" / "output" / f"{batch_csv.name}.out"
    rows = batch_transform(Path(trained["model"]), processed, predictions, jobs / "transform")

    monitoring = jobs / "monitoring-serve"
    stage_input(batch_csv, monitoring / "processing" / "input" / "raw")
    stage_input(Path(trained["baseline"]), monitoring / "processing" / "input" / "baseline")
    run_component("monitoring", "serve", monitoring)
    report = monitoring / "processing" / "output" / "report"

    explainability = jobs / "explainability-serve"
    stage_input(Path(trained["model"]), explainability / "processing" / "input" / "model")
    stage_input(processed, explainability / "processing" / "input" / "data")
    stage_input(Path(trained["artifacts"]), explainability / "processing" / "input" / "artifacts")
    run_component("explainability", "serve", explainability)

    drift = json.loads((report / "drift.json").read_text("utf-8"))
    return {
        "rows": rows,
        "predictions": str(predictions),
        "drift": {"detected": drift["drift_detected"], "drifted_features": drift["drifted_features"]},
        "report": str(report / "report.html"),
        "explanations": str(explainability / "processing" / "output" / "report" / "explanations_shap" / "out.csv"),
    }


def run_demo(workdir: Path, rows: int = 5000, production_rows: int = 1000) -> dict[str, Any]:
    """Train once on the sample, then run inference on every drift stage."""
    config = load_config()
    target, problem_type = config["data"]["target_column"], config["data"]["problem_type"]
    shutil.rmtree(workdir, ignore_errors=True)
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True)
    train_csv = data_dir / "train.csv"
    generate(rows, target_column=target, problem_type=problem_type, seed=1).to_csv(train_csv, index=False)

    started = time.perf_counter()
    with console.status("Training: processing, algorithm, monitoring baseline, explainability"):
        trained = train(workdir, train_csv, config)
    console.print(
        f"[bold]Trained[/] in {time.perf_counter() - started:.1f}s: "
        + ", ".join(f"{k}={v:.3f}" for k, v in trained["metrics"].items())
    )

    table = Table(title="Batch inference per drift stage")
    for column in ("stage", "rows", "drift", "drifted features", "seconds"):
        table.add_column(column)
    stages = []
    for stage in DRIFT_STAGES:
        batch = data_dir / f"stage_{stage}.csv"
        frame = generate(production_rows, target_column=target, problem_type=problem_type, seed=100, drift_stage=stage)
        frame.drop(columns=[target]).to_csv(batch, index=False)
        started = time.perf_counter()
        with console.status(f"Inference on drift stage {stage}"):
            result = infer(workdir, batch, trained)
        seconds = time.perf_counter() - started
        stages.append({"stage": stage, **result, "seconds": round(seconds, 2)})
        table.add_row(
            str(stage),
            str(result["rows"]),
            "yes" if result["drift"]["detected"] else "no",
            ", ".join(result["drift"]["drifted_features"]) or "-",
            f"{seconds:.1f}",
        )
    console.print(table)
    console.print(f"Outputs under {workdir}: model {trained['model']}, reports {stages[-1]['report']}")
    return {"train": trained, "stages": stages}
