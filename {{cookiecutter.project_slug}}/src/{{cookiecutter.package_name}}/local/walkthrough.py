"""`make local`: train on the sample, then run batch inference on every drift stage."""

from __future__ import annotations

import shutil
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from ..sample_data import DRIFT_STAGES, generate
from .runs import local_infer, local_train
from .workspace import Workspace


def walkthrough(
    config: dict[str, Any],
    env: str,
    workspace: Workspace,
    console: Console,
    rows: int = 5000,
    production_rows: int = 1000,
) -> dict[str, Any]:
    """A fresh workspace, one training run, then inference per drift stage (retraining on drift)."""
    shutil.rmtree(workspace.root, ignore_errors=True)
    data = workspace.root / "data"
    data.mkdir(parents=True)
    target, problem_type = config["data"]["target_column"], config["data"]["problem_type"]
    train_csv = data / "train.csv"
    generate(rows, target_column=target, problem_type=problem_type, seed=1).to_csv(train_csv, index=False)

    def progress(line: str) -> None:
        console.print(line)

    started = time.perf_counter()
    trained = local_train(train_csv, config, env, workspace, progress)
    if trained["status"] != "Succeeded":
        raise RuntimeError(f"Training failed: {trained['failure']}")
    metrics = ", ".join(f"{k}={v:.3f}" for k, v in trained["metrics"].items())
    seconds = time.perf_counter() - started
    console.print(f"[bold]Trained[/] model version {trained['manifest_version']} in {seconds:.1f}s: {metrics}")

    table = Table(title=f"Batch inference per drift stage (drift_action: {config['inference']['drift_action']})")
    for column in ("stage", "rows", "model", "drift", "drifted features", "retrain triggered", "seconds"):
        table.add_column(column)
    stages = []
    for stage in DRIFT_STAGES:
        batch = data / f"stage_{stage}.csv"
        frame = generate(production_rows, target_column=target, problem_type=problem_type, seed=100, drift_stage=stage)
        frame.drop(columns=[target]).to_csv(batch, index=False)
        started = time.perf_counter()
        result = local_infer(batch, config, env, workspace, progress)
        if result["status"] != "Succeeded":
            raise RuntimeError(f"Inference on stage {stage} failed: {result['failure']}")
        seconds = time.perf_counter() - started
        stages.append({"stage": stage, **result, "seconds": round(seconds, 2)})
        table.add_row(
            str(stage),
            str(result["rows"]),
            f"v{result['manifest_version']}",
            "yes" if result["drift"]["detected"] else "no",
            ", ".join(result["drift"]["drifted_features"]) or "-",
            "yes" if result["retrain_triggered"] else "no",
            f"{seconds:.1f}",
        )
    console.print(table)
    console.print(f"Reports: {stages[-1]['report']}\nRuns and logs: {workspace.root / 'runs'}")
    return {"train": trained, "stages": stages}
