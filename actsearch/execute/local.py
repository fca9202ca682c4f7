"""The in-process executor: trains trials in the driver (tests, debugging).

One batch at a time: `submit` queues, `wait` trains up to `members_per_batch`
queued trials of one kind in one program (1 = one at a time, the default).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from actsearch.execute.batching import take_batch
from actsearch.execute.trial import Trial
from actsearch.execute.worker import TrainingWorker
from actsearch.results import EvalResult


class InProcessExecutor:
    """Same protocol as RayExecutor, without Ray."""

    def __init__(self, tasks: Sequence[str], data: Sequence[Any] | None = None, members_per_batch: int = 1) -> None:
        # One TF thread, like each Ray worker, so that both executors compute the same fitness.
        self.worker = TrainingWorker(tasks, data, threads=1)
        self.queue: deque[Trial] = deque()
        self.members_per_batch = max(1, int(members_per_batch))
        self.workers = 1
        self.capacity = self.members_per_batch

    @property
    def in_flight(self) -> int:
        return len(self.queue)

    def submit(self, trial: Trial) -> None:
        self.queue.append(trial)

    def wait(self, timeout: float | None = None) -> list[tuple[Trial, EvalResult]]:
        """Train the next batch and return its results. Nothing ends here unless the caller
        waits for the training: with a `timeout`, nothing has ended by then, so it returns
        nothing at once (the search stores its writes, releasing SQLite's lock, then waits)."""
        if timeout is not None:
            return []
        batch = take_batch(self.queue, self.members_per_batch)
        if len(batch) <= 1:
            return [(trial, self.worker.run(trial)) for trial in batch]
        return list(zip(batch, self.worker.run_batch(batch)))

    def workers_info(self) -> list[dict]:
        return [self.worker.info()]

    def shutdown(self) -> None:
        self.queue.clear()
