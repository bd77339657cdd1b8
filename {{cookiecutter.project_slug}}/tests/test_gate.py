"""The champion-challenger gate: the paired bootstrap, the decision rules, and the compare mode on real models."""

import json
import shutil
import tarfile

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from {{ cookiecutter.package_name }}.components.algorithm import (
    gate,
)
from {{ cookiecutter.package_name }}.components.algorithm.__main__ import (
    compare,
)
from {{ cookiecutter.package_name }}.components.algorithm.model import (
    fit,
)
from {{ cookiecutter.package_name }}.components.processing.preprocess import (
    fit as learn,
)
from {{ cookiecutter.package_name }}.components.processing.preprocess import (
    to_training_matrix,
)
from {{ cookiecutter.package_name }}.container import (
    ComponentError,
)
from {{ cookiecutter.package_name }}.local.packing import (
    pack_model,
)
from {{ cookiecutter.package_name }}.model_metrics import (
    Outcomes,
)
from {{ cookiecutter.package_name }}.registry.digests import (
    DIGESTS_ENV,
    file_sha256,
)
from {{ cookiecutter.package_name }}.sample_data import (
    generate,
)

from .conftest import fewer_rounds, tamper_archive
from .test_reports import CHROMIUM, rendered_dom, svg_texts


def test_the_paired_bootstrap_matches_an_independent_computation():
    """The same resampled rows for both models: the difference of each metric, draw for draw, as scikit-learn has it."""
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 2, 300)
    first = np.clip(truth * 0.3 + rng.uniform(0, 0.7, 300), 0, 1)
    second = rng.uniform(0, 1, 300)
    outcomes = [
        Outcomes("binary_classification", truth, (score > 0.5).astype(int), score, ["no", "yes"])
        for score in (first, second)
    ]
    draws = gate.paired_bootstrap(*outcomes, rounds=50, seed=3)
    replay = np.random.default_rng(3)
    auc, accuracy = [], []
    for _ in range(50):
        rows = replay.integers(0, 300, 300)
        auc.append(roc_auc_score(truth[rows], first[rows]) - roc_auc_score(truth[rows], second[rows]))
        accuracy.append(
            accuracy_score(truth[rows], first[rows] > 0.5) - accuracy_score(truth[rows], second[rows] > 0.5)
        )
    np.testing.assert_allclose(draws["auc"], auc, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(draws["accuracy"], accuracy, rtol=1e-12, atol=1e-12)
    low, high = gate.interval(draws["auc"])
    assert low == pytest.approx(np.percentile(auc, 2.5)) and high == pytest.approx(np.percentile(auc, 97.5))


def test_on_many_rows_a_smaller_rescaled_bootstrap_gives_the_whole_sets_interval():
    """Each round draws fewer rows than the set holds (a gate on a million rows must not take minutes); rescaled, the
    interval is the one a full bootstrap gives."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 8000)
    better, other = np.clip(truth * 0.2 + rng.random(8000), 0, 1), rng.random(8000)
    first, second = (
        Outcomes("binary_classification", truth, (score > 0.5).astype(int), score, ["no", "yes"])
        for score in (better, other)
    )
    full = gate.paired_bootstrap(first, second, rounds=300)
    part = gate.paired_bootstrap(first, second, rounds=300, most=2000)
    for metric in ("auc", "accuracy", "log_loss"):
        (low, high), (part_low, part_high) = gate.interval(full[metric]), gate.interval(part[metric])
        assert part_low == pytest.approx(low, abs=0.25 * (high - low))
        assert part_high == pytest.approx(high, abs=0.25 * (high - low))


def result(rows, challenger, champion=None, interval=None, constant=0.5, metric="auc", higher=True):
    """One evaluation set's comparison, as compare_on writes it."""
    entry = {"challenger": challenger, "higher_is_better": higher}
    if champion is not None:
        entry |= {"champion": champion, "difference": challenger - champion, "interval": interval}
    return {"rows": rows, "metrics": {metric: entry}, "best_constant": {metric: constant}}


SETTINGS = gate.Settings(tolerance=0.01, min_rows=100)


@pytest.mark.parametrize(
    ("sets", "champion", "passed", "reason"),
    [
        ({"recent": result(0, None), "validation": result(500, 0.8)}, "", True, "first model: auc 0.8000 beats"),
        ({"validation": result(500, 0.49)}, "", False, "does not beat the best constant predictor's 0.5000"),
        (
            {"recent": result(300, 0.75, 0.7, [0.02, 0.08]), "validation": result(500, 0.8, 0.8, [-0.02, 0.02])},
            "3", True, "better than champion v3 on 300 recent rows",
        ),
        (
            {"recent": result(300, 0.71, 0.7, [-0.01, 0.03]), "validation": result(500, 0.8, 0.8, [-0.02, 0.02])},
            "3", False, "not better than champion v3 on 300 recent rows",
        ),
        (
            {"recent": result(300, 0.6, 0.7, [-0.14, -0.06])}, "3", False, "not better than champion v3",
        ),
        (
            {"recent": result(300, 0.75, 0.7, [0.02, 0.08]), "validation": result(500, 0.7, 0.8, [-0.13, -0.07])},
            "3", False, "but worse than champion v3 on 500 validation rows beyond the tolerance 0.01",
        ),
        (  # few recent rows: the validation split decides
            {"recent": result(40, 0.9, 0.5, [0.3, 0.5]), "validation": result(500, 0.8, 0.8, [-0.02, 0.02])},
            "3", False, "not better than champion v3 on 500 validation rows",
        ),
        (  # smaller is better: an RMSE that fell is an improvement
            {"recent": result(300, 9.0, 10.0, [-1.5, -0.5], constant=12.0, metric="rmse", higher=False)},
            "3", True, "better than champion v3 on 300 recent rows: rmse 9.0000 against 10.0000",
        ),
    ],
    ids=["first", "first-below-constant", "better", "tie", "worse", "vetoed", "few-recent-rows", "rmse-better"],
)  # fmt: skip
def test_the_decision(sets, champion, passed, reason):
    problem = "regression" if "rmse" in json.dumps(sets) else "binary_classification"
    decision = gate.decide(problem, sets, SETTINGS, champion)
    assert decision.passed is passed and reason in decision.reason


# --- the compare mode, on real models ----------------------------------------------------------------


def archive(model, folder):
    model.save(folder / "model")
    return pack_model(folder / "model", folder / "model.tar.gz")


@pytest.fixture(scope="module")
def models(tmp_path_factory, sample, target, problem_type, config):
    """The champion (trained before a concept drift), challengers better, equal and worse, and the rows to judge on."""
    root = tmp_path_factory.mktemp("gate")
    hyperparameters, estimator = fewer_rounds(config, 60), config["algorithm"]["estimator"]

    def trained(frame, name):
        schema, labelled = learn(frame, target, problem_type)
        folder = root / name
        folder.mkdir()
        return archive(fit(to_training_matrix(labelled, schema), schema, hyperparameters, estimator), folder)

    moved = generate(3000, target_column=target, problem_type=problem_type, seed=11, concept_stage=3)
    shuffled = moved.assign(**{target: moved[target].sample(frac=1.0, random_state=0).to_numpy()})
    return {
        "champion": trained(sample, "champion"),
        "better": trained(moved, "better"),
        "worse": trained(shuffled, "worse"),
        "recent": generate(800, target_column=target, problem_type=problem_type, seed=12, concept_stage=3),
        "validation": generate(400, target_column=target, problem_type=problem_type, seed=13, concept_stage=3),
    }


def run_compare(tmp_path, monkeypatch, models, challenger, champion="champion", registered=None):
    """The compare mode on staged models; `registered`: the champion's digest in its manifest (else its own)."""
    root = tmp_path / "opt_ml"
    inputs = root / "processing" / "input"
    for name, source in (("challenger", models[challenger]), ("champion", models.get(champion))):
        (inputs / name).mkdir(parents=True)
        if source is not None:
            shutil.copyfile(source, inputs / name / "model.tar.gz")
    for name in ("recent", "validation"):
        (inputs / name).mkdir(parents=True)
        models[name].to_csv(inputs / name / f"{name}.csv", index=False)
    monkeypatch.setenv("OPT_ML_ROOT", str(root))
    monkeypatch.setenv("CHAMPION_VERSION", "4" if champion else "")
    if champion:  # the champion's manifest digests, as the training pipeline passes them
        digest = registered or file_sha256(inputs / "champion" / "model.tar.gz")
        monkeypatch.setenv(DIGESTS_ENV, json.dumps({"model": digest}))
    compare()
    out = root / "processing" / "output" / "gate"
    return json.loads((out / "gate.json").read_text()), (out / "report.html").read_text()


def test_a_better_challenger_passes_on_the_recent_rows(tmp_path, monkeypatch, models, problem_type):
    verdict, report = run_compare(tmp_path, monkeypatch, models, "better")
    assert verdict["passed"] is True, verdict["detail"]["reason"]
    record = json.loads(verdict["record"])
    assert record["set"] == "recent" and record["rows"] == 800 and record["champion_version"] == "4"
    assert record["interval"][0] > 0 if problem_type != "regression" else record["interval"][1] < 0
    primary = gate.PRIMARY[problem_type]
    detail = verdict["detail"]["sets"]
    for name in ("recent", "validation"):  # every metric side by side, each with its interval
        metrics = detail[name]["metrics"]
        assert primary in metrics and all(set(m) >= {"challenger", "champion", "interval"} for m in metrics.values())
    assert "Champion-challenger gate" in report and "passes the gate" in report and "version 4" in report


def test_the_champions_own_model_is_not_promoted_again(tmp_path, monkeypatch, models):
    verdict, report = run_compare(tmp_path, monkeypatch, {**models, "champion": models["better"]}, "better")
    assert verdict["passed"] is False
    assert json.loads(verdict["record"])["reason"] == "the same model as champion v4: nothing to promote"
    assert "does not pass the gate" in report


def test_a_champion_swapped_after_registration_is_refused_before_it_is_opened(tmp_path, monkeypatch, models):
    registered, marker = file_sha256(models["champion"]), tmp_path / "payload-ran"
    swapped = tmp_path / "swapped" / "model.tar.gz"
    swapped.parent.mkdir()
    shutil.copyfile(models["champion"], swapped)
    tamper_archive(swapped, marker)
    with pytest.raises(ComponentError, match=f"its sha256 is {file_sha256(swapped)}, the manifest's {registered}"):
        run_compare(tmp_path, monkeypatch, {**models, "champion": swapped}, "better", registered=registered)
    assert not marker.exists(), "no code from the swapped champion ran"
    assert not (tmp_path / "opt_ml" / "processing" / "output" / "gate").exists(), "no verdict is written"


def test_a_tie_keeps_the_champion():
    """Two models that score the rows alike: the interval of the improvement straddles zero, and the champion stays."""
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 600)
    scores = [np.clip(truth * 0.3 + rng.uniform(0, 0.7, 600), 0, 1) for _ in range(2)]
    first, second = (Outcomes("binary_classification", truth, (s > 0.5).astype(int), s, ["no", "yes"]) for s in scores)
    draws = gate.paired_bootstrap(first, second, rounds=300)
    low, high = gate.interval(draws["auc"])
    assert low < 0 < high
    difference = gate.metric_values(first)["auc"] - gate.metric_values(second)["auc"]
    entry = {"challenger": 0.8, "champion": 0.8 - difference, "difference": difference, "interval": [low, high],
             "higher_is_better": True}  # fmt: skip
    sets = {"recent": {"rows": 600, "metrics": {"auc": entry}, "best_constant": {"auc": 0.5}}}
    decision = gate.decide("binary_classification", sets, SETTINGS, "2")
    assert decision.passed is False and "a tie keeps the champion" in decision.reason


