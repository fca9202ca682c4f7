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

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from actsearch.expr.keras_layer import learned_constants
from actsearch.results import EvalResult, Partial, aggregate_fitness, one_line
from actsearch.tasks.base import Task, TaskData
from actsearch.tasks.losses import accuracy

from . import update
from .diagnostics import Diagnostics, Segment
from .recipe import (
    EVAL_CHUNK,
    GraphRelease,
    Objective,
    ResidentData,
    build_model,
    epoch_segments,
    make_optimizer,
    objective,
    prepare_data,
    rung_thresholds,
    task_data,
)

__all__ = ["ResidentData", "prepare_data", "train", "train_seeds", "train_with_diagnostics"]

#: XLA for the fused epoch loop. Off by default: on CPU the compile time per
#: candidate outweighs the gain for small networks (see benchmarks/train.py).
JIT_COMPILE = os.environ.get("ACTSEARCH_JIT", "0") == "1"


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
    model: Any,
    optimizer: Any,
    obj: Objective,
    rd: ResidentData,
    batch_size: int,
    seed: int,
    jit_compile: bool,
    fused: bool,
    history: tf.Variable | None,
) -> Any:
    """One tf.function that trains epochs [start, end) and then evaluates on
    the validation split. Traced once per candidate. ``history``: a variable
    of ``record_steps + 1`` rows for the first steps' losses (the last row
    takes the rest), or None."""
    loss_fn, metric_fn, with_acc = obj.loss, obj.metric, obj.with_accuracy
    x_train, y_train = rd.x_train, rd.y_train
    x_val, y_val = rd.x_val, rd.y_val
    n = rd.n_train
    n_val = rd.n_val
    b = int(batch_size)
    steps_per_epoch = max(1, math.ceil(n / b))
    tvars = model.trainable_variables
    seed_t = tf.constant(seed % (2**31 - 1), tf.int64)
    record_steps = int(history.shape[0]) - 1 if history is not None else 0

    def train_step(xb, yb):
        with tf.GradientTape() as tape:
            out = model(xb, training=True)
            loss = loss_fn(yb, out)
            if model.losses:
                loss = loss + tf.add_n(model.losses)
        grads = tape.gradient(loss, tvars)
        pairs = [(g, v) for g, v in zip(grads, tvars) if g is not None]
        update.apply_gradients(optimizer, [g for g, _ in pairs], [v for _, v in pairs], fused)
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
    rungs: Sequence[tuple[int, float]] = (),
    parametric: bool = False,
    jit_compile: bool | None = None,
    fused: bool | None = None,
) -> EvalResult:
    """Train ``task``'s model with ``activation`` in every hidden layer.

    ``activation``: an expression string, an ``actsearch.expr.Activation``, a
    Keras activation name (``"relu"``), a callable or a Keras layer.
    ``seed`` fixes weights and shuffling (same seed -> same result).
    ``data``: the task's data, or a :class:`ResidentData` converted once by a
    long-lived worker; default ``task.get_data()`` (converted and cached).
    ``epochs`` overrides ``task.setup.epochs``.
    ``rungs=((e, threshold), ...)``: multi-fidelity checkpoints, by epoch: after
    epoch ``e`` the validation fitness is recorded as a :class:`Partial`; if it
    is below that rung's ``threshold`` the training stops with status "stopped"
    and the metrics at epoch ``e``.
    ``fused``: use the fused Adam update (True), Keras' own (False) or the
    automatic rule of :func:`actsearch.train.update.wanted` (None).

    Fitness: the validation metric if ``task.higher_is_better`` else its
    negation; val_accuracy is set for classification losses.
    ``train_seconds`` is the wall time of model building, tracing, the
    training loop and validation (not data loading or conversion).

    Never raises: an exception or a non-finite loss gives status "failed" with
    the error text. :func:`train_with_diagnostics` also returns timings.
    """
    result, _ = train_with_diagnostics(
        task,
        activation,
        seed=seed,
        data=data,
        epochs=epochs,
        rungs=rungs,
        parametric=parametric,
        jit_compile=jit_compile,
        fused=fused,
    )
    return result


def train_with_diagnostics(
    task: Task,
    activation: Any,
    *,
    seed: int,
    data: TaskData | ResidentData | None = None,
    epochs: int | None = None,
    rungs: Sequence[tuple[int, float]] = (),
    parametric: bool = False,
    jit_compile: bool | None = None,
    fused: bool | None = None,
    record_steps: int = 0,
) -> tuple[EvalResult, Diagnostics]:
    """:func:`train`, with the figures of this training (benchmarks, tests):
    set-up and per-call times, which update ran and, with ``record_steps=n``,
    the losses of the first n steps."""
    diagnostics = Diagnostics()
    result = None
    # the memory of a long-lived worker stays flat: see GraphRelease
    with GraphRelease() as release:
        result = _train_impl(
            task,
            activation,
            seed=seed,
            data=data,
            epochs=epochs,
            rungs=rungs,
            parametric=parametric,
            jit_compile=jit_compile,
            fused=fused,
            record_steps=record_steps,
            diagnostics=diagnostics,
        )
        release.full_collection = _raised(result)
    return result, diagnostics


