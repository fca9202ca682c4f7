"""The Ray executor: a pool of long-lived training actors, local or on a cluster.

Each actor is a `TrainingWorker` (TensorFlow imported once, data received once
from the object store). `submit` queues a trial; `wait` hands each idle actor
a batch of up to `members_per_batch` queued trials of one kind (trained in one
compiled program, see actsearch.train.batch) and collects batches as they
finish, so a slow batch never blocks the others. A killed actor costs only
its batch, whose trials are retried on a fresh actor; a batch that runs past
`trial_timeout` x its number of members is recorded as timeouts and its
actor replaced.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import (
    GetTimeoutError,
    RayActorError,
    RayTaskError,
    WorkerCrashedError,
)

from actsearch.execute.batching import fair_share, take_batch
from actsearch.execute.trial import Trial
from actsearch.execute.worker import TrainingWorker
from actsearch.results import EvalResult

log = logging.getLogger(__name__)
ACTOR_START_TIMEOUT = 600  # seconds for a new worker to import TensorFlow and receive the data


@dataclass
class _Running:
    actor: Any
    trials: list[Trial]
    started: float
    attempts: list[int]

    @property
    def trial(self) -> Trial:
        return self.trials[0]


@dataclass
class RayExecutor:
    """Runs trials on `workers` Ray actors, each with 1 CPU and `gpus_per_trial` GPUs
    (the task names, with their data sets in the same order; None: each worker loads them)."""

    tasks: Sequence[str]
    data: Sequence[Any] | None
    workers: int = 0
    gpus_per_trial: float = 0.0
    address: str | None = None
    trial_timeout: float | None = None
    max_retries: int = 2
    members_per_batch: int = 1
    ray_init_kwargs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._started_ray = False
        if not ray.is_initialized():
            self._init_ray()
        if self.workers <= 0:
            self.workers = max(1, int(ray.available_resources().get("CPU", 1)))
        if self.gpus_per_trial:
            self.workers = min(self.workers, self._gpu_slots())
        self._data_ref = ray.put(self.data)
        self._actor_class = ray.remote(TrainingWorker).options(
            num_cpus=1,
            num_gpus=self.gpus_per_trial,
            max_restarts=0,
            max_concurrency=1,
        )
        self.idle = self._spawn(self.workers)
        self.running: dict[ray.ObjectRef, _Running] = {}
        self.members_per_batch = max(1, int(self.members_per_batch))
        self.queue: deque[Trial] = deque()
        self.attempts: dict[int, int] = {}  # trial_id -> attempt, for queued retries
        self.capacity = self.workers * self.members_per_batch

    def _init_ray(self) -> None:
        init_ray(self.address, **self.ray_init_kwargs)
        self._started_ray = True

    def _gpu_slots(self) -> int:
        """How many trials fit on the cluster's GPUs at `gpus_per_trial` each."""
        slots = int(ray.cluster_resources().get("GPU", 0) / self.gpus_per_trial + 1e-9)
        if slots < 1:
            raise RuntimeError(f"--gpus-per-trial {self.gpus_per_trial:g}: the Ray cluster has no GPU to give")
        if slots < self.workers:
            log.warning(
                "%d workers requested but the GPUs fit %d trials at %g GPU each",
                self.workers,
                slots,
                self.gpus_per_trial,
            )
        return slots

    def _spawn(self, count: int) -> list[Any]:
        """Start `count` actors and wait until each has imported TF and loaded the data.

        Waiting here keeps start-up out of the trial timeout and makes a
        worker that cannot start fail loudly instead of stalling the search.
        """
        actors: list[Any] = [  # Ray actor handles
            self._actor_class.remote(
                self.tasks, self._data_ref, threads=1, use_gpu=self.gpus_per_trial > 0, ray_actor=True
            )
            for _ in range(count)
        ]
        try:
            ray.get([actor.info.remote() for actor in actors], timeout=ACTOR_START_TIMEOUT)
        except GetTimeoutError:
            raise RuntimeError(
                f"Ray could not start {count} training worker(s) within {ACTOR_START_TIMEOUT} s "
                "(are the requested CPUs/GPUs available in the cluster?)"
            ) from None
        return actors

    def _new_actor(self) -> Any:
        return self._spawn(1)[0]

    @property
    def in_flight(self) -> int:
        return len(self.queue) + sum(len(entry.trials) for entry in self.running.values())

    def submit(self, trial: Trial, attempt: int = 0) -> None:
        """Queue a trial; `wait` dispatches the queue to idle workers in batches
        (without batching, i.e. one member per batch, it starts at once)."""
        if self.in_flight >= self.capacity:
            raise RuntimeError("executor full (no idle worker): wait() for a result before submitting more")
        self.queue.append(trial)
        if attempt:
            self.attempts[trial.trial_id] = attempt
        if self.members_per_batch == 1:
            self._dispatch()

    def _dispatch(self) -> None:
        share = fair_share(len(self.queue), len(self.idle) + len(self.running), self.members_per_batch)
        while self.queue and self.idle:
            batch = take_batch(self.queue, share)
            actor = self.idle.pop()
            ref = actor.run.remote(batch[0]) if len(batch) == 1 else actor.run_batch.remote(batch)
            attempts = [self.attempts.pop(t.trial_id, 0) for t in batch]
            self.running[ref] = _Running(actor, batch, time.monotonic(), attempts)

    def wait(self, timeout: float | None = None) -> list[tuple[Trial, EvalResult]]:
        """Block until at least one trial ends (or `timeout`); return the ended ones."""
        deadline = None if timeout is None else time.monotonic() + timeout
        done: list[tuple[Trial, EvalResult]] = []
        self._dispatch()
        while not done and self.running:
            poll = 1.0 if self.trial_timeout else None
            if deadline is not None:
                remaining = max(0.0, deadline - time.monotonic())
                poll = remaining if poll is None else min(poll, remaining)
            ready, _ = ray.wait(list(self.running), num_returns=1, timeout=poll)
            for ref in ready:
                done.extend(self._collect(ref))
            done.extend(self._expire_timeouts())
            self._dispatch()
            if deadline is not None and time.monotonic() >= deadline:
                break
        return done

    def _collect(self, ref: ray.ObjectRef) -> list[tuple[Trial, EvalResult]]:
        entry = self.running.pop(ref)
        try:
            result = ray.get(ref)
        except (RayActorError, WorkerCrashedError) as err:
            return self._lost_worker(entry, err)
        except RayTaskError as err:  # an exception the trainer did not turn into a result
            self.idle.append(entry.actor)
            message = f"{type(err.cause).__name__}: {err.cause}"
            return [(trial, _failure(entry, "failed", message)) for trial in entry.trials]
        self.idle.append(entry.actor)
        results = [result] if isinstance(result, EvalResult) else list(result)
        return list(zip(entry.trials, results))

    def _lost_worker(self, entry: _Running, err: Exception) -> list[tuple[Trial, EvalResult]]:
        """The actor died mid-training: replace it and retry its trials (bounded)."""
        log.warning(
            "worker died during trial(s) %s (%s); replacing it",
            ", ".join(str(t.trial_id) for t in entry.trials),
            type(err).__name__,
        )
        self.idle.append(self._new_actor())
        failed = []
        for trial, attempt in zip(entry.trials, entry.attempts):
            if attempt < self.max_retries:
                self.submit(trial, attempt + 1)
            else:
                failed.append((trial, _failure(entry, "failed", f"worker died {attempt + 1} times: {err}")))
        return failed

    def _expire_timeouts(self) -> list[tuple[Trial, EvalResult]]:
        if not self.trial_timeout:
            return []
        now = time.monotonic()
        expired: list[tuple[Trial, EvalResult]] = []
        for ref, entry in list(self.running.items()):
            limit = self.trial_timeout * len(entry.trials)  # a batch of K may take up to K trainings' time
            if now - entry.started > limit:
                del self.running[ref]
                ray.kill(entry.actor, no_restart=True)
                self.idle.append(self._new_actor())
                message = f"training exceeded the trial timeout of {self.trial_timeout:g} s" + (
                    f" (x {len(entry.trials)} members of its batch)" if len(entry.trials) > 1 else ""
                )
                expired.extend((trial, _failure(entry, "timeout", message)) for trial in entry.trials)
        return expired

    def workers_info(self) -> list[dict]:
        actors = self.idle + [entry.actor for entry in self.running.values()]
        try:
            return ray.get([actor.info.remote() for actor in actors], timeout=30)
        except GetTimeoutError:
            return []

    def shutdown(self) -> None:
        for actor in self.idle + [entry.actor for entry in self.running.values()]:
            ray.kill(actor, no_restart=True)
        self.idle, self.running = [], {}
        self.queue.clear()
        if self._started_ray:
            ray.shutdown()


def init_ray(address: str | None = None, **kwargs: Any) -> None:
    """Start local Ray (or join `address`) quietly: no dashboard, worker logs only on request."""
    options: dict[str, Any] = {
        "include_dashboard": False,
        "logging_level": logging.WARNING,
        "log_to_driver": bool(os.environ.get("ACTSEARCH_RAY_LOGS")),
    }
    # Without --address, always a new local Ray: never silently join a cluster that
    # someone started on this machine with `ray start` (Ray's default would).
    options["address"] = address or "local"
    # A new local cluster uses token authentication by default and says so at
    # every start; the protection stays, the notice is not shown.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    ray.init(**{**options, **kwargs})


@contextlib.contextmanager
def ray_session(address: str | None = None) -> Iterator[None]:
    """Keep one Ray session open across several executors (Ray cannot restart cleanly in-process)."""
    started = not ray.is_initialized()
    if started:
        init_ray(address)
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def _failure(entry: _Running, status: str, error: str) -> EvalResult:
    return EvalResult.failed(error, status=status, train_seconds=time.monotonic() - entry.started)
