"""Running trainings: in-process, or on a pool of Ray actors (local or cluster).

Both executors speak one protocol: `workers`, `capacity`, `in_flight`,
`submit(trial)`, `wait(timeout) -> [(trial, result)]`, `workers_info()`, `shutdown()`.
`wait` raises `ClusterLost` when nothing can run any more (Ray's head node or this
machine's raylet stopped). Ray is imported only when the Ray executor is asked for.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from typing import Any, Protocol

from actsearch.execute.trial import Trial
from actsearch.results import EvalResult


class ClusterLost(RuntimeError):
    """Ray stopped under the executor (its head node, or this machine's raylet, no longer
    answers; or no training worker can be placed any more): nothing more can run here.
    What finished was returned; what was running is lost and must run again (resume).
    `logs`: the folder of Ray's logs on this machine, when known."""

    def __init__(self, message: str, logs: str | None = None) -> None:
        super().__init__(message)
        self.logs = logs


class Executor(Protocol):
    workers: int  # trainings (or batches of them) that run at once
    capacity: int  # trials it holds at once: workers x members per batch

    @property
    def in_flight(self) -> int: ...

    def submit(self, trial: Trial) -> None: ...

    def wait(self, timeout: float | None = None) -> list[tuple[Trial, EvalResult]]: ...

    def workers_info(self) -> list[dict]: ...

    def shutdown(self) -> None: ...


def submit_while_capacity(executor: Executor, backlog: deque[Trial]) -> None:
    """Hand queued trials to the executor until it is full (the one submit loop)."""
    while backlog and executor.in_flight < executor.capacity:
        executor.submit(backlog.popleft())


def run_all(executor: Executor, trials: Iterable[Trial]) -> Iterator[tuple[Trial, EvalResult]]:
    """Run every trial, keeping the executor full; yield each result as it comes back."""
    backlog = deque(trials)
    while backlog or executor.in_flight:
        submit_while_capacity(executor, backlog)
        yield from executor.wait()


class ExecutorKind(StrEnum):
    """Where trainings run: a pool of Ray actors, or this process one batch at a time."""

    RAY = "ray"
    LOCAL = "local"


def make_executor(kind: str, tasks: Sequence[str], data: Sequence[Any] | None, **options: Any) -> Executor:
    """`kind` is "ray" (default for searches) or "local" (in-process, one batch at a time).

    Workers hold every task of `tasks` (names), with `data` their data sets in the same
    order (None: loaded by each worker); each trial names its own (`Trial.task`).

    ``members_per_batch`` (both kinds): trainings a worker runs in one compiled
    program (see actsearch.train.batch); the executor's ``capacity`` is
    workers x members_per_batch, so the search proposes enough to fill them."""
    if kind == ExecutorKind.LOCAL:
        from actsearch.execute.local import InProcessExecutor

        return InProcessExecutor(tasks, data, members_per_batch=options.get("members_per_batch") or 1)
    if kind == ExecutorKind.RAY:
        from actsearch.execute.ray_pool import RayExecutor

        return RayExecutor(tasks, data, **options)
    raise ValueError(f"unknown executor {kind!r} (use 'ray' or 'local')")


__all__ = ["ClusterLost", "Executor", "ExecutorKind", "Trial", "make_executor", "run_all", "submit_while_capacity"]
