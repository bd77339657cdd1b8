"""Run one local job in the warm interpreter, as if this process were the job.

Started as `python -I -S warm_client.py SOCKET MODULE ARG...`, with nothing but the standard
library: it hands its stdin, stdout and stderr, its environment and its working directory to
the warm interpreter (`warm.py`), which forks a child that runs `python -m MODULE ARG...`.
This process then exits as the child exits: the same exit code, or the same signal. A SIGTERM
sent here is passed on to the job, so stopping this process stops the job; if this process is
killed outright, the warm interpreter kills the job.
"""

import contextlib
import json
import os
import signal
import socket
import sys

GONE = 70  # EX_SOFTWARE: the warm interpreter is not there or went away


def main() -> int:
    path, module, *args = sys.argv[1:]
    job = {"pid": None, "pending": []}

    def forward(signum: int, _frame: object) -> None:
        if job["pid"] is None:
            job["pending"].append(signum)
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(job["pid"], signum)

    signal.signal(signal.SIGTERM, forward)
    # The job shares this terminal's process group and gets Ctrl-C itself; passing it on too
    # would interrupt the job's own clean-up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    request = json.dumps({"module": module, "argv": args, "env": dict(os.environ), "cwd": os.getcwd()}).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(path)
            socket.send_fds(sock, [b"J"], [0, 1, 2])
            sock.sendall(len(request).to_bytes(8, "big") + request)
            answers = sock.makefile("rb")
            started = answers.readline()
            if not started:
                raise ConnectionError("it closed the connection before starting the job")
            job["pid"] = int(started)
            for signum in job["pending"]:
                forward(signum, None)
            ended = answers.readline().decode().split()
    except (OSError, ValueError) as exc:
        print(
            f"ERROR the warm interpreter at {path} could not run {module}: {exc}. "
            "Set LOCAL_WARM_START=0 to start every job in a fresh interpreter.",
            file=sys.stderr,
            flush=True,
        )
        return GONE
    if len(ended) != 2:
        print(f"ERROR the warm interpreter went away while {module} ran", file=sys.stderr, flush=True)
        return GONE
    how, number = ended[0], int(ended[1])
    if how == "signal":  # end as the job ended, so that the caller sees the same signal
        with contextlib.suppress(OSError, ValueError):  # SIGKILL has no handler to reset
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    return number


if __name__ == "__main__":
    sys.exit(main())
