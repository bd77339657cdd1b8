"""Build and run the four component images: with docker where a daemon answers, otherwise
daemonless with buildah (build) and podman (run), through the same Dockerfiles.

`make images` builds them, `make images-test` runs every mode inside them as SageMaker
would, and `local train|infer --containers` runs each pipeline job in its image.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .channels import COMPONENTS

ENGINE_ENV = "CONTAINER_ENGINE"
CA_SECRET_ID = "ca_bundle"


class ImageError(RuntimeError):
    """Building or running an image failed; the message says what to do."""


@dataclass(frozen=True)
class Engine:
    """The command that builds images and the one that runs them (docker, or buildah + podman)."""

    builder: str
    runner: str
    # Global flags of every runner call, such as podman's OCI runtime where crun cannot run here.
    runner_flags: tuple[str, ...] = ()
    # Global flags of every builder call: the image store, which the runner must share (storage_flags).
    builder_flags: tuple[str, ...] = ()

    def command(self, *arguments: str) -> list[str]:
        """A runner call (`stop`, `kill`, `rm`, ...) with the engine's global flags."""
        return [self.runner, *self.runner_flags, *arguments]

    def build_command(
        self, dockerfile: Path, tag: str, base_image: str | None = None, ca_bundle: Path | None = None
    ) -> list[str]:
        build = ["bud", "--layers"] if self.builder == "buildah" else ["build"]
        command = [self.builder, *self.builder_flags, *build]
        command += ["--file", str(dockerfile), "--tag", tag]
        if base_image:
            command += ["--build-arg", f"BASE_IMAGE={base_image}"]
        if ca_bundle:
            command += ["--secret", f"id={CA_SECRET_ID},src={ca_bundle}"]
        return [*command, "."]

    def run_command(
        self,
        image: str,
        arguments: Sequence[str],
        mounts: Sequence[tuple[Path, str, bool]] = (),
        environment: dict[str, str] | None = None,
        publish: tuple[int, int] | None = None,
        name: str | None = None,
        detach: bool = False,
        options: Sequence[str] = (),
    ) -> list[str]:
        """`run --rm` with (host, container, read_only) mounts and (host_port, container_port) on the loopback.

        `options` are further `run` flags, such as `--entrypoint=python` or a user mapping.
        """
        command = self.command("run", "--rm", *options)
        if detach:
            command.append("--detach")
        if name:
            command += ["--name", name]
        if self.runner == "podman":
            command += _ulimits()
        if publish:
            command += ["--publish", f"127.0.0.1:{publish[0]}:{publish[1]}"]
        else:  # a job needs no network, as with SageMaker's network isolation
            command += ["--network", "none"]
        for host, container, read_only in mounts:
            command += ["--volume", f"{host.resolve()}:{container}{':ro' if read_only else ''}"]
        for key, value in (environment or {}).items():
            command += ["--env", f"{key}={value}"]
        return [*command, image, *arguments]


def detect_engine() -> Engine:
    """docker when its daemon answers (or $CONTAINER_ENGINE=docker), otherwise buildah and podman."""
    choice = os.environ.get(ENGINE_ENV, "")
    if choice not in {"", "docker", "podman"}:
        raise ImageError(f"${ENGINE_ENV}={choice!r}: choose docker or podman, or leave it unset to detect.")
    if choice == "docker" or (not choice and shutil.which("docker") and _docker_daemon_answers()):
        return Engine("docker", "docker")
    podman, buildah = shutil.which("podman"), shutil.which("buildah")
    if podman:
        store = storage_flags()
        return Engine("buildah" if buildah else "podman", "podman", podman_flags() + store, store)
    raise ImageError(
        "No container engine: no docker daemon answers, and podman is not installed. Start docker, or install "
        "podman and buildah (Debian/Ubuntu: apt-get install podman buildah), which need no daemon."
    )


PODMAN_FLAGS_ENV = "PODMAN_FLAGS"


def podman_flags(cgroup_root: Path = Path("/sys/fs/cgroup")) -> tuple[str, ...]:
    """podman's global flags for this machine: `$PODMAN_FLAGS` if set, else what its cgroups need.

    On a unified cgroup v2 host (today's laptops and CI images) podman's defaults work. On a
    cgroup v1 or hybrid host (some CI sandboxes), crun refuses to start a container, and runc
    with the cgroupfs manager is what runs.
    """
    if PODMAN_FLAGS_ENV in os.environ:
        return tuple(os.environ[PODMAN_FLAGS_ENV].split())
    if (cgroup_root / "cgroup.controllers").is_file():
        return ()
    if not shutil.which("runc"):
        raise ImageError(
            f"This machine's cgroups are v1 or hybrid ({cgroup_root} is not a unified cgroup v2 mount), where "
            "podman's default runtime cannot start containers. Install runc (Debian/Ubuntu: apt-get install runc), "
            f"or set ${PODMAN_FLAGS_ENV} to the podman flags that work here."
        )
    return ("--runtime", "runc", "--cgroup-manager", "cgroupfs")


STORAGE_DRIVER_ENV = "STORAGE_DRIVER"


