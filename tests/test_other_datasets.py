"""Bake for datasets the template never saw; run both pipelines locally on their CSVs.

Each repository is baked with the dataset's `target_column` and `problem_type`. Through its
own CLI (its `main`, every command in turn in one process) it trains on 80% of the rows
(`local train`), scores the rest (`local infer`) as a clean holdout (no drift) and with one
feature shifted (drift in that feature), trains again (a new manifest version), promotes
version 1, and infers with it. Every component and mode runs through its real entrypoint
under OPT_ML_ROOT.
"""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_wine

from .conftest import bake, run_in


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


DRIFT_ACTION = {
    "wine-multiclass-missing": "alert",
    "loans-binary-categorical": "retrain",
    "diabetes-regression": "alert",
}
# A built-in estimator other than the default for each: the contract on data it was not written for.
ESTIMATOR = {
    "wine-multiclass-missing": "random_forest",
    "loans-binary-categorical": "xgboost",
    "diabetes-regression": "lightgbm",
}


# One xdist group per dataset, so each dataset's story runs once, on one worker.
@pytest.fixture(scope="module", params=[pytest.param(c, marks=pytest.mark.xdist_group(c)) for c in sorted(CASES)])
def outcome(request, tmp_path_factory):
    # A worker may interleave two datasets' tests, which would set this module fixture up again.
    if request.param not in OUTCOMES:
        OUTCOMES[request.param] = run_story(request.param, tmp_path_factory)
    return OUTCOMES[request.param]


OUTCOMES: dict[str, tuple] = {}

ANSWER = '{"answer": '
# Runs each argv through the generated CLI's main(), stopping at the first that fails, and prints
# each command's JSON line (its last line of output) as {"answer": ...} for the test to read. A
# `__labels__ TRUTH OUT TARGET` step writes the labels file a team would send for the previous
# command's predictions.
STORY_DRIVER = """
import contextlib, io, json, sys
from pathlib import Path
import pandas as pd
from {package}.cli import main
from {package}.local.demo import labels_for
previous = None
for argv in json.loads(sys.argv[1]):
    if argv[0] == "__labels__":
        truth = pd.read_csv(argv[1]).iloc[:, 0]
        labels_for(Path(previous["predictions"]), truth, argv[3]).to_csv(argv[2], index=False)
        continue
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    if code:
        sys.exit(f"{{argv}} exited {{code}}: {{out.getvalue()[-3000:]}}")
    previous = json.loads(out.getvalue().strip().splitlines()[-1])
    print(json.dumps({{"answer": previous}}), flush=True)
"""


def run_story(case: str, tmp_path_factory) -> tuple:
    load, target, problem_type, shifted_feature, shift = CASES[case]
    workdir = tmp_path_factory.mktemp(case)
    answers = {
        "project_name": f"Case {case}",
        "target_column": target,
        "problem_type": problem_type,
        "drift_action": DRIFT_ACTION[case],
        "estimator": ESTIMATOR[case],
    }
    project = bake(workdir / "bake", **answers)
    data = load().sample(frac=1.0, random_state=0).reset_index(drop=True)
    cut = int(len(data) * 0.8)
    files = workdir / "data"
    files.mkdir()
    data.iloc[:cut].to_csv(files / "train.csv", index=False)
    holdout = data.iloc[cut:].drop(columns=[target])
    holdout.to_csv(files / "holdout.csv", index=False)
    data.iloc[cut:][[target]].to_csv(files / "truth.csv", index=False)
    shift(holdout).to_csv(files / "shifted.csv", index=False)
    package = project.name.replace("-", "_")

    # The whole story goes through the CLI's `main` in one process, command after command, as a
    # shell session would run them one by one: each JSON line is that command's answer.
    commands = {
        "train": ["local", "train", "--data", str(files / "train.csv")],
        "holdout": ["local", "infer", "--data", str(files / "holdout.csv")],
        None: ["__labels__", str(files / "truth.csv"), str(files / "labels.csv"), target],
        "labels": ["local", "labels", "--data", str(files / "labels.csv")],
        "shifted": ["local", "infer", "--data", str(files / "shifted.csv")],
        "again": ["local", "train", "--data", str(files / "train.csv")],
        "promoted": ["registry", "promote", "--version", "1"],
        "with_v1": ["local", "infer", "--data", str(files / "holdout.csv")],
        "history": ["registry", "history"],
    }
    argvs = [
        args if name is None else ["--workspace", str(workdir / "workspace"), *args, "--json"]
        for name, args in commands.items()
    ]
    result = run_in(project, sys.executable, "-c", STORY_DRIVER.format(package=package), json.dumps(argvs))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.startswith(ANSWER)]
    story = dict(zip([n for n in commands if n], (answer["answer"] for answer in answers), strict=True))
    return story, len(holdout), shifted_feature, problem_type, list(holdout.columns), DRIFT_ACTION[case], case


