import numpy as np
import pytest

from {{ cookiecutter.package_name }}.components.explainability.shap_values import (
    Explainer,
    analysis_json,
    explain,
    global_importance,
    output_labels,
    per_row_frame,
)


@pytest.fixture(scope="module")
def rows(processed):
    _, _, validation = processed
    return validation.iloc[:150, 1:].to_numpy()


def test_shap_values_add_up_to_the_model_output(trained_model, rows):
    explanation = explain(trained_model, rows)
    estimator, prepared = trained_model.fitted, trained_model.prepared(rows)
    output = trained_model.estimator.explained_output(trained_model.schema.problem_type)
    if output == "value":
        raw = trained_model.values(rows)
    elif output == "probability":
        raw = trained_model.probabilities(rows)[:, [trained_model.schema.classes.index(k) for k in explanation.values]]
    elif hasattr(estimator, "decision_function"):
        raw = estimator.decision_function(prepared)
    else:  # a booster: its raw margin
        raw = estimator.predict(prepared, output_margin=True) if hasattr(estimator, "get_booster") else None
        raw = estimator.predict(prepared, raw_score=True) if raw is None else raw
    raw = np.asarray(raw).reshape(len(rows), -1)
    for i, label in enumerate(explanation.values):
        total = explanation.values[label].sum(axis=1) + explanation.expected_values[label]
        np.testing.assert_allclose(total, raw[:, i], rtol=1e-4, atol=1e-4)


def test_attributions_are_per_original_feature(trained_model, rows, processed):
    schema, _, _ = processed
    explanation = explain(trained_model, rows)
    assert explanation.feature_names == schema.feature_names
    assert all(values.shape == (len(rows), len(schema.features)) for values in explanation.values.values())


def test_analysis_json_has_clarify_shape(trained_model, rows):
    explanation = explain(trained_model, rows)
    analysis = analysis_json(
        global_importance(explanation), explanation.expected_values, len(rows), explanation.outputs,
        explanation.method, explanation.additivity_error,
    )  # fmt: skip
    kernel_shap = analysis["explanations"]["kernel_shap"]
    assert list(kernel_shap) == output_labels(trained_model)
    for label, entry in kernel_shap.items():
        values = entry["global_shap_values"]
        assert set(values) == set(trained_model.schema.feature_names)
        assert all(v >= 0 for v in values.values())
        assert list(values.values()) == sorted(values.values(), reverse=True)
        assert entry["method"].startswith(Explainer(trained_model).method)
        assert entry["explained_output"] == explanation.outputs[label]


def test_the_strongest_signal_ranks_high(trained_model, rows):
    explanation = explain(trained_model, rows)
    importance = next(iter(global_importance(explanation).values()))
    top = sorted(importance, key=importance.get, reverse=True)[:4]
    assert {"monthly_charges", "support_calls", "tenure_months", "contract"} & set(top)


def test_per_row_output_has_one_row_per_input(trained_model, rows):
    frame = per_row_frame(trained_model, explain(trained_model, rows), rows)
    assert len(frame) == len(rows)
    if trained_model.schema.classes is not None and len(trained_model.schema.classes) > 2:
        assert frame.columns[0] == "explained_label"
        assert set(frame["explained_label"]) <= set(trained_model.schema.classes)


def test_a_stop_ends_the_workers_at_once_and_no_chunk_they_hold_finishes(tmp_path, monkeypatch):
    """A stop while the pool explains: the workers end with the job, not after their chunks (which take
    minutes on a large ensemble, longer than SageMaker waits)."""
    import multiprocessing
    import os
    import signal
    import time

    from {{ cookiecutter.package_name }}.components.explainability import pool
    from {{ cookiecutter.package_name }}.container import JobStopped

    def long_chunk(_model, _explainer, _X):
        (tmp_path / f"started-{os.getpid()}").touch()
        time.sleep(20)
        (tmp_path / f"finished-{os.getpid()}").touch()
        os._exit(0)  # were the stop to wait for the chunks, it would end here, not hang

    def stop_once_both_workers_explain(_signum, _frame):
        if len(list(tmp_path.glob("started-*"))) == 2:
            signal.setitimer(signal.ITIMER_REAL, 0)
            raise JobStopped("stopped by signal SIGTERM before it finished")

    monkeypatch.setattr(pool, "explain_chunk", long_chunk)  # the workers are forked: they inherit it
    others = set(multiprocessing.active_children())
    previous = signal.signal(signal.SIGALRM, stop_once_both_workers_explain)
    try:
        with pytest.raises(JobStopped), pool.ChunkExplainer(None, None, workers=2) as chunks:
            signal.setitimer(signal.ITIMER_REAL, 0.1, 0.1)
            next(chunks.explain(np.zeros((1, 1)) for _ in range(8)))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert set(multiprocessing.active_children()) <= others, "a worker outlived the stopped job"
    assert not list(tmp_path.glob("finished-*")), "the stop waited for the chunks in flight"


def test_workers_that_have_not_started_yet_end_with_the_pool_under_the_jobs_stop_handler(tmp_path):
    """Every job runs under run_entrypoint's SIGTERM handler, which raises JobStopped; a worker forked a moment
    before the pool ends (its first chunk failed at once, say) still has that handler. The pool still ends it.

    In a process of its own, with its output in a file: a pool that waited forever would hang this test's
    process, and a worker that survived would hold a pipe open."""
    import subprocess
    import sys

    from .conftest import subprocess_env

    script = (
        "import multiprocessing, signal\n"
        "from {{ cookiecutter.package_name }}.components.explainability import pool\n"
        "from {{ cookiecutter.package_name }}.container import _stop\n"
        "signal.signal(signal.SIGTERM, _stop)\n"
        "for _ in range(10):\n"
        "    with pool.ChunkExplainer(None, None, workers=2):\n"
        "        pass  # ended at once, while the workers start\n"
        "assert not multiprocessing.active_children(), multiprocessing.active_children()\n"
        "print('every pool ended')\n"
    )
    log = tmp_path / "pools.log"
    with log.open("w") as output:
        process = subprocess.Popen([sys.executable, "-c", script], stdout=output, stderr=subprocess.STDOUT,
                                   env=subprocess_env(tmp_path))  # fmt: skip
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            code = "a hang"
    assert code == 0 and "every pool ended" in log.read_text(), (code, log.read_text()[-2000:])


@pytest.mark.parametrize(
    ("fault", "expected", "message"),
    [
        ("raise", ValueError, "a chunk the model refuses"),
        ("killed", RuntimeError, r"\(pid \d+\) was ended by SIGKILL \(the kernel's out-of-memory killer"),
    ],
)
def test_a_worker_that_fails_or_dies_fails_the_job_with_why(fault, expected, message, monkeypatch):
    """A worker's error reaches the parent as raised; a worker killed (the OOM killer's SIGKILL) is named."""
    import multiprocessing
    import os
    import signal

    from {{ cookiecutter.package_name }}.components.explainability import pool

    def failing_chunk(_model, _explainer, _X):
        if fault == "raise":
            raise ValueError("a chunk the model refuses")
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(pool, "explain_chunk", failing_chunk)
    others = set(multiprocessing.active_children())
    with pytest.raises(expected, match=message), pool.ChunkExplainer(None, None, workers=2) as chunks:
        list(chunks.explain(np.zeros((1, 1)) for _ in range(8)))
    assert set(multiprocessing.active_children()) <= others
