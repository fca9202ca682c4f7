"""Budget features of a real search: several seeds per candidate, and hurdles (multi-fidelity)."""

from __future__ import annotations

from pathlib import Path

import pytest

from actsearch.search import SearchRequest, run_search
from actsearch.store import Store

pytestmark = pytest.mark.slow  # real trainings, Ray or CLI searches: `make test-fast` skips them

SPACE = """
name: budget
task: digits-mlp
primitives:
  unary: [exp, square, neg, sigmoid, tanh, relu, abs]
  binary: [add, mul, max]
tree: {init_min_height: 1, init_max_height: 2, max_height: 4}
evolution: {strategy: regularized, population: 6, generations: 2, tournament_size: 2, elite: 0}
baselines: ["relu(x)"]
"""


def _search(tmp_path: Path, budget: str) -> tuple[Store, int]:
    space = tmp_path / "space.yaml"
    space.write_text(SPACE + budget)
    db = tmp_path / "b.db"
    outcome = run_search(SearchRequest(space=str(space), db=str(db), run="b", seed=4, executor="local"))
    return Store.open(db), outcome.run.id


def test_fitness_averages_seeds_and_stores_spread(tmp_path: Path) -> None:
    store, run_id = _search(tmp_path, "budget: {epochs: 3, seeds_per_candidate: 2, reevaluate_top: 0}\n")
    evaluated = store.candidates(run_id, statuses="evaluated")
    assert evaluated
    for candidate in evaluated:
        evaluations = store.evaluations(candidate.id, partials=False)
        assert sorted(e.seed for e in evaluations) == [4, 5]
        mean = sum(e.fitness for e in evaluations) / 2
        assert abs(candidate.fitness - mean) < 1e-9
        assert candidate.fitness_std is not None
        assert abs(candidate.fitness_std - abs(evaluations[0].fitness - evaluations[1].fitness) / 2) < 1e-9


def test_hurdle_stops_weak_candidates_and_keeps_partials(tmp_path: Path) -> None:
    hurdle = "budget: {epochs: 6, reevaluate_top: 0, hurdle: {epochs: 1, quantile: 0.5, min_observations: 2}}\n"
    store, run_id = _search(tmp_path, hurdle)
    evaluations = [e for c in store.candidates(run_id) for e in store.evaluations(c.id)]
    partials = [e for e in evaluations if e.is_partial]
    finals = [e for e in evaluations if not e.is_partial]
    assert partials and all(p.planned_epochs == 1 and p.fitness is not None for p in partials)
    stopped = [e for e in finals if e.status == "stopped"]
    full = [e for e in finals if e.status == "ok"]
    assert full and all(e.epochs == 6 for e in full)
    assert all(e.epochs == 1 for e in stopped)
    baseline = [c for c in store.candidates(run_id) if c.is_baseline][0]
    assert all(not e.is_partial for e in store.evaluations(baseline.id))  # baselines get the full budget


def test_parametric_search_trains_with_learned_constants(tmp_path: Path) -> None:
    store, run_id = _search(tmp_path, "budget: {epochs: 2, reevaluate_top: 0}\nparametric: true\n")
    evaluated = store.candidates(run_id, statuses="evaluated")
    assert len(evaluated) >= 2 and all(c.fitness > 0.1 for c in evaluated)
    assert store.run(run_id).config["space"]["parametric"] is True
