"""`local train` and `local infer`: run a pipeline's definition on a CSV, summarise the outcome."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import channels
from ..config import check_window
from ..container import safe_extract
from ..pipelines import layout, names
from ..pipelines.definition import cached_definition
from ..registry.manifest import ModelRegistry, manifest_parameter
from .executor import Execution, LocalExecutor
from .runtimes import VENV, ContainerRuntime
from .workspace import Workspace, WorkspaceObjects


def _executor(
    workspace: Workspace,
    config: dict[str, Any],
    env: str,
    progress: Callable[[str], None],
    containers: bool = False,
    caching: bool = True,
    now: datetime | None = None,
) -> LocalExecutor:
    """`containers` runs every job in its component's image (built by `make images`) instead of this venv;
    `now` fixes the executions' clock (start times, label windows, the cooling period), as a story replays days."""
    runtime = ContainerRuntime(config) if containers else VENV
    executor = LocalExecutor(workspace, config, env, progress=progress, runtime=runtime, caching=caching)
    if now is not None:
        executor.clock = lambda: now
    return executor


def _registry(workspace: Workspace, config: dict[str, Any], env: str) -> ModelRegistry:
    return ModelRegistry(workspace.store, manifest_parameter(config, env))


def seed_markers(workspace: Workspace, config: dict[str, Any], env: str) -> None:
    """The empty objects deployment puts in the shared input prefixes (see layout.markers)."""
    for marker in layout.markers(config, env):
        path = workspace.path(marker)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def champion_parameters(registry: ModelRegistry) -> dict[str, str]:
    """The training pipeline's champion: the promoted version, which the gate compares a new model with."""
    champion = registry.champion()
    return {} if champion is None else champion.parameters("champion")