@pytest.mark.parametrize("higher_is_better", [True, False], ids=["auc", "rmse"])
def test_a_challenger_worse_beyond_noise_is_called_worse_not_a_tie(higher_is_better):
    """An improvement whose whole interval lies below zero (-0.043 [-0.090, -0.001], as the demo once showed)."""
    sign = 1 if higher_is_better else -1
    entry = {"challenger": 0.70, "champion": 0.70 + 0.043 * sign, "difference": -0.043 * sign,
             "interval": sorted([-0.090 * sign, -0.001 * sign]), "higher_is_better": higher_is_better}  # fmt: skip
    metric, problem = ("auc", "binary_classification") if higher_is_better else ("rmse", "regression")
    constant = 0.5 if higher_is_better else 9.0
    sets = {"recent": {"rows": 600, "metrics": {metric: entry}, "best_constant": {metric: constant}}}
    decision = gate.decide(problem, sets, SETTINGS, "2")
    assert decision.passed is False and "the champion is better beyond noise" in decision.reason
    assert "a tie" not in decision.reason


def test_a_worse_challenger_does_not_pass(tmp_path, monkeypatch, models):
    verdict, _ = run_compare(tmp_path, monkeypatch, {**models, "champion": models["better"]}, "worse")
    assert verdict["passed"] is False
    reason = verdict["detail"]["reason"]
    assert "not better than champion v4" in reason or "best constant" in reason


