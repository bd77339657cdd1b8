"""The Batch Transform HTTP contract, through a real HTTP client against the real entrypoint."""

import random
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import requests

from {{ cookiecutter.package_name }}.components.algorithm.model import (
    predict,
)
from {{ cookiecutter.package_name }}.components.algorithm.server import (
    BadRequest,
    format_predictions,
    parse_csv_payload,
)
from {{ cookiecutter.package_name }}.local.packing import (
    pack_model,
)
from {{ cookiecutter.package_name }}.local.runtimes import (
    JobFailed,
)
from {{ cookiecutter.package_name }}.local.transform import (
    model_server,
    transform_file,
)

from .conftest import free_port, pinned_model, start_server


def _csv(rows: np.ndarray) -> str:
    return "\n".join(",".join("" if np.isnan(v) else repr(float(v)) for v in row) for row in rows) + "\n"


def test_ping(server):
    assert requests.get(f"{server}/ping", timeout=5).status_code == 200


def test_execution_parameters_advertise_multi_record(server):
    response = requests.get(f"{server}/execution-parameters", timeout=5)
    assert response.json()["BatchStrategy"] == "MULTI_RECORD"
    assert response.json()["MaxPayloadInMB"] == 6


def test_invocations_returns_one_line_per_record(server, processed, trained_model):
    _, _, validation = processed
    X = validation.iloc[:200, 1:].to_numpy()
    response = requests.post(f"{server}/invocations", data=_csv(X), headers={"Content-Type": "text/csv"}, timeout=30)
    assert response.status_code == 200
    lines = response.text.strip("\n").split("\n")
    assert len(lines) == len(X)
    assert response.content == format_predictions(predict(trained_model, X))


def test_missing_values_are_accepted(server, processed):
    schema, _, _ = processed
    line = "," * (len(schema.features) - 1) + "\n"
    response = requests.post(f"{server}/invocations", data=line * 3, headers={"Content-Type": "text/csv"}, timeout=10)
    assert response.status_code == 200
    assert len(response.text.strip().split("\n")) == 3


@pytest.mark.parametrize(
    ("payload", "content_type", "status", "message"),
    [
        ("", "text/csv", 400, "Empty payload"),
        ("1,2\n", "text/csv", 400, "field(s); the model expects"),
        ("WIDE\n", "text/csv", 400, "field(s); the model expects"),
        ("TEXT\n", "text/csv", 400, "not a number"),
        ('{"instances": []}', "application/json", 415, "send text/csv"),
    ],
)
def test_malformed_payloads_get_clear_errors_and_server_stays_up(
    server, processed, payload, content_type, status, message
):
    n = len(processed[0].features)
    if payload == "WIDE\n":
        payload = ",".join(["1"] * (n + 1)) + "\n"
    if payload == "TEXT\n":
        payload = ",".join(["abc"] + ["1"] * (n - 1)) + "\n"
    response = requests.post(f"{server}/invocations", data=payload, headers={"Content-Type": content_type}, timeout=10)
    assert response.status_code == status
    assert message in response.text
    assert requests.get(f"{server}/ping", timeout=5).status_code == 200


def test_short_line_inside_a_batch_is_rejected_not_padded(server, processed):
    _, _, validation = processed
    X = validation.iloc[:3, 1:].to_numpy()
    lines = _csv(X).split("\n")
    lines[1] = ",".join(lines[1].split(",")[:-1])
    response = requests.post(
        f"{server}/invocations", data="\n".join(lines), headers={"Content-Type": "text/csv"}, timeout=10
    )
    assert response.status_code == 400
    assert "Line 2" in response.text


def test_a_long_and_a_short_line_that_cancel_out_are_still_rejected():
    payload = b"1,2,3\n4,5,6\n7,8,9,10\n11,12\n"
    with pytest.raises(BadRequest, match="Line 3 has 4 field"):
        parse_csv_payload(payload, 3)
    assert parse_csv_payload(b"1,,3\r\n4,5,\r\n", 3).shape == (2, 3)


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"label": ["yes", "no"], "probability": [0.123456789, 1e-9]}),
        pd.DataFrame({"prediction": [1.5, 123456789.0, -0.0]}),
        pd.DataFrame({"label": ["a,b", 'say "hi"'], "probability": [0.5, 0.25]}),
        pd.DataFrame({"label": [1, 2], "probability": [0.5, np.nan]}),
    ],
    ids=["binary", "regression", "labels-needing-quotes", "missing"],
)
def test_predictions_are_written_as_a_csv_writer_would(frame):
    expected = frame.to_csv(header=False, index=False, float_format="%.6g", lineterminator="\n").encode()
    assert format_predictions(frame) == expected


