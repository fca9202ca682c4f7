"""The training worker: lives as long as the executor, trains many trials.

TensorFlow is imported when a worker starts, once per worker process, and
the task's data is converted to tensors once and reused for every trial.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from typing import Any

from actsearch.execute.trial import Trial
from actsearch.results import EvalResult


def configure_tensorflow(threads: int, use_gpu: bool) -> None:
    """Pin TF's thread pools and let trials share a GPU (before TF touches it)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(max(1, threads))
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, threads)))
    except RuntimeError:  # TF already running in this process (in-process executor): keep it
        pass
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    if not use_gpu and gpus:
        tf.config.set_visible_devices([], "GPU")


def _normal_priority() -> None:
    """Ray starts workers at a low priority (nice 15); trainings are the point of the search."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    except (OSError, AttributeError):  # not permitted (not root) or not POSIX: keep Ray's
        pass


def _paired(tasks: Sequence[str], data: Sequence[Any] | None) -> list[tuple[str, Any]]:
    """(task name, data) pairs of a worker: the names with their data sets in the same
    order (None, or a None entry: the task loads its own). A lone string is refused: it
    would be a sequence of one-letter task names."""
    if isinstance(tasks, str):
        raise TypeError(f"tasks must be a sequence of task names, not the string {tasks!r}")
    names = list(tasks)
    datas = [None] * len(names) if data is None else list(data)
    if not names or len(datas) != len(names):
        raise ValueError(f"{len(names)} task(s) but {len(datas)} data set(s)")
    return list(zip(names, datas))


class TrainingWorker:
    """Trains trials of the tasks it holds (a trial names its task); usable in-process
    or as a Ray actor."""

    def __init__(
        self,
        tasks: Sequence[str],
        data: Sequence[Any] | None = None,
        threads: int = 1,
        use_gpu: bool = False,
        ray_actor: bool = False,
    ) -> None:
        pairs = _paired(tasks, data)  # before TensorFlow: a wrong call fails at once
        if ray_actor:
            _normal_priority()
        configure_tensorflow(threads, use_gpu)
        from actsearch.tasks import get_task
        from actsearch.train import prepare_data

        self.tasks: dict[str, tuple[Any, Any]] = {}
        for name, given in pairs:
            task = get_task(name)
            self.tasks[name] = (task, prepare_data(given if given is not None else task.get_data()))
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.busy_seconds = 0.0
        self.trials = 0

    def run(self, trial: Trial) -> EvalResult:
        from dataclasses import replace

        from actsearch.train import train

        task, data = self._task(trial)
        started = time.perf_counter()
        try:
            result = train(
                task,
                trained_activation(trial),
                seed=trial.seed,
                data=data,
                epochs=trial.epochs,
                rungs=trial.rungs,
                parametric=trial.parametric,
            )
        finally:
            self.busy_seconds += time.perf_counter() - started
            self.trials += 1
        return replace(result, worker=self.name, expr=trained_form(trial.expr))

    def run_batch(self, trials: list[Trial]) -> list[EvalResult]:
        """Train trials of one kind (epochs, rung epochs, parametric; see batching.batch_key)
        in one program (see train_batch); each keeps its own rung thresholds."""
        from dataclasses import replace

        from actsearch.train.batch import BatchMember, train_batch

        first = trials[0]
        task, data = self._task(first)
        started = time.perf_counter()
        try:
            results = train_batch(
                task,
                [BatchMember(trained_activation(t), t.seed, tuple(th for _, th in t.rungs)) for t in trials],
                data=data,
                epochs=first.epochs,
                rungs=first.rungs,
                parametric=first.parametric,
            )
        finally:
            self.busy_seconds += time.perf_counter() - started
            self.trials += len(trials)
        return [replace(r, worker=self.name, expr=trained_form(t.expr)) for t, r in zip(trials, results)]

    def _task(self, trial: Trial) -> tuple[Any, Any]:
        """The task and prepared data a trial trains on."""
        if trial.task not in self.tasks:
            raise ValueError(f"this worker has no task {trial.task!r} (it has {', '.join(self.tasks)})")
        return self.tasks[trial.task]

    def info(self) -> dict[str, Any]:
        """Identity and health of this worker (pid, node, GPUs Ray gave it, memory)."""
        import resource

        info: dict[str, Any] = {
            "name": self.name,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "trials": self.trials,
            "busy_seconds": self.busy_seconds,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_mb": _current_rss_mb(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        }
        try:
            import ray

            if ray.is_initialized():
                ctx = ray.get_runtime_context()
                info["node_id"] = ctx.get_node_id()
                info["gpu_ids"] = [str(g) for g in ray.get_gpu_ids()]
        except Exception:
            pass
        return info


def trained_activation(trial: Trial) -> Any:
    """What a trial trains: its expression text (the trainer parses and canonicalises it), or
    the exact tree its prefix text spells (`Trial.exact`: constants stay where they are); a
    malformed text is left to the trainer, which reports it as the training's failure."""
    if not trial.exact:
        return trial.expr
    from actsearch.expr import Activation, parse

    try:
        return Activation.exact(parse(trial.expr))
    except ValueError:
        return trial.expr


def trained_form(expr: str) -> str | None:
    """The canonical text of the activation a trial's expression trains (the trainer parsed
    it already: the canonical form is cached); None if it does not parse."""
    from actsearch.expr import Activation

    try:
        return str(Activation.parse(expr))
    except Exception:
        return None


def _current_rss_mb() -> float | None:
    """Resident memory now (Linux /proc; None elsewhere), next to the peak `max_rss_mb`."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None
