"""The four images, run as SageMaker runs them (`make images-test`; needs `make images` first).

Each job runs twice on the same inputs: in its image, with SageMaker's layout (every input a
read-only volume, every output and /opt/ml/output its own root-owned volume, the container
started as root), and from this venv through the same entrypoint. The outputs must be
byte-identical. The model server is reached over the loopback, and stopped as SageMaker stops it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.components.algorithm.estimators import resolve
from {{ cookiecutter.package_name }}.images import (
    detect_engine,
    image_name,
    require_images,
)
from {{ cookiecutter.package_name }}.local.packing import (
    pack_model,
    stage_input,
)
from {{ cookiecutter.package_name }}.local.runtimes import (
    JobFailed,
    run_component,
)
from {{ cookiecutter.package_name }}.local.transform import (
    model_server,
)
from {{ cookiecutter.package_name }}.registry.digests import (
    DIGESTS_ENV,
    file_sha256,
)
from {{ cookiecutter.package_name }}.sample_data import (
    generate,
)

from .conftest import job_reason, pinned, pinned_model, planted_model

pytestmark = pytest.mark.images
APP_UID = 1000  # the image's `app` user (docker/*/Dockerfile)

# Every job of both pipelines, in order: (name, component, mode, {input path: source}, [output paths]).
# A source names a file or folder of `sources`, or "<job>:<output path>" of an earlier job.
JOBS = [
    ("processing-train", "processing", "train", {"processing/input/raw": "train.csv"},
     ["processing/output/train", "processing/output/validation", "processing/output/artifacts",
      "processing/output/evaluation"]),
    ("algorithm-train", "algorithm", "train",
     {"input/data/train": "processing-train:processing/output/train",
      "input/data/validation": "processing-train:processing/output/validation",
      "input/data/artifacts": "processing-train:processing/output/artifacts",
      "input/config": "hyperparameters"},
     ["model"]),
    ("monitoring-train", "monitoring", "train", {"processing/input/raw": "train.csv"},
     ["processing/output/baseline"]),
    ("explainability-train", "explainability", "train",
     {"processing/input/model": "model.tar.gz",
      "processing/input/data": "processing-train:processing/output/validation",
      "processing/input/artifacts": "processing-train:processing/output/artifacts"},
     ["processing/output/report"]),
    ("processing-serve", "processing", "serve",
     {"processing/input/raw": "batch.csv",
      "processing/input/artifacts": "processing-train:processing/output/artifacts"},
     ["processing/output/processed", "processing/output/kept"]),
    # A retrain: the training data grown by the batch's labelled rows, its snapshot, and the gate.
    ("processing-assemble", "processing", "assemble",
     {"processing/input/base": "train.csv",
      "processing/input/inputs/run": "processing-serve:processing/output/kept",
      "processing/input/labels": "labels"},
     ["processing/output/set", "processing/output/holdout", "processing/output/dataset"]),
    ("processing-snapshot", "processing", "snapshot",
     {"processing/input/set": "processing-assemble:processing/output/set"},
     ["processing/output/snapshot"]),
    ("algorithm-compare", "algorithm", "compare",
     {"processing/input/challenger": "model.tar.gz",
      "processing/input/champion": "model.tar.gz",
      "processing/input/recent": "processing-assemble:processing/output/holdout",
      "processing/input/validation": "processing-train:processing/output/evaluation"},
     ["processing/output/gate"]),
    ("monitoring-serve", "monitoring", "serve",
     {"processing/input/raw": "batch.csv", "processing/input/baseline": "monitoring-train:processing/output/baseline"},
     ["processing/output/report"]),
    ("monitoring-summarize", "monitoring", "summarize",
     {"processing/input/raw": "batch.csv", "processing/input/baseline": "monitoring-train:processing/output/baseline"},
     ["processing/output/summary"]),
    ("monitoring-merge", "monitoring", "merge",
     {"processing/input/summaries": "monitoring-summarize:processing/output/summary",
      "processing/input/baseline": "monitoring-train:processing/output/baseline"},
     ["processing/output/report"]),
    ("explainability-serve", "explainability", "serve",
     {"processing/input/model": "model.tar.gz",
      "processing/input/data": "processing-serve:processing/output/processed",
      "processing/input/artifacts": "processing-train:processing/output/artifacts"},
     ["processing/output/report"]),
    ("explainability-explain", "explainability", "explain",
     {"processing/input/model": "model.tar.gz",
      "processing/input/data": "processing-serve:processing/output/processed",
      "processing/input/artifacts": "processing-train:processing/output/artifacts"},
     ["processing/output/explanations", "processing/output/summary"]),
    ("explainability-merge", "explainability", "merge",
     {"processing/input/summaries": "explainability-explain:processing/output/summary",
      "processing/input/artifacts": "processing-train:processing/output/artifacts"},
     ["processing/output/report"]),
]  # fmt: skip


SCORED_AT = "2026-11-24T06:00:00+00:00"


def environment(name: str, done: dict, root: Path) -> dict[str, str]:
    """A job's environment, as its pipeline step sets it (fixed times: both runs must write the same bytes).

    `root` holds the job's staged inputs: serve modes get the digests of the artefacts they load.
    """
    if name == "processing-serve":
        return {"SCORED_AT": SCORED_AT} | pinned(root)
    if name == "processing-assemble":
        return {"ASSEMBLED_AT": "2026-11-25T06:00:00+00:00", "RETRAINING_WINDOW": "-P30D"}
    if name == "processing-snapshot":
        dataset = done["processing-assemble"][1] / "processing/output/dataset/dataset.json"
        return {"SNAPSHOT_URI": f"s3://bucket/data/train/sha256={json.loads(dataset.read_text())['sha256']}/"}
    if name == "algorithm-compare":  # the champion's manifest digests, as the training pipeline passes them
        champion = root / "processing/input/champion/model.tar.gz"
        return {"CHAMPION_VERSION": "1", DIGESTS_ENV: json.dumps({"model": file_sha256(champion)})}
    return pinned(root)


@pytest.fixture(scope="module")
def engine(config):
    found = detect_engine()
    require_images(config, found)
    return found


def sagemaker_run(engine, image: str, arguments: list[str], root: Path, inputs, outputs, **kwargs):
    """Run `image` with SageMaker's volumes: inputs read-only, outputs and output/ writable, all root's."""
    writable = [*outputs, "output"]
    for path in writable:
        (root / path).mkdir(parents=True, exist_ok=True)
    mounts = [(root / p, f"/opt/ml/{p}", True) for p in inputs]
    mounts += [(root / p, f"/opt/ml/{p}", kwargs.pop("read_only_output", False) and p == "output") for p in writable]
    command = engine.run_command(image, arguments, mounts=mounts, **kwargs)
    return subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)


@pytest.fixture(scope="module")
def runs(engine, config, target, problem_type, tmp_path_factory):
    """Every job in its image and in the venv, on the same inputs; {name: (container root, venv root, result)}."""
    workdir = tmp_path_factory.mktemp("images")
    sources = workdir / "sources"
    sources.mkdir()
    generate(1500, target_column=target, problem_type=problem_type, seed=3).to_csv(sources / "train.csv", index=False)
    batch = generate(300, target_column=target, problem_type=problem_type, seed=4).drop(columns=[target])
    batch.to_csv(sources / "batch.csv", index=False)
    (sources / "hyperparameters").mkdir()
    (sources / "hyperparameters" / "hyperparameters.json").write_text(
        json.dumps(config["algorithm"]["hyperparameters"])
    )
    # The batch's ground truth, landed as labels for the ids processing serve gives its rows.
    truth = generate(300, target_column=target, problem_type=problem_type, seed=4)[target]
    landed = sources / "labels" / "2026" / "11" / "24" / "12"
    landed.mkdir(parents=True)
    ids = [f"run:batch.csv:{row}" for row in range(1, len(truth) + 1)]
    landed.joinpath("labels.csv").write_text(
        f"inference_id,{target}\n" + "".join(f"{i},{t}\n" for i, t in zip(ids, truth, strict=True))
    )
    done = {}
    for name, component, mode, inputs, outputs in JOBS:
        venv_root, container_root = workdir / "venv" / name, workdir / "container" / name
        for path, source in inputs.items():
            if ":" in source:
                job, output = source.split(":", 1)
                origin = done[job][1] / output
            else:
                origin = sources / source
            for root in (venv_root, container_root):
                stage_input(origin, root / path)
        variables = environment(name, done, venv_root)
        run_component(component, mode, venv_root, environment=variables)
        result = sagemaker_run(
            engine, image_name(config, component), [mode], container_root, inputs, outputs, environment=variables
        )
        done[name] = (container_root, venv_root, result)
        if name == "algorithm-train":
            pack_model(venv_root / "model", sources / "model.tar.gz")
    return done


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("job", [job[0] for job in JOBS])
def test_job_in_its_image_writes_exactly_what_the_venv_writes(runs, job):
    container_root, venv_root, result = runs[job]
    assert result.returncode == 0, f"{job} failed in its image:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    outputs = next(spec[4] for spec in JOBS if spec[0] == job)
    for output in outputs:
        in_image, in_venv = _files(container_root / output), _files(venv_root / output)
        assert in_image, f"{job} wrote nothing to {output}"
        assert sorted(in_image) == sorted(in_venv)
        image_dir, venv_dir = container_root / output, venv_root / output
        different = [
            name for name in in_image
            if in_image[name] != in_venv[name] and not _same_model(image_dir / name, venv_dir / name)
        ]  # fmt: skip
        assert not different, f"{job}: {different} differ between the image and the venv"


def _same_model(first: Path, second: Path) -> bool:
    """Two skops files of one fit, written by different Pythons: the same predictions, if not the same bytes.

    skops writes which objects a model shares, and an image's Python (3.13, say) may share others
    than the venv's. Within one Python the bytes are equal (test_estimators.py checks it).
    """
    if first.suffix != ".skops":
        return False
    import numpy as np
    import skops.io

    first_model, second_model = (
        skops.io.load(p, trusted=skops.io.get_untrusted_types(file=p)) for p in (first, second)
    )
    X = np.random.default_rng(0).uniform(-3, 3, size=(200, int(first_model.n_features_in_)))
    answer = "predict_proba" if hasattr(first_model, "predict_proba") else "predict"
    return bool(np.array_equal(getattr(first_model, answer)(X), getattr(second_model, answer)(X)))


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership on the host maps through a user namespace when not root")
def test_jobs_run_unprivileged_on_root_owned_volumes(runs):
    container_root, _, result = runs["processing-train"]
    assert result.returncode == 0
    written = [p for p in (container_root / "processing" / "output").rglob("*") if p.is_file()]
    assert written and all(p.stat().st_uid == APP_UID for p in written)
    assert (container_root / "processing" / "input" / "raw").stat().st_uid == 0


def test_failed_job_leaves_its_reason_on_a_root_owned_volume(engine, config, target, problem_type, tmp_path):
    root = tmp_path / "job"
    raw = root / "processing" / "input" / "raw"
    raw.mkdir(parents=True)
    generate(50, target_column=target, problem_type=problem_type).drop(columns=[target]).to_csv(raw / "a.csv")
    outputs = ["processing/output/train", "processing/output/validation", "processing/output/artifacts"]
    result = sagemaker_run(engine, image_name(config, "processing"), ["train"], root, ["processing/input/raw"], outputs)
    assert result.returncode != 0
    reason = job_reason(root)  # a Processing job's: output/message, SageMaker's ExitMessage
    assert reason.startswith("processing train:") and f"'{target}'" in reason and reason.count("\n") == 1
    assert not [p for p in (root / "processing" / "output").rglob("*") if p.is_file()], "nothing may be published"


def _root_only(folder: Path) -> None:
    """Inputs as the SDK's local mode writes them: every folder 0700 and every file 0600, root's."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)


