"""The local end-to-end benchmark's reference: the same compute as `local train` + `local infer`,
in one process, with no pipeline, no subprocesses and no intermediate files.

Train: read, learn the schema, split, fit, evaluate, the model-quality baseline (constraints and
calibration), build the drift baseline, TreeSHAP on a validation sample, the gate of a first model
(its metrics on the validation rows against the best constant). Infer: read, transform, keep the
rows as read, predict, the drift tests, the performance estimate, TreeSHAP on every row, in chunks on
`--workers` processes (the explainability container's own pool: 1 is one process, 0 every core,
as the container uses), so that the comparison can hold parallelism equal. It writes what a user
needs from a run (predictions and per-row SHAP values, each after its inference id, drift.json,
estimate.json) and no reports. Run with the generated repository's src/ on PYTHONPATH.
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
    parser.add_argument("--workers", type=int, default=1, help="TreeSHAP worker processes; 0 = every core")
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
    estimate = module("components.monitoring.estimate")
    gate = module("components.algorithm.gate")
    pool = module("components.explainability.pool")
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
    args.out.mkdir(parents=True, exist_ok=True)
    quality = model_core.write_quality_baseline(
        args.out, model, validation_matrix, float(config["monitoring"].get("quality_tolerance", 0.1))
    )
    statistics, constraints = baseline.build_baseline(
        raw, excluded_columns=[data["target_column"], *data["id_columns"]], settings=config["monitoring"]
    )
    X_validation = validation_matrix.iloc[:, 1:].to_numpy(dtype="float64")
    limit = config["explainability"]["max_rows_train"]
    if len(X_validation) > limit:
        X_validation = X_validation[np.sort(np.random.default_rng(0).choice(len(X_validation), limit, replace=False))]
    shap_values.global_importance(shap_values.explain(model, X_validation))
    gate.compare_on(validation_rows, model, None)
    trained = time.perf_counter()

    production = pd.read_csv(args.infer)
    features, _ = preprocess.transform(production, schema)
    X = features.to_numpy(dtype="float64")
    predictions = model_core.predict(model, X)
    production_summary = summary.summarize(production, summary.empty_templates(statistics))
    _, drift_report, _ = drift.compare(production_summary, list(production.columns), statistics, constraints)
    ids = preprocess.inference_ids(production, data["id_columns"], args.infer.name, 1, prefix="plain")
    production[schema.feature_names].assign(inference_id=ids.to_numpy()).to_csv(args.out / "kept.csv", index=False)
    if schema.classes is not None:
        index = {name: i for i, name in enumerate(schema.classes)}
        predicted = predictions["label"].map(index).to_numpy(dtype=int)
        probability = predictions["probability"].to_numpy(dtype="float64")
        outcome = estimate.estimate(schema.problem_type, predicted, probability, quality["calibration"])
        (args.out / "estimate.json").write_text(json.dumps(outcome), "utf-8")
    predictions.insert(0, "inference_id", ids.to_numpy())
    predictions.to_csv(args.out / "predictions.csv", header=False, index=False, float_format="%.6g")
    chunk_rows = config["explainability"]["chunk_rows"]
    chunks = (X[start : start + chunk_rows] for start in range(0, len(X), chunk_rows))
    chunk_ids = (ids.iloc[start : start + chunk_rows].tolist() for start in range(0, len(X), chunk_rows))
    abs_sums = None
    with (
        pool.ChunkExplainer(
            model, shap_values.tree_explainer(model), args.workers or pool.available_cores()
        ) as explainer,
        (args.out / "shap.csv").open("w", encoding="utf-8") as sink,
    ):
        sink.write(pd.DataFrame(columns=["inference_id", *shap_values.per_row_columns(model)]).to_csv(index=False))
        for _, text, explanation in explainer.explain(chunks):
            sink.write("".join(f"{i},{line}\n" for i, line in zip(next(chunk_ids), text.splitlines(), strict=True)))
            sums = {label: np.abs(v).sum(axis=0) for label, v in explanation.values.items()}
            abs_sums = sums if abs_sums is None else {k: abs_sums[k] + v for k, v in sums.items()}
    importance = {label: dict(zip(schema.feature_names, v / len(X), strict=True)) for label, v in abs_sums.items()}
    importance = {label: dict(sorted(v.items(), key=lambda kv: -kv[1])) for label, v in importance.items()}
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
