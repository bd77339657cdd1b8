"""The SageMaker container contract: paths under /opt/ml, failure reporting, staged outputs.

Entrypoints are the only callers. `OPT_ML_ROOT` re-roots every /opt/ml path, which is the
only difference between running inside a SageMaker container and running locally.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import stat
import sys
import tarfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # read_csv_dir imports it: the local command line uses this module without pandas
    import pandas as pd


from . import channels
from . import job_environment as job_env
from .channels import PROCESSING_JOB, TRAINING_JOB
from .csv_input import CsvError, check_file
from .registry.digests import DIGESTS_ENV, content_digest, file_sha256, folder_digest

OPT_ML_ROOT_ENV = "OPT_ML_ROOT"
# Set in the images: the unprivileged user the component code runs as (see drop_privileges).
COMPONENT_USER_ENV = "COMPONENT_USER"


class ComponentError(Exception):
    """An error whose message is fit for a person: what was wrong and what to do."""


class JobStopped(BaseException):
    """SageMaker stopped the job (SIGTERM). A BaseException, so no `except Exception` swallows it."""


def opt_ml() -> Path:
    """The container's /opt/ml, or $OPT_ML_ROOT when set."""
    return Path(os.environ.get(OPT_ML_ROOT_ENV, "/opt/ml"))


# The mode run_entrypoint is running ("component mode", and what channels.MODES declares for it).
_running: tuple[str, channels.Mode] | None = None


def _declared(name: str, side: str) -> str:
    """`name`, once the running mode declares it among its `side` ("inputs" or "outputs")."""
    if _running is not None and name not in getattr(_running[1], side):
        label, declared = _running[0], getattr(_running[1], side)
        raise ValueError(
            f"{label} uses the channel {name!r}, which channels.MODES does not declare among its {side} "
            f"({', '.join(declared) or 'none'}): declare it there, where the pipelines read it too."
        )
    return name


def processing_input(name: str) -> Path:
    """A Processing job input: /opt/ml/processing/input/<name>."""
    return opt_ml() / "processing" / "input" / _declared(name, "inputs")


def processing_output(name: str) -> Path:
    """A Processing job output: /opt/ml/processing/output/<name>."""
    return opt_ml() / "processing" / "output" / _declared(name, "outputs")


def training_channel(name: str) -> Path:
    """A Training job data channel: /opt/ml/input/data/<name>."""
    return opt_ml() / "input" / "data" / _declared(name, "inputs")


def model_dir() -> Path:
    """Where training writes the model, and where serving finds it unpacked."""
    return opt_ml() / "model"


