"""Warm start for local jobs: fork each job from an interpreter that has already imported the libraries.

A component job spends its first seconds importing pandas, scikit-learn, SciPy and shap; a
local pipeline run starts about ten jobs, so those imports were most of its overhead. In venv
mode, local runs start one warm interpreter (`python -m <package>.local.warm SOCKET`) that
imports the libraries once, in the background, and then forks a child per job. Each child
takes the job's stdin, stdout, stderr, environment and working directory from a small client
(`warm_client.py`) and runs `python -m <package>.components.<component> <mode>` in full: the
project's own modules are imported fresh in every job, and no state passes from one job to
another. The client is what the executor starts and waits for, so exit codes, signals and logs
are those of a plain subprocess.

What a warm job does not get fresh: the libraries' import-time reads of the environment (the
warm interpreter's environment is the local run's), and the hash seed. `LOCAL_WARM_START=0`
starts every job in a fresh interpreter instead; `--containers` always does, as SageMaker does.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any

from .processes import alive

WARM_ENV = "LOCAL_WARM_START"
CLIENT = Path(__file__).with_name("warm_client.py")
# In the order a pipeline first needs them, imported one at a time between requests: a request
# waits for at most one of these (scikit-learn's is the longest, about a second).
PRELOAD = (
    "numpy",
    "pandas",
    "yaml",
    "jsonschema",
    "scipy.sparse",
    "scipy.stats",
    "sklearn.base",
    "sklearn.ensemble",
    "sklearn.metrics",
    "skops.io",  # the model files: its import walks every scikit-learn estimator, a second or more
    "joblib",
    "scipy.special",
    "waitress",
    "threadpoolctl",
    "numba",
    "scipy.cluster",
    "shap",
)


FOLDER_PREFIX = "warm-"  # then the owner's pid: a killed owner's folder is found and removed


def sweep_orphans(root: Path | None = None, remove: bool = True) -> list[Path]:
    """The socket folders of warm interpreters whose owner is gone (killed runs leave them), removed."""
    orphans = []
    for folder in Path(root or tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*-*"):
        owner = folder.name.removeprefix(FOLDER_PREFIX).split("-", 1)[0]
        if folder.is_dir() and owner.isdigit() and not alive(int(owner)):
            orphans.append(folder)
            if remove:
                shutil.rmtree(folder, ignore_errors=True)
    return orphans


def enabled(environ: dict[str, str] | None = None) -> bool:
    """Warm start is on unless LOCAL_WARM_START is 0, false, no or off."""
    value = (environ if environ is not None else os.environ).get(WARM_ENV, "1")
    return value.strip().lower() not in {"0", "false", "no", "off"}


class WarmInterpreter:
    """The client side: starts the warm interpreter on first use, and builds each job's command."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._socket: Path | None = None

    def command(self, module: str, args: list[str], env: dict[str, str]) -> list[str]:
        """The command line that runs `python -m module args` in a child of the warm interpreter."""
        return [sys.executable, "-I", "-S", str(CLIENT), str(self.start(env)), module, *args]

    def start(self, env: dict[str, str]) -> Path:
        """The warm interpreter's socket, starting it (with `env`) unless it is running."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return self._socket
            sweep_orphans()
            folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-"))
            self._socket = folder / "jobs.sock"
            ready_read, ready_write = os.pipe()
            # stdin is the lifeline: when this process ends, however it ends, the warm one does too.
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(self._socket), str(ready_write)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                env=env,
                pass_fds=(ready_write,),
            )
            os.close(ready_write)
            with os.fdopen(ready_read, "rb") as ready:  # one byte once the socket listens
                if ready.read(1) != b"R":
                    raise RuntimeError(f"the warm interpreter did not start (exit code {self._process.wait()})")
            atexit.register(self.close)
            return self._socket

    def close(self) -> None:
        with self._lock:
            process, self._process = self._process, None
            if process is None:
                return
            process.stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if self._socket is not None:
                self._socket.unlink(missing_ok=True)
                self._socket.parent.rmdir()


# --- the warm interpreter -----------------------------------------------------------------


def _receive(conn: socket.socket) -> tuple[list[int], dict[str, Any]]:
    conn.settimeout(30)
    _, fds, _, _ = socket.recv_fds(conn, 1, 3)
    header = b""
    while len(header) < 8:
        part = conn.recv(8 - len(header))
        if not part:
            raise ConnectionError("the client went away")
        header += part
    size, body = int.from_bytes(header, "big"), b""
    while len(body) < size:
        part = conn.recv(min(1 << 20, size - len(body)))
        if not part:
            raise ConnectionError("the client went away")
        body += part
    conn.settimeout(None)
    return fds, json.loads(body)


def _run_job(fds: list[int], request: dict[str, Any], inherited: list[Any]) -> int:
    """In the forked child: become the job (stdio, environment, cwd, signals) and run its module."""
    import runpy

    for item in inherited:
        item.close()
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    if "numpy" in sys.modules:  # a fresh process seeds numpy's global generator from the OS
        sys.modules["numpy"].random.seed()
    sys.argv = [request["module"], *request["argv"]]
    code = 0
    try:
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int | None):
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - as the interpreter reports an uncaught exception
        traceback.print_exc()
        code = 1
    threading._shutdown()  # what interpreter exit does: wait for non-daemon threads, then atexit
    atexit._run_exitfuncs()
    return code


def serve(path: Path, ready_fd: int) -> None:
    """Listen on `path`; fork a child per request; report each child's end to its client."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the jobs; this ends with its parent
    wakeup_read, wakeup_write = socket.socketpair()
    wakeup_read.setblocking(False)
    wakeup_write.setblocking(False)
    signal.set_wakeup_fd(wakeup_write.fileno())
    signal.signal(signal.SIGCHLD, lambda *_: None)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(sys.stdin, selectors.EVENT_READ, "parent")
    selector.register(wakeup_read, selectors.EVENT_READ, "children")
    os.write(ready_fd, b"R")
    os.close(ready_fd)
    clients: dict[int, socket.socket] = {}  # job pid -> its client's connection
    pending = list(PRELOAD)
    while True:
        for key, _ in selector.select(timeout=0 if pending else None):
            if key.data == "parent":  # the local run ended: so do its jobs
                for pid in clients:
                    _kill(pid)
                return
            if key.data == "children":
                try:
                    while wakeup_read.recv(4096):
                        pass
                except BlockingIOError:
                    pass
                _reap(clients, selector)
            elif key.data == "accept":
                conn, _ = listener.accept()
                try:
                    fds, request = _receive(conn)
                except (OSError, ValueError):
                    conn.close()
                    continue
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    code = 70
                    inherited = [listener, selector, wakeup_read, wakeup_write, conn, *clients.values()]
                    try:
                        code = _run_job(fds, request, inherited)
                    finally:  # never return into this loop: the child ends here, whatever happened
                        for stream in (sys.stdout, sys.stderr):
                            with contextlib.suppress(OSError, ValueError):
                                stream.flush()
                        os._exit(code)
                for fd in fds:
                    os.close(fd)
                clients[pid] = conn
                try:
                    conn.sendall(f"{pid}\n".encode())
                except OSError:
                    _kill(pid)
                selector.register(conn, selectors.EVENT_READ, pid)
            elif isinstance(key.data, int):  # a client closed its end: it was killed, so is its job
                try:
                    still_there = key.fileobj.recv(1)
                except OSError:
                    still_there = b""
                if not still_there:
                    _kill(key.data)
        if pending:
            with contextlib.suppress(Exception):  # a library that fails to load here loads in the job
                importlib.import_module(pending.pop(0))


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _reap(clients: dict[int, socket.socket], selector: selectors.BaseSelector) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = clients.pop(pid, None)
        if conn is None:
            continue
        if os.WIFSIGNALED(status):
            ended = f"signal {os.WTERMSIG(status)}\n"
        else:
            ended = f"exit {os.waitstatus_to_exitcode(status)}\n"
        with contextlib.suppress(OSError):  # the client is gone; nobody is waiting for this job
            conn.sendall(ended.encode())
        selector.unregister(conn)
        conn.close()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]))
