"""The benchmark harness measures the job, not itself."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
ABSOLUTE_PATH = re.compile(r"(^|[\s'\"(=])/(work|tmp|root|home|Users|usr|opt|var|mnt|srv)/")

# A parent holding 500 MB measures two children: `python -c pass`, through the harness's
# launcher and naively through its own wait4, and a child that itself peaks at about 200 MB.
PROBE = """
import json, os, subprocess, sys
sys.path.insert(0, {benchmarks!r})
import run

ballast = bytearray(500 * 2**20)
for i in range(0, len(ballast), 4096):
    ballast[i] = 1
idle = [sys.executable, "-c", "pass"]
naive = subprocess.Popen(idle)
_, _, usage = os.wait4(naive.pid, 0)
big = [sys.executable, "-c", "b = bytearray(200 * 2**20); [b.__setitem__(i, 1) for i in range(0, len(b), 4096)]"]
print(json.dumps({{
    "naive_mb": usage.ru_maxrss / 1024,
    "idle": run.measure(idle).__dict__,
    "big": run.measure(big).__dict__,
}}))
"""


def test_a_500_mb_parent_does_not_leak_into_a_childs_peak_memory():
    probe = PROBE.format(benchmarks=str(BENCHMARKS))
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["naive_mb"] >= 500, "the leak this harness avoids should show in a naive wait4"
    assert figures["idle"]["peak_mb"] < 60, figures["idle"]
    assert figures["idle"]["floor_mb"] < 30, figures["idle"]
    assert 200 <= figures["big"]["peak_mb"] < 300, figures["big"]


def _strings(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def test_published_results_hold_no_path_of_the_machine_they_ran_on():
    results = json.loads((BENCHMARKS / "results.json").read_text("utf-8"))
    paths = [s for s in _strings(results) if ABSOLUTE_PATH.search(s)]
    assert paths == []
    assert {"cpu", "cores", "memory_gb", "python", "packages"} <= set(results["machine"])
