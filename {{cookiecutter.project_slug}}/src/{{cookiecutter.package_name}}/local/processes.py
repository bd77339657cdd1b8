"""Whether a process still runs: how local mode tells a killed run's leftovers from a live run's."""

from __future__ import annotations

import os
from typing import Any


def alive(pid: int) -> bool:
    """True while process `pid` exists (also when it belongs to another user); 0 and below never do."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(record: dict[str, Any]) -> bool:
    """An execution record whose run goes on: Executing, and its process alive (a killed run's is gone)."""
    return record.get("status") == "Executing" and alive(int(record.get("pid") or 0))
