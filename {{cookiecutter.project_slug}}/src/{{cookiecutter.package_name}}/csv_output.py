"""CSV output of frames of numbers, byte for byte what pandas writes, about three times faster.

`DataFrame.to_csv(float_format=...)` formats each value through several Python calls; the
components write millions of values (processed features, predictions, SHAP values). Here each
row is one `%` operation on a row format. A column pandas would write differently (text that
needs quoting, an empty string, a missing value outside a float column, any other dtype) sends
the whole frame through pandas, so the output never depends on which path wrote it.
"""

from __future__ import annotations

from typing import TextIO

import numpy as np
import pandas as pd

NEEDS_QUOTING = frozenset(',"\n\r')


def to_csv_text(frame: pd.DataFrame, float_format: str) -> str:
    """`frame.to_csv(header=False, index=False, float_format=float_format, lineterminator="\\n")`."""
    row_format = _row_format(frame, float_format)
    if row_format is None:
        return frame.to_csv(header=False, index=False, float_format=float_format, lineterminator="\n")
    if frame.empty:
        return ""
    columns = [frame[c].tolist() for c in frame.columns]
    text = "\n".join([row_format % row for row in zip(*columns, strict=True)]) + "\n"
    # `%g` writes NaN as "nan", which no other number contains; pandas writes it as an empty field.
    return text.replace("nan", "") if _has_nan(frame) else text


def _has_nan(frame: pd.DataFrame) -> bool:
    return any(frame[c].dtype.kind == "f" and bool(frame[c].isna().any()) for c in frame.columns)


def _row_format(frame: pd.DataFrame, float_format: str) -> str | None:
    """The `%` format of one row, or None when a column needs pandas' own writer."""
    fields, has_text = [], False
    for name in frame.columns:
        column = frame[name]
        dtype = column.dtype
        if not isinstance(dtype, np.dtype) and not _is_text(column):
            return None
        if isinstance(dtype, np.dtype) and dtype.kind == "f":
            fields.append(float_format)
        elif isinstance(dtype, np.dtype) and dtype.kind in "iu":
            fields.append("%d")
        elif _is_text(column) and _plain_text(column):
            fields.append("%s")
            has_text = True
        else:
            return None
    if has_text and _has_nan(frame):  # "nan" may be text there; let pandas write it
        return None
    return ",".join(fields)


def _is_text(column: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(column.dtype) or column.dtype == object


def _plain_text(column: pd.Series) -> bool:
    """Every value a non-empty str that the csv module writes as it is (no quoting)."""
    return all(isinstance(value, str) and value and not NEEDS_QUOTING & set(value) for value in column.unique())


def write_csv(frame: pd.DataFrame, sink: TextIO, float_format: str, chunk_rows: int = 100_000) -> None:
    """`to_csv_text` into an open text file, `chunk_rows` rows at a time, so memory stays bounded."""
    for start in range(0, len(frame), chunk_rows):
        sink.write(to_csv_text(frame.iloc[start : start + chunk_rows], float_format))
