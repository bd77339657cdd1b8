"""A catalog of bad inputs, one row each, across data, payloads, the workspace and the registry.

Every row ends one of two ways: a clear error that names the thing that was wrong and
publishes nothing, or a correct result (row count and alignment checked against a clean
run). A row that does neither is the silent wrong answer this catalog exists to prevent.
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import requests

from {{ cookiecutter.package_name }}.cli import (
    main,
)
from {{ cookiecutter.package_name }}.components.processing import (
    __main__ as processing,
)
from {{ cookiecutter.package_name }}.container import (
    run_entrypoint,
)
from {{ cookiecutter.package_name }}.local.workspace import (
    Workspace,
)
from {{ cookiecutter.package_name }}.registry.manifest import (
    ModelRegistry,
    manifest_parameter,
)

from .conftest import DIGESTS, job_reason, pinned


@dataclass(frozen=True)
class Case:
    """`change` turns the clean input into the bad one; `error` is a regex the message must match, or None."""

    name: str
    change: Callable
    error: str | None


def _run_processing(mode: str, root: Path) -> tuple[int, str]:
    """The real entrypoint, in this process; returns the exit code and FailureReason."""
    previous = signal.getsignal(signal.SIGTERM)
    try:
        code = run_entrypoint("processing", {"train": processing.train, "serve": processing.serve}, [mode])
    finally:
        signal.signal(signal.SIGTERM, previous)
    return code, job_reason(root) if code else ""


def _published(root: Path, name: str) -> list[Path]:
    folder = root / "processing" / "output" / name
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


# ---------------------------------------------------------------- production data (processing serve)


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


def _swap_in_text(frame: pd.DataFrame, numeric: str) -> bytes:
    frame = frame.astype({numeric: "object"})
    frame.loc[1, numeric] = "twelve"
    return _csv(frame)


def _with_line(data: bytes, number: int, change: Callable[[bytes], bytes]) -> bytes:
    lines = data.split(b"\n")
    lines[number - 1] = change(lines[number - 1])
    return b"\n".join(lines)


def _set(frame: pd.DataFrame, column: str, row: int, value) -> pd.DataFrame:
    frame = frame.astype({column: "object"}).copy()
    frame.loc[row, column] = value
    return frame


PRODUCTION = [
    Case(
        "duplicate column, stale copy first",
        lambda f, k: _csv(pd.concat([f[[k.num[0]]] * 0, f], axis=1)),
        "more than once",
    ),
    Case(
        "row with a field too few",
        lambda f, k: _with_line(_csv(f), 3, lambda b: b.rsplit(b",", 1)[0]),
        r"line 3: \d+ field\(s\) where the header has",
    ),
    Case(
        "row with a field too many", lambda f, k: _with_line(_csv(f), 4, lambda b: b + b",1"), r"line 4: \d+ field\(s\)"
    ),
    Case(
        "latin-1 bytes",
        lambda f, k: _set(f, k.cat[0], 2, "caf\xe9").to_csv(index=False).encode("latin-1"),
        r"line 4: byte 0xe9 is not UTF-8.*iconv",
    ),
    Case("semicolon-delimited", lambda f, k: f.to_csv(index=False, sep=";").encode(), "splits on semicolons"),
    Case("tab-delimited", lambda f, k: f.to_csv(index=False, sep="\t").encode(), "splits on tabs"),
    Case("a feature column missing", lambda f, k: _csv(f.drop(columns=[k.num[0]])), r"missing from production"),
    Case(
        "a feature column renamed",
        lambda f, k: _csv(f.rename(columns={k.num[0]: "renamed_feature"})),
        r"missing from production.*column\(s\) the model does not know: \['renamed_feature'\]",
    ),
    Case(
        "header names with spaces", lambda f, k: _csv(f.rename(columns={k.num[0]: f" {k.num[0]} "})), "spaces or case"
    ),
    Case("empty file", lambda f, k: b"", "is empty"),
    Case("header only", lambda f, k: _csv(f.iloc[:0]), "no rows"),
    Case("text in a numeric column", lambda f, k: _swap_in_text(f, k.num[0]), "not numbers.*twelve"),
    Case("unclosed quote", lambda f, k: _with_line(_csv(f), 3, lambda b: b'"' + b), r"line 3: .*Close the quote"),
    # Correct results: the rows must come out aligned with the clean file's, in the same order.
    Case("columns in another order", lambda f, k: _csv(f[list(reversed(f.columns))]), None),
    Case("an extra column", lambda f, k: _csv(f.assign(unrelated="x")), None),
    Case("CRLF line endings", lambda f, k: _csv(f).replace(b"\n", b"\r\n"), None),
    Case("a UTF-8 byte order mark", lambda f, k: b"\xef\xbb\xbf" + _csv(f), None),
    Case("trailing blank lines", lambda f, k: _csv(f) + b"\n\n\n", None),
    Case("no final newline", lambda f, k: _csv(f).rstrip(b"\n"), None),
    Case("every field quoted", lambda f, k: f.to_csv(index=False, quoting=1).encode(), None),
    Case(
        "spaces around categories", lambda f, k: _csv(f.assign(**{k.cat[0]: " " + f[k.cat[0]].astype(str) + " "})), None
    ),
    Case("the target column is present", lambda f, k: _csv(f.assign(**{k.target: 1})), None),
]

# Rows whose values change the meaning of one cell: checked cell by cell, the other cells unchanged.
CELL_CHANGES = [
    ("inf is a missing value", "numeric", "inf"),
    ("-inf is a missing value", "numeric", "-inf"),
    ("an unseen category is a missing value", "categorical", "never-seen-before"),
]


@pytest.fixture(scope="module")
def production(sample, target, processed):
    """Clean production rows, the learned schema saved as processing artifacts, and column names by kind."""
    schema = processed[0]
    frame = sample.drop(columns=[target]).iloc[:40].reset_index(drop=True)
    numeric = [f.name for f in schema.features if f.kind == "numeric"]
    categorical = [f.name for f in schema.features if f.kind == "categorical"]
    return frame, schema, numeric, categorical


def _serve(opt_ml: Path, schema, content: bytes) -> tuple[int, str, pd.DataFrame | None]:
    raw = opt_ml / "processing" / "input" / "raw"
    artifacts = opt_ml / "processing" / "input" / "artifacts"
    raw.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    schema.save(artifacts / "schema.json")
    (raw / "batch.csv").write_bytes(content)
    with mock.patch.dict(os.environ, pinned(opt_ml)):  # the manifest's digests, as the pipeline passes them
        code, failure = _run_processing("serve", opt_ml)
    files = _published(opt_ml, "processed")
    rows = None
    if files:  # the processed features, after each row's inference id
        rows = pd.read_csv(files[0], header=None, dtype={0: "string"})
        assert rows.iloc[:, 0].tolist() == [f"run:batch.csv:{i}" for i in range(1, len(rows) + 1)]
        rows = rows.iloc[:, 1:].T.reset_index(drop=True).T
    return code, failure, rows


@pytest.fixture(scope="module")
def clean_output(production, tmp_path_factory, monkeypatch_module):
    frame, schema, _, _ = production
    root = tmp_path_factory.mktemp("clean") / "opt_ml"
    monkeypatch_module.setenv("OPT_ML_ROOT", str(root))
    code, failure, rows = _serve(root, schema, _csv(frame))
    assert code == 0, failure
    return rows


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.mark.parametrize("case", PRODUCTION, ids=[c.name for c in PRODUCTION])
def test_production_file(case, production, clean_output, opt_ml, target):
    frame, schema, numeric, categorical = production
    content = case.change(frame, SimpleNamespace(num=numeric, cat=categorical, target=target))
    code, failure, rows = _serve(opt_ml, schema, content)
    if case.error is None:
        assert code == 0, failure
        assert rows is not None and rows.shape == clean_output.shape
        pd.testing.assert_frame_equal(rows, clean_output)
    else:
        assert code == 1
        assert re.search(case.error, failure), failure
        assert not re.search(r"unexpected [A-Z]\w+:", failure), failure  # an exception nobody meant
        assert rows is None, "a failed job published output"


@pytest.mark.parametrize(("name", "kind", "value"), CELL_CHANGES, ids=[c[0] for c in CELL_CHANGES])
def test_production_cell(name, kind, value, production, clean_output, opt_ml):
    frame, schema, numeric, categorical = production
    column = (numeric if kind == "numeric" else categorical)[0]
    changed = _set(frame, column, 5, value)
    code, failure, rows = _serve(opt_ml, schema, _csv(changed))
    assert code == 0, failure
    assert rows.shape == clean_output.shape
    position = schema.feature_names.index(column)
    assert np.isnan(rows.iloc[5, position]), f"{value!r} should be encoded as missing"
    expected = clean_output.copy()
    expected.iloc[5, position] = np.nan
    pd.testing.assert_frame_equal(rows, expected)


# ---------------------------------------------------------------- training data (processing train)


def _single_class(frame: pd.DataFrame, target: str, problem_type: str) -> pd.DataFrame:
    if problem_type == "regression":
        return frame.assign(**{target: "a lot"})  # a regression target that is no number
    return frame.assign(**{target: frame[target].iloc[0]})


TRAINING = [
    Case("the target column is empty", lambda f, t, p: _csv(f.assign(**{t: np.nan})), r"Target column '.+' has no"),
    Case("the target column is missing", lambda f, t, p: _csv(f.drop(columns=[t])), r"Target column '.+' is missing"),
    Case(
        "the target column in another case",
        lambda f, t, p: _csv(f.rename(columns={t: t.upper()})),
        r"Target column '.+' is missing.*The header has '[^']+': the same name but for spaces or case",
    ),
    Case("ten rows", lambda f, t, p: _csv(f.iloc[:10]), "10 labelled row.*at least"),
    Case("one class, or a text target", lambda f, t, p: _csv(_single_class(f, t, p)), r"class|numeric"),
    Case("a ragged row", lambda f, t, p: _with_line(_csv(f), 7, lambda b: b.rsplit(b",", 2)[0]), "line 7"),
    Case(
        "a duplicate header name",
        lambda f, t, p: _csv(f.rename(columns={f.columns[1]: f.columns[0]})),
        "more than once",
    ),
    Case("a constant column", lambda f, t, p: _csv(f.assign(constant_flag=1)), None),
    Case(
        "an identifier column", lambda f, t, p: _csv(f.assign(customer_ref=[f"C{i:05d}" for i in range(len(f))])), None
    ),
]
WARNED = {"a constant column": "constant_flag", "an identifier column": "customer_ref"}


@pytest.mark.parametrize("case", TRAINING, ids=[c.name for c in TRAINING])
def test_training_file(case, sample, target, problem_type, opt_ml):
    raw = opt_ml / "processing" / "input" / "raw"
    raw.mkdir(parents=True)
    (raw / "train.csv").write_bytes(case.change(sample.iloc[:400].reset_index(drop=True), target, problem_type))
    code, failure = _run_processing("train", opt_ml)
    published = [p for name in ("train", "validation", "artifacts") for p in _published(opt_ml, name)]
    if case.error is None:
        assert code == 0, failure
        schema = json.loads((opt_ml / "processing" / "output" / "artifacts" / "schema.json").read_text())
        assert any(WARNED[case.name] in w for w in schema["warnings"]), schema["warnings"]
        train_rows = len(pd.read_csv(opt_ml / "processing" / "output" / "train" / "train.csv", header=None))
        validation_rows = len(
            pd.read_csv(opt_ml / "processing" / "output" / "validation" / "validation.csv", header=None)
        )
        assert train_rows + validation_rows == 400
    else:
        assert code == 1
        assert re.search(case.error, failure), failure
        assert not re.search(r"unexpected [A-Z]\w+:", failure), failure  # an exception nobody meant
        assert published == [], "a failed job published output"


# ---------------------------------------------------------------- payloads (the model server over HTTP)


def _row(n: int, value: str = "1") -> str:
    return ",".join([value] * n)


PAYLOADS = [
    # (name, body from the feature count, content type, status, what the answer says or its line count)
    ("a row too short", lambda n: f"{_row(n)}\n{_row(n - 1)}\n", "text/csv", 400, "Line 2 has"),
    ("a row too long", lambda n: f"{_row(n + 1)}\n", "text/csv", 400, "Line 1 has"),
    ("text where a number goes", lambda n: f"{_row(n, 'abc')}\n", "text/csv", 400, "not a number"),
    ("a bare carriage return inside", lambda n: f"{_row(n)}\r{_row(n)}\n", "text/csv", 400, "carriage return"),
    ("a quote", lambda n: f'"{_row(n)}"\n', "text/csv", 400, "quote"),
    ("latin-1 bytes", lambda n: f"{_row(n)}\n".encode() + b"\xe9\n", "text/csv", 400, "not UTF-8"),
    ("an empty body", lambda n: "", "text/csv", 400, "Empty payload"),
    ("JSON", lambda n: '{"instances": [[1, 2]]}', "application/json", 415, "text/csv"),
    ("CRLF line endings", lambda n: f"{_row(n)}\r\n{_row(n)}\r\n{_row(n)}\r\n", "text/csv", 200, 3),
    ("a record ending in CR CR", lambda n: f"{_row(n)}\r\r\n", "text/csv", 200, 1),
    ("inf and -inf", lambda n: f"{_row(n, 'inf')}\n{_row(n, '-inf')}\n", "text/csv", 200, 2),
    ("a number beyond float range", lambda n: f"{_row(n, '1e309')}\n", "text/csv", 200, 1),
    ("empty fields (all missing)", lambda n: f"{_row(n, '')}\n" * 4, "text/csv", 200, 4),
]


@pytest.mark.parametrize(("name", "body", "content_type", "status", "expected"), PAYLOADS, ids=[p[0] for p in PAYLOADS])
def test_payload(name, body, content_type, status, expected, server, processed):
    n = len(processed[0].features)
    response = requests.post(f"{server}/invocations", data=body(n), headers={"Content-Type": content_type}, timeout=10)
    assert response.status_code == status, response.text
    if status == 200:
        assert response.text.count("\n") == expected
    else:
        assert expected in response.text
    assert requests.get(f"{server}/ping", timeout=5).status_code == 200


def test_inf_scores_as_missing_at_the_server(server, processed):
    n = len(processed[0].features)
    answers = [
        requests.post(f"{server}/invocations", data=f"{_row(n, v)}\n", headers={"Content-Type": "text/csv"}).text
        for v in ("inf", "", "-inf")
    ]
    assert answers[0] == answers[1] == answers[2]


# ---------------------------------------------------------------- workspace and registry (the CLI)


def _cli(capsys, workspace: Path, *args: str) -> tuple[int, str]:
    try:
        code = main(["--workspace", str(workspace), *args])
    except SystemExit as exited:  # argparse refuses a bad argument by exiting 2, as the console script does
        code = exited.code
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def _register(workspace: Path, config, value: str | None = None, promote: bool = True) -> None:
    """A registered version (promoted, unless `promote` is false), or a raw `value` written as one."""
    store = Workspace(workspace).store
    name = manifest_parameter(config, "dev")
    if value is not None:
        store.put(name, value)
        return
    registry = ModelRegistry(store, name)
    version = registry.register(
        {
            "run_id": "r1",
            "pipeline_execution": "local",
            "artifacts": {k: f"s3://b/{k}" for k in ("model", "preprocessing", "baseline", "explainability")},
            "digests": DIGESTS,
            "training_data": f"s3://b/data/train/sha256={'0' * 64}/",
            "metrics": {"validation:auc": 0.8},
            "promotion": {"mode": "manual", "promoted": False, "reason": "candidate: promotion is manual here"},
            "git_sha": "abc",
            "template_version": "0",
        }
    )
    if promote:
        registry.promote(version)


def _candidate(workspace: Path, config) -> None:
    _register(workspace, config, promote=False)


def _file_where(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not a folder")
    return path


def _nothing(workspace: Path, config) -> None:
    pass


def _workspace_is_a_file(workspace: Path, config) -> None:
    _file_where(workspace)


def _store_is_a_file(workspace: Path, config) -> None:
    _file_where(workspace / "ssm")


def _unpinned(workspace: Path, config) -> None:
    """An approved version registered before artefacts were pinned: its manifest records no digest."""
    _register(workspace, config, promote=False)
    store, name = Workspace(workspace).store, manifest_parameter(config, "dev")
    manifest = json.loads(store.get(name, 1).value)
    del manifest["digests"]
    store.label(name, store.put(name, json.dumps(manifest)), ["approved"])


def _malformed_second_version(workspace: Path, config) -> None:
    _register(workspace, config)
    _register(workspace, config, "{oops")


INFER = ["local", "infer", "--data", "{data}"]
WORKSPACE = [
    # (name, set-up of the workspace, CLI arguments, exit code, what the message names)
    ("the workspace is a file", _workspace_is_a_file, INFER, 2, "is a file, where local mode keeps its workspace"),
    ("the Parameter Store folder is a file", _store_is_a_file, INFER, 2, "keeps its Parameter Store"),
    ("a corrupt Parameter Store file", lambda w, c: _corrupt(w, c), INFER, 2, "manifest.json cannot be read"),
    ("no model registered yet", _nothing, INFER, 2, "No model is registered"),
    ("no version promoted", _candidate, INFER, 2, "v1 (candidate: promotion is manual here)"),
    ("quality with no version promoted", _candidate, ["local", "quality"], 2, "promote one with `registry promote"),
    ("a retrain with no labels", _register, ["local", "retrain"], 2, "0 labelled row(s) in 0 file(s) arrived"),
    ("a retrain with nothing promoted", _candidate, ["local", "retrain"], 2, "Nothing to retrain on: no version"),
    ("the approved version is not a manifest", lambda w, c: _approved_junk(w, c), INFER, 2, "not a usable model"),
    ("the approved version pins no artefact", _unpinned, INFER, 2, "registered before artefacts were pinned"),
    ("the data file does not exist", _register, ["local", "infer", "--data", "{missing}"], 2, "does not exist"),
    ("a data folder with no CSV", _register, ["local", "infer", "--data", "{no_csv}"], 2, "holds no CSV file"),
    ("an unknown environment", _register, [*INFER, "--env", "qa"], 2, "Unknown environment 'qa'"),
    ("promote a version that does not exist", _register, ["registry", "promote", "--version", "9"], 2, "no version 9"),
    (
        "promote a version that is not a manifest",
        _malformed_second_version,
        ["registry", "promote", "--version", "2"],
        2,
        "Version 2 of /mlops",
    ),
    (
        "promote with an invalid label",
        _register,
        ["registry", "promote", "--version", "1", "--label", "1st"],
        2,
        "invalid choice: '1st'",
    ),
    (
        "history lists a malformed version and goes on",
        _malformed_second_version,
        ["registry", "history"],
        0,
        "v2 - unusable: Version 2",
    ),
    ("history of a workspace that is a file", _workspace_is_a_file, ["registry", "history"], 2, "is a file"),
]


def _corrupt(workspace: Path, config) -> None:
    path = workspace / "ssm" / (manifest_parameter(config, "dev").strip("/") + ".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"versions": [{"version": 1,')


def _approved_junk(workspace: Path, config) -> None:
    _register(workspace, config, "not json at all")
    Workspace(workspace).store.label(manifest_parameter(config, "dev"), 1, ["approved"])


def _no_csv(data: Path) -> Path:
    folder = data.parent / "no-csv"
    folder.mkdir(exist_ok=True)
    (folder / "notes.txt").write_text("no data here")
    return folder


@pytest.mark.parametrize(("name", "setup", "args", "code", "message"), WORKSPACE, ids=[w[0] for w in WORKSPACE])
def test_workspace_and_registry(name, setup, args, code, message, tmp_path, config, production, capsys):
    data = tmp_path / "data" / "batch.csv"
    data.parent.mkdir()
    data.write_bytes(_csv(production[0]))
    workspace = tmp_path / "ws"
    setup(workspace, config)
    places = {"data": data, "missing": data.parent / "nope.csv", "no_csv": _no_csv(data)}
    exit_code, output = _cli(capsys, workspace, *(a.format(**places) for a in args))
    assert exit_code == code, output
    assert message in " ".join(output.split()), output
    assert "Traceback" not in output
    runs = workspace / "runs"
    assert not (runs.is_dir() and any(runs.iterdir())), "no job may run"


def test_a_workspace_that_cannot_be_written_is_named(tmp_path, production, capsys, monkeypatch):
    data = tmp_path / "batch.csv"
    data.write_bytes(_csv(production[0]))
    workspace = tmp_path / "ws"
    workspace.mkdir()
    original = Path.write_bytes

    def read_only(self, content):
        if self.parent == workspace:
            raise PermissionError(13, "Permission denied", str(self))
        return original(self, content)

    # Root writes anywhere, so a read-only mount is what refuses here; the check must name it.
    monkeypatch.setattr(Path, "write_bytes", read_only)
    code, output = _cli(capsys, workspace, "local", "infer", "--data", str(data))
    assert code == 2
    assert f"The workspace {workspace} cannot be written (Permission denied)" in output
