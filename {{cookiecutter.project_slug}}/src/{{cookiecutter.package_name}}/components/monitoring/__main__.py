"""Entrypoint: python -m <package>.components.monitoring train|serve|summarize|merge (SageMaker Processing).

`serve` judges a production batch in one process. At scale the inference pipeline splits it
in two steps: `summarize` on N instances, each given a share of the files (ShardedByS3Key),
then `merge` on one, which reaches the decision serve would have reached on the whole batch.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from ... import channels
from ... import job_environment as job_env
from ...config import load_config
from ...container import (
    ComponentError,
    check_content_address,
    check_pinned,
    csv_files,
    current_host,
    job_time,
    processing_input,
    processing_output,
    read_csv_dir,
    read_shard_summaries,
    run_entrypoint,
    staged_output,
)
from ...csv_input import read_ahead, read_blocks
from ...data_schema import ID_COLUMN
from .baseline import baseline_is_consistent, build_baseline
from .drift_report import render_report
from .summary import (
    CategoricalSummary,
    Summary,
    empty_templates,
    merge_all,
    shard_from_json,
    shard_to_json,
    summarize,
)

# Thresholds a job may override (the inference pipeline passes them as parameters); unset or
# empty keeps what constraints.json recorded when the baseline was built.
THRESHOLD_OVERRIDES = {
    job_env.DRIFT_SIGNIFICANCE_LEVEL: ("significance_level", 0.0, 0.2),
    job_env.DRIFT_COMPARISON_THRESHOLD: ("comparison_threshold", 0.0, 1.0),
    job_env.DRIFT_CATEGORICAL_THRESHOLD: ("categorical_comparison_threshold", 0.0, 1.0),
    job_env.DRIFT_COMPLETENESS_TOLERANCE: ("completeness_tolerance", 0.0, 1.0),
}


def apply_threshold_overrides(constraints: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    """Override the recorded drift thresholds with the job's environment, checking each value."""
    config = constraints["monitoring_config"]["distribution_constraints"]
    for variable, (key, low, high) in THRESHOLD_OVERRIDES.items():
        text = environ.get(variable, "").strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError as exc:
            raise ComponentError(f"{variable}={text!r} is not a number.") from exc
        if not low < value <= high:
            raise ComponentError(f"{variable}={value} is outside ({low}, {high}].")
        config[key] = value
    return constraints


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", "utf-8")


def train() -> None:
    """Baseline statistics and constraints from the raw training data."""
    config = load_config()
    check_content_address(channels.RAW)
    data = read_csv_dir(processing_input(channels.RAW), "monitoring train")
    excluded = [config["data"]["target_column"], *config["data"]["id_columns"], ID_COLUMN]
    try:
        statistics, constraints = build_baseline(data, excluded_columns=excluded, settings=config["monitoring"])
    except ValueError as exc:
        raise ComponentError(str(exc)) from exc
    with staged_output(processing_output(channels.BASELINE)) as out:
        _write_json(out / "statistics.json", statistics)
        _write_json(out / "constraints.json", constraints)
    print(f"monitoring train: baseline of {len(data)} rows, {len(statistics['features'])} features")


