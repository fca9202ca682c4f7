"""The Ray executor on real local Ray: failures survived, timeouts, GPU shares, two nodes."""

from __future__ import annotations

import os
import signal
import time

import pytest
import ray

from actsearch.execute import Trial
from actsearch.execute.ray_pool import RayExecutor
from actsearch.tasks import get_task

pytestmark = [pytest.mark.slow, pytest.mark.long]  # long: `make test-long` (faults on a real Ray pool)

TASK = "digits-mlp"


@pytest.fixture(scope="module")
def data():
    return get_task(TASK).load_data()


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (a start costs about 7 CPU seconds), with one logical
    GPU for the GPU-share test (four CPUs: one per GPU share; Ray starts a worker per CPU
    ahead of need); the other executors ask for no GPU."""
    ray.init(num_cpus=4, num_gpus=1, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _trial(i: int, expr: str = "relu(x)", epochs: int = 2) -> Trial:
    return Trial(trial_id=i, candidate_id=i, expr=expr, seed=0, epochs=epochs, task=TASK)


def _drain(executor: RayExecutor, expected: int, timeout: float = 240) -> dict[int, object]:
    results: dict[int, object] = {}
    deadline = time.monotonic() + timeout
    while len(results) < expected and time.monotonic() < deadline:
        for trial, result in executor.wait(timeout=5):
            results[trial.trial_id] = result
    return results


def test_killed_worker_costs_only_its_trial(local_ray, data) -> None:
    executor = RayExecutor((TASK,), (data,), workers=2, max_retries=2)
    try:
        pid_of = {actor: ray.get(actor.info.remote(), timeout=120)["pid"] for actor in executor.idle}
        executor.submit(_trial(1, epochs=1000))  # about 5 s: long enough to be killed mid-training
        (victim,) = [entry.actor for entry in executor.running.values()]
        victim_pid = pid_of[victim]
        executor.submit(_trial(2, epochs=2))
        time.sleep(2)
        os.kill(victim_pid, signal.SIGKILL)
        results = _drain(executor, 2)
        assert set(results) == {1, 2}
        assert results[1].status == "ok" and results[2].status == "ok"
        assert results[1].worker and not results[1].worker.endswith(f":{victim_pid}")
        pids = {info["pid"] for info in executor.workers_info()}
        assert victim_pid not in pids and len(pids) == 2  # the dead actor was replaced
    finally:
        executor.shutdown()


def test_trial_timeout_is_recorded_and_worker_replaced(local_ray, data) -> None:
    executor = RayExecutor((TASK,), (data,), workers=1, trial_timeout=4)
    try:
        executor.submit(_trial(1, epochs=2))
        first = _drain(executor, 1)  # warm-up: TF import and first trace happen here
        assert first[1].status == "ok"
        executor.submit(_trial(2, epochs=5000))
        results = _drain(executor, 1)
        assert results[2].status == "timeout" and "timeout" in results[2].error
        executor.submit(_trial(3, epochs=2))
        assert _drain(executor, 1)[3].status == "ok"  # a fresh worker took over
    finally:
        executor.shutdown()


def test_nan_candidate_fails_without_stopping_others(local_ray, data) -> None:
    executor = RayExecutor((TASK,), (data,), workers=2)
    try:
        executor.submit(_trial(1, expr="cube(cube(cube(exp(x))))"))
        executor.submit(_trial(2, expr="x * sigmoid(x)"))
        results = _drain(executor, 2)
        assert results[1].status == "failed" and "non-finite" in results[1].error
        assert results[2].status == "ok"
    finally:
        executor.shutdown()


def test_fractional_gpus_share_one_logical_gpu(local_ray, data) -> None:
    """F=0.25 on one (logical) GPU: four trainings at once, a fifth worker is not placed."""
    executor = RayExecutor((TASK,), (data,), workers=5, gpus_per_trial=0.25)
    try:
        assert executor.capacity == 4
        for i in range(4):
            executor.submit(_trial(i, epochs=40))
        assert executor.in_flight == 4
        with pytest.raises(RuntimeError, match="no idle worker"):
            executor.submit(_trial(5))
        infos = executor.workers_info()
        assert len(infos) == 4
        assert all(info["gpu_ids"] == ["0"] for info in infos), infos
        assert all(info["cuda_visible_devices"] == "0" for info in infos)
        assert len(_drain(executor, 4)) == 4
        assert ray.available_resources().get("GPU", 0) == 0  # the four actors hold it all
    finally:
        executor.shutdown()