@pytest.mark.skipif(os.geteuid() != 0, reason="root-owned inputs need root on the host")
def test_a_training_job_reads_inputs_only_root_can_read(engine, config, runs, tmp_path):
    """/opt/ml/input 0700, mounted writable as SageMaker mounts it: the job reads it as `app`, and trains."""
    container_root, _, _ = runs["algorithm-train"]
    root = tmp_path / "job"
    shutil.copytree(container_root / "input", root / "input")
    _root_only(root / "input")
    result = sagemaker_run(engine, image_name(config, "algorithm"), ["train"], root, [], ["input", "model"])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert {p.stat().st_uid for p in (root / "model").rglob("*") if p.is_file()} == {APP_UID}
    data = root / "input" / "data"
    assert data.stat().st_uid == 0 and oct(data.stat().st_mode & 0o777) == "0o705", "read and search, never write"


@pytest.mark.skipif(os.geteuid() != 0, reason="root-owned inputs need root on the host")
def test_an_input_mount_the_user_can_neither_read_nor_be_given_fails_at_once_naming_it(engine, config, runs, tmp_path):
    container_root, _, _ = runs["processing-train"]
    root = tmp_path / "job"
    shutil.copytree(container_root / "processing" / "input" / "raw", root / "processing" / "input" / "raw")
    _root_only(root / "processing" / "input" / "raw")
    outputs = ["processing/output/train", "processing/output/validation", "processing/output/artifacts"]
    result = sagemaker_run(engine, image_name(config, "processing"), ["train"], root, ["processing/input/raw"], outputs)
    assert result.returncode != 0
    reason = job_reason(root)
    assert reason.startswith("processing train: /opt/ml/processing/input/raw (mode 700, owner uid 0) cannot be read")
    assert "Read-only file system" in reason and reason.count("\n") == 1
    assert "Traceback" not in result.stderr, "a clear reason, said once"


