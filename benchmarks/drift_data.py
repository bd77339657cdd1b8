"""Synthetic wide tables for the drift benchmark: a reference and a production batch.

20 features (16 numeric of varied shapes, 4 categorical) plus the target column. The
production batch shifts a known set of features, so both tools' decisions can be checked
against the truth as well as against each other.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import pandas as pd

NUMERIC = [f"num_{i:02d}" for i in range(1, 17)]
CATEGORICAL = [f"cat_{i}" for i in range(1, 5)]
LEVELS = {
    "cat_1": (["a", "b", "c"], [0.5, 0.3, 0.2]),
    "cat_2": (["north", "south", "east", "west"], [0.25, 0.25, 0.25, 0.25]),
    "cat_3": ([f"plan_{i}" for i in range(8)], [0.3, 0.2, 0.15, 0.1, 0.1, 0.07, 0.05, 0.03]),
    "cat_4": (["yes", "no"], [0.7, 0.3]),
}
# The truth: these features drift in the production batch, and no others.
DRIFTED_NUMERIC = ["num_01", "num_02", "num_03", "num_04"]
DRIFTED_CATEGORICAL = {"cat_1": [0.25, 0.3, 0.45]}
DRIFTED = DRIFTED_NUMERIC + list(DRIFTED_CATEGORICAL)
CHUNK = 500_000


def _numeric(rng: np.random.Generator, index: int, n: int) -> np.ndarray:
    kind = index % 4
    if kind == 0:
        return rng.normal(50.0, 10.0, n)
    if kind == 1:
        return rng.lognormal(3.0, 0.6, n)
    if kind == 2:
        return rng.uniform(0.0, 100.0, n)
    return rng.poisson(6.0, n).astype("float64")


def _chunk(rng: np.random.Generator, n: int, drifted: bool, target: str) -> pd.DataFrame:
    columns: dict[str, np.ndarray] = {}
    for i, name in enumerate(NUMERIC):
        values = _numeric(rng, i, n)
        if drifted and name in DRIFTED_NUMERIC:
            values = values + 0.5 * values.std()
        columns[name] = np.round(values, 4)
    for name, (levels, weights) in LEVELS.items():
        probabilities = DRIFTED_CATEGORICAL.get(name, weights) if drifted else weights
        columns[name] = np.asarray(levels, dtype=object)[rng.choice(len(levels), size=n, p=probabilities)]
    columns[target] = rng.integers(0, 2, n)
    return pd.DataFrame(columns)


def write(path: Path, rows: int, drifted: bool, target: str, seed: int) -> Path:
    """Write `rows` rows in chunks (bounded memory), header first."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as sink:
        written = 0
        while written < rows:
            n = min(CHUNK, rows - written)
            _chunk(rng, n, drifted, target).to_csv(sink, index=False, header=written == 0, quoting=csv.QUOTE_MINIMAL)
            written += n
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--drifted", action="store_true")
    parser.add_argument("--target", default="churn")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write(args.path, args.rows, args.drifted, args.target, args.seed)


if __name__ == "__main__":
    main()
