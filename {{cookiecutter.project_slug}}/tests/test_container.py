"""The container contract beneath every entrypoint: unpacking, privileges, stops and failure reasons."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
import textwrap
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import (
    container,
)
from {{ cookiecutter.package_name }}.channels import PROCESSING_JOB as PROCESSING
from {{ cookiecutter.package_name }}.channels import TRAINING_JOB as TRAINING
from {{ cookiecutter.package_name }}.channels import TRANSFORM_JOB as TRANSFORM
from {{ cookiecutter.package_name }}.container import (
    ComponentError,
    drop_privileges,
    safe_extract,
)

from .conftest import job_reason, subprocess_env


def _archive(path: Path, members: dict[str, bytes], link: str | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o4755  # setuid: must not survive unpacking
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo("link")
            info.type = tarfile.SYMTYPE
            info.linkname = link
            tar.addfile(info)
    return path


@pytest.fixture(params=["with the data filter", "on CPython before 3.11.4"])
def tarfile_of_any_311(request, monkeypatch):
    """Both code paths: CPython 3.11.4+ has tarfile.data_filter; Debian 12's 3.11.2 has not."""
    if request.param != "with the data filter":
        monkeypatch.delattr(tarfile, "data_filter")
        original = tarfile.TarFile.extractall

        def extractall_without_filter(self, path=".", members=None, *, numeric_owner=False, **kwargs):
            assert "filter" not in kwargs, "3.11.0-3.11.3 have no filter argument"
            return original(self, path, members, numeric_owner=numeric_owner, filter="fully_trusted")

        monkeypatch.setattr(tarfile.TarFile, "extractall", extractall_without_filter)


