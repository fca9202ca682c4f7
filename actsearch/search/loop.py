"""The search loop: the one place where strategy, screening, executor and store meet.

    strategy.ask() -> screen -> dedupe -> [surrogate pool] -> executor.submit -> store
         ^                                                          |
         +---------- tell(fitness) <---------------------- executor.wait()

The budget is a number of trainings: a functional duplicate or a screened-out
proposal costs none (it takes the cached fitness or its rejection) and the
strategy is asked again, until the budget is spent or `IDLE_CAP` proposals in
a row trained nothing (the space looks exhausted). Then the winners and the
baselines are re-evaluated with more seeds (`reevaluate.py`).

The driver is the only writer to the store and writes every proposal and
result as it happens, so the store is the checkpoint. Every ask and tell gets
a number in one sequence (`ask_seq`, `tell_seq` on the candidate row), which
`replay.py` uses to resume a stopped run.

Writes are batched (`Store.batch()`): they are buffered in order and committed
together, one transaction per flush. The loop flushes only between two rounds,
after the proposals that refill the executor and before it submits them, when
the batch is `flush_seconds` old or holds `flush_writes` writes; and when
`executor.wait()` has nothing within what is left of `flush_seconds`, before
waiting on; before anything reads the store; and at the end. So the guarantee
on a crash (kill -9, a lost machine) is: the store holds the search exactly as
it was at the last flush, a moment between two rounds, and nothing of what came
after. In-memory effects run ahead of the store (the strategy is told before
the flush), but they are a function of what the store will hold: the replay
rebuilds the same strategy from the stored ask/tell sequence, requeues the
trainings of the candidates in flight at that flush in the order they were
asked, and the run goes on as the uninterrupted one did. What a crash costs is
the unflushed batch: the results that came back since the last flush (a flush
window plus the round in progress) are trained again, and trials submitted for
candidates of that batch were trained for nothing (they are proposed again,
identically, and trained then). Nothing is stored twice.
On SQLite a batch holds the write lock from its first new candidate (whose id it
fixes) to its flush: another writer of the file waits for one flush window at
most, never for a training (an executor that cannot return within a timeout,
the in-process one, returns nothing, and the loop flushes before waiting on).

A space may name several tasks. Then every candidate is trained on each task
with each seed (each training one evaluation, one unit of the budget), and its
fitness is relative to the best baseline on each task (`fitness.py`), fixed once
the baselines have trained, so candidates finished earlier wait for it
(`SearchState.held`).

With a surrogate (`surrogate.py`), a screened, new proposal does not train at once:
it is stored as `pooled` with its prediction, and when the pool is full the chosen
member trains and the others are told as `passed` (no training, no budget). Every
training told teaches the surrogate. A budget with rungs (`budget.rungs`) gives
trainings thresholds at each rung epoch (ASHA), and a training stopped at one gives
back the share of the budget it did not use.

The loop's state has one owner, `SearchState` (`state.py`), whose docstring
writes down the rules that the loop, the replay and the re-check keep.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from actsearch.evolve import Proposal, Strategy, TreeFactory, make_strategy
from actsearch.execute import Executor, Trial, submit_while_capacity
from actsearch.expr import Activation, screen
from actsearch.expr.ast import Node
from actsearch.expr.normalize import Moments, moments
from actsearch.results import EvalResult
from actsearch.search import lamarck
from actsearch.search.fitness import FitnessRule, MissingBaselineError
from actsearch.search.state import OrderStatistic, Pair, PendingCandidate, SearchState
from actsearch.search.surrogate import Pool, Surrogate, features
from actsearch.spaces import SearchSettings
from actsearch.stats import spearman
from actsearch.store import RunRecord, Store

log = logging.getLogger(__name__)


class SearchError(RuntimeError):
    """A search that cannot start or resume; the message is one line."""


class Reporter(Protocol):
    """Where the search reports progress (the CLI draws it; tests may ignore it)."""

    def start(self, total: int, run_name: str) -> None: ...

    def update(self, done: int, running: int, best: tuple[str, float] | None) -> None: ...

    def message(self, text: str) -> None: ...


#: The loop commits its buffered writes when the batch is this old (seconds) ...
FLUSH_SECONDS = 0.25
#: ... or holds this many writes (proposals, results and outcomes).
FLUSH_WRITES = 5000


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
    "genotype", "screen", "standardise", "record" (one result, all of it), "store.METHOD" (one
    write to the batch, by the store's method), "store.flush" (one transaction
    writing a batch), "progress" (drawing it).
    """

    def span(self, part: str) -> AbstractContextManager[object]: ...


