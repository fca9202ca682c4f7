"""The search loop: the one place where strategy, screening, executor and store meet.

    strategy.ask() -> screen -> dedupe -> executor.submit -> store
         ^                                        |
         +---------- tell(fitness) <--- executor.wait()

The driver is the only writer to the store and writes every proposal and
result as it happens, so the store is the checkpoint. Every ask and tell gets
a number in one sequence (`ask_seq`, `tell_seq` on the candidate row);
resuming replays that sequence into a fresh strategy with the same seed,
which rebuilds the exact population without any pickled state, then
resubmits what was in flight. Nothing that finished is trained again.
"""

from __future__ import annotations

import logging
import math
import random
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from actsearch.evolve import FingerprintCache, Proposal, Strategy, TreeFactory, make_strategy
from actsearch.execute import Executor, Trial
from actsearch.expr import Activation, screen
from actsearch.records import EvalResult
from actsearch.spaces import SearchSpace
from actsearch.store import CandidateRecord, RunRecord, Store

log = logging.getLogger(__name__)
LEADERBOARD_SIZE = 10


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


@dataclass(frozen=True)
class SearchSettings:
    """What a run is: stored with the run, so that `--resume` repeats it exactly."""

    space: SearchSpace
    task: str
    seed: int = 0

    def to_config(self) -> dict[str, Any]:
        return {"space": self.space.model_dump(mode="json"), "task": self.task, "seed": self.seed}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SearchSettings:
        return cls(SearchSpace.model_validate(config["space"]), config["task"], config["seed"])


@dataclass
class _Pending:
    """A candidate whose trials are out: collects one result per seed."""

    candidate_id: int
    fingerprint: str
    expr: str
    proposal: Proposal | None  # None for baselines, which are not part of the strategy
    seeds: list[int]
    results: list[EvalResult] = field(default_factory=list)


@dataclass(frozen=True)
class SearchSummary:
    run: RunRecord
    counts: dict[str, int]
    trained: int