def test_a_first_model_passes_on_the_absolute_check_alone(tmp_path, monkeypatch, models):
    verdict, report = run_compare(tmp_path, monkeypatch, models, "better", champion=None)
    assert verdict["passed"] is True and verdict["champion_version"] == ""
    assert json.loads(verdict["record"])["reason"].startswith("first model:")
    assert "There is no champion" in report


def test_the_identity_of_a_model_ignores_how_it_was_packed(tmp_path, models):
    """Two trainings of the same model pack their files at other times: the same identity, another file digest."""
    repacked = tmp_path / "repacked"
    with tarfile.open(models["champion"]) as tar:
        tar.extractall(repacked, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(repacked)
    schema = json.loads((repacked / "schema.json").read_text())
    (repacked / "schema.json").write_text(json.dumps(schema | {"learned_at": "2030-01-01"}))
    again = pack_model(repacked, tmp_path / "again.tar.gz")
    assert gate.model_identity(again) == gate.model_identity(models["champion"])
    assert gate.model_identity(models["better"]) != gate.model_identity(models["champion"])


def test_a_champion_that_cannot_score_the_rows_leaves_the_verdict_to_a_person(
    tmp_path, monkeypatch, models, target, problem_type, config
):
    """A challenger trained on renamed columns: the champion cannot prepare its rows, so nothing is decided for it."""
    renamed = {
        name: models[name].rename(columns={c: f"{c}_v2" for c in models[name].columns if c != target})
        for name in ("recent", "validation")
    }
    schema, labelled = learn(renamed["validation"], target, problem_type)
    hyperparameters, estimator = fewer_rounds(config, 30), config["algorithm"]["estimator"]
    (tmp_path / "renamed").mkdir()
    model = fit(to_training_matrix(labelled, schema), schema, hyperparameters, estimator)
    challenger = archive(model, tmp_path / "renamed")
    verdict, report = run_compare(tmp_path, monkeypatch, {**models, **renamed, "renamed": challenger}, "renamed")
    assert verdict["passed"] is False
    reason = verdict["detail"]["reason"]
    assert reason.startswith("champion v4 cannot score the rows") and "compare them by hand" in reason
    assert "missing" in verdict["detail"]["champion_error"] and "could not score the rows" in report


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package (apt-get install chromium)")
def test_the_gate_reports_charts_have_a_labelled_axis_with_ticks_in_headless_chromium(tmp_path, monkeypatch, models):
    _, report = run_compare(tmp_path, monkeypatch, models, "better")
    dom = rendered_dom(report, tmp_path / "page")
    charts = dom.count("<svg")
    assert charts >= 1
    assert len([label for label in svg_texts(dom, "axis-label") if "over the champion" in label]) == charts
    assert len(svg_texts(dom, "tick")) == 5 * charts
