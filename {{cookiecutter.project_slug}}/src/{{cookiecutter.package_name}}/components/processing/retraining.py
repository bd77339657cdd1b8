"""Retraining data: the serving model's training set, grown by the production rows whose labels landed.

A retrain learns from a set assembled here (processing's `assemble` mode; the entrypoint reads
and writes the files, this module decides):

    base/<path>                       the rows of an uploaded training set, as they were
    production/<scored>-<run id>.csv  one inference run's labelled rows: inference_id, the raw
                                      features it was scored on (as processing serve kept them),
                                      and the label (the latest to arrive wins)
    lineage.json                      every file's origin: kind, rows, run, scoring time, label files

The window's runs are rebuilt from their kept inputs and the labels landed by now, replacing
what the base held of them; rows the serving model never trained on are new, and the most
recent of them (by scoring time) are held out for the champion-challenger gate. Rows scored
before the window stay as the base holds them, or leave it (`base_rows: age_out`), and
`max_rows` caps the set, the oldest rows leaving first.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ...data_schema import ID_COLUMN
from ...ground_truth import LABEL_FILE, latest_labels

LINEAGE_FILE = "lineage.json"
UPLOAD, PRODUCTION = "upload", "production"
UPLOAD_FOLDER, PRODUCTION_FOLDER = "base", "production"
RUN_COLUMN, SCORED_COLUMN = "_run_id", "_scored_at"
BASE_ROWS = ("keep", "age_out")


@dataclass
class Policy:
    """config/project.yaml's `retraining` section, parsed."""

    window: timedelta  # negative: rows scored from now + window on join the set
    base_rows: str = "keep"  # keep: the set grows (capped); age_out: only the window's rows stay
    max_rows: int = 1_000_000
    holdout_fraction: float = 0.2

    @classmethod
    def from_config(cls, settings: dict[str, Any], window: timedelta, base_rows: str) -> Policy:
        if base_rows not in BASE_ROWS:
            raise ValueError(f"BASE_ROWS is {base_rows!r}; choose one of {', '.join(BASE_ROWS)}.")
        return cls(window, base_rows, int(settings["max_rows"]), float(settings["holdout_fraction"]))


@dataclass
class Source:
    """One file of an assembled set, and where its rows came from."""

    file: str
    kind: str  # upload or production
    rows: int
    run_id: str = ""
    scored_at: str = ""
    labels: list[str] = field(default_factory=list)  # the labels files its rows' labels came from


@dataclass
class KeptBatch:
    """One kept batch, an inference execution's input: inference_id and the raw columns scored, as text."""

    run_id: str
    scored_at: datetime
    rows: pd.DataFrame


@dataclass
class Plan:
    """What the assembled set holds: files carried from the base, trimmed, and written anew; the holdout."""

    sources: list[Source]
    carried: list[str]  # base files copied byte for byte
    trimmed: dict[str, int]  # base upload file -> how many of its last rows stay
    written: dict[str, pd.DataFrame]  # new production files
    holdout: pd.DataFrame
    report: dict[str, Any]

    @property
    def unchanged(self) -> bool:
        """Nothing added, dropped or trimmed: the set is the base itself, byte for byte."""
        return not self.written and not self.trimmed and self.report["dropped_files"] == 0

    def lineage(self) -> dict[str, Any]:
        """lineage.json: a function of the set's content alone (no clock), so equal sets have equal digests."""
        return {"version": 1, "rows": sum(s.rows for s in self.sources), "sources": [asdict(s) for s in self.sources]}