def test_unknown_route_is_404(server):
    assert requests.get(f"{server}/nope", timeout=5).status_code == 404


def test_sigterm_stops_the_server_cleanly_within_two_seconds(trained_model, tmp_path):
    """The server is PID 1 in its container, where SIGTERM has no default action: it must handle it."""
    process = start_server(trained_model, tmp_path, free_port(), output=subprocess.PIPE)
    assert "listening on 0.0.0.0" in process.stdout.readline(), "in a container the server answers every interface"
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=10)
    elapsed = time.monotonic() - started
    assert code == 0, process.stdout.read()
    assert elapsed < 2.0
    assert not (tmp_path / "output" / "failure").exists()


def test_local_mode_serves_on_the_loopback_only(trained_model, tmp_path):
    trained_model.save(tmp_path / "model")
    pack_model(tmp_path / "model", tmp_path / "model.tar.gz")
    archive = tmp_path / "model.tar.gz"
    with model_server(archive, tmp_path / "job", environment=pinned_model(archive)) as base:
        host = base.split("//")[1].split(":")[0]
        assert host == "127.0.0.1"
        assert requests.get(f"{base}/ping", timeout=5).status_code == 200
    assert "listening on 127.0.0.1:" in (tmp_path / "job" / "job.log").read_text()


def _record(n: int, value: str = "1") -> str:
    return ",".join([value] * n)


@pytest.mark.parametrize(
    ("make_payload", "message"),
    [
        (lambda n: (_record(n) + "\r" + _record(n)).encode(), "Line 1 holds a carriage return"),
        (lambda n: (_record(n) + "\n" + '"1\n2"' + "," + _record(n - 1) + "\n").encode(), "Line 2 holds a quote"),
        (lambda n: (_record(n) + "\n" + _record(n)).encode("utf-8") + b"\n\xf6," + _record(n - 1).encode(), "Line 3"),
        (lambda n: (_record(n) + "\n" + _record(n, "x")).encode(), "not a number"),
    ],
    ids=["bare-cr", "quoted-newline", "latin-1", "text"],
)
def test_unreadable_payloads_are_400s_that_name_the_line(processed, make_payload, message):
    n = len(processed[0].features)
    with pytest.raises(BadRequest, match=message):
        parse_csv_payload(make_payload(n), n)


@pytest.mark.parametrize("ending", ["\r\r", "\r\n", "\r\r\n", "\n\n"])
def test_one_record_gives_one_line_whatever_its_line_ending(processed, ending):
    n = len(processed[0].features)
    assert parse_csv_payload((_record(n) + ending).encode(), n).shape == (1, n)


def test_random_payloads_give_one_row_per_record_or_a_400():
    """Seeded random bytes and near-CSV: the parser never fails otherwise, and never changes the line count."""
    rng = random.Random(20261125)
    alphabet = ["1", "2.5", "", ",", "\n", "\r", '"', "x", "-", "inf", "nan", " ", "\xf6", "1e309"]
    for _ in range(600):
        n = rng.randint(1, 4)
        if rng.random() < 0.2:
            body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
        else:
            body = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))).encode("utf-8")
        try:
            rows = parse_csv_payload(body, n)
        except BadRequest:
            continue
        records = body.decode().strip("\n").split("\n")
        assert rows.shape == (len(records), n), body


def test_a_failed_transform_publishes_no_partial_output(server, processed, tmp_path):
    _, _, validation = processed
    good = validation.iloc[:50, 1:].to_numpy()
    lines = _csv(good).splitlines(keepends=True)
    source = tmp_path / "batch.csv"
    source.write_text("".join(lines) + "1,2\n")  # the last mini-batch is malformed
    output = tmp_path / "out" / "batch.csv.out"
    with pytest.raises(JobFailed, match=r"Line \d+ has 2 field"):
        transform_file(server, source, output, max_payload_bytes=len(lines[0]) * 10)
    assert not list(output.parent.iterdir()), "nothing, not even a partial file, may be left"
    source.write_text("".join(lines))
    transform_file(server, source, output)
    assert output.read_text().count("\n") == 50