def storage_flags(environ: Mapping[str, str] = os.environ, euid: int | None = None) -> tuple[str, ...]:
    """buildah's and podman's image store for `$STORAGE_DRIVER` (unset: their default store).

    Debian's buildah 1.28 and podman 4.3 ignore the variable itself, so it becomes flags that
    every build and run carries. The store gets its own root (`storage-<driver>` beside the
    default one), because podman refuses a store whose database recorded another driver.
    """
    driver = environ.get(STORAGE_DRIVER_ENV, "").strip()
    if not driver:
        return ()
    if (os.geteuid() if euid is None else euid) == 0:
        containers = Path("/var/lib/containers")
    else:
        containers = Path(environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "containers"
    return ("--storage-driver", driver, "--root", str(containers / f"storage-{driver}"))


def _docker_daemon_answers() -> bool:
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


# Processes a job may start: far above what any component uses (a pool of workers per core).
# Some sandboxes refuse a container higher limits than this, even within their own.
MAX_JOB_PROCESSES = 16384


def job_limits() -> dict[str, tuple[int, int]]:
    """(soft, hard) open files and processes a container may have here: podman's defaults may exceed
    what this process may grant (CI sandboxes). Open files appear only under a finite hard limit."""
    files_soft, files_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limits = {}
    if files_hard != resource.RLIM_INFINITY:
        limits["nofile"] = (min(files_soft, files_hard), files_hard)
    _, processes_hard = resource.getrlimit(resource.RLIMIT_NPROC)
    processes = (
        MAX_JOB_PROCESSES if processes_hard == resource.RLIM_INFINITY else min(processes_hard, MAX_JOB_PROCESSES)
    )
    limits["nproc"] = (processes, processes)
    return limits


def _ulimits() -> list[str]:
    return [flag for name, (soft, hard) in job_limits().items() for flag in ("--ulimit", f"{name}={soft}:{hard}")]


def image_name(config: dict[str, Any], component: str) -> str:
    """The local name `make images` gives a component's image: <project_slug>-<component>."""
    if component not in COMPONENTS:
        raise ImageError(f"Unknown component {component!r}; the components are {', '.join(COMPONENTS)}.")
    return f"{config['project']['slug']}-{component}"


@dataclass(frozen=True)
class Built:
    component: str
    image: str
    seconds: float


# Where pip and requests on this machine find a TLS-intercepting proxy's certificates, in the order tried.
CA_BUNDLE_VARIABLES = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def host_ca_bundle(environ: Mapping[str, str] | None = None) -> tuple[str, Path] | None:
    """The CA bundle this machine configures for pip (the variable and its file), if one names a file."""
    environ = os.environ if environ is None else environ
    for variable in CA_BUNDLE_VARIABLES:
        value = environ.get(variable, "")
        if value and Path(value).is_file():
            return variable, Path(value)
    return None


def build_images(
    config: dict[str, Any],
    root: Path,
    components: Sequence[str] = COMPONENTS,
    base_image: str | None = None,
    ca_bundle: Path | None = None,
    engine: Engine | None = None,
    progress: Callable[[str], None] = print,
) -> list[Built]:
    """Build each component's image from the repository at `root`; the shared layers build once."""
    engine = engine or detect_engine()
    if ca_bundle is not None and not ca_bundle.is_file():
        raise ImageError(f"CA bundle {ca_bundle} is not a file; pass a PEM file of the proxy's certificates.")
    found = None if ca_bundle is not None else host_ca_bundle()
    if found is not None:  # pip inside the build trusts what pip on this machine trusts; a secret, never a layer
        variable, ca_bundle = found
        progress(f"pip in the builds trusts the CA bundle ${variable} names: {ca_bundle} (a build secret)")
    built = []
    for component in components:
        tag = image_name(config, component)
        command = engine.build_command(Path("docker") / component / "Dockerfile", tag, base_image, ca_bundle)
        progress(f"building {tag} with {engine.builder}")
        started = time.perf_counter()
        result = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise ImageError(f"Building {tag} failed ({' '.join(command)}):\n{tail}")
        built.append(Built(component, tag, round(time.perf_counter() - started, 2)))
    return built


def image_size(engine: Engine, image: str) -> int:
    """The image's size in bytes, as the engine reports it."""
    result = subprocess.run(
        engine.command("image", "inspect", "--format", "{{.Size}}", image),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ImageError(f"No image {image}: {result.stderr.strip()}. Run `make images` first.")
    return int(result.stdout.strip())


def require_images(config: dict[str, Any], engine: Engine, components: Sequence[str] = COMPONENTS) -> None:
    """An error naming every missing image and the command that builds it."""
    probe = engine.command("image", "exists" if engine.runner == "podman" else "inspect")
    names = [image_name(config, c) for c in components]
    missing = [n for n in names if subprocess.run([*probe, n], capture_output=True, check=False).returncode != 0]
    if missing:
        driver = os.environ.get(STORAGE_DRIVER_ENV) if engine.runner == "podman" else None
        where = f" in the ${STORAGE_DRIVER_ENV}={driver} store" if driver else ""
        raise ImageError(f"Image(s) {', '.join(missing)} not built{where}; run `make images` first.")
