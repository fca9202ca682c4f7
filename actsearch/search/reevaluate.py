"""Re-evaluation: after the budget, the best candidates and the baselines train again with more seeds.

One seed decides nothing: at the top of a leaderboard the seed noise is as
large as the gains searched for. So when the budget is spent, the
`budget.reevaluate_top` best evolved candidates by search fitness and every
baseline are trained with `budget.reevaluate_seeds` further seeds on the same
(validation) split. The results are ordinary evaluations; each re-checked
candidate's fitness becomes the mean over all its seeds (with the spread),
which is what the leaderboard ranks.

A re-checked winner usually falls back (its first seed was the lucky one), and
a candidate that was never re-checked can then lead the leaderboard on one
seed: the pick would again be the luckiest. So the re-check goes on in rounds:
whatever is in the leaderboard's top `reevaluate_top` without the re-check
seeds is re-checked next, until the top is re-checked (at most `MAX_ROUNDS`).
If the leader, the pick, still has one seed after that, it alone is re-checked,
then the next leader, until the leader holds (at most `MAX_LEADER_CHECKS`): the
pick is not a one-seed candidate.

A candidate that fails on a re-check seed becomes `failed`, with the reason.
With several tasks every re-check seed is trained on every task, and the
fitness across tasks keeps the reference of the search seeds (the best
baselines then), so that it never changes meaning.

Resuming is safe: the candidates are chosen from the search seeds' results
only (never from fitness already updated by a re-check), and only the
(candidate, seed) pairs without a stored result are trained.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from actsearch.execute import Trial, run_all
from actsearch.expr import parse
from actsearch.results import SCORED
from actsearch.search.state import Pair
from actsearch.store import CandidateRecord, EvaluationRecord

if TYPE_CHECKING:
    from actsearch.search.loop import Search


def reevaluate_seeds(search: Search) -> list[int]:
    """Seeds after the search's own: disjoint from them, the same on every resume."""
    first = search.settings.seed + len(search.rule.seeds)
    return [first + i for i in range(search.space.budget.reevaluate_seeds)]


#: re-check rounds at most: re-check trainings stay within MAX_ROUNDS x the first round's
MAX_ROUNDS = 3

#: after the rounds, re-checks of the leader alone at most (each one a new candidate)
MAX_LEADER_CHECKS = 10


def reevaluate_winners(search: Search) -> int:
    """Re-check rounds until the leaderboard's top (or, after `MAX_ROUNDS`, its leader) is
    re-checked; returns the trainings run."""
    seeds = reevaluate_seeds(search)
    top = search.space.budget.reevaluate_top
    if not seeds or not top:
        return 0
    count = 0
    for round_ in range(MAX_ROUNDS + MAX_LEADER_CHECKS):
        finals = _finals(search)
        evaluated = search.store.candidates(search.run_record.id, ("evaluated", "failed"))
        if round_ == 0:
            chosen, which = _chosen(search, evaluated, finals, top), "the best"
        else:  # the top's unchecked; once the rounds are spent, the leader alone
            leaders, which = (top, "new leaders") if round_ < MAX_ROUNDS else (1, "the leader")
            chosen = _unchecked_leaders(search, evaluated, finals, leaders, seeds)
        if not chosen:
            break
        count += _recheck(search, chosen, seeds, finals, which)
    return count


def _finals(search: Search) -> dict[int, dict[Pair, EvaluationRecord]]:
    """The run's final evaluations by candidate and (task, seed)."""
    finals: dict[int, dict[Pair, EvaluationRecord]] = {}
    for e in search.store.run_evaluations(search.run_record.id):
        finals.setdefault(e.candidate_id, {})[(e.task, e.seed)] = e
    return finals


