"""The files of retraining data: a base set read, the kept inputs of inference runs, a set written.

The decisions are `retraining.py`'s; this module only reads and writes. Kept inputs are what
processing serve writes for each inference run, under `inputs/<execution id>/`: the raw rows
it scored, each after its inference id, and one `run-<host>.json` per instance that scored.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ...container import csv_files
from ...csv_input import check_file
from ...data_schema import ID_COLUMN
from ...registry.digests import content_digest
from .retraining import LINEAGE_FILE, PRODUCTION, KeptBatch, Plan, Source, read_lineage, upload_sources

RUN_RECORD = "run-{host}.json"


def read_text_csv(path: Path) -> pd.DataFrame:
    """A CSV as text, exactly as written (an empty field is missing): what a set carries on unchanged."""
    check_file(path)
    return pd.read_csv(path, dtype="string", keep_default_na=False, na_values=[""])


def count_rows(path: Path) -> int:
    """A CSV file's data rows, by the strict rules (which count records, not lines), reading one column."""
    check_file(path)
    return len(pd.read_csv(path, usecols=[0], dtype="string", keep_default_na=False))


def base_sources(folder: Path, count: bool = True) -> tuple[list[Source], dict[str, Path]]:
    """A base set's sources, and where each file of the set is now.

    An assembled set lists its sources in lineage.json; an uploaded one (no lineage.json) is
    every CSV file, moved under base/ when the set is rebuilt, its rows counted (`count`; a set
    left as it is needs no count, and gets -1).
    """
    lineage = folder / LINEAGE_FILE
    if lineage.is_file():
        sources = read_lineage(lineage.read_text("utf-8"))
        missing = [s.file for s in sources if not (folder / s.file).is_file()]
        if missing:
            raise ValueError(f"{lineage} lists {missing[:3]}, which the set does not hold: it is not whole.")
        return sources, {s.file: folder / s.file for s in sources}
    files = csv_files(folder, "the base training set")
    relative = {p.relative_to(folder).as_posix(): p for p in files}
    sources = upload_sources({name: count_rows(path) if count else -1 for name, path in relative.items()})
    return sources, {s.file: relative[s.file.split("/", 1)[1]] for s in sources}


def trained_ids(sources: list[Source], origin: dict[str, Path], runs: set[str]) -> set[tuple[str, str]]:
    """(run, inference id) of every row the base holds of `runs`: rows the serving model trained on."""
    found: set[tuple[str, str]] = set()
    for source in sources:
        if source.kind == PRODUCTION and source.run_id in runs:
            ids = read_text_csv(origin[source.file])[ID_COLUMN]
            found |= {(source.run_id, str(i)) for i in ids}
    return found


def kept_batches(root: Path, begins: datetime, ends: datetime) -> list[KeptBatch]:
    """The inference runs under `root` (inputs/<execution>/) scored in [begins, ends), with their kept rows."""
    runs = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        records = sorted(folder.glob(RUN_RECORD.format(host="*")))
        if not records:
            continue
        try:
            record = json.loads(records[0].read_text("utf-8"))
            scored_at = datetime.fromisoformat(record["scored_at"]).astimezone(UTC)
            run_id = str(record["run_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{records[0]} is not a kept run's record (run_id and scored_at): {exc}") from exc
        if not begins <= scored_at < ends:
            continue
        frames = [read_text_csv(path) for path in csv_files(folder, "a kept input", allow_none=True)]
        rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({ID_COLUMN: []}, dtype="string")
        runs.append(KeptBatch(run_id, scored_at, rows))
    return runs


# Left in the set's place when the set is the base and the base already lies under its digest: the
# snapshot step then copies nothing (a training run on a `data snapshot` reads it where it is).
UNCHANGED = ".unchanged"


def write_set(plan: Plan, origin: dict[str, Path], base: Path, out: Path, in_place: str = "") -> None:
    """The assembled set into `out`: the base itself when nothing changed, else the plan's files and lineage.

    `in_place`: the digest the base's URI is named by, when it is the base's own; an unchanged
    set is then only a note that it is already there.
    """
    if plan.unchanged and in_place and in_place == set_digest(base):
        (out / UNCHANGED).write_text(in_place, "utf-8")
        return
    if plan.unchanged:
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            target = out / path.relative_to(base)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        return
    for name in plan.carried:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin[name], out / name)
    for name, keep in plan.trimmed.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        read_text_csv(origin[name]).tail(keep).to_csv(out / name, index=False)
    for name, frame in plan.written.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out / name, index=False)
    (out / LINEAGE_FILE).write_text(json.dumps(plan.lineage(), indent=1, sort_keys=True) + "\n", "utf-8")


def set_digest(folder: Path) -> str:
    """The sha256 a set's snapshot prefix is named by: one file's, or the listing's (as `data snapshot` names it)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if not files:
        raise ValueError(f"{folder} holds no file.")
    if len(files) == 1:
        return content_digest(files)
    return content_digest(files, [p.relative_to(folder).as_posix() for p in files])