class Search:
    """One run of a search space on a task, recorded in a store."""

    def __init__(self, settings: SearchSettings, store: Store, executor: Executor,
                 run: RunRecord, reporter: Reporter | None = None) -> None:
        self.settings = settings
        self.space = settings.space
        self.store = store
        self.executor = executor
        self.run_record = run
        self.reporter = reporter or SilentReporter()
        self.factory = TreeFactory(self.space, random.Random(settings.seed))
        self.strategy: Strategy = make_strategy(self.factory, self.space.evolution)
        self.cache: FingerprintCache[tuple[Proposal, int]] = FingerprintCache()
        self.pending: dict[int, _Pending] = {}
        self.backlog: list[Trial] = []
        self.seq = 0
        self.trial_ids = 0
        self.trained = 0
        self.done = 0
        self.hurdle_readings: list[float] = []
        self.best: tuple[str, float] | None = None  # (expr, fitness) for the progress display
        self.seeds = [settings.seed + i for i in range(self.space.budget.seeds_per_candidate)]

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> SearchSummary:
        total = self.strategy.budget + len(self.space.baselines)
        self.reporter.start(total, self.run_record.name)
        self._resume_from_store()
        self._submit_baselines()
        while not self.strategy.done or self.pending:
            self._propose_while_capacity()
            self._submit_backlog()
            if not self.pending:
                if self.strategy.done:
                    break
                raise SearchError("the strategy stalled: nothing to propose and nothing running")
            for trial, result in self.executor.wait():
                self._record(trial, result)
            self._report()
        self._report()
        self.store.set_run_status(self.run_record.id, "finished")
        counts = self.store.counts(self.run_record.id, baselines=False)
        return SearchSummary(self.store.get_run(self.run_record.name), counts, self.trained)

    def _report(self) -> None:
        self.reporter.update(self.done, self.executor.in_flight, self.best)

    def _propose_while_capacity(self) -> None:
        while self._has_capacity() and not self.backlog:
            proposal = self.strategy.ask()
            if proposal is None:
                return
            self._handle(proposal)

    def _has_capacity(self) -> bool:
        return self.executor.in_flight + len(self.backlog) < self.executor.capacity

    def _submit_backlog(self) -> None:
        while self.backlog and self.executor.in_flight < self.executor.capacity:
            self.executor.submit(self.backlog.pop(0))

    # -- one proposal: screen, dedupe, train --------------------------------------------

    def _handle(self, proposal: Proposal) -> None:
        activation = self.factory.activation(proposal.individual)
        fingerprint = activation.fingerprint
        verdict = screen(activation, increasing=self.space.constraints.increasing,
                         probe=self.space.constraints.probe,
                         min_nonzero_grad=self.space.constraints.min_nonzero_grad)
        original = self.cache.original(fingerprint)
        if not verdict.ok:
            candidate = self._add(proposal, activation, "rejected", reason=verdict.reason)
            self.done += 1
            self._tell(proposal, candidate.id, None)
        elif original is not None:
            candidate = self._add(proposal, activation, "duplicate", equivalent_to=original,
                                  reason=f"equivalent to candidate {original}")
            if self.cache.is_done(fingerprint):
                self._tell_duplicate(proposal, candidate.id, self.cache.fitness(fingerprint))
            else:
                self.cache.wait(fingerprint, (proposal, candidate.id))
        else:
            candidate = self._add(proposal, activation, "queued")
            self.cache.add(fingerprint, candidate.id)
            self._queue(candidate.id, fingerprint, str(activation), proposal)

    def _add(self, proposal: Proposal, activation: Activation, status: str, **extra: Any) -> CandidateRecord:
        self.seq += 1
        return self.store.add_candidate(
            self.run_record.id, expr=str(activation), fingerprint=activation.fingerprint,
            complexity=activation.complexity, generation=proposal.generation,
            parents=list(proposal.parents), origin=proposal.origin, status=status,
            genotype=self.factory.genotype(proposal.individual), ask_seq=self.seq, **extra,
        )

    def _queue(self, candidate_id: int, fingerprint: str, expr: str, proposal: Proposal | None,
               seeds: Iterable[int] | None = None) -> None:
        seeds = list(self.seeds if seeds is None else seeds)
        self.pending[candidate_id] = _Pending(candidate_id, fingerprint, expr, proposal, list(self.seeds))
        hurdle = self._hurdle() if proposal is not None else None
        for seed in seeds:
            self.trial_ids += 1
            self.backlog.append(Trial(
                self.trial_ids, candidate_id, expr, seed, epochs=self.space.budget.epochs,
                hurdle=hurdle, parametric=self.space.parametric,
            ))

    def _hurdle(self) -> tuple[int, float] | None:
        """Successive-halving style: the threshold is a quantile of fitness seen at the hurdle."""
        hurdle = self.space.budget.hurdle
        if hurdle is None:
            return None
        if len(self.hurdle_readings) < hurdle.min_observations:
            return hurdle.epochs, -math.inf  # record the reading, stop nobody yet
        readings = sorted(self.hurdle_readings)
        index = min(len(readings) - 1, int(hurdle.quantile * len(readings)))
        return hurdle.epochs, readings[index]

    # -- results ------------------------------------------------------------------------

    def _record(self, trial: Trial, result: EvalResult) -> None:
        pending = self.pending[trial.candidate_id]
        self.store.add_evaluation(trial.candidate_id, task=self.settings.task, seed=trial.seed,
                                  budget=result.epochs, result=result)
        self.trained += 1
        self._note_hurdle(result)
        pending.results.append(result)
        if len(pending.results) == len(pending.seeds):
            self._complete(pending)

    def _complete(self, pending: _Pending) -> None:
        """All seeds are back: store the candidate's outcome and tell the strategy."""
        del self.pending[pending.candidate_id]
        fitness, spread = _aggregate(pending.results)
        errors = [r.error for r in pending.results if r.error]
        outcome = {"status": "evaluated" if fitness is not None else "failed",
                   "reason": errors[0] if errors else None}
        self.done += 1
        if fitness is not None and (self.best is None or fitness > self.best[1]):
            self.best = (pending.expr, fitness)
        if pending.proposal is None:  # a baseline: not part of the strategy
            self.store.finish_candidate(pending.candidate_id, fitness=fitness, fitness_std=spread, **outcome)
        else:
            self._tell(pending.proposal, pending.candidate_id, fitness, spread, **outcome)
        for proposal, duplicate_id in self.cache.resolve(pending.fingerprint, fitness):
            self._tell_duplicate(proposal, duplicate_id, fitness)

    def _note_hurdle(self, result: EvalResult) -> None:
        hurdle = self.space.budget.hurdle
        for partial in result.partials:
            if hurdle and partial.epochs == hurdle.epochs and partial.fitness is not None:
                self.hurdle_readings.append(partial.fitness)

    def _tell_duplicate(self, proposal: Proposal, candidate_id: int, fitness: float | None) -> None:
        self.done += 1
        self._tell(proposal, candidate_id, fitness)

    def _tell(self, proposal: Proposal, candidate_id: int, fitness: float | None,
              fitness_std: float | None = None, **outcome: Any) -> None:
        """Store the outcome with its place in the ask/tell sequence, then tell the strategy."""
        self.seq += 1
        self.store.finish_candidate(candidate_id, fitness=fitness, fitness_std=fitness_std, tell_seq=self.seq,
                                    **outcome)
        self.strategy.tell(proposal, candidate_id, fitness)

    # -- baselines ----------------------------------------------------------------------

    def _submit_baselines(self) -> None:
        """Standard activations, evaluated under the same budget in every run."""
        for text in self.space.baselines:
            activation = Activation.parse(text)
            fingerprint = activation.fingerprint
            if self.cache.original(fingerprint) is not None:
                continue  # already evaluated (resume) or listed twice
            candidate = self.store.add_candidate(
                self.run_record.id, expr=str(activation), fingerprint=fingerprint,
                complexity=activation.complexity, generation=0, parents=[], origin="baseline",
                is_baseline=True, status="queued", genotype=text, ask_seq=None,
            )
            self.cache.add(fingerprint, candidate.id)
            self._queue(candidate.id, fingerprint, str(activation), None)

    # -- resume -------------------------------------------------------------------------

    def _resume_from_store(self) -> None:
        """Replay the stored ask/tell sequence into the fresh strategy; requeue what was in flight."""
        stored = self.store.candidates(self.run_record.id)
        if not stored:
            return
        leader = self.store.leaderboard(run=self.run_record.name, k=1)
        self.best = (leader[0].expr, leader[0].fitness) if leader else None
        hurdle = self.space.budget.hurdle
        if hurdle is not None:
            self.hurdle_readings = [e.fitness for e in self.store.run_evaluations(self.run_record.id, partials=True)
                                    if e.is_partial and e.budget == hurdle.epochs and e.fitness is not None]
        for record in stored:
            if record.is_baseline:
                self._restore_baseline(record)
        events = sorted(
            [(c.ask_seq, "ask", c) for c in stored if c.ask_seq is not None]
            + [(c.tell_seq, "tell", c) for c in stored if c.tell_seq is not None],
            key=lambda event: event[0],
        )
        proposals: dict[int, Proposal] = {}
        for seq, kind, record in events:
            self.seq = seq
            if kind == "ask":
                proposals[record.id] = self._replay_ask(record)
            else:
                self.strategy.tell(proposals[record.id], record.id, record.fitness)
                self.done += 1
        for record in stored:
            if record.ask_seq is not None and record.tell_seq is None:
                self._restore_in_flight(record, proposals[record.id])
        self.reporter.message(
            f"resumed run {self.run_record.name!r}: {self.done} candidates done, "
            f"{len(self.pending)} resubmitted, {self.strategy.budget - self.strategy.proposed} still to propose"
        )

    def _replay_ask(self, record: CandidateRecord) -> Proposal:
        proposal = self.strategy.ask()
        if proposal is None or self.factory.genotype(proposal.individual) != record.genotype:
            raise SearchError(
                f"cannot resume run {self.run_record.name!r}: candidate {record.id} does not replay "
                "(was the search space or actsearch version changed?)"
            )
        if record.status in ("evaluated", "failed", "queued", "running") and record.equivalent_to is None:
            done = record.status in ("evaluated", "failed")
            if done:
                self.cache.add_done(record.fingerprint, record.id, record.fitness)
            else:
                self.cache.add(record.fingerprint, record.id)
        return proposal

    def _restore_baseline(self, record: CandidateRecord) -> None:
        if record.status in ("evaluated", "failed"):
            self.cache.add_done(record.fingerprint, record.id, record.fitness)
            self.done += 1
        else:
            self.cache.add(record.fingerprint, record.id)
            self._requeue(record, None)

    def _restore_in_flight(self, record: CandidateRecord, proposal: Proposal) -> None:
        """A proposal stored but not told when the search stopped: finish what it needs."""
        if record.status == "rejected":  # stopped between storing the rejection and telling it
            self.done += 1
            self._tell(proposal, record.id, None)
            return
        if record.status == "duplicate" and record.equivalent_to is not None:
            original = self.cache.original(record.fingerprint)
            if original is not None and self.cache.is_done(record.fingerprint):
                self._tell_duplicate(proposal, record.id, self.cache.fitness(record.fingerprint))
            else:
                self.cache.wait(record.fingerprint, (proposal, record.id))
            return
        self._requeue(record, proposal)

    def _requeue(self, record: CandidateRecord, proposal: Proposal | None) -> None:
        """Resubmit only the seeds of a candidate that have no stored final evaluation."""
        finished = {e.seed: e for e in self.store.evaluations(record.id, partials=False)}
        missing = [seed for seed in self.seeds if seed not in finished]
        self._queue(record.id, record.fingerprint, record.expr, proposal, missing)
        pending = self.pending[record.id]
        pending.results.extend(_as_result(finished[seed]) for seed in self.seeds if seed in finished)
        if not missing:  # stopped after its last result was stored, before it was told
            self._complete(pending)