class Unobserved:
    def span(self, part: str) -> AbstractContextManager[object]:
        return contextlib.nullcontext()


@dataclass(frozen=True)
class SearchSummary:
    run: RunRecord
    counts: dict[str, int]
    trained: int
    stopped_early: str | None = None  # why the budget was not spent, if it was not
    utilisation: float | None = None  # WorkerTime.utilisation
    #: how well the surrogate ranked what was then trained: (Spearman rho, candidates); None: no surrogate
    surrogate_rank: tuple[float | None, int] | None = None
    stopped: int = 0  # proposals' trainings stopped at a multi-fidelity rung
    spent: float = 0.0  # the budget the proposals used, in trainings (a stopped one: the share it ran)


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
    """What screening made of a proposal, all numeric: the light text of the function as
    evolved (None when its expression failed), its fingerprint (standardised, when the
    space normalises), its complexity as evolved, why it is rejected (None: it is not),
    and its moments when the space normalises (to build the expression it trains)."""

    expr: str | None
    fingerprint: str
    complexity: int | None
    reason: str | None
    moments: Moments | None = None
    features: np.ndarray | None = None  # the surrogate's, when the space has one


@dataclass(frozen=True)
class _Pooled:
    """A proposal in the surrogate's pool: what training it takes once it is chosen."""

    proposal: Proposal
    candidate_id: int
    node: Node
    inspected: _Inspected


#: genotypes whose inspection the loop remembers (a proposal's tree often comes back)
INSPECTED_CACHE = 50_000


