"""The strict CSV rules every component reads by: no padded rows, no shadowed columns, no guessing."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import (
    csv_input,
)
from {{ cookiecutter.package_name }}.csv_input import (
    CsvError,
    check_file,
    read_blocks,
)

from .conftest import entrypoint, job_reason, subprocess_env


@pytest.fixture(params=[csv_input.BLOCK_BYTES, 7], ids=["one block", "7-byte blocks"])
def blocks(request, monkeypatch):
    """Every rule holds across block boundaries too."""
    monkeypatch.setattr(csv_input, "BLOCK_BYTES", request.param)


def _file(tmp_path, content: bytes | str):
    path = tmp_path / "data.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize(
    "content",
    [
        "a,b,c\n1,2,3\n4,,6\n",
        "a,b,c\r\n1,2,3\r\n4,5,6",
        'a,b,c\n1,"two, with a comma",3\n4,"multi\nline",6\n',
        "a,b,c\n1,2,3\n\n4,5,6\n",
        "a\n1\n\n2\n",
    ],
    ids=["plain", "crlf-no-final-newline", "quoted", "blank-line", "one-column"],
)
def test_well_formed_files_pass(tmp_path, blocks, content):
    assert check_file(_file(tmp_path, content)) == content.split("\n")[0].count(",") + 1


@pytest.mark.parametrize(
    ("content", "line", "found"),
    [
        ("a,b,c\n1,2,3\n4,5\n7,8,9\n", 3, 2),
        ("a,b,c\n1,2,3\n4,5,6,7\n", 3, 4),
        ("a,b,c\n1,2,3\n4,5", 3, 2),
        ('a,b,c\n1,"x,y",3\n4,"5"\n', 3, 2),
    ],
    ids=["short", "long", "short-last-line-without-newline", "short-with-quotes"],
)
def test_a_ragged_row_names_the_file_and_line(tmp_path, blocks, content, line, found):
    path = _file(tmp_path, content)
    with pytest.raises(CsvError, match=rf"{path}, line {line}: {found} field\(s\) where the header has 3"):
        check_file(path)


def test_duplicate_header_names_are_named(tmp_path):
    with pytest.raises(CsvError, match="names 'tenure_months' more than once"):
        check_file(_file(tmp_path, "id,tenure_months,plan,tenure_months\n1,2,a,3\n"))


def test_non_utf8_bytes_name_the_line_and_how_to_re_encode(tmp_path, blocks):
    path = _file(tmp_path, b"a,b\n1,2\n" + "3,Göteborg\n".encode("latin-1"))
    with pytest.raises(CsvError, match=r"line 3: byte 0xf6 is not UTF-8.*iconv"):
        check_file(path)


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_another_delimiter_gets_a_hint(tmp_path, delimiter):
    with pytest.raises(CsvError, match="Re-export the file with commas"):
        check_file(_file(tmp_path, delimiter.join(["a", "b", "c"]) + "\n1" + delimiter + "2" + delimiter + "3\n"))


def test_headerless_files_take_the_first_line_as_the_width(tmp_path):
    assert check_file(_file(tmp_path, "1,2\n3,4\n"), header=False) == 2
    with pytest.raises(CsvError, match="line 2: 1 field"):
        check_file(_file(tmp_path, "1,2\n3\n"), header=False)


def test_processing_serve_refuses_a_duplicated_column_and_publishes_nothing(tmp_path, sample, target, processed):
    schema, _, _ = processed
    raw = tmp_path / "processing" / "input" / "raw"
    raw.mkdir(parents=True)
    frame = sample.drop(columns=[target])
    column = frame.columns[1]
    stale = frame[column].sample(frac=1, random_state=0).reset_index(drop=True)
    pd.concat([stale, frame], axis=1).to_csv(raw / "batch.csv", index=False)  # the stale copy first
    artifacts = tmp_path / "processing" / "input" / "artifacts"
    artifacts.mkdir(parents=True)
    schema.save(artifacts / "schema.json")
    result = subprocess.run(
        [*entrypoint("processing"), "serve"], env=subprocess_env(tmp_path), capture_output=True, text=True
    )
    assert result.returncode != 0
    assert f"names '{column}' more than once" in job_reason(tmp_path)
    assert not (tmp_path / "processing" / "output" / "processed" / "batch.csv").exists()


READABLE = {
    "plain": "a,b,c\n1,2,x\n4,,y\n",
    "crlf-no-final-newline": "a,b,c\r\n1,2,x\r\n4,5,y",
    "quoted-with-a-line-break": 'a,b,c\n1,"two, with a comma",x\n4,"multi\nline",y\n' * 3,
    "blank-lines": "a,b,c\n1,2,x\n\n4,5,y\n\n",
    "missing-values": "a,b,c\nNA,,None\nnan,inf,-inf\n1e5, 12 ,n/a\n",
    "codes-with-leading-zeros": "a,b,c\n1,2,007\n3,4,010\n",
    "byte-order-mark": "\ufeffa,b,c\n1,2,x\n",
    "quoted-header": '"a","b ""quoted""",c\n1,2,x\n',
    "unicode": "a,b,c\n1,2,café\n3,4,日本\n",
    "dates-stay-text": "a,b,c\n2024-01-31,12:30:00,2024-02-01\n2024-03-01,,x\n",
    "booleans-only-from-words": "a,b,c\n1,true,True\n0,FALSE,0\n",
}