def test_safe_extract_unpacks_plain_files_without_special_bits(tmp_path, tarfile_of_any_311):
    archive = _archive(tmp_path / "model.tar.gz", {"model.joblib": b"model", "reports/evaluation.html": b"<html>"})
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "model.joblib").read_bytes() == b"model"
    assert (tmp_path / "out" / "reports" / "evaluation.html").read_bytes() == b"<html>"
    assert not (tmp_path / "out" / "model.joblib").stat().st_mode & 0o7000


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/evil", "a/../../escape.txt"])
def test_safe_extract_refuses_paths_outside_the_destination(tmp_path, tarfile_of_any_311, name):
    archive = _archive(tmp_path / "bad.tar.gz", {name: b"x"})
    with pytest.raises(ComponentError, match="refusing to unpack"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_safe_extract_refuses_links(tmp_path, tarfile_of_any_311):
    archive = _archive(tmp_path / "bad.tar.gz", {"model.joblib": b"m"}, link="/etc/passwd")
    with pytest.raises(ComponentError, match="'link'"):
        safe_extract(archive, tmp_path / "out")


class _Calls:
    def __init__(self):
        self.chowned: list[Path] = []
        self.identity: list[tuple[str, int]] = []


@pytest.fixture
def as_root(monkeypatch, opt_ml):
    """drop_privileges as it runs in an image started as root, with the system calls recorded."""
    calls = _Calls()
    monkeypatch.setenv(container.COMPONENT_USER_ENV, "app")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(
        container.pwd, "getpwnam", lambda name: type("pw", (), dict(pw_uid=1000, pw_gid=1000, pw_dir="/home/app"))()
    )
    monkeypatch.setattr(os, "chown", lambda path, uid, gid, follow_symlinks=True: calls.chowned.append(Path(path)))
    monkeypatch.setattr(os, "setgroups", lambda groups: calls.identity.append(("groups", len(groups))))
    monkeypatch.setattr(os, "setgid", lambda gid: calls.identity.append(("gid", gid)))
    monkeypatch.setattr(os, "setuid", lambda uid: calls.identity.append(("uid", uid)))
    monkeypatch.setenv("HOME", "/root")
    return calls


def test_processing_job_hands_only_its_outputs_to_the_app_user(as_root, opt_ml):
    (opt_ml / "processing" / "input" / "raw").mkdir(parents=True)
    (opt_ml / "processing" / "input" / "raw" / "data.csv").write_text("a\n1\n")
    (opt_ml / "processing" / "output" / "report").mkdir(parents=True)
    drop_privileges(PROCESSING)
    assert set(as_root.chowned) == {
        opt_ml / "output",
        opt_ml / "processing" / "output",
        opt_ml / "processing" / "output" / "report",
    }
    assert as_root.identity == [("groups", 0), ("gid", 1000), ("uid", 1000)], "uid must be dropped last"
    assert os.environ["HOME"] == "/home/app"


def test_training_job_hands_its_model_folder_to_the_app_user(as_root, opt_ml):
    (opt_ml / "input" / "data" / "train").mkdir(parents=True)
    drop_privileges(TRAINING)
    assert set(as_root.chowned) == {opt_ml / "output", opt_ml / "model"}
    assert (opt_ml / "model").is_dir()


def test_serve_hands_nothing_but_the_failure_folder(as_root, opt_ml):
    (opt_ml / "model").mkdir()
    drop_privileges(TRANSFORM)
    assert as_root.chowned == [opt_ml / "output"]


def test_no_drop_outside_an_image(monkeypatch, opt_ml):
    monkeypatch.delenv(container.COMPONENT_USER_ENV, raising=False)
    monkeypatch.setattr(os, "setuid", lambda uid: pytest.fail("must not change user outside an image"))
    drop_privileges(TRAINING)


def test_unknown_app_user_is_a_clear_error(monkeypatch, opt_ml):
    monkeypatch.setenv(container.COMPONENT_USER_ENV, "no-such-user-here")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    with pytest.raises(ComponentError, match="no-such-user-here"):
        drop_privileges(TRAINING)


def test_inputs_the_user_cannot_read_gain_read_for_it_and_nothing_else(as_root, opt_ml):
    """The SDK's local mode makes /opt/ml/input/data 0700, root's: the user gains read and search, not write."""
    data = opt_ml / "input" / "data"
    (data / "train").mkdir(parents=True)
    (data / "train" / "train.csv").write_text("a\n1\n")
    (data / "train" / "train.csv").chmod(0o600)
    for folder in (data / "train", data):
        folder.chmod(0o700)
    drop_privileges(TRAINING)
    assert stat.S_IMODE(data.stat().st_mode) == 0o705
    assert stat.S_IMODE((data / "train").stat().st_mode) == 0o705
    assert stat.S_IMODE((data / "train" / "train.csv").stat().st_mode) == 0o604
    assert not [p for p in as_root.chowned if "input" in p.parts], "inputs keep their owner"


def test_readable_inputs_are_left_as_they_are(as_root, opt_ml, monkeypatch):
    raw = opt_ml / "processing" / "input" / "raw"
    raw.mkdir(parents=True)
    (raw / "a.csv").write_text("a\n1\n")
    for path in (opt_ml, opt_ml / "processing", opt_ml / "processing" / "input", raw):
        path.chmod(0o755)
    (raw / "a.csv").chmod(0o644)
    monkeypatch.setattr(os, "chmod", lambda path, mode: pytest.fail(f"{path} was readable, and changed"))
    drop_privileges(PROCESSING)


def test_an_input_that_cannot_be_made_readable_fails_the_job_naming_it(as_root, opt_ml, monkeypatch):
    data = opt_ml / "input" / "data" / "train"
    data.mkdir(parents=True)
    data.chmod(0o700)

    def read_only(path, mode):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(os, "chmod", read_only)
    with pytest.raises(ComponentError, match=f"{data} \\(mode 700, owner uid \\d+\\) cannot be read by the job's user"):
        drop_privileges(TRAINING)
    assert not [kind for kind, _ in as_root.identity], "the job fails before it changes user"


@pytest.mark.skipif(os.geteuid() != 0, reason="changing user for real needs root")
def test_a_job_started_as_root_reads_root_only_inputs_as_its_unprivileged_user(monkeypatch):
    """For real: root-owned 0700 inputs, the drop to `nobody`, then the job reads its input and writes its model."""
    nobody = pwd.getpwnam("nobody")
    top = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's own temporary folder is 0700: nobody could not reach it
    try:
        top.chmod(0o755)
        root = top / "opt_ml"
        data = root / "input" / "data"
        (data / "train").mkdir(parents=True)
        (data / "train" / "train.csv").write_text("a\n1\n")
        (data / "train" / "train.csv").chmod(0o600)
        for folder in (data / "train", data, root / "input"):
            folder.chmod(0o700)
        monkeypatch.setenv(container.OPT_ML_ROOT_ENV, str(root))
        monkeypatch.setenv(container.COMPONENT_USER_ENV, "nobody")

        def train():
            copied = (data / "train" / "train.csv").read_text()
            (container.model_dir() / "model.txt").write_text(f"{os.geteuid()} {copied}")

        pid = os.fork()
        if pid == 0:  # the job, as the image's entrypoint runs it
            os._exit(container.run_entrypoint("demo", {"train": train}, ["train"], jobs={"train": TRAINING}))
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, (root / "output" / "failure").read_text()
        assert (root / "model" / "model.txt").read_text() == f"{nobody.pw_uid} a\n1\n"
        assert data.stat().st_uid == 0 and not data.stat().st_mode & 0o022, "inputs stay root's, never writable"
    finally:
        shutil.rmtree(top)


@pytest.mark.parametrize(
    ("jobs", "written", "unwritten"),
    [(None, "message", "failure"), ({"train": TRAINING}, "failure", "message"), ({"train": TRANSFORM}, None, None)],
    ids=["Processing", "Training", "Transform"],
)
def test_a_failure_reason_goes_where_sagemaker_reads_it_for_the_job(
    tmp_path, monkeypatch, capsys, jobs, written, unwritten
):
    monkeypatch.setenv("OPT_ML_ROOT", str(tmp_path))

    def broken():
        raise ComponentError("the reason")

    assert container.run_entrypoint("demo", {"train": broken}, ["train"], jobs=jobs) == 1
    assert "ERROR demo train: the reason\n" in capsys.readouterr().err
    if written:
        assert (tmp_path / "output" / written).read_text("utf-8") == "demo train: the reason\n"
        assert not (tmp_path / "output" / unwritten).exists()
    else:  # a model server: SageMaker reads no file, and its log says why
        assert not (tmp_path / "output").exists()


def test_a_long_reason_is_one_line_within_sagemakers_kilobyte():
    line = container.one_line("é" * 600 + "\n  second\tline " + "x" * 2000)
    assert len(line.encode("utf-8")) <= 1024 and line.endswith("…\n") and line.count("\n") == 1
    assert line == "é" * 510 + "…\n", "cut on a character boundary"
    assert container.one_line("short\nreason") == "short reason\n"


SLOW_JOB = textwrap.dedent(
    """
    import sys, time
    from {{ cookiecutter.package_name }}.container import processing_output, run_entrypoint, staged_output

    def train():
        with staged_output(processing_output("report")) as out:
            (out / "half.json").write_text("{")
            print("writing", flush=True)
            time.sleep(60)

    sys.exit(run_entrypoint("demo", {"train": train}))
    """
)


def test_sigterm_fails_the_job_with_a_reason_and_publishes_nothing(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_JOB, "train"],
        env=subprocess_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout.readline().strip() == "writing"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 143
    assert "demo train: stopped by signal SIGTERM" in job_reason(tmp_path)
    report = tmp_path / "processing" / "output" / "report"
    assert not [p for p in report.rglob("*") if p.is_file()]


def test_failure_reason_reaches_stderr_when_output_is_unwritable(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPT_ML_ROOT", str(tmp_path))
    (tmp_path / "output").write_text("a file where SageMaker's output folder should be")

    def broken():
        raise ComponentError("the reason")

    assert container.run_entrypoint("demo", {"train": broken}, ["train"]) == 1
    err = capsys.readouterr().err
    assert "ERROR demo train: the reason" in err
    assert "could not write the failure reason" in err


def test_staging_lives_inside_the_output_folder(tmp_path):
    """Each SageMaker output is its own volume; a rename from its parent would cross devices."""
    final = tmp_path / "processing" / "output" / "report"
    with container.staged_output(final) as staging:
        assert staging.parent == final
        (staging / "a.json").write_text("{}")
    assert [p.name for p in final.iterdir()] == ["a.json"]


def snapshot_input(opt_ml, files):
    raw = opt_ml / "processing" / "input" / "raw"
    raw.mkdir(parents=True)
    for name, text in files.items():
        (raw / name).write_text(text)
    return raw


def test_a_snapshot_must_hold_the_content_its_uri_names(opt_ml, monkeypatch):
    from {{ cookiecutter.package_name }}.container import ComponentError, check_content_address, content_digest

    raw = snapshot_input(opt_ml, {"train.csv": "a,b\n1,2\n"})
    digest = content_digest([raw / "train.csv"])
    assert digest == hashlib.sha256(b"a,b\n1,2\n").hexdigest()  # one file: `sha256sum` of it
    monkeypatch.setenv("STEP_CACHING", "on")
    monkeypatch.setenv("INPUT_DATA", f"s3://b/data/train/sha256={digest}/")
    check_content_address("raw")
    (raw / "train.csv").write_text("a,b\n1,3\n")  # changed after the snapshot was written
    with pytest.raises(ComponentError, match="no longer holds the content it is named by"):
        check_content_address("raw")


def test_a_folder_snapshot_is_named_by_its_listing(opt_ml, monkeypatch):
    from {{ cookiecutter.package_name }}.container import check_content_address, content_digest

    raw = snapshot_input(opt_ml, {"a.csv": "x\n1\n", "b.csv": "x\n2\n"})
    digest = content_digest([raw / "a.csv", raw / "b.csv"], ["a.csv", "b.csv"])
    monkeypatch.setenv("INPUT_DATA", f"s3://b/data/train/sha256={digest}/")
    check_content_address("raw")


def test_a_prefix_named_by_no_digest_is_refused_only_while_caching_is_on(opt_ml, monkeypatch):
    from {{ cookiecutter.package_name }}.container import ComponentError, check_content_address

    snapshot_input(opt_ml, {"train.csv": "a\n1\n"})
    monkeypatch.setenv("INPUT_DATA", "s3://b/data/train/")
    monkeypatch.setenv("STEP_CACHING", "off")
    check_content_address("raw")
    monkeypatch.setenv("STEP_CACHING", "on")
    with pytest.raises(ComponentError, match=r"not a content-addressed snapshot.*data snapshot"):
        check_content_address("raw")
    monkeypatch.delenv("INPUT_DATA")  # not started by a pipeline: nothing to check
    check_content_address("raw")