def _recheck(
    search: Search,
    chosen: list[CandidateRecord],
    seeds: list[int],
    finals: dict[int, dict[Pair, EvaluationRecord]],
    which: str,
) -> int:
    """Train `chosen` with the re-check seeds they miss, then update their fitness."""
    store, rule = search.store, search.rule
    pairs = [(task, seed) for task in rule.tasks for seed in seeds]
    trials = [
        _trial(search, candidate, pair)
        for candidate in chosen
        for pair in pairs
        if pair not in finals.get(candidate.id, {})
    ]
    on_tasks = f" on each of {len(rule.tasks)} tasks" if rule.several_tasks else ""
    baselines = " and the baselines" if any(c.is_baseline for c in chosen) else ""
    evolved = sum(not c.is_baseline for c in chosen)
    search.reporter.message(
        f"re-checking {which} ({evolved} candidate{'s' if evolved != 1 else ''}{baselines}) with {len(seeds)} "
        f"more seeds{on_tasks}: {len(trials)} trainings"
    )
    for trial, result in run_all(search.executor, trials):
        search.store_result(trial, result)
        search.flush_if_due()
        search.show_progress()
    search.flush()
    for candidate in chosen:
        results = store.evaluations(candidate.id, partials=False)
        scored = {(e.task, e.seed): rule.scored(e) for e in results}
        fitness, spread = rule.fitness(scored, rule.seeds + seeds)
        errors = [_failure(search, e, e.seed in seeds) for e in results if e.status not in SCORED]
        if fitness is None:
            store.finish_candidate(candidate.id, fitness=None, status="failed", reason=errors[0] if errors else None)
        else:
            store.finish_candidate(candidate.id, fitness=fitness, fitness_std=spread)
    return len(trials)


def _trial(search: Search, candidate: CandidateRecord, pair: Pair) -> Trial:
    """A re-check trains a candidate as the search did (Lamarckian: its tree as proposed,
    constants learned again)."""
    exact = None if candidate.is_baseline or not candidate.genotype else search.exact_text(parse(candidate.genotype))
    if exact is None:
        return search.trial(candidate.id, candidate.expr, pair)
    return search.trial(candidate.id, exact, pair, exact=True)


def _failure(search: Search, e: EvaluationRecord, recheck: bool) -> str:
    where = f"{e.task} seed {e.seed}" if search.rule.several_tasks else f"seed {e.seed}"
    return f"{'re-check ' if recheck else ''}{where}: {e.error or e.status}"


def _chosen(
    search: Search, evaluated: list[CandidateRecord], finals: dict[int, dict[Pair, EvaluationRecord]], top: int
) -> list[CandidateRecord]:
    """The `top` best evolved candidates by their search seeds' fitness, then every baseline."""

    def search_fitness(candidate: CandidateRecord) -> float | None:
        mine = finals.get(candidate.id, {})
        return search.rule.fitness({k: search.rule.scored(e) for k, e in mine.items()})[0]

    return _best(evaluated, search_fitness, top) + [c for c in evaluated if c.is_baseline]


def _unchecked_leaders(
    search: Search,
    evaluated: list[CandidateRecord],
    finals: dict[int, dict[Pair, EvaluationRecord]],
    top: int,
    seeds: list[int],
) -> list[CandidateRecord]:
    """The evolved candidates in the top `top` by their fitness now (the mean over all their
    seeds) that have not been re-checked yet."""
    pairs = [(task, seed) for task in search.rule.tasks for seed in seeds]
    leaders = _best(evaluated, lambda c: c.fitness, top)
    return [c for c in leaders if any(pair not in finals.get(c.id, {}) for pair in pairs)]


def _best(
    evaluated: list[CandidateRecord], fitness: Callable[[CandidateRecord], float | None], top: int
) -> list[CandidateRecord]:
    """The `top` evolved candidates by `fitness`; ties go to the simpler, then the older."""
    scored = [(fitness(c), c) for c in evaluated if not c.is_baseline]
    ranked = sorted(
        ((f, c) for f, c in scored if f is not None),
        key=lambda fc: (-fc[0], fc[1].complexity if fc[1].complexity is not None else 1 << 30, fc[1].id),
    )
    return [c for _, c in ranked[:top]]
