"""Where local mode keeps its S3 objects, its Parameter Store and its runs."""

from __future__ import annotations

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

    def run_dir(self, pipeline: str, execution_id: str) -> Path:
        return self.root / "runs" / pipeline / execution_id
