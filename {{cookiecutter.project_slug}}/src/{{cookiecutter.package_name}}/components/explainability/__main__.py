"""Entrypoint: python -m <package>.components.explainability train|serve|explain|merge (SageMaker Processing).

`serve` explains a production batch in one process. At scale the inference pipeline splits
it in two steps: `explain` on N instances, each given a share of the files (ShardedByS3Key),
then `merge` on one, which computes global importance over every row.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import pandas as pd

from ... import channels
from ...config import load_config
from ...container import (
    ComponentError,
    check_csv,
    check_pinned,
    csv_files,
    current_host,
    processing_input,
    processing_output,
    read_shard_summaries,
    run_entrypoint,
    safe_extract,
    staged_output,
)
from ...data_schema import ID_COLUMN, DataSchema, Feature
from .explanations_report import render_summary
from .pool import ChunkExplainer, available_cores
from .shap_values import Explainer, Explanation, analysis_json, explain, global_importance, per_row_columns

if TYPE_CHECKING:
    from ..algorithm.model import TrainedModel


def load_model(model_input: Path, workdir: Path) -> TrainedModel:
    """Unpack model.tar.gz (as the training job wrote it) and load the model."""
    from ..algorithm.model import TrainedModel

    archive = model_input / "model.tar.gz"
    if archive.is_file():
        safe_extract(archive, workdir)
        source = workdir
    else:
        source = model_input
    try:
        return TrainedModel.load(source)
    except FileNotFoundError as exc:
        raise ComponentError(f"{exc}. The 'model' input must hold the training job's model.tar.gz.") from exc


def load_matching_schema(model: TrainedModel) -> DataSchema:
    path = processing_input(channels.ARTIFACTS) / "schema.json"
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


def write_summary(out: Path, importance, sample, sample_shap, features: list[Feature], outputs) -> None:
    """summary.html (self-contained) and summary.svg (global importance) beside analysis.json."""
    html, svg = render_summary(importance, sample, sample_shap, features, outputs)
    (out / "summary.html").write_text(html, "utf-8")
    (out / "summary.svg").write_text(svg, "utf-8")


def train() -> None:
    """Global SHAP importance on (a sample of) the processed validation data."""
    settings = load_config()["explainability"]
    with tempfile.TemporaryDirectory() as workdir:
        model = load_model(processing_input(channels.MODEL), Path(workdir))
    schema = load_matching_schema(model)
    frames = []
    for path in csv_files(processing_input(channels.DATA), "explainability train"):
        check_csv(path, header=False)
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
    analysis = analysis_json(
        importance, explanation.expected_values, len(X), explanation.outputs, explanation.method,
        explanation.additivity_error,
    )  # fmt: skip
    with staged_output(processing_output(channels.REPORT)) as out:
        (out / "analysis.json").write_text(json.dumps(analysis, indent=2, ensure_ascii=False) + "\n", "utf-8")
        write_summary(out, importance, X, explanation.values, schema.features, explanation.outputs)
    top = next(iter(analysis["explanations"]["kernel_shap"].values()))["global_shap_values"]
    print(f"explainability train: {len(X)} rows explained; top features {list(top)[:3]}")


# Rows whose values and SHAP values feed the dependence plots (the first explained).
SAMPLE_ROWS = 1000
SHARD_FORMAT = 2


@dataclass
class Totals:
    """What global importance needs from any share of the rows: it adds up across shards."""

    n_rows: int = 0
    abs_sums: dict[str, np.ndarray] = field(default_factory=dict)
    expected: dict[str, float] = field(default_factory=dict)
    sample: np.ndarray | None = None
    sample_shap: dict[str, np.ndarray] = field(default_factory=dict)
    # What the values add up to, per label; the method; the largest additivity gap met.
    outputs: dict[str, str] = field(default_factory=dict)
    method: str = ""
    additivity_error: float = 0.0

    def add(self, X: np.ndarray, explanation: Explanation) -> None:
        for label, values in explanation.values.items():
            self.abs_sums[label] = self.abs_sums.get(label, 0) + np.abs(values).sum(axis=0)
        self.expected = explanation.expected_values
        self.outputs, self.method = explanation.outputs, explanation.method
        self.additivity_error = max(self.additivity_error, explanation.additivity_error)
        if self.sample is None:
            self.sample = X[:SAMPLE_ROWS]
            self.sample_shap = {label: v[:SAMPLE_ROWS] for label, v in explanation.values.items()}
        self.n_rows += len(X)

    def merge(self, other: Totals) -> Totals:
        if other.n_rows == 0:
            return self
        if self.n_rows == 0:
            return other
        sums = {label: self.abs_sums[label] + other.abs_sums[label] for label in self.abs_sums}
        error = max(self.additivity_error, other.additivity_error)
        return Totals(
            self.n_rows + other.n_rows, sums, self.expected, self.sample, self.sample_shap, self.outputs, self.method,
            error,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        def listed(a: np.ndarray | None) -> Any:
            return None if a is None else a.tolist()

        return {
            "format": SHARD_FORMAT,
            "n_rows": self.n_rows,
            "abs_sums": {label: listed(v) for label, v in self.abs_sums.items()},
            "expected": self.expected,
            "sample": listed(self.sample),
            "sample_shap": {label: listed(v) for label, v in self.sample_shap.items()},
            "outputs": self.outputs,
            "method": self.method,
            "additivity_error": self.additivity_error,
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Totals:
        if document.get("format") != SHARD_FORMAT:
            raise ValueError(f"unknown shard format {document.get('format')!r} (expected {SHARD_FORMAT})")
        sample = document["sample"]
        return cls(
            int(document["n_rows"]),
            {label: np.asarray(v, dtype=float) for label, v in document["abs_sums"].items()},
            {label: float(v) for label, v in document["expected"].items()},
            None if sample is None else np.asarray(sample, dtype=float),
            {label: np.asarray(v, dtype=float) for label, v in document["sample_shap"].items()},
            dict(document["outputs"]),
            str(document["method"]),
            float(document["additivity_error"]),
        )


def _explain_file(
    path: Path, model: TrainedModel, chunks: ChunkExplainer, sink: TextIO, totals: Totals, header: bool, chunk_rows: int
) -> None:
    """Per-row SHAP values of one processed file into `sink`, `chunk_rows` rows at a time, on every core.

    Processed production rows start with their inference id; each row of SHAP values does too.
    """
    width = len(model.schema.features)
    check_csv(path, header=False)
    ids: deque[np.ndarray] = deque()

    def read() -> Iterator[np.ndarray]:
        for chunk in pd.read_csv(path, header=None, dtype={0: "string"}, chunksize=chunk_rows):
            if chunk.shape[1] != width + 1:
                raise ComponentError(
                    f"{path} has {chunk.shape[1]} columns; expected {width + 1} (the inference id, then the "
                    "processed features): processed production data comes from processing serve."
                )
            ids.append(chunk.iloc[:, 0].to_numpy(dtype=object))
            yield chunk.iloc[:, 1:].to_numpy(dtype="float64")

    try:
        for X, text, explanation in chunks.explain(read()):
            if header:
                sink.write(pd.DataFrame(columns=[ID_COLUMN, *per_row_columns(model)]).to_csv(index=False))
                header = False
            sink.write("".join(f"{i},{line}\n" for i, line in zip(ids.popleft(), text.splitlines(), strict=True)))
            totals.add(X, explanation)
    except pd.errors.EmptyDataError as exc:
        raise ComponentError(f"{path} is empty; there are no rows to explain.") from exc
    except ValueError as exc:
        raise ComponentError(f"{path} could not be explained (processed data must be numbers): {exc}") from exc


def _workers(settings: dict[str, Any]) -> int:
    """explainability.workers, or every core this instance gives the job (0, the default)."""
    return int(settings.get("workers", 0)) or available_cores()


def _write_report(out: Path, totals: Totals, features: list[Feature]) -> None:
    """analysis.json with global importance over every row, and the summary plots."""
    if totals.n_rows == 0:
        raise ComponentError("No rows to explain: the processed data (every shard of it) holds no row.")
    importance = {
        label: {f.name: float(v) for f, v in zip(features, total / totals.n_rows, strict=True)}
        for label, total in totals.abs_sums.items()
    }
    analysis = analysis_json(
        importance, totals.expected, totals.n_rows, totals.outputs, totals.method, totals.additivity_error
    )
    (out / "analysis.json").write_text(json.dumps(analysis, indent=2, ensure_ascii=False) + "\n", "utf-8")
    write_summary(out, importance, totals.sample, totals.sample_shap, features, totals.outputs)


def _model_and_schema() -> tuple[TrainedModel, DataSchema]:
    """The registered model and preprocessing, each checked against the manifest's digest before it is opened."""
    check_pinned("model", processing_input(channels.MODEL) / "model.tar.gz")
    check_pinned("preprocessing", processing_input(channels.ARTIFACTS))
    with tempfile.TemporaryDirectory() as workdir:
        model = load_model(processing_input(channels.MODEL), Path(workdir))
    return model, load_matching_schema(model)