def _raised(result: EvalResult | None) -> bool:
    """Whether the training failed with an exception (not a non-finite loss).
    The graphs of a trace interrupted by an exception are still referenced
    from outside the youngest generation when the training ends; only a full
    collection (0.2 s) frees them (those of the previous such failure, at the
    latest), so this is done for these failures only."""
    return result is None or (result.status == "failed" and not (result.error or "").startswith("non-finite"))


def _train_impl(
    task: Task,
    activation: Any,
    *,
    seed: int,
    data: TaskData | ResidentData | None,
    epochs: int | None,
    rungs: Sequence[tuple[int, float]],
    parametric: bool,
    jit_compile: bool | None,
    fused: bool | None = None,
    record_steps: int = 0,
    diagnostics: Diagnostics | None = None,
) -> EvalResult:
    """One training, without the clean-up of :class:`GraphRelease`."""
    diag = diagnostics if diagnostics is not None else Diagnostics()
    setup = task.setup
    n_epochs = int(epochs if epochs is not None else setup.epochs)
    batch_size = setup.batch_size
    jit = JIT_COMPILE if jit_compile is None else jit_compile
    t0 = None
    partials: list[Partial] = []
    done_epochs, done_steps = 0, 0
    history = None
    try:
        rd = task_data(task, data)
        t0 = time.perf_counter()
        model = build_model(task, activation, seed=seed, parametric=parametric)
        optimizer = make_optimizer(setup)
        optimizer.build(model.trainable_variables)
        obj = objective(task)
        diag.fused_update = update.fusable(optimizer, fused)
        # the losses of the first `record_steps` steps (row record_steps collects the rest)
        history = tf.Variable(tf.zeros([record_steps + 1])) if record_steps else None
        runner = _build_runner(model, optimizer, obj, rd, batch_size, seed, jit, diag.fused_update, history)
        diag.setup_seconds = time.perf_counter() - t0

        def failure(msg: str) -> EvalResult:
            return EvalResult.failed(
                msg,
                train_seconds=time.perf_counter() - t0,
                epochs=done_epochs,
                steps=done_steps,
                batch_size=batch_size,
                partials=tuple(partials),
            )

        def finished(out: _RunOut, status: str) -> EvalResult:
            """The result at the end of the last segment run ("ok") or at a rung ("stopped")."""
            return EvalResult(
                status=status,
                fitness=obj.fitness(out.val_metric),
                val_accuracy=out.val_acc,
                val_loss=out.val_loss,
                train_seconds=time.perf_counter() - t0,
                epochs=done_epochs,
                steps=done_steps,
                batch_size=batch_size,
                partials=tuple(partials),
                learned=_learned(model) if parametric else None,
            )

        def check(out: _RunOut) -> str | None:
            if not out.finite:
                return f"non-finite training loss ({out.train_loss}) in epoch {out.epoch} after {done_steps} steps"
            if not (math.isfinite(out.val_loss) and math.isfinite(out.val_metric)):
                return f"non-finite validation loss/metric ({out.val_loss}, {out.val_metric}) after epoch {out.epoch}"
            return None

        thresholds = rung_thresholds(rungs, n_epochs)
        segments = epoch_segments(n_epochs, list(thresholds))
        out = None
        for start, end in segments:
            t_seg = time.perf_counter()
            out = runner(start, end)
            diag.segments.append(Segment(end - start, out.steps, time.perf_counter() - t_seg))
            done_steps += out.steps
            done_epochs = out.epoch if out.finite else out.epoch - 1
            err = check(out)
            if err:
                return failure(err)
            if end in thresholds:
                fitness = obj.fitness(out.val_metric)
                partials.append(Partial(epochs=end, val_accuracy=out.val_acc, fitness=fitness, val_loss=out.val_loss))
                if end < n_epochs and fitness < thresholds[end]:
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
    finally:
        if history is not None:
            diag.step_losses = np.asarray(history.numpy())


def _learned(model: Any) -> tuple[float, ...] | None:
    """The constants a parametric model's activation layers learned (see learned_constants)."""
    return learned_constants((v.path, float(v.numpy())) for v in model.trainable_variables if len(v.shape) == 0)


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
