"""Resume: rebuild a stopped run's search state from what the store holds.

Every ask and tell of a run has a number in one sequence (`ask_seq`,
`tell_seq` on the candidate row). Replaying that sequence into a fresh
strategy with the same seed rebuilds the exact population without any
pickled state; then whatever was in flight when the run stopped is
resubmitted, seed by seed. Nothing that finished is trained again.

This module works on the loop's private state (it is the loop's other half,
kept apart because it is the subtlest code of the project).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actsearch.evolve import Proposal
from actsearch.results import EvalResult
from actsearch.store import CandidateRecord, EvaluationRecord

if TYPE_CHECKING:
    from actsearch.search.loop import Search


def resume_from_store(search: Search) -> None:
    """Replay the stored ask/tell sequence into the fresh strategy; requeue what was in flight."""
    stored = search._store.candidates(search._run.id)
    if not stored:
        return
    leader = search._store.leaderboard(run=search._run.name, k=1)
    search._best = (leader[0].expr, leader[0].fitness) if leader and leader[0].fitness is not None else None
    hurdle = search._space.budget.hurdle
    if hurdle is not None:
        search._hurdle_readings = [
            e.fitness
            for e in search._store.run_evaluations(search._run.id, partials=True)
            if e.is_partial and e.budget == hurdle.epochs and e.fitness is not None
        ]
    for record in stored:
        if record.is_baseline:
            _restore_baseline(search, record)
    events = sorted(
        [(c.ask_seq, "ask", c) for c in stored if c.ask_seq is not None]
        + [(c.tell_seq, "tell", c) for c in stored if c.tell_seq is not None],
        key=lambda event: event[0],
    )
    told = _told_fitness(search)
    proposals: dict[int, Proposal] = {}
    for seq, kind, record in events:
        search._seq = seq
        if kind == "ask":
            proposals[record.id] = _replay_ask(search, record, told)
        else:
            fitness = told.get(record.id, record.fitness)
            search._strategy.tell(proposals[record.id], record.id, fitness, duplicate=record.status == "duplicate")
            search._done += 1
    for record in stored:
        if record.ask_seq is not None and record.tell_seq is None:
            _restore_in_flight(search, record, proposals[record.id])
    search._trained = len(search._store.run_evaluations(search._run.id))
    search._reporter.message(
        f"resumed run {search._run.name!r}: {search._done} candidates done, {len(search._pending)} resubmitted, "
        f"{max(0, search._budget - search._committed)} trainings still to spend"
    )


def _told_fitness(search: Search) -> dict[int, float | None]:
    """The fitness the strategy was told, for candidates whose stored fitness the re-check
    (`reevaluate.py`) has since changed: the one from the search seeds alone.

    A run stopped after the re-check updated some winners, but before it was marked
    finished, would otherwise replay different tells and no longer rebuild its population.
    """
    search_seeds = set(search._seeds)
    scored = search.scored_trainings()
    rechecked = [cid for cid, pairs in scored.items() if any(seed not in search_seeds for _, seed in pairs)]
    if not rechecked:
        return {}
    if len(search._tasks) > 1 and search._reference is None:  # the re-check runs after every baseline
        search._reference = search._best_baselines()
    return {cid: search.fitness(scored[cid], search._seeds)[0] for cid in rechecked}


def _replay_ask(search: Search, record: CandidateRecord, told: dict[int, float | None]) -> Proposal:
    from actsearch.search.loop import SearchError

    proposal = search._strategy.ask()
    if proposal is None or search._factory.genotype(proposal.individual) != record.genotype:
        raise SearchError(
            f"cannot resume run {search._run.name!r}: candidate {record.id} does not replay "
            "(was the search space or actsearch version changed?)"
        )
    trains = record.status in ("evaluated", "failed", "queued", "running") and record.equivalent_to is None
    search._idle = 0 if trains else search._idle + 1
    if trains:
        if record.status in ("evaluated", "failed"):
            search._committed += len(search._pairs)  # queued and running ones count when requeued
            search._cache.add_done(record.fingerprint, record.id, told.get(record.id, record.fitness))
        else:
            search._cache.add(record.fingerprint, record.id)
    return proposal


def _restore_baseline(search: Search, record: CandidateRecord) -> None:
    if record.status in ("evaluated", "failed"):
        search._cache.add_done(record.fingerprint, record.id, record.fitness)
        search._done += 1
    else:
        search._cache.add(record.fingerprint, record.id)
        _requeue(search, record, None)


def _restore_in_flight(search: Search, record: CandidateRecord, proposal: Proposal) -> None:
    """A proposal stored but not told when the search stopped: finish what it needs."""
    if record.status == "rejected":  # stopped between storing the rejection and telling it
        search._done += 1
        search._tell(proposal, record.id, None)
        return
    if record.status == "duplicate" and record.equivalent_to is not None:
        original = search._cache.original(record.fingerprint)
        if original is not None and search._cache.is_done(record.fingerprint):
            search._tell_duplicate(proposal, record.id, search._cache.fitness(record.fingerprint))
        else:
            search._cache.wait(record.fingerprint, (proposal, record.id))
        return
    _requeue(search, record, proposal)


def _requeue(search: Search, record: CandidateRecord, proposal: Proposal | None) -> None:
    """Resubmit only the (task, seed) pairs of a candidate that have no stored final evaluation."""
    finished = {(e.task, e.seed): e for e in search._store.evaluations(record.id, partials=False)}
    missing = [pair for pair in search._pairs if pair not in finished]
    search._queue(record.id, record.fingerprint, record.expr, proposal, missing)
    pending = search._pending[record.id]
    pending.results.update((pair, _as_result(finished[pair])) for pair in search._pairs if pair in finished)
    if not missing:  # stopped after its last result was stored, before it was told
        search._complete(pending)


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
    )
