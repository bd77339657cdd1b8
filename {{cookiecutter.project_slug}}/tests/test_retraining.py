"""Retraining data: labelled production rows rebuilt by inference id, and the set they grow (processing assemble)."""

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.components.processing import (
    retraining,
)
from {{ cookiecutter.package_name }}.components.processing.__main__ import (
    assemble,
    snapshot,
)
from {{ cookiecutter.package_name }}.container import (
    ComponentError,
    content_digest,
    file_sha256,
)
from {{ cookiecutter.package_name }}.ground_truth import (
    landed_labels,
)

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
WINDOW = timedelta(days=-7)
DAY = timedelta(days=1)


def kept(run_id: str, scored_at: datetime, ids: list[str], sizes: list[str] | None = None) -> retraining.KeptBatch:
    """A kept input: inference ids and one raw feature, as text."""
    sizes = sizes or [str(i) for i in range(len(ids))]
    rows = pd.DataFrame({"inference_id": ids, "size": sizes}, dtype="string")
    return retraining.KeptBatch(run_id, scored_at, rows)


def labels(*rows: tuple[str, str | None, datetime]) -> pd.DataFrame:
    """Landed labels: (inference id, label, arrival hour), each from a file named by its hour."""
    return pd.DataFrame(
        {
            "inference_id": pd.Series([r[0] for r in rows], dtype="string"),
            "churn": pd.Series([r[1] for r in rows], dtype="string"),
            "arrived_at": pd.Series([pd.Timestamp(r[2]) for r in rows], dtype="datetime64[ns, UTC]"),
            "label_file": pd.Series([f"{r[2]:%Y/%m/%d/%H}/labels.csv" for r in rows], dtype="string"),
        }
    )


def independent_rebuild(runs, landed, now, window):
    """The same join, written as plainly as possible: the latest label by `now`, on the row it belongs to."""
    latest = {}
    for row in sorted(landed.itertuples(), key=lambda r: r.arrived_at):
        if row.arrived_at <= now and not pd.isna(row.churn):
            latest[row.inference_id] = (row.churn, row.arrived_at)
    chosen = {}
    for run in runs:
        if not now + window <= run.scored_at < now:
            continue
        for record in run.rows.itertuples():
            if record.inference_id not in latest:
                continue
            label, arrived = latest[record.inference_id]
            before = run.scored_at <= arrived + timedelta(hours=1)
            rank = (before, run.scored_at)
            if record.inference_id not in chosen or rank >= chosen[record.inference_id][0]:
                chosen[record.inference_id] = (rank, run.run_id, record.size, label)
    return sorted((ident, run, size, label) for ident, (_, run, size, label) in chosen.items())


def test_the_join_takes_the_latest_label_and_leaves_out_late_unknown_and_empty_ones():
    runs = [
        kept("a", NOW - 3 * DAY, ["a1", "a2", "a3", "a4"]),
        kept("b", NOW - 2 * DAY, ["b1", "b2"]),
        kept("old", NOW - 9 * DAY, ["o1"]),  # before the window
    ]
    landed = labels(
        ("a1", "yes", NOW - 2 * DAY),
        ("a1", "no", NOW - DAY),  # a correction: the latest wins
        ("a2", None, NOW - DAY),  # empty: counted, left out
        ("a3", "yes", NOW + timedelta(hours=2)),  # lands after the retrain started: not yet
        ("b2", "yes", NOW - DAY),
        ("zz", "no", NOW - DAY),  # never scored
        ("o1", "yes", NOW - DAY),  # scored before the window
    )
    joined, report = retraining.labelled_rows(runs, landed, "churn", NOW, WINDOW)
    columns = ["inference_id", retraining.RUN_COLUMN, "size", "churn"]
    found = sorted(map(tuple, joined[columns].to_numpy().tolist()))
    assert found == independent_rebuild(runs, landed, NOW, WINDOW)
    assert found == [("a1", "a", "0", "no"), ("b2", "b", "1", "yes")]
    assert report == {
        "runs_in_window": 2, "rows_in_window": 6, "labelled": 2, "labels_for_unknown_ids": 2,
        "duplicate_labels": 1, "empty_labels": 1,
    }  # fmt: skip
    assert set(joined["label_file"]) == {f"{NOW - DAY:%Y/%m/%d/%H}/labels.csv"}


