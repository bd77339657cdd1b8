"""The step graph of a pipeline definition: which step reads which, and SelectiveExecutionConfig's rule.

A step depends on its DependsOn and on every step whose properties its expressions read. The
local executor runs steps in this order (local/scheduling.py), and a selective execution on
AWS is checked against it before it starts (executions.py).
"""

from __future__ import annotations

import re
from typing import Any

STEP_PROPERTY = re.compile(r"Steps\.(\w+)")  # a Get of a step's property: Steps.<name>.<property path>


class UnsupportedStep(ValueError):
    """The definition holds a step that cannot run: a type local mode lacks, or a reference to no step."""


def referenced_steps(value: Any) -> set[str]:
    """Names of the steps an expression reads from (its data dependencies)."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= referenced_steps(v)
    elif isinstance(value, dict):
        step = STEP_PROPERTY.match(value["Get"]) if set(value) == {"Get"} and isinstance(value["Get"], str) else None
        if step:
            found.add(step.group(1))
        else:
            for v in value.values():
                found |= referenced_steps(v)
    return found


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