def test_training_reports_the_objective_metric(outcome):
    story, _, _, problem_type, _, _, _ = outcome
    assert story["train"]["status"] == "Succeeded"
    assert story["train"]["manifest_version"] == 1
    assert ("rmse" if problem_type == "regression" else "auc") in story["train"]["metrics"]


def test_holdout_is_scored_row_for_row_without_drift(outcome):
    story, rows, _, _, _, _, _ = outcome
    holdout = story["holdout"]
    assert holdout["rows"] == rows
    assert len(Path(holdout["predictions"]).read_text().strip().splitlines()) == rows
    assert len(pd.read_csv(holdout["explanations"])) == rows
    assert holdout["drift"] == {"detected": False, "drifted_features": []}


def test_the_first_model_is_promoted_by_its_gate(outcome):
    story, _, _, _, _, _, _ = outcome
    assert story["train"]["promoted"] is True and story["train"]["decision"].startswith("promoted: first model")


def test_shifted_feature_is_reported_as_drift_and_a_retrain_learns_the_labelled_holdout(outcome):
    story, rows, shifted_feature, _, _, drift_action, _ = outcome
    shifted = story["shifted"]
    assert shifted["drift"]["detected"] is True
    assert shifted_feature in shifted["drift"]["drifted_features"]
    assert story["labels"]["rows"] == rows
    if drift_action != "retrain":
        assert shifted["retrain_triggered"] is False
        return
    # The holdout's labels landed before the shifted batch was scored: the retrain learns them.
    assert shifted["retrain_triggered"] is True and shifted["retrain"]["version"] == 2
    versions = {v["version"]: v for v in story["history"]}
    lineage = versions[2]["manifest"]["lineage"]
    assert lineage["runs"] == {story["holdout"]["run_id"]: rows - rows // 5}
    assert lineage["holdout"]["rows"] == rows // 5
    assert versions[2]["manifest"]["gate"]["champion_version"] == "1"


def test_a_second_training_run_on_the_same_data_registers_nothing(outcome):
    story, _, _, _, _, drift_action, _ = outcome
    again = story["again"]
    assert again["registered"] is False and again["duplicate_of"] == 1 and again["manifest_version"] == 1
    expected = [1, 2] if drift_action == "retrain" else [1]  # a drift-triggered retrain registers one more
    assert [v["version"] for v in story["history"]] == expected


def test_promoting_version_one_makes_inference_use_it(outcome):
    story, _, _, _, _, _, _ = outcome
    assert story["promoted"]["labels"] == ["approved"]
    assert story["with_v1"]["manifest_version"] == 1


def test_explanations_name_the_original_features(outcome):
    story, _, _, _, columns, _, _ = outcome
    analysis = json.loads((Path(story["train"]["artifacts"]["explainability"]) / "analysis.json").read_text())
    for entry in analysis["explanations"]["kernel_shap"].values():
        assert set(entry["global_shap_values"]) == set(columns)


def test_the_model_is_the_chosen_estimator_and_its_explanations_are_exact_tree_shap(outcome):
    story, _, _, _, _, _, case = outcome
    with tarfile.open(story["train"]["artifacts"]["model"]) as archive:
        estimator = json.load(archive.extractfile("estimator.json"))
    assert estimator["estimator"] == ESTIMATOR[case] and estimator["explanation"] == "tree"
    analysis = json.loads((Path(story["train"]["artifacts"]["explainability"]) / "analysis.json").read_text())
    for entry in analysis["explanations"]["kernel_shap"].values():
        assert entry["method"].startswith("TreeSHAP (exact") and entry["additivity_error"] == 0
