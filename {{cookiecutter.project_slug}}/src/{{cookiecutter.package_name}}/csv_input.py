"""Strict CSV input: the rules every component applies before it reads a file.

pandas forgives what would give a silent wrong answer: a short row is padded and its later
fields shift left; a duplicate header becomes `name.1`, and the stale copy is used. Here such
a file is an error that names the file, the line and what to do, with the model server's
rules: one record per line, every record as many fields as the header.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the check needs numpy only; reading builds frames
    import pandas as pd

BLOCK_BYTES = 4 * 1024 * 1024  # bounds the check's memory: a few arrays of one block, whatever the file size
READ_BLOCK_BYTES = 4 * 1024 * 1024  # bounds a read's memory: a few blocks' text and frames
UTF8_BOM = b"\xef\xbb\xbf"
NOT_BLANK = re.compile(rb"[^\r\n]")
OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "pipes"}


class CsvError(ValueError):
    """The file breaks a rule; the message names the file, the line and the fix."""


def check_header(path: Path, columns: list[str]) -> None:
    """Duplicate names are an error; a single column that splits on another delimiter gets a hint."""
    duplicates = sorted(name for name, count in Counter(columns).items() if count > 1)
    if duplicates:
        raise CsvError(
            f"{path}: the header names {', '.join(repr(d) for d in duplicates)} more than once; every column "
            "needs its own name (a stale copy would otherwise be read in place of the right one)."
        )
    if len(columns) == 1:
        for delimiter, name in OTHER_DELIMITERS.items():
            if delimiter in columns[0]:
                raise CsvError(
                    f"{path}: the header is one column, {columns[0][:80]!r}, which splits on {name}; this "
                    "project reads comma-separated files. Re-export the file with commas as the delimiter."
                )


def check_file(path: Path, header: bool = True) -> int:
    """Check UTF-8 and the field count of every line in one pass over the bytes; the header's field count.

    Lines without quotes are counted with numpy, a block at a time; a block with a quote is
    checked with the csv module, which knows that a quoted comma is no delimiter.
    """
    expected: int | None = None
    line_number = 0
    carry = b""
    with path.open("rb") as source:
        while True:
            block = source.read(BLOCK_BYTES)
            data = carry + block
            if not data:
                break
            cut = _whole_lines(data) if block else len(data)
            whole, carry = data[:cut], data[cut:]
            if not whole:
                continue
            if not whole.endswith(b"\n"):  # the last line, without a newline
                whole += b"\n"
            _check_utf8(path, whole, line_number)
            _check_line_endings(path, whole, line_number)
            if expected is None:
                first = whole.split(b"\n", 1)[0].decode("utf-8")
                fields = next(csv.reader([first]), [])
                if header:
                    check_header(path, fields)
                expected = len(fields)
            line_number = _check_fields(path, whole, line_number, expected)
            if not block:
                break
    return expected or 0


def _whole_lines(data: bytes) -> int:
    """Where the last complete record ends: after a newline that is not inside a quoted field."""
    cut = data.rfind(b"\n")
    if b'"' in data:
        while cut >= 0 and data.count(b'"', 0, cut) % 2:
            cut = data.rfind(b"\n", 0, cut)
    return cut + 1


def _first_record_end(data: bytes) -> int | None:
    """Where the first record ends: after the first newline outside a quoted field; None before it comes."""
    end = data.find(b"\n")
    while end >= 0 and data.count(b'"', 0, end) % 2:
        end = data.find(b"\n", end + 1)
    return end + 1 if end >= 0 else None


def _check_utf8(path: Path, data: bytes, lines_before: int) -> None:
    if data.isascii():  # most CSV files: a fast scan, no decoding
        return
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = lines_before + data[: exc.start].count(b"\n") + 1
        raise CsvError(
            f"{path}, line {line}: byte 0x{data[exc.start]:02x} is not UTF-8. Re-encode the file as UTF-8 "
            "(for example `iconv -f latin1 -t utf-8 in.csv > out.csv`)."
        ) from exc


def _check_line_endings(path: Path, data: bytes, lines_before: int) -> None:
    """A carriage return ends a line only before a newline: pandas would split a bare one, the server refuses it."""
    if b"\r" not in data:
        return
    raw = np.frombuffer(data + b"\n", dtype=np.uint8)
    returns = np.flatnonzero(raw[:-1] == ord("\r"))
    bare = returns[(raw[returns + 1] != ord("\n")) & (raw[returns + 1] != ord("\r"))]
    if bare.size:
        position = int(bare[0])
        line = lines_before + data[:position].count(b"\n") + 1
        raise CsvError(
            f"{path}, line {line}: a carriage return (\\r) that does not end the line, as in old Mac files. "
            "End every line with \\n or \\r\\n (for example `tr '\\r' '\\n' < in.csv > out.csv`)."
        )


def _check_fields(path: Path, data: bytes, lines_before: int, expected: int) -> int:
    """Every non-blank line of `data` has `expected` fields; the number of lines read so far."""
    if b'"' in data:
        text = data.decode("utf-8")
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        started = 1  # the line the current record starts on: where an unclosed quote opened
        try:
            for row in reader:
                if row and len(row) != expected:
                    _raise_ragged(path, lines_before + reader.line_num, len(row), expected)
                started = reader.line_num + 1
        except csv.Error as exc:
            raise CsvError(
                f"{path}, line {lines_before + started}: {exc} (a quote opens a field there that does not close "
                'properly). Close the quote; inside a quoted field write a quote as "".'
            ) from exc
        return lines_before + text.count("\n")
    raw = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(raw == ord("\n"))
    commas = np.flatnonzero(raw == ord(","))
    per_line = np.diff(np.searchsorted(commas, np.concatenate(([0], newlines))))
    starts = np.concatenate(([0], newlines[:-1] + 1))
    lengths = newlines - starts - (raw[np.maximum(newlines - 1, 0)] == ord("\r"))
    bad = np.flatnonzero((per_line != expected - 1) & (lengths > 0))
    if bad.size:
        _raise_ragged(path, lines_before + int(bad[0]) + 1, int(per_line[bad[0]]) + 1, expected)
    return lines_before + newlines.size


def _raise_ragged(path: Path, line: int, found: int, expected: int) -> None:
    raise CsvError(
        f"{path}, line {line}: {found} field(s) where the header has {expected}. A short or long row would shift "
        "its values into the wrong columns; fix or remove that line."
    )


def read_blocks(
    path: Path, dtype: dict[str, str] | None = None, block_bytes: int = READ_BLOCK_BYTES, checked: bool = False
) -> Iterator[pd.DataFrame]:
    """The rows of a CSV file under `check_file`'s rules, as frames of about `block_bytes` of text each.

    Each block of whole records is parsed by pyarrow, on every core, with pandas' rules: the
    same missing values, `dtype` for the named columns, booleans only from True/False words,
    dates left as text, a column of nothing but missing values as float NaN. That is faster
    than `read_csv(chunksize=...)`, with the same frames. A header alone gives one empty frame.

    The rules cost no second pass over a plain file (ASCII, `\\n` line ends, no quotes): there
    pyarrow's parse itself refuses a row of the wrong width. Any other file, and any parse
    error, goes through `check_file` (once) for its exact message. `checked=True` says the
    caller ran `check_file` already. A broken rule raises CsvError before any frame of the
    block that breaks it.
    """
    import pandas as pd

    rules = {"checked": checked}

    def check() -> None:
        if not rules["checked"]:
            rules["checked"] = True
            check_file(path)

    names: list[str] | None = None
    carry = b""
    read_any = False
    with path.open("rb") as source:
        while True:
            block = source.read(block_bytes)
            data = carry + block if carry else block
            start = 0
            if not rules["checked"] and (not data.isascii() or b"\r" in data or b'"' in data):
                check()
            if names is None:
                end = _first_record_end(data)
                if end is None and block:  # the header record goes on in the next block
                    carry = data
                    continue
                end = len(data) if end is None else end
                fields = _header_fields(data[:end])
                if not rules["checked"]:
                    check_header(path, fields)
                names = [name or f"Unnamed: {i}" for i, name in enumerate(fields)]  # as pandas names them
                start = end
            cut = max(_whole_lines(data) if block else len(data), start)
            carry = data[cut:]
            if NOT_BLANK.search(data, start, cut):
                read_any = True
                quoted = data.find(b'"', start, cut) >= 0
                try:
                    frame = _parse(memoryview(data)[start:cut], quoted, names, dtype or {})
                except ValueError as exc:  # pyarrow's ArrowInvalid: the rules say which line and why
                    check()
                    raise CsvError(f"{path} is not a readable CSV file: {exc}") from exc
                yield frame
            if not block:
                break
    if not names:
        raise pd.errors.EmptyDataError(f"{path} has no header row")
    if not read_any:
        yield pd.DataFrame({name: pd.Series(dtype=(dtype or {}).get(name, "float64")) for name in names})


def _header_fields(header: bytes) -> list[str]:
    """The header's fields, a byte-order mark dropped."""
    text = header.removeprefix(UTF8_BOM).decode("utf-8").rstrip("\r\n")
    return next(csv.reader([text]), []) if text.strip() else []