def test_the_storage_driver_setting_really_moves_the_image_store(tmp_path, monkeypatch):
    """`STORAGE_DRIVER=vfs`, as docs/contracts.md advises: buildah builds into a vfs store, podman finds it there."""
    monkeypatch.setenv("STORAGE_DRIVER", "vfs")
    engine = detect_engine()
    if engine.runner != "podman":
        pytest.skip("docker keeps its storage driver in its daemon's configuration")
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY marker /marker\n")
    (tmp_path / "marker").write_text("vfs\n")
    tag = f"localhost/storage-check-{uuid.uuid4().hex[:8]}"
    built = subprocess.run(engine.build_command(Path("Dockerfile"), tag), cwd=tmp_path, capture_output=True, text=True)
    try:
        assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
        info = subprocess.run([engine.builder, *engine.builder_flags, "info"], capture_output=True, text=True)
        assert json.loads(info.stdout)["store"]["GraphDriverName"] == "vfs"
        assert subprocess.run(engine.command("image", "exists", tag)).returncode == 0, "podman cannot see the build"
        monkeypatch.delenv("STORAGE_DRIVER")
        default = detect_engine().command("image", "exists", tag)
        assert subprocess.run(default, capture_output=True).returncode != 0, "the image went to the default store"
    finally:
        subprocess.run(engine.command("rmi", "--force", tag), capture_output=True, check=False)