def production_file(run_id: str, scored_at: datetime) -> str:
    """production/<yyyymmddThhmmssZ>-<run id>.csv: sorted by name is sorted by scoring time."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    return f"{PRODUCTION_FOLDER}/{scored_at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{safe}.csv"


def labelled_rows(
    runs: list[KeptBatch], labels: pd.DataFrame, target: str, now: datetime, window: timedelta
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The window's kept rows that have a label by `now`, each with the latest one; and what the join found.

    Runs scored in [now + window, now) count. A label names an inference id; with
    `data.id_columns` one id can be scored by several runs, and the label then goes to the
    row scored last before it arrived (the features the outcome followed), else the last one.
    Labels for ids no run in the window kept are counted as unknown and left out.
    """
    in_window = [run for run in runs if now + window <= run.scored_at < now]
    latest, dropped = latest_labels(labels, target, now)
    frames = [run.rows.assign(**{RUN_COLUMN: run.run_id, SCORED_COLUMN: run.scored_at}) for run in in_window]
    kept = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({ID_COLUMN: pd.Series(dtype="string")})
    if RUN_COLUMN not in kept:
        kept = kept.assign(**{RUN_COLUMN: pd.Series(dtype="string"), SCORED_COLUMN: pd.Series(dtype=object)})
    kept = kept.assign(_order=np.arange(len(kept)))
    joined = kept.merge(latest[[ID_COLUMN, target, "arrived_at", LABEL_FILE]], on=ID_COLUMN, how="inner")
    if len(joined):
        scored = pd.to_datetime(joined[SCORED_COLUMN], utc=True)
        before = scored <= joined["arrived_at"] + pd.Timedelta(hours=1)  # labels are dated by their hour
        joined = joined.assign(_before=before, _scored=scored).sort_values(["_before", "_scored", "_order"])
        joined = joined.drop_duplicates(ID_COLUMN, keep="last").sort_values("_order")
    joined = joined.drop(columns=[c for c in ("_before", "_scored", "arrived_at") if c in joined]).reset_index(
        drop=True
    )
    report = {
        "runs_in_window": len(in_window),
        "rows_in_window": int(sum(len(run.rows) for run in in_window)),
        "labelled": len(joined),
        "labels_for_unknown_ids": int((~latest[ID_COLUMN].isin(kept[ID_COLUMN])).sum()),
        **dropped,
    }
    return joined, report


def plan(
    base: list[Source],
    trained: set[tuple[str, str]],
    labelled: pd.DataFrame,
    policy: Policy,
    now: datetime,
) -> Plan:
    """Decide the set: the base's files, the window's runs rebuilt, the newest rows held out, the policy applied.

    `base` lists the base set's files; `trained` the (run, inference id) pairs its production
    files hold, which the serving model trained on; `labelled` the window's labelled rows (see
    `labelled_rows`). Only rows the serving model never saw can be held out. With no labelled
    row the set is the base as it is: nothing is added, and nothing ages out or is capped.
    """
    if not len(labelled):
        report = {"new_rows": 0, "holdout_rows": 0, "relabelled_rows": 0, "rebuilt_files": 0, "dropped_files": 0}
        rows = sum(s.rows for s in base) if all(s.rows >= 0 for s in base) else None
        holdout = pd.DataFrame()
        return Plan(list(base), [s.file for s in base], {}, {}, holdout, report | {"rows": rows, "holdout_runs": {}})
    window_runs = set(labelled[RUN_COLUMN]) if len(labelled) else set()
    rebuilt = {s.file for s in base if s.kind == PRODUCTION and s.run_id in window_runs}
    keys = list(zip(labelled[RUN_COLUMN], labelled[ID_COLUMN], strict=True)) if len(labelled) else []
    new = np.array([key not in trained for key in keys], dtype=bool)
    holdout_mask = np.zeros(len(labelled), dtype=bool)
    count = int(np.floor(new.sum() * policy.holdout_fraction))
    if count:
        # The newest of the new rows: by scoring time, then by their order within a run.
        order = labelled.assign(_scored=pd.to_datetime(labelled[SCORED_COLUMN], utc=True), _row=np.arange(len(keys)))
        newest = order[new].sort_values(["_scored", "_row"]).index[-count:]
        holdout_mask[newest] = True
    training = labelled[~holdout_mask]
    written: dict[str, pd.DataFrame] = {}
    sources = [s for s in base if s.file not in rebuilt]
    for run_id, rows in training.groupby(RUN_COLUMN, sort=False):
        scored_at = pd.Timestamp(rows[SCORED_COLUMN].iloc[0]).to_pydatetime().astimezone(UTC)
        name = production_file(str(run_id), scored_at)
        written[name] = _production_frame(rows)
        used = sorted(set(rows[LABEL_FILE]))
        sources.append(Source(name, PRODUCTION, len(rows), str(run_id), scored_at.isoformat(), used))
    dropped = 0
    if policy.base_rows == "age_out":
        start = now + policy.window
        aged = [s for s in sources if s.kind == UPLOAD or datetime.fromisoformat(s.scored_at) < start]
        dropped += len(aged)
        sources = [s for s in sources if s not in aged]
    sources, trimmed, capped = _cap(sources, policy.max_rows)
    if not sources:
        raise ValueError(
            f"The retraining set would hold no rows: base_rows {policy.base_rows} drops every row scored before the "
            f"window, and the window holds {len(training)} labelled row(s) to train on. Land labels for the window's "
            "runs, widen retraining.window, or retrain with base_rows keep."
        )
    dropped += capped
    written = {name: frame for name, frame in written.items() if name in {s.file for s in sources}}
    sources = sorted((replace(s, rows=trimmed.get(s.file, s.rows)) for s in sources), key=lambda s: s.file)
    holdout = _production_frame(labelled[holdout_mask])
    held = labelled[holdout_mask][RUN_COLUMN].value_counts(sort=False) if len(labelled) else {}
    report = {
        "new_rows": int(new.sum()),
        "holdout_rows": len(holdout),
        "relabelled_rows": int((~new).sum()),
        "rebuilt_files": len(rebuilt),
        "dropped_files": dropped + len(rebuilt - set(written)),
        "rows": sum(s.rows for s in sources),
        "holdout_runs": {str(k): int(v) for k, v in dict(held).items()},
    }
    carried = [s.file for s in sources if s.file not in written and s.file not in trimmed]
    return Plan(sources, carried, trimmed, written, holdout, report)


