"""Bake for datasets the template never saw; run every component and mode on their CSVs.

Each repository is baked with the dataset's `target_column` and `problem_type`, then trains
on 80% of the rows and scores the rest through the real entrypoints under OPT_ML_ROOT:
once as a clean holdout (no drift), once with one feature shifted (drift in that feature).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_wine

from .conftest import bake, run_in

RUN = """
import json, sys
from pathlib import Path
from {package}.config import load_config
from {package}.demo import infer, train
workdir, train_csv, holdout, shifted = map(Path, sys.argv[1:])
trained = train(workdir, train_csv, load_config())
results = {{"train": trained, "holdout": infer(workdir, holdout, trained)}}
results["shifted"] = infer(workdir, shifted, trained)
print(json.dumps(results))
"""


def wine_with_missing_values() -> pd.DataFrame:
    """Multiclass, numeric features with missing values."""
    wine = load_wine(as_frame=True).frame
    rng = np.random.default_rng(0)
    for column in ["magnesium", "color_intensity", "proline"]:
        wine.loc[rng.random(len(wine)) < 0.1, column] = np.nan
    wine["cultivar"] = wine.pop("target").map({0: "barolo", 1: "grignolino", 2: "barbera"})
    return wine


def loans_mostly_categorical() -> pd.DataFrame:
    """Binary, six categorical features and one numeric one."""
    rng = np.random.default_rng(1)
    n = 4000
    frame = pd.DataFrame(
        {
            "employment": rng.choice(
                ["salaried", "self-employed", "unemployed", "retired"], n, p=[0.55, 0.2, 0.1, 0.15]
            ),
            "housing": rng.choice(["own", "rent", "family"], n),
            "purpose": rng.choice(["car", "home", "education", "business", "travel"], n),
            "education": rng.choice(["school", "bachelor", "master", "doctorate"], n),
            "region": rng.choice(["north", "south", "east", "west", None], n),
            "marital": rng.choice(["single", "married", "divorced"], n),
            "income": np.where(rng.random(n) < 0.05, np.nan, rng.lognormal(10, 0.5, n).round(0)),
        }
    )
    score = (
        1.2 * (frame["employment"] == "salaried")
        - 1.5 * (frame["employment"] == "unemployed")
        + 0.8 * (frame["housing"] == "own")
        - 0.7 * (frame["purpose"] == "travel")
        + 0.5 * frame["education"].isin(["master", "doctorate"])
        + rng.logistic(0, 1, n)
        - 0.5
    )
    frame["approved"] = np.where(score > 0, "Y", "N")
    return frame


def diabetes() -> pd.DataFrame:
    """Regression, numeric features only."""
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["progression"] = frame.pop("target")
    return frame


def shift_numeric(column: str, by_std: float):
    def shift(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(**{column: frame[column] + by_std * frame[column].std()})

    return shift


def shift_categorical(column: str, value: str, share: float):
    def shift(frame: pd.DataFrame) -> pd.DataFrame:
        shifted = frame.copy()
        shifted.loc[shifted.index[: int(len(shifted) * share)], column] = value
        return shifted

    return shift


# name: (loader, target_column, problem_type, feature to shift, how to shift it)
CASES = {
    "wine-multiclass-missing": (
        wine_with_missing_values,
        "cultivar",
        "multiclass_classification",
        "alcohol",
        shift_numeric("alcohol", 3),
    ),
    "loans-binary-categorical": (
        loans_mostly_categorical,
        "approved",
        "binary_classification",
        "purpose",
        shift_categorical("purpose", "travel", 0.6),
    ),
    "diabetes-regression": (diabetes, "progression", "regression", "bmi", shift_numeric("bmi", 2)),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def outcome(request, tmp_path_factory):
    load, target, problem_type, shifted_feature, shift = CASES[request.param]
    workdir = tmp_path_factory.mktemp(request.param)
    project = bake(
        workdir / "bake", project_name=f"Case {request.param}", target_column=target, problem_type=problem_type
    )
    data = load().sample(frac=1.0, random_state=0).reset_index(drop=True)
    cut = int(len(data) * 0.8)
    files = workdir / "data"
    files.mkdir()
    data.iloc[:cut].to_csv(files / "train.csv", index=False)
    holdout = data.iloc[cut:].drop(columns=[target])
    holdout.to_csv(files / "holdout.csv", index=False)
    shift(holdout).to_csv(files / "shifted.csv", index=False)
    package = project.name.replace("-", "_")
    result = run_in(
        project,
        sys.executable,
        "-c",
        RUN.format(package=package),
        str(workdir / "jobs"),
        str(files / "train.csv"),
        str(files / "holdout.csv"),
        str(files / "shifted.csv"),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return (
        json.loads(result.stdout.strip().splitlines()[-1]),
        len(holdout),
        shifted_feature,
        problem_type,
        list(holdout.columns),
    )


def test_training_reports_the_objective_metric(outcome):
    summary, _, _, problem_type, _ = outcome
    assert ("rmse" if problem_type == "regression" else "auc") in summary["train"]["metrics"]


def test_holdout_is_scored_row_for_row_without_drift(outcome):
    summary, rows, _, _, _ = outcome
    holdout = summary["holdout"]
    assert holdout["rows"] == rows
    assert len(Path(holdout["predictions"]).read_text().strip().splitlines()) == rows
    assert len(pd.read_csv(holdout["explanations"])) == rows
    assert holdout["drift"] == {"detected": False, "drifted_features": []}


def test_shifted_feature_is_reported_as_drift(outcome):
    summary, _, shifted_feature, _, _ = outcome
    assert summary["shifted"]["drift"]["detected"] is True
    assert shifted_feature in summary["shifted"]["drift"]["drifted_features"]


def test_explanations_name_the_original_features(outcome):
    summary, _, _, _, columns = outcome
    analysis = json.loads((Path(summary["train"]["explainability"]) / "analysis.json").read_text())
    for entry in analysis["explanations"]["kernel_shap"].values():
        assert set(entry["global_shap_values"]) == set(columns)
