"""Strict CSV input: the rules every component applies before it reads a file.

pandas forgives what would give a silent wrong answer: a short row is padded and its later
fields shift left; a duplicate header becomes `name.1`, and the stale copy is used. Here such
a file is an error that names the file, the line and what to do, with the model server's
rules: one record per line, every record as many fields as the header.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import numpy as np

BLOCK_BYTES = 4 * 1024 * 1024  # bounds the check's memory: a few arrays of one block, whatever the file size
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
