"""The demo (`make demo`): both monitoring stories, day by day on the sample data, and the loop that learns from them.

Each story replays days in a workspace of its own; the executions' clock says which day it is.
On day 0 a model is trained and promoted. On every later day the labels of the day before
land (05:00), that day's batch is scored (06:00), and the model-quality pipeline judges the
window (07:00). A retrain, started by drift or by a quality drop, learns from the labelled
rows that have landed, and the champion-challenger gate decides whether its model serves.

- Data drift: the inputs move (stages 0-5), the relation to the target holds. Drift is found
  every day; each retrain keeps the serving model's rows and adds the labelled drifted ones,
  and the gate keeps the champion unless the challenger is better on the newest of them.
- Concept drift: the inputs stay, the relation moves (stages 1-3) and stays moved. No data
  drift anywhere; the model-quality pipeline finds the drop and retrains on the window alone
  (a quality drop ages out the older rows), the gate promotes the challenger, and realised
  quality on the next days recovers.
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from ..data_schema import ID_COLUMN
from ..model_metrics import PRIMARY
from ..pipelines.layout import package_group
from ..registry.manifest import ModelRegistry, manifest_parameter
from ..registry.packages import PackageMirror, group_of
from ..sample_data import generate
from .commands import land_labels, local_infer, local_quality, local_train
from .executor import STEP_LINES
from .model_packages import workspace_packages
from .workspace import Workspace

LABELS_AT, SCORED_AT, JUDGED_AT = timedelta(hours=5), timedelta(hours=6), timedelta(hours=7)
STORIES = {
    "data drift": [(f"stage {s}", {"drift_stage": s}) for s in (0, 1, 2, 3, 4, 5, 5)],
    "concept drift": [(f"stage {s}", {"concept_stage": s}) for s in (0, 1, 2, 3, 3, 3, 3, 3)],
}
# Step-by-step lines of every execution: the story prints one line a day instead.
STEP_MARKS = (*STEP_LINES, "[bold]")  # and each execution's first line
ALERT = "  [yellow]ALERT[/]"
# Why a retrain's model stayed a candidate, in a table cell (the manifest and `registry history` say it whole).
CANDIDATE_REASONS = {
    "a tie keeps the champion": "a tie",
    "the champion is better beyond noise": "worse than the champion",
    "does not beat the best constant": "no better than a constant",
    "beyond the tolerance": "worse on validation",
    "promotion is manual": "manual",
    "serves now": "champion changed",
}


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


def _retrain(outcome: dict[str, Any] | None) -> str:
    """A retrain step's outcome in a few words: the version it made and its fate, or why none started."""
    if not outcome:
        return "-"
    if outcome["started"]:
        decision = outcome["decision"]
        if decision.startswith("equal to"):
            return f"= v{outcome['version']}"
        if outcome["promoted"]:
            return f"v{outcome['version']} promoted"
        why = next((short for phrase, short in CANDIDATE_REASONS.items() if phrase in decision), "")
        return f"v{outcome['version']} candidate{f' ({why})' if why else ''}"
    reason = outcome["reason"]
    if reason == "cooling down":
        return "cooling down"
    if "labelled row(s) arrived" in reason:
        return f"waits: {reason.split(' labelled', 1)[0]} new labels"
    return "not started"


def _gate_record(workspace: Workspace, config: dict[str, Any], env: str, retrain: dict[str, Any] | None) -> dict:
    """The gate's verdict on the version a retrain registered, from its manifest ({} when none)."""
    if not (retrain or {}).get("version"):
        return {}
    registry = ModelRegistry(workspace.store, manifest_parameter(config, env))
    return registry.get(version=retrain["version"]).manifest.get("gate") or {}


def _gate(record: dict[str, Any]) -> str:
    """The challenger's difference from the champion on the deciding rows, with its 95% interval."""
    if record.get("difference") is None:
        return "-"
    low, high = record["interval"] or (float("nan"), float("nan"))
    return f"{record['difference']:+.3f} [{low:+.3f}, {high:+.3f}]"


