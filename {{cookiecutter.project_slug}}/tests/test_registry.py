"""One Parameter Store contract, run against the file store and SSM (moto)."""

import json
from concurrent.futures import ProcessPoolExecutor

import pytest
from moto import mock_aws

from {{ cookiecutter.package_name }}.registry.manifest import (
    APPROVED,
    MalformedManifest,
    ModelRegistry,
)
from {{ cookiecutter.package_name }}.registry.store import (
    MAX_VERSIONS,
    CorruptStore,
    FileParameterStore,
    ParameterLimitExceeded,
    ParameterNotFound,
    SsmParameterStore,
)

from .conftest import DIGESTS, aws_client

NAME = "/mlops/test/dev/model/manifest"


@pytest.fixture(params=["file", "ssm"])
def store(request, tmp_path):
    if request.param == "file":
        yield FileParameterStore(tmp_path / "ssm")
    else:
        with mock_aws():
            yield SsmParameterStore(aws_client("ssm", "eu-west-1"))


def manifest(run: int) -> dict:
    return {
        "run_id": f"run{run}",
        "pipeline_execution": f"arn:aws:sagemaker:eu-west-1:123456789012:pipeline/p/execution/{run}",
        "artifacts": {
            k: f"s3://bucket/runs/{run}/{k}" for k in ("model", "preprocessing", "baseline", "explainability")
        },
        "digests": DIGESTS,
        "metrics": {"auc": 0.8},
        "git_sha": "abc123",
        "template_version": "0.1.0",
    }


def test_every_put_is_a_new_version(store):
    assert [store.put(NAME, str(i)) for i in range(3)] == [1, 2, 3]
    assert store.get(NAME).value == "2"
    assert store.get(NAME, 1).value == "0"
    assert [v.version for v in store.history(NAME)] == [1, 2, 3]


def test_missing_parameter_and_version_are_not_found(store):
    with pytest.raises(ParameterNotFound):
        store.get(NAME)
    store.put(NAME, "x")
    with pytest.raises(ParameterNotFound):
        store.get(NAME, 7)
    with pytest.raises(ParameterNotFound):
        store.get(NAME, "approved")


def test_a_label_names_one_version_and_moves(store):
    for i in range(3):
        store.put(NAME, str(i))
    store.label(NAME, 1, ["approved"])
    assert store.get(NAME, "approved").version == 1
    store.label(NAME, 2, ["approved"])
    assert store.get(NAME, "approved").version == 2
    assert [v.labels for v in store.history(NAME)] == [[], ["approved"], []]


@pytest.mark.parametrize("label", ["1st", "aws-ok", "ssm", "has space", ""])
def test_invalid_labels_are_refused(store, label):
    store.put(NAME, "x")
    with pytest.raises(ValueError, match="label"):
        store.label(NAME, 1, [label])


def test_history_is_capped_and_drops_the_oldest_unlabelled_version(store):
    for i in range(MAX_VERSIONS + 1):
        store.put(NAME, str(i))
    versions = [v.version for v in store.history(NAME)]
    assert len(versions) == MAX_VERSIONS and versions[0] == 2 and versions[-1] == MAX_VERSIONS + 1


def test_a_labelled_version_is_never_dropped(store):
    for i in range(MAX_VERSIONS):
        store.put(NAME, str(i))
    store.label(NAME, 1, ["approved"])
    with pytest.raises(ParameterLimitExceeded):
        store.put(NAME, "one too many")
    assert store.get(NAME, "approved").value == "0"
    assert len(store.history(NAME)) == MAX_VERSIONS


def test_registry_serves_only_the_approved_version(store):
    registry = ModelRegistry(store, NAME)
    with pytest.raises(ParameterNotFound, match="run the training pipeline"):
        registry.for_inference()
    assert registry.register(manifest(1)) == 1
    assert registry.register(manifest(2)) == 2
    assert registry.champion() is None
    with pytest.raises(ParameterNotFound, match=r"No version of .* is promoted.*v1 \(candidate\), v2 \(candidate\)"):
        registry.for_inference()
    registry.promote(1)
    assert registry.for_inference().version == 1 == registry.champion().version
    assert registry.register(manifest(3)) == 3
    assert registry.for_inference().version == 1, "a new run must not displace the approved version"
    assert registry.get(version=1).labels == [APPROVED]


