"""Entrypoint: python -m <package>.components.algorithm train|serve (Training / Batch Transform)."""

from __future__ import annotations

import sys

import pandas as pd

from ...config import load_config
from ...container import (
    ComponentError,
    check_csv,
    csv_files,
    model_dir,
    read_hyperparameters,
    run_entrypoint,
    staged_output,
    training_channel,
)
from ...data_schema import DataSchema
from .model import TrainedModel, evaluate, fit, write_evaluation, write_quality_baseline
from .report import render_evaluation
from .server import serve_forever


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
    schema_path = training_channel("artifacts") / "schema.json"
    try:
        schema = DataSchema.load(schema_path)
    except FileNotFoundError as exc:
        raise ComponentError(
            f"{exc}. The training job needs processing's artifacts output as its 'artifacts' channel."
        ) from exc
    hyperparameters = read_hyperparameters()
    train_matrix, validation_matrix = _read_matrix("train"), _read_matrix("validation")
    try:
        model = fit(train_matrix, schema, hyperparameters)
        metrics = evaluate(model, validation_matrix)
    except ValueError as exc:
        raise ComponentError(str(exc)) from exc
    for name, value in metrics.items():
        # One line per metric, readable by a metric-definition regex such as validation:auc=([0-9.]+)
        print(f"validation:{name}={value:.6f}", flush=True)
    tolerance = float(load_config()["monitoring"].get("quality_tolerance", 0.1))
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


def serve() -> None:
    """Load the unpacked model.tar.gz and serve Batch Transform requests."""
    try:
        model = TrainedModel.load(model_dir())
    except FileNotFoundError as exc:
        raise ComponentError(f"{exc}. Serve mode needs the training job's model.tar.gz unpacked there.") from exc
    serve_forever(model)


if __name__ == "__main__":
    sys.exit(run_entrypoint("algorithm", {"train": train, "serve": serve}))