def current_host() -> str:
    """This instance's name in a multi-instance job ("algo-1", ...), from resourceconfig.json.

    SageMaker Processing writes /opt/ml/config/resourceconfig.json on every instance; alone,
    or where the file is absent (a local run), the host is "algo-1".
    """
    path = opt_ml() / "config" / "resourceconfig.json"
    if not path.is_file():
        return "algo-1"
    try:
        host = json.loads(path.read_text("utf-8"))["current_host"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ComponentError(f"{path} is not SageMaker's resource config: {exc}") from exc
    if not isinstance(host, str) or not host or "/" in host:
        raise ComponentError(f"{path} names an unusable current_host: {host!r}")
    return host


def job_time(variable: str) -> datetime:
    """A time the pipeline gives the job in $variable (its execution's start), else now; UTC."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ComponentError(f"{variable}={text!r} is not an ISO 8601 time such as 2026-01-31T06:00:00Z.") from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


# Each SageMaker job type (channels.py: the one a component mode runs as) reads a failed job's
# reason from its own file (the first 1 KB, UTF-8): a Processing job's is DescribeProcessingJob's
# ExitMessage, a Training job's is DescribeTrainingJob's FailureReason. A Transform's model server
# has no such file: its reason goes to the log.
REASON_FILES = {PROCESSING_JOB: "message", TRAINING_JOB: "failure"}
REASON_LIMIT = 1024  # bytes SageMaker keeps of a reason


def reason_file(job: str) -> Path | None:
    """Where SageMaker reads the reason a job of type `job` failed (None: only the log says)."""
    name = REASON_FILES.get(job)
    return opt_ml() / "output" / name if name else None


def one_line(message: str, limit: int = REASON_LIMIT) -> str:
    """A reason as one line of at most `limit` UTF-8 bytes, newline included; a cut one ends in "…"."""
    line = " ".join(message.split())
    if len(line.encode("utf-8")) < limit:
        return line + "\n"
    cut = line.encode("utf-8")[: limit - len("…\n".encode())].decode("utf-8", errors="ignore")
    return cut + "…\n"


def read_hyperparameters() -> dict[str, str]:
    """hyperparameters.json as SageMaker writes it: every value a string."""
    path = opt_ml() / "input" / "config" / "hyperparameters.json"
    if not path.is_file():
        return {}
    try:
        values = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise ComponentError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(values, dict):
        raise ComponentError(f"{path} must hold a JSON object of hyperparameters")
    not_strings = sorted(k for k, v in values.items() if not isinstance(v, str))
    if not_strings:
        raise ComponentError(
            f"Hyperparameters {not_strings} in {path} are not strings; SageMaker passes every "
            "hyperparameter as a string, so quote the values."
        )
    return values


def csv_files(directory: Path, what: str, allow_none: bool = False) -> list[Path]:
    """The CSV files of an input directory, in a stable order; an error if there are none.

    `allow_none` is for one shard of a sharded job: with more instances than files, some
    instances receive no file at all, and that is not an error.
    """
    if not directory.is_dir():
        if allow_none:
            return []
        raise ComponentError(f"Input directory {directory} for {what} does not exist.")
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() == ".csv")
    if not files and not allow_none:
        present = sorted(p.name for p in directory.iterdir())[:10]
        raise ComponentError(
            f"No CSV file found in {directory} for {what} (found: {present or 'nothing'}). "
            "Point the job's input at a CSV file or a prefix of CSV files."
        )
    return files


def read_shard_summaries(component: str, producer: str, parse: Callable[[dict], Any]) -> list[tuple[Path, Any]]:
    """Every instance's summary in the merge job's 'summaries' input, parsed, in host order.

    `producer` names the sharded mode that wrote them, for the error a person reads.
    """
    directory = processing_input(channels.SUMMARIES)
    paths = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if not paths:
        raise ComponentError(
            f"No shard summary in {directory}; the merge needs the {producer} step's 'summary' output."
        )
    shards = []
    for path in paths:
        try:
            shards.append((path, parse(json.loads(path.read_text("utf-8")))))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ComponentError(f"{path} is not a {component} shard summary: {exc}") from exc
    return shards


def check_pinned(artefact: str, path: Path) -> Path:
    """`path` once it is the artefact the manifest pins (ARTIFACT_DIGESTS); before any loader opens it.

    A file is checked by its bytes, a folder by its listing (registry/digests.py). A mismatch, or
    no digest to check, is a ComponentError that names the artefact and both digests: the job
    reads nothing from a file nobody checked.
    """
    if not path.exists():
        raise ComponentError(f"{path} not found: this job's input must hold the registered {artefact} artefact.")
    raw = os.environ.get(DIGESTS_ENV, "")
    try:
        expected = json.loads(raw)[artefact] if raw else None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ComponentError(
            f"{DIGESTS_ENV} holds no {artefact!r} digest ({exc}); it must be the manifest's digests."
        ) from exc
    if not expected:
        raise ComponentError(
            f"{DIGESTS_ENV} is not set, and this mode loads the registered {artefact} only once its digest is checked. "
            "The pipelines pass the manifest's digests; by hand, pass the JSON of `registry show`'s manifest.digests."
        )
    found = folder_digest(path) if path.is_dir() else file_sha256(path)
    if found != expected:
        raise ComponentError(
            f"The {artefact} artefact at {path} is not the one the manifest pins: its sha256 is {found}, the "
            f"manifest's {expected}. It changed after the model was registered, and nothing was loaded from it. "
            "Restore the artefact, or train and promote a new version."
        )
    return path


# A content-addressed training input: s3://<bucket>/data/train/sha256=<digest>/ (see `data snapshot`).
SNAPSHOT = re.compile(r"/sha256=([0-9a-f]{64})/?$")


def check_content_address(channel: str = channels.RAW) -> None:
    """The training input must be the content its URI names: what makes a step cache hit safe.

    The pipeline passes the input's URI as INPUT_DATA. A `sha256=<digest>` prefix must hold
    exactly that content (the one file's sha256, or the folder listing's, as the snapshot names
    it). With STEP_CACHING=on, a prefix named by no digest is refused: a run on it would be
    recorded, and a later run on changed data at the same prefix would reuse its outputs.
    """
    uri = os.environ.get(job_env.INPUT_DATA, "")
    if not uri:
        return  # not started by the pipeline (a test, `make images-test`)
    match = SNAPSHOT.search(uri)
    if match is None:
        if os.environ.get(job_env.STEP_CACHING) == "on":
            raise ComponentError(
                f"The training input {uri} is not a content-addressed snapshot, and step caching is on: a later run "
                "on changed data at this prefix would reuse this run's outputs. Upload the data with `data snapshot "
                "--data FILE`, which prints its s3://.../sha256=<digest>/ URI, and pass that as InputData; or set "
                "pipelines.cache.enabled to false in config/project.yaml."
            )
        return
    folder = processing_input(channel)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if not files:
        raise ComponentError(f"The training input {uri} holds no file.")
    names = [p.relative_to(folder).as_posix() for p in files]
    found = {content_digest(files, names)} | ({content_digest(files)} if len(files) == 1 else set())
    if match.group(1) not in found:
        raise ComponentError(
            f"The snapshot {uri} no longer holds the content it is named by (its sha256 is now {min(found)}): it was "
            "changed after it was written. A snapshot is never modified; upload the new data as a new snapshot."
        )


def check_csv(path: Path, header: bool = True) -> None:
    """csv_input's strict rules (UTF-8, unique header names, every row as wide as the header).

    A CsvError is written for people: run_entrypoint makes it the job's reason, word for word.
    """
    check_file(path, header)


def read_csv_files(directory: Path, what: str, **kwargs) -> list[pd.DataFrame]:
    """Every CSV file of an input directory as a frame, in path order, each checked by the strict rules first."""
    import pandas as pd

    frames = []
    for path in csv_files(directory, what):
        check_csv(path, header=kwargs.get("header", "infer") is not None)
        try:
            frames.append(pd.read_csv(path, **kwargs))
        except pd.errors.EmptyDataError as exc:
            raise ComponentError(f"{path} is empty; {what} needs a CSV file with a header and rows.") from exc
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise ComponentError(f"{path} is not a readable CSV file: {exc}") from exc
    return frames


def read_csv_dir(directory: Path, what: str, **kwargs) -> pd.DataFrame:
    """Read and concatenate every CSV file of an input directory, each checked by the strict rules first."""
    import pandas as pd

    frames = read_csv_files(directory, what, **kwargs)
    data = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if data.empty:
        raise ComponentError(f"{what} in {directory} has a header but no rows.")
    return data


@contextmanager
def staged_output(final_dir: Path) -> Iterator[Path]:
    """Write into a hidden staging folder and publish it only when the block succeeds.

    A failure leaves nothing in `final_dir`, so no partial output looks whole. The staging
    folder lives inside `final_dir`: SageMaker mounts each output as its own volume, and a
    rename within one volume is atomic where one across volumes fails.
    """
    final_dir.mkdir(parents=True, exist_ok=True)
    staging = final_dir / STAGING_NAME
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for item in staging.iterdir():
        target = final_dir / item.name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        item.replace(target)
    staging.rmdir()


STAGING_NAME = ".partial"


def safe_extract(archive: Path, destination: Path, names: list[str] | None = None) -> None:
    """Unpack regular files and folders of a tar archive, refusing anything that escapes `destination`.

    The same rules as tarfile's "data" filter, checked here so that every CPython 3.11.x works
    (the filter argument arrived in 3.11.4; Debian 12's python3 is 3.11.2).
    """
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    with tarfile.open(archive) as tar:
        members = tar.getmembers() if names is None else [tar.getmember(name) for name in names]
        for member in members:
            target = (root / member.name).resolve()
            if not (member.isfile() or member.isdir()) or not target.is_relative_to(root):
                raise ComponentError(
                    f"{archive} holds {member.name!r}, which is not a plain file or folder inside the archive; "
                    "refusing to unpack it. Repack the model with the training job's model.tar.gz layout."
                )
            member.mode = (member.mode | 0o600) & 0o755 if member.isfile() else 0o755
            member.uid = member.gid = 0
            member.uname = member.gname = ""
        if hasattr(tarfile, "data_filter"):
            tar.extractall(root, members=members, filter="data")
        else:  # CPython < 3.11.4: the members were checked above
            tar.extractall(root, members=members)


def drop_privileges(job: str) -> None:
    """Run the component unprivileged although SageMaker starts the container as root.

    SageMaker mounts every job volume owned by root, so an image with `USER app` cannot
    write its outputs. When the image names a user ($COMPONENT_USER) and we are root, the
    job's writable paths are handed to that user before any component code runs: the
    reason file's folder, the training job's model folder, and the Processing outputs.
    Everything else under /opt/ml stays root's, and is made readable to the user where it is
    not (see grant_read).
    """
    user = os.environ.get(COMPONENT_USER_ENV)
    if not user or os.geteuid() != 0:
        return
    try:
        account = pwd.getpwnam(user)
    except KeyError as exc:
        raise ComponentError(f"${COMPONENT_USER_ENV} names user {user!r}, who does not exist in this image") from exc
    writable = [opt_ml() / "output"]
    if job == PROCESSING_JOB:
        writable.append(opt_ml() / "processing" / "output")
    elif job == TRAINING_JOB:
        writable.append(model_dir())
    for path in writable:
        path.mkdir(parents=True, exist_ok=True)
        _chown_tree(path, account.pw_uid, account.pw_gid)
    grant_read(opt_ml(), user, account.pw_uid, account.pw_gid, skip=writable)
    os.setgroups([])
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)
    os.environ.update(HOME=account.pw_dir, USER=user, LOGNAME=user)


def grant_read(root: Path, user: str, uid: int, gid: int, skip: list[Path]) -> None:
    """Let (uid, gid) read every input under `root`, changing only what it could not read.

    SageMaker promises root-owned volumes, not world-readable ones: the SDK's local mode makes
    /opt/ml/input/data mode 0700. Such an entry gains read (and search, for a folder) for the
    class the user falls in, and nothing else: no write, no new owner. Inputs are the job's own
    copies, so nothing outside the job changes. An entry that cannot be changed (a read-only
    mount) and that the user cannot read fails the job here, naming the path.
    """
    skipped = set(skip)
    for folder, dirs, files in os.walk(root):
        dirs[:] = [name for name in dirs if Path(folder, name) not in skipped]
        for path in [Path(folder), *(Path(folder, name) for name in files)]:
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                continue
            need = 0o5 if stat.S_ISDIR(info.st_mode) else 0o4  # r-x for a folder, r-- for a file
            shift = 6 if info.st_uid == uid else 3 if info.st_gid == gid else 0
            if (info.st_mode >> shift) & need == need:
                continue
            try:
                os.chmod(path, stat.S_IMODE(info.st_mode) | need << shift)
            except OSError as exc:
                raise ComponentError(
                    f"{path} (mode {stat.S_IMODE(info.st_mode):o}, owner uid {info.st_uid}) cannot be read by "
                    f"the job's user {user!r} (uid {uid}), and cannot be made readable: {exc.strerror}. Give the "
                    "input read access for that user, or mount it writable for root, as SageMaker does."
                ) from exc


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid, follow_symlinks=False)
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), uid, gid, follow_symlinks=False)


def _stop(signum: int, _frame: object) -> None:
    raise JobStopped(f"stopped by signal {signal.Signals(signum).name} before it finished")


def run_entrypoint(
    component: str,
    modes: dict[str, Callable[[], None]],
    argv: list[str] | None = None,
    jobs: dict[str, str] | None = None,
) -> int:
    """Dispatch `train`/`serve` (as SageMaker appends them) and report failures its way.

    A component's modes, their channels and the SageMaker job each runs as are channels.MODES';
    while a mode runs, `processing_input` and `processing_output` refuse a channel it does not
    declare. `jobs` names the job type for a component the table does not hold (a test's). The
    job decides where the reason of a failure goes. A stop (SIGTERM; the process is PID 1 in a
    container, where no default handler applies) fails the job with a reason and publishes
    nothing. Serve mode installs its own handler, for which a stop is the normal end.
    """
    global _running
    declared = channels.MODES.get(component)
    if declared is not None and not set(modes) <= set(declared):
        undeclared = ", ".join(sorted(set(modes) - set(declared)))
        raise ValueError(f"{component} has modes channels.MODES does not declare: {undeclared}")
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in modes:
        print(f"usage: python -m <package>.components.{component} {{{'|'.join(modes)}}}", file=sys.stderr)
        return 2
    mode = args[0]
    job = (jobs or {}).get(mode) or (declared[mode].job if declared else PROCESSING_JOB)
    _running = (f"{component} {mode}", declared[mode]) if declared else None
    signal.signal(signal.SIGTERM, _stop)
    try:
        drop_privileges(job)
        modes[mode]()
    except (ComponentError, CsvError) as exc:  # both are written for people: the reason, word for word
        return _fail(job, f"{component} {mode}: {exc}")
    except JobStopped as exc:
        return _fail(job, f"{component} {mode}: {exc}; nothing was published", code=143)
    except Exception as exc:  # noqa: BLE001 - every failure must reach the job's reason
        traceback.print_exc()
        return _fail(job, f"{component} {mode}: unexpected {type(exc).__name__}: {exc}")
    finally:
        _running = None
    return 0


def _fail(job: str, message: str, code: int = 1) -> int:
    """Write the reason where SageMaker reads it for this job, and to stderr (the job's log) in any case."""
    line = one_line(message)
    print(f"ERROR {line}", file=sys.stderr, end="", flush=True)
    path = reason_file(job)
    if path is None:
        return code
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(line, "utf-8")
    except OSError as exc:
        print(f"ERROR could not write the failure reason to {path}: {exc}", file=sys.stderr, flush=True)
    return code
