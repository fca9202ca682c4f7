"""The trainer: task + activation + seed -> EvalResult.

Fast path: the data stay resident as tensors (:class:`ResidentData`, converted
once per data object and reusable by a long-lived worker), every epoch is
shuffled inside TensorFlow with a stateless seed, and all epochs plus the
validation pass run inside ONE traced ``tf.function`` (nested
``tf.while_loop``s, no per-batch Python). The optimizer, batch size and
number of steps per epoch are those of ``model.fit`` (``ceil(n / batch)``,
last smaller batch kept).
"""

from __future__ import annotations

import functools
import gc
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from actsearch.results import EvalResult, Partial, aggregate_fitness, one_line
from actsearch.tasks.base import Task, TaskData
from actsearch.tasks.losses import CLASSIFICATION_LOSSES, accuracy, resolve_loss, resolve_metric

from . import update
from .resolve import resolve_activation

log = logging.getLogger(__name__)

#: Validation is computed in chunks of this many examples.
EVAL_CHUNK = 4096

#: XLA for the fused epoch loop. Off by default: on CPU the compile time per
#: candidate outweighs the gain for small networks (see benchmarks/train.py).
JIT_COMPILE = os.environ.get("ACTSEARCH_JIT", "0") == "1"

#: Timing breakdown of the last training in this process (for benchmarks):
#: "setup" (build model + optimizer) and "segments", a list of
#: (epochs, steps, seconds) per compiled call; the first call includes tracing.
last_timings: dict[str, Any] = {}


class ResidentData:
    """A task's train and validation splits as TensorFlow constants.

    Build it once per data object (a long-lived worker keeps it) and pass it
    as ``train(..., data=resident)``. The test split is not converted; use
    ``ResidentData(data, splits=("train", "val", "test"))`` only for
    validation after a search."""

    x_train: tf.Tensor
    y_train: tf.Tensor
    x_val: tf.Tensor
    y_val: tf.Tensor

    def __init__(self, data: TaskData, splits: Sequence[str] = ("train", "val")):
        self.source = data
        self.splits = tuple(splits)
        for split in ("train", "val", "test"):
            if split in self.splits:
                setattr(self, f"x_{split}", _as_tensor(getattr(data, f"x_{split}")))
                setattr(self, f"y_{split}", _as_tensor(getattr(data, f"y_{split}")))
        self.n_train = int(data.y_train.shape[0])
        self.n_val = int(data.y_val.shape[0])


def _as_tensor(a: np.ndarray):
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.floating) and a.dtype != np.float32:
        a = a.astype(np.float32)
    elif a.dtype == np.int64:
        a = a.astype(np.int32)
    return tf.constant(a)


_RESIDENT_CACHE: list[tuple[TaskData, ResidentData]] = []


def prepare_data(data: TaskData | ResidentData) -> ResidentData:
    """Convert once and remember the last few conversions (by identity)."""
    if isinstance(data, ResidentData):
        return data
    for src, resident in _RESIDENT_CACHE:
        if src is data:
            return resident
    resident = ResidentData(data)
    _RESIDENT_CACHE.append((data, resident))
    del _RESIDENT_CACHE[:-4]
    return resident


def _make_optimizer(name: str, learning_rate: float):
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate)
    raise ValueError(f"unknown optimizer {name!r}")


@dataclass
class _RunOut:
    epoch: int
    steps: int
    finite: bool
    train_loss: float
    val_loss: float
    val_metric: float
    val_acc: float | None