def local_train(
    data: Path,
    config: dict[str, Any],
    env: str,
    workspace: Workspace,
    progress: Callable[[str], None] = print,
    containers: bool = False,
    caching: bool = True,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Run the training pipeline on exactly `data`; the gate compares the model with the promoted one.

    Steps whose cache key is unchanged reuse their last successful run (pipelines.cache);
    `caching=False` runs every step.
    """
    if not Path(data).is_file():
        raise FileNotFoundError(f"Training data {data} does not exist.")
    workspace.check()  # a corrupt registry or unusable workspace is found now, not after every job
    executor = _executor(workspace, config, env, progress, containers, caching, now)
    seed_markers(workspace, config, env)
    bucket = layout.bucket(config, env)
    input_uri, _ = workspace.snapshot(Path(data), f"s3://{bucket}/data/train/")
    parameters = {"InputData": input_uri, **champion_parameters(_registry(workspace, config, env))}
    return _run_training(executor, workspace, config, env, parameters)


def local_retrain(
    config: dict[str, Any],
    env: str,
    workspace: Workspace,
    progress: Callable[[str], None] = print,
    containers: bool = False,
    now: datetime | None = None,
    base_rows: str = "keep",
) -> dict[str, Any]:
    """The retrain the drift and quality Lambdas start, now: the promoted model's data and the labelled rows since.

    Refused, as the Lambda refuses, when too few labelled rows arrived since the last training.
    `base_rows`: keep the rows scored before the window, or age them out (retraining.base_rows).
    """
    from ..pipelines.executions import retrain_request

    workspace.check()
    request = retrain_request(config, env, workspace.store, WorkspaceObjects(workspace), base_rows)
    executor = _executor(workspace, config, env, progress, containers, now=now)
    seed_markers(workspace, config, env)
    return _run_training(executor, workspace, config, env, request.parameters)


def _run_training(
    executor: LocalExecutor, workspace: Workspace, config: dict[str, Any], env: str, parameters: dict[str, str]
) -> dict[str, Any]:
    pipeline = layout.pipeline_name(config, env, "training")
    training = cached_definition(config, env, "training", workspace.definitions)
    execution = executor.run(training, parameters, pipeline)
    return training_summary(execution, workspace, config, env)


def training_summary(execution: Execution, workspace: Workspace, config: dict[str, Any], env: str) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "run_id": execution.execution_id,
        "status": execution.status,
        "metrics": {},
        "manifest_version": None,
        "artifacts": {},
        "steps": step_outcomes(execution),
    }
    if execution.status != "Succeeded":
        return summary | {"failure": execution.failure}
    if names.REGISTER not in execution.properties:
        return summary  # a selective run that left Register out registers nothing
    register = execution.output(names.REGISTER, "OutputParameters")
    version = register["manifest_version"]
    registered = register.get("registered") is not False
    manifest = _registry(workspace, config, env).get(version=version).manifest
    artifacts = {key: workspace.path(uri) for key, uri in manifest["artifacts"].items()}
    gate_dir = workspace.path(execution.processing_output(names.GATE, channels.GATE))
    gate = json.loads((gate_dir / "gate.json").read_text("utf-8"))
    dataset_uri = execution.processing_output(names.TRAINING_DATA, channels.DATASET)
    dataset = json.loads((workspace.path(dataset_uri) / "dataset.json").read_text("utf-8"))
    data_uri = execution.processing_output(names.TRAINING_DATA_SNAPSHOT, channels.SNAPSHOT)
    promotion = manifest.get("promotion") or {}
    return summary | {
        "metrics": manifest["metrics"],
        "manifest_version": version,
        "registered": registered,
        "duplicate_of": None if registered else version,
        "promoted": bool(register.get("promoted")),
        "decision": register.get("decision") or promotion.get("reason", ""),
        "gate": json.loads(gate["record"]) | {"report": str(gate_dir / "report.html")},
        "training_data": {
            "uri": data_uri,
            "sha256": dataset["sha256"],
            "rows": dataset["rows"],
            "new_rows": dataset["new_rows"],
            "holdout_rows": dataset["holdout_rows"],
            "unchanged": dataset["unchanged"],
        },
        "artifacts": {key: str(path) for key, path in artifacts.items()},
        "reports": {
            "evaluation": str(extract_report(artifacts["model"], "evaluation.html", execution.execution_dir)),
            "explainability": str(artifacts["explainability"] / "summary.html"),
            "gate": str(gate_dir / "report.html"),
        },
    }


def step_outcomes(execution: Execution) -> dict[str, str]:
    """How each step of the execution ended: ran, cached (a cache hit), reused (retry, selective run), or failed."""
    outcomes = {}
    for step in execution.steps:
        if step.status != "Succeeded":
            outcomes[step.name] = "failed"
        elif step.reused_from:  # kept by a retry or a selective run, whether it ran or was a cache hit then
            outcomes[step.name] = "reused"
        elif step.cache_hit:
            outcomes[step.name] = "cached"
        else:
            outcomes[step.name] = outcomes.get(step.name, "ran")
    return outcomes


def extract_report(archive: Path, name: str, destination: Path) -> Path:
    """A report packed inside model.tar.gz, unpacked where a person can open it."""
    safe_extract(archive, destination, names=[name])
    return destination / name


def local_infer(
    data: Path,
    config: dict[str, Any],
    env: str,
    workspace: Workspace,
    progress: Callable[[str], None] = print,
    parameters: dict[str, str] | None = None,
    instances: int | None = None,
    containers: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Run the inference pipeline on `data` (a CSV file, or a folder of them) with the promoted model.

    `parameters` overrides other pipeline parameters, such as the drift thresholds;
    `instances` runs the sharded serve steps on that many local instances.
    """
    if not Path(data).exists():
        raise FileNotFoundError(f"Production data {data} does not exist.")
    workspace.check()
    if instances is not None:
        parameters = {**(parameters or {}), "ProcessingInstanceCount": instances}
    registered = _registry(workspace, config, env).for_inference()
    bucket = layout.bucket(config, env)
    executor = _executor(workspace, config, env, progress, containers, now=now)
    seed_markers(workspace, config, env)
    # Named by its content, never by the file's name: a run reads only its own rows, whatever ran beside it.
    input_uri, _ = workspace.snapshot(Path(data), f"s3://{bucket}/data/inference/")
    parameters = {**(parameters or {}), "InputData": input_uri, **registered.parameters("inference")}
    pipeline = layout.pipeline_name(config, env, "inference")
    execution = executor.run(cached_definition(config, env, "inference", workspace.definitions), parameters, pipeline)
    return inference_summary(execution, workspace)


def inference_summary(execution: Execution, workspace: Workspace) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "run_id": execution.execution_id,
        "status": execution.status,
        "rows": None,
        "manifest_version": int(execution.parameters["ManifestVersion"]),
        "predictions": None,
        "drift": None,
        "explanations": None,
        "retrain_triggered": False,
        "steps": step_outcomes(execution),
    }
    if execution.status != "Succeeded":
        return summary | {"failure": execution.failure}
    return summary | inference_outputs(execution, workspace)


