"""Population-batched training: many (activation, seed) members of one task in
ONE compiled program, their weights stacked along a leading member axis.

How: every member's model is built exactly as :func:`train` builds it (same
``clear_session`` + ``set_random_seed(seed)`` + builder, so the same initial
weights for the same seed; one build per seed when the initial weights do not
depend on the activation, see :func:`_initial_weights`); its weights are
copied into stacked variables of shape ``[K, ...]``. One *template* model of the same structure is called
statelessly (``model.stateless_call``) on one member's weights inside
``tf.vectorized_map``, so each step is a few batched operations for all K
members instead of K times many small ones, and one trace serves them all.

Members may have different activations: the template's activation
(:class:`_PerMemberActivation`) takes the stacked input of all members at once
(``pfor_config.reduce``) and applies each distinct activation of the batch to
its own members' rows only (no member computes another's activation, so one
member's NaN cannot reach another's gradient). The rows are known when
tracing, so each activation is traced once, outside the vectorization.

The optimizer is the Keras optimizer of the one-at-a-time trainer, applied
to the stacked variables: Adam, AdamW, SGD and RMSprop are element-wise, so
each member gets exactly its own update and its own moments. Each member
shuffles with its own seed (same batch order as alone). A member whose loss
turns non-finite fails alone; a member below a rung stops alone; their
slices keep being computed (their values are never read again) until at most
half the program's members are active and the compute left behind would pay
a new trace (see RESTACK_MIN_WORK): the active members then move, with their
weights and optimizer state, into a program of their own. The program ends
when no member is active.

A batch of one member, a batch that cannot be vectorized (a user model whose
layers have no vectorized form, for example) and parametric members with
different expressions (their trainable constants differ in number) are
trained one at a time with :func:`train`, with the reason logged.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from itertools import groupby
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.ops.parallel_for.control_flow_ops import pfor

from actsearch.expr.keras_layer import learned_constants
from actsearch.results import EvalResult, Partial, one_line
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
    rung_thresholds,
    task_data,
)
from .resolve import describe_activation, resolve_activation
from .trainer import train_with_diagnostics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchMember:
    """One training of a batch: an activation (as :func:`train` accepts it), a
    seed and, optionally, its own thresholds at the batch's rungs (one per rung).
    (Not :class:`actsearch.evolve.strategies.Member`, a told proposal.)"""

    activation: Any
    seed: int
    thresholds: tuple[float, ...] | None = None


class NotBatchable(Exception):
    """This batch cannot run as one program; its members are trained one at a time."""


def train_batch(
    task: Task,
    members: Sequence[BatchMember | tuple[Any, int]],
    *,
    data: TaskData | ResidentData | None = None,
    epochs: int | None = None,
    rungs: Sequence[tuple[int, float]] = (),
    parametric: bool = False,
    fused: bool | None = None,
) -> list[EvalResult]:
    """Train every member as :func:`train` would, batched where possible.

    ``rungs=((epoch, threshold), ...)`` and ``fused`` as for :func:`train`; a
    member's own ``thresholds`` replace the batch's.
    Returns one :class:`EvalResult` per member, in order. ``batch_seconds`` is
    the wall time of the whole program the member trained in (model building
    and tracing included); ``train_seconds`` is that time divided by the
    number of members (a member's share). Never raises for a member's sake:
    a failing member gets status "failed". :func:`train_batch_with_diagnostics`
    also returns timings."""
    results, _ = train_batch_with_diagnostics(
        task, members, data=data, epochs=epochs, rungs=rungs, parametric=parametric, fused=fused
    )
    return results


def train_batch_with_diagnostics(
    task: Task,
    members: Sequence[BatchMember | tuple[Any, int]],
    *,
    data: TaskData | ResidentData | None = None,
    epochs: int | None = None,
    rungs: Sequence[tuple[int, float]] = (),
    parametric: bool = False,
    fused: bool | None = None,
    record_steps: int = 0,
) -> tuple[list[EvalResult], Diagnostics]:
    """:func:`train_batch`, with the batch's figures (benchmarks, tests):
    whether it ran as one program (and why not), set-up and per-call times,
    which update ran and, with ``record_steps=n``, the first n steps' losses,
    ``[n + 1, members]``. Several programs (parametric members of different
    expressions) give their own diagnostics in ``parts``."""
    batch = [_as_member(m) for m in members]
    if not batch:
        return [], Diagnostics()
    kwargs = {
        "data": data,
        "epochs": epochs,
        "rungs": rungs,
        "parametric": parametric,
        "fused": fused,
        "record_steps": record_steps,
    }
    results: list[EvalResult | None] = [None] * len(batch)
    parts = []
    for indices in _groups(batch, parametric):
        chunk = [batch[i] for i in indices]
        group_results, diagnostics = _train_group(task, chunk, **kwargs)
        parts.append(diagnostics)
        for i, result in zip(indices, group_results):
            results[i] = result
    combined = parts[0] if len(parts) == 1 else _combined(parts, all(p.batched for p in parts), None)
    return [r for r in results if r is not None], combined


def _combined(parts: list[Diagnostics], batched: bool, reason: str | None) -> Diagnostics:
    """The diagnostics of several programs as one: times added up, calls in
    order, the update if all used the same one, and the losses
    ``[steps, members]`` if every part is one member's training that recorded
    them (several batched groups keep theirs in ``parts``: their members are
    not in the batch's order)."""
    updates = {p.fused_update for p in parts}
    losses = [p.step_losses for p in parts]
    stacked = None
    if all(x is not None and x.ndim == 1 for x in losses) and len({x.shape for x in losses if x is not None}) == 1:
        stacked = np.stack([x for x in losses if x is not None], axis=-1)
    return Diagnostics(
        setup_seconds=sum(p.setup_seconds for p in parts),
        segments=[s for p in parts for s in p.segments],
        fused_update=updates.pop() if len(updates) == 1 else None,
        batched=batched,
        reason=reason,
        restacks=sum(p.restacks for p in parts),
        step_losses=stacked,
        parts=tuple(parts),
    )


def own_rungs(rungs: Sequence[tuple[int, float]], thresholds: Sequence[float] | None) -> tuple[tuple[int, float], ...]:
    """The batch's rungs with a member's own thresholds, when it has them (one per rung)."""
    if thresholds is None:
        return tuple(rungs)
    if len(thresholds) != len(rungs):
        raise ValueError(f"{len(thresholds)} thresholds for {len(rungs)} rungs")
    return tuple((epoch, float(t)) for (epoch, _), t in zip(rungs, thresholds))


def _as_member(member: BatchMember | tuple[Any, int]) -> BatchMember:
    """A bare ``(activation, seed)`` pair as a :class:`BatchMember`."""
    return member if isinstance(member, BatchMember) else BatchMember(*member)


def _groups(members: list[BatchMember], parametric: bool) -> list[list[int]]:
    """Indices of the members that share one program: all of them, or for
    parametric activations those with the same expression (the number of
    trainable constants depends on the expression)."""
    if not parametric:
        return [list(range(len(members)))]
    by_expr: dict[str, list[int]] = {}
    for i, m in enumerate(members):
        by_expr.setdefault(describe_activation(m.activation), []).append(i)
    return list(by_expr.values())


def _train_group(task: Task, members: list[BatchMember], **kwargs: Any) -> tuple[list[EvalResult], Diagnostics]:
    if len(members) == 1:
        return _one_at_a_time(task, members, "one member", **kwargs)
    diagnostics = Diagnostics(batched=True)
    try:
        # free this batch's graphs and gradient entries afterwards, as train() does
        with GraphRelease() as release:
            results = _train_stacked(task, members, diagnostics=diagnostics, **kwargs)
            release.full_collection = False
        return results, diagnostics
    except NotBatchable as why:
        reason = str(why)
    except Exception as exc:  # a batch never crashes a worker: its members train alone
        reason = f"batched training failed: {one_line(exc)}"
    return _one_at_a_time(task, members, reason, **kwargs)


def _one_at_a_time(
    task: Task, members: list[BatchMember], reason: str, **kwargs: Any
) -> tuple[list[EvalResult], Diagnostics]:
    if len(members) > 1:
        log.warning("task %s: training %d members one at a time: %s", task.name, len(members), reason)
    out, parts = [], []
    for m in members:
        own = dict(kwargs)
        if m.thresholds is not None:
            own["rungs"] = own_rungs(own["rungs"], m.thresholds)
        r, diagnostics = train_with_diagnostics(task, m.activation, seed=m.seed, **own)
        out.append(replace(r, batch_seconds=r.train_seconds))
        parts.append(diagnostics)
    return out, _combined(parts, False, reason)


# ------------------------------------------------------------------ building


class _PerMemberActivation:
    """The template's activation: member k's own activation on member k's slice.

    Inside the vectorized call, ``pfor_config.reduce`` hands over the input of
    all the members stacked: each activation is applied to its own members'
    rows only (runs of consecutive rows, known when tracing; no member
    computes another's activation, so one member's NaN cannot reach another's
    gradient), the rows are concatenated back and each member takes its own.
    ``index`` (the member) and ``config`` are set by :func:`_vectorized`
    before each call of the template; a batch with one distinct activation
    needs neither. (A ``tf.switch_case`` on the member's activation index,
    which TensorFlow vectorizes by partitioning the members at run time, was
    slower to trace and to run, see benchmarks/batch_ab.py.)"""

    def __init__(self, branches: list[Any], branch: list[int]):
        self.branches = branches
        # (activation index, number of members) of each run of consecutive members
        self.runs = [(j, len(list(run))) for j, run in groupby(branch)]
        self.index: Any = None
        self.config: Any = None

    def __call__(self, x: Any) -> Any:
        if len(self.branches) == 1:
            return self.branches[0](x)

        def by_activation(stacked: Any) -> Any:
            blocks = tf.split(stacked, [n for _, n in self.runs])
            # ensure_shape: a block must not reach the activation as output 1, 2, ...
            # of the split, as oneDNN's fused leaky ReLU (max(x, a*x)) then computes
            # wrong values (TF 2.21; tests/test_train_batch.py). One gather per
            # activation instead took a third of a step of 8 distinct members.
            outs = [self.branches[j](tf.ensure_shape(b, b.shape)) for (j, _), b in zip(self.runs, blocks)]
            return tf.concat(outs, axis=0)

        # reduce() wraps by_activation in a tf.function: without autograph's conversion
        # of every activation (its tracing took twice as long)
        return tf.gather(self.config.reduce(tf.autograph.experimental.do_not_convert(by_activation), x), self.index)


def _vectorized(fn: Any, elems: Any, k: int, switch: _PerMemberActivation | None) -> Any:
    """``tf.vectorized_map(fn, elems)`` over the K members, with the loop's
    configuration handed to the switch activation (``vectorized_map`` does not
    expose it)."""

    def loop_fn(i: Any, pfor_config: Any) -> Any:
        if switch is not None:
            switch.index, switch.config = i, pfor_config
        return fn(tf.nest.map_structure(lambda t: tf.gather(t, i), elems))

    return pfor(loop_fn, k)


def _member_weights(task: Task, member: BatchMember, parametric: bool) -> tuple[list, list]:
    """Initial (trainable, non-trainable) values: the same path as train()."""
    model = build_model(task, member.activation, seed=member.seed, parametric=parametric)
    return ([v.numpy() for v in model.trainable_variables], [v.numpy() for v in model.non_trainable_variables])


def _initial_weights(
    task: Task, members: list[BatchMember], branch: list[int], parametric: bool
) -> list[tuple[list, list]]:
    """Each member's initial weights, as :func:`train` would build them.

    Building a model is most of a batch's set-up (about 25 ms for the default
    MLP), and a search trains all its candidates with the same seeds. So when
    the task's initial weights do not depend on the activation, members of one
    seed share one build. That is checked on the batch itself: the first two
    distinct activations built with the same seed must give equal weights;
    otherwise every (activation, seed) is built."""
    activation: dict[int, Any] = {}
    for m, j in zip(members, branch):
        activation.setdefault(j, m.activation)

    @cache
    def build(j: int, seed: int) -> tuple[list, list]:
        return _member_weights(task, BatchMember(activation[j], seed), parametric)

    first, seed = branch[0], members[0].seed
    other = next((j for j in activation if j != first), None)
    shared = other is not None and _equal_weights(build(first, seed), build(other, seed))
    return [build(first if shared else j, m.seed) for m, j in zip(members, branch)]


def _equal_weights(a: tuple[list, list], b: tuple[list, list]) -> bool:
    pairs = list(zip(a[0], b[0])) + list(zip(a[1], b[1]))
    same_count = len(a[0]) == len(b[0]) and len(a[1]) == len(b[1])
    return same_count and all(x.shape == y.shape and np.array_equal(x, y) for x, y in pairs)


def _distinct(members: list[BatchMember]) -> tuple[list[Any], list[int]]:
    """The distinct activations and each member's branch index."""
    keys: dict[str, int] = {}
    acts: list[Any] = []
    branch: list[int] = []
    for m in members:
        key = describe_activation(m.activation) if isinstance(m.activation, str) else f"id:{id(m.activation)}"
        if key not in keys:
            keys[key] = len(acts)
            acts.append(m.activation)
        branch.append(keys[key])
    return acts, branch


# ------------------------------------------------------------------ training


def _train_stacked(
    task: Task,
    members: list[BatchMember],
    *,
    data: TaskData | ResidentData | None,
    epochs: int | None,
    rungs: Sequence[tuple[int, float]],
    parametric: bool,
    fused: bool | None,
    record_steps: int,
    diagnostics: Diagnostics,
) -> list[EvalResult]:
    setup = task.setup
    n_epochs = int(epochs if epochs is not None else setup.epochs)
    k = len(members)
    try:
        thresholds = [rung_thresholds(own_rungs(rungs, m.thresholds), n_epochs) for m in members]
        segments = epoch_segments(n_epochs, [e for e, _ in rungs])
    except ValueError as exc:  # each member then reports it alone
        raise NotBatchable(str(exc)) from exc
    t0 = time.perf_counter()
    try:
        rd = task_data(task, data)
        acts, branch = _distinct(members)
        weights = _initial_weights(task, members, branch, parametric)
    except Exception as exc:  # e.g. a bad expression: each member then reports it alone
        raise NotBatchable(f"building the members failed: {one_line(exc)}") from exc
    build = _StackBuilder(task, members, rd, parametric, fused, record_steps)
    stack = build(list(range(k)), weights)
    diagnostics.fused_update = stack.program.fused
    diagnostics.setup_seconds = time.perf_counter() - t0

    states = [_MemberState() for _ in members]
    for number, (start, end) in enumerate(segments):
        if not any(s.status is None for s in states):
            break
        if stack.worth_restacking(states, n_epochs - start, record_steps):
            stack = build.restack(stack, states)
            diagnostics.restacks += 1
        active = [states[j].status is None for j in stack.index]
        t_seg = time.perf_counter()
        try:
            out = stack.program(start, end, active)
        except Exception as exc:
            if number == 0:  # tracing failed: this model has no vectorized form
                raise NotBatchable(f"vectorizing the model failed: {one_line(exc)}") from exc
            for s in states:
                if s.status is None:
                    s.fail(one_line(exc))
            break
        diagnostics.segments.append(Segment(end - start, int(np.max(out["steps"])), time.perf_counter() - t_seg))
        for i, j in enumerate(stack.index):
            s = states[j]
            if active[i]:
                s.update(out, i, end, task.higher_is_better)
            if s.status is None and end in thresholds[j]:
                s.partials.append(Partial(epochs=end, val_accuracy=s.val_acc, fitness=s.fitness, val_loss=s.val_loss))
                # fitness is set: update() succeeded, as the member is still active
                if end < n_epochs and s.fitness is not None and s.fitness < thresholds[j][end]:
                    s.status = "stopped"
            if active[i] and s.status is not None:  # ended here: what it learned so far
                s.learned = stack.learned(i) if parametric and s.status == "stopped" else None
    if parametric:
        for i, j in enumerate(stack.index):
            if states[j].status is None:
                states[j].learned = stack.learned(i)
    if stack.program.history is not None:
        diagnostics.step_losses = np.asarray(stack.program.history.numpy())
    seconds = time.perf_counter() - t0
    return [s.result(setup.batch_size, seconds, k) for s in states]


#: Restack a batch's active members into a smaller program when the member-steps it saves,
#: times the weights per member and the batch size (a proxy for the compute), reach this:
#: about the work a re-trace costs on a 2-core CPU (a re-trace: 0.5-1.5 s; one
#: mnist1d-mlp member-epoch, 32 steps of 100 x 15,210 weights: about 20 ms). Tiny models
#: (the teachers) never restack, as tracing costs them more than the stopped members do.
RESTACK_MIN_WORK = 2e9


@dataclass
class _Stack:
    """One compiled program over some of the batch's members (`index`: theirs in the batch)."""

    index: list[int]
    template: Any
    trainable: _FlatWeights
    non_trainable: list
    optimizer: Any
    program: _Program
    steps_per_epoch: int
    work_per_step: float  # weights per member x batch size

    def worth_restacking(self, states: list[_MemberState], epochs_left: int, record_steps: int) -> bool:
        """Whether the members that ended leave enough compute behind to pay a new trace:
        at most half the program's members are active, and the work saved (ended members x
        steps left x work per step) reaches RESTACK_MIN_WORK. (Not while recording steps.)"""
        active = sum(states[j].status is None for j in self.index)
        saved = (len(self.index) - active) * epochs_left * self.steps_per_epoch * self.work_per_step
        return not record_steps and 0 < active <= len(self.index) // 2 and saved >= RESTACK_MIN_WORK

    def learned(self, i: int) -> tuple[float, ...] | None:
        """What member `i` of this program learned so far (see learned_constants)."""
        weights = zip(self.template.trainable_variables, self.trainable.values())
        return learned_constants((v.path, float(w[i])) for v, w in weights if len(v.shape) == 0)

    def weights_of(self, rows: list[int]) -> list[tuple[list, list]]:
        """Members `rows`' current (trainable, non-trainable) values."""
        trainable = [t.numpy() for t in self.trainable.values()]
        non_trainable = [v.numpy() for v in self.non_trainable]
        return [([w[i] for w in trainable], [nt[i] for nt in non_trainable]) for i in rows]


class _StackBuilder:
    """Builds the program over a set of the batch's members, from given weights (the
    initial ones, or a restack's: the survivors' current weights and optimizer state)."""

    def __init__(
        self,
        task: Task,
        members: list[BatchMember],
        rd: ResidentData,
        parametric: bool,
        fused: bool | None,
        record_steps: int,
    ) -> None:
        self.task, self.members, self.rd = task, members, rd
        self.parametric, self.fused, self.record_steps = parametric, fused, record_steps

    def __call__(self, index: list[int], weights: list[tuple[list, list]]) -> _Stack:
        task, chosen = self.task, [self.members[j] for j in index]
        try:
            acts, branch = _distinct(chosen)
            if self.parametric:  # one expression per group: the template has its constants
                switch = None
                template = build_model(task, acts[0], seed=chosen[0].seed, parametric=True)
            else:
                switch = _PerMemberActivation([resolve_activation(a) for a in acts], branch)
                template = build_model(task, switch, seed=chosen[0].seed)
        except Exception as exc:  # e.g. a bad expression: each member then reports it alone
            raise NotBatchable(f"building the members failed: {one_line(exc)}") from exc
        shapes = [tuple(v.shape) for v in template.trainable_variables]
        nt_shapes = [tuple(v.shape) for v in template.non_trainable_variables]
        for w, nt in weights:
            if [x.shape for x in w] != shapes or [x.shape for x in nt] != nt_shapes:
                raise NotBatchable("the members' models differ in structure")
        trainable = _FlatWeights([np.stack([w[i] for w, _ in weights]) for i in range(len(shapes))])
        non_trainable = [
            keras.Variable(np.stack([nt[i] for _, nt in weights]), name=f"n{i}", trainable=False)
            for i in range(len(nt_shapes))
        ]
        optimizer = make_optimizer(task.setup)
        optimizer.build(trainable.variables)
        fused = update.fusable(optimizer, self.fused)
        program = _Program(
            template,
            switch,
            trainable,
            non_trainable,
            optimizer,
            objective(task),
            self.rd,
            task.setup.batch_size,
            [m.seed for m in chosen],
            fused,
            self.record_steps,
        )
        steps = max(1, math.ceil(self.rd.n_train / task.setup.batch_size))
        work = float(sum(int(np.prod(s)) for s in shapes)) * task.setup.batch_size
        return _Stack(index, template, trainable, non_trainable, optimizer, program, steps, work)

    def restack(self, stack: _Stack, states: list[_MemberState]) -> _Stack:
        """The active members of `stack` in a program of their own, each with its weights and
        optimizer state as they are (so it trains on as it would have in the larger one)."""
        keep = [i for i, j in enumerate(stack.index) if states[j].status is None]
        smaller = self([stack.index[i] for i in keep], stack.weights_of(keep))
        total = stack.trainable.variables[0].shape[0]
        for old, new in zip(stack.optimizer.variables, smaller.optimizer.variables):
            value = old.numpy()
            new.assign(stack.trainable.select(value, keep) if value.shape == (total,) else value)
        return smaller


class _FlatWeights:
    """The members' trainable weights, ``[K, ...]`` each, kept in ONE flat
    variable: weight after weight, each as its ``[K, ...]`` block. The
    optimizer's update is then a few dozen operations per step instead of a
    few dozen per weight (Adam, AdamW, SGD and RMSprop are element-wise: each
    weight's update is unchanged), and reading the weights is a split along
    the only axis, which TensorFlow does without copying (a ``[K, P]``
    variable split along P copied every weight at every step: 5% of a step
    of 8 members). Measured (CPU time of a batch, one thread): the one
    variable saves about 10% for 5 seeds of one candidate, 6% for 8 distinct
    candidates."""

    def __init__(self, stacked: list[np.ndarray]):
        self.k = int(stacked[0].shape[0])
        self.shapes = [tuple(a.shape[1:]) for a in stacked]
        self.sizes = [int(a.size) for a in stacked]
        flat = np.concatenate([a.reshape(-1) for a in stacked])
        self.variables = [keras.Variable(flat, name="weights")]

    def values(self) -> list:
        """The weights as the model's list, each ``[K, ...]``."""
        parts = tf.split(self.variables[0].value, self.sizes)
        return [tf.reshape(t, [self.k, *sh]) for t, sh in zip(parts, self.shapes)]

    def select(self, flat: np.ndarray, rows: list[int]) -> np.ndarray:
        """A flat array laid out like the weights (an optimizer's moments), with only the
        members `rows`, in the layout of a `_FlatWeights` of those members."""
        parts = np.split(flat, np.cumsum(self.sizes)[:-1])
        return np.concatenate([p.reshape(self.k, -1)[rows].reshape(-1) for p in parts])

    def apply(self, optimizer: Any, grads: list, fused: bool) -> None:
        grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
        # a weight the loss does not use gets a zero gradient (its value cannot matter)
        flat = [tf.zeros([n]) if g is None else tf.reshape(g, [n]) for g, n in zip(grads, self.sizes)]
        update.apply_gradients(optimizer, [tf.concat(flat, axis=0)], self.variables, fused)


class _MemberState:
    """What one member has done so far (filled from the program's outputs)."""

    def __init__(self) -> None:
        self.status: str | None = None  # None while active; "stopped" / "failed" when ended
        self.error: str | None = None
        self.epochs = 0
        self.steps = 0
        self.fitness: float | None = None
        self.val_acc: float | None = None
        self.val_loss: float | None = None
        self.partials: list[Partial] = []
        self.learned: tuple[float, ...] | None = None  # a parametric member's constants when it ended

    def fail(self, error: str) -> None:
        self.status, self.error, self.fitness, self.val_acc, self.val_loss = "failed", error, None, None, None

    def update(self, out: dict, j: int, end: int, higher_is_better: bool) -> None:
        self.steps += int(out["steps"][j])
        if not out["finite"][j]:
            epoch = int(out["fail_epoch"][j])
            self.epochs = epoch - 1
            self.fail(f"non-finite training loss ({float(out['loss'][j])}) in epoch {epoch} after {self.steps} steps")
            return
        self.epochs = end
        vloss, vmetric = float(out["val_loss"][j]), float(out["val_metric"][j])
        if not (math.isfinite(vloss) and math.isfinite(vmetric)):
            self.fail(f"non-finite validation loss/metric ({vloss}, {vmetric}) after epoch {end}")
            return
        self.val_loss = vloss
        self.val_acc = float(out["val_acc"][j]) if out["val_acc"] is not None else None
        self.fitness = vmetric if higher_is_better else -vmetric

    def result(self, batch_size: int, seconds: float, k: int) -> EvalResult:
        return EvalResult(
            status=self.status or "ok",
            fitness=self.fitness,
            val_accuracy=self.val_acc,
            val_loss=self.val_loss,
            train_seconds=seconds / k,
            epochs=self.epochs,
            steps=self.steps,
            batch_size=batch_size,
            error=self.error,
            partials=tuple(self.partials),
            batch_seconds=seconds,
            learned=self.learned,
        )


class _Program:
    """The compiled batch: trains epochs [start, end) for the active members,
    then evaluates every member on the validation split. Traced once."""

    def __init__(
        self,
        template,
        switch,
        trainable,
        non_trainable,
        optimizer,
        obj: Objective,
        rd: ResidentData,
        batch_size: int,
        seeds: list[int],
        fused: bool,
        record_steps: int = 0,
    ) -> None:
        loss_fn, metric_fn, with_acc = obj.loss, obj.metric, obj.with_accuracy
        self.with_acc, self.fused = with_acc, fused
        # the losses of the first `record_steps` steps (row record_steps collects the rest)
        history = tf.Variable(tf.zeros([record_steps + 1, len(seeds)])) if record_steps else None
        self.history = history
        k = len(seeds)
        n, b = rd.n_train, int(batch_size)
        steps_per_epoch = max(1, math.ceil(n / b))
        seeds_t = [tf.constant(s % (2**31 - 1), tf.int64) for s in seeds]

        def forward(w, nt, x, training):
            out, new_nt, losses = template.stateless_call(list(w), list(nt), x, training=training, return_losses=True)
            return out, new_nt, losses

        def member_loss(args):
            w, nt, xb, yb = args
            out, new_nt, losses = forward(w, nt, xb, True)
            loss = tf.cast(loss_fn(yb, out), tf.float32)
            if losses:
                loss = loss + tf.cast(tf.add_n(losses), tf.float32)
            return loss, new_nt

        def train_step(xb, yb):
            w = trainable.values()
            nt = [v.value for v in non_trainable]
            with tf.GradientTape() as tape:
                tape.watch(w)
                losses, new_nt = _vectorized(member_loss, (w, nt, xb, yb), k, switch)
                total = tf.reduce_sum(losses)
            trainable.apply(optimizer, tape.gradient(total, w), fused)
            for v, value in zip(non_trainable, new_nt):
                v.assign(value)
            return losses

        def member_val(args):
            w, nt = args
            lo_hi = val_slice[0]
            out, _, _ = forward(w, nt, lo_hi[0], False)
            yb = lo_hi[1]
            vl = tf.cast(loss_fn(yb, out), tf.float32)
            vm = tf.cast(metric_fn(yb, out), tf.float32)
            va = accuracy(yb, out) if with_acc else tf.constant(0.0)
            return vl, vm, va

        val_slice: list = [None]

        def run(epoch_start, epoch_end, active):
            zeros_f = tf.zeros([k], tf.float32)
            zeros_i = tf.zeros([k], tf.int32)

            def epoch_body(epoch, alive, steps, fail_epoch, last_loss):
                e64 = tf.cast(epoch, tf.int64)
                perms = tf.stack(
                    [tf.argsort(tf.random.stateless_uniform([n], seed=tf.stack([s, e64]))) for s in seeds_t]
                )

                def step_body(i, alive, steps, loss_sum, count):
                    idx = perms[:, i * b : tf.minimum((i + 1) * b, n)]
                    losses = train_step(tf.gather(rd.x_train, idx), tf.gather(rd.y_train, idx))
                    if history is not None:
                        row = tf.minimum(epoch * steps_per_epoch + i, record_steps)
                        history.scatter_nd_update([[row]], [losses])
                    counted = tf.cast(alive, tf.int32)
                    loss_sum = loss_sum + tf.where(alive, losses, 0.0)
                    alive_next = tf.logical_and(alive, tf.math.is_finite(losses))
                    return i + 1, alive_next, steps + counted, loss_sum, count + counted

                _, alive2, steps, loss_sum, count = tf.while_loop(
                    lambda i, alive, *_: tf.logical_and(i < steps_per_epoch, tf.reduce_any(alive)),
                    step_body,
                    (tf.constant(0), alive, steps, zeros_f, zeros_i),
                )
                died = tf.logical_and(alive, tf.logical_not(alive2))
                fail_epoch = tf.where(died, epoch + 1, fail_epoch)
                mean = loss_sum / tf.cast(tf.maximum(count, 1), tf.float32)
                last_loss = tf.where(alive, mean, last_loss)
                return epoch + 1, alive2, steps, fail_epoch, last_loss

            _, alive, steps, fail_epoch, last_loss = tf.while_loop(
                lambda epoch, alive, *_: tf.logical_and(epoch < epoch_end, tf.reduce_any(alive)),
                epoch_body,
                (epoch_start, active, zeros_i, zeros_i, zeros_f),
            )

            w = trainable.values()
            nt = [v.value for v in non_trainable]
            totals = [zeros_f, zeros_f, zeros_f]
            for lo in range(0, rd.n_val, EVAL_CHUNK):  # few chunks: unrolled
                hi = min(lo + EVAL_CHUNK, rd.n_val)
                val_slice[0] = (rd.x_val[lo:hi], rd.y_val[lo:hi])
                vl, vm, va = _vectorized(member_val, (w, nt), k, switch)
                totals = [t + v * float(hi - lo) for t, v in zip(totals, (vl, vm, va))]
            nv = float(rd.n_val)
            return (
                steps,
                tf.logical_or(alive, tf.logical_not(active)),
                fail_epoch,
                last_loss,
                totals[0] / nv,
                totals[1] / nv,
                totals[2] / nv,
            )

        self._run = tf.function(run, autograph=False)

    def __call__(self, start: int, end: int, active: list[bool]) -> dict:
        steps, finite, fail_epoch, loss, vloss, vmetric, vacc = self._run(
            tf.constant(start), tf.constant(end), tf.constant(active)
        )
        return {
            "steps": steps.numpy(),
            "finite": finite.numpy(),
            "fail_epoch": fail_epoch.numpy(),
            "loss": loss.numpy(),
            "val_loss": vloss.numpy(),
            "val_metric": vmetric.numpy(),
            "val_acc": vacc.numpy() if self.with_acc else None,
        }