def test_an_id_scored_twice_takes_its_label_on_the_row_scored_last_before_it_arrived():
    """With data.id_columns one customer can be scored by two runs: the label follows the features it followed."""
    runs = [
        kept("first", NOW - 4 * DAY, ["c7"], ["10"]),
        kept("second", NOW - 2 * DAY, ["c7"], ["20"]),
        kept("third", NOW - timedelta(hours=3), ["c7"], ["30"]),  # scored after the label arrived
    ]
    landed = labels(("c7", "yes", NOW - DAY))
    joined, _ = retraining.labelled_rows(runs, landed, "churn", NOW, WINDOW)
    assert joined[["size", retraining.RUN_COLUMN]].values.tolist() == [["20", "second"]]
    assert sorted(independent_rebuild(runs, landed, NOW, WINDOW))[0][1:3] == ("second", "20")


def _labelled(runs, landed):
    joined, _ = retraining.labelled_rows(runs, landed, "churn", NOW, WINDOW)
    return joined


def test_the_newest_new_rows_are_held_out_and_never_a_row_the_champion_trained_on():
    a_ids, b_ids = [f"a{i}" for i in range(1, 7)], [f"b{i}" for i in range(1, 11)]
    runs = [kept("a", NOW - 3 * DAY, a_ids), kept("b", NOW - 2 * DAY, b_ids)]
    landed = labels(*((i, "yes", NOW - DAY) for i in a_ids + b_ids))
    a_file = retraining.production_file("a", NOW - 3 * DAY)
    base = [
        retraining.Source("base/train.csv", retraining.UPLOAD, 100),
        retraining.Source(a_file, retraining.PRODUCTION, 4, "a", (NOW - 3 * DAY).isoformat()),
    ]
    trained = {("a", f"a{i}") for i in range(1, 5)}  # the champion's set held a1-a4
    policy = retraining.Policy(WINDOW, "keep", 10_000, 0.25)
    plan = retraining.plan(base, trained, _labelled(runs, landed), policy, NOW)
    assert plan.report["new_rows"] == 12 and plan.report["relabelled_rows"] == 4
    assert plan.holdout["inference_id"].tolist() == ["b8", "b9", "b10"], "the newest new rows, in their order"
    assert plan.written[a_file]["inference_id"].tolist() == a_ids, "run a rebuilt whole from the latest labels"
    b_file = retraining.production_file("b", NOW - 2 * DAY)
    assert plan.written[b_file]["inference_id"].tolist() == b_ids[:7]
    assert plan.carried == ["base/train.csv"] and not plan.unchanged
    assert [s.file for s in plan.sources] == ["base/train.csv", a_file, b_file]
    assert plan.lineage()["rows"] == 100 + 6 + 7
    assert list(plan.written[b_file].columns) == ["inference_id", "size", "churn"]


def test_nothing_labelled_leaves_the_base_as_it_was():
    base = [retraining.Source("base/train.csv", retraining.UPLOAD, 100)]
    plan = retraining.plan(base, set(), _labelled([], labels()), retraining.Policy(WINDOW), NOW)
    assert plan.unchanged and plan.carried == ["base/train.csv"] and len(plan.holdout) == 0


