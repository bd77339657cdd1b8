"""The fast CSV writer writes byte for byte what pandas writes, whichever path it takes."""

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.csv_output import _prepare, to_csv_text, write_csv


def pandas_text(frame, float_format):
    return frame.to_csv(header=False, index=False, float_format=float_format, lineterminator="\n")


FRAMES = {
    "floats": (pd.DataFrame({"a": [1.5, -0.0, 1e20, 1 / 3], "b": [np.inf, -np.inf, 2.0, 1e-300]}), True),
    "missing floats": (pd.DataFrame({"a": [np.nan, 1.0, np.nan], "b": [0.1, np.nan, 2.0]}), True),
    "ints and floats": (pd.DataFrame({"y": np.array([0, 1, 2], dtype="int64"), "x": [0.25, 0.5, 0.75]}), True),
    "unsigned": (pd.DataFrame({"y": np.array([0, 2**63], dtype="uint64")}), True),
    "labels": (pd.DataFrame({"label": ["yes", "no", "maybe so"], "p": [0.1, 0.2, 0.3]}), True),
    "label text nan": (pd.DataFrame({"label": ["nan", "banana", "x"], "p": [0.5, 0.25, 0.125]}), True),
    "text needing quotes": (pd.DataFrame({"label": ["a,b", 'say "hi"', "line\nbreak"], "p": [1.0, 2.0, 3.0]}), False),
    "empty text": (pd.DataFrame({"label": ["", "x"], "p": [1.0, 2.0]}), False),
    "text and missing floats": (pd.DataFrame({"label": ["a", "b"], "p": [np.nan, 2.0]}), True),
    "missing text": (pd.DataFrame({"label": ["a", None], "p": [1.0, 2.0]}), False),
    "booleans": (pd.DataFrame({"flag": [True, False]}), False),
    "nullable ints": (pd.DataFrame({"n": pd.array([1, None], dtype="Int64")}), False),
    "categories": (pd.DataFrame({"c": pd.Categorical(["a", "b"])}), False),
    "no rows": (pd.DataFrame({"a": pd.Series([], dtype="float64")}), True),
    "one column, missing": (pd.DataFrame({"a": [0.0, np.nan]}), False),  # pandas writes "" for an empty row
}


@pytest.mark.parametrize("name", list(FRAMES))
@pytest.mark.parametrize("float_format", ["%.6g", "%.15g"])
def test_every_frame_is_written_as_pandas_writes_it(name, float_format):
    frame, fast = FRAMES[name]
    assert to_csv_text(frame, float_format) == pandas_text(frame, float_format)
    assert (_prepare(frame, float_format) is not None) == fast, "the frame took the other path"


def test_write_csv_in_chunks_is_the_whole_text():
    frame = pd.DataFrame({"y": np.arange(2500), "x": np.linspace(0, 1, 2500)})
    frame.iloc[::7, 1] = np.nan
    sink = io.StringIO()
    write_csv(frame, sink, "%.15g", chunk_rows=1000)
    assert sink.getvalue() == pandas_text(frame, "%.15g")


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=200, deadline=None)
@given(
    columns=st.lists(
        st.one_of(
            st.lists(finite_or_not, min_size=3, max_size=3).map(lambda v: np.array(v, dtype="float64")),
            st.lists(st.integers(-(2**62), 2**62), min_size=3, max_size=3).map(lambda v: np.array(v, dtype="int64")),
            st.lists(st.text(min_size=0, max_size=4), min_size=3, max_size=3).map(lambda v: np.array(v, dtype=object)),
        ),
        min_size=1,
        max_size=4,
    ),
    float_format=st.sampled_from(["%.6g", "%.15g", "%.3f"]),
)
def test_any_frame_of_numbers_and_text_is_written_as_pandas_writes_it(columns, float_format):
    frame = pd.DataFrame({f"c{i}": column for i, column in enumerate(columns)})
    assert to_csv_text(frame, float_format) == pandas_text(frame, float_format)
