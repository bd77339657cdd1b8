"""The local end-to-end benchmark's reference: the same compute as `local train` + `local infer`,
in one process, with no pipeline, no subprocesses and no intermediate files.

Train: read, learn the schema, split, fit, evaluate, build the drift baseline, TreeSHAP on a
validation sample. Infer: read, transform, predict, the drift tests, TreeSHAP on every row.
It writes what a user needs from a run (predictions, per-row SHAP values, drift.json) and no
reports. Run with the generated repository's src/ on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--package", required=True)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--infer", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    def module(name: str):
        return importlib.import_module(f"{args.package}.{name}")

    config = module("config").load_config()
    preprocess = module("components.processing.preprocess")
    model_core = module("components.algorithm.model")
    baseline = module("components.monitoring.baseline")
    summary = module("components.monitoring.summary")
    drift = module("components.monitoring.drift")
    shap_values = module("components.explainability.shap_values")
    data, settings = config["data"], config["processing"]

    started = time.perf_counter()
    raw = pd.read_csv(args.train)
    schema, labelled = preprocess.fit(
        raw,
        data["target_column"],
        data["problem_type"],
        id_columns=data["id_columns"],
        max_categories=settings["max_categories"],
    )
    train_rows, validation_rows = preprocess.split(labelled, schema, settings["validation_fraction"], settings["seed"])
    train_matrix = preprocess.to_training_matrix(train_rows, schema)
    validation_matrix = preprocess.to_training_matrix(validation_rows, schema)
    model = model_core.fit(train_matrix, schema, config["algorithm"]["hyperparameters"])
    metrics = model_core.evaluate(model, validation_matrix)
    statistics, constraints = baseline.build_baseline(
        raw, excluded_columns=[data["target_column"], *data["id_columns"]], settings=config["monitoring"]
    )
    X_validation = validation_matrix.iloc[:, 1:].to_numpy(dtype="float64")
    limit = config["explainability"]["max_rows_train"]
    if len(X_validation) > limit:
        X_validation = X_validation[np.sort(np.random.default_rng(0).choice(len(X_validation), limit, replace=False))]
    shap_values.global_importance(shap_values.explain(model, X_validation))
    trained = time.perf_counter()

    production = pd.read_csv(args.infer)
    features, _ = preprocess.transform(production, schema)
    X = features.to_numpy(dtype="float64")
    predictions = model_core.predict(model, X)
    production_summary = summary.summarize(production, summary.empty_templates(statistics))
    _, drift_report, _ = drift.compare(production_summary, list(production.columns), statistics, constraints)
    explanation = shap_values.explain(model, X)
    importance = shap_values.global_importance(explanation)
    args.out.mkdir(parents=True, exist_ok=True)
    predictions.to_csv(args.out / "predictions.csv", header=False, index=False, float_format="%.6g")
    shap_values.per_row_frame(model, explanation, X).to_csv(args.out / "shap.csv", index=False, float_format="%.6g")
    (args.out / "drift.json").write_text(json.dumps(drift_report), "utf-8")
    inferred = time.perf_counter()
    print(
        json.dumps(
            {
                "train_seconds": trained - started,
                "infer_seconds": inferred - trained,
                "metrics": metrics,
                "rows": len(production),
                "drift_detected": drift_report["drift_detected"],
                "top_feature": next(iter(next(iter(importance.values())))),
            }
        )
    )


if __name__ == "__main__":
    main()
