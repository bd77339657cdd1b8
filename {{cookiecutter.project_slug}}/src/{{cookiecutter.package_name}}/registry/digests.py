"""Artefact digests: what a manifest pins, computed alike from a folder, a tar archive and an S3 prefix.

A registered version's manifest records the sha256 of each artefact (`PINNED`). Every job that
loads a registered artefact is given those digests (the `ARTIFACT_DIGESTS` environment
variable, a JSON object) and checks the artefact before it opens it: a file by its bytes, a
folder by its listing. A changed artefact fails the job; nothing is read from it.

- `model`: model.tar.gz's bytes, as jobs that unpack it receive it;
- `model_contents`: the listing of the files in model.tar.gz, as the model server sees them
  unpacked under /opt/ml/model;
- `preprocessing`, `baseline`, `explainability`: the listing of the files under each prefix.

A listing's digest is the sha256 of one `<relative name>\\t<sha256>\\n` line per file, by name.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

DIGESTS_ENV = "ARTIFACT_DIGESTS"
PINNED = ("model", "model_contents", "preprocessing", "baseline", "explainability")


def stream_sha256(source: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while block := source.read(1 << 20):
        digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    with path.open("rb") as source:
        return stream_sha256(source)


def listing_digest(entries: Iterable[tuple[str, str]]) -> str:
    """sha256 of `<name>\\t<sha256>\\n` per (name, sha256) entry, in the order given."""
    return hashlib.sha256("".join(f"{name}\t{sha}\n" for name, sha in entries).encode()).hexdigest()


def content_digest(files: list[Path], names: list[str] | None = None) -> str:
    """sha256 of one file's bytes; for a folder, of each file's relative name and sha256, in order."""
    if names is None:
        return file_sha256(files[0])
    return listing_digest((name, file_sha256(path)) for path, name in zip(files, names, strict=True))


def folder_digest(folder: Path) -> str:
    """The listing digest of every file under `folder` (names relative to it, sorted)."""
    files = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}
    return listing_digest((name, file_sha256(files[name])) for name in sorted(files))


def archive_contents_digest(archive: Path) -> str:
    """The listing digest of the regular files in a tar archive: the same as `folder_digest` of it unpacked."""
    entries = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.isfile():
                entries[member.name.removeprefix("./")] = stream_sha256(tar.extractfile(member))
    return listing_digest((name, entries[name]) for name in sorted(entries))


def prefix_digest(objects: Any, prefix_uri: str) -> str:
    """The listing digest of the objects under an S3 prefix (`objects`: an ObjectStore); ValueError when empty."""
    root = prefix_uri.rstrip("/") + "/"
    entries = {}
    for uri in objects.list(root):
        if not uri.endswith("/"):  # a console-made "folder" is not a file
            entries[uri.removeprefix(root)] = hashlib.sha256(objects.read(uri)).hexdigest()
    if not entries:
        raise ValueError(f"{root} holds no object")
    return listing_digest((name, entries[name]) for name in sorted(entries))


def serving_digests(manifest: dict[str, Any]) -> str:
    """The ARTIFACT_DIGESTS value of a manifest: the JSON object a pipeline passes to every loader."""
    return json.dumps({key: manifest["digests"][key] for key in PINNED}, sort_keys=True, separators=(",", ":"))