def inference_outputs(execution: Execution, workspace: Workspace) -> dict[str, Any]:
    """What an inference run produced. A selective run holds only the steps it ran or reused: the rest is None."""

    def output(step: str, name: str) -> Path | None:
        if step not in execution.properties:
            return None
        return workspace.path(execution.processing_output(step, name))

    def one_or_all(folder: Path | None, pattern: str) -> str | None:
        if folder is None:
            return None
        found = sorted(p for p in folder.rglob(pattern) if p.is_file())
        return str(found[0]) if len(found) == 1 else str(folder)

    summary: dict[str, Any] = {"rows": None, "predictions": None, "drift": None, "report": None}
    if names.TRANSFORM in execution.properties:
        predictions = workspace.path(execution.output(names.TRANSFORM, "TransformOutput", "S3OutputPath"))
        summary["rows"] = sum(sum(1 for line in p.open("rb") if line.strip()) for p in predictions.rglob("*.out"))
        summary["predictions"] = one_or_all(predictions, "*.out")
    if names.MONITORING in execution.properties:
        drift = execution.output(names.MONITORING, "PropertyFiles", names.DRIFT_REPORT)
        summary["drift"] = {"detected": drift["drift_detected"], "drifted_features": drift["drifted_features"]}
        summary["report"] = str(output(names.MONITORING, channels.REPORT) / "report.html")
    explainability = output(names.EXPLAINABILITY, channels.REPORT)
    estimate = output(names.PERFORMANCE_ESTIMATE, channels.ESTIMATE)
    if estimate is not None:
        found = json.loads((estimate / "estimate.json").read_text("utf-8"))
        estimate = {key: found[key] for key in ("estimated", "metrics", "reason")}
    on_drift = next((n for n in names.ACTION_STEPS[names.DRIFT] if n in execution.properties), None)
    acted = execution.output(on_drift, "OutputParameters") if on_drift else {}
    return summary | {
        "explanations": one_or_all(output(names.EXPLAINABILITY_SHARDS, channels.EXPLANATIONS), "*"),
        "explainability_report": None if explainability is None else str(explainability / "summary.html"),
        "retrain_triggered": bool(acted.get("retrain_started")),
        "retrain": retrain_outcome(acted, workspace) if on_drift else None,
        "estimate": estimate,
    }


