"""The search loop: the one place where strategy, screening, executor and store meet.

    strategy.ask() -> screen -> dedupe -> executor.submit -> store
         ^                                        |
         +---------- tell(fitness) <--- executor.wait()

The budget is a number of trainings: a functional duplicate or a screened-out
proposal costs none (it takes the cached fitness or its rejection) and the
strategy is asked again, until the budget is spent or `IDLE_CAP` proposals in
a row trained nothing (the space looks exhausted). Then the winners and the
baselines are re-evaluated with more seeds (`reevaluate.py`).

The driver is the only writer to the store and writes every proposal and
result as it happens, so the store is the checkpoint. Every ask and tell gets
a number in one sequence (`ask_seq`, `tell_seq` on the candidate row), which
`replay.py` uses to resume a stopped run.

A space may name several tasks. Then every candidate is trained on each task
with each seed (each training one evaluation, one unit of the budget), and its
fitness is its fitness across tasks (`actsearch.results.across_tasks`): seed by
seed, the mean over the tasks of its fitness minus the best baseline's there.
That reference is the best baseline mean over the search seeds, fixed once the
baselines have trained, so candidates finished earlier wait for it (`_held`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections import deque
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from actsearch.evolve import FingerprintCache, Proposal, Strategy, TreeFactory, make_strategy
from actsearch.execute import Executor, Trial, submit_while_capacity
from actsearch.expr import Activation, screen
from actsearch.expr.normalize import standardise
from actsearch.results import EvalResult, across_tasks, aggregate_fitness
from actsearch.spaces import SearchSpace, task_specs
from actsearch.store import CandidateRecord, RunRecord, Store

log = logging.getLogger(__name__)

#: Consecutive proposals that train nothing (duplicates, rejections) after which a search stops.
IDLE_CAP = 200


class SearchError(RuntimeError):
    """A search that cannot start or resume; the message is one line."""


class Reporter(Protocol):
    """Where the search reports progress (the CLI draws it; tests may ignore it)."""

    def start(self, total: int, run_name: str) -> None: ...

    def update(self, done: int, running: int, best: tuple[str, float] | None) -> None: ...

    def message(self, text: str) -> None: ...


class SilentReporter:
    def start(self, total: int, run_name: str) -> None:
        pass

    def update(self, done: int, running: int, best: tuple[str, float] | None) -> None:
        pass

    def message(self, text: str) -> None:
        log.info(text)


class Observer(Protocol):
    """Sees the loop's parts as they run (benchmarks time them); the default sees nothing.

    Parts: "ask", "tell", "handle" (one proposal, all of it), "canonicalise",
    "genotype", "screen", "record" (one result, all of it), "report".
    """

    def span(self, part: str) -> AbstractContextManager[object]: ...


class _Unobserved:
    def span(self, part: str) -> AbstractContextManager[object]:
        return contextlib.nullcontext()


@dataclass(frozen=True)
class SearchSettings:
    """What a run is: stored with the run, so that `--resume` repeats it exactly."""

    space: SearchSpace
    task: str | tuple[str, ...]  # one task spec, or several (fitness across tasks)
    seed: int = 0

    @property
    def tasks(self) -> tuple[str, ...]:
        return task_specs(self.task)

    @property
    def task_label(self) -> str:
        """The run's `task` column: the spec, or the specs joined by commas."""
        return ",".join(self.tasks)

    def to_config(self) -> dict[str, Any]:
        task = self.task if isinstance(self.task, str) else list(self.task)
        return {"space": self.space.model_dump(mode="json"), "task": task, "seed": self.seed}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SearchSettings:
        task = config["task"]
        return cls(
            SearchSpace.model_validate(config["space"]),
            task if isinstance(task, str) else tuple(task),
            config["seed"],
        )


#: One training of a candidate: (task spec, seed).
Pair = tuple[str, int]


@dataclass
class _Pending:
    """A candidate whose trials are out: collects one result per (task, seed)."""

    candidate_id: int
    fingerprint: str
    expr: str
    proposal: Proposal | None  # None for baselines, which are not part of the strategy
    pairs: list[Pair]
    results: dict[Pair, EvalResult] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchSummary:
    run: RunRecord
    counts: dict[str, int]
    trained: int
    stopped_early: str | None = None  # why the budget was not spent, if it was not
    utilisation: float | None = None  # WorkerTime.utilisation