def test_age_out_keeps_only_the_windows_rows():
    ids = [f"n{i}" for i in range(10)]
    runs = [kept("new", NOW - DAY, ids)]
    old = retraining.production_file("old", NOW - 20 * DAY)
    base = [
        retraining.Source("base/train.csv", retraining.UPLOAD, 100),
        retraining.Source(old, retraining.PRODUCTION, 50, "old", (NOW - 20 * DAY).isoformat()),
    ]
    landed = labels(*((i, "no", NOW - timedelta(hours=5)) for i in ids))
    plan = retraining.plan(base, set(), _labelled(runs, landed), retraining.Policy(WINDOW, "age_out", 10_000, 0.2), NOW)
    assert [s.kind for s in plan.sources] == [retraining.PRODUCTION] and plan.report["rows"] == 8
    assert plan.report["dropped_files"] == 2
    kept_policy = retraining.plan(base, set(), _labelled(runs, landed), retraining.Policy(WINDOW, "keep"), NOW)
    assert kept_policy.report["rows"] == 100 + 50 + 8


def test_a_set_left_with_no_rows_is_refused_with_what_to_do():
    base = [retraining.Source("base/train.csv", retraining.UPLOAD, 100)]
    labelled = _labelled([kept("new", NOW - DAY, ["x1"])], labels(("x1", "yes", NOW - DAY)))
    every_row_held_out = retraining.Policy(WINDOW, "age_out", 1000, 1.0)
    with pytest.raises(ValueError, match=r"would hold no rows: base_rows age_out .* 0 labelled row\(s\)"):
        retraining.plan(base, set(), labelled, every_row_held_out, NOW)


def test_with_nothing_labelled_neither_age_out_nor_the_cap_touches_the_base():
    """A training run on given data (or a retrain that found nothing labelled) learns exactly the data it was given."""
    base = [retraining.Source("base/train.csv", retraining.UPLOAD, 100)]
    plan = retraining.plan(base, set(), _labelled([], labels()), retraining.Policy(WINDOW, "age_out", 60, 0.2), NOW)
    assert plan.unchanged and plan.report["rows"] == 100


def test_the_cap_drops_the_oldest_rows_first():
    ids = [f"n{i}" for i in range(10)]
    runs = [kept("new", NOW - DAY, ids)]
    old = retraining.production_file("old", NOW - 20 * DAY)
    older = retraining.production_file("older", NOW - 30 * DAY)
    base = [
        retraining.Source("base/train.csv", retraining.UPLOAD, 100),
        retraining.Source(old, retraining.PRODUCTION, 50, "old", (NOW - 20 * DAY).isoformat()),
        retraining.Source(older, retraining.PRODUCTION, 40, "older", (NOW - 30 * DAY).isoformat()),
    ]
    landed = labels(*((i, "no", NOW - timedelta(hours=5)) for i in ids))
    trimmed = retraining.plan(base, set(), _labelled(runs, landed), retraining.Policy(WINDOW, "keep", 150, 0.2), NOW)
    assert trimmed.trimmed == {"base/train.csv": 52}, "the upload is oldest: it keeps only its last rows"
    assert trimmed.report["rows"] == 150
    dropped = retraining.plan(base, set(), _labelled(runs, landed), retraining.Policy(WINDOW, "keep", 60, 0.2), NOW)
    assert [s.file for s in dropped.sources] == [old, retraining.production_file("new", NOW - DAY)]
    assert dropped.report["dropped_files"] == 2 and dropped.report["rows"] == 58


# --- the entrypoint: processing assemble and snapshot, on files -----------------------------------


