"""Where local mode keeps its S3 objects, its Parameter Store and its runs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..registry.digests import content_digest
from ..registry.store import FileParameterStore
from .processes import alive

# The workspace's own folders, and what each keeps: a file in the place of one is named.
FOLDERS = {
    "s3": "S3 objects",
    "ssm": "Parameter Store",
    "runs": "runs",
    "definitions": "pipeline definitions",
    "cache": "step cache",
}
STAGING = ".staging"
DEFINITIONS_CACHE_ENV = "PIPELINE_DEFINITIONS_CACHE"


class WorkspaceError(ValueError):
    """The workspace cannot be used as it is; the message names the path and what to do."""


@dataclass(frozen=True)
class Workspace:
    """`.local/` by default: s3/<bucket>/<key>, ssm/<parameter>, runs/<pipeline>/<execution>."""

    root: Path

    @property
    def store(self) -> FileParameterStore:
        return FileParameterStore(self.root / "ssm")

    def check(self, writable: bool = True) -> None:
        """Before any job runs: the workspace and its folders are folders (and writable), its store readable."""
        hint = "move it aside, or pass --workspace with another folder"
        for folder, what in [(self.root, "workspace"), *((self.root / n, w) for n, w in FOLDERS.items())]:
            if folder.exists() and not folder.is_dir():
                raise WorkspaceError(f"{folder} is a file, where local mode keeps its {what}: {hint}.")
        if writable:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                probe = self.root / f".write-check-{os.getpid()}"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as exc:
                raise WorkspaceError(
                    f"The workspace {self.root} cannot be written ({exc.strerror or exc}): local mode keeps its "
                    "S3 objects, Parameter Store and runs there. Make it writable, or pass --workspace with another "
                    "folder."
                ) from exc
        self.store.check()

    def staging(self, name: str) -> Path:
        """A fresh folder on the workspace's file system, for an output published later by one rename."""
        folder = self.root / STAGING / f"{name}-{os.getpid()}-{os.urandom(4).hex()}"
        folder.mkdir(parents=True)
        return folder

    def publish(self, staged: Path, uri: str) -> Path:
        """Replace the object prefix `uri` with the staged folder in one rename: whole, or not there at all."""
        destination = self.path(uri)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if destination.exists():
            retired = self.staging("retired")
            destination.rename(retired / "old")
            staged.rename(destination)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staged.rename(destination)
        return destination

    def clean_staging(self, remove: bool = True) -> list[Path]:
        """What killed runs left in staging (their process is gone), removed; a live run's folders stay."""
        root = self.root / STAGING
        orphans = []
        for folder in root.iterdir() if root.is_dir() else []:
            parts = folder.name.rsplit("-", 2)
            pid = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else 0
            if pid and not alive(pid):
                orphans.append(folder)
                if remove:
                    shutil.rmtree(folder, ignore_errors=True)
        return orphans

    @property
    def definitions(self) -> Path:
        """Pipeline definitions, cached by what they depend on; `$PIPELINE_DEFINITIONS_CACHE` shares one cache.

        A cache entry is named by the digest of everything its definition depends on (config,
        environment, images, the pipeline code, the SDK version), so workspaces can share it safely.
        """
        shared = os.environ.get(DEFINITIONS_CACHE_ENV)
        return Path(shared) if shared else self.root / "definitions"

    def path(self, uri: str) -> Path:
        """s3://bucket/key maps to <root>/s3/bucket/key."""
        if not uri.startswith("s3://"):
            raise ValueError(f"Expected an s3:// URI, got {uri!r}")
        return self.root / "s3" / uri.removeprefix("s3://")

    def uri(self, path: Path) -> str:
        relative = Path(path).resolve().relative_to((self.root / "s3").resolve())
        return "s3://" + relative.as_posix()

    def snapshot(self, source: Path, prefix_uri: str) -> tuple[str, str]:
        """Copy an input (a CSV file, or a folder's) under `<prefix_uri>sha256=<digest>/`, once; return (URI, digest).

        The prefix is named by the content, so no later run can change what a manifest points
        at, and a copy is published by a rename only when complete.
        """
        source = Path(source)
        files = sorted(p for p in source.rglob("*.csv") if p.is_file()) if source.is_dir() else [source]
        if not files:
            raise FileNotFoundError(f"{source} holds no CSV file; pass a CSV file or a folder of CSV files.")
        names = [str(p.relative_to(source)) if source.is_dir() else p.name for p in files]
        digest = content_digest(files, names if source.is_dir() else None)
        uri = f"{prefix_uri.rstrip('/')}/sha256={digest}/"
        destination = self.path(uri)
        if not destination.is_dir():
            partial = self.staging("snapshot")
            try:
                for path, name in zip(files, names, strict=True):
                    (partial / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, partial / name)
                destination.parent.mkdir(parents=True, exist_ok=True)
                partial.rename(destination)
            except OSError:
                shutil.rmtree(partial, ignore_errors=True)
                if not destination.is_dir():  # a full disk, not another run that published the same content first
                    raise
        return uri, digest

    def execution_dir(self, pipeline: str, execution_id: str) -> Path:
        return self.root / "runs" / pipeline / execution_id


class WorkspaceObjects:
    """The workspace's `s3/` as the handlers' ObjectStore (see lambdas/services.py)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def list(self, prefix_uri: str, start_after: str = "") -> Iterator[str]:
        bucket, _, prefix = prefix_uri.removeprefix("s3://").partition("/")
        root = self.workspace.root / "s3" / bucket
        folder = root / prefix if prefix.endswith("/") or not prefix else (root / prefix).parent
        after = start_after.removeprefix(f"s3://{bucket}/") if start_after else ""
        keys = (
            sorted(p.relative_to(root).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
        )
        for key in keys:
            if key.startswith(prefix) and key > after:
                yield f"s3://{bucket}/{key}"

    def read(self, uri: str) -> bytes:
        return self.workspace.path(uri).read_bytes()

    def copy(self, source_uri: str, target_uri: str) -> None:
        target = self.workspace.path(target_uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.workspace.path(source_uri), target)
