"""The SageMaker container contract: paths under /opt/ml, failure reporting, staged outputs.

Entrypoints are the only callers. `OPT_ML_ROOT` re-roots every /opt/ml path, which is the
only difference between running inside a SageMaker container and running locally.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

OPT_ML_ROOT_ENV = "OPT_ML_ROOT"


class ComponentError(Exception):
    """An error whose message is fit for a person: what was wrong and what to do."""


def opt_ml() -> Path:
    """The container's /opt/ml, or $OPT_ML_ROOT when set."""
    return Path(os.environ.get(OPT_ML_ROOT_ENV, "/opt/ml"))


def processing_input(name: str) -> Path:
    """A Processing job input: /opt/ml/processing/input/<name>."""
    return opt_ml() / "processing" / "input" / name


def processing_output(name: str) -> Path:
    """A Processing job output: /opt/ml/processing/output/<name>."""
    return opt_ml() / "processing" / "output" / name


def training_channel(name: str) -> Path:
    """A Training job data channel: /opt/ml/input/data/<name>."""
    return opt_ml() / "input" / "data" / name


def model_dir() -> Path:
    """Where training writes the model, and where serving finds it unpacked."""
    return opt_ml() / "model"


def current_host() -> str:
    """This instance's name in a multi-instance job ("algo-1", ...), from resourceconfig.json.

    SageMaker Processing writes /opt/ml/config/resourceconfig.json on every instance; alone,
    or where the file is absent (a local run), the host is "algo-1".
    """
    path = opt_ml() / "config" / "resourceconfig.json"
    if not path.is_file():
        return "algo-1"
    try:
        host = json.loads(path.read_text("utf-8"))["current_host"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ComponentError(f"{path} is not SageMaker's resource config: {exc}") from exc
    if not isinstance(host, str) or not host or "/" in host:
        raise ComponentError(f"{path} names an unusable current_host: {host!r}")
    return host


def failure_file() -> Path:
    """SageMaker shows the first line of this file as the job's FailureReason."""
    return opt_ml() / "output" / "failure"


def read_hyperparameters() -> dict[str, str]:
    """hyperparameters.json as SageMaker writes it: every value a string."""
    path = opt_ml() / "input" / "config" / "hyperparameters.json"
    if not path.is_file():
        return {}
    try:
        values = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise ComponentError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(values, dict):
        raise ComponentError(f"{path} must hold a JSON object of hyperparameters")
    not_strings = sorted(k for k, v in values.items() if not isinstance(v, str))
    if not_strings:
        raise ComponentError(
            f"Hyperparameters {not_strings} in {path} are not strings; SageMaker passes every "
            "hyperparameter as a string, so quote the values."
        )
    return values


def csv_files(directory: Path, what: str, allow_none: bool = False) -> list[Path]:
    """The CSV files of an input directory, in a stable order; an error if there are none.

    `allow_none` is for one shard of a sharded job: with more instances than files, some
    instances receive no file at all, and that is not an error.
    """
    if not directory.is_dir():
        if allow_none:
            return []
        raise ComponentError(f"Input directory {directory} for {what} does not exist.")
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() == ".csv")
    if not files and not allow_none:
        present = sorted(p.name for p in directory.iterdir())[:10]
        raise ComponentError(
            f"No CSV file found in {directory} for {what} (found: {present or 'nothing'}). "
            "Point the job's input at a CSV file or a prefix of CSV files."
        )
    return files


def read_shard_summaries(component: str, producer: str, parse: Callable[[dict], Any]) -> list[tuple[Path, Any]]:
    """Every instance's summary in the merge job's 'summaries' input, parsed, in host order.

    `producer` names the sharded mode that wrote them, for the error a person reads.
    """
    directory = processing_input("summaries")
    paths = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if not paths:
        raise ComponentError(
            f"No shard summary in {directory}; the merge needs the {producer} step's 'summary' output."
        )
    shards = []
    for path in paths:
        try:
            shards.append((path, parse(json.loads(path.read_text("utf-8")))))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ComponentError(f"{path} is not a {component} shard summary: {exc}") from exc
    return shards


def read_csv_dir(directory: Path, what: str, **kwargs) -> pd.DataFrame:
    """Read and concatenate every CSV file of an input directory."""
    frames = []
    for path in csv_files(directory, what):
        try:
            frames.append(pd.read_csv(path, **kwargs))
        except pd.errors.EmptyDataError as exc:
            raise ComponentError(f"{path} is empty; {what} needs a CSV file with a header and rows.") from exc
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise ComponentError(f"{path} is not a readable CSV file: {exc}") from exc
    data = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if data.empty:
        raise ComponentError(f"{what} in {directory} has a header but no rows.")
    return data


@contextmanager
def staged_output(final_dir: Path) -> Iterator[Path]:
    """Write into a hidden staging folder and publish it only when the block succeeds.

    A failure leaves nothing in `final_dir`, so no partial output looks whole.
    """
    final_dir.mkdir(parents=True, exist_ok=True)
    staging = final_dir.parent / f".{final_dir.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for item in staging.iterdir():
        target = final_dir / item.name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        item.replace(target)
    staging.rmdir()


def run_entrypoint(component: str, modes: dict[str, Callable[[], None]], argv: list[str] | None = None) -> int:
    """Dispatch `train`/`serve` (as SageMaker appends them) and report failures its way."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in modes:
        print(f"usage: python -m <package>.components.{component} {{{'|'.join(modes)}}}", file=sys.stderr)
        return 2
    mode = args[0]
    try:
        modes[mode]()
    except ComponentError as exc:
        return _fail(f"{component} {mode}: {exc}")
    except Exception as exc:  # noqa: BLE001 - every failure must reach FailureReason
        traceback.print_exc()
        return _fail(f"{component} {mode}: unexpected {type(exc).__name__}: {exc}")
    return 0


def _fail(message: str) -> int:
    one_line = " ".join(message.split())
    path = failure_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(one_line[:1024] + "\n", "utf-8")
    print(f"ERROR {one_line}", file=sys.stderr)
    return 1
