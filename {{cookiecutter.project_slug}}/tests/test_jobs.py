"""Job running: inputs staged as SageMaker downloads them, outputs published whole, metrics, record shaping."""

import pytest

from {{ cookiecutter.package_name }}.local.jobs import (
    JobRunner,
    StepFailed,
    parse_metrics,
)
from {{ cookiecutter.package_name }}.local.runtimes import (
    VENV,
)
from {{ cookiecutter.package_name }}.local.workspace import (
    Workspace,
)


def test_metrics_are_read_from_the_log_as_sagemaker_does():
    log = "epoch\nvalidation:auc=0.71\nvalidation:auc=0.83\nvalidation:rmse=1e-3\n"
    definitions = [
        {"Name": "validation:auc", "Regex": "validation:auc=([-+0-9.eE]+)"},
        {"Name": "validation:rmse", "Regex": "validation:rmse=([-+0-9.eE]+)"},
        {"Name": "validation:f1", "Regex": "validation:f1=([-+0-9.eE]+)"},
    ]
    assert parse_metrics(log, definitions) == {"validation:auc": 0.83, "validation:rmse": 0.001}


def test_instances_writing_the_same_output_file_fail_the_step(tmp_path):
    roots = []
    for host in ("algo-1", "algo-2"):
        out = tmp_path / host / "opt_ml" / "processing" / "output" / "report"
        out.mkdir(parents=True)
        (out / "drift.json").write_text(host)
        roots.append(tmp_path / host / "opt_ml")
    jobs = JobRunner(Workspace(tmp_path / "ws"), VENV)
    with pytest.raises(StepFailed, match=r"drift\.json was written by two instances"):
        jobs.publish(roots, "/opt/ml/processing/output/report", "s3://bucket/report")
    (roots[1] / "processing" / "output" / "report" / "drift.json").rename(
        roots[1] / "processing" / "output" / "report" / "other.json"
    )
    published = jobs.publish(roots, "/opt/ml/processing/output/report", "s3://bucket/report")
    assert sorted(p.name for p in published.iterdir()) == ["drift.json", "other.json"]


def test_sharded_inputs_deal_each_instance_its_share_of_the_objects(tmp_path):
    workspace = Workspace(tmp_path / "ws")
    source = workspace.path("s3://bucket/batch")
    source.mkdir(parents=True)
    for i in range(5):
        (source / f"part-{i}.csv").write_text(str(i))
    jobs = JobRunner(workspace, VENV)
    seen = []
    for index in range(3):
        root = tmp_path / f"algo-{index + 1}"
        jobs.stage("s3://bucket/batch", root, "/opt/ml/processing/input/raw", "raw", share=(index, 3))
        seen.append(sorted(p.name for p in (root / "processing" / "input" / "raw").iterdir()))
    assert seen == [["part-0.csv", "part-3.csv"], ["part-1.csv", "part-4.csv"], ["part-2.csv"]]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("$", [b"id", b"1", b"2", b"3", b"yes", b"0.9"]),
        ("$[1:]", [b"1", b"2", b"3", b"yes", b"0.9"]),
        ("$[0,-2,-1]", [b"id", b"yes", b"0.9"]),
        ("$[0,4:]", [b"id", b"yes", b"0.9"]),
        ("$[1:3]", [b"1", b"2"]),
    ],
)
def test_batch_transform_filters_pick_csv_fields_as_sagemaker_does(expression, expected):
    from {{ cookiecutter.package_name }}.local.transform import csv_filter

    assert csv_filter(expression)([b"id", b"1", b"2", b"3", b"yes", b"0.9"]) == expected


@pytest.mark.parametrize("expression", ["$.features", "[1:]", "$[a]"])
def test_a_filter_local_batch_transform_cannot_apply_is_refused(expression):
    from {{ cookiecutter.package_name }}.local.transform import csv_filter

    with pytest.raises(ValueError, match="filter"):
        csv_filter(expression)


def test_data_processing_sends_the_row_without_its_id_and_writes_the_id_with_the_answer():
    from {{ cookiecutter.package_name }}.local.transform import RecordShaping

    shaping = RecordShaping.from_data_processing(
        {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-2,-1]"}
    )
    lines = [b"run:a.csv:1,0.5,1\n", b'"quoted,id",2,3\n']
    assert [shaping.request(line) for line in lines] == [b"0.5,1\n", b"2,3\n"]
    answers = shaping.answers(lines, b"yes,0.9\nno,0.2\n")
    assert answers == b'run:a.csv:1,yes,0.9\n"quoted,id",no,0.2\n'
    assert RecordShaping.from_data_processing({}).answers(lines, b"x\ny\n") == b"x\ny\n"
    with pytest.raises(ValueError, match="JoinSource"):
        RecordShaping.from_data_processing({"JoinSource": "Output"})