def test_failure_reason_reaches_the_log_when_output_is_read_only(engine, config, tmp_path):
    root = tmp_path / "job"
    (root / "processing" / "input" / "raw").mkdir(parents=True)
    result = sagemaker_run(
        engine,
        image_name(config, "monitoring"),
        ["train"],
        root,
        ["processing/input/raw"],
        ["processing/output/baseline"],
        read_only_output=True,
    )
    assert result.returncode != 0
    assert "ERROR monitoring train: No CSV file found" in result.stdout + result.stderr


def _in_image(engine, image: str, program: str, *arguments: str) -> subprocess.CompletedProcess:
    command = engine.run_command(image, list(arguments), options=[f"--entrypoint={program}"])
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_image_python_is_the_one_the_project_requires(engine, config):
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    minimum = pyproject["project"]["requires-python"].removeprefix(">=")
    found = _in_image(engine, image_name(config, "algorithm"), "python", "-c", "import sys; print(sys.version)")
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith(minimum + "."), f"the image runs Python {found.stdout.strip()}, not {minimum}"


def test_the_ca_bundle_secret_is_in_no_layer(engine, config):
    found = _in_image(
        engine,
        image_name(config, "processing"),
        "sh",
        "-c",
        "test ! -e /tmp/ca.pem && test ! -e /run/secrets/ca_bundle",
    )
    assert found.returncode == 0, found.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(base: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(base + path, data=body, headers={"Content-Type": "text/csv"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_for_ping(base: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise JobFailed(f"the model server exited: {process.stdout.read()}")
        try:
            if _request(base, "/ping")[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.3)
    raise JobFailed(f"the model server did not answer /ping within {timeout:.0f}s")


@pytest.fixture(scope="module")
def served(engine, config, runs, tmp_path_factory):
    """The algorithm image serving the trained model on the loopback, as Batch Transform starts it."""
    _, venv_root, _ = runs["algorithm-train"]
    root = tmp_path_factory.mktemp("serve")
    shutil.copytree(venv_root / "model", root / "model")
    (root / "output").mkdir()
    name = f"serve-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    command = engine.run_command(
        image_name(config, "algorithm"),
        ["serve"],
        mounts=[(root / "model", "/opt/ml/model", True), (root / "output", "/opt/ml/output", False)],
        environment=pinned(root),
        publish=(port, 8080),
        name=name,
    )
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_ping(base, process)
        yield {"base": base, "name": name, "process": process}
    finally:
        if process.poll() is None:
            subprocess.run(engine.command("rm", "--force", name), capture_output=True, check=False)
            process.wait(timeout=30)


def test_a_model_swapped_after_registration_stops_the_server_in_its_image(engine, config, runs, tmp_path):
    """The image checks the model's files against the manifest's digest before it opens any of them."""
    _, venv_root, _ = runs["algorithm-train"]
    root = tmp_path / "serve"
    shutil.copytree(venv_root / "model", root / "model")
    (root / "output").mkdir()
    registered = pinned(root)  # the digests as the model was registered
    model_file = resolve(config["algorithm"]["estimator"]).model_file
    (root / "model" / model_file).write_bytes(planted_model(Path("/opt/ml/output/payload-ran")))
    mounts = [(root / "model", "/opt/ml/model", True), (root / "output", "/opt/ml/output", False)]
    command = engine.run_command(image_name(config, "algorithm"), ["serve"], mounts=mounts, environment=registered)
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode != 0, "the server started on a swapped model"
    assert "is not the one the manifest pins" in result.stderr, "a model server says why in its log"
    assert not (root / "output" / "payload-ran").exists(), "code from the swapped model ran"


def test_served_predictions_are_the_venv_servers(served, runs):
    container_root, _, _ = runs["processing-serve"]
    rows = next((container_root / "processing" / "output" / "processed").rglob("*.csv")).read_bytes()
    processed = b"".join(line.split(b",", 1)[1] for line in rows.splitlines(keepends=True))  # as InputFilter $[1:]
    status, from_image = _request(served["base"], "/invocations", processed)
    assert status == 200
    _, venv_root, _ = runs["processing-serve"]
    archive = pack_model(runs["algorithm-train"][1] / "model", venv_root.parent / "serve-model.tar.gz")
    with model_server(archive, venv_root.parent / "venv-server", environment=pinned_model(archive)) as base:
        _, from_venv = _request(base, "/invocations", processed)
    assert from_image == from_venv
    assert from_image.count(b"\n") == processed.count(b"\n")


def test_served_execution_parameters_and_ping(served):
    status, body = _request(served["base"], "/execution-parameters")
    assert status == 200 and json.loads(body)["BatchStrategy"] == "MULTI_RECORD"
    assert _request(served["base"], "/ping")[0] == 200


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"", b"Empty payload"),
        (b"1,2\n", b"Line 1 has 2 field(s)"),
        (b"\xff\xfe,1\n", b""),
        (b"a,b,c\n", b""),
    ],
)
def test_served_malformed_payloads_get_400_and_the_server_stays_up(served, payload, expected):
    status, body = _request(served["base"], "/invocations", payload)
    assert status == 400 and expected in body
    assert _request(served["base"], "/ping")[0] == 200


