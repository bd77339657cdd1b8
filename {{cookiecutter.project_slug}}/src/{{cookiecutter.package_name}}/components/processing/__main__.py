"""Entrypoint: python -m <package>.components.processing train|serve (SageMaker Processing)."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from pathlib import Path

import pandas as pd

from ...config import load_config
from ...container import (
    ComponentError,
    check_content_address,
    csv_files,
    processing_input,
    processing_output,
    read_csv_dir,
    run_entrypoint,
    staged_output,
)
from ...csv_input import CsvError, read_ahead, read_blocks
from ...csv_output import to_csv_text, write_csv
from ...data_schema import ID_COLUMN, DataSchema
from .preprocess import check_columns, fit, inference_ids, split, to_training_matrix, transform

FLOAT_FORMAT = "%.15g"  # round-trips every float64 the model sees


def train() -> None:
    """Learn schema and encoding from raw training data; write train/validation and artifacts."""
    config = load_config()
    check_content_address("raw")
    raw = read_csv_dir(processing_input("raw"), "processing train")
    try:
        schema, labelled = fit(
            raw,
            config["data"]["target_column"],
            config["data"]["problem_type"],
            id_columns=config["data"]["id_columns"],
            max_categories=config["processing"]["max_categories"],
        )
        train_rows, validation_rows = split(
            labelled, schema, config["processing"]["validation_fraction"], config["processing"]["seed"]
        )
        train_matrix = to_training_matrix(train_rows, schema)
        validation_matrix = to_training_matrix(validation_rows, schema)
    except ValueError as exc:
        raise ComponentError(str(exc)) from exc

    with ExitStack() as stack:
        train_dir = stack.enter_context(staged_output(processing_output("train")))
        validation_dir = stack.enter_context(staged_output(processing_output("validation")))
        artifacts_dir = stack.enter_context(staged_output(processing_output("artifacts")))
        for matrix, path in (
            (train_matrix, train_dir / "train.csv"),
            (validation_matrix, validation_dir / "validation.csv"),
        ):
            with path.open("w", encoding="utf-8", newline="") as sink:
                write_csv(matrix, sink, FLOAT_FORMAT)
        schema.save(artifacts_dir / "schema.json")
    for warning in schema.warnings:
        print(f"WARNING {warning}", flush=True)
    print(
        f"processing train: {len(raw)} rows in, {len(train_matrix)} train / {len(validation_matrix)} "
        f"validation, {len(schema.features)} features "
        f"({sum(schema.categorical_mask)} categorical), target '{schema.target}'"
    )


def serve() -> None:
    """Apply the learned encoding to production data in chunks, keeping row order."""
    schema = load_schema(processing_input("artifacts"))
    raw = processing_input("raw")
    inputs = csv_files(raw, "processing serve")
    total = 0
    unseen: dict[str, int] = {}
    infinite: dict[str, int] = {}
    with staged_output(processing_output("processed")) as out_dir:
        for path in inputs:
            # The input's own relative path: files of the same name in different folders stay apart.
            target = out_dir / path.relative_to(raw)
            target.parent.mkdir(parents=True, exist_ok=True)
            total += _transform_file(path, target, schema, unseen, infinite, str(path.relative_to(raw)))
        if total == 0:  # inside the block: an empty result is not published
            raise ComponentError(f"Production data in {processing_input('raw')} has a header but no rows.")
    for name, count in unseen.items():
        print(f"WARNING column '{name}': {count} value(s) outside the learned categories, encoded as missing")
    for name, count in infinite.items():
        print(f"WARNING column '{name}': {count} infinite value(s), encoded as missing")
    print(f"processing serve: {total} rows processed from {len(inputs)} file(s)")


def _transform_file(
    source: Path, target: Path, schema: DataSchema, unseen: dict[str, int], infinite: dict[str, int], relative: str
) -> int:
    """Processed rows of one file, each after its inference id (see `inference_ids`)."""
    rows = 0
    id_columns = load_config()["data"]["id_columns"]
    prefix = os.environ.get("INFERENCE_ID_PREFIX") or "run"
    try:  # the strict CSV rules are checked as the blocks are read
        categorical = {f.name: "string" for f in schema.features if f.kind == "categorical"}
        with target.open("w", encoding="utf-8", newline="") as sink:
            for chunk in read_ahead(read_blocks(source, dtype=categorical)):
                if rows == 0:
                    extra = check_columns(chunk, schema, learned_on=f"production data {source.name}")
                    if extra:
                        print(f"WARNING ignoring column(s) not in schema.json: {extra}")
                features, report = transform(chunk, schema)
                for name, count in report.unseen_categories.items():
                    unseen[name] = unseen.get(name, 0) + count
                for name, count in report.infinite_values.items():
                    infinite[name] = infinite.get(name, 0) + count
                features.insert(0, ID_COLUMN, inference_ids(chunk, id_columns, relative, rows + 1, prefix).to_numpy())
                sink.write(to_csv_text(features, FLOAT_FORMAT))
                rows += len(features)
    except CsvError as exc:
        raise ComponentError(str(exc)) from exc
    except pd.errors.EmptyDataError as exc:
        raise ComponentError(f"{source} is empty; send a CSV file with a header row and data rows.") from exc
    except pd.errors.ParserError as exc:
        raise ComponentError(f"{source} is not a readable CSV file: {exc}") from exc
    except ValueError as exc:
        raise ComponentError(str(exc)) from exc
    return rows


def load_schema(artifacts: Path) -> DataSchema:
    """schema.json from the processing train artifacts, or a clear error."""
    try:
        return DataSchema.load(artifacts / "schema.json")
    except FileNotFoundError as exc:
        raise ComponentError(
            f"{exc}. Serve mode needs the artifacts written by processing train mode as its 'artifacts' input."
        ) from exc


if __name__ == "__main__":
    sys.exit(run_entrypoint("processing", {"train": train, "serve": serve}))