def retrain_outcome(response: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
    """What a retrain step did: started or why not, and the version the retrain registered (or equalled)."""
    outcome = {
        "started": bool(response.get("retrain_started")),
        "reason": response.get("reason") or "",
        "version": None,
        "promoted": False,
        "decision": "",
    }
    arn = response.get("execution") or ""
    if not outcome["started"] or ":pipeline/" not in arn:
        return outcome
    pipeline, _, execution_id = arn.split(":pipeline/", 1)[1].partition("/execution/")
    record = json.loads((workspace.execution_dir(pipeline, execution_id) / "execution.json").read_text("utf-8"))
    register = record["properties"].get(names.REGISTER, {}).get("OutputParameters", {})
    if register.get("manifest_version") is None:
        return outcome
    return outcome | {
        "version": register["manifest_version"],
        "promoted": bool(register.get("promoted")),
        "decision": register.get("decision") or "",
    }


def land_labels(
    data: Path, config: dict[str, Any], env: str, workspace: Workspace, now: datetime | None = None
) -> dict[str, Any]:
    """Put a ground-truth CSV under s3://<bucket>/labels/yyyy/mm/dd/hh/, by its arrival time.

    The file is checked first (see ground_truth.read_labels) and published by a rename, never half
    written; files already there stay. It is named by its content's digest, so landing the
    same file twice in one hour keeps one copy.
    """
    from ..ground_truth import read_labels
    from .workspace import content_digest

    if not Path(data).is_file():
        raise FileNotFoundError(f"Labels file {data} does not exist.")
    workspace.check()
    target = config["data"]["target_column"]
    frame = read_labels(Path(data), target, config["data"]["problem_type"])
    _check_classes(frame[target], Path(data), config, env, workspace)
    arrived = (now or datetime.now(UTC)).astimezone(UTC)
    uri = layout.labels_uri(config, env, arrived)
    folder = workspace.path(uri)
    folder.mkdir(parents=True, exist_ok=True)
    landed = folder / f"labels-{content_digest([Path(data)])[:16]}.csv"
    partial = folder / f".{landed.name}.partial"
    try:
        shutil.copyfile(data, partial)
        partial.replace(landed)
    finally:
        partial.unlink(missing_ok=True)  # nothing half-written stays where a labels job would read it
    return {
        "status": "Succeeded",
        "uri": workspace.uri(landed),
        "rows": len(frame),
        "arrived_at": arrived.isoformat(),
    }


def _check_classes(truth: Any, data: Path, config: dict[str, Any], env: str, workspace: Workspace) -> None:
    """A classifier's labels name the classes the serving model learnt, as its training data wrote them.

    On AWS a labelling process writes straight to S3, and the model-quality job counts such labels
    and leaves them out; here the file is refused before it lands, naming the classes to write.
    """
    from ..data_schema import DataSchema

    if config["data"]["problem_type"] == "regression":
        return
    champion = ModelRegistry(workspace.store, manifest_parameter(config, env)).champion()
    schema = workspace.path(champion.manifest["artifacts"]["preprocessing"]) / "schema.json" if champion else None
    if schema is None or not schema.is_file():
        return  # no model serves yet: nothing to judge the labels by
    classes = DataSchema.load(schema).classes or []
    values = truth.astype(str).str.strip()
    unknown = sorted(set(values) - set(classes))
    if unknown:
        rows = int((~values.isin(classes)).sum())
        raise ValueError(
            f"Labels file {data}: {rows} of {len(values)} rows name a class the serving model (v{champion.version}) "
            f"does not know: {unknown[:5]}. Its classes are {classes}, written as the training data wrote them; "
            "fix the file and land it again. Nothing was landed."
        )


def local_quality(
    config: dict[str, Any],
    env: str,
    workspace: Workspace,
    progress: Callable[[str], None] = print,
    parameters: dict[str, str] | None = None,
    containers: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Run the model-quality pipeline: the window's kept predictions joined with the landed labels.

    The model is the one inference uses (the promoted one). `parameters` overrides the
    pipeline's StartOffset, EndOffset and MinLabelledRows.
    """
    given = dict(parameters or {})
    # Checked before anything runs: a typo in an offset is an error here, not a failed execution and an alert.
    settings = config["quality"]
    check_window(given.get("StartOffset", settings["start_offset"]), given.get("EndOffset", settings["end_offset"]))
    minimum = str(given.get("MinLabelledRows", settings["min_labelled_rows"]))
    if not minimum.isdigit() or int(minimum) < 1:
        raise ValueError(f"The minimum of labelled rows {minimum!r} must be a whole number of at least 1.")
    workspace.check()
    registered = _registry(workspace, config, env).for_inference()
    seed_markers(workspace, config, env)
    executor = _executor(workspace, config, env, progress, containers, now=now)
    given = {**(parameters or {}), **registered.parameters("quality")}
    pipeline = layout.pipeline_name(config, env, "quality")
    execution = executor.run(cached_definition(config, env, "quality", workspace.definitions), given, pipeline)
    return quality_summary(execution, workspace)


def quality_summary(execution: Execution, workspace: Workspace) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "run_id": execution.execution_id,
        "status": execution.status,
        "labelled_rows": 0,
        "coverage": 0.0,
        "metrics": {},
        "violations": [],
        "retrain_triggered": False,
        "manifest_version": int(execution.parameters["ManifestVersion"]),
        "steps": step_outcomes(execution),
    }
    if execution.status != "Succeeded":
        return summary | {"failure": execution.failure}
    report = execution.output(names.MODEL_QUALITY, "PropertyFiles", names.QUALITY_REPORT)
    folder = workspace.path(execution.processing_output(names.MODEL_QUALITY, channels.QUALITY))
    acted = next((n for n in names.ACTION_STEPS[names.QUALITY] if n in execution.properties), None)
    response = execution.output(acted, "OutputParameters") if acted else {}
    return summary | {
        "labelled_rows": report["labelled_rows"],
        "coverage": report["coverage"],
        "metrics": report["metrics"],
        "violations": report["violations"],
        "retrain_triggered": bool(response.get("retrain_started")),
        "retrain": retrain_outcome(response, workspace) if acted else None,
        "judged": report["judged"],
        "verdict": report["status"],
        "window": report["join"]["window"],
        "runs": [
            {k: run[k] for k in ("run_id", "scored_at", "predictions", "labelled", "realised", "estimate")}
            for run in report["runs"]
        ],
        "report": str(folder / "report.html"),
    }


def local_retry(
    execution_id: str,
    config: dict[str, Any],
    env: str,
    workspace: Workspace,
    progress: Callable[[str], None] = print,
    containers: bool = False,
) -> dict[str, Any]:
    """Retry a failed (or killed) execution: its failed step and every later one run, the others keep their outputs."""
    workspace.check()
    executor = _executor(workspace, config, env, progress, containers)
    record = executor.load(execution_id)
    kind = pipeline_kind(config, env, record["pipeline"])
    return summarise(kind, executor.retry(execution_id, record["pipeline"]), workspace, config, env)


def local_rerun(
    kind: str,
    steps: list[str],
    config: dict[str, Any],
    env: str,
    workspace: Workspace,
    reference: str | None = None,
    progress: Callable[[str], None] = print,
    containers: bool = False,
) -> dict[str, Any]:
    """A selective execution: only `steps` run; the steps they need reuse `reference`'s outputs (default: latest)."""
    workspace.check()
    executor = _executor(workspace, config, env, progress, containers)
    pipeline = layout.pipeline_name(config, env, kind)
    built = cached_definition(config, env, kind, workspace.definitions)
    execution = executor.run(built, None, pipeline, selected=steps, reference=reference)
    return summarise(kind, execution, workspace, config, env) | {"reference": execution.source_arn}


def pipeline_kind(config: dict[str, Any], env: str, pipeline: str) -> str:
    from ..pipelines.definition import KINDS

    for kind in KINDS:
        if layout.pipeline_name(config, env, kind) == pipeline:
            return kind
    raise ValueError(f"{pipeline} is not one of this project's {env} pipelines.")


def summarise(
    kind: str, execution: Execution, workspace: Workspace, config: dict[str, Any], env: str
) -> dict[str, Any]:
    """The summary `local train`, `local infer` or `local quality` prints, for any execution of that pipeline."""
    if kind == "training":
        return training_summary(execution, workspace, config, env)
    if kind == "inference":
        return inference_summary(execution, workspace)
    return quality_summary(execution, workspace)
