"""Executors hand workers batches of trials (real local Ray, real tiny trainings)."""

from __future__ import annotations

import time
from collections import deque

import pytest
import ray

from actsearch.execute import Trial, make_executor
from actsearch.execute.batching import fair_share, members_per_batch, take_batch
from actsearch.execute.ray_pool import RayExecutor
from actsearch.expr import Activation
from actsearch.tasks import get_task

TASK = "digits-mlp"


def _trial(i: int, expr: str = "relu(x)", seed: int = 0, epochs: int = 2, rungs=()) -> Trial:
    return Trial(trial_id=i, candidate_id=i, expr=expr, seed=seed, epochs=epochs, rungs=rungs, task=TASK)


def test_take_batch_groups_one_kind_oldest_first() -> None:
    queue = deque(
        [
            _trial(1),
            _trial(2, epochs=3),
            _trial(3),
            _trial(4, rungs=((1, 0.5),)),
            _trial(5),
            _trial(6, rungs=((1, 0.7),)),
        ]
    )
    assert [t.trial_id for t in take_batch(queue, 2)] == [1, 3]
    assert [t.trial_id for t in queue] == [2, 4, 5, 6]
    assert [t.trial_id for t in take_batch(queue, 8)] == [2]
    assert [t.trial_id for t in take_batch(queue, 8)] == [4, 6]  # own thresholds, the same rung epochs
    assert fair_share(9, 2, 8) == 5 and fair_share(40, 2, 8) == 8 and fair_share(1, 3, 8) == 1


class _FakeActor:
    """Records what the executor hands it (no Ray): `run_batch.remote(batch)` returns a ref."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.run = self.run_batch = self

    def remote(self, batch):
        self.batches.append([t.trial_id for t in (batch if isinstance(batch, list) else [batch])])
        return object()


def test_dispatch_spreads_the_queue_over_busy_workers_too() -> None:
    executor = object.__new__(RayExecutor)  # only the dispatch state, no Ray
    a, b = _FakeActor(), _FakeActor()
    executor.idle, executor.running, executor.attempts, executor.lost = [a, b], {}, {}, None
    executor.members_per_batch = 8
    executor.queue = deque(_trial(i) for i in range(16))
    executor._dispatch()
    assert sorted(len(x) for x in a.batches + b.batches) == [8, 8]
    done = next(ref for ref, entry in executor.running.items() if entry.actor is b)
    executor.running.pop(done)
    executor.idle.append(b)
    executor.queue.extend(_trial(i) for i in range(16, 24))  # the rest of a generation
    executor._dispatch()
    assert len(b.batches[-1]) == 4 and len(executor.queue) == 4  # half: a takes the rest when it finishes


def test_members_per_batch_defaults() -> None:
    assert members_per_batch(None, 1, use_gpu=False) == 1
    assert members_per_batch(None, 5, use_gpu=False) == 5  # one candidate with all its seeds
    assert members_per_batch(None, 1, use_gpu=True) == 32
    assert members_per_batch(None, 3, use_gpu=False, local=True) == 3
    assert members_per_batch(4, 2, use_gpu=True) == 8


def test_executors_take_task_names_and_refuse_a_lone_string() -> None:
    """A string is a sequence of one-letter names: refused before TensorFlow loads."""
    with pytest.raises(TypeError, match="sequence of task names"):
        make_executor("local", TASK, None)
    with pytest.raises(ValueError, match="2 task\\(s\\) but 1 data set"):
        make_executor("local", (TASK, "mnist1d-mlp"), [None])


@pytest.mark.slow
def test_in_process_executor_trains_a_batch() -> None:
    executor = make_executor("local", (TASK,), None, members_per_batch=3)
    try:
        assert executor.capacity == 3
        for i, expr in enumerate(["relu(x)", "tanh(x)", "x*sigmoid(x)", "relu(x)"]):
            executor.submit(_trial(i, expr))
        first = executor.wait()
        assert [t.trial_id for t, _ in first] == [0, 1, 2]
        assert all(r.status == "ok" and r.batch_seconds is not None for _, r in first)
        assert len({r.batch_seconds for _, r in first}) == 1  # one program
        (last,) = executor.wait()
        assert last[0].trial_id == 3 and last[1].batch_seconds is None  # alone: today's trainer
        for trial, result in [*first, last]:  # each reports the form it trained: the canonical one
            assert result.expr == str(Activation.parse(trial.expr))
    finally:
        executor.shutdown()


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module's two tests (a start costs about 7 CPU seconds)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_workers_train_batches_and_a_nan_member_fails_alone(local_ray) -> None:
    executor = RayExecutor((TASK,), (get_task(TASK).load_data(),), workers=2, members_per_batch=3)
    try:
        assert executor.capacity == 6
        exprs = ["relu(x)", "cube(cube(cube(exp(x))))", "tanh(x)", "x*sigmoid(x)", "sigmoid(x)", "elu(x)"]
        for i, expr in enumerate(exprs):
            executor.submit(_trial(i, expr))
        assert executor.in_flight == 6
        results, deadline = {}, time.monotonic() + 300
        while len(results) < 6 and time.monotonic() < deadline:
            results.update((t.trial_id, r) for t, r in executor.wait(timeout=5))
        assert results[1].status == "failed" and "non-finite" in results[1].error
        assert all(results[i].status == "ok" for i in (0, 2, 3, 4, 5))
        assert len({r.batch_seconds for r in results.values()}) == 2  # two batches of three
        assert len({r.worker for r in results.values()}) == 2
        assert sorted(info["trials"] for info in executor.workers_info()) == [3, 3]
    finally:
        executor.shutdown()


@pytest.mark.long  # `make test-long`
@pytest.mark.slow
def test_search_on_ray_with_batches(local_ray, tmp_path) -> None:
    from support import TINY_SPACE

    from actsearch.search import SearchRequest, run_search
    from actsearch.store import Store

    db = tmp_path / "batched.db"
    outcome = run_search(  # on the module's Ray: the executor starts none of its own
        SearchRequest(space=str(TINY_SPACE), db=str(db), run="batched", seed=3, workers=2, batch_candidates=3)
    )
    store = Store.open(db)
    evaluations = [e for c in store.candidates(outcome.run.id) for e in store.evaluations(c.id)]
    assert outcome.trained == len([e for e in evaluations if e.partial_of is None]) > 8
    assert {e.status for e in evaluations} <= {"ok", "failed"}
    assert len({e.worker for e in evaluations}) == 2
    assert outcome.best is not None and outcome.leaderboard
