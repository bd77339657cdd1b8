"""How images are built and run: the commands for docker, and for buildah and podman without a daemon."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import (
    images,
)
from {{ cookiecutter.package_name }}.images import (
    Engine,
    ImageError,
    build_images,
    detect_engine,
    image_name,
)
from {{ cookiecutter.package_name }}.local.runtimes import (
    ContainerRuntime,
)

ROOT = Path(__file__).resolve().parents[1]


def test_buildah_builds_with_layers_the_base_and_the_ca_secret():
    command = Engine("buildah", "podman").build_command(
        Path("docker/algorithm/Dockerfile"), "churn-algorithm", "localhost/standin/python:3.11-slim", Path("/ca.pem")
    )
    assert command[:3] == ["buildah", "bud", "--layers"]
    assert command[-1] == "."
    assert command[7:9] == ["--build-arg", "BASE_IMAGE=localhost/standin/python:3.11-slim"]
    assert command[9:11] == ["--secret", "id=ca_bundle,src=/ca.pem"]


def test_docker_builds_with_the_dockerfiles_default_base():
    command = Engine("docker", "docker").build_command(Path("docker/processing/Dockerfile"), "churn-processing")
    assert command == ["docker", "build", "--file", "docker/processing/Dockerfile", "--tag", "churn-processing", "."]


def test_a_job_runs_without_network_and_with_its_volumes(tmp_path):
    command = Engine("buildah", "podman").run_command(
        "churn-monitoring",
        ["serve"],
        mounts=[(tmp_path / "in", "/opt/ml/processing/input/raw", True), (tmp_path / "out", "/opt/ml/output", False)],
        environment={"DRIFT_P_VALUE": "0.01"},
    )
    assert command[:3] == ["podman", "run", "--rm"]
    assert command[-2:] == ["churn-monitoring", "serve"]
    assert "--network" in command and command[command.index("--network") + 1] == "none"
    assert f"{tmp_path / 'in'}:/opt/ml/processing/input/raw:ro" in command
    assert f"{tmp_path / 'out'}:/opt/ml/output" in command
    assert "DRIFT_P_VALUE=0.01" in command


def test_the_server_is_published_on_the_loopback_only():
    command = Engine("docker", "docker").run_command("churn-algorithm", ["serve"], publish=(41234, 8080))
    assert command[command.index("--publish") + 1] == "127.0.0.1:41234:8080"
    assert "--ulimit" not in command, "docker's daemon applies its own limits"


def test_podman_limits_stay_within_what_this_process_may_grant():
    command = Engine("buildah", "podman").run_command("churn-algorithm", ["train"])
    limits = dict(command[i + 1].split("=") for i, flag in enumerate(command) if flag == "--ulimit")
    nproc_soft, nproc_hard = map(int, limits["nproc"].split(":"))
    assert nproc_soft == nproc_hard <= images.MAX_JOB_PROCESSES


def test_podman_on_unified_cgroups_keeps_its_defaults(tmp_path, monkeypatch):
    monkeypatch.delenv(images.PODMAN_FLAGS_ENV, raising=False)
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    assert images.podman_flags(tmp_path) == ()


def test_podman_on_hybrid_cgroups_runs_with_runc_and_cgroupfs(tmp_path, monkeypatch):
    monkeypatch.delenv(images.PODMAN_FLAGS_ENV, raising=False)
    (tmp_path / "unified").mkdir()  # cgroup v1 controllers beside a v2 mount: crun refuses to start
    monkeypatch.setattr(images.shutil, "which", lambda name: f"/usr/sbin/{name}")
    flags = images.podman_flags(tmp_path)
    assert flags == ("--runtime", "runc", "--cgroup-manager", "cgroupfs")
    run = Engine("buildah", "podman", flags).run_command("churn-processing", ["train"])
    assert run[:6] == ["podman", *flags, "run"]
    assert Engine("buildah", "podman", flags).command("stop", "x") == ["podman", *flags, "stop", "x"]


def test_podman_on_hybrid_cgroups_without_runc_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.delenv(images.PODMAN_FLAGS_ENV, raising=False)
    monkeypatch.setattr(images.shutil, "which", lambda name: None)
    with pytest.raises(ImageError, match="apt-get install runc"):
        images.podman_flags(tmp_path)


def test_podman_flags_can_be_set_by_hand(tmp_path, monkeypatch):
    monkeypatch.setenv(images.PODMAN_FLAGS_ENV, "--runtime crun --log-level warn")
    assert images.podman_flags(tmp_path) == ("--runtime", "crun", "--log-level", "warn")


def test_a_storage_driver_reaches_every_build_run_and_lookup_in_a_store_of_its_own(config, monkeypatch):
    """Debian's buildah and podman ignore $STORAGE_DRIVER: the flags carry it, to the builder and the runner alike."""
    monkeypatch.setenv(images.ENGINE_ENV, "podman")
    monkeypatch.setenv(images.STORAGE_DRIVER_ENV, "vfs")
    monkeypatch.setenv(images.PODMAN_FLAGS_ENV, "")
    monkeypatch.setattr(images.os, "geteuid", lambda: 0)
    monkeypatch.setattr(images.shutil, "which", lambda name: f"/usr/bin/{name}")
    store = ("--storage-driver", "vfs", "--root", "/var/lib/containers/storage-vfs")
    engine = detect_engine()
    assert engine.build_command(Path("Dockerfile"), "churn-algorithm")[:6] == ["buildah", *store, "bud"]
    assert engine.run_command("churn-algorithm", ["train"])[:7] == ["podman", *store, "run", "--rm"]
    probes = []

    def fake_run(command, **kwargs):
        probes.append(command)
        return subprocess.CompletedProcess(command, 1, b"", b"")

    monkeypatch.setattr(images.subprocess, "run", fake_run)
    with pytest.raises(ImageError, match=r"not built in the \$STORAGE_DRIVER=vfs store; run `make images` first"):
        images.require_images(config, engine, ["processing"])
    assert probes[0][:5] == ["podman", *store]


