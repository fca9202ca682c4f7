"""The Ray executor: a pool of long-lived training actors, local or on a cluster.

Each actor is a `TrainingWorker` (TensorFlow imported once, data received once
from the object store). `submit` queues a trial; `wait` hands each idle actor
a batch of up to `members_per_batch` queued trials of one kind (trained in one
compiled program, see actsearch.train.batch) and collects batches as they
finish, so a slow batch never blocks the others. A killed actor costs only
its batch, whose trials are retried (on the other actors, or on the fresh one
started in its place: a lost node's actors are re-created wherever the cluster
has room, the pool runs on with fewer until then); a batch that runs past
`trial_timeout` x its number of members is recorded as timeouts and its
actor replaced.

Ray itself can stop under the pool: the head node (GCS) or this machine's raylet
dies. Ray notices late (its actors may keep answering, then the process ends from
C++ without a word, or only after a minute), so the pool probes both every
`HEALTH_INTERVAL` and after every lost actor, and raises `ClusterLost` within
seconds. Every wait on Ray is bounded.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
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

from actsearch.execute import ClusterLost
from actsearch.execute.batching import fair_share, take_batch
from actsearch.execute.trial import Trial
from actsearch.execute.worker import TrainingWorker
from actsearch.results import EvalResult

log = logging.getLogger(__name__)
ACTOR_START_TIMEOUT = 600  # seconds for a new worker to import TensorFlow and receive the data
HEALTH_INTERVAL = 1.0  # seconds between probes of the head node and of this machine's raylet
CONNECT_TIMEOUT = 2.0  # seconds a probe waits for a TCP connection
READY_TIMEOUT = 60.0  # seconds to fetch a value that ray.wait reported ready (a bound, not an estimate)
START_FAILURES = 5  # replacement actors that may fail to start in a row before the pool gives up


@dataclass
class _Starting:
    actor: Any
    since: float


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
        _quiet_node_death_notices()
        self._watch = _ClusterWatch.of_this_driver()
        if self.workers <= 0:
            self.workers = max(1, int(ray.available_resources().get("CPU", 1)))
        if self.gpus_per_trial:
            self.workers = min(self.workers, self._gpu_slots())
        self._data_ref = ray.put(self.data)
        self._actor_class = ray.remote(TrainingWorker).options(
            num_cpus=1,
            num_gpus=self.gpus_per_trial,
            max_restarts=0,  # a lost actor is re-created by the pool, wherever there is room
            max_concurrency=1,
            scheduling_strategy="SPREAD",  # over the nodes: losing one costs the fewest workers
        )
        self.lost: ClusterLost | None = None  # why nothing can run any more, once Ray stopped under the pool
        self.starting: dict[ray.ObjectRef, _Starting] = {}  # info() ref of an actor on its way up
        self.start_failures = 0  # replacements that failed to start, in a row
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

    def _new_actor(self) -> Any:
        return self._actor_class.remote(
            self.tasks, self._data_ref, threads=1, use_gpu=self.gpus_per_trial > 0, ray_actor=True
        )

    def _spawn(self, count: int) -> list[Any]:
        """Start `count` actors and wait until each has imported TF and loaded the data.

        Waiting here keeps start-up out of the trial timeout and makes a
        worker that cannot start fail loudly instead of stalling the search.
        """
        actors = [self._new_actor() for _ in range(count)]
        refs = [actor.info.remote() for actor in actors]
        deadline = time.monotonic() + ACTOR_START_TIMEOUT
        pending = refs
        while pending:
            _, pending = ray.wait(pending, num_returns=len(pending), timeout=HEALTH_INTERVAL)
            if pending:
                self._check_cluster()
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"Ray could not start {count} training worker(s) within {ACTOR_START_TIMEOUT} s "
                        "(are the requested CPUs/GPUs available in the cluster?)"
                    )
        ray.get(refs, timeout=READY_TIMEOUT)  # all ready: raises the error of a worker that failed
        return actors

    def _replace(self) -> None:
        """Start an actor in place of a lost one, without waiting: it joins `idle` once up."""
        actor = self._new_actor()
        self.starting[actor.info.remote()] = _Starting(actor, time.monotonic())

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
        if self.lost is not None:  # Ray is gone: nothing more is sent to it
            return
        share = fair_share(len(self.queue), len(self.idle) + len(self.running), self.members_per_batch)
        while self.queue and self.idle:
            batch = take_batch(self.queue, share)
            actor = self.idle.pop()
            ref = actor.run.remote(batch[0]) if len(batch) == 1 else actor.run_batch.remote(batch)
            attempts = [self.attempts.pop(t.trial_id, 0) for t in batch]
            self.running[ref] = _Running(actor, batch, time.monotonic(), attempts)

    def wait(self, timeout: float | None = None) -> list[tuple[Trial, EvalResult]]:
        """Block until at least one trial ends (or `timeout`); return the ended ones.

        Raises `ClusterLost` when Ray stopped under the pool: every poll is bounded
        (`HEALTH_INTERVAL`), so a dead head node or raylet never hangs the caller."""
        if self.lost is not None:
            raise ClusterLost(str(self.lost), self.lost.logs)
        deadline = None if timeout is None else time.monotonic() + timeout
        done: list[tuple[Trial, EvalResult]] = []
        self._dispatch()
        try:
            while not done and (self.running or (self.queue and self.starting)):
                poll = HEALTH_INTERVAL
                if deadline is not None:
                    poll = min(poll, max(0.0, deadline - time.monotonic()))
                refs = list(self.running) + list(self.starting)
                ready, _ = ray.wait(refs, num_returns=1, timeout=poll)
                for ref in ready:
                    if ref in self.starting:
                        self._started(ref)
                    else:
                        done.extend(self._collect(ref))
                done.extend(self._expire_timeouts())
                self._check_cluster()
                self._check_starved()
                self._dispatch()
                if deadline is not None and time.monotonic() >= deadline:
                    break
        except ClusterLost as err:
            self.lost = err
            if not done:
                raise
            # what finished before the loss is handed over first; the next wait() raises
        return done

    def _check_cluster(self, now: bool = False) -> None:
        """Raise ClusterLost if the head node or this machine's raylet is gone (see wait())."""
        self._watch.check(now)

    def _check_starved(self) -> None:
        """Trials wait, no worker is alive and none could be placed for ACTOR_START_TIMEOUT: give up."""
        if self.idle or self.running or not self.starting or not self.queue:
            return
        waited = time.monotonic() - min(entry.since for entry in self.starting.values())
        if waited > ACTOR_START_TIMEOUT:
            raise ClusterLost(
                f"no training worker could be placed on the Ray cluster for {waited:.0f} s "
                "(were its worker nodes lost?)",
                self._watch.logs,
            )

    def _started(self, ref: ray.ObjectRef) -> None:
        """A replacement actor answered: idle from now on (or, if it died, try another)."""
        entry = self.starting.pop(ref)
        try:
            ray.get(ref, timeout=READY_TIMEOUT)
        except (RayActorError, WorkerCrashedError, RayTaskError, GetTimeoutError) as err:
            self._check_cluster(now=True)
            self.start_failures += 1
            if self.start_failures >= START_FAILURES:
                raise ClusterLost(
                    f"{self.start_failures} training workers in a row failed to start on the Ray cluster: "
                    f"{_first_line(err)}",
                    self._watch.logs,
                ) from None
            log.warning("a new training worker failed to start (%s); starting another", _first_line(err))
            with contextlib.suppress(Exception):
                ray.kill(entry.actor, no_restart=True)
            self._replace()
            return
        self.start_failures = 0
        self.idle.append(entry.actor)

    def _collect(self, ref: ray.ObjectRef) -> list[tuple[Trial, EvalResult]]:
        entry = self.running.pop(ref)
        try:
            result = ray.get(ref, timeout=READY_TIMEOUT)  # ready: its value is here already
        except (RayActorError, WorkerCrashedError, GetTimeoutError) as err:
            return self._lost_worker(entry, err)
        except RayTaskError as err:  # an exception the trainer did not turn into a result
            self.idle.append(entry.actor)
            message = f"{type(err.cause).__name__}: {err.cause}"
            return [(trial, _failure(entry, "failed", message)) for trial in entry.trials]
        self.idle.append(entry.actor)
        results = [result] if isinstance(result, EvalResult) else list(result)
        return list(zip(entry.trials, results))

    def _lost_worker(self, entry: _Running, err: Exception) -> list[tuple[Trial, EvalResult]]:
        """The actor died mid-training (alone, or with its node): unless Ray itself is gone,
        start another in its place and retry its trials (bounded) on whichever worker is free."""
        self._check_cluster(now=True)
        log.warning(
            "a training worker was lost during trial(s) %s (%s: its process or its node died); "
            "they run again, and a new worker is starting",
            ", ".join(str(t.trial_id) for t in entry.trials),
            type(err).__name__,
        )
        with contextlib.suppress(Exception):  # an actor only unreachable for now still holds its CPU
            ray.kill(entry.actor, no_restart=True)
        self._replace()
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
                self._replace()
                message = f"training exceeded the trial timeout of {self.trial_timeout:g} s" + (
                    f" (x {len(entry.trials)} members of its batch)" if len(entry.trials) > 1 else ""
                )
                expired.extend((trial, _failure(entry, "timeout", message)) for trial in entry.trials)
        return expired

    def _actors(self) -> list[Any]:
        running = [entry.actor for entry in self.running.values()]
        return self.idle + running + [entry.actor for entry in self.starting.values()]

    def workers_info(self) -> list[dict]:
        """The info() of every worker that answers within 30 s, those still starting included
        (one that cannot be placed, or died, is left out)."""
        if self.lost is not None or not self._actors():
            return []
        refs = [actor.info.remote() for actor in self._actors()]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=30)
        infos = []
        for ref in ready:
            with contextlib.suppress(RayActorError, WorkerCrashedError, RayTaskError, GetTimeoutError):
                infos.append(ray.get(ref, timeout=READY_TIMEOUT))
        return infos

    def shutdown(self) -> None:
        if self.lost is None:  # after a loss, Ray cannot be asked: its actors went with it
            for actor in self._actors():
                with contextlib.suppress(Exception):
                    ray.kill(actor, no_restart=True)
        self.idle, self.running, self.starting = [], {}, {}
        self.queue.clear()
        if self._started_ray:
            ray.shutdown()


