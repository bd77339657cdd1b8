"""Scheduling: the step graph, dependency order, parallelism, and SelectiveExecutionConfig's rule."""

import threading
import time

import pytest

from {{ cookiecutter.package_name }}.local.scheduling import (
    run_graph,
)
from {{ cookiecutter.package_name }}.pipelines import names
from {{ cookiecutter.package_name }}.pipelines.graph import (
    UnsupportedStep,
    ancestors,
    check_selection,
    dependencies_of,
    referenced_steps,
    step_graph,
)

# Processing -> Training -> (MonitoringBaseline || Explainability) -> Register, as the training pipeline.
TRAINING = {
    "Processing": set(),
    "Training": {"Processing"},
    names.MONITORING_BASELINE: {"Training"},
    names.EXPLAINABILITY: {"Training", "Processing"},
    names.REGISTER: {names.MONITORING_BASELINE, names.EXPLAINABILITY, "Processing"},
}


def test_dependencies_come_from_depends_on_and_expressions():
    step = {
        "Name": "C",
        "Type": "Processing",
        "DependsOn": ["A"],
        "Arguments": {"X": {"Get": "Steps.B.ProcessingJobName"}, "Y": {"Get": "Parameters.P"}},
    }
    assert dependencies_of(step) == {"A", "B"}
    assert referenced_steps({"Std:Join": {"On": "", "Values": [{"Get": "Steps.D.X"}]}}) == {"D"}


def test_condition_dependencies_include_its_branches_inputs():
    step = {
        "Name": "Check",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [{"Type": "Equals", "LeftValue": {"Get": "Steps.M.X"}, "RightValue": 1}],
            "IfSteps": [{"Name": "L", "Type": "Lambda", "Arguments": {"a": {"Get": "Steps.E.Y"}}}],
            "ElseSteps": [],
        },
    }
    assert dependencies_of(step) == {"M", "E"}


def test_a_reference_to_a_missing_step_is_refused():
    steps = {"A": {"Name": "A", "Type": "Lambda", "Arguments": {"x": {"Get": "Steps.Gone.OutputParameters"}}}}
    with pytest.raises(UnsupportedStep, match="Gone"):
        step_graph(steps)


def test_ancestors_are_every_step_above():
    assert ancestors(TRAINING, {names.EXPLAINABILITY}) == {"Training", "Processing"}
    assert ancestors(TRAINING, {"Processing"}) == set()


def test_a_selection_must_hold_every_step_between_two_selected_ones():
    assert check_selection(TRAINING, ["Training", names.EXPLAINABILITY]) == {"Training", names.EXPLAINABILITY}
    assert check_selection(TRAINING, [names.MONITORING_BASELINE, names.EXPLAINABILITY])  # siblings: no path between
    with pytest.raises(ValueError, match=r"\['Explainability', 'MonitoringBaseline', 'Training'\] lie on a path"):
        check_selection(TRAINING, ["Processing", names.REGISTER])
    with pytest.raises(ValueError, match=r"\['Training'\] lie on a path"):
        check_selection(TRAINING, ["Processing", names.EXPLAINABILITY])
    with pytest.raises(ValueError, match="Unknown step"):
        check_selection(TRAINING, ["Trainng"])
    with pytest.raises(ValueError, match="at least one"):
        check_selection(TRAINING, [])


def test_steps_start_in_dependency_order_at_most_max_parallel_at_once():
    order, running, most = [], [0], [0]
    lock = threading.Lock()

    def start(name):
        with lock:
            order.append(name)
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    assert run_graph(set(TRAINING), TRAINING, start, 2, failed=lambda: False) == set(TRAINING)
    position = {name: i for i, name in enumerate(order)}
    assert all(position[d] < position[n] for n, deps in TRAINING.items() for d in deps)
    assert most[0] == 2  # the two independent steps ran together


def test_after_a_failure_nothing_new_starts():
    ran = []
    broken = threading.Event()

    def start(name):
        ran.append(name)
        if name == "Training":
            broken.set()

    run_graph(set(TRAINING), TRAINING, start, 2, failed=broken.is_set)
    assert ran == ["Processing", "Training"]


def test_only_the_named_steps_run_and_dependencies_outside_them_count_as_done():
    ran = []
    run_graph({names.EXPLAINABILITY, names.REGISTER}, TRAINING, ran.append, 1, failed=lambda: False)
    assert ran == [names.EXPLAINABILITY, names.REGISTER]  # Processing, Training, MonitoringBaseline: reused, not run