def test_no_storage_driver_keeps_the_engines_default_store(monkeypatch, tmp_path):
    monkeypatch.delenv(images.STORAGE_DRIVER_ENV, raising=False)
    assert images.storage_flags() == ()
    rootless = images.storage_flags({"STORAGE_DRIVER": "vfs", "XDG_DATA_HOME": str(tmp_path)}, euid=1000)
    assert rootless == ("--storage-driver", "vfs", "--root", str(tmp_path / "containers" / "storage-vfs"))


def test_engine_choice_is_validated(monkeypatch):
    monkeypatch.setenv(images.ENGINE_ENV, "rkt")
    with pytest.raises(ImageError, match="choose docker or podman"):
        detect_engine()


def test_no_engine_is_a_clear_error(monkeypatch):
    monkeypatch.delenv(images.ENGINE_ENV, raising=False)
    monkeypatch.setattr(images.shutil, "which", lambda name: None)
    with pytest.raises(ImageError, match="apt-get install podman buildah"):
        detect_engine()


def test_image_names_follow_the_project_slug(config):
    assert image_name(config, "explainability") == f"{config['project']['slug']}-explainability"
    with pytest.raises(ImageError, match="Unknown component"):
        image_name(config, "training")


def test_a_failed_build_names_the_image_and_shows_the_builders_words(config, monkeypatch):
    def fake_run(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, stdout="STEP 6/10\n", stderr="pip: hash mismatch\n")

    monkeypatch.setattr(images.subprocess, "run", fake_run)
    with pytest.raises(ImageError, match=r"(?s)Building .*-processing failed.*hash mismatch"):
        build_images(config, ROOT, ["processing"], engine=Engine("buildah", "podman"), progress=lambda _: None)


@pytest.mark.parametrize("variable", images.CA_BUNDLE_VARIABLES)
def test_the_builds_trust_the_ca_bundle_this_machine_configures_for_pip(config, tmp_path, monkeypatch, variable):
    bundle = tmp_path / "proxy-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    for name in images.CA_BUNDLE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, str(bundle))
    commands = []
    monkeypatch.setattr(images.subprocess, "run", lambda command, **_: commands.append(command) or _built(command))
    said = []
    build_images(config, ROOT, ["processing"], engine=Engine("buildah", "podman"), progress=said.append)
    assert f"id=ca_bundle,src={bundle}" in commands[0], "passed as a build secret"
    assert any(f"${variable}" in line for line in said)


def test_without_a_configured_ca_bundle_the_builds_get_no_secret(config, monkeypatch):
    for name in images.CA_BUNDLE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    commands = []
    monkeypatch.setattr(images.subprocess, "run", lambda command, **_: commands.append(command) or _built(command))
    build_images(config, ROOT, ["processing"], engine=Engine("buildah", "podman"), progress=lambda _: None)
    assert "--secret" not in commands[0]


def _built(command):
    return subprocess.CompletedProcess(command, 0, stdout="", stderr="")


def test_a_missing_ca_bundle_is_refused_before_building(config, tmp_path):
    with pytest.raises(ImageError, match="is not a file"):
        build_images(config, ROOT, ca_bundle=tmp_path / "none.pem", engine=Engine("buildah", "podman"))


def test_containers_mode_needs_the_images_built(config, monkeypatch):
    monkeypatch.setattr(
        images.subprocess, "run", lambda command, **kwargs: subprocess.CompletedProcess(command, 1, b"", b"")
    )
    with pytest.raises(ImageError, match=r"not built; run `make images` first"):
        ContainerRuntime(config, engine=Engine("buildah", "podman"))


def test_local_train_with_containers_and_no_engine_exits_2_with_advice(tmp_path, sample):
    data = tmp_path / "train.csv"
    sample.to_csv(data, index=False)
    result = subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", "--workspace", str(tmp_path / "ws"), "local", "train",
         "--data", str(data), "--containers"],
        capture_output=True,
        text=True,
        env={"PATH": "/nonexistent", "PYTHONPATH": str(ROOT / "src"), "CONTAINER_ENGINE": ""},
        check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "No container engine" in result.stderr