def _build_runner(
    model,
    optimizer,
    loss_fn,
    metric_fn,
    rd: ResidentData,
    batch_size: int,
    seed: int,
    with_acc: bool,
    jit_compile: bool,
    record_steps: int = 0,
):
    """One tf.function that trains epochs [start, end) and then evaluates on
    the validation split. Traced once per candidate."""
    x_train, y_train = rd.x_train, rd.y_train
    x_val, y_val = rd.x_val, rd.y_val
    n = rd.n_train
    n_val = rd.n_val
    b = int(batch_size)
    steps_per_epoch = max(1, math.ceil(n / b))
    tvars = model.trainable_variables
    seed_t = tf.constant(seed % (2**31 - 1), tf.int64)
    # the losses of the first `record_steps` steps (row record_steps collects the rest)
    history = tf.Variable(tf.zeros([record_steps + 1])) if record_steps else None

    def train_step(xb, yb):
        with tf.GradientTape() as tape:
            out = model(xb, training=True)
            loss = loss_fn(yb, out)
            if model.losses:
                loss = loss + tf.add_n(model.losses)
        grads = tape.gradient(loss, tvars)
        pairs = [(g, v) for g, v in zip(grads, tvars) if g is not None]
        update.apply_gradients(optimizer, [g for g, _ in pairs], [v for _, v in pairs])
        return loss

    def run(epoch_start, epoch_end):
        def epoch_cond(epoch, steps, finite, last_loss):
            return tf.logical_and(epoch < epoch_end, finite)

        def epoch_body(epoch, steps, finite, last_loss):
            keys = tf.random.stateless_uniform([n], seed=tf.stack([seed_t, tf.cast(epoch, tf.int64)]))
            perm = tf.argsort(keys)

            def step_cond(i, loss_sum, finite):
                return tf.logical_and(i < steps_per_epoch, finite)

            def step_body(i, loss_sum, finite):
                idx = perm[i * b : tf.minimum((i + 1) * b, n)]
                loss = train_step(tf.gather(x_train, idx), tf.gather(y_train, idx))
                loss = tf.cast(loss, tf.float32)
                if history is not None:
                    row = tf.minimum(epoch * steps_per_epoch + i, record_steps)
                    history.scatter_nd_update([[row]], [loss])
                return i + 1, loss_sum + loss, tf.math.is_finite(loss)

            i, loss_sum, finite = tf.while_loop(
                step_cond, step_body, (tf.constant(0), tf.constant(0.0), tf.constant(True))
            )
            return (epoch + 1, steps + i, finite, loss_sum / tf.cast(tf.maximum(i, 1), tf.float32))

        epoch, steps, finite, last_loss = tf.while_loop(
            epoch_cond, epoch_body, (epoch_start, tf.constant(0), tf.constant(True), tf.constant(0.0))
        )

        # validation in chunks, weighted means
        n_chunks = (n_val + EVAL_CHUNK - 1) // EVAL_CHUNK

        def val_body(c, vloss, vmetric, vacc):
            lo = c * EVAL_CHUNK
            hi = tf.minimum(lo + EVAL_CHUNK, n_val)
            xb, yb = x_val[lo:hi], y_val[lo:hi]
            out = model(xb, training=False)
            w = tf.cast(hi - lo, tf.float32)
            vl = tf.cast(loss_fn(yb, out), tf.float32) * w
            vm = tf.cast(metric_fn(yb, out), tf.float32) * w
            va = accuracy(yb, out) * w if with_acc else tf.constant(0.0)
            return c + 1, vloss + vl, vmetric + vm, vacc + va

        _, vloss, vmetric, vacc = tf.while_loop(
            lambda c, *_: c < n_chunks, val_body, (tf.constant(0), tf.constant(0.0), tf.constant(0.0), tf.constant(0.0))
        )
        nv = float(n_val)
        return epoch, steps, finite, last_loss, vloss / nv, vmetric / nv, vacc / nv

    compiled = tf.function(run, jit_compile=jit_compile, autograph=False)
    if history is not None:
        last_timings["step_losses"] = history

    def call(epoch_start: int, epoch_end: int) -> _RunOut:
        epoch, steps, finite, last_loss, vloss, vmetric, vacc = compiled(
            tf.constant(epoch_start), tf.constant(epoch_end)
        )
        return _RunOut(
            epoch=int(epoch),
            steps=int(steps),
            finite=bool(finite),
            train_loss=float(last_loss),
            val_loss=float(vloss),
            val_metric=float(vmetric),
            val_acc=float(vacc) if with_acc else None,
        )

    return call


