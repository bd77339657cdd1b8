"""Explain chunks of rows on every core of the instance, with the answers in input order.

TreeSHAP holds the GIL, so chunks go to worker processes. The workers are forked once the
model and its explainer are loaded, so nothing but the chunks and their answers crosses
between processes. The parent receives the answers in input order and writes them, and adds
them to the totals, in that order: the output is byte for byte what one process writes.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from ...csv_output import to_csv_text
from .shap_values import Explanation, explain, per_row_frame

if TYPE_CHECKING:
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
    # A stop reaches the parent, which fails the job; workers just end with it. One thread each:
    # the workers are the parallelism.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _in_worker(X: np.ndarray) -> tuple[str, Explanation]:
    return explain_chunk(_LOADED["model"], _LOADED["explainer"], X)


class ChunkExplainer:
    """`explain(chunks)` yields (X, csv_text, explanation) in input order, on `workers` processes.

    With one worker everything runs in this process. At most two chunks per worker are in
    flight, so memory stays bounded whatever the number of rows.
    """

    def __init__(self, model: TrainedModel, explainer: Any, workers: int) -> None:
        self.model, self.explainer, self.workers = model, explainer, max(1, workers)
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> ChunkExplainer:
        if self.workers > 1:
            _LOADED.update(model=self.model, explainer=self.explainer)
            context = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_worker_start)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        _LOADED.clear()

    def explain(self, chunks: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, str, Explanation]]:
        if self._pool is None:
            for X in chunks:
                yield (X, *explain_chunk(self.model, self.explainer, X))
            return
        in_flight: deque[tuple[np.ndarray, Future]] = deque()
        for X in chunks:
            in_flight.append((X, self._pool.submit(_in_worker, X)))
            if len(in_flight) >= 2 * self.workers:
                X_done, future = in_flight.popleft()
                yield (X_done, *future.result())
        while in_flight:
            X_done, future = in_flight.popleft()
            yield (X_done, *future.result())
