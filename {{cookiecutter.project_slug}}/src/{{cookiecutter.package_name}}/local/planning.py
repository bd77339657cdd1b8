"""What an execution runs: its parameters, and the steps a retry or a selective run reuses."""

from __future__ import annotations

from typing import Any

from ..pipelines.graph import ancestors, check_selection, step_graph
from .executions import ExecutionNotFound

Reused = dict[str, tuple[dict[str, Any], str]]  # step name -> (its properties, the execution it ran in)


def resolve_parameters(definition: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Parameter values: given ones (checked against the declared names and types), else defaults."""
    declared = {p["Name"]: p for p in definition.get("Parameters", [])}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValueError(f"Unknown pipeline parameter(s) {unknown}; the pipeline declares {sorted(declared)}.")
    values: dict[str, Any] = {}
    casts = {"String": str, "Integer": int, "Float": float, "Boolean": lambda v: str(v).lower() == "true"}
    for name, spec in declared.items():
        if name in given:
            values[name] = casts[spec["Type"]](given[name])
        elif "DefaultValue" in spec:
            values[name] = spec["DefaultValue"]
        else:
            raise ValueError(f"Pipeline parameter {name!r} has no default; pass a value for it.")
    return values


def reusable(record: dict[str, Any], names: set[str], steps: list[dict[str, Any]], own: bool = False) -> Reused:
    """Of `names` (and the steps nested in them), those that succeeded in `record`, with their properties.

    `own`: for a retry of that same execution, where a step reused by a selective run stays reused.
    """
    succeeded = {s["name"] for s in record["steps"] if s["status"] == "Succeeded"}
    nested = {
        child["Name"]
        for step in steps
        if step["Type"] == "Condition" and step["Name"] in names
        for child in step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"]
    }
    sources = {s["name"]: s.get("reused_from") or record["arn"] for s in record["steps"]} if own else {}
    return {
        name: (record["properties"][name], sources.get(name, record["arn"]))
        for name in (names | nested) & succeeded
        if name in record["properties"]
    }


def plan_selective(definition: dict[str, Any], source: dict[str, Any], selected: list[str]) -> tuple[set[str], Reused]:
    """A selective execution (SelectiveExecutionConfig): the steps it touches, and those it reuses from `source`.

    The chosen steps run; the steps they depend on reuse the reference's outputs, which must
    have succeeded there.
    """
    graph = step_graph({s["Name"]: s for s in definition["Steps"]})
    chosen = check_selection(graph, selected)
    needed = ancestors(graph, chosen) - chosen
    reused = reusable(source, needed, definition["Steps"])
    missing = sorted(needed - set(reused))
    if missing:
        raise ExecutionNotFound(
            f"Steps {missing} did not succeed in the reference execution {source['execution_id']}, and the "
            "selected steps need their outputs: select them too, or reference another execution."
        )
    return chosen | needed, reused


def plan_retry(
    record: dict[str, Any], definition: dict[str, Any], selected: list[str] | None
) -> tuple[set[str] | None, Reused]:
    """A retry of the execution `record` holds: the steps it touches (None: all), and the succeeded ones it keeps."""
    everything = {s["Name"] for s in definition["Steps"]}
    reused = reusable(record, everything, definition["Steps"], own=True)
    if not selected:
        return None, reused
    graph = step_graph({s["Name"]: s for s in definition["Steps"]})
    return set(selected) | ancestors(graph, set(selected)), reused
