"""Model quality in local mode: labels land, the quality pipeline judges them, a violation retrains."""

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.local.commands import (
    land_labels,
    local_infer,
    local_quality,
    local_train,
)
from {{ cookiecutter.package_name }}.local.demo import (
    labels_for,
)
from {{ cookiecutter.package_name }}.local.workspace import (
    Workspace,
)
from {{ cookiecutter.package_name }}.sample_data import (
    generate,
)

from .test_reports import CHROMIUM, rendered_dom, svg_texts


def quiet(_line: str) -> None:
    pass


def score_and_label(workspace, config, target, problem_type, tmp, name, **stages):
    frame = generate(600, target_column=target, problem_type=problem_type, seed=60 + len(name), **stages)
    batch = tmp / f"{name}.csv"
    frame.drop(columns=[target]).to_csv(batch, index=False)
    scored = local_infer(batch, config, "dev", workspace, quiet)
    assert scored["status"] == "Succeeded", scored.get("failure")
    truth = tmp / f"{name}-labels.csv"
    labels_for(Path(scored["predictions"]), frame[target], target).to_csv(truth, index=False)
    land_labels(truth, config, "dev", workspace)
    return scored


@pytest.fixture(scope="module")
def story(tmp_path_factory, config, target, problem_type):
    """Train; a fresh batch, labelled, judged; then a concept-drifted batch, labelled, judged."""
    tmp = tmp_path_factory.mktemp("quality-data")
    workspace = Workspace(tmp_path_factory.mktemp("quality-workspace"))
    train = tmp / "train.csv"
    generate(2500, target_column=target, problem_type=problem_type, seed=1).to_csv(train, index=False)
    assert local_train(train, config, "dev", workspace, quiet)["status"] == "Succeeded"
    nothing = local_quality(config, "dev", workspace, quiet)
    fresh = score_and_label(workspace, config, target, problem_type, tmp, "fresh")
    holds = local_quality(config, "dev", workspace, quiet)
    moved = score_and_label(workspace, config, target, problem_type, tmp, "concept", concept_stage=3)
    drops = local_quality(config, "dev", workspace, quiet, {"StartOffset": "-P1D"})
    return {"nothing": nothing, "fresh": fresh, "holds": holds, "moved": moved, "drops": drops, "workspace": workspace}


def test_before_any_label_lands_nothing_is_judged(story):
    nothing = story["nothing"]
    assert nothing["status"] == "Succeeded" and nothing["labelled_rows"] == 0
    assert nothing["judged"] is False and nothing["violations"] == [] and nothing["retrain_triggered"] is False


def test_labels_of_an_undrifted_batch_show_quality_holding(story, config):
    holds = story["holds"]
    assert holds["status"] == "Succeeded" and holds["judged"] is True
    assert holds["labelled_rows"] == 600 and holds["coverage"] == 1.0
    assert holds["violations"] == [] and holds["retrain_triggered"] is False
    (run,) = holds["runs"]
    assert run["run_id"] == story["fresh"]["run_id"] and run["labelled"] == 600
    assert set(holds["metrics"]) <= set(run["realised"])
    assert Path(holds["report"]).is_file()


def test_concept_drift_passes_the_drift_check_and_is_caught_by_model_quality(story, config):
    moved, drops = story["moved"], story["drops"]
    assert moved["drift"]["detected"] is False, "the concept stage moved the inputs"
    assert drops["judged"] is True and drops["labelled_rows"] == 1200  # both batches are in the last day
    assert drops["violations"], drops["metrics"]
    retrains = config["inference"]["drift_action"] == "retrain"
    assert drops["retrain_triggered"] is retrains
    realised = {run["run_id"]: run["realised"] for run in drops["runs"]}
    primary = {"binary_classification": "auc", "multiclass_classification": "accuracy", "regression": "rmse"}[
        config["data"]["problem_type"]
    ]
    fresh, concept = realised[story["fresh"]["run_id"]][primary], realised[moved["run_id"]][primary]
    assert (concept > fresh) if primary == "rmse" else (concept < fresh)


def test_the_quality_json_contract(story):
    keys = {"run_id", "status", "labelled_rows", "coverage", "metrics", "violations", "retrain_triggered"}
    assert keys <= set(story["drops"])


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package (apt-get install chromium)")
def test_the_quality_reports_charts_have_labelled_axes_ticks_and_legends_in_headless_chromium(story, tmp_path):
    dom = rendered_dom(Path(story["drops"]["report"]).read_text(), tmp_path / "page")
    charts = dom.count("<svg")
    assert charts >= 1  # the run-by-run chart; binary adds calibration, regression residuals
    labels = [label for label in svg_texts(dom, "axis-label") if label.strip()]
    assert len(labels) == 2 * charts, labels
    assert len(svg_texts(dom, "tick")) >= 4 * charts
    assert "inference run (1 is the oldest)" in labels and 'class="legend"' in dom


def test_labels_naming_no_class_of_the_model_are_refused_at_landing_and_left_out_by_the_job(
    story, config, target, problem_type, tmp_path
):
    """`1`/`0` for a model whose classes are names: local labels refuses the file, naming the classes; labels
    written straight to S3 (as a labelling process on AWS would) are counted and left out, and never crash."""
    import shutil
    from datetime import UTC, datetime

    from {{ cookiecutter.package_name }}.pipelines.layout import labels_uri

    if problem_type == "regression":
        pytest.skip("a regression target has no classes")
    predictions = Path(story["fresh"]["predictions"]).read_text().splitlines()  # every row the run scored
    labels = tmp_path / "labels.csv"
    labels.write_text(f"inference_id,{target}\n" + "".join(f"{line.split(',')[0]},{n % 2}\n" for n, line in
                                                           enumerate(predictions)))  # fmt: skip
    with pytest.raises(ValueError, match=r"600 of 600 rows name a class the serving model \(v1\) does not know"):
        land_labels(labels, config, "dev", story["workspace"])
    workspace = Workspace(tmp_path / "ws")
    shutil.copytree(story["workspace"].root, workspace.root)
    now = datetime.now(UTC)
    landed = workspace.path(labels_uri(config, "dev", now))
    landed.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(labels, landed / "straight-to-s3.csv")
    judged = local_quality(config, "dev", workspace, quiet, {"StartOffset": "-P1D"}, now=now)
    assert judged["status"] == "Succeeded", judged.get("failure")
