"""Entrypoint: python -m <package>.components.processing train|serve (SageMaker Processing)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from ... import channels
from ... import job_environment as job_env
from ...config import load_config, parse_offset
from ...container import (
    SNAPSHOT,
    ComponentError,
    check_content_address,
    check_pinned,
    csv_files,
    current_host,
    job_time,
    processing_input,
    processing_output,
    read_csv_files,
    run_entrypoint,
    staged_output,
)
from ...csv_input import read_ahead, read_blocks
from ...csv_output import to_csv_text, write_csv
from ...data_schema import ID_COLUMN, DataSchema
from ...ground_truth import landed_labels
from . import retraining, retraining_files
from .preprocess import (
    check_columns,
    fit,
    inference_ids,
    learn_preparation,
    row_keys,
    split,
    to_training_matrix,
    transform,
)

FLOAT_FORMAT = "%.15g"  # round-trips every float64 the model sees


def train() -> None:
    """Learn schema and encoding from raw training data; write train/validation and artifacts."""
    config = load_config()
    check_content_address(channels.RAW)
    frames = read_csv_files(processing_input(channels.RAW), "processing train")
    seed, target = config["processing"]["seed"], config["data"]["target_column"]
    # Each file's rows keyed on their own: a row keeps its side of the split whatever else the set holds.
    # A production row's inference id is no value of the row: its execution's id is random, and would
    # move the row between sides from one execution of the same data to the next.
    keys = np.concatenate([row_keys(frame.drop(columns=[ID_COLUMN], errors="ignore"), seed) for frame in frames])
    raw = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if raw.empty:
        raise ComponentError(f"processing train in {processing_input(channels.RAW)} has a header but no rows.")
    try:
        schema, labelled = fit(
            raw,
            target,
            config["data"]["problem_type"],
            id_columns=config["data"]["id_columns"],
            max_categories=config["processing"]["max_categories"],
            positive_class=config["data"].get("positive_class"),
        )
        labelled_keys = keys[raw[target].notna().to_numpy()]
        train_rows, validation_rows = split(
            labelled, schema, config["processing"]["validation_fraction"], seed, keys=labelled_keys
        )
        train_matrix = to_training_matrix(train_rows, schema)
        schema = learn_preparation(train_matrix, schema)
        validation_matrix = to_training_matrix(validation_rows, schema)
    except ValueError as exc:
        raise ComponentError(str(exc)) from exc

    with ExitStack() as stack:
        train_dir = stack.enter_context(staged_output(processing_output(channels.TRAIN)))
        validation_dir = stack.enter_context(staged_output(processing_output(channels.VALIDATION)))
        artifacts_dir = stack.enter_context(staged_output(processing_output(channels.ARTIFACTS)))
        evaluation_dir = stack.enter_context(staged_output(processing_output(channels.EVALUATION)))
        for matrix, path in (
            (train_matrix, train_dir / "train.csv"),
            (validation_matrix, validation_dir / "validation.csv"),
        ):
            with path.open("w", encoding="utf-8", newline="") as sink:
                write_csv(matrix, sink, FLOAT_FORMAT)
        schema.save(artifacts_dir / "schema.json")
        # The validation rows as they came, for the gate: every model scores them its own way.
        validation_rows.to_csv(evaluation_dir / "validation.csv", index=False)
    for warning in schema.warnings:
        print(f"WARNING {warning}", flush=True)
    print(
        f"processing train: {len(raw)} rows in, {len(train_matrix)} train / {len(validation_matrix)} "
        f"validation, {len(schema.features)} features "
        f"({sum(schema.categorical_mask)} categorical), target '{schema.target}'"
    )


def serve() -> None:
    """Apply the learned encoding to production data in chunks, keeping row order.

    Each input row is kept too, as it came (its schema columns, after its inference id), with
    the run's record: what a retrain rebuilds labelled rows from (see retraining.py).
    """
    schema = load_schema(check_pinned("preprocessing", processing_input(channels.ARTIFACTS)))
    raw = processing_input(channels.RAW)
    inputs = csv_files(raw, "processing serve")
    run_id = os.environ.get(job_env.INFERENCE_ID_PREFIX) or "run"
    total = 0
    unseen: dict[str, int] = {}
    infinite: dict[str, int] = {}
    with ExitStack() as stack:
        out_dir = stack.enter_context(staged_output(processing_output(channels.PROCESSED)))
        kept_dir = stack.enter_context(staged_output(processing_output(channels.KEPT)))
        for path in inputs:
            # The input's own relative path: files of the same name in different folders stay apart.
            relative = path.relative_to(raw)
            for folder in (out_dir, kept_dir):
                (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            total += _transform_file(path, out_dir / relative, kept_dir / relative, schema, unseen, infinite)
        if total == 0:  # inside the block: an empty result is not published
            raise ComponentError(f"Production data in {processing_input(channels.RAW)} has a header but no rows.")
        record = {"run_id": run_id, "scored_at": job_time(job_env.SCORED_AT).isoformat(), "rows": total}
        (kept_dir / retraining_files.RUN_RECORD.format(host=current_host())).write_text(json.dumps(record), "utf-8")
    for name, count in unseen.items():
        print(f"WARNING column '{name}': {count} value(s) outside the learned categories, encoded as missing")
    for name, count in infinite.items():
        print(f"WARNING column '{name}': {count} infinite value(s), encoded as missing")
    print(f"processing serve: {total} rows processed from {len(inputs)} file(s)")


def _transform_file(
    source: Path, target: Path, kept: Path, schema: DataSchema, unseen: dict[str, int], infinite: dict[str, int]
) -> int:
    """Processed rows of one file, each after its inference id (see `inference_ids`); and the rows kept as read."""
    rows = 0
    id_columns = load_config()["data"]["id_columns"]
    prefix = os.environ.get(job_env.INFERENCE_ID_PREFIX) or "run"
    relative = str(source.relative_to(processing_input(channels.RAW)))
    try:  # the strict CSV rules are checked as the blocks are read
        categorical = {f.name: "string" for f in schema.features if f.kind == "categorical"}
        with target.open("w", encoding="utf-8", newline="") as sink, kept.open("wb") as keep:
            for chunk in read_ahead(read_blocks(source, dtype=categorical)):
                if rows == 0:
                    extra = check_columns(chunk, schema, learned_on=f"production data {source.name}")
                    if extra:
                        print(f"WARNING ignoring column(s) not in schema.json: {extra}")
                    columns = [*schema.feature_names, *(c for c in id_columns if c in chunk.columns)]
                features, report = transform(chunk, schema)
                for name, count in report.unseen_categories.items():
                    unseen[name] = unseen.get(name, 0) + count
                for name, count in report.infinite_values.items():
                    infinite[name] = infinite.get(name, 0) + count
                ids = inference_ids(chunk, id_columns, relative, rows + 1, prefix).to_numpy()
                features.insert(0, ID_COLUMN, ids)
                sink.write(to_csv_text(features, FLOAT_FORMAT))
                keep_rows(chunk[columns], ids, keep, header=rows == 0)
                rows += len(features)
    except pd.errors.EmptyDataError as exc:
        raise ComponentError(f"{source} is empty; send a CSV file with a header row and data rows.") from exc
    except pd.errors.ParserError as exc:
        raise ComponentError(f"{source} is not a readable CSV file: {exc}") from exc
    except ValueError as exc:
        raise ComponentError(str(exc)) from exc
    return rows


def keep_rows(frame: pd.DataFrame, ids: np.ndarray, sink: BinaryIO, header: bool) -> None:
    """The rows as read, after their inference id, as CSV: pyarrow's writer, ten times pandas' speed.

    Numbers are written in their shortest form that reads back exactly, a missing value as an
    empty field, and text quoted.
    """
    import pyarrow as pa
    import pyarrow.csv as arrow_csv

    table = pa.Table.from_pandas(frame.assign(**{ID_COLUMN: ids})[[ID_COLUMN, *frame.columns]], preserve_index=False)
    arrow_csv.write_csv(table, sink, arrow_csv.WriteOptions(include_header=header, quoting_style="needed"))


def assemble() -> None:
    """Retraining data: the base set grown by the window's labelled production rows (see retraining.py).

    Inputs: `base` (the serving model's training set), `inputs` (the inference runs' kept
    inputs) and `labels`. Outputs: `set` (the assembled set, to be snapshotted by its
    digest), `holdout` (the newest new rows, for the gate) and `dataset` (dataset.json: the
    digest, the counts, and the lineage the manifest records). With no kept input or label
    (the defaults of a training run on given data), the set is the base, byte for byte.
    """
    config = load_config()
    target = config["data"]["target_column"]
    now = job_time(job_env.ASSEMBLED_AT)
    text = os.environ.get(job_env.RETRAINING_WINDOW, "").strip() or config["retraining"]["window"]
    base = processing_input(channels.BASE)
    try:
        window = parse_offset(text)
    except ValueError as exc:
        raise ComponentError(f"RETRAINING_WINDOW: {exc}") from exc
    if window >= timedelta(0):
        raise ComponentError(f"RETRAINING_WINDOW={text!r} must reach back in time, like -P30D.")
    try:
        base_rows = os.environ.get(job_env.BASE_ROWS, "").strip() or "keep"
        policy = retraining.Policy.from_config(config["retraining"], window, base_rows)
        runs = retraining_files.kept_batches(processing_input(channels.INPUTS), now + window, now)
        labels = landed_labels(processing_input(channels.LABELS), target, config["data"]["problem_type"])
        labelled, join = retraining.labelled_rows(runs, labels, target, now, window)
        # Nothing labelled to add: the set is the base as it is, and its rows need no counting.
        sources, origin = retraining_files.base_sources(base, count=len(labelled) > 0)
        window_runs = set(labelled[retraining.RUN_COLUMN]) if len(labelled) else set()
        trained = retraining_files.trained_ids(sources, origin, window_runs)
        plan = retraining.plan(sources, trained, labelled, policy, now)
    except ValueError as exc:  # a CsvError among them
        raise ComponentError(str(exc)) from exc
    base_uri = os.environ.get(job_env.INPUT_DATA, "")
    match = SNAPSHOT.search(base_uri)
    with ExitStack() as stack:
        set_dir = stack.enter_context(staged_output(processing_output(channels.SET)))
        holdout_dir = stack.enter_context(staged_output(processing_output(channels.HOLDOUT)))
        dataset_dir = stack.enter_context(staged_output(processing_output(channels.DATASET)))
        # The base already lies where its snapshot would go: no copy of it (see retraining_files.UNCHANGED).
        snapshots = os.environ.get(job_env.SNAPSHOT_PREFIX, "")
        in_place = match and base_uri.rstrip("/") == f"{snapshots}sha256={match.group(1)}"
        retraining_files.write_set(plan, origin, base, set_dir, match.group(1) if in_place else "")
        holdout = plan.holdout if len(plan.holdout.columns) else pd.DataFrame(columns=[ID_COLUMN, target])
        holdout.to_csv(holdout_dir / "holdout.csv", index=False)
        lineage = None
        if not plan.unchanged:
            lineage = retraining.manifest_lineage(plan, base_uri, match.group(1) if match else "", join, now, window)
        unchanged = set_dir / retraining_files.UNCHANGED
        dataset = {
            "sha256": unchanged.read_text("utf-8") if unchanged.is_file() else retraining_files.set_digest(set_dir),
            "unchanged": plan.unchanged,
            **{k: v for k, v in plan.report.items() if k != "holdout_runs"},
            "join": join,
            # A string, so that the Register step can take it whole (JsonGet hands on a value).
            "lineage": json.dumps(lineage, separators=(",", ":")) if lineage else "",
        }
        (dataset_dir / "dataset.json").write_text(json.dumps(dataset, indent=1) + "\n", "utf-8")
    what = "the base unchanged" if plan.unchanged else f"{plan.report['new_rows']} new labelled row(s)"
    # An unchanged base is not read again, so a plain file's rows are not known here.
    rows = "the base's rows" if plan.report["rows"] is None else f"{plan.report['rows']} rows"
    print(
        f"processing assemble: {rows} ({what}; {len(plan.holdout)} held out), "
        f"{join['labelled']} labelled in {join['runs_in_window']} run(s) of the window; sha256 {dataset['sha256']}"
    )


def snapshot() -> None:
    """Publish the assembled set under the prefix its content names (SNAPSHOT_URI: .../sha256=<digest>/).

    The digest is checked before anything is written: a snapshot is only ever what it is named.
    """
    uri = os.environ.get(job_env.SNAPSHOT_URI, "")
    match = SNAPSHOT.search(uri)
    if match is None:
        raise ComponentError(f"SNAPSHOT_URI={uri!r} names no sha256=<digest>/ prefix.")
    source = processing_input(channels.SET)
    unchanged = source / retraining_files.UNCHANGED
    if unchanged.is_file():  # the base, already under its digest: nothing to copy
        if unchanged.read_text("utf-8").strip() != match.group(1):
            raise ComponentError(f"The set in {source} is the base of another digest than {uri} names.")
        processing_output(channels.SNAPSHOT).mkdir(parents=True, exist_ok=True)
        print(f"processing snapshot: {uri} holds the set already")
        return
    try:
        found = retraining_files.set_digest(source)
    except ValueError as exc:
        raise ComponentError(str(exc)) from exc
    if found != match.group(1):
        raise ComponentError(f"The set in {source} has sha256 {found}, not the {match.group(1)} of {uri}.")
    with staged_output(processing_output(channels.SNAPSHOT)) as out:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            (out / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out / path.relative_to(source))
    print(f"processing snapshot: {uri}")


def load_schema(artifacts: Path) -> DataSchema:
    """schema.json from the processing train artifacts, or a clear error."""
    try:
        return DataSchema.load(artifacts / "schema.json")
    except FileNotFoundError as exc:
        raise ComponentError(
            f"{exc}. Serve mode needs the artifacts written by processing train mode as its 'artifacts' input."
        ) from exc


if __name__ == "__main__":
    modes = {"train": train, "serve": serve, "assemble": assemble, "snapshot": snapshot}
    sys.exit(run_entrypoint(channels.PROCESSING, modes))