def train(
    task: Task,
    activation: Any,
    *,
    seed: int,
    data: TaskData | ResidentData | None = None,
    epochs: int | None = None,
    hurdle: tuple[int, float] | None = None,
    parametric: bool = False,
    jit_compile: bool | None = None,
    record_steps: int = 0,
) -> EvalResult:
    """Train ``task``'s model with ``activation`` in every hidden layer.

    ``activation``: an expression string, an ``actsearch.expr.Activation``, a
    Keras activation name (``"relu"``), a callable or a Keras layer.
    ``seed`` fixes weights and shuffling (same seed -> same result).
    ``data``: the task's data, or a :class:`ResidentData` converted once by a
    long-lived worker; default ``task.get_data()`` (converted and cached).
    ``epochs`` overrides ``task.setup.epochs``.
    ``hurdle=(e, threshold)``: after epoch ``e`` the validation fitness is
    recorded as a :class:`Partial`; if it is below ``threshold`` the training
    stops with status "stopped" and the metrics at epoch ``e``.

    Fitness: the validation metric if ``task.higher_is_better`` else its
    negation; val_accuracy is set for classification losses.
    ``record_steps``: keep the training losses of the first steps in
    ``last_timings["step_losses"]`` (for tests and benchmarks).
    ``train_seconds`` is the wall time of model building, tracing, the
    training loop and validation (not data loading or conversion).

    Never raises: an exception or a non-finite loss gives status "failed" with
    the error text.
    """
    # Memory of a long-lived worker stays flat because (1) the gradient
    # functions TensorFlow registers globally while tracing are unregistered
    # (they referenced every training's traced graphs, see
    # _forget_custom_gradients), and (2) the training's traced graphs, model
    # and optimizer, which are reference cycles, are freed right after the
    # training: the cyclic gc is paused during the training so that all the
    # objects it creates stay in the youngest generation, and one collection of
    # that generation (milliseconds, unlike a full gc.collect() over the
    # ~400k objects of TensorFlow/Keras: 0.2 s) frees them. When they are
    # freed, TensorFlow removes their functions from the eager context.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    result = None
    try:
        result = _train_and_forget(
            task,
            activation,
            seed=seed,
            data=data,
            epochs=epochs,
            hurdle=hurdle,
            parametric=parametric,
            jit_compile=jit_compile,
            record_steps=record_steps,
        )
        return result
    finally:
        if gc_was_enabled:
            gc.enable()
            gc.collect(2 if _raised(result) else 0)


def _raised(result: EvalResult | None) -> bool:
    """Whether the training failed with an exception (not a non-finite loss).
    The graphs of a trace interrupted by an exception are still referenced
    from outside the youngest generation when the training ends; only a full
    collection (0.2 s) frees them (those of the previous such failure, at the
    latest), so this is done for these failures only."""
    return result is None or (result.status == "failed" and not (result.error or "").startswith("non-finite"))


def _train_and_forget(task: Task, activation: Any, **kwargs: Any) -> EvalResult:
    grads_before = _custom_gradient_names()
    try:
        return _train_impl(task, activation, **kwargs)
    finally:
        _forget_custom_gradients(grads_before)


def _gradient_registry() -> dict | None:
    """TensorFlow's process-global gradient registry (name -> entry), or None
    (with a warning, once) if this TensorFlow version does not have it where
    we expect it: trainings then work, but a long-lived worker's memory grows.
    tests/test_train.py fails when that happens, so an upgrade cannot lose
    the fix silently."""
    try:
        from tensorflow.python.framework import ops as tf_ops

        registry = tf_ops._gradient_registry._registry
    except (ImportError, AttributeError):
        registry = None
    if not isinstance(registry, dict):
        _warn_once("TensorFlow's ops._gradient_registry moved: traced graphs are not freed after each training")
        return None
    return registry


@functools.cache
def _warn_once(message: str) -> None:
    log.warning(message)


def _custom_gradient_names() -> set[str]:
    registry = _gradient_registry()
    if registry is None:
        return set()
    return {name for name in list(registry) if str(name).startswith("CustomGradient-")}


def _forget_custom_gradients(before: set[str]) -> None:
    """Unregister the ``CustomGradient-<uid>`` gradient functions this training
    registered; they are what kept every training's traced graphs alive.

    Each traced optimizer step goes through Keras' ``_all_reduce_sum_gradients``
    -> ``ReplicaContext.all_reduce``, a ``@tf.custom_gradient`` function. In
    graph mode TensorFlow registers its gradient as ``CustomGradient-<uid>`` in
    the global ``ops._gradient_registry`` and never unregisters it; the entry's
    closure references the step's symbolic gradient tensors, hence the
    while-loop body graph, its captures, the outer while graphs and the traced
    ``run`` FuncGraph (with the model, optimizer and the activation): about
    4.5 MB per training in a long-lived worker. The gradient of those ops is
    never needed once the training is traced (nothing differentiates through
    the optimizer update), so dropping the entries afterwards is safe. (A
    worker trains one candidate at a time; a custom gradient registered by
    another thread during the training would be dropped as well.)"""
    registry = _gradient_registry()
    if registry is None:
        return
    for name in list(registry):
        if str(name).startswith("CustomGradient-") and name not in before:
            registry.pop(name, None)


