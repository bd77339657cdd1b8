"""Model archives and staged inputs, as SageMaker writes and downloads them."""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

from ..container import safe_extract


def stage_input(source: Path, destination: Path) -> None:
    """Copy a file or a folder's contents into an input location, as SageMaker downloads S3 data."""
    destination.mkdir(parents=True, exist_ok=True)
    if source.is_file():
        shutil.copy2(source, destination / source.name)
    else:
        shutil.copytree(source, destination, dirs_exist_ok=True)


def pack_model(model_dir: Path, archive: Path) -> Path:
    """Pack a training job's model directory as SageMaker does: model.tar.gz at the root."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(f".{archive.name}.partial-{os.getpid()}")
    try:
        with tarfile.open(partial, "w:gz") as tar:
            for item in sorted(model_dir.iterdir()):
                tar.add(item, arcname=item.name)
        partial.replace(archive)  # a killed run leaves no truncated model.tar.gz where Register points
    finally:
        partial.unlink(missing_ok=True)
    return archive


def unpack_model(archive: Path, model_dir: Path) -> None:
    safe_extract(archive, model_dir)
