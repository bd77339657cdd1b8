"""`make bench-images`: the four images' size, cold build, code-only rebuild, and `--containers` overhead.

Bakes the defaults, builds the images with the bake's own `images build` (docker, or buildah
without a daemon) on `--base-image`, and merges its figures into results.json under "images".
Cold means no layer of the project in the image store: only the base image is there, and pip
downloads every wheel. The overhead is `local train` + `local infer` with `--containers`
against the same commands in the venv, alternated round by round on the same data.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

COMPONENTS = ("processing", "algorithm", "monitoring", "explainability")
PACKAGE = "customer_churn"


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str, str]:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return seconds, result.stdout, result.stderr


def _runner() -> str:
    return "docker" if os.environ.get("CONTAINER_ENGINE") == "docker" or not shutil.which("podman") else "podman"


def _size_mb(image: str) -> float:
    result = subprocess.run(
        [_runner(), "image", "inspect", "--format", "{{.Size}}", image], capture_output=True, text=True, check=True
    )
    return int(result.stdout.strip()) / 1e6


def _remove_project_images(slug: str) -> None:
    """Every image of the project, then every dangling layer: the next build starts cold."""
    for component in COMPONENTS:
        subprocess.run([_runner(), "rmi", "--force", f"{slug}-{component}"], capture_output=True, check=False)
    subprocess.run([_runner(), "image", "prune", "--force"], capture_output=True, check=False)
    if shutil.which("buildah"):
        subprocess.run(["buildah", "rmi", "--prune"], capture_output=True, check=False)


def image_benchmarks(
    work: Path, template: Path, base_image: str, ca_bundle: str, rows: int, rounds: int
) -> dict[str, Any]:
    bake_dir = work / "images-bake"
    shutil.rmtree(bake_dir, ignore_errors=True)
    cookiecutter = Path(sys.executable).parent / "cookiecutter"
    subprocess.run([str(cookiecutter), "--no-input", "--output-dir", str(bake_dir), str(template)], check=True)
    project = bake_dir / "customer-churn"
    env = {**os.environ, "PYTHONPATH": str(project / "src"), "PYTHONHASHSEED": "0"}
    build = [sys.executable, "-m", PACKAGE, "images", "build", "--base-image", base_image]
    if ca_bundle:
        build += ["--ca-bundle", ca_bundle]

    _remove_project_images("customer-churn")
    cold_seconds, _, cold_log = _run(build, project, env)
    built = [line.split() for line in cold_log.splitlines() if line.startswith("built ")]
    per_image = {words[1]: float(words[3].rstrip("s")) for words in built}
    sizes = {c: _size_mb(f"customer-churn-{c}") for c in COMPONENTS}
    base_mb = _size_mb(base_image)

    module = project / "src" / PACKAGE / "container.py"
    module.write_text(module.read_text("utf-8") + "\n# a code-only change\n", "utf-8")
    rebuild_seconds, _, _ = _run(build, project, env)

    data = work / "images-data"
    data.mkdir(parents=True, exist_ok=True)
    sample = [sys.executable, "-m", PACKAGE, "sample", "--rows", str(rows)]
    _run([*sample, "--seed", "21", "--out", str(data / "train.csv")], project, env)
    _run([*sample, "--seed", "22", "--without-target", "--out", str(data / "infer.csv")], project, env)
    timings: dict[str, list[float]] = {"venv": [], "containers": []}
    for round_number in range(rounds):
        for mode in ("venv", "containers"):
            workspace = work / f"images-ws-{mode}-{round_number}"
            shutil.rmtree(workspace, ignore_errors=True)
            flags = ["--containers"] if mode == "containers" else []
            cli = [sys.executable, "-m", PACKAGE, "--workspace", str(workspace), "local"]
            train, _, _ = _run([*cli, "train", "--data", str(data / "train.csv"), "--json", *flags], project, env)
            infer, out, _ = _run([*cli, "infer", "--data", str(data / "infer.csv"), "--json", *flags], project, env)
            if json.loads(out.strip().splitlines()[-1])["retrain_triggered"]:
                raise RuntimeError("a round retrained on drift; the rounds would not be like for like")
            timings[mode].append(train + infer)
    venv, containers = statistics.median(timings["venv"]), statistics.median(timings["containers"])
    return {
        "engine": _runner(),
        "base_image": base_image,
        "base_mb": base_mb,
        "image_mb": sizes,
        "above_base_mb": {c: mb - base_mb for c, mb in sizes.items()},
        "cold_build_seconds": cold_seconds,
        "cold_build_per_image_seconds": per_image,
        "rebuild_after_code_change_seconds": rebuild_seconds,
        "rebuild_ratio": rebuild_seconds / cold_seconds,
        "rows": rows,
        "local_seconds": timings,
        "containers_overhead": containers / venv,
    }