def _train_impl(
    task: Task,
    activation: Any,
    *,
    seed: int,
    data,
    epochs,
    hurdle,
    parametric: bool,
    jit_compile: bool | None,
    record_steps: int = 0,
) -> EvalResult:
    budget = task.setup
    n_epochs = int(epochs if epochs is not None else budget.epochs)
    batch_size = budget.batch_size
    jit = JIT_COMPILE if jit_compile is None else jit_compile
    t0 = None
    partials: list[Partial] = []
    done_epochs, done_steps = 0, 0
    try:
        rd = prepare_data(data if data is not None else task.get_data())
        # reset Keras' global state; no full gc.collect() (0.2 s): train()
        # frees the previous training's graphs itself (see there)
        keras.backend.clear_session(free_memory=False)
        keras.utils.set_random_seed(seed)
        t0 = time.perf_counter()
        act = resolve_activation(activation, parametric=parametric)
        model = task.build_model(act)
        optimizer = _make_optimizer(budget.optimizer, budget.learning_rate)
        optimizer.build(model.trainable_variables)
        loss_fn = resolve_loss(task.loss)
        metric_fn = resolve_metric(task.metric, loss_fn)
        with_acc = task.metric == "accuracy" or task.loss in CLASSIFICATION_LOSSES
        last_timings.clear()
        runner = _build_runner(model, optimizer, loss_fn, metric_fn, rd, batch_size, seed, with_acc, jit, record_steps)
        last_timings.update(setup=time.perf_counter() - t0, segments=[])

        def fitness_of(out: _RunOut) -> float:
            return out.val_metric if task.higher_is_better else -out.val_metric

        def failure(out: _RunOut | None, msg: str) -> EvalResult:
            return EvalResult.failed(
                msg,
                train_seconds=time.perf_counter() - t0,
                epochs=done_epochs,
                steps=done_steps,
                batch_size=batch_size,
                partials=tuple(partials),
            )

        def finished(out: _RunOut, status: str) -> EvalResult:
            """The result at the end of the last segment run ("ok") or at a hurdle ("stopped")."""
            return EvalResult(
                status=status,
                fitness=fitness_of(out),
                val_accuracy=out.val_acc,
                val_loss=out.val_loss,
                train_seconds=time.perf_counter() - t0,
                epochs=done_epochs,
                steps=done_steps,
                batch_size=batch_size,
                partials=tuple(partials),
            )

        def check(out: _RunOut) -> str | None:
            if not out.finite:
                return f"non-finite training loss ({out.train_loss}) in epoch {out.epoch} after {done_steps} steps"
            if not (math.isfinite(out.val_loss) and math.isfinite(out.val_metric)):
                return f"non-finite validation loss/metric ({out.val_loss}, {out.val_metric}) after epoch {out.epoch}"
            return None

        segments = [(0, n_epochs)]
        if hurdle is not None:
            h_epoch = int(hurdle[0])
            if h_epoch < 1:
                raise ValueError(f"hurdle epoch must be >= 1, got {h_epoch}")
            h_epoch = min(h_epoch, n_epochs)
            segments = [(0, h_epoch)] + ([(h_epoch, n_epochs)] if h_epoch < n_epochs else [])

        out = None
        for start, end in segments:
            t_seg = time.perf_counter()
            out = runner(start, end)
            last_timings["segments"].append((end - start, out.steps, time.perf_counter() - t_seg))
            done_steps += out.steps
            done_epochs = out.epoch if out.finite else out.epoch - 1
            err = check(out)
            if err:
                return failure(out, err)
            if hurdle is not None and end == min(int(hurdle[0]), n_epochs):
                partials.append(
                    Partial(epochs=end, val_accuracy=out.val_acc, fitness=fitness_of(out), val_loss=out.val_loss)
                )
                if end < n_epochs and fitness_of(out) < float(hurdle[1]):
                    return finished(out, "stopped")
        assert out is not None
        return finished(out, "ok")
    except Exception as exc:
        return EvalResult.failed(
            one_line(exc),
            train_seconds=(time.perf_counter() - t0) if t0 is not None else 0.0,
            epochs=done_epochs,
            steps=done_steps,
            batch_size=batch_size,
            partials=tuple(partials),
        )


def train_seeds(
    task: Task,
    activation: Any,
    seeds: Sequence[int],
    **kwargs: Any,
) -> tuple[float | None, float | None, list[EvalResult]]:
    """Train once per seed; return (mean fitness, spread, results), aggregated
    like a search candidate (:func:`actsearch.results.aggregate_fitness`)."""
    results = [train(task, activation, seed=s, **kwargs) for s in seeds]
    mean, spread = aggregate_fitness(r.scored for r in results)
    return mean, spread, results
