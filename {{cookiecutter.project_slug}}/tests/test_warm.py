"""Warm start: a job forked from the warm interpreter ends, logs and stops as a fresh process does."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.local import warm
from {{ cookiecutter.package_name }}.local.runtimes import VenvRuntime

PROBE = """
import json, os, signal, sys, time
from pathlib import Path

preloaded = "numpy" in sys.modules
import numpy as np

action = sys.argv[1]
Path(os.environ["PROBE_OUT"]).write_text(json.dumps({
    "argv": sys.argv[1:], "cwd": os.getcwd(), "job": os.environ.get("JOB_ONLY"),
    "pid": os.getpid(), "draw": float(np.random.random()), "main": __name__, "preloaded": preloaded,
}))
print("to stdout", flush=True)
print("to stderr", file=sys.stderr, flush=True)
if action == "exit":
    sys.exit(int(sys.argv[2]))
if action == "raise":
    raise RuntimeError("the probe failed")
if action == "self-kill":
    os.kill(os.getpid(), signal.SIGKILL)
if action == "wait-for-term":
    def stop(signum, frame):
        print("stopped", flush=True)
        sys.exit(143)
    signal.signal(signal.SIGTERM, stop)
    Path(os.environ["PROBE_OUT"] + ".ready").touch()
    time.sleep(60)
if action == "sleep":
    Path(os.environ["PROBE_OUT"] + ".ready").touch()
    time.sleep(60)
"""


@pytest.fixture
def probe_env(tmp_path):
    package = tmp_path / "probes"
    package.mkdir()
    (package / "probe.py").write_text(textwrap.dedent(PROBE))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(package), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture
def interpreter(probe_env):
    started = warm.WarmInterpreter()
    started.start(probe_env)
    yield started
    started.close()


def _run(command, env, tmp_path, name):
    log = tmp_path / f"{name}.log"
    out = tmp_path / f"{name}.json"
    with log.open("w") as sink:
        code = subprocess.run(command, env={**env, "PROBE_OUT": str(out), "JOB_ONLY": name}, cwd=tmp_path,
                              stdout=sink, stderr=subprocess.STDOUT, timeout=60).returncode  # fmt: skip
    return code, log.read_text(), out.read_text()


@pytest.mark.parametrize(
    ("args", "code"),
    [(["exit", "0"], 0), (["exit", "3"], 3), (["raise"], 1), (["self-kill"], -signal.SIGKILL)],
    ids=["success", "exit-code", "uncaught-exception", "killed-by-a-signal"],
)
def test_a_warm_job_ends_and_logs_as_a_fresh_process_does(interpreter, probe_env, tmp_path, args, code):
    cold = _run([sys.executable, "-m", "probe", *args], probe_env, tmp_path, "cold")
    hot = _run(interpreter.command("probe", args, probe_env), probe_env, tmp_path, "warm")
    assert cold[0] == hot[0] == code
    if args == ["raise"]:  # the traceback's frames above the probe differ; what it says does not
        assert hot[1].splitlines()[-1] == cold[1].splitlines()[-1] == "RuntimeError: the probe failed"
        assert hot[1].splitlines()[:2] == cold[1].splitlines()[:2] == ["to stdout", "to stderr"]
    else:
        assert hot[1] == cold[1]


def test_a_warm_job_has_its_own_environment_directory_arguments_and_random_state(interpreter, probe_env, tmp_path):
    def job(name):
        return json.loads(_run(interpreter.command("probe", ["exit", "0"], probe_env), probe_env, tmp_path, name)[2])

    deadline = time.monotonic() + 60
    while not job("wait")["preloaded"]:  # until numpy's state is the warm interpreter's, not the job's own
        assert time.monotonic() < deadline, "the warm interpreter never imported numpy"
        time.sleep(0.1)
    first, second = job("one"), job("two")
    assert first["preloaded"] and second["preloaded"]
    assert (first["job"], second["job"]) == ("one", "two")
    assert first["cwd"] == second["cwd"] == str(tmp_path)
    assert first["argv"] == ["exit", "0"] and first["main"] == "__main__"
    assert first["pid"] != second["pid"] != os.getpid()
    assert first["draw"] != second["draw"], "every job must seed numpy's global generator afresh"


def _start(interpreter, probe_env, tmp_path, action):
    out = tmp_path / "job.json"
    env = {**probe_env, "PROBE_OUT": str(out), "JOB_ONLY": "job"}
    client = subprocess.Popen(interpreter.command("probe", [action], probe_env), env=env, stdout=subprocess.PIPE)
    ready = tmp_path / "job.json.ready"
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert client.poll() is None and time.monotonic() < deadline, "the job never started"
        time.sleep(0.02)
    return client, json.loads(out.read_text())["pid"]


def _gone(pid, within=10.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_sigterm_to_the_client_reaches_the_job(interpreter, probe_env, tmp_path):
    client, _ = _start(interpreter, probe_env, tmp_path, "wait-for-term")
    client.send_signal(signal.SIGTERM)
    assert client.wait(timeout=30) == 143
    assert client.stdout.read().decode().splitlines()[-1] == "stopped"


def test_killing_the_client_kills_its_job(interpreter, probe_env, tmp_path):
    client, pid = _start(interpreter, probe_env, tmp_path, "sleep")
    client.kill()
    client.wait()
    assert _gone(pid), "the job outlived its killed client"


def test_closing_the_warm_interpreter_ends_its_jobs(probe_env, tmp_path):
    interpreter = warm.WarmInterpreter()
    interpreter.start(probe_env)
    client, pid = _start(interpreter, probe_env, tmp_path, "sleep")
    interpreter.close()
    assert _gone(pid), "a job outlived the warm interpreter"
    assert client.wait(timeout=30) == 70  # the client says its interpreter went away


def test_warm_start_is_the_default_and_local_warm_start_0_starts_every_job_cold(tmp_path, monkeypatch):
    runtime = VenvRuntime()
    monkeypatch.delenv(warm.WARM_ENV, raising=False)
    command, _ = runtime.job("processing", "train", tmp_path, {})
    assert command[1:4] == ["-I", "-S", str(warm.CLIENT)]
    runtime.warm.close()
    for off in ("0", "false", "off"):
        monkeypatch.setenv(warm.WARM_ENV, off)
        command, env = runtime.job("processing", "train", tmp_path, {})
        assert command == [sys.executable, "-m", "{{ cookiecutter.package_name }}.components.processing", "train"]
        assert env["OPT_ML_ROOT"] == str(tmp_path)


def test_the_socket_folder_of_a_killed_run_is_removed_by_the_next_and_a_live_ones_is_kept(tmp_path):
    """kill -9 leaves the warm interpreter's folder behind; the next warm start sweeps it, and only it."""
    owner = (
        "import os, sys, time\n"
        "from {{ cookiecutter.package_name }}.local import warm\n"
        "print(warm.WarmInterpreter().start(dict(os.environ)), flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    run = subprocess.Popen([sys.executable, "-c", owner], env=env, stdout=subprocess.PIPE, text=True)
    socket = Path(run.stdout.readline().strip())
    run.kill()
    run.wait()
    assert socket.parent.is_dir() and socket.parent.parent == tmp_path, "the killed run left its folder"
    live = tmp_path / f"{warm.FOLDER_PREFIX}{os.getpid()}-live"
    live.mkdir()
    assert warm.sweep_orphans(tmp_path) == [socket.parent]
    assert not socket.parent.exists() and live.is_dir()