#: Ray settings (environment, so that they reach the driver's core worker; a cluster's own
#: system config still wins) under which a driver whose Ray stopped shuts down in about a
#: second instead of 15: it waits at most 0.5 s to flush task events to a dead GCS, and
#: exports no metrics (nothing of ours reads them) that it would wait 10 s to hand to a
#: dead metrics agent.
QUICK_SHUTDOWN_ENV = {"RAY_task_events_shutdown_flush_timeout_ms": "500", "RAY_enable_metrics_collection": "0"}


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
    for name, value in QUICK_SHUTDOWN_ENV.items():
        os.environ.setdefault(name, value)
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


def _first_line(err: BaseException) -> str:
    """Ray's errors run over many lines (and repeat the class name): their first one."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


@dataclass
class _ClusterWatch:
    """Whether the Ray this driver stands on still answers: the GCS (the head node) and
    this machine's raylet, each probed with a TCP connection (a live gRPC server accepts
    one at once; a dead one's port refuses it). Ray notices these losses itself only late:
    actors keep answering without a raylet, then the driver's core worker ends the process
    from C++ without a word when it next needs one, or after a minute without a GCS."""

    endpoints: list[tuple[str, str, int]]  # (what, host, port)
    logs: str | None = None  # Ray's log folder on this machine
    checked: float = 0.0

    @classmethod
    def of_this_driver(cls) -> _ClusterWatch:
        """The head node and the local raylet of the connected driver (none known: no probe)."""
        try:
            context = ray.get_runtime_context()
            gcs_host, gcs_port = context.gcs_address.rsplit(":", 1)
            node_id = context.get_node_id()
            node = next(n for n in ray.nodes() if n["NodeID"] == node_id)
        except Exception as err:  # e.g. a Ray client ("ray://") driver: no local raylet to probe
            log.info("Ray's head node and raylet will not be probed: %s", err)
            return cls([])
        raylet = (node["NodeManagerAddress"], int(node["NodeManagerPort"]))
        endpoints = [
            (f"the head node (GCS at {context.gcs_address})", gcs_host, int(gcs_port)),
            (f"this machine's raylet (at {raylet[0]}:{raylet[1]})", *raylet),
        ]
        socket_name = node.get("RayletSocketName") or ""  # SESSION/sockets/raylet
        logs = os.path.join(os.path.dirname(os.path.dirname(socket_name)), "logs") if socket_name else None
        return cls(endpoints, logs)

    def check(self, now: bool = False) -> None:
        """Raise ClusterLost if an endpoint refuses twice, half a second apart (not a blip).
        Probes at most every HEALTH_INTERVAL unless `now`; each waits at most CONNECT_TIMEOUT."""
        if not now and time.monotonic() - self.checked < HEALTH_INTERVAL:
            return
        self.checked = time.monotonic()
        gone = self._gone()
        if gone:
            time.sleep(0.5)
            gone = self._gone()
        if gone:
            verb = "no longer answers" if len(gone) == 1 else "no longer answer"
            raise ClusterLost(f"Ray stopped: {' and '.join(gone)} {verb}", self.logs)

    def _gone(self) -> list[str]:
        gone = []
        for what, host, port in self.endpoints:
            try:
                with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
                    pass
            except OSError:
                gone.append(what)
        return gone


#: Ray's notices of a dead raylet or node: up to 20 lines of its log and state dump each,
#: printed on the driver's stdout by a background thread. The pool reports these losses
#: itself, in one line; the notices go to this module's log (and Ray's log files).
_NODE_DEATH_NOTICES = ("Raylet is terminated", "has been marked dead")


def _quiet_node_death_notices() -> None:
    """Divert Ray's node-death notices from the terminal to the log (once per process).
    Ray prints them through `ray._private.worker.print_to_stdstream`; if a Ray version
    has no such function, its notices stay as they are."""
    import ray._private.worker as ray_worker

    printer = getattr(ray_worker, "print_to_stdstream", None)
    if printer is None or getattr(printer, "actsearch_quiet", False):
        return

    def print_unless_node_death(data: dict, *args: Any, **kwargs: Any) -> None:
        lines = data.get("lines") or []
        if data.get("pid") == "raylet" and any(n in line for line in lines for n in _NODE_DEATH_NOTICES):
            log.info("Ray: %s", "\n".join(lines))
            return
        printer(data, *args, **kwargs)

    print_unless_node_death.actsearch_quiet = True  # type: ignore[attr-defined]
    ray_worker.print_to_stdstream = print_unless_node_death