def serve() -> None:
    """Per-row SHAP values for every production row (in chunks) plus global importance."""
    model, schema = _model_and_schema()
    totals = Totals()
    settings = load_config()["explainability"]
    with (
        staged_output(processing_output(channels.REPORT)) as out,
        ChunkExplainer(model, Explainer(model), _workers(settings)) as chunks,
    ):
        shap_dir = out / "explanations_shap"
        shap_dir.mkdir()
        with (shap_dir / "out.csv").open("w", encoding="utf-8", newline="") as sink:
            for path in csv_files(processing_input(channels.DATA), "explainability serve"):
                _explain_file(path, model, chunks, sink, totals, totals.n_rows == 0, settings["chunk_rows"])
        _write_report(out, totals, schema.features)
    print(f"explainability serve: {totals.n_rows} rows explained on {chunks.workers} worker(s)")


def explain_shard() -> None:
    """One instance of a sharded job: per-row SHAP values of its files, and its share of the totals.

    Each processed file gets its SHAP values under explanations/ with the same name, row for
    row; summary/<host>.json carries what the merge mode needs for global importance.
    """
    model, _ = _model_and_schema()
    totals = Totals()
    settings = load_config()["explainability"]
    host = current_host()
    data = processing_input(channels.DATA)
    with (
        staged_output(processing_output(channels.EXPLANATIONS)) as explanations,
        staged_output(processing_output(channels.SUMMARY)) as summary,
        ChunkExplainer(model, Explainer(model), _workers(settings)) as chunks,
    ):
        for path in csv_files(data, channels.EXPLAINABILITY, allow_none=True):
            target = explanations / path.relative_to(data)
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("w", encoding="utf-8", newline="") as sink:
                _explain_file(path, model, chunks, sink, totals, True, settings["chunk_rows"])
        (summary / f"{host}.json").write_text(json.dumps(totals.to_json()), "utf-8")
    print(f"explainability explain: {host} explained {totals.n_rows} rows on {chunks.workers} worker(s)")


def merge() -> None:
    """Global importance over every shard's rows, exactly as serve computes it in one pass."""
    path = check_pinned("preprocessing", processing_input(channels.ARTIFACTS)) / "schema.json"
    try:
        schema = DataSchema.load(path)
    except FileNotFoundError as exc:
        raise ComponentError(f"{exc}. The 'artifacts' input must hold processing's schema.json.") from exc
    shards = read_shard_summaries(channels.EXPLAINABILITY, "explain", Totals.from_json)
    totals = Totals()
    for _, shard in shards:
        totals = totals.merge(shard)
    with staged_output(processing_output(channels.REPORT)) as out:
        _write_report(out, totals, schema.features)
    print(f"explainability merge: {totals.n_rows} rows from {len(shards)} shard(s)")


if __name__ == "__main__":
    modes = {"train": train, "serve": serve, "explain": explain_shard, "merge": merge}
    sys.exit(run_entrypoint(channels.EXPLAINABILITY, modes))
