"""Lambda handlers. The deployed Lambdas and the local executor call these same functions."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

FUNCTIONS = ("register", "retrain", "alert", "launcher", "approval")


def available() -> list[str]:
    """The handlers this repository has (a bake with drift_action: alert has no retrain)."""
    here = Path(__file__).parent
    return [name for name in FUNCTIONS if (here / f"{name}.py").is_file()]


def handler_for(name: str) -> Callable[..., dict[str, Any]] | None:
    """The `handler` function of lambdas/<name>.py, or None if there is no such handler."""
    if name not in available():
        return None
    return importlib.import_module(f"{__name__}.{name}").handler