def _cap(sources: list[Source], max_rows: int) -> tuple[list[Source], dict[str, int], int]:
    """Keep at most `max_rows` rows: the oldest leave first (uploads, then runs by scoring time).

    An upload file over the cap keeps its last rows; a production file leaves whole or stays.
    Returns the sources kept, the upload files trimmed (to how many rows), and how many left.
    """
    total = sum(s.rows for s in sources)
    if total <= max_rows:
        return sources, {}, 0
    oldest_first = sorted(sources, key=lambda s: (s.kind != UPLOAD, s.scored_at, s.file))
    kept, trimmed, dropped, excess = [], {}, 0, total - max_rows
    for source in oldest_first:
        if excess <= 0:
            kept.append(source)
        elif source.rows <= excess or source.kind != UPLOAD:
            excess -= source.rows
            dropped += 1
        else:
            trimmed[source.file] = source.rows - excess
            excess = 0
            kept.append(source)
    return kept, trimmed, dropped


def _production_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """A production file's columns: inference_id, the raw features, then the label (no join bookkeeping)."""
    internal = [RUN_COLUMN, SCORED_COLUMN, LABEL_FILE, "_order"]
    return rows.drop(columns=[c for c in internal if c in rows]).reset_index(drop=True)


def upload_sources(files: dict[str, int]) -> list[Source]:
    """The sources of an uploaded training set (no lineage.json): each CSV file, moved under base/."""
    return [Source(f"{UPLOAD_FOLDER}/{name}", UPLOAD, rows) for name, rows in sorted(files.items())]


def read_lineage(text: str) -> list[Source]:
    """The sources a set's lineage.json lists."""
    record = json.loads(text)
    return [Source(**entry) for entry in record["sources"]]


def manifest_lineage(
    plan_: Plan, base_uri: str, base_sha256: str, join: dict[str, Any], now: datetime, window: timedelta
) -> dict[str, Any]:
    """What the manifest records of a set: its base, each contributing run with its rows, the label files."""
    production = [s for s in plan_.sources if s.kind == PRODUCTION]
    files = sorted({name for s in production for name in s.labels})
    return {
        "base": {"uri": base_uri, "sha256": base_sha256},
        "window": {"start": (now + window).isoformat(), "end": now.isoformat()},
        "runs": {s.run_id: s.rows for s in production},
        "holdout": {"rows": len(plan_.holdout), "runs": plan_.report["holdout_runs"]},
        "labels": {
            "files": files,
            "count": len(files),
            "sha256": hashlib.sha256("\n".join(files).encode()).hexdigest(),
            "through": now.isoformat(),
        },
        "rows": {"total": plan_.report["rows"], "new": plan_.report["new_rows"]},
        "join": join,
    }