def _write_job(root: Path, sample: pd.DataFrame, target: str, runs: int = 2, per_run: int = 40) -> dict:
    """A retrain's inputs: the base upload, kept inputs of `runs` runs and one labels file for them."""
    inputs = root / "processing" / "input"
    base = inputs / "base"
    base.mkdir(parents=True)
    sample.iloc[:300].to_csv(base / "train.csv", index=False)
    rows, truth = [], []
    for number in range(runs):
        run_id = f"2026112{number}060000abcdef"
        folder = inputs / "inputs" / run_id
        folder.mkdir(parents=True)
        batch = sample.iloc[300 + number * per_run : 300 + (number + 1) * per_run]
        ids = [f"{run_id}:batch.csv:{i + 1}" for i in range(len(batch))]
        batch.drop(columns=[target]).assign(inference_id=ids)[
            ["inference_id", *[c for c in batch.columns if c != target]]
        ].to_csv(folder / "batch.csv", index=False)
        record = {"run_id": run_id, "scored_at": f"2026-11-2{number}T06:00:00+00:00", "rows": len(batch)}
        (folder / "run-algo-1.json").write_text(json.dumps(record))
        rows += ids
        truth += batch[target].astype(str).tolist()
    (inputs / "inputs").mkdir(parents=True, exist_ok=True)
    (inputs / "inputs" / ".keep").write_text("")  # the marker deployment puts in an empty prefix
    landing = inputs / "labels" / "2026" / "11" / "23" / "08"
    landing.mkdir(parents=True)
    pd.DataFrame({"inference_id": rows, target: truth}).to_csv(landing / "labels-1.csv", index=False)
    return {"base": base / "train.csv", "ids": rows}


def _run(mode, monkeypatch, root, **environment):
    monkeypatch.setenv("OPT_ML_ROOT", str(root))
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    {"assemble": assemble, "snapshot": snapshot}[mode]()


def test_assemble_writes_the_set_its_holdout_and_its_lineage(tmp_path, monkeypatch, sample, target):
    root = tmp_path / "opt_ml"
    job = _write_job(root, sample, target)
    environment = {"ASSEMBLED_AT": "2026-11-24T06:00:00+00:00", "RETRAINING_WINDOW": "-P30D", "BASE_ROWS": "keep"}
    _run("assemble", monkeypatch, root, INPUT_DATA=f"s3://b/data/train/sha256={'c' * 64}/", **environment)
    out = root / "processing" / "output"
    the_set = out / "set"
    files = sorted(p.relative_to(the_set).as_posix() for p in the_set.rglob("*") if p.is_file())
    assert files == [
        "base/train.csv",
        "lineage.json",
        "production/20261120T060000Z-20261120060000abcdef.csv",
        "production/20261121T060000Z-20261121060000abcdef.csv",
    ]
    assert (the_set / "base" / "train.csv").read_bytes() == job["base"].read_bytes()
    holdout = pd.read_csv(out / "holdout" / "holdout.csv")
    assert len(holdout) == 16 and holdout["inference_id"].tolist() == job["ids"][-16:]
    dataset = json.loads((out / "dataset" / "dataset.json").read_text())
    listing = sorted(p for p in the_set.rglob("*") if p.is_file())
    assert dataset["sha256"] == content_digest(listing, [p.relative_to(the_set).as_posix() for p in listing])
    assert dataset["new_rows"] == 80 and dataset["holdout_rows"] == 16 and dataset["rows"] == 300 + 64
    lineage = json.loads(dataset["lineage"])
    assert lineage["base"] == {"uri": f"s3://b/data/train/sha256={'c' * 64}/", "sha256": "c" * 64}
    assert lineage["runs"] == {"20261120060000abcdef": 40, "20261121060000abcdef": 24}
    assert lineage["holdout"] == {"rows": 16, "runs": {"20261121060000abcdef": 16}}
    assert lineage["labels"]["files"] == ["2026/11/23/08/labels-1.csv"]


def test_with_nothing_to_add_the_set_is_the_base_itself(tmp_path, monkeypatch, sample, target, capsys):
    root = tmp_path / "opt_ml"
    job = _write_job(root, sample, target, runs=0)
    _run("assemble", monkeypatch, root, ASSEMBLED_AT="2026-11-24T06:00:00+00:00")
    said = capsys.readouterr().out
    assert "processing assemble: the base's rows (the base unchanged; 0 held out)" in said, said
    out = root / "processing" / "output"
    assert [p.name for p in (out / "set").iterdir()] == ["train.csv"]
    dataset = json.loads((out / "dataset" / "dataset.json").read_text())
    assert dataset["unchanged"] is True and dataset["lineage"] == ""
    assert dataset["sha256"] == file_sha256(job["base"]), "the same snapshot as the upload's"