def test_promote_checks_the_version_before_the_label_moves(store):
    registry = ModelRegistry(store, NAME)
    registry.register(manifest(1))
    registry.promote(1)
    store.put(NAME, '{"run_id": "hand-written"}')  # version 2: not a manifest
    with pytest.raises(MalformedManifest, match="Version 2 of"):
        registry.promote(2)
    store.put(NAME, json.dumps({k: v for k, v in manifest(3).items() if k != "digests"}))  # from before pinning
    with pytest.raises(MalformedManifest, match="Version 3 records no digest of its artefacts"):
        registry.promote(3)
    with pytest.raises(ParameterNotFound):
        registry.promote(9)
    assert registry.for_inference().version == 1, "the label must stay where it was"
    assert store.get(NAME, APPROVED).version == 1


def test_a_manifest_too_long_for_parameter_store_keeps_its_lineage_as_counts(store):
    registry = ModelRegistry(store, NAME)
    runs = {f"2026120{i:013d}abcdef": 100 + i for i in range(60)}
    files = [f"2026/11/{d:02d}/{h:02d}/labels-{d:04d}{h:012d}.csv" for d in range(1, 15) for h in range(0, 24, 3)]
    lineage = {"base": {"uri": "s3://b/x/", "sha256": "0" * 64}, "runs": runs, "labels": {"files": files, "count": 112}}
    version = registry.register(manifest(1) | {"lineage": lineage})
    kept = registry.get(version=version).manifest["lineage"]
    assert kept == {"base": lineage["base"], "runs": runs, "labels": {"count": 112}, "shortened": True}
    many = {f"run-{i:04d}-{'x' * 20}": i for i in range(200)}
    version = registry.register(manifest(2) | {"lineage": lineage | {"runs": many}})
    kept = registry.get(version=version).manifest["lineage"]
    assert kept == {"base": lineage["base"], "run_count": 200, "labels": {"count": 112}, "shortened": True}
    small = registry.get(version=registry.register(manifest(3) | {"lineage": {"runs": {"r": 1}}}))
    assert small.manifest["lineage"] == {"runs": {"r": 1}}, "a manifest that fits is kept whole"


def test_incomplete_manifest_writes_nothing(store):
    registry = ModelRegistry(store, NAME)
    partial = manifest(1)
    del partial["artifacts"]["baseline"]
    with pytest.raises(ValueError, match=r"artifacts\.baseline"):
        registry.register(partial)
    assert registry.history() == []


def test_manifest_round_trips(store):
    registry = ModelRegistry(store, NAME)
    registry.register(manifest(5))
    assert registry.get(version=1).manifest == manifest(5)


def _write_versions(root: str, writer: int) -> list[int]:
    store = FileParameterStore(root)
    return [store.put(NAME, json.dumps([writer, i])) for i in range(10)]


def test_file_store_survives_concurrent_writers(tmp_path):
    with ProcessPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(_write_versions, [str(tmp_path)] * 4, range(4)))
    versions = sorted(v for result in results for v in result)
    assert versions == list(range(1, 41))
    values = [json.loads(v.value) for v in FileParameterStore(tmp_path).history(NAME)]
    assert sorted(map(tuple, values)) == [(w, i) for w in range(4) for i in range(10)]


@pytest.mark.parametrize(
    "content",
    ['{"versions": [', '{"versions": [{"version": "one", "value": "{}", "labels": []}]}', "[]", "\xff"],
    ids=["cut-short", "malformed-version", "not-an-object", "not-utf8"],
)
def test_a_corrupt_file_is_named_with_what_to_do(tmp_path, content):
    store = FileParameterStore(tmp_path)
    path = tmp_path / "mlops" / "model.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content.encode("latin-1"))
    for read in (lambda: store.get("/mlops/model"), store.check, lambda: store.put("/mlops/model", "{}")):
        with pytest.raises(CorruptStore, match=rf"{path} cannot be read.*move it aside"):
            read()
    assert path.read_bytes() == content.encode("latin-1"), "a failed write must leave the file as it was"
