"""Where local mode keeps its S3 objects, its Parameter Store and its runs."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..registry.store import FileParameterStore


@dataclass(frozen=True)
class Workspace:
    """`.local/` by default: s3/<bucket>/<key>, ssm/<parameter>, runs/<pipeline>/<execution>."""

    root: Path

    @property
    def store(self) -> FileParameterStore:
        return FileParameterStore(self.root / "ssm")

    @property
    def definitions(self) -> Path:
        """Pipeline definitions, cached by what they depend on."""
        return self.root / "definitions"

    def path(self, uri: str) -> Path:
        """s3://bucket/key maps to <root>/s3/bucket/key."""
        if not uri.startswith("s3://"):
            raise ValueError(f"Expected an s3:// URI, got {uri!r}")
        return self.root / "s3" / uri.removeprefix("s3://")

    def uri(self, path: Path) -> str:
        relative = Path(path).resolve().relative_to((self.root / "s3").resolve())
        return "s3://" + relative.as_posix()

    def upload(self, source: Path, prefix_uri: str) -> str:
        """Copy a local file, or a folder's CSV files, into a fresh S3 prefix; return the prefix URI."""
        source = Path(source)
        files = sorted(p for p in source.rglob("*.csv") if p.is_file()) if source.is_dir() else [source]
        if not files:
            raise FileNotFoundError(f"{source} holds no CSV file; pass a CSV file or a folder of CSV files.")
        destination = self.path(prefix_uri)
        shutil.rmtree(destination, ignore_errors=True)
        destination.mkdir(parents=True)
        for path in files:
            target = destination / (path.relative_to(source) if source.is_dir() else path.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        return prefix_uri.rstrip("/") + "/"

    def snapshot(self, source: Path, prefix_uri: str) -> tuple[str, str]:
        """Copy a training input under `<prefix_uri>sha256=<digest>/`, once; return (URI, digest).

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
            partial = destination.with_name(f".{destination.name}.partial-{os.getpid()}")
            shutil.rmtree(partial, ignore_errors=True)
            for path, name in zip(files, names, strict=True):
                (partial / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, partial / name)
            try:
                partial.rename(destination)
            except OSError:  # another run published the same content first
                shutil.rmtree(partial, ignore_errors=True)
        return uri, digest

    def run_dir(self, pipeline: str, execution_id: str) -> Path:
        return self.root / "runs" / pipeline / execution_id


def content_digest(files: list[Path], names: list[str] | None = None) -> str:
    """sha256 of one file's bytes; for a folder, of each file's relative name and sha256, in order."""
    if names is None:
        return _file_sha256(files[0])
    listing = "".join(f"{name}\t{_file_sha256(path)}\n" for path, name in zip(files, names, strict=True))
    return hashlib.sha256(listing.encode()).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