@dataclass
class WorkerTime:
    """The share of the workers' time that went to training, from the start of the first
    training to the last result (this session's: a resumed run counts from the resume;
    the workers' start-up before the first training is not counted).

    Training time is what the workers report (`train_seconds`: building, tracing and
    fitting, a batch's shared among its members); the rest is waiting for the search to
    propose, for Ray, or, with generations, for a generation's slowest training."""

    workers: int
    busy: float = 0.0
    start: float | None = None
    end: float | None = None

    def returned(self, result: EvalResult) -> None:
        self.end = time.monotonic()
        if self.start is None:  # a batch's members each report their share of it
            self.start = self.end - (result.batch_seconds or result.train_seconds)
        self.busy += result.train_seconds

    @property
    def utilisation(self) -> float | None:
        if self.start is None or self.end is None or self.end <= self.start:
            return None
        return min(1.0, self.busy / (self.workers * (self.end - self.start)))


@dataclass(frozen=True)
class _Inspected:
    """What screening made of a proposal: the activation to train (None when its
    expression failed), its fingerprint, its complexity as evolved, and why it is
    rejected (None: it is not)."""

    activation: Activation | None
    fingerprint: str
    complexity: int | None
    reason: str | None


class Search:
    """One run of a search space on a task, recorded in a store."""

    def __init__(
        self,
        settings: SearchSettings,
        store: Store,
        executor: Executor,
        run: RunRecord,
        reporter: Reporter | None = None,
        observer: Observer | None = None,
    ) -> None:
        self._settings = settings
        self._space = settings.space
        self._store = store
        self._executor = executor
        self._run = run
        self._reporter = reporter or SilentReporter()
        self._span = (observer or _Unobserved()).span
        self._factory = TreeFactory(self._space, random.Random(settings.seed))
        self._strategy: Strategy = make_strategy(self._factory, self._space.evolution)
        self._cache: FingerprintCache[tuple[Proposal, int]] = FingerprintCache()
        self._pending: dict[int, _Pending] = {}
        self._held: list[_Pending] = []  # trained, waiting for the baselines' reference (several tasks)
        self._baselines_submitted = False
        self._reference: dict[str, float] | None = None  # best baseline fitness per task (several tasks)
        self._backlog: deque[Trial] = deque()
        self._seq = 0
        self._trial_ids = 0
        self._trained = 0
        self._budget = space_trainings(self._space)
        self._committed = 0  # trainings of proposals queued so far (one per seed)
        self._idle = 0  # proposals in a row that trained nothing
        self._done = 0
        self._hurdle_readings: list[float] = []
        self._best: tuple[str, float] | None = None  # (expr, fitness) for the progress display
        self._worker_time = WorkerTime(executor.workers)
        self._seeds = [settings.seed + i for i in range(self._space.budget.seeds_per_candidate)]
        self._tasks = settings.tasks
        self._pairs = [(task, seed) for task in self._tasks for seed in self._seeds]

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> SearchSummary:
        from actsearch.search.reevaluate import reevaluate_winners
        from actsearch.search.replay import resume_from_store

        budget = self._space.budget
        total = (
            self._budget
            + len(self._space.baselines) * len(self._pairs)
            + (budget.reevaluate_top + len(self._space.baselines)) * budget.reevaluate_seeds * len(self._tasks)
        )
        self._reporter.start(total, self._run.name)
        resume_from_store(self)
        self._submit_baselines()
        self._baselines_submitted = True
        self._release()
        while self._asking or self._pending:
            self._propose_while_capacity()
            submit_while_capacity(self._executor, self._backlog)
            if not self._pending:
                if not self._asking:
                    break
                raise SearchError("the strategy stalled: nothing to propose and nothing running")
            for trial, result in self._executor.wait():
                self._worker_time.returned(result)
                with self._span("record"):
                    self._record(trial, result)
            self._report()
        self._report()
        reevaluate_winners(self)
        stopped_early = None
        if self._committed < self._budget:
            stopped_early = (
                f"the space looks exhausted: {IDLE_CAP} proposals in a row were duplicates or "
                f"rejected; {self._committed} of {self._budget} trainings spent"
            )
            self._reporter.message(stopped_early)
        self._store.set_run_status(self._run.id, "finished")
        counts = self._store.counts(self._run.id, baselines=False)
        return SearchSummary(
            self._store.run(self._run.id), counts, self._trained, stopped_early, self._worker_time.utilisation
        )

    @property
    def _asking(self) -> bool:
        """Whether to ask the strategy for more: budget left and the space not exhausted."""
        return self._committed < self._budget and self._idle < IDLE_CAP

    def _report(self) -> None:
        with self._span("report"):
            self._reporter.update(self._trained, self._executor.in_flight, self._best)

    def _propose_while_capacity(self) -> None:
        """Fill the executor: a batching executor can only batch what it holds."""
        while self._asking and self._has_capacity():
            with self._span("ask"):
                proposal = self._strategy.ask()
            if proposal is None:
                return
            with self._span("handle"):
                self._handle(proposal)

    def _has_capacity(self) -> bool:
        return self._executor.in_flight + len(self._backlog) < self._executor.capacity

    # -- one proposal: screen, dedupe, train --------------------------------------------

    def _handle(self, proposal: Proposal) -> None:
        inspected = self._inspect(proposal)
        fingerprint, reason = inspected.fingerprint, inspected.reason
        original = self._cache.original(fingerprint)
        self._idle = 0 if reason is None and original is None else self._idle + 1
        if reason is not None:
            candidate = self._add(proposal, inspected, "rejected", reason=reason)
            self._done += 1
            self._tell(proposal, candidate.id, None)
        elif original is not None:
            candidate = self._add(
                proposal, inspected, "duplicate", equivalent_to=original, reason=f"equivalent to candidate {original}"
            )
            if self._cache.is_done(fingerprint):
                self._tell_duplicate(proposal, candidate.id, self._cache.fitness(fingerprint))
            else:
                self._cache.wait(fingerprint, (proposal, candidate.id))
        else:
            candidate = self._add(proposal, inspected, "queued")
            self._cache.add(fingerprint, candidate.id)
            self._queue(candidate.id, fingerprint, str(inspected.activation), proposal)

    def _inspect(self, proposal: Proposal) -> _Inspected:
        """Canonical form, fingerprint, screening verdict and (when the space asks) the
        standardised form of a proposal. Any of them failing (a bug, an expression the
        algebra or numpy chokes on) rejects this one candidate with the reason, instead
        of stopping the search."""
        try:
            with self._span("canonicalise"):
                activation = self._factory.activation(proposal.individual)
                fingerprint = activation.fingerprint
            with self._span("screen"):
                verdict = screen(
                    activation,
                    increasing=self._space.constraints.increasing,
                    probe=self._space.constraints.probe,
                    min_nonzero_grad=self._space.constraints.min_nonzero_grad,
                )
            complexity = activation.complexity  # of the function as evolved, before any standardisation
            if not verdict.ok:
                return _Inspected(activation, fingerprint, complexity, verdict.reason or "screened out")
            if self._space.normalize:
                standard = standardise(activation)
                if standard is None:
                    reason = "no finite, non-zero spread under N(0, 1) inputs: cannot be standardised"
                    return _Inspected(activation, fingerprint, complexity, reason)
                activation, fingerprint = standard.activation, standard.fingerprint
            return _Inspected(activation, fingerprint, complexity, None)
        except Exception as error:  # one bad candidate must not end the run
            log.warning("candidate %s rejected: %s", self._factory.genotype(proposal.individual), error)
            return _Inspected(None, "", None, f"expression failed: {type(error).__name__}: {error}"[:500])

    def _add(self, proposal: Proposal, inspected: _Inspected, status: str, **extra: Any) -> CandidateRecord:
        """Store a proposal; one whose expression failed is stored as its genotype text."""
        self._seq += 1
        with self._span("genotype"):
            genotype = self._factory.genotype(proposal.individual)
        activation = inspected.activation
        return self._store.add_candidate(
            self._run.id,
            expr=str(activation) if activation is not None else genotype,
            fingerprint=inspected.fingerprint,
            complexity=inspected.complexity,
            generation=proposal.generation,
            parents=list(proposal.parents),
            origin=proposal.origin,
            status=status,
            genotype=genotype,
            ask_seq=self._seq,
            **extra,
        )

    def _queue(
        self,
        candidate_id: int,
        fingerprint: str,
        expr: str,
        proposal: Proposal | None,
        pairs: Iterable[Pair] | None = None,
    ) -> None:
        """Train a candidate on every (task, seed), or only the `pairs` given (resume)."""
        pairs = list(self._pairs if pairs is None else pairs)
        self._pending[candidate_id] = _Pending(candidate_id, fingerprint, expr, proposal, list(self._pairs))
        if proposal is not None:  # baselines are outside the budget
            self._committed += len(self._pairs)
        hurdle = self._hurdle() if proposal is not None else None
        for task, seed in pairs:
            self._trial_ids += 1
            self._backlog.append(
                Trial(
                    self._trial_ids,
                    candidate_id,
                    expr,
                    seed,
                    epochs=self._space.budget.epochs,
                    hurdle=hurdle,
                    parametric=self._space.parametric,
                    task=task,
                )
            )

    def _hurdle(self) -> tuple[int, float] | None:
        """Successive-halving style: the threshold is a quantile of fitness seen at the hurdle."""
        hurdle = self._space.budget.hurdle
        if hurdle is None:
            return None
        if len(self._hurdle_readings) < hurdle.min_observations:
            return hurdle.epochs, -math.inf  # record the reading, stop nobody yet
        readings = sorted(self._hurdle_readings)
        index = min(len(readings) - 1, int(hurdle.quantile * len(readings)))
        return hurdle.epochs, readings[index]

    # -- results ------------------------------------------------------------------------

    def _record(self, trial: Trial, result: EvalResult) -> None:
        pending = self._pending[trial.candidate_id]
        task = trial.task or self._tasks[0]
        self._store.add_evaluation(trial.candidate_id, task=task, seed=trial.seed, budget=result.epochs, result=result)
        self._trained += 1
        self._note_hurdle(result)
        pending.results[(task, trial.seed)] = result
        if len(pending.results) == len(pending.pairs):
            self._complete(pending)

    def _complete(self, pending: _Pending) -> None:
        """Every (task, seed) is back: finish the candidate once its fitness can be computed."""
        del self._pending[pending.candidate_id]
        self._held.append(pending)
        self._release()

    def _release(self) -> None:
        """Finish the held candidates, unless their fitness still waits for the baselines:
        across tasks it is relative to the best baseline on each, fixed when every baseline
        has trained (`resume_from_store` and `_submit_baselines` come first)."""
        if len(self._tasks) > 1 and self._reference is None:
            if not self._baselines_submitted or any(p.proposal is None for p in self._pending.values()):
                return
            self._reference = self._best_baselines()
        held, self._held = self._held, []
        for pending in held:
            self._finish(pending)

    def fitness(self, scored: Mapping[Pair, float | None], seeds: Iterable[int]) -> tuple[float | None, float | None]:
        """A candidate's fitness and spread from its trainings with `seeds`: the mean over
        seeds on one task; across tasks, relative to the best baselines (`across_tasks`)."""
        seeds = list(seeds)
        if len(self._tasks) == 1:
            return aggregate_fitness(scored.get((self._tasks[0], seed)) for seed in seeds)
        if self._reference is None:
            raise RuntimeError("fitness across tasks asked before the baselines have trained")
        return across_tasks({t: [scored.get((t, s)) for s in seeds] for t in self._tasks}, self._reference)

    def scored_trainings(self) -> dict[int, dict[Pair, float | None]]:
        """Every final training of the run: per candidate, per (task, seed), its scored fitness."""
        scored: dict[int, dict[Pair, float | None]] = {}
        for e in self._store.run_evaluations(self._run.id):
            scored.setdefault(e.candidate_id, {})[(e.task, e.seed)] = e.scored
        return scored

    def _best_baselines(self) -> dict[str, float]:
        """Per task, the best baseline's mean fitness over the search seeds."""
        baselines = {c.id for c in self._store.candidates(self._run.id) if c.is_baseline}
        scored = [mine for cid, mine in self.scored_trainings().items() if cid in baselines]
        reference = {}
        for task in self._tasks:
            means = [aggregate_fitness(mine.get((task, s)) for s in self._seeds)[0] for mine in scored]
            best = max((m for m in means if m is not None), default=None)
            if best is None:
                raise SearchError(
                    f"no baseline trained on task {task!r}: fitness across tasks is relative to the best "
                    "baseline on each (see `actsearch show ID` for the baselines' errors)"
                )
            reference[task] = best
        return reference

    def _finish(self, pending: _Pending) -> None:
        """Store the candidate's outcome and tell the strategy."""
        fitness, spread = self.fitness({k: r.scored for k, r in pending.results.items()}, self._seeds)
        in_order = [(pair, pending.results[pair]) for pair in pending.pairs]  # fixed: a resume gives the same reason
        errors = [self._failure(pair, r) for pair, r in in_order if r.scored is None]
        outcome = {"status": "evaluated" if fitness is not None else "failed", "reason": errors[0] if errors else None}
        self._done += 1
        if fitness is not None and (self._best is None or fitness > self._best[1]):
            self._best = (pending.expr, fitness)
        if pending.proposal is None:  # a baseline: not part of the strategy
            self._store.finish_candidate(pending.candidate_id, fitness=fitness, fitness_std=spread, **outcome)
        else:
            self._tell(pending.proposal, pending.candidate_id, fitness, spread, **outcome)
        for proposal, duplicate_id in self._cache.resolve(pending.fingerprint, fitness):
            self._tell_duplicate(proposal, duplicate_id, fitness)

    def _failure(self, pair: Pair, result: EvalResult) -> str:
        """Why one training counts as failed (with its task and seed when there are several tasks)."""
        why = result.error or result.status
        return why if len(self._tasks) == 1 else f"{pair[0]} seed {pair[1]}: {why}"

    def _note_hurdle(self, result: EvalResult) -> None:
        hurdle = self._space.budget.hurdle
        for partial in result.partials:
            if hurdle and partial.epochs == hurdle.epochs and partial.fitness is not None:
                self._hurdle_readings.append(partial.fitness)

    def _tell_duplicate(self, proposal: Proposal, candidate_id: int, fitness: float | None) -> None:
        self._done += 1
        self._tell(proposal, candidate_id, fitness)

    def _tell(
        self,
        proposal: Proposal,
        candidate_id: int,
        fitness: float | None,
        fitness_std: float | None = None,
        **outcome: Any,
    ) -> None:
        """Store the outcome with its place in the ask/tell sequence, then tell the strategy
        (as `resume_from_store` replays it: from what the store holds)."""
        self._seq += 1
        stored = self._store.finish_candidate(
            candidate_id, fitness=fitness, fitness_std=fitness_std, tell_seq=self._seq, **outcome
        )
        with self._span("tell"):
            self._strategy.tell(proposal, candidate_id, fitness, duplicate=stored.status == "duplicate")

    # -- baselines ----------------------------------------------------------------------

    def _submit_baselines(self) -> None:
        """Standard activations, evaluated under the same budget in every run."""
        for text in self._space.baselines:
            activation = Activation.parse(text)
            fingerprint = activation.fingerprint
            if self._cache.original(fingerprint) is not None:
                continue  # already evaluated (resume) or listed twice
            candidate = self._store.add_candidate(
                self._run.id,
                expr=str(activation),
                fingerprint=fingerprint,
                complexity=activation.complexity,
                generation=0,
                parents=[],
                origin="baseline",
                is_baseline=True,
                status="queued",
                genotype=text,
                ask_seq=None,
            )
            self._cache.add(fingerprint, candidate.id)
            self._queue(candidate.id, fingerprint, str(activation), None)


def space_trainings(space: SearchSpace) -> int:
    """A space's budget in trainings: `budget.trainings`, or population x generations x seeds
    x tasks (a candidate costs one training per task and seed)."""
    if space.budget.trainings is not None:
        return space.budget.trainings
    evolution = space.evolution
    return evolution.population * evolution.generations * space.budget.seeds_per_candidate * len(space.tasks)