def _read_baseline(directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The registered baseline (serve modes), once it is the one the manifest pins."""
    check_pinned("baseline", directory)
    try:
        statistics = json.loads((directory / "statistics.json").read_text("utf-8"))
        constraints = json.loads((directory / "constraints.json").read_text("utf-8"))
        baseline_is_consistent(statistics, constraints)
    except FileNotFoundError as exc:
        raise ComponentError(
            f"{exc.filename} not found. Serve mode needs the 'baseline' input written by monitoring train."
        ) from exc
    except (json.JSONDecodeError, KeyError, ValueError) as exc:
        raise ComponentError(f"The baseline in {directory} is unusable: {exc}") from exc
    return statistics, constraints


def _summarize_raw(
    templates: dict[str, Summary], allow_none: bool, phases: dict[str, float] | None = None
) -> tuple[dict[str, Summary], list[str]]:
    """Summaries of every CSV file of the 'raw' input, read chunk by chunk; `phases` gets the seconds of each part."""
    string_columns = {n: "string" for n, t in templates.items() if isinstance(t, CategoricalSummary)}
    merged: dict[str, Summary] = {}
    columns: list[str] = []
    phases = {} if phases is None else phases
    for path in csv_files(processing_input(channels.RAW), channels.MONITORING, allow_none=allow_none):
        started = time.perf_counter()
        try:  # the strict CSV rules are checked as the blocks are read
            for chunk in read_ahead(read_blocks(path, dtype=string_columns)):
                columns = columns or [str(c) for c in chunk.columns]
                merged = merge_all([merged, summarize(chunk, templates)])  # as it goes: memory stays flat
        except pd.errors.EmptyDataError as exc:
            raise ComponentError(f"{path} is empty; send a CSV file with a header row and data rows.") from exc
        except pd.errors.ParserError as exc:
            raise ComponentError(f"{path} is not a readable CSV file: {exc}") from exc
        phases["read and summarize"] = phases.get("read and summarize", 0.0) + time.perf_counter() - started
    return merged, columns


def _judge(
    production: dict[str, Summary], columns: list[str], statistics: dict[str, Any], constraints: dict[str, Any]
) -> None:
    """Compare the whole batch's summaries with the baseline; publish the report."""
    from .drift import compare  # SciPy's statistics: only where a decision is made

    if not production or all(s.present + s.missing == 0 for s in production.values()):
        raise ComponentError(f"Production data in {processing_input(channels.RAW)} has no rows to monitor.")
    violations, drift, production_statistics = compare(production, columns, statistics, constraints)
    with staged_output(processing_output(channels.REPORT)) as out:
        _write_json(out / "constraint_violations.json", {"violations": violations})
        _write_json(out / "drift.json", drift)
        _write_json(out / "statistics.json", production_statistics)
        report = render_report(drift, violations, "Data drift report", statistics, production_statistics)
        (out / "report.html").write_text(report, "utf-8")
    decision = "DRIFT in " + ", ".join(drift["drifted_features"]) if drift["drift_detected"] else "no drift"
    print(f"monitoring: {drift['n_production']} rows, {len(violations)} violation(s), {decision}")


def serve() -> None:
    """Summarize production data chunk by chunk, then judge it against the baseline."""
    statistics, constraints = _read_baseline(processing_input(channels.BASELINE))
    constraints = apply_threshold_overrides(constraints, dict(os.environ))
    phases: dict[str, float] = {}
    production, columns = _summarize_raw(empty_templates(statistics), allow_none=False, phases=phases)
    started = time.perf_counter()
    _judge(production, columns, statistics, constraints)
    phases["compare and report"] = time.perf_counter() - started
    print("monitoring serve: seconds " + ", ".join(f"{name} {value:.3f}" for name, value in phases.items()))


def summarize_shard() -> None:
    """One instance of a sharded job: summarize its share of the production files.

    Writes summary/<host>.json, which the merge mode combines; with more instances than
    files, an instance with no file writes an empty summary.
    """
    statistics, _ = _read_baseline(processing_input(channels.BASELINE))
    production, columns = _summarize_raw(empty_templates(statistics), allow_none=True)
    host = current_host()
    with staged_output(processing_output(channels.SUMMARY)) as out:
        _write_json(out / f"{host}.json", shard_to_json(production, columns))
    rows = max((s.present + s.missing for s in production.values()), default=0)
    print(f"monitoring summarize: {host} summarized {rows} rows")


def merge() -> None:
    """Combine every shard's summary and judge the whole batch, exactly as serve would."""
    statistics, constraints = _read_baseline(processing_input(channels.BASELINE))
    constraints = apply_threshold_overrides(constraints, dict(os.environ))
    parts, columns = [], []
    for path, (summaries, shard_columns) in read_shard_summaries(channels.MONITORING, "summarize", shard_from_json):
        if shard_columns and columns and shard_columns != columns:
            raise ComponentError(
                f"{path.name} has columns {shard_columns[:5]}... but another shard has {columns[:5]}...; "
                "every file of one batch must have the same header."
            )
        columns = columns or shard_columns
        parts.append(summaries)
    _judge(merge_all(parts), columns, statistics, constraints)


def _model_texts(names: list[str]) -> dict[str, str]:
    """The text of small files in the training job's model.tar.gz (the 'model' input)."""
    import tempfile

    from ...container import safe_extract

    archive = processing_input(channels.MODEL) / "model.tar.gz"
    if not archive.is_file():
        raise ComponentError(f"{archive} not found: the 'model' input must hold the training job's model.tar.gz.")
    check_pinned("model", archive)
    texts, missing = {}, []
    with tempfile.TemporaryDirectory(prefix="model-") as folder:
        for name in names:
            try:
                safe_extract(archive, Path(folder), names=[name])
            except KeyError:  # not in the archive
                missing.append(name)
            else:
                texts[name] = (Path(folder) / name).read_text("utf-8")
    if missing:
        raise ComponentError(
            f"{archive} has no {', '.join(missing)}: it comes from a training run older than model-quality "
            "monitoring. Retrain to get an estimate."
        )
    return texts


def estimate() -> None:
    """The batch's performance estimated before its labels arrive (CBPE), and its scored predictions kept.

    Reads the Transform's output (`inference_id,label,probability` per row, or
    `inference_id,prediction` for regression) and the model's calibration.json. Writes
    estimate.json, and under the `scored` output the batch's predictions with a header plus
    run.json (run id, scoring time, rows, the estimate): what the model-quality job joins with
    labels later. Regression, and a model whose calibration check failed at training, get an
    estimate.json that says why there is no estimate.
    """
    from ...data_schema import DataSchema
    from .estimate import estimate_batch
    from .scored import PREDICTION_COLUMNS, read_transform_output

    texts = _model_texts(["schema.json", "calibration.json"])
    schema = DataSchema.from_dict(json.loads(texts["schema.json"]))
    calibration = json.loads(texts["calibration.json"])
    scored_at = job_time(job_env.SCORED_AT)
    header = PREDICTION_COLUMNS["regression" if schema.classes is None else "classification"]
    try:
        lines, frames = read_transform_output(processing_input(channels.PREDICTIONS), header)
        outcome = estimate_batch(schema.problem_type, schema.classes, frames, calibration)
    except ValueError as exc:
        raise ComponentError(str(exc)) from exc
    rows = sum(text.count("\n") for text in lines)
    run = {
        "run_id": os.environ.get(job_env.RUN_ID, "") or scored_at.strftime("run-%Y%m%d%H%M%S"),
        "scored_at": scored_at.isoformat(),
        "rows": rows,
        "columns": header,
        "estimate": outcome,
    }
    with staged_output(processing_output(channels.ESTIMATE)) as out:
        _write_json(out / "estimate.json", outcome)
    with staged_output(processing_output(channels.SCORED)) as out:
        (out / "predictions.csv").write_text(",".join(header) + "\n" + "".join(lines), "utf-8")
        _write_json(out / "run.json", run)
    if outcome["estimated"]:
        shown = ", ".join(f"{k} {v:.3f}" for k, v in outcome["metrics"].items())
        print(f"monitoring estimate: {rows} rows, estimated {shown}")
    else:
        print(f"monitoring estimate: {rows} rows, no estimate ({outcome['reason']})")


def _offset(environ: dict[str, str], variable: str, default: str) -> Any:
    from .model_quality import parse_offset

    text = environ.get(variable, "").strip() or default
    try:
        return parse_offset(text)
    except ValueError as exc:
        raise ComponentError(f"{variable}: {exc}") from exc


def quality() -> None:
    """Model quality: the window's predictions joined with the labels that have landed, judged.

    Inputs: `predictions` (every run's kept predictions, from estimate mode), `labels`
    (labels/yyyy/mm/dd/hh/*.csv) and `model` (its schema and quality_constraints.json). The
    window is QUALITY_START_OFFSET to QUALITY_END_OFFSET of scoring time before
    EVALUATION_TIME (the execution's start). Writes, under `quality`: statistics.json and
    constraint_violations.json in Model Monitor's model-quality formats, quality.json (the
    summary a pipeline condition reads) and report.html. With fewer than
    QUALITY_MIN_LABELLED_ROWS labelled rows nothing is judged, and quality.json says so.
    """
    from ...data_schema import DataSchema
    from . import model_quality as q
    from .model_quality_report import render_quality_report
    from .scored import read_predictions, scored_batches

    environ = dict(os.environ)
    config = load_config()
    target, problem_type = config["data"]["target_column"], config["data"]["problem_type"]
    texts = _model_texts(["schema.json", "quality_constraints.json"])
    schema = DataSchema.from_dict(json.loads(texts["schema.json"]))
    constraints = json.loads(texts["quality_constraints.json"])
    defaults = config["quality"]
    start = _offset(environ, job_env.QUALITY_START_OFFSET, defaults["start_offset"])
    end = _offset(environ, job_env.QUALITY_END_OFFSET, defaults["end_offset"])
    if start >= end:
        raise ComponentError(
            f"The window starts ({start}) at or after it ends ({end}); the start offset must be earlier."
        )
    minimum_text = environ.get(job_env.QUALITY_MIN_LABELLED_ROWS, "").strip() or str(defaults["min_labelled_rows"])
    if not minimum_text.isdigit() or int(minimum_text) < 1:
        raise ComponentError(f"QUALITY_MIN_LABELLED_ROWS={minimum_text!r} must be a whole number of at least 1.")
    window = q.Window(job_time(job_env.EVALUATION_TIME), start, end)
    try:
        scored = scored_batches(processing_input(channels.PREDICTIONS))
        runs = [batch for batch in scored if window.begins <= batch.scored_at < window.ends]
        predictions = read_predictions(runs, problem_type)
        labels = q.landed_labels(processing_input(channels.LABELS), target, problem_type)
    except ValueError as exc:  # a CsvError among them
        raise ComponentError(str(exc)) from exc
    judged = q.judge(predictions, labels, runs, window, schema, target, constraints, int(minimum_text))
    summary, violations = judged.summary, judged.violations
    with staged_output(processing_output(channels.QUALITY)) as out:
        _write_json(out / "statistics.json", judged.statistics_file)
        _write_json(out / "constraint_violations.json", {"violations": violations})
        _write_json(out / "quality.json", summary)
        report = render_quality_report(summary, judged.statistics, constraints, judged.outcomes)
        (out / "report.html").write_text(report, "utf-8")
    shown = ", ".join(f"{k} {v:.3f}" for k, v in summary["metrics"].items()) or "no metrics"
    verdict = "VIOLATED " + ", ".join(summary["violations"]) if violations else summary["status"]
    print(
        f"monitoring quality: {len(runs)} run(s), {summary['join']['predictions_in_window']} predictions, "
        f"{summary['labelled_rows']} labelled ({summary['coverage']:.0%}); {shown}; {verdict}"
    )


if __name__ == "__main__":
    modes = {
        "train": train,
        "serve": serve,
        "summarize": summarize_shard,
        "merge": merge,
        "estimate": estimate,
        "quality": quality,
    }
    sys.exit(run_entrypoint(channels.MONITORING, modes))
