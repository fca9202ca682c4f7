"""Re-evaluation: after the budget, the best candidates and the baselines train again with more seeds.

One seed decides nothing: at the top of a leaderboard the seed noise is as
large as the gains searched for. So when the budget is spent, the
`budget.reevaluate_top` best evolved candidates by search fitness and every
baseline are trained with `budget.reevaluate_seeds` further seeds on the same
(validation) split. The results are ordinary evaluations; each re-checked
candidate's fitness becomes the mean over all its seeds (with the spread),
which is what the leaderboard ranks. A candidate that fails on a re-check
seed becomes `failed`, with the reason. With several tasks every re-check seed
is trained on every task, and the fitness across tasks keeps the reference
of the search seeds (the best baselines then), so that it never changes meaning.

Resuming is safe: the candidates are chosen from the search seeds' results
only (never from fitness already updated by a re-check), and only the
(candidate, seed) pairs without a stored result are trained.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actsearch.execute import Trial
from actsearch.results import SCORED
from actsearch.store import CandidateRecord, EvaluationRecord

if TYPE_CHECKING:
    from actsearch.search.loop import Pair, Search


def reevaluate_seeds(search: Search) -> list[int]:
    """Seeds after the search's own: disjoint from them, the same on every resume."""
    first = search._settings.seed + len(search._seeds)
    return [first + i for i in range(search._space.budget.reevaluate_seeds)]


def reevaluate_winners(search: Search) -> int:
    """Train the chosen candidates with the re-check seeds; returns the trainings run."""
    seeds = reevaluate_seeds(search)
    top = search._space.budget.reevaluate_top
    if not seeds or not top:
        return 0
    store, run = search._store, search._run
    finals: dict[int, dict[Pair, EvaluationRecord]] = {}
    for e in store.run_evaluations(run.id):
        finals.setdefault(e.candidate_id, {})[(e.task, e.seed)] = e
    chosen = _chosen(search, store.candidates(run.id, ("evaluated", "failed")), finals, top)
    if not chosen:
        return 0
    trials = []
    for candidate in chosen:
        for task in search._tasks:
            for seed in seeds:
                if (task, seed) not in finals.get(candidate.id, {}):
                    search._trial_ids += 1
                    trials.append(
                        Trial(
                            search._trial_ids,
                            candidate.id,
                            candidate.expr,
                            seed,
                            epochs=search._space.budget.epochs,
                            parametric=search._space.parametric,
                            task=task,
                        )
                    )
    on_tasks = f" on each of {len(search._tasks)} tasks" if len(search._tasks) > 1 else ""
    search._reporter.message(
        f"re-checking the best {len(chosen) - sum(c.is_baseline for c in chosen)} and the "
        f"baselines with {len(seeds)} more seeds{on_tasks}: {len(trials)} trainings"
    )
    count = len(trials)
    executor = search._executor
    while trials or executor.in_flight:
        while trials and executor.in_flight < executor.capacity:
            executor.submit(trials.pop(0))
        for trial, result in executor.wait():
            task = trial.task or search._tasks[0]
            store.add_evaluation(trial.candidate_id, task=task, seed=trial.seed, budget=result.epochs, result=result)
            search._trained += 1
            search._report()
    for candidate in chosen:
        results = store.evaluations(candidate.id, partials=False)
        scored = {(e.task, e.seed): e.scored for e in results}
        fitness, spread = search.fitness(scored, search._seeds + seeds)
        errors = [_failure(search, e, e.seed in seeds) for e in results if e.status not in SCORED]
        if fitness is None:
            store.finish_candidate(candidate.id, fitness=None, status="failed", reason=errors[0] if errors else None)
        else:
            store.finish_candidate(candidate.id, fitness=fitness, fitness_std=spread)
    return count


def _failure(search: Search, e: EvaluationRecord, recheck: bool) -> str:
    where = f"{e.task} seed {e.seed}" if len(search._tasks) > 1 else f"seed {e.seed}"
    return f"{'re-check ' if recheck else ''}{where}: {e.error or e.status}"


def _chosen(
    search: Search, evaluated: list[CandidateRecord], finals: dict[int, dict[Pair, EvaluationRecord]], top: int
) -> list[CandidateRecord]:
    """The `top` best evolved candidates by their search seeds' fitness, then every baseline."""

    def search_fitness(candidate: CandidateRecord) -> float | None:
        mine = finals.get(candidate.id, {})
        return search.fitness({k: e.scored for k, e in mine.items()}, search._seeds)[0]

    scored = [(search_fitness(c), c) for c in evaluated if not c.is_baseline]
    ranked = sorted(
        ((f, c) for f, c in scored if f is not None),
        key=lambda fc: (-fc[0], fc[1].complexity if fc[1].complexity is not None else 1 << 30, fc[1].id),
    )
    return [c for _, c in ranked[:top]] + [c for c in evaluated if c.is_baseline]
