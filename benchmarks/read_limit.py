"""The physical limit of drift detection on a CSV: read it with the same reader, one histogram pass.

Monitoring serve reads the file in chunks with pandas' C parser (categorical columns as
strings), as this does, then counts every numeric feature on the baseline's bin edges and
every categorical one by value, as this does. It does nothing else: no file check, no
statistics.json, no tests, no report. Its time is what no drift job reading this file with
this reader can beat.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

CHUNK_ROWS = 100_000  # monitoring serve's chunk size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--statistics", type=Path, required=True, help="the baseline's statistics.json")
    args = parser.parse_args()
    features = json.loads(args.statistics.read_text("utf-8"))["features"]
    edges = {
        f["name"]: np.asarray([b["lower_bound"] for b in f["numerical_statistics"]["distribution"]["kll"]["buckets"]])
        for f in features
        if "numerical_statistics" in f
    }
    strings = {f["name"]: "string" for f in features if "string_statistics" in f}
    counts: dict[str, np.ndarray] = {}
    categories: dict[str, pd.Series] = {}
    for chunk in pd.read_csv(args.csv, chunksize=CHUNK_ROWS, dtype=strings):
        for name, bounds in edges.items():
            found = np.bincount(
                np.searchsorted(bounds[1:], chunk[name].to_numpy(), side="right"), minlength=len(bounds)
            )
            counts[name] = counts.get(name, 0) + found
        for name in strings:
            found = chunk[name].value_counts()
            categories[name] = found if name not in categories else categories[name].add(found, fill_value=0)
    print(json.dumps({"numeric": len(counts), "categorical": len(categories)}))


if __name__ == "__main__":
    main()