class Search:
    """One run of a search space on its tasks, recorded in a store.

    Its parts are public so that the replay and the re-check (this loop's other
    halves) work through them: `state` (counters, work in flight, cache),
    `rule` (tasks, seeds, the baselines' reference), `strategy`, and the
    operations below that keep the state and the store in step."""

    def __init__(
        self,
        settings: SearchSettings,
        store: Store,
        executor: Executor,
        run: RunRecord,
        reporter: Reporter | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.settings = settings
        self.space = settings.space
        self.store = store
        self.executor = executor
        self.run_record = run
        self.reporter = reporter or SilentReporter()
        self.span = (observer or Unobserved()).span
        self.factory = TreeFactory(self.space, random.Random(settings.seed))
        self.strategy: Strategy = make_strategy(self.factory, self.space.evolution)
        self.state = SearchState(budget=self.space.trainings)
        self._planned: dict[str, int] = {}  # task -> the epochs a training is planned for
        rungs = self.space.budget.rungs  # one task only (the space checks it)
        self.rung_epochs = rungs.before(self.planned_epochs(self.space.tasks[0])) if rungs else ()
        if rungs is not None:  # a rung's threshold: the reading below which the best `keep` share lie
            self.state.rung_readings = {e: OrderStatistic(round(1.0 - rungs.keep, 12)) for e in self.rung_epochs}
        self.rule = self._fitness_rule(settings)
        self.worker_time = WorkerTime(executor.workers)
        self.writes = store.batch()
        self.flush_seconds = FLUSH_SECONDS
        self.flush_writes = FLUSH_WRITES
        self._inspected: dict[str, _Inspected] = {}  # genotype -> inspection (a pure function of it)
        options = self.space.surrogate
        self.surrogate = Surrogate(options.neighbours, options.warmup) if options.enabled else None
        self.pool: Pool[_Pooled] = Pool(options.pool, options.exploration)
        self._features: dict[int, np.ndarray | None] = {}  # candidate in training -> its features

    @staticmethod
    def _fitness_rule(settings: SearchSettings) -> FitnessRule:
        budget, fitness = settings.space.budget, settings.space.fitness
        return FitnessRule(
            settings.tasks,
            [settings.seed + i for i in range(budget.seeds_per_candidate)],
            baseline_seeds=[settings.seed + i for i in range(budget.seeds_per_baseline)],
            across=fitness.across_tasks,
            units=fitness.units,
            score=fitness.score,
        )

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> SearchSummary:
        try:
            return self._run()
        finally:
            self.writes.close()  # after an error: what was not flushed is dropped, as by a crash

    def _run(self) -> SearchSummary:
        from actsearch.search.reevaluate import reevaluate_winners
        from actsearch.search.replay import resume_from_store

        state = self.state
        self.reporter.start(self.planned_trainings(), self.run_record.name)
        for note in self.settings.notes:
            self.reporter.message(note)
        self._note_unused_rungs()
        resume_from_store(self)
        self._submit_baselines()
        state.baselines_submitted = True
        self._release()
        while state.asking or state.pending:
            self._propose_while_capacity()
            if self.writes.due(self.flush_seconds, self.flush_writes):
                self.flush()
            submit_while_capacity(self.executor, state.backlog)
            if not state.pending:
                if not state.asking:
                    break
                raise SearchError("the strategy stalled: nothing to propose and nothing running")
            for trial, result in self._wait():
                self.worker_time.returned(result)
                with self.span("record"):
                    self.record(trial, result)
            self.show_progress()
        self.close_pool()
        self.flush()
        self.show_progress()
        reevaluate_winners(self)
        self.flush()
        stopped_early = None
        if state.exhausted:
            stopped_early = (
                f"the space looks exhausted: {state.idle} proposals in a row were duplicates or "
                f"rejected; {state.committed:g} of {state.budget} trainings spent"
            )
            self.reporter.message(stopped_early)
        run_id = self.run_record.id
        self.store.set_run_status(run_id, "finished")
        counts = self.store.counts(run_id, baselines=False)
        return SearchSummary(
            self.store.run(run_id),
            counts,
            state.trained,
            stopped_early,
            self.worker_time.utilisation,
            self.surrogate_rank(),
            state.stopped,
            state.committed,
        )

    def _wait(self) -> list[tuple[Trial, EvalResult]]:
        """The executor's next results. With writes buffered, wait at most until the batch
        is due; nothing by then: flush, and wait on. Stopped while waiting (Ctrl-C, the
        executor failed), flush first: the loop is between two rounds there."""
        try:
            if self.writes.pending:
                results = self.executor.wait(timeout=max(0.0, self.flush_seconds - self.writes.age))
                if results:
                    return results
                self.flush()
            return self.executor.wait()
        except BaseException:
            try:
                self.flush()
            except Exception as error:  # the first error is the one to report
                log.warning("could not store the last batch: %s", error)
            raise

    def flush(self) -> None:
        """Commit the buffered writes (one transaction); the store is then up to date."""
        if self.writes.pending or self.writes.holds_lock:
            with self.span("store.flush"):
                self.writes.flush()

    def flush_if_due(self) -> None:
        if self.writes.due(self.flush_seconds, self.flush_writes):
            self.flush()

    def planned_trainings(self) -> int:
        """The trainings the progress bar expects: the budget, the baselines, the re-check's first round."""
        budget, rule = self.space.budget, self.rule
        baselines = len(self.space.baselines) * len(rule.pairs_of(baseline=True))
        recheck = budget.reevaluate_top * budget.reevaluate_seeds + len(self.space.baselines) * max(
            0, budget.reevaluate_seeds - (len(rule.baseline_seeds) - len(rule.seeds))
        )
        return self.state.budget + baselines + recheck * len(rule.tasks)

    def show_progress(self) -> None:
        """Tell the reporter the trainings done, those running and the best so far."""
        with self.span("progress"):
            self.reporter.update(self.state.trained, self.executor.in_flight, self.state.best)

    def _propose_while_capacity(self) -> None:
        """Fill the executor: a batching executor can only batch what it holds."""
        while self.state.asking and self._has_capacity():
            with self.span("ask"):
                proposal = self.strategy.ask()
            if proposal is None:
                return
            with self.span("handle"):
                self._handle(proposal)

    def _has_capacity(self) -> bool:
        return self.executor.in_flight + len(self.state.backlog) < self.executor.capacity

    # -- one proposal: screen, dedupe, train --------------------------------------------

    def inspection(self, proposal: Proposal) -> tuple[Node, str, _Inspected]:
        """A proposal's tree, genotype and what screening made of it (remembered by genotype)."""
        with self.span("genotype"):
            node = self.factory.to_node(proposal.individual)
            genotype = self.factory.genotype_of(node)
        inspected = self._inspected.get(genotype)
        if inspected is None:
            inspected = self._inspect(node, genotype)
            if len(self._inspected) >= INSPECTED_CACHE:
                self._inspected.clear()
            self._inspected[genotype] = inspected
        return node, genotype, inspected

    def _handle(self, proposal: Proposal) -> None:
        node, genotype, inspected = self.inspection(proposal)
        fingerprint, reason = inspected.fingerprint, inspected.reason
        cache = self.state.cache
        original = cache.original(fingerprint)
        if reason is None and original is None and self.surrogate is not None and self.surrogate.ready:
            self.state.proposed(trains=True)
            self._pool_add(proposal, node, inspected, genotype)
            return
        train = None
        if reason is None and original is None:
            train, reason = self._to_train(node, inspected)
        self.state.proposed(trains=train is not None)
        if reason is not None:
            candidate_id = self._add(proposal, inspected, genotype, "rejected", reason=reason)
            self.state.done += 1
            self.tell(proposal, candidate_id, None)
        elif original is not None:
            candidate_id = self._add(
                proposal,
                inspected,
                genotype,
                "duplicate",
                equivalent_to=original,
                reason=f"equivalent to candidate {original}",
            )
            if cache.is_done(fingerprint):
                self.tell_duplicate(proposal, candidate_id, cache.fitness(fingerprint))
            else:
                cache.wait(fingerprint, (proposal, candidate_id))
        else:
            assert train is not None
            candidate_id = self._add(proposal, inspected, genotype, "queued", expr=train)
            self._train_new(candidate_id, inspected, train, proposal)

    def _train_new(self, candidate_id: int, inspected: _Inspected, train: str, proposal: Proposal) -> None:
        self.state.cache.add(inspected.fingerprint, candidate_id)
        if self.surrogate is not None:
            self._features[candidate_id] = inspected.features
        self.queue(candidate_id, inspected.fingerprint, train, proposal)

    # -- the surrogate's pool -------------------------------------------------------------

    def _pool_add(self, proposal: Proposal, node: Node, inspected: _Inspected, genotype: str) -> None:
        """Score a screened, new proposal and keep it in the pool; a full pool is judged."""
        assert self.surrogate is not None
        with self.span("predict"):
            prediction = self.surrogate.predict(inspected.features)
        twin = self.pool.fingerprints.get(inspected.fingerprint)
        if twin is not None:  # the same function is in the pool already: one of them is enough
            reason = f"the same function as candidate {twin} of its pool"
            candidate_id = self._add(proposal, inspected, genotype, "passed", reason=reason, predicted=prediction)
            self.state.done += 1
            self.tell(proposal, candidate_id, None)
            return
        candidate_id = self._add(proposal, inspected, genotype, "pooled", predicted=prediction)
        self._pool_in(_Pooled(proposal, candidate_id, node, inspected), prediction)

    def repool(self, proposal: Proposal, candidate_id: int, prediction: float | None) -> None:
        """Put a stored proposal back in the pool (the replay restores one this way)."""
        node, _, inspected = self.inspection(proposal)
        self._pool_in(_Pooled(proposal, candidate_id, node, inspected), prediction)

    def _pool_in(self, member: _Pooled, prediction: float | None) -> None:
        self.pool.add(member, member.inspected.fingerprint, member.candidate_id, prediction)
        if self.pool.full:
            self._judge_pool()

    def _judge_pool(self) -> None:
        """Train the chosen member; the others are told as passed over."""
        members = list(self.pool.members)
        chosen = members[self.pool.choose(self.settings.seed, members[0].candidate_id)]
        self.pool.clear()
        for member in members:
            if member is not chosen:
                self.state.done += 1
                reason = f"the surrogate trained candidate {chosen.candidate_id} of its pool instead"
                self.tell(member.proposal, member.candidate_id, None, status="passed", reason=reason)
        train, failure = self._to_train(chosen.node, chosen.inspected)
        if train is None:
            self.state.done += 1
            self.tell(chosen.proposal, chosen.candidate_id, None, status="rejected", reason=failure)
            return
        self.writes.set_expr(chosen.candidate_id, train, status="queued")
        self._train_new(chosen.candidate_id, chosen.inspected, train, chosen.proposal)

    def close_pool(self) -> None:
        """The search stopped asking before the pool filled: its members are passed over."""
        members = list(self.pool.members)
        self.pool.clear()
        for member in members:
            self.state.done += 1
            reason = "the search stopped asking before its pool was judged"
            self.tell(member.proposal, member.candidate_id, None, status="passed", reason=reason)

    def learn(self, candidate_id: int, fitness: float | None) -> None:
        """Teach the surrogate a trained candidate's fitness (None: its training failed)."""
        row = self._features.pop(candidate_id, None)
        if self.surrogate is not None:
            self.surrogate.observe(row, fitness)

    def learn_told(self, proposal: Proposal, candidate_id: int, fitness: float | None) -> None:
        """Teach the surrogate a trained proposal's fitness as the replay tells it."""
        if self.surrogate is not None:
            self._features[candidate_id] = self.inspection(proposal)[2].features
            self.learn(candidate_id, fitness)

    def remember_features(self, candidate_id: int, row: np.ndarray | None) -> None:
        """What the surrogate learns from a candidate in training, when it is told."""
        if self.surrogate is not None:
            self._features[candidate_id] = row

    def surrogate_rank(self) -> tuple[float | None, int] | None:
        """Spearman's rho between the prediction each trained candidate had before its
        training and the fitness it then got, over the run's candidates (None: no surrogate)."""
        if self.surrogate is None:
            return None
        self.flush()
        pairs = [
            (c.predicted, c.fitness)
            for c in self.store.candidates(self.run_record.id)
            if c.predicted is not None and c.fitness is not None and c.status == "evaluated" and not c.is_baseline
        ]
        return spearman([p for p, _ in pairs], [f for _, f in pairs]), len(pairs)

    def _inspect(self, node: Node, genotype: str) -> _Inspected:
        """Light form, fingerprint, screening verdict and (when the space asks) the
        standardised fingerprint of a proposal, all numeric: the sympy canonical form is
        left to the worker that trains it (`EvalResult.expr`), the standardised expression
        to `_to_train`. Any of them failing (a bug, an expression numpy chokes on) rejects
        this one candidate with the reason, instead of stopping the search."""
        constraints = self.space.constraints
        try:
            with self.span("canonicalise"):
                activation = Activation.from_tree(node, simplify=False)
                if not self.space.normalize:  # else only a rejection keeps the raw fingerprint
                    activation.fingerprint  # noqa: B018 (computed here, for the span)
            with self.span("screen"):
                verdict = screen(
                    activation,
                    increasing=constraints.increasing,
                    probe=constraints.probe,
                    min_nonzero_grad=constraints.min_nonzero_grad,
                )
            complexity = activation.complexity  # of the function as evolved, before any standardisation
            if not verdict.ok:
                return _Inspected(str(activation), activation.fingerprint, complexity, verdict.reason or "screened out")
            standard = None
            if self.space.normalize:
                with self.span("standardise"):
                    standard = moments(activation)
                if standard is None:
                    reason = "no finite, non-zero spread under N(0, 1) inputs: cannot be standardised"
                    return _Inspected(str(activation), activation.fingerprint, complexity, reason)
            row = None
            if self.surrogate is not None:
                with self.span("features"):
                    row = features(activation, standard)
            fingerprint = standard.fingerprint if standard else activation.fingerprint
            return _Inspected(str(activation), fingerprint, complexity, None, standard, row)
        except Exception as error:  # one bad candidate must not end the run
            return self._failed(genotype, error)

    def _to_train(self, node: Node, inspected: _Inspected) -> tuple[str | None, str | None]:
        """(the expression a new candidate trains, None) or (None, why it cannot): its light
        form, standardised when the space normalises (built only for those that train)."""
        assert inspected.expr is not None
        if inspected.moments is None:
            return inspected.expr, None
        try:
            with self.span("standardise"):
                light = Activation.from_tree(node, simplify=False).tree
                return str(Activation.from_tree(inspected.moments.tree(light), simplify=False)), None
        except Exception as error:
            return None, self._failed(self.factory.genotype_of(node), error).reason

    @staticmethod
    def _failed(genotype: str, error: Exception) -> _Inspected:
        log.warning("candidate %s rejected: %s", genotype, error)
        return _Inspected(None, "", None, f"expression failed: {type(error).__name__}: {error}"[:500])

    def _add(
        self,
        proposal: Proposal,
        inspected: _Inspected,
        genotype: str,
        status: str,
        expr: str | None = None,
        **extra: Any,
    ) -> int:
        """Store a proposal (its id is fixed at once) with `expr`, the expression it trains,
        or else the light form of the function as evolved, or else (its expression failed)
        its genotype text."""
        seq = self.state.next_seq()
        with self.span("store.add_candidate"):
            return self.writes.add_candidate(
                self.run_record.id,
                expr=expr or inspected.expr or genotype,
                fingerprint=inspected.fingerprint,
                complexity=inspected.complexity,
                generation=proposal.generation,
                parents=list(proposal.parents),
                origin=proposal.origin,
                status=status,
                genotype=genotype,
                ask_seq=seq,
                **extra,
            )

    def queue(
        self,
        candidate_id: int,
        fingerprint: str,
        expr: str,
        proposal: Proposal | None,
        pairs: Iterable[Pair] | None = None,
    ) -> PendingCandidate:
        """Train a candidate on every (task, seed), or only the `pairs` given (resume); a
        proposal commits its trainings to the budget, a baseline (`proposal` None) does not."""
        every = self.rule.pairs_of(baseline=proposal is None)
        pairs = list(every if pairs is None else pairs)
        pending = PendingCandidate(candidate_id, fingerprint, expr, proposal, every)
        self.state.pending[candidate_id] = pending
        if proposal is not None:
            self.state.committed += len(self.rule.pairs)
        rungs = self._rungs() if proposal is not None else ()
        exact = self.exact_text(self.factory.to_node(proposal.individual)) if proposal is not None else None
        self.state.backlog.extend(
            self.trial(candidate_id, exact or expr, pair, rungs, exact is not None) for pair in pairs
        )
        return pending

    def trial(
        self, candidate_id: int, expr: str, pair: Pair, rungs: tuple[tuple[int, float], ...] = (), exact: bool = False
    ) -> Trial:
        """One training of a candidate under the space's budget; `exact`: `expr` is the
        prefix text of a tree to train as written, its constants learned (Lamarckian)."""
        task, seed = pair
        return Trial(
            self.state.next_trial_id(),
            candidate_id,
            expr,
            seed,
            epochs=self.space.budget.epochs,
            rungs=rungs,
            parametric=self.space.parametric or exact,
            exact=exact,
            task=task,
        )

    # -- Lamarckian constants (actsearch.search.lamarck) --------------------------------

    def exact_text(self, node: Node) -> str | None:
        """In a Lamarckian space: the text a proposal whose tree is `node` trains, its tree
        as evolved (see lamarck.exact_text); else None (the light form trains)."""
        if not self.space.evolution.lamarckian:
            return None
        return lamarck.exact_text(node, self.space.normalize)

    def written_back(self, pending: PendingCandidate) -> str | None:
        """A trained proposal's tree with the constants its trainings learned, or None."""
        if not self.space.evolution.lamarckian or pending.proposal is None:
            return None
        node = self.factory.to_node(pending.proposal.individual)
        return lamarck.written_back(node, self.space.normalize, (r.learned for r in pending.results.values()))

    def inherit(self, proposal: Proposal, learned: str | None) -> Proposal:
        """The proposal as the strategy keeps it: with its learned tree, when it has one."""
        if learned is None:
            return proposal
        return replace(proposal, individual=self.factory.from_genotype(learned))

    def _rungs(self) -> tuple[tuple[int, float], ...]:
        """ASHA: each rung's threshold is the quantile of the fitness read there so far below
        which all but the best `keep` share lie; a rung with too few readings stops nobody."""
        rungs = self.space.budget.rungs
        if rungs is None:
            return ()
        readings = self.state.rung_readings
        return tuple(
            (e, readings[e].value if len(readings[e]) >= rungs.min_observations else -math.inf)
            for e in self.rung_epochs
        )

    def _note_unused_rungs(self) -> None:
        rungs = self.space.budget.rungs
        unused = [e for e in rungs.epochs if e not in self.rung_epochs] if rungs else []
        if unused:
            planned = self.planned_epochs(self.space.tasks[0])
            at = ", ".join(map(str, unused))
            self.reporter.message(f"rungs at epoch {at} not used: trainings here last {planned} epochs")

    def planned_epochs(self, task: str) -> int:
        """The epochs a training on `task` is planned for: the space's budget, or the task's own."""
        if task not in self._planned:
            from actsearch.tasks import get_task

            self._planned[task] = self.space.budget.epochs or get_task(task).setup.epochs
        return self._planned[task]

    def refund(self, task: str, result: EvalResult) -> None:
        """A proposal's training stopped at a rung counts as the share of its epochs it ran."""
        if result.status == "stopped":
            planned = self.planned_epochs(task)
            self.state.refund(max(0.0, 1.0 - result.epochs / planned))

    # -- results ------------------------------------------------------------------------

    def store_result(self, trial: Trial, result: EvalResult) -> str:
        """Store one training's result as an evaluation and count it; returns its task."""
        with self.span("store.add_evaluation"):
            self.writes.add_evaluation(
                trial.candidate_id,
                task=trial.task,
                seed=trial.seed,
                planned_epochs=trial.epochs or self.planned_epochs(trial.task),
                result=result,
            )
        self.state.trained += 1
        return trial.task

    def record(self, trial: Trial, result: EvalResult) -> None:
        """One result of the search: store it; a candidate with all its results completes."""
        pending = self.state.pending[trial.candidate_id]
        task = self.store_result(trial, result)
        if result.expr is not None and result.expr != pending.expr:  # stored with the result: a resume keeps it
            self.writes.set_expr(pending.candidate_id, result.expr)
            pending.expr = result.expr
        self._note_rungs(result)
        if pending.proposal is not None:
            self.refund(task, result)
        pending.results[(task, trial.seed)] = result
        if pending.complete:
            self.complete(pending)

    def complete(self, pending: PendingCandidate) -> None:
        """Every (task, seed) is back: finish the candidate once its fitness can be computed."""
        del self.state.pending[pending.candidate_id]
        self.state.held.append(pending)
        self._release()

    def _release(self) -> None:
        """Finish the held candidates, unless their fitness still waits for the baselines:
        across tasks it is relative to the best baseline on each, fixed when every baseline
        has trained (`resume_from_store` and `_submit_baselines` come first)."""
        state = self.state
        if not self.rule.ready:
            if not state.baselines_submitted or any(p.proposal is None for p in state.pending.values()):
                return
            self.fix_reference()
        held, state.held = state.held, []
        for pending in held:
            self._finish(pending)

    def fix_reference(self) -> None:
        """Fix the fitness rule's reference from the baselines' stored trainings (several tasks)."""
        self.flush()
        baselines = {c.id for c in self.store.candidates(self.run_record.id) if c.is_baseline}
        try:
            self.rule.fix_reference(mine for cid, mine in self.scored_trainings().items() if cid in baselines)
        except MissingBaselineError as error:
            raise SearchError(str(error)) from None

    def scored_trainings(self) -> dict[int, dict[Pair, float | None]]:
        """Every final training of the run: per candidate, per (task, seed), its scored fitness."""
        self.flush()
        scored: dict[int, dict[Pair, float | None]] = {}
        for e in self.store.run_evaluations(self.run_record.id):
            scored.setdefault(e.candidate_id, {})[(e.task, e.seed)] = self.rule.scored(e)
        return scored

    def _finish(self, pending: PendingCandidate) -> None:
        """Store the candidate's outcome and tell the strategy."""
        fitness, spread = self.rule.fitness({k: self.rule.scored(r) for k, r in pending.results.items()})
        in_order = [(pair, pending.results[pair]) for pair in pending.pairs]  # fixed: a resume gives the same reason
        errors = [self.rule.failure(pair, r.error or r.status) for pair, r in in_order if self.rule.scored(r) is None]
        status, reason = "evaluated" if fitness is not None else "failed", errors[0] if errors else None
        self.state.done += 1
        self.state.note_best(pending.expr, fitness)
        if pending.proposal is None:  # a baseline: not part of the strategy
            self.learn(pending.candidate_id, fitness)
            with self.span("store.finish_candidate"):
                self.writes.finish_candidate(
                    pending.candidate_id, fitness=fitness, fitness_std=spread, status=status, reason=reason
                )
        else:
            learned = self.written_back(pending)
            self.tell(
                pending.proposal, pending.candidate_id, fitness, spread, status=status, reason=reason, learned=learned
            )
        for proposal, duplicate_id in self.state.cache.resolve(pending.fingerprint, fitness):
            self.tell_duplicate(proposal, duplicate_id, fitness)

    def _note_rungs(self, result: EvalResult) -> None:
        readings = self.state.rung_readings
        for partial in result.partials:
            if partial.epochs in readings and partial.fitness is not None:
                readings[partial.epochs].add(partial.fitness)

    def tell_duplicate(self, proposal: Proposal, candidate_id: int, fitness: float | None) -> None:
        """A duplicate is done when its original is: it takes the original's fitness."""
        self.state.done += 1
        self.tell(proposal, candidate_id, fitness, duplicate=True)

    def tell(
        self,
        proposal: Proposal,
        candidate_id: int,
        fitness: float | None,
        fitness_std: float | None = None,
        *,
        duplicate: bool = False,
        status: str | None = None,
        reason: str | None = None,
        learned: str | None = None,
    ) -> None:
        """Store the outcome with its place in the ask/tell sequence, then tell the strategy
        (as `resume_from_store` replays it: from what the store holds); `duplicate`: the
        candidate was stored as one; `learned`: its tree with learned constants, which the
        strategy keeps instead of the proposed one."""
        seq = self.state.next_seq()
        with self.span("store.finish_candidate"):
            self.writes.finish_candidate(
                candidate_id,
                fitness=fitness,
                fitness_std=fitness_std,
                status=status,
                reason=reason,
                tell_seq=seq,
                learned=learned,
            )
        if status in ("evaluated", "failed"):
            self.learn(candidate_id, fitness)
        with self.span("tell"):
            self.strategy.tell(self.inherit(proposal, learned), candidate_id, fitness, duplicate=duplicate)

    # -- baselines ----------------------------------------------------------------------

    def _submit_baselines(self) -> None:
        """Standard activations, evaluated under the same budget in every run."""
        for text in self.space.baselines:
            activation = Activation.parse(text)
            fingerprint = activation.fingerprint
            if self.state.cache.original(fingerprint) is not None:
                continue  # already evaluated (resume) or listed twice
            with self.span("store.add_candidate"):
                candidate_id = self.writes.add_candidate(
                    self.run_record.id,
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
            self.state.cache.add(fingerprint, candidate_id)
            self.remember_features(candidate_id, features(activation))
            self.queue(candidate_id, fingerprint, str(activation), None)
