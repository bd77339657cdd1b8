"""Property-based tests: random bytes and random CSV at the strict reader and at the model server.

The properties are the product's promises: the reader either refuses a file with CsvError or
hands pandas a file that pandas reads to exactly the records the reader counted; the server
answers 200 with one line per record or a 400 that names the problem, never a 5xx, and stays up.
"""

from __future__ import annotations

import io

import pandas as pd
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.csv_input import (
    CsvError,
    check_file,
)

# Bounded, and derandomized so a CI failure reproduces on a laptop.
BOUNDED = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

FIELDS = st.sampled_from(["1", "2.5", "", "-3", "x", "inf", "nan", '"a,b"', '"q""q"', " ", "é", "1e309", '"'])
SEPARATORS = st.sampled_from([",", ",", ",", ";", "\t"])
ENDINGS = st.sampled_from(["\n", "\n", "\r\n", "\r", ""])


@st.composite
def near_csv(draw) -> bytes:
    """Mostly well-formed CSV, with the mistakes people make: ragged rows, odd delimiters and line endings."""
    width = draw(st.integers(1, 4))
    header = ",".join(f"c{i}" for i in range(width))
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        n = draw(st.sampled_from([width, width, width, width - 1, width + 1]))
        rows.append(draw(SEPARATORS).join(draw(FIELDS) for _ in range(max(n, 0))))
    text = header + "".join(draw(ENDINGS) + row for row in rows) + draw(ENDINGS)
    return text.encode("utf-8")


CONTENT = st.one_of(near_csv(), st.binary(max_size=200))


@BOUNDED
@given(content=CONTENT)
def test_the_reader_refuses_clearly_or_agrees_with_pandas(tmp_path, content):
    path = tmp_path / "random.csv"
    path.write_bytes(content)
    try:
        width = check_file(path)
    except CsvError as exc:
        assert str(path) in str(exc)
        return
    if width == 0:
        return  # an empty file: the components name it as empty
    try:
        frame = pd.read_csv(path, dtype="string", keep_default_na=False)
    except pd.errors.EmptyDataError:
        return
    assert frame.shape[1] == width, content
    assert not any(str(c).endswith(".1") and str(c)[:-2] in frame.columns for c in frame.columns), content


@pytest.fixture(scope="module")
def features(processed) -> int:
    return len(processed[0].features)


@st.composite
def payloads(draw, width: int) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=120))
    rows = []
    for _ in range(draw(st.integers(0, 5))):
        n = draw(st.sampled_from([width, width, width, width - 1, width + 1]))
        rows.append(",".join(draw(FIELDS) for _ in range(max(n, 0))))
    return "".join(row + draw(ENDINGS) for row in rows).encode("utf-8")


def _records(body: bytes) -> int:
    """The server's promise: one record per line; trailing CRs belong to the line ending."""
    return body.decode("utf-8").strip("\n").count("\n") + 1


@BOUNDED
@given(data=st.data())
def test_the_server_answers_one_line_per_record_or_a_400_and_stays_up(server, features, data):
    body = data.draw(payloads(features))
    response = requests.post(f"{server}/invocations", data=body, headers={"Content-Type": "text/csv"}, timeout=10)
    assert response.status_code in {200, 400}, (body, response.status_code, response.text)
    if response.status_code == 200:
        assert response.content.count(b"\n") == _records(body), body
        assert len(pd.read_csv(io.BytesIO(response.content), header=None)) == _records(body)
    else:
        assert response.text.strip(), "a 400 must say what was wrong"
    assert requests.get(f"{server}/ping", timeout=5).status_code == 200
