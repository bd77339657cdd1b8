"""Entrypoint: python -m <package>.components.algorithm train|serve (Training / Batch Transform)."""

from __future__ import annotations

import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path

import pandas as pd

from ... import channels
from ... import job_environment as job_env
from ...config import load_config
from ...container import (
    ComponentError,
    check_csv,
    check_pinned,
    csv_files,
    file_sha256,
    model_dir,
    processing_input,
    processing_output,
    read_hyperparameters,
    run_entrypoint,
    safe_extract,
    staged_output,
    training_channel,
)
from ...data_schema import DataSchema
from ...registry.digests import archive_contents_digest
from . import gate
from .evaluation_report import render_evaluation
from .gate_report import render_gate
from .model import (
    EVALUATION_FILE,
    QUALITY_CONSTRAINTS_FILE,
    TrainedModel,
    choose_decision,
    evaluate,
    fit,
    write_evaluation,
    write_quality_baseline,
)
from .server import serve_forever

# What the gate publishes of the challenger's model.tar.gz, for the model registry's package.
MODEL_METRICS = (EVALUATION_FILE, QUALITY_CONSTRAINTS_FILE)


def _read_matrix(channel: str) -> pd.DataFrame:
    frames = []
    for path in csv_files(training_channel(channel), f"the '{channel}' channel"):
        check_csv(path, header=False)
        try:
            frames.append(pd.read_csv(path, header=None))
        except pd.errors.EmptyDataError as exc:
            raise ComponentError(f"{path} in the '{channel}' channel is empty.") from exc
    return pd.concat(frames, ignore_index=True)


def train() -> None:
    """Fit on the train channel, evaluate on validation, print metrics for SageMaker's regexes."""
    schema_path = training_channel(channels.ARTIFACTS) / "schema.json"
    try:
        schema = DataSchema.load(schema_path)
    except FileNotFoundError as exc:
        raise ComponentError(
            f"{exc}. The training job needs processing's artifacts output as its 'artifacts' channel."
        ) from exc
    hyperparameters = read_hyperparameters()
    config = load_config()
    train_matrix, validation_matrix = _read_matrix(channels.TRAIN), _read_matrix(channels.VALIDATION)
    try:
        model = fit(train_matrix, schema, hyperparameters, config["algorithm"]["estimator"])
        choose_decision(model, validation_matrix, config["algorithm"].get("decision"))
        metrics = evaluate(model, validation_matrix)
    except ValueError as exc:
        raise ComponentError(str(exc)) from exc
    for name, value in metrics.items():
        # One line per metric, readable by a metric-definition regex such as validation:auc=([0-9.]+)
        print(f"validation:{name}={value:.6f}", flush=True)
    tolerance = float(config["monitoring"].get("quality_tolerance", 0.1))
    with staged_output(model_dir()) as out:
        model.save(out)
        write_evaluation(out, metrics, model)
        quality = write_quality_baseline(out, model, validation_matrix, tolerance)
        (out / "evaluation.html").write_text(render_evaluation(model, validation_matrix, metrics), "utf-8")
    calibration = quality["calibration"]
    if calibration.get("estimable"):
        print(f"calibration: expected calibration error {calibration['expected_calibration_error']:.4f}; estimable")
    else:
        print(f"calibration: no performance estimate before labels ({calibration['reason']})")


def _read_rows(channel: str) -> pd.DataFrame:
    """Raw labelled rows with a header (the gate's inputs); a file with a header alone holds no row."""
    frames = []
    for path in csv_files(processing_input(channel), f"the gate's '{channel}' input", allow_none=True):
        check_csv(path)
        try:
            frames.append(pd.read_csv(path))
        except pd.errors.EmptyDataError:
            continue
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _load_archive(archive: Path, folder: Path) -> TrainedModel:
    safe_extract(archive, folder)
    return TrainedModel.load(folder)


def compare() -> None:
    """The champion-challenger gate, as a Processing job (see gate.py): gate.json and report.html.

    Inputs: `challenger` (the new model.tar.gz), `champion` (the serving one's, or nothing: a
    first model), `recent` (the held-out recent labelled rows) and `validation` (the validation
    split as raw rows). CHAMPION_VERSION names the champion's manifest version, and ARTIFACT_DIGESTS
    holds its manifest's digests: the champion's model is checked before it is opened.
    """
    config = load_config()
    settings = gate.Settings.from_config(config["promotion"])
    champion_version = os.environ.get(job_env.CHAMPION_VERSION, "").strip()
    archives = {name: processing_input(name) / "model.tar.gz" for name in (channels.CHALLENGER, channels.CHAMPION)}
    if not archives["challenger"].is_file():
        raise ComponentError(f"{archives['challenger']} not found: the gate needs the training job's model.tar.gz.")
    if not archives["champion"].is_file():
        champion_version = ""  # the empty prefix: no model serves yet
    if champion_version:
        check_pinned("model", archives["champion"])
    sets = {name: _read_rows(name) for name in gate.SETS}
    identity = gate.model_identity(archives["challenger"])
    same = bool(champion_version) and gate.model_identity(archives["champion"]) == identity
    with tempfile.TemporaryDirectory(prefix="gate-") as folder:
        try:
            challenger = _load_archive(archives["challenger"], Path(folder) / "challenger")
            champion = _load_archive(archives["champion"], Path(folder) / "champion") if champion_version else None
        except (FileNotFoundError, KeyError, ValueError, tarfile.TarError) as exc:
            raise ComponentError(f"A model of the gate could not be loaded: {exc}") from exc
        try:
            record = gate.judge(challenger, champion, champion_version, sets, settings, same_model=same)
        except ValueError as exc:
            raise ComponentError(str(exc)) from exc
        # The challenger's own evaluation and model-quality constraints, published where the model
        # registry's package points (ModelMetrics, DriftCheckBaselines): inside model.tar.gz it cannot.
        published = {
            name: (Path(folder) / "challenger" / name).read_bytes()
            for name in MODEL_METRICS
            if (Path(folder) / "challenger" / name).is_file()
        }
    summary = {
        "passed": record["passed"],
        "champion_version": champion_version,
        # What the manifest pins: the archive's bytes, and its files as the model server sees them.
        "model_sha256": file_sha256(archives["challenger"]),
        "model_contents_sha256": archive_contents_digest(archives["challenger"]),
        "model_identity": identity,
        # The decision in numbers, as one string the Register step records whole in the manifest.
        # With the challenger's decision (threshold), which the manifest keeps with its verdict.
        "record": json.dumps(gate.summary(record) | {"decision": challenger.decision}, separators=(",", ":")),
    }
    with staged_output(processing_output(channels.GATE)) as out:
        (out / "gate.json").write_text(json.dumps(summary | {"detail": record}, indent=1) + "\n", "utf-8")
        (out / "report.html").write_text(render_gate(record), "utf-8")
        for name, content in published.items():
            (out / name).write_bytes(content)
    print(f"algorithm compare: {'passes' if record['passed'] else 'does not pass'}: {record['reason']}")


def serve() -> None:
    """Load the unpacked model.tar.gz, once it is the registered one, and serve Batch Transform requests."""
    try:
        model = TrainedModel.load(check_pinned("model_contents", model_dir()))
    except FileNotFoundError as exc:
        raise ComponentError(f"{exc}. Serve mode needs the training job's model.tar.gz unpacked there.") from exc
    serve_forever(model)


if __name__ == "__main__":
    modes = {"train": train, "serve": serve, "compare": compare}
    # train is a Training job (or a tuning job's trial), serve Batch Transform's model server, compare a Processing job.
    sys.exit(run_entrypoint(channels.ALGORITHM, modes))
