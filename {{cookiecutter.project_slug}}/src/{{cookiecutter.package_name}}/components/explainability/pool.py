"""Explain chunks of rows on every core of the instance, with the answers in input order.

TreeSHAP holds the GIL, so chunks go to worker processes. The workers are forked once the
model and its explainer are loaded, so nothing but the chunks and their answers crosses
between processes. The parent receives the answers in input order and writes them, and adds
them to the totals, in that order: the output is byte for byte what one process writes.

Each worker has a pipe of its own and holds one chunk at a time; the parent hands it the next
only once it has taken its answer, and takes answers as they come. No thread feeds the pipes,
so a stop or a failure ends the workers at once and waits on nothing. (Python 3.11's
ProcessPoolExecutor waits forever when a worker ends while its feeder thread is still writing
a chunk to it.)
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

import numpy as np

from ...csv_output import to_csv_text
from .shap_values import Explanation, explain, per_row_frame

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from ..algorithm.model import TrainedModel

# What a forked worker explains with: set in the parent before the fork, inherited by the workers.
_LOADED: dict[str, Any] = {}


def available_cores() -> int:
    """The cores this process may run on (a container's CPU share), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS
        return max(1, os.cpu_count() or 1)


def explain_chunk(model: TrainedModel, explainer: Any, X: np.ndarray) -> tuple[str, Explanation]:
    """One chunk's per-row SHAP values as CSV lines (no header), and the explanation for the totals."""
    explanation = explain(model, X, explainer)
    text = to_csv_text(per_row_frame(model, explanation, X), "%.6g")
    return text, explanation


def _worker_start() -> None:
    # A stop reaches the parent, which fails the job and ends the workers (SIGTERM, by default
    # fatal here). One thread each: the workers are the parallelism.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _work(connection: Connection) -> None:
    """A worker: explain each chunk the parent sends, and send back its answer or its error."""
    _worker_start()
    while True:
        X = connection.recv()
        try:
            answer: tuple[bool, Any] = (True, explain_chunk(_LOADED["model"], _LOADED["explainer"], X))
        except Exception as exc:  # noqa: BLE001 - the parent raises it, as if it had explained the chunk
            exc.add_note(f"in explainability worker {os.getpid()}:\n{traceback.format_exc().rstrip()}")
            answer = (False, exc)
        try:
            connection.send(answer)
        except Exception:  # noqa: BLE001 - an error that does not pickle still reaches the parent
            connection.send((False, RuntimeError(f"explaining a chunk failed: {answer[1]!r}")))


class ChunkExplainer:
    """`explain(chunks)` yields (X, csv_text, explanation) in input order, on `workers` processes.

    With one worker everything runs in this process. At most two chunks per worker are held
    (explained, or answered and waiting for their turn), so memory stays bounded whatever the
    number of rows.
    """

    def __init__(self, model: TrainedModel, explainer: Any, workers: int) -> None:
        self.model, self.explainer, self.workers = model, explainer, max(1, workers)
        self._pool: list[tuple[BaseProcess, Connection]] = []

    def __enter__(self) -> ChunkExplainer:
        if self.workers > 1:
            _LOADED.update(model=self.model, explainer=self.explainer)
            context = multiprocessing.get_context("fork")
            for _ in range(self.workers):
                mine, theirs = context.Pipe()
                process = context.Process(target=_work, args=(theirs,), daemon=True)
                process.start()
                theirs.close()  # the worker's end lives in the worker alone: its end is our EOF
                self._pool.append((process, mine))
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Done, stopped or failed alike: a worker holds nothing of value once the parent stops asking.
        # SIGKILL, not SIGTERM: a worker still starting has the job's SIGTERM handler (run_entrypoint's,
        # which raises JobStopped inside multiprocessing's start-up), and never ends on a SIGTERM then.
        for process, _ in self._pool:
            process.kill()
        for process, connection in self._pool:
            process.join()
            connection.close()
        self._pool.clear()
        _LOADED.clear()

    def explain(self, chunks: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, str, Explanation]]:
        if not self._pool:
            for X in chunks:
                yield (X, *explain_chunk(self.model, self.explainer, X))
            return
        idle = list(self._pool)
        working: dict[Connection, tuple[int, np.ndarray, BaseProcess]] = {}
        answered: dict[int, tuple[np.ndarray, tuple[str, Explanation]]] = {}
        rest, sent, turn = iter(chunks), 0, 0
        while True:
            while idle and len(working) + len(answered) < 2 * self.workers:
                X = next(rest, None)
                if X is None:
                    break
                process, connection = idle.pop()
                connection.send(X)
                working[connection] = (sent, X, process)
                sent += 1
            if turn in answered:
                X, (text, explanation) = answered.pop(turn)
                turn += 1
                yield X, text, explanation
                continue
            if not working:
                return
            ready = wait(list(working))
            for connection in [c for c in working if c in ready]:
                index, X, process = working.pop(connection)
                answered[index] = (X, _answer(connection, process))
                idle.append((process, connection))


def _answer(connection: Connection, process: BaseProcess) -> tuple[str, Explanation]:
    """A worker's answer to its chunk; its error, raised here; or why it ended without one."""
    try:
        ok, value = connection.recv()
    except EOFError:
        process.join(timeout=5)
        code = process.exitcode
        if code is not None and code < 0:
            how = f"was ended by {signal.Signals(-code).name}"
            if -code == signal.SIGKILL:
                how += " (the kernel's out-of-memory killer, most likely: lower explainability.chunk_rows or workers)"
        else:
            how = f"exited with code {code} (its log above says why)"
        raise RuntimeError(f"an explainability worker (pid {process.pid}) {how} before it answered") from None
    if not ok:
        raise value
    return value
