"""Entrypoint: python -m <package>.components.explainability train|serve (SageMaker Processing)."""

from __future__ import annotations

import json
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ...config import load_config
from ...container import (
    ComponentError,
    csv_files,
    processing_input,
    processing_output,
    run_entrypoint,
    staged_output,
)
from ...data_schema import DataSchema
from ..algorithm.model import TrainedModel
from .report import render_summary
from .shap_values import analysis_json, explain, global_importance, per_row_frame, tree_explainer


def load_model(model_input: Path, workdir: Path) -> TrainedModel:
    """Unpack model.tar.gz (as the training job wrote it) and load the model."""
    archive = model_input / "model.tar.gz"
    if archive.is_file():
        with tarfile.open(archive) as tar:
            tar.extractall(workdir, filter="data")
        source = workdir
    else:
        source = model_input
    try:
        return TrainedModel.load(source)
    except FileNotFoundError as exc:
        raise ComponentError(f"{exc}. The 'model' input must hold the training job's model.tar.gz.") from exc


def load_matching_schema(model: TrainedModel) -> DataSchema:
    path = processing_input("artifacts") / "schema.json"
    try:
        schema = DataSchema.load(path)
    except FileNotFoundError as exc:
        raise ComponentError(f"{exc}. The 'artifacts' input must hold processing's schema.json.") from exc
    if schema.feature_names != model.schema.feature_names:
        raise ComponentError(
            "schema.json in 'artifacts' does not describe the model's features "
            f"({schema.feature_names[:5]} vs {model.schema.feature_names[:5]}); use artifacts and "
            "model from the same training run."
        )
    return schema


def _check_width(frame: pd.DataFrame, expected: int, path: Path) -> np.ndarray:
    if frame.shape[1] != expected:
        raise ComponentError(
            f"{path} has {frame.shape[1]} columns; expected {expected} (processed features"
            f"{' after the target' if expected > 0 else ''})."
        )
    return frame.to_numpy()


def write_summary(out: Path, importance, sample, sample_shap, feature_names: list[str]) -> None:
    """summary.html (self-contained) and summary.png beside analysis.json."""
    html, png = render_summary(importance, sample, sample_shap, feature_names)
    (out / "summary.html").write_text(html, "utf-8")
    (out / "summary.png").write_bytes(png)


def train() -> None:
    """Global SHAP importance on (a sample of) the processed validation data."""
    settings = load_config()["explainability"]
    with tempfile.TemporaryDirectory() as workdir:
        model = load_model(processing_input("model"), Path(workdir))
    schema = load_matching_schema(model)
    frames = []
    for path in csv_files(processing_input("data"), "explainability train"):
        try:
            frame = pd.read_csv(path, header=None, dtype="float64")
        except (pd.errors.EmptyDataError, ValueError) as exc:
            raise ComponentError(f"{path} is not processed validation data (numbers, target first): {exc}") from exc
        frames.append(_check_width(frame, len(schema.features) + 1, path)[:, 1:])
    X = np.vstack(frames)
    if len(X) > settings["max_rows_train"]:
        rows = np.random.default_rng(0).choice(len(X), settings["max_rows_train"], replace=False)
        X = X[np.sort(rows)]
    explanation = explain(model, X)
    importance = global_importance(explanation)
    analysis = analysis_json(importance, explanation.expected_values, len(X))
    with staged_output(processing_output("report")) as out:
        (out / "analysis.json").write_text(json.dumps(analysis, indent=2, ensure_ascii=False) + "\n", "utf-8")
        write_summary(out, importance, X, explanation.values, schema.feature_names)
    top = next(iter(analysis["explanations"]["kernel_shap"].values()))["global_shap_values"]
    print(f"explainability train: {len(X)} rows explained; top features {list(top)[:3]}")


def serve() -> None:
    """Per-row SHAP values for every production row (in chunks) plus global importance."""
    settings = load_config()["explainability"]
    with tempfile.TemporaryDirectory() as workdir:
        model = load_model(processing_input("model"), Path(workdir))
    schema = load_matching_schema(model)
    explainer = tree_explainer(model)
    n_rows = 0
    totals: dict[str, np.ndarray] = {}
    expected: dict[str, float] = {}
    sample: np.ndarray | None = None
    sample_shap: dict[str, np.ndarray] = {}
    with staged_output(processing_output("report")) as out:
        shap_dir = out / "explanations_shap"
        shap_dir.mkdir()
        with (shap_dir / "out.csv").open("w", encoding="utf-8", newline="") as sink:
            for path in csv_files(processing_input("data"), "explainability serve"):
                try:
                    reader = pd.read_csv(path, header=None, dtype="float64", chunksize=settings["chunk_rows"])
                    for chunk in reader:
                        X = _check_width(chunk, len(schema.features), path)
                        explanation = explain(model, X, explainer)
                        per_row_frame(model, explanation, X).to_csv(
                            sink, header=n_rows == 0, index=False, float_format="%.6g"
                        )
                        for label, values in explanation.values.items():
                            totals[label] = totals.get(label, 0) + np.abs(values).sum(axis=0)
                        expected = explanation.expected_values
                        if sample is None:
                            sample, sample_shap = X, explanation.values
                        n_rows += len(X)
                except pd.errors.EmptyDataError as exc:
                    raise ComponentError(f"{path} is empty; there are no rows to explain.") from exc
                except ValueError as exc:
                    raise ComponentError(
                        f"{path} could not be explained (processed data must be numbers): {exc}"
                    ) from exc
        if n_rows == 0:
            raise ComponentError(f"No rows to explain in {processing_input('data')}.")
        importance = {
            label: {name: float(v) for name, v in zip(schema.feature_names, total / n_rows, strict=True)}
            for label, total in totals.items()
        }
        analysis = analysis_json(importance, expected, n_rows)
        (out / "analysis.json").write_text(json.dumps(analysis, indent=2, ensure_ascii=False) + "\n", "utf-8")
        write_summary(out, importance, sample, sample_shap, schema.feature_names)
    print(f"explainability serve: {n_rows} rows explained")


if __name__ == "__main__":
    sys.exit(run_entrypoint("explainability", {"train": train, "serve": serve}))