def _parse(text: memoryview, quoted: bool, names: list[str], dtype: dict[str, str]) -> pd.DataFrame:
    """One block of records (no header) as pandas' C parser reads it, parsed by pyarrow (see `read_blocks`)."""
    import pyarrow as pa
    from pandas._libs.parsers import STR_NA_VALUES  # the missing-value words pandas reads by default
    from pyarrow import csv as pacsv

    buffer = pa.py_buffer(text)  # no copy of the block

    def table(as_text: list[str]) -> pa.Table:
        convert = pacsv.ConvertOptions(
            column_types=dict.fromkeys(as_text, pa.string()),
            null_values=sorted(STR_NA_VALUES),
            strings_can_be_null=True,
            true_values=["True", "TRUE", "true"],
            false_values=["False", "FALSE", "false"],
        )
        return pacsv.read_csv(
            buffer,
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(newlines_in_values=quoted),
            convert_options=convert,
        )

    named = [str(c) for c in dtype if c in names]
    parsed = table(named)
    dates = [f.name for f in parsed.schema if pa.types.is_temporal(f.type)]
    if dates:  # pandas infers no dates: read those columns as the text they are
        parsed = table(named + dates)
    frame = parsed.to_pandas()
    for column in [f.name for f in parsed.schema if pa.types.is_null(f.type)]:
        frame[column] = np.nan  # nothing but missing values: pandas reads float NaN
    for column in dates:
        frame[column] = frame[column].astype(object).where(frame[column].notna(), np.nan)
    for column in named:
        frame[column] = frame[column].astype(dtype[column])
    return frame


def read_ahead(items: Iterator[Any], depth: int = 1) -> Iterator[Any]:
    """`items`, produced `depth` ahead in a thread: the next block parses while this one is used.

    pyarrow and numpy release the GIL, so parsing one block and summarizing or transforming
    the one before overlap on two cores. At most `depth` items wait, which bounds memory. An
    exception in the producer is raised here, where the item would have been; when the
    consumer stops early (an error, a stop), the producer stops at its next item.
    """
    import queue
    import threading

    waiting: queue.Queue = queue.Queue(maxsize=depth)
    stopped = threading.Event()
    done = object()

    def hand_over(entry: tuple[bool, object]) -> bool:
        while not stopped.is_set():
            try:
                waiting.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand_over((True, item)):
                    return
            hand_over((True, done))
        except BaseException as exc:  # noqa: BLE001 - raised again in the consumer
            hand_over((False, exc))

    threading.Thread(target=produce, name="read-ahead", daemon=True).start()
    try:
        while True:
            ok, item = waiting.get()
            if not ok:
                raise item
            if item is done:
                return
            yield item
    finally:
        stopped.set()
