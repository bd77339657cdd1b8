"""Running a pipeline definition's step graph (pipelines/graph.py) in dependency order.

Ready steps start as soon as their dependencies are done, at most `max_parallel` at once
(the definition's MaxParallelExecutionSteps); after the first failure nothing new starts and
the steps under way finish. A selective execution runs only chosen steps (`check_selection`
holds them to SelectiveExecutionConfig's rule); the steps they need are reused instead.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from ..pipelines.graph import UnsupportedStep

SUPPORTED = ("Processing", "Training", "Tuning", "Model", "Transform", "Condition", "Lambda", "Fail")


def check_supported(steps: list[dict[str, Any]]) -> None:
    for step in steps:
        if step["Type"] not in SUPPORTED:
            raise UnsupportedStep(
                f"Step {step['Name']!r} has type {step['Type']!r}, which local mode cannot run "
                f"(supported: {', '.join(SUPPORTED)})."
            )
        if step["Type"] == "Condition":
            check_supported(step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"])


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
