"""Resume: rebuild a stopped run's search state from what the store holds.

Every ask and tell of a run has a number in one sequence (`ask_seq`,
`tell_seq` on the candidate row). Replaying that sequence into a fresh
strategy with the same seed rebuilds the exact population without any
pickled state; then whatever was in flight when the run stopped is
resubmitted, seed by seed. Nothing that finished is trained again.

This module works on the loop's public parts: its `SearchState` (whose
docstring states the rules kept here too), its fitness rule and the
operations that keep state and store in step (`queue`, `complete`, `tell`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actsearch.evolve import Proposal
from actsearch.expr import Activation
from actsearch.results import EvalResult
from actsearch.search.surrogate import features
from actsearch.store import CandidateRecord, EvaluationRecord

if TYPE_CHECKING:
    from actsearch.search.loop import Search

#: statuses of a candidate that trained (or trains) as itself, not as a duplicate
TRAINED = ("evaluated", "failed")
IN_TRAINING = ("queued", "running")


def resume_from_store(search: Search) -> None:
    """Replay the stored ask/tell sequence into the fresh strategy; requeue what was in flight."""
    store, run, state = search.store, search.run_record, search.state
    stored = store.candidates(run.id)
    if not stored:
        return
    leader = store.leaderboard(run=run.name, k=1)
    state.best = (leader[0].expr, leader[0].fitness) if leader and leader[0].fitness is not None else None
    if state.rung_readings:
        for e in store.run_evaluations(run.id, partials=True):
            if e.is_partial and e.planned_epochs in state.rung_readings and e.fitness is not None:
                state.rung_readings[e.planned_epochs].add(e.fitness)
    for record in stored:
        if record.is_baseline:
            _restore_baseline(search, record)
    events = sorted(
        [(c.ask_seq, "ask", c) for c in stored if c.ask_seq is not None]
        + [(c.tell_seq, "tell", c) for c in stored if c.tell_seq is not None],
        key=lambda event: event[0],
    )
    told = _told_fitness(search, {c.id for c in stored if c.is_baseline})
    proposals: dict[int, Proposal] = {}
    for seq, kind, record in events:
        state.seq = seq
        if kind == "ask":
            proposals[record.id] = _replay_ask(search, record, told)
        else:
            fitness = told.get(record.id, record.fitness)
            proposal = search.inherit(proposals[record.id], record.learned)
            search.strategy.tell(proposal, record.id, fitness, duplicate=record.status == "duplicate")
            if record.status in TRAINED and record.equivalent_to is None:
                search.learn_told(proposals[record.id], record.id, fitness)
            state.done += 1
    for record in stored:
        if record.ask_seq is not None and record.tell_seq is None:
            _restore_in_flight(search, record, proposals[record.id])
    finals = store.run_evaluations(run.id)
    baselines = {c.id for c in stored if c.is_baseline}
    for e in finals:  # a training stopped at a rung counts as the share it ran
        if e.status == "stopped" and e.candidate_id not in baselines:
            search.refund(e.task, _as_result(e))
    state.trained = len(finals)
    search.reporter.message(
        f"resumed run {run.name!r}: {state.done} candidates done, {len(state.pending)} resubmitted, "
        f"{max(0.0, state.budget - state.committed):g} trainings still to spend"
    )


def _told_fitness(search: Search, baselines: set[int]) -> dict[int, float | None]:
    """The fitness the strategy was told, for candidates whose stored fitness the re-check
    (`reevaluate.py`) has since changed: the one from the search seeds alone.

    A run stopped after the re-check updated some winners, but before it was marked
    finished, would otherwise replay different tells and no longer rebuild its population.
    (Baselines are never told; their seeds past the search's are `budget.baseline_seeds`.)
    """
    rule = search.rule
    search_seeds = set(rule.seeds)
    scored = search.scored_trainings()
    rechecked = [
        cid
        for cid, pairs in scored.items()
        if cid not in baselines and any(seed not in search_seeds for _, seed in pairs)
    ]
    if not rechecked:
        return {}
    if not rule.ready:  # the re-check runs after every baseline
        search.fix_reference()
    return {cid: rule.fitness(scored[cid])[0] for cid in rechecked}


def _replay_ask(search: Search, record: CandidateRecord, told: dict[int, float | None]) -> Proposal:
    from actsearch.search.loop import SearchError

    state = search.state
    proposal = search.strategy.ask()
    if proposal is None or search.factory.genotype(proposal.individual) != record.genotype:
        raise SearchError(
            f"cannot resume run {search.run_record.name!r}: candidate {record.id} does not replay "
            "(was the search space or actsearch version changed?)"
        )
    trains = record.status in (*TRAINED, *IN_TRAINING) and record.equivalent_to is None
    state.proposed(trains or record.status in ("pooled", "passed"))  # the surrogate's pool had it trainable
    if trains:
        if record.status in ("evaluated", "failed"):
            state.committed += len(search.rule.pairs)  # queued and running ones count when requeued
            state.cache.add_done(record.fingerprint, record.id, told.get(record.id, record.fitness))
        else:
            state.cache.add(record.fingerprint, record.id)
    return proposal


def _restore_baseline(search: Search, record: CandidateRecord) -> None:
    state = search.state
    search.remember_features(record.id, features(Activation.parse(record.expr)))
    if record.status in TRAINED:
        state.cache.add_done(record.fingerprint, record.id, record.fitness)
        search.learn(record.id, record.fitness)
        state.done += 1
    else:
        state.cache.add(record.fingerprint, record.id)
        _requeue(search, record, None)


def _restore_in_flight(search: Search, record: CandidateRecord, proposal: Proposal) -> None:
    """A proposal stored but not told when the search stopped: finish what it needs."""
    cache = search.state.cache
    if record.status in ("rejected", "passed"):  # stopped between storing the outcome and telling it
        search.state.done += 1
        search.tell(proposal, record.id, None)
        return
    if record.status == "pooled":  # waiting in the surrogate's pool
        search.repool(proposal, record.id, record.predicted)
        return
    if record.status == "duplicate" and record.equivalent_to is not None:
        original = cache.original(record.fingerprint)
        if original is not None and cache.is_done(record.fingerprint):
            search.tell_duplicate(proposal, record.id, cache.fitness(record.fingerprint))
        else:
            cache.wait(record.fingerprint, (proposal, record.id))
        return
    search.remember_features(record.id, search.inspection(proposal)[2].features)
    _requeue(search, record, proposal)


def _requeue(search: Search, record: CandidateRecord, proposal: Proposal | None) -> None:
    """Resubmit only the (task, seed) pairs of a candidate that have no stored final evaluation."""
    finished = {(e.task, e.seed): e for e in search.store.evaluations(record.id, partials=False)}
    pairs = search.rule.pairs_of(baseline=proposal is None)
    missing = [pair for pair in pairs if pair not in finished]
    pending = search.queue(record.id, record.fingerprint, record.expr, proposal, missing)
    pending.results.update((pair, _as_result(finished[pair])) for pair in pairs if pair in finished)
    if pending.complete:  # stopped after its last result was stored, before it was told
        search.complete(pending)


def _as_result(evaluation: EvaluationRecord) -> EvalResult:
    return EvalResult(
        status=evaluation.status,
        fitness=evaluation.fitness,
        val_accuracy=evaluation.val_accuracy,
        val_loss=evaluation.val_loss,
        train_seconds=evaluation.train_seconds or 0.0,
        epochs=evaluation.epochs,
        steps=evaluation.steps or 0,
        batch_size=evaluation.batch_size or 0,
        error=evaluation.error,
        learned=evaluation.learned_values,
    )
