"""Every built-in estimator, side by side on the same data and machine: training, scoring and explaining.

    python benchmarks/estimators.py --project <a baked repository> [--rows 50000] [--out results.json]

Run it with a Python that has the baked package's dependencies plus xgboost-cpu and lightgbm
(the default bake's images carry neither). For each estimator, on the same sample rows:
- training: seconds to fit on the processed train split, with the hyperparameters a bake of
  that estimator writes to config/project.yaml;
- scoring: rows per second through the model server's /invocations (its WSGI app, called in
  process: parsing, preparing, predicting and formatting, without the network);
- explaining: rows per second of the explanation the estimator's contract chooses.
Each figure is also given as a ratio to HistGradientBoosting, measured in the same run. Nothing
here is a test: no time is asserted.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

# What a bake of each estimator writes as algorithm.hyperparameters (config/project.yaml).
BAKED = {
    "hist_gradient_boosting": {
        "learning_rate": "0.1", "max_iter": "300", "max_leaf_nodes": "31", "min_samples_leaf": "20",
        "l2_regularization": "0.0", "early_stopping": "true", "random_state": "42",
    },
    "xgboost": {"n_estimators": "300", "learning_rate": "0.05", "max_depth": "6", "min_child_weight": "1",
                "random_state": "42"},
    "lightgbm": {"n_estimators": "200", "learning_rate": "0.05", "num_leaves": "31", "min_child_samples": "20",
                 "random_state": "42"},
    "random_forest": {"n_estimators": "100", "max_depth": "10", "min_samples_leaf": "20", "random_state": "42"},
    "linear": {"C": "1.0", "max_iter": "1000"},
    "custom_estimators.extra_trees_pipeline": {"n_estimators": "100", "random_state": "42"},
}  # fmt: skip
SCORED_ROWS = 10_000
EXPLAINED_ROWS = {"model_agnostic": 50}  # a sampled explanation is slow: fewer rows, the rate is what counts
EXPLAINED_DEFAULT = 500


def best_of(times: int, action) -> float:
    """The fastest of `times` runs of `action`, in seconds."""
    found = []
    for _ in range(times):
        started = time.perf_counter()
        action()
        found.append(time.perf_counter() - started)
    return min(found)


def invoke(app, body: bytes) -> bytes:
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/invocations", "CONTENT_TYPE": "text/csv",
        "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
    }  # fmt: skip
    answer: list[str] = []
    chunks = app(environ, lambda status, headers: answer.append(status))
    data = b"".join(chunks)
    assert answer[0].startswith("200"), answer[0]
    return data


def measure(package: str, rows: int) -> dict:
    from importlib import import_module

    model_module = import_module(f"{package}.components.algorithm.model")
    preprocess = import_module(f"{package}.components.processing.preprocess")
    server = import_module(f"{package}.components.algorithm.server")
    shap_values = import_module(f"{package}.components.explainability.shap_values")
    sample = import_module(f"{package}.sample_data")

    data = sample.generate(rows, target_column="churn", problem_type="binary_classification", seed=3)
    schema, labelled = preprocess.fit(data, "churn", "binary_classification")
    train, validation = preprocess.split(labelled, schema, 0.2, seed=42)
    train_matrix = preprocess.to_training_matrix(train, schema)
    schema = preprocess.learn_preparation(train_matrix, schema)
    X = preprocess.to_training_matrix(validation, schema).iloc[:, 1:].to_numpy()
    scored = np.resize(X, (SCORED_ROWS, X.shape[1]))
    body = "\n".join(",".join("" if np.isnan(v) else f"{v:.15g}" for v in row) for row in scored).encode()
    results = {}
    for name, hyperparameters in BAKED.items():
        started = time.perf_counter()
        model = model_module.fit(train_matrix, schema, hyperparameters, name)
        seconds = time.perf_counter() - started
        app = server.create_app(model)
        invoke(app, body)  # warm
        scoring = best_of(3, lambda app=app: invoke(app, body))
        explainer = shap_values.Explainer(model)
        count = min(len(X), EXPLAINED_ROWS.get(model.estimator.explanation, EXPLAINED_DEFAULT))
        rows_explained = X[:count]
        explaining = best_of(1, lambda explainer=explainer, rows=rows_explained: explainer.explain(rows))
        results[name] = {
            "train_rows": len(train_matrix),
            "fit_seconds": seconds,
            "invocations_rows_per_second": SCORED_ROWS / scoring,
            "explanation": explainer.method,
            "explained_rows": count,
            "explained_rows_per_second": count / explaining,
        }
        print(name, json.dumps(results[name]), flush=True)
    return results


def table(results: dict) -> str:
    base = results["hist_gradient_boosting"]
    lines = [
        "| estimator | fit (s) | vs HGB | /invocations rows/s | vs HGB | explained rows/s | vs HGB | explanation |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['fit_seconds']:.2f} | {r['fit_seconds'] / base['fit_seconds']:.2f} "
            f"| {r['invocations_rows_per_second']:,.0f} "
            f"| {r['invocations_rows_per_second'] / base['invocations_rows_per_second']:.2f} "
            f"| {r['explained_rows_per_second']:,.0f} "
            f"| {r['explained_rows_per_second'] / base['explained_rows_per_second']:.3f} | {r['explanation']} |"
        )
    return "\n".join(lines)


def added_to_an_image() -> dict[str, float]:
    """The installed megabytes of each estimator's own library: what its bake adds to every image.

    XGBoost and LightGBM need numpy and scipy only, which every image has already.
    """
    from importlib import metadata

    sizes = {}
    for name, distribution in (("xgboost", "xgboost-cpu"), ("lightgbm", "lightgbm")):
        files = metadata.distribution(distribution).files or []
        sizes[name] = round(sum(f.size or 0 for f in files) / 2**20, 1)
    return sizes


def benchmark(project: Path, rows: int) -> dict:
    """measure() on a baked repository, in this process, with what each estimator adds to an image."""
    sys.path.insert(0, str(project / "src"))
    package = next(p.name for p in (project / "src").iterdir() if (p / "components").is_dir())
    return {"rows": rows, "estimators": measure(package, rows), "image_mb_added": added_to_an_image()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="a baked repository (its src/ is imported)")
    parser.add_argument("--rows", type=int, default=50_000, help="sample rows (80%% train)")
    parser.add_argument("--out", type=Path, help="write the measurements here as JSON")
    args = parser.parse_args()
    sys.path.insert(0, str(args.project / "src"))
    package = next(p.name for p in (args.project / "src").iterdir() if (p / "components").is_dir())
    results = measure(package, args.rows)
    machine = {"python": platform.python_version(), "machine": platform.machine(), "processor": platform.processor()}
    if args.out:
        args.out.write_text(json.dumps({"machine": machine, "rows": args.rows, "estimators": results}, indent=1))
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