def test_a_base_already_under_its_digest_is_not_copied_again(tmp_path, monkeypatch, sample, target):
    """A training run on a `data snapshot` (or `local train`): the set is the base where it lies, nothing is copied."""
    root = tmp_path / "opt_ml"
    job = _write_job(root, sample, target, runs=0)
    digest = file_sha256(job["base"])
    uri = f"s3://b/data/train/sha256={digest}/"
    elsewhere = root.parent / "elsewhere"
    shutil.copytree(root, elsewhere)
    _run("assemble", monkeypatch, elsewhere, INPUT_DATA=uri, SNAPSHOT_PREFIX="s3://other/data/train/")
    assert (elsewhere / "processing" / "output" / "set" / "train.csv").is_file(), "a base elsewhere is copied"
    _run("assemble", monkeypatch, root, INPUT_DATA=uri, SNAPSHOT_PREFIX="s3://b/data/train/")
    out = root / "processing" / "output"
    assert [p.name for p in (out / "set").iterdir()] == [".unchanged"]
    assert json.loads((out / "dataset" / "dataset.json").read_text())["sha256"] == digest
    snapshot_root = tmp_path / "snapshot"
    (snapshot_root / "processing" / "input").mkdir(parents=True)
    (out / "set").rename(snapshot_root / "processing" / "input" / "set")
    _run("snapshot", monkeypatch, snapshot_root, SNAPSHOT_URI=uri)
    assert list((snapshot_root / "processing" / "output" / "snapshot").iterdir()) == [], "nothing to upload"
    with pytest.raises(ComponentError, match="the base of another digest"):
        _run("snapshot", monkeypatch, snapshot_root, SNAPSHOT_URI=f"s3://b/data/train/sha256={'e' * 64}/")


def test_the_snapshot_publishes_only_a_set_that_is_what_its_name_says(tmp_path, monkeypatch, sample, target):
    root = tmp_path / "opt_ml"
    source = root / "processing" / "input" / "set"
    source.mkdir(parents=True)
    sample.iloc[:50].to_csv(source / "train.csv", index=False)
    digest = file_sha256(source / "train.csv")
    with pytest.raises(ComponentError, match=f"has sha256 {digest}, not the {'0' * 64}"):
        _run("snapshot", monkeypatch, root, SNAPSHOT_URI=f"s3://b/data/train/sha256={'0' * 64}/")
    assert not (root / "processing" / "output" / "snapshot").exists(), "nothing is written under a wrong name"
    _run("snapshot", monkeypatch, root, SNAPSHOT_URI=f"s3://b/data/train/sha256={digest}/")
    published = root / "processing" / "output" / "snapshot" / "train.csv"
    assert published.read_bytes() == (source / "train.csv").read_bytes()


def test_a_window_that_does_not_reach_back_is_refused(tmp_path, monkeypatch, sample, target):
    root = tmp_path / "opt_ml"
    _write_job(root, sample, target, runs=1)
    with pytest.raises(ComponentError, match=r"RETRAINING_WINDOW='P3D' must reach back in time"):
        _run("assemble", monkeypatch, root, RETRAINING_WINDOW="P3D")


def test_landed_labels_name_their_files(tmp_path):
    folder = tmp_path / "2026" / "11" / "24" / "06"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("inference_id,churn\nx,yes\n")
    (tmp_path / ".keep").write_text("")
    frame = landed_labels(tmp_path, "churn", "binary_classification")
    assert frame["label_file"].tolist() == ["2026/11/24/06/a.csv"]