def _quiet(console: Console) -> Any:
    """Progress for the story: alerts (their subjects: the day's line says the rest), events, retries and
    failures; not every step of every execution."""

    def show(line: str) -> None:
        if line.startswith(ALERT):
            console.print(line.split(": ", 1)[0])
        elif not line.startswith(STEP_MARKS):
            console.print(line)

    return show


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
    """Day 0: train. Each day after: yesterday's labels land, today's batch is scored, quality is judged."""
    data = workspace.root / "data"
    data.mkdir(parents=True)
    target, problem_type = config["data"]["target_column"], config["data"]["problem_type"]
    primary = PRIMARY[problem_type]
    progress = _quiet(console)
    first_day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=len(batches) + 1)
    train_csv = data / "train.csv"
    generate(rows, target_column=target, problem_type=problem_type, seed=1).to_csv(train_csv, index=False)
    started = time.perf_counter()
    trained = local_train(train_csv, config, env, workspace, progress, now=first_day + timedelta(hours=12))
    if trained["status"] != "Succeeded":
        raise RuntimeError(f"Training failed: {trained['failure']}")
    console.print(
        f"[bold]{name}[/], day 0: model v{trained['manifest_version']} trained in "
        f"{time.perf_counter() - started:.1f}s and {trained['decision'].split(':', 1)[0]}: "
        + ", ".join(f"{k}={v:.3f}" for k, v in trained["metrics"].items())
    )
    days, pending = [], None
    for number, (label, stages) in enumerate(batches, start=1):
        today = first_day + timedelta(days=number)
        if pending is not None:
            land_labels(pending, config, env, workspace, now=today + LABELS_AT)
        frame = generate(production_rows, target_column=target, problem_type=problem_type, seed=100 + number, **stages)
        batch = data / f"day{number}-{label.replace(' ', '_')}.csv"
        frame.drop(columns=[target]).to_csv(batch, index=False)
        result = local_infer(batch, config, env, workspace, progress, now=today + SCORED_AT)
        if result["status"] != "Succeeded":
            raise RuntimeError(f"Inference on {label} failed: {result['failure']}")
        pending = data / f"{batch.stem}_labels.csv"
        labels_for(Path(result["predictions"]), frame[target], target).to_csv(pending, index=False)
        judged = local_quality(config, env, workspace, progress, now=today + JUDGED_AT)
        if judged["status"] != "Succeeded":
            raise RuntimeError(f"The model-quality run of day {number} failed: {judged.get('failure')}")
        retrain = (
            result["retrain"] if (result["retrain"] or {}).get("started") else judged["retrain"] or result["retrain"]
        )
        gate = _gate_record(workspace, config, env, retrain)
        days.append(
            {"day": number, "batch": label, "inference": result, "quality": judged, "retrain": retrain, "gate": gate}
        )
        verdict = "violated" if judged["violations"] else ("holds" if judged["judged"] else "not judged")
        console.print(
            f"  day {number}: {label} scored by v{result['manifest_version']}; "
            f"{'drift' if result['drift']['detected'] else 'no drift'}; quality {verdict}; retrain: {_retrain(retrain)}"
        )
    last = first_day + timedelta(days=len(batches) + 1)
    land_labels(pending, config, env, workspace, now=last + LABELS_AT)
    whole = {"StartOffset": f"-P{len(batches) + 1}D"}
    final = local_quality(config, env, workspace, progress, parameters=whole, now=last + JUDGED_AT)
    if final["status"] != "Succeeded":
        raise RuntimeError(f"The last model-quality run failed: {final.get('failure')}")
    _table(name, config, primary, days, final, console)
    packages = _packages(workspace, config, env)
    console.print(
        f"Model registry {group_of(package_group(config, env))}: "
        + ", ".join(f"v{v} {package.shown}" for v, package in sorted(packages.items()))
    )
    return {"train": trained, "days": days, "quality": final, "packages": packages}


def _packages(workspace: Workspace, config: dict[str, Any], env: str) -> dict[int, Any]:
    """The story's model packages, as Studio would list them: each version's approval and stage."""
    registry = ModelRegistry(workspace.store, manifest_parameter(config, env))
    packages = workspace_packages(workspace, config, env, notify=lambda subject, message: None)
    return PackageMirror(packages, registry, package_group(config, env), "", env).packages()


def _table(
    name: str, config: dict[str, Any], primary: str, days: list[dict[str, Any]], final: dict[str, Any], console: Console
) -> None:
    table = Table(title=f"{name} (drift_action: {config['inference']['drift_action']})")
    for column in ("day", "batch", "model", "data drift", "quality", "retrain", f"gate: {primary} vs champion",
                   f"estimated {primary}", f"realised {primary}"):  # fmt: skip
        table.add_column(column)
    by_run = {run["run_id"]: run for run in final["runs"]}
    for day in days:
        result, judged = day["inference"], day["quality"]
        realised = by_run.get(result["run_id"], {})
        drift = result["drift"]
        table.add_row(
            str(day["day"]),
            day["batch"],
            f"v{result['manifest_version']}",
            _features(drift["drifted_features"]) if drift["detected"] else "no",
            "violated" if judged["violations"] else ("holds" if judged["judged"] else "-"),
            _retrain(day["retrain"]),
            _gate(day["gate"]),
            _fmt((realised.get("estimate") or {}).get(primary)),
            _fmt((realised.get("realised") or {}).get(primary)),
        )
    console.print(table)


def run_demo(
    config: dict[str, Any],
    env: str,
    workspace: Workspace,
    console: Console,
    rows: int = 5000,
    production_rows: int = 1000,
) -> dict[str, Any]:
    """A fresh workspace per story: data drift, then concept drift."""
    shutil.rmtree(workspace.root, ignore_errors=True)
    summary = {}
    for name, batches in STORIES.items():
        story_workspace = Workspace(workspace.root / name.replace(" ", "-"))
        summary[name] = _story(name, batches, config, env, story_workspace, console, rows, production_rows)
    console.print(f"Runs and logs: {workspace.root}/*/runs")
    return summary
