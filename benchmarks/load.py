"""A load figure for the model server: many concurrent clients, some of them sending garbage.

Bakes the defaults, fits the model in-process on the sample, and starts the real serve
entrypoint (waitress, as in the container) on the loopback. Then `requests` requests, `clients`
at a time, a tenth of them malformed in one of several ways, each on its own connection as
Batch Transform's clients open them. Reports latency percentiles, status counts and the
server's resident memory before and after (from /proc, the server's own process).

Only the loopback is ever a target; the loop is bounded by its request count.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PACKAGE = "customer_churn"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _malformed(rng: random.Random, good: bytes, width: int) -> bytes:
    """One of the mistakes a client makes: a short row, text, a quote, bare CR, latin-1, nothing."""
    line = good.split(b"\n", 1)[0]
    kind = rng.randrange(6)
    if kind == 0:
        return line.rsplit(b",", 1)[0] + b"\n"
    if kind == 1:
        return b",".join([b"abc"] * width) + b"\n"
    if kind == 2:
        return b'"' + line + b"\n"
    if kind == 3:
        return line + b"\r" + line + b"\n"
    if kind == 4:
        return line + b"\n\xe9\xff\n"
    return b""


def _request(port: int, body: bytes) -> tuple[float, int, int]:
    """(seconds, status, answer lines) of one POST on a fresh connection."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", "/invocations", body=body, headers={"Content-Type": "text/csv"})
        response = connection.getresponse()
        answer = response.read()
    finally:
        connection.close()
    return time.perf_counter() - started, response.status, answer.count(b"\n")


def load_benchmark(work: Path, template: Path, requests: int, clients: int, rows_per_request: int) -> dict[str, Any]:
    bake_dir = work / "load-bake"
    shutil.rmtree(bake_dir, ignore_errors=True)
    cookiecutter = Path(sys.executable).parent / "cookiecutter"
    subprocess.run([str(cookiecutter), "--no-input", "--output-dir", str(bake_dir), str(template)], check=True)
    project = bake_dir / "customer-churn"
    sys.path.insert(0, str(project / "src"))
    from customer_churn.components.algorithm.model import fit as fit_model
    from customer_churn.components.processing.preprocess import fit, split, to_training_matrix
    from customer_churn.config import load_config
    from customer_churn.sample_data import generate

    config = load_config(project / "config" / "project.yaml")
    data = config["data"]
    sample = generate(5000, target_column=data["target_column"], problem_type=data["problem_type"], seed=0)
    schema, labelled = fit(sample, data["target_column"], data["problem_type"])
    train, validation = split(labelled, schema, 0.2, seed=42)
    model = fit_model(to_training_matrix(train, schema), schema, config["algorithm"]["hyperparameters"])
    root = work / "load" / "opt_ml"
    shutil.rmtree(root.parent, ignore_errors=True)
    model.save(root / "model")
    features = to_training_matrix(validation, schema).iloc[:, 1:]
    lines = features.to_csv(header=False, index=False, float_format="%.15g").encode().splitlines(keepends=True)
    width = len(schema.features)

    port = _free_port()
    from customer_churn.registry.digests import DIGESTS_ENV, folder_digest

    env = {**os.environ, "PYTHONPATH": str(project / "src"), "OPT_ML_ROOT": str(root)}
    env["SAGEMAKER_BIND_TO_PORT"] = str(port)
    env[DIGESTS_ENV] = json.dumps({"model_contents": folder_digest(root / "model")})  # as CreateModel passes it
    server = subprocess.Popen(
        [sys.executable, "-m", f"{PACKAGE}.components.algorithm", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _request(port, lines[0])[1] == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        rss_before = _rss_mb(server.pid)
        rng = random.Random(20261201)
        plan: list[tuple[bytes, bool]] = []
        for _ in range(requests):
            start = rng.randrange(len(lines) - rows_per_request)
            good = b"".join(lines[start : start + rows_per_request])
            bad = rng.random() < 0.10
            plan.append((_malformed(rng, good, width) if bad else good, bad))
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(lambda item: _request(port, item[0]), plan))
        elapsed = time.perf_counter() - started
        alive = _request(port, lines[0])[1] == 200
        rss_after = _rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=15)

    latencies = sorted(r[0] for r in results)
    statuses: dict[str, int] = {}
    for _, status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    wrong_answers = sum(
        1
        for (body, bad), (_, status, answer_lines) in zip(plan, results, strict=True)
        if (not bad and (status != 200 or answer_lines != rows_per_request)) or (bad and status != 400)
    )
    return {
        "requests": requests,
        "clients": clients,
        "rows_per_request": rows_per_request,
        "malformed": sum(bad for _, bad in plan),
        "seconds": elapsed,
        "requests_per_second": requests / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max_ms": 1000 * latencies[-1],
        "statuses": statuses,
        "server_errors": sum(n for s, n in statuses.items() if s.startswith("5")),
        "wrong_answers": wrong_answers,
        "alive_after": alive,
        "server_rss_mb_before": rss_before,
        "server_rss_mb_after": rss_after,
    }