def _aggregate(results: list[EvalResult]) -> tuple[float | None, float | None]:
    """Mean fitness over seeds (failed seeds make the candidate failed) and its spread."""
    values = [r.fitness for r in results if r.status in ("ok", "stopped") and r.fitness is not None]
    if len(values) < len(results) or not values or any(math.isnan(v) for v in values):
        return None, None
    spread = statistics.pstdev(values) if len(values) > 1 else None
    return statistics.fmean(values), spread


def _as_result(evaluation: Any) -> EvalResult:
    return EvalResult(
        status=evaluation.status, fitness=evaluation.fitness, val_accuracy=evaluation.val_accuracy,
        val_loss=evaluation.val_loss, train_seconds=evaluation.train_seconds, epochs=evaluation.epochs,
        steps=evaluation.steps, batch_size=evaluation.batch_size, error=evaluation.error,
    )


# -- composition: from a request (CLI flags) to a finished or resumed run ---------------------


@dataclass(frozen=True)
class SearchRequest:
    """What the user asked for; None means "the space's (or the stored run's) value"."""

    space: str = "default"
    task: str | None = None
    db: str = "runs/actsearch.db"
    run: str | None = None
    seed: int = 0
    workers: int = 0
    population: int | None = None
    generations: int | None = None
    strategy: str | None = None
    epochs: int | None = None
    address: str | None = None
    gpus_per_trial: float = 0.0
    trial_timeout: float | None = None
    executor: str = "ray"
    resume: bool = False
    batch_candidates: int | None = None


