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
    prepared = _prepare(frame, float_format)
    if prepared is None:
        return frame.to_csv(header=False, index=False, float_format=float_format, lineterminator="\n")
    if frame.empty:
        return ""
    row_format, columns = prepared
    return "\n".join([row_format % row for row in zip(*columns, strict=True)]) + "\n"


def _prepare(frame: pd.DataFrame, float_format: str) -> tuple[str, list[list]] | None:
    """The `%` format of one row and the column values it takes, or None when pandas must write the frame."""
    fields, columns = [], []
    for name in frame.columns:
        column = frame[name]
        dtype = column.dtype
        if isinstance(dtype, np.dtype) and dtype.kind == "f":
            values = column.tolist()
            if column.isna().any():  # pandas writes a missing value as an empty field
                if len(frame.columns) == 1:
                    return None  # ...but quotes it ("") when it is the whole row, so the line is not blank
                fields.append("%s")
                values = ["" if v != v else float_format % v for v in values]
            else:
                fields.append(float_format)
        elif isinstance(dtype, np.dtype) and dtype.kind in "iu":
            fields.append("%d")
            values = column.tolist()
        elif _is_text(column) and _plain_text(column):
            fields.append("%s")
            values = column.tolist()
        else:
            return None
        columns.append(values)
    return ",".join(fields), columns


def _is_text(column: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(column.dtype) or column.dtype == object


def _plain_text(column: pd.Series) -> bool:
    """Every value a non-empty str that the csv module writes as it is (no quoting)."""
    return all(isinstance(value, str) and value and not NEEDS_QUOTING & set(value) for value in column.unique())


def write_csv(frame: pd.DataFrame, sink: TextIO, float_format: str, chunk_rows: int = 100_000) -> None:
    """`to_csv_text` into an open text file, `chunk_rows` rows at a time, so memory stays bounded."""
    for start in range(0, len(frame), chunk_rows):
        sink.write(to_csv_text(frame.iloc[start : start + chunk_rows], float_format))
