"""The step graph of a pipeline definition, and running it in dependency order.

A step depends on its DependsOn and on every step whose properties its expressions read.
Ready steps start as soon as their dependencies are done, at most `max_parallel` at once
(the definition's MaxParallelExecutionSteps); after the first failure nothing new starts and
the steps under way finish. A selective execution runs only chosen steps (`check_selection`
holds them to SelectiveExecutionConfig's rule); the steps they need are reused instead.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from .expressions import referenced_steps

SUPPORTED = ("Processing", "Training", "Tuning", "Model", "Transform", "Condition", "Lambda", "Fail")


class UnsupportedStep(ValueError):
    """The definition holds a step type local mode cannot run."""


def check_supported(steps: list[dict[str, Any]]) -> None:
    for step in steps:
        if step["Type"] not in SUPPORTED:
            raise UnsupportedStep(
                f"Step {step['Name']!r} has type {step['Type']!r}, which local mode cannot run "
                f"(supported: {', '.join(SUPPORTED)})."
            )
        if step["Type"] == "Condition":
            check_supported(step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"])


def dependencies_of(step: dict[str, Any]) -> set[str]:
    """Explicit DependsOn plus every step whose properties the step's expressions read."""
    found = set(step.get("DependsOn", []))
    if step["Type"] == "Condition":
        found |= referenced_steps(step["Arguments"]["Conditions"])
        nested = step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"]
        inner = {s["Name"] for s in nested}
        for child in nested:
            found |= dependencies_of(child) - inner
        return found
    return found | referenced_steps(step.get("Arguments", {}))


def step_graph(steps: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    """Each top-level step's dependencies; a reference to a step that is not in the definition is an error."""
    unknown = {name: sorted(dependencies_of(step) - set(steps)) for name, step in steps.items()}
    unknown = {k: v for k, v in unknown.items() if v}
    if unknown:
        raise UnsupportedStep(f"Steps refer to steps that are not in the definition: {unknown}")
    return {name: dependencies_of(step) for name, step in steps.items()}


def ancestors(graph: dict[str, set[str]], names: set[str]) -> set[str]:
    """Every step that `names` depend on, directly or not (not `names` themselves, unless on a cycle)."""
    found: set[str] = set()
    todo = [d for n in names for d in graph[n]]
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(graph[name])
    return found


def check_selection(graph: dict[str, set[str]], selected: list[str]) -> set[str]:
    """SelectiveExecutionConfig's rule: known steps, and every step on a path between two chosen ones chosen too."""
    if not selected:
        raise ValueError("Select at least one step to run.")
    unknown = sorted(set(selected) - set(graph))
    if unknown:
        raise ValueError(f"Unknown step(s) {unknown}; the pipeline's steps are {sorted(graph)}.")
    chosen = set(selected)
    above = {name: ancestors(graph, {name}) for name in graph}
    missing = sorted(
        step
        for step in graph
        if step not in chosen
        and any(a in above[step] for a in chosen)  # below a chosen step ...
        and any(step in above[b] for b in chosen)  # ... and above one
    )
    if missing:
        raise ValueError(
            f"Selected steps must be connected: {missing} lie on a path between selected steps, select them too."
        )
    return chosen


def run_graph(
    names: set[str],
    graph: dict[str, set[str]],
    start: Callable[[str], None],
    max_parallel: int,
    failed: Callable[[], bool],
    done: set[str] | None = None,
) -> set[str]:
    """Run `start(name)` for every step in `names` once its dependencies are done; return the steps that ran.

    Dependencies outside `names` count as done (their outputs are reused); `done` names others.
    After `failed()` turns true, no step starts; those under way finish.
    """
    finished: set[str] = set(done or ()) | (set().union(*graph.values()) - names if graph else set())
    ran: set[str] = set()
    running: dict[Future, str] = {}
    with ThreadPoolExecutor(max_workers=max_parallel) as pool:
        while len(ran) < len(names):
            if not failed():
                started = set(running.values())
                for name in sorted(names - ran - started, key=list(graph).index):
                    if graph[name] <= finished:
                        running[pool.submit(start, name)] = name
            if not running:
                break
            completed, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in completed:
                name = running.pop(future)
                ran.add(name)
                finished.add(name)
                future.result()
    return ran