@dataclass(frozen=True)
class SearchOutcome:
    run: RunRecord
    counts: dict[str, int]
    trained: int
    leaderboard: list
    best: Any
    parametric: bool


def settings_for(request: SearchRequest) -> SearchSettings:
    """Load the space and apply the command-line overrides (validated like the file)."""
    from actsearch.spaces import load_space

    space = load_space(request.space)
    evolution = {k: v for k, v in (("population", request.population), ("generations", request.generations),
                                   ("strategy", request.strategy)) if v is not None}
    budget = {"epochs": request.epochs} if request.epochs is not None else {}
    data = space.model_dump()
    data["evolution"].update(evolution)
    data["budget"].update(budget)
    space = SearchSpace.model_validate(data)
    return SearchSettings(space, request.task or space.task, request.seed)


def run_search(request: SearchRequest, reporter: Reporter | None = None) -> SearchOutcome:
    """Check the request, start or resume the run, train on the executor, and summarise.

    Everything a user can get wrong (space, task, run name) is checked before
    the store is written to.
    """
    from actsearch.execute import make_executor
    from actsearch.execute.batching import members_per_batch
    from actsearch.store import Store
    from actsearch.tasks import get_task, validate_task

    if request.resume:
        store = Store.open(request.db)
        run, settings = _resume_run(store, request)
        task = get_task(settings.task)
    else:
        settings = settings_for(request)
        task = get_task(settings.task)
    options = {} if request.executor == "local" else {
        "workers": request.workers, "gpus_per_trial": request.gpus_per_trial,
        "address": request.address, "trial_timeout": request.trial_timeout,
    }
    options["members_per_batch"] = members_per_batch(
        request.batch_candidates or settings.space.budget.batch_candidates,
        settings.space.budget.seeds_per_candidate, use_gpu=request.gpus_per_trial > 0,
        local=request.executor == "local")
    executor = make_executor(request.executor, settings.task, task.load_data(), **options)
    try:
        if not request.resume:
            validate_task(task)
            store = Store.open(request.db)
            run = _new_run(store, request, settings)
    except BaseException:
        executor.shutdown()
        raise
    search = Search(settings, store, executor, run, reporter)
    try:
        summary = search.run()
    except BaseException:
        store.set_run_status(run.id, "interrupted")
        raise
    finally:
        executor.shutdown()
    ranked = store.leaderboard(run=run.name, k=None)
    board = [row for row in ranked if row.rank <= LEADERBOARD_SIZE or row.is_baseline]  # baselines always shown
    best = next((row for row in ranked if not row.is_baseline), None)
    return SearchOutcome(summary.run, summary.counts, summary.trained, board, best, settings.space.parametric)


def _resume_run(store: Store, request: SearchRequest) -> tuple[RunRecord, SearchSettings]:
    if not request.run:
        raise SearchError("--resume needs --run NAME (see `actsearch runs`)")
    run = store.get_run(request.run)
    if run is None:
        raise SearchError(f"no run named {request.run!r} to resume")
    if run.status == "finished":
        raise SearchError(f"run {request.run!r} already finished")
    store.set_run_status(run.id, "running")
    return run, SearchSettings.from_config(run.config)


def _new_run(store: Store, request: SearchRequest, settings: SearchSettings) -> RunRecord:
    name = request.run or f"{settings.space.name}-{_timestamp()}"
    if store.get_run(name) is not None:
        raise SearchError(f"run {name!r} already exists: pick another --run, or add --resume to continue it")
    return store.create_run(name, task=settings.task, space=settings.space.name, seed=settings.seed,
                            config=settings.to_config())


def _timestamp() -> str:
    from datetime import datetime

    return f"{datetime.now():%Y%m%d-%H%M%S}"
