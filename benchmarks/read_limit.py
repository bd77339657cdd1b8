"""The physical limit of drift detection on a CSV: read it with the same reader, one histogram pass.

Monitoring serve reads the file in blocks with the package's reader (`csv_input.read_blocks`:
pyarrow on every core, categorical columns as strings), as this does, then counts every numeric
feature on the baseline's bin edges and every categorical one by value, as this does. It does
nothing else: no strict CSV rules, no statistics.json, no tests, no report. Its time is what no
drift job reading this file with this reader can beat. Run with the generated repository's src/
on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--package", required=True)
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--statistics", type=Path, required=True, help="the baseline's statistics.json")
    args = parser.parse_args()
    features = json.loads(args.statistics.read_text("utf-8"))["features"]
    edges = {
        f["name"]: [b["lower_bound"] for b in f["numerical_statistics"]["distribution"]["kll"]["buckets"]]
        + [f["numerical_statistics"]["distribution"]["kll"]["buckets"][-1]["upper_bound"]]
        for f in features
        if "numerical_statistics" in f
    }
    strings = {f["name"]: "string" for f in features if "string_statistics" in f}
    counts: dict[str, np.ndarray] = {}
    categories: dict[str, pd.Series] = {}
    read_blocks = importlib.import_module(f"{args.package}.csv_input").read_blocks
    # The job's own bin counting (the fastest exact pass we have), on every value as read.
    bucket_counts = importlib.import_module(f"{args.package}.components.monitoring.summary").bucket_counts
    for chunk in read_blocks(args.csv, dtype=strings, checked=True):
        for name, bounds in edges.items():
            found = bucket_counts(chunk[name].to_numpy(dtype="float64", na_value=np.nan), bounds)
            counts[name] = counts.get(name, 0) + found
        for name in strings:
            found = chunk[name].value_counts()
            categories[name] = found if name not in categories else categories[name].add(found, fill_value=0)
    print(json.dumps({"numeric": len(counts), "categorical": len(categories)}))


if __name__ == "__main__":
    main()
