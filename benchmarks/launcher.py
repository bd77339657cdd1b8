"""Run one command and report its wall time and peak resident memory, from a parent too small to distort it.

Linux carries a parent's memory high-water mark into its child (over fork, vfork and exec), so
`ru_maxrss` of a job spawned by a large harness reports the harness. This launcher is started
fresh, with `python -S -I`, so what it carries over is its own few megabytes (recorded as
`launcher_hwm_kb`, the floor under every figure), and it reports the job's own peak.

    python -S -I launcher.py RESULT.json COMMAND [ARG ...]

Writes {"exit", "seconds", "maxrss_kb", "launcher_hwm_kb"} to RESULT.json and exits as the job did.
"""

import json
import os
import sys
import time


def _own_high_water_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main() -> int:
    result, command = sys.argv[1], sys.argv[2:]
    floor = _own_high_water_kb()
    started = time.perf_counter()
    pid = os.posix_spawnp(command[0], command, os.environ)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    with open(result, "w") as out:
        json.dump({"exit": code, "seconds": seconds, "maxrss_kb": usage.ru_maxrss, "launcher_hwm_kb": floor}, out)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
