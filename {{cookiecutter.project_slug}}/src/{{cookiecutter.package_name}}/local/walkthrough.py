"""`make local`: both monitoring stories, end to end, on the sample data.

Data drift: train, then score a batch at every data-drift stage (the inputs move, the
relation to the target stays), land each batch's labels, and run the model-quality job.
Drift is detected and acted on, and quality holds. Concept drift, in a workspace of its own:
train, score batches at every concept-drift stage (the inputs stay, the relation moves), land
their labels: no data drift anywhere, and the model-quality job catches the drop.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from ..data_schema import ID_COLUMN
from ..sample_data import CONCEPT_STAGES, DRIFT_STAGES, generate
from .runs import land_labels, local_infer, local_quality, local_train
from .workspace import Workspace

PRIMARY = {"binary_classification": "auc", "multiclass_classification": "accuracy", "regression": "rmse"}


def labels_for(predictions: Path, truth: pd.Series, target: str) -> pd.DataFrame:
    """The labels file a team would send: each published prediction's inference id with the true target.

    The predictions keep the batch's row order, so row i of the batch is line i of the file.
    """
    files = sorted(predictions.rglob("*.out")) if predictions.is_dir() else [predictions]
    ids = pd.concat([pd.read_csv(f, header=None, usecols=[0], dtype="string")[0] for f in files], ignore_index=True)
    if len(ids) != len(truth):
        raise RuntimeError(f"{len(ids)} predictions for a batch of {len(truth)} rows")
    return pd.DataFrame({ID_COLUMN: ids, target: truth.to_numpy()})


def _features(names: list[str], shown: int = 3) -> str:
    if not names:
        return "-"
    return ", ".join(names[:shown]) + (f" +{len(names) - shown}" if len(names) > shown else "")


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "-"


def _story(
    name: str,
    batches: list[tuple[str, dict[str, int]]],
    config: dict[str, Any],
    env: str,
    workspace: Workspace,
    console: Console,
    rows: int,
    production_rows: int,
) -> dict[str, Any]:
    """Train, then score, label and judge each batch; one quality run over them all at the end."""
    data = workspace.root / "data"
    data.mkdir(parents=True)
    target, problem_type = config["data"]["target_column"], config["data"]["problem_type"]
    train_csv = data / "train.csv"
    generate(rows, target_column=target, problem_type=problem_type, seed=1).to_csv(train_csv, index=False)
    started = time.perf_counter()
    trained = local_train(train_csv, config, env, workspace, console.print)
    if trained["status"] != "Succeeded":
        raise RuntimeError(f"Training failed: {trained['failure']}")
    metrics = ", ".join(f"{k}={v:.3f}" for k, v in trained["metrics"].items())
    console.print(f"[bold]{name}: trained[/] model version {trained['manifest_version']} in "
                  f"{time.perf_counter() - started:.1f}s: {metrics}")  # fmt: skip
    runs = []
    for seed, (label, stages) in enumerate(batches, start=100):
        frame = generate(production_rows, target_column=target, problem_type=problem_type, seed=seed, **stages)
        batch = data / f"{label.replace(' ', '_')}.csv"
        frame.drop(columns=[target]).to_csv(batch, index=False)
        started = time.perf_counter()
        result = local_infer(batch, config, env, workspace, console.print)
        if result["status"] != "Succeeded":
            raise RuntimeError(f"Inference on {label} failed: {result['failure']}")
        truth = data / f"{batch.stem}_labels.csv"
        labels_for(Path(result["predictions"]), frame[target], target).to_csv(truth, index=False)
        land_labels(truth, config, env, workspace)
        runs.append({"batch": label, **result, "seconds": round(time.perf_counter() - started, 2)})
    quality = local_quality(config, env, workspace, console.print)
    if quality["status"] != "Succeeded":
        raise RuntimeError(f"The model-quality run failed: {quality.get('failure')}")
    primary = PRIMARY[problem_type]
    table = Table(title=f"{name} (drift_action: {config['inference']['drift_action']})")
    for column in ("batch", "model", "data drift", "drifted features", "retrain on drift",
                   f"estimated {primary}", f"realised {primary}"):  # fmt: skip
        table.add_column(column)
    by_run = {run["run_id"]: run for run in quality["runs"]}
    for run in runs:
        judged = by_run.get(run["run_id"], {})
        table.add_row(
            run["batch"],
            f"v{run['manifest_version']}",
            "yes" if run["drift"]["detected"] else "no",
            _features(run["drift"]["drifted_features"]),
            "yes" if run["retrain_triggered"] else "no",
            _fmt((judged.get("estimate") or {}).get(primary)),
            _fmt((judged.get("realised") or {}).get(primary)),
        )
    console.print(table)
    verdict = f"[red]violated[/] ({', '.join(quality['violations'])})" if quality["violations"] else "[green]holds[/]"
    console.print(
        f"Model quality over {quality['labelled_rows']} labelled rows: {verdict}; "
        f"retraining triggered: {'yes' if quality['retrain_triggered'] else 'no'}. Report: {quality['report']}"
    )
    return {"train": trained, "batches": runs, "quality": quality}


def walkthrough(
    config: dict[str, Any],
    env: str,
    workspace: Workspace,
    console: Console,
    rows: int = 5000,
    production_rows: int = 1000,
) -> dict[str, Any]:
    """A fresh workspace per story: data drift with quality holding, then concept drift caught by quality."""
    shutil.rmtree(workspace.root, ignore_errors=True)
    stories = {
        "data drift": [(f"drift stage {s}", {"drift_stage": s}) for s in DRIFT_STAGES],
        "concept drift": [(f"concept stage {s}", {"concept_stage": s}) for s in CONCEPT_STAGES],
    }
    summary = {}
    for name, batches in stories.items():
        story_workspace = Workspace(workspace.root / name.replace(" ", "-"))
        summary[name] = _story(name, batches, config, env, story_workspace, console, rows, production_rows)
    console.print(f"Runs and logs: {workspace.root}/*/runs")
    return summary
