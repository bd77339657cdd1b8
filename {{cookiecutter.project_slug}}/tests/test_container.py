"""The container contract beneath every entrypoint: unpacking, privileges, stops and failure reasons."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import (
    container,
)
from {{ cookiecutter.package_name }}.container import (
    ComponentError,
    drop_privileges,
    safe_extract,
)

from .conftest import subprocess_env


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
    drop_privileges("serve")
    assert set(as_root.chowned) == {
        opt_ml / "output",
        opt_ml / "processing" / "output",
        opt_ml / "processing" / "output" / "report",
    }
    assert as_root.identity == [("groups", 0), ("gid", 1000), ("uid", 1000)], "uid must be dropped last"
    assert os.environ["HOME"] == "/home/app"


def test_training_job_hands_its_model_folder_to_the_app_user(as_root, opt_ml):
    (opt_ml / "input" / "data" / "train").mkdir(parents=True)
    drop_privileges("train")
    assert set(as_root.chowned) == {opt_ml / "output", opt_ml / "model"}
    assert (opt_ml / "model").is_dir()


def test_serve_hands_nothing_but_the_failure_folder(as_root, opt_ml):
    (opt_ml / "model").mkdir()
    drop_privileges("serve")
    assert as_root.chowned == [opt_ml / "output"]


def test_no_drop_outside_an_image(monkeypatch, opt_ml):
    monkeypatch.delenv(container.COMPONENT_USER_ENV, raising=False)
    monkeypatch.setattr(os, "setuid", lambda uid: pytest.fail("must not change user outside an image"))
    drop_privileges("train")


def test_unknown_app_user_is_a_clear_error(monkeypatch, opt_ml):
    monkeypatch.setenv(container.COMPONENT_USER_ENV, "no-such-user-here")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    with pytest.raises(ComponentError, match="no-such-user-here"):
        drop_privileges("train")


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
    assert "demo train: stopped by signal SIGTERM" in (tmp_path / "output" / "failure").read_text()
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
