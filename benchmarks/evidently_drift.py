"""Evidently's DataDriftPreset on the benchmark tables (runs in its own venv, pandas<3).

Prints one JSON object: timings, Evidently's per-feature decisions and its dataset decision.
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset


def per_feature(snapshot: dict) -> dict[str, dict]:
    """Each ValueDrift metric as {method, value, threshold, drift}."""
    features = {}
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        method, value, threshold = config["method"], float(metric["value"]), float(config["threshold"])
        # Evidently's rule: p-value tests drift below the threshold, distances at or above it.
        drift = value < threshold if "p_value" in method else value >= threshold
        features[config["column"]] = {"method": method, "value": value, "threshold": threshold, "drift": drift}
    return features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--current", required=True)
    parser.add_argument("--target", default="churn")
    args = parser.parse_args()

    started = time.perf_counter()
    reference = pd.read_csv(args.reference).drop(columns=[args.target])
    current = pd.read_csv(args.current).drop(columns=[args.target])
    read = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference).dict()
    done = time.perf_counter()

    features = per_feature(snapshot)
    count = next(m for m in snapshot["metrics"] if m["config"]["type"].endswith("DriftedColumnsCount"))
    share_needed = float(count["config"]["drift_share"])
    print(
        json.dumps(
            {
                "read_seconds": read - started,
                "report_seconds": done - read,
                "features": features,
                "drifted_features": sorted(n for n, f in features.items() if f["drift"]),
                "dataset_drift": float(count["value"]["share"]) >= share_needed,
                "drift_share": share_needed,
            }
        )
    )


if __name__ == "__main__":
    main()