@pytest.mark.parametrize("block_bytes", [1 << 24, 9, 1], ids=["one block", "9-byte blocks", "1-byte blocks"])
@pytest.mark.parametrize("name", list(READABLE))
def test_blocks_read_the_same_rows_as_pandas(tmp_path, name, block_bytes):
    path = _file(tmp_path, READABLE[name])
    check_file(path)
    theirs = pd.read_csv(path)
    text = {theirs.columns[2]: "string"}  # the third column read as text, as categorical features are
    theirs = pd.read_csv(path, dtype=text)
    frames = list(read_blocks(path, dtype=text, block_bytes=block_bytes))
    ours = pd.concat(frames, ignore_index=True)
    assert all(list(f.columns) == list(theirs.columns) for f in frames)
    first, second, third = theirs.columns
    assert ours[third].tolist() == theirs[third].tolist()
    assert ours[third].dtype == theirs[third].dtype
    assert [ours[c].dtype.kind for c in (first, second)] == [theirs[c].dtype.kind for c in (first, second)]
    for column in (first, second):  # numbers as numbers, whichever block read them
        pd.testing.assert_series_equal(
            pd.to_numeric(ours[column], errors="coerce"), pd.to_numeric(theirs[column], errors="coerce")
        )


def test_blocks_bound_the_text_of_each_read(tmp_path):
    path = _file(tmp_path, "a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(5000)))
    frames = list(read_blocks(path, block_bytes=4096))
    assert len(frames) > 5 and max(len(f) for f in frames) < 1000
    assert pd.concat(frames)["a"].tolist() == list(range(5000))


def test_a_header_alone_is_one_empty_frame_and_an_empty_file_is_an_error(tmp_path):
    frames = list(read_blocks(_file(tmp_path, "a,b\n")))
    assert len(frames) == 1 and frames[0].empty and list(frames[0].columns) == ["a", "b"]
    with pytest.raises(pd.errors.EmptyDataError, match="no header row"):
        list(read_blocks(_file(tmp_path, "")))


BROKEN = {
    "short row": "a,b,c\n1,2,3\n4,5\n7,8,9\n",
    "long row": "a,b,c\n1,2,3\n4,5,6,7\n",
    "short last line": "a,b,c\n1,2,3\n4,5",
    "short quoted row": 'a,b,c\n1,"x,y",3\n4,"5"\n',
    "unclosed quote": 'a,b,c\n1,"open,3\n4,5,6\n',
    "bare carriage return": "a,b,c\n1,2,3\r4,5,6\n",
    "latin-1": "a,b,c\n1,2,caf\xe9\n".encode("latin-1"),
    "duplicate header": "a,b,a\n1,2,3\n",
    "semicolons": "a;b;c\n1;2;3\n",
    "ragged far into a plain file": "a,b,c\n" + "1,2,3\n" * 3000 + "4,5\n" + "1,2,3\n" * 10,
}


@pytest.mark.parametrize("block_bytes", [1 << 24, 64, 5], ids=["one block", "64-byte blocks", "5-byte blocks"])
@pytest.mark.parametrize("name", list(BROKEN))
def test_reading_refuses_what_the_check_refuses_with_the_same_message(tmp_path, name, block_bytes):
    path = _file(tmp_path, BROKEN[name])
    with pytest.raises(CsvError) as checked:
        check_file(path)
    with pytest.raises(CsvError) as read:
        list(read_blocks(path, block_bytes=block_bytes))
    assert str(read.value) == str(checked.value)