def test_a_stop_ends_the_server_within_two_seconds(served, engine):
    started = time.monotonic()
    stop = subprocess.run(engine.command("stop", "--time", "10", served["name"]), capture_output=True, text=True)
    elapsed = time.monotonic() - started
    assert stop.returncode == 0, stop.stderr
    assert served["process"].wait(timeout=30) == 0
    assert elapsed < 2.0, f"stopping took {elapsed:.1f}s: SIGTERM was not handled"


def test_a_stopped_job_fails_with_a_reason_and_publishes_nothing(engine, config, runs, tmp_path):
    """SIGTERM while explainability serve is writing its report: exit 143, a reason, nothing published."""
    container_root, _, _ = runs["explainability-serve"]
    inputs = {"processing/input/model", "processing/input/artifacts"}
    root = tmp_path / "job"
    for path in inputs:
        shutil.copytree(container_root / path, root / path)
    processed = next((container_root / "processing" / "input" / "data").rglob("*.csv")).read_bytes()
    (root / "processing" / "input" / "data").mkdir(parents=True)
    # Far more rows than the job can explain before the stop lands, even on every core.
    (root / "processing" / "input" / "data" / "big.csv").write_bytes(processed * 2000)
    outputs = ["processing/output/report", "output"]
    for path in outputs:
        (root / path).mkdir(parents=True)
    name = f"job-{uuid.uuid4().hex[:8]}"
    mounts = [(root / p, f"/opt/ml/{p}", True) for p in [*inputs, "processing/input/data"]]
    command = engine.run_command(
        image_name(config, "explainability"),
        ["serve"],
        mounts=mounts + [(root / p, f"/opt/ml/{p}", False) for p in outputs],
        environment=pinned(root),  # the model and artifacts as registered
        name=name,
    )
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    staging = root / "processing" / "output" / "report" / ".partial"
    deadline = time.monotonic() + 120
    while not staging.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert staging.exists(), "the job never started writing its report"
    subprocess.run(engine.command("kill", "--signal", "TERM", name), capture_output=True, check=False)
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    assert "stopped by signal SIGTERM" in job_reason(root)
    assert not [p for p in (root / "processing" / "output").rglob("*") if p.is_file()], "nothing may be published"
