"""The in-process executor: trains trials one at a time in the driver (tests, debugging)."""

from __future__ import annotations

from collections import deque
from typing import Any

from actsearch.execute.trial import Trial
from actsearch.execute.worker import TrainingWorker
from actsearch.results import EvalResult


class InProcessExecutor:
    """Same protocol as RayExecutor, without Ray: `submit` queues, `wait` trains one."""

    def __init__(self, task_spec: str, data: Any = None) -> None:
        # One TF thread, like each Ray worker, so that both executors compute the same fitness.
        self.worker = TrainingWorker(task_spec, data, threads=1)
        self.queue: deque[Trial] = deque()
        self.capacity = 1

    @property
    def in_flight(self) -> int:
        return len(self.queue)

    def submit(self, trial: Trial) -> None:
        self.queue.append(trial)

    def wait(self, timeout: float | None = None) -> list[tuple[Trial, EvalResult]]:
        if not self.queue:
            return []
        trial = self.queue.popleft()
        return [(trial, self.worker.run(trial))]

    def workers_info(self) -> list[dict]:
        return [self.worker.info()]

    def shutdown(self) -> None:
        self.queue.clear()
