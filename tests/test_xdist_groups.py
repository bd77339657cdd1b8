"""The test runs lean on pytest-xdist's --dist loadgroup: a dataset's story, or a bake's fixture, on one worker.

pytest 9.2 derives node ids anew, and pytest-xdist 3.8 then groups nothing: every worker set each
module fixture up again (each dataset's story ran twice). The generated lock pins pytest below 9.2;
this checks that grouping works with the pins it ships.
"""

from __future__ import annotations

import os
import subprocess
import sys

GROUPED = """
import os, pytest

@pytest.fixture(scope="module", params=[pytest.param(c, marks=pytest.mark.xdist_group(c)) for c in "ab"])
def case(request):
    return request.param

@pytest.mark.parametrize("i", range(6))
def test_x(case, i):
    open(os.path.join(os.environ["RUNS"], f"{case}-{i}-{os.getpid()}"), "w").close()
"""


def test_loadgroup_runs_each_group_on_one_worker(tmp_path):
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    (tmp_path / "runs").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup",
         str(tmp_path / "test_grouped.py")],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, env={**os.environ, "RUNS": str(tmp_path / "runs")},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    runs = [p.name.split("-") for p in (tmp_path / "runs").iterdir()]
    assert len(runs) == 12
    workers = {case: {pid for c, _, pid in runs if c == case} for case in "ab"}
    assert all(len(pids) == 1 for pids in workers.values()), workers
