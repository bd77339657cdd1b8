"""`local clean`: the disk finished runs hold, freed; what anything still reads, kept.

Each job runs in a sandbox holding a copy of its inputs, and each `local infer` snapshots its
input by digest. A run that has finished (or whose process is gone) and is older than the age
given loses:
- its job sandboxes' files: the copies of inputs and outputs. Its record (execution.json), its
  definition and its job logs (with any failure reason) stay, for `local retry` and for reading;
- the inference input snapshots that only such runs name: a run still kept, running or recent,
  keeps its own.

Also removed, whatever their age: staging folders and warm-start sockets whose process is gone.
Never touched: the published outputs under `s3/` (the artefacts the registry names, the step
cache's outputs, the kept predictions, inputs and labels, the training snapshots), and the
Parameter Store.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from . import warm
from .processes import running
from .workspace import Workspace

KEPT_IN_SANDBOXES = ("*.log", "failure", "message")  # what a person reads after the run: logs and reasons
SNAPSHOTS = "data/inference/sha256="


@dataclass
class Cleaned:
    """What `clean` removed (or, with dry_run, would remove)."""

    runs: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    staging: int = 0
    warm_sockets: int = 0
    freed_bytes: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "snapshots": self.snapshots,
            "staging": self.staging,
            "warm_sockets": self.warm_sockets,
            "freed_mb": round(self.freed_bytes / 2**20, 1),
        }


def _records(workspace: Workspace) -> list[tuple[Path, dict[str, Any] | None]]:
    """Every execution folder with its record (None when it cannot be read)."""
    found = []
    for folder in sorted((workspace.root / "runs").glob("*/*")):
        try:
            record = json.loads((folder / "execution.json").read_text("utf-8"))
        except (OSError, ValueError):
            record = None
        found.append((folder, record if isinstance(record, dict) else None))
    return found


def _finished(record: dict[str, Any] | None) -> bool:
    """Finished, or cut short by a process that is gone (kill -9): nothing will write its sandboxes again."""
    if record is None:
        return False  # unreadable: it may be being written; left alone
    return not running(record)


def _sandbox_files(run: Path) -> list[Path]:
    """The files of a run's job sandboxes that no one reads once the run has finished."""
    files = []
    for sandbox in (p for p in (run / "steps").rglob("opt_ml*") if p.is_dir()):
        for path in sandbox.rglob("*"):
            if path.is_file() and not any(path.match(pattern) for pattern in KEPT_IN_SANDBOXES):
                files.append(path)
    return files


def _remove(files: list[Path], dry_run: bool) -> int:
    freed = 0
    for path in files:
        freed += path.stat().st_size
        if not dry_run:
            path.unlink()
    return freed


def _prune_empty(root: Path) -> None:
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def clean(workspace: Workspace, older_than: timedelta, now: datetime | None = None, dry_run: bool = False) -> Cleaned:
    """Free what runs finished before `now - older_than` hold (see the module's docstring)."""
    workspace.check()
    cutoff = (now or datetime.now(UTC)) - older_than
    cleaned = Cleaned()
    kept_inputs: set[str] = set()
    for run, record in _records(workspace):
        finished_at = datetime.fromtimestamp((run / "execution.json").stat().st_mtime, UTC) if record else None
        if record is None or not _finished(record) or finished_at > cutoff:
            if record is not None:
                kept_inputs.add(str(record.get("parameters", {}).get("InputData", "")))
            continue
        files = _sandbox_files(run)
        if files:
            cleaned.freed_bytes += _remove(files, dry_run)
            cleaned.runs.append(f"{run.parent.name}/{run.name}")
            if not dry_run:
                _prune_empty(run / "steps")
    for snapshot in sorted((workspace.root / "s3").glob(f"*/{SNAPSHOTS}*")):
        uri = f"s3://{snapshot.relative_to(workspace.root / 's3').as_posix()}/"
        age = datetime.fromtimestamp(snapshot.stat().st_mtime, UTC)
        if uri in kept_inputs or age > cutoff:
            continue
        cleaned.freed_bytes += _size(snapshot)
        cleaned.snapshots.append(uri)
        if not dry_run:
            shutil.rmtree(snapshot)
    cleaned.staging = len(workspace.clean_staging(remove=not dry_run))
    cleaned.warm_sockets = len(warm.sweep_orphans(remove=not dry_run))
    return cleaned


def describe(cleaned: Cleaned, dry_run: bool) -> str:
    """One line for a person: what was freed, and where from."""
    verb = "would free" if dry_run else "freed"
    return (
        f"{verb} {cleaned.freed_bytes / 2**20:.1f} MB: the job sandboxes of {len(cleaned.runs)} finished run(s), "
        f"{len(cleaned.snapshots)} inference input snapshot(s) no kept run reads, {cleaned.staging} staging folder(s) "
        f"and {cleaned.warm_sockets} warm-start socket folder(s) of processes that are gone"
    )
