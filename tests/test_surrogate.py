"""The surrogate: features, its k-nearest-neighbour predictions, and the search screening with it.

The searches run on a real SQLite store with the fake executor of support.py, whose
fitness rewards shapes close to relu's: a planted good family that a surrogate should
learn to prefer over random trees.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from support import ROOT, FakeExecutor, StopAfter, run_cli

from actsearch.expr import Activation
from actsearch.search import Search, SearchRequest, settings_for
from actsearch.search.surrogate import POINTS, Pool, Surrogate, best_index, features
from actsearch.spaces import SpaceError, load_space
from actsearch.stats import spearman
from actsearch.store import Store

SPACE = """\
name: screened
task: digits-mlp
primitives:
  unary: [exp, log, square, neg, sigmoid, tanh, relu, abs]
  binary: [add, sub, mul, max]
tree: {init_min_height: 1, init_max_height: 3, max_height: 5}
evolution: {strategy: STRATEGY, population: 6, generations: 5}
budget: {epochs: 3, reevaluate_top: 0}
normalize: true
surrogate: {enabled: ENABLED, pool: 6, warmup: 4, exploration: 0.2}
baselines: ["relu(x)", "tanh(x)"]
"""


def _space(tmp_path: Path, strategy: str = "random", enabled: bool = True) -> Path:
    path = tmp_path / f"screened-{strategy}-{enabled}.yaml"
    path.write_text(SPACE.replace("STRATEGY", strategy).replace("ENABLED", str(enabled).lower()))
    return path


def _run(space: Path, db: Path, seed: int = 5, executor: FakeExecutor | None = None, name: str = "r"):
    settings = settings_for(SearchRequest(space=str(space), seed=seed))
    store = Store.open(db)
    run = store.create_run(
        name, task=settings.task_label, space=settings.space.name, seed=settings.seed, config=settings.to_config()
    )
    return store, run, settings, executor or FakeExecutor()


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


# -- features and the model ---------------------------------------------------------------


def test_features_ignore_output_scale_shift_and_sign() -> None:
    base = features(Activation.parse("x * sigmoid(x)"))
    assert base is not None and base.shape == (128,) and base.dtype == np.float32
    for variant in ("3 * x * sigmoid(x) + 1", "-2 * x * sigmoid(x) - 0.5"):
        assert np.allclose(features(Activation.parse(variant)), base, atol=1e-4)
    assert abs(float(np.mean(base))) < 0.05 and abs(float(np.std(base)) - 1) < 0.05  # standardised
    assert not np.allclose(features(Activation.parse("tanh(x)")), base, atol=0.05)


def test_features_of_a_constant_are_none_and_of_a_steep_one_clipped() -> None:
    assert features(Activation.parse("2 + 0 * x")) is None
    steep = features(Activation.parse("exp(exp(exp(x)))"))  # protected exp: finite, very skewed
    assert steep is not None and float(np.max(np.abs(steep))) <= 10.0


def test_prediction_is_the_mean_of_the_nearest_trained_functions() -> None:
    surrogate = Surrogate(neighbours=2, warmup=3)
    near, far = np.zeros(POINTS, np.float32), np.full(POINTS, 5.0, np.float32)
    surrogate.observe(near, 1.0)
    surrogate.observe(near + 0.1, 0.5)
    assert surrogate.predict(near) is None  # not warmed up
    surrogate.observe(far, -3.0)
    assert surrogate.predict(near + 0.01) == pytest.approx(0.75)
    assert surrogate.predict(far) == pytest.approx((-3.0 + 0.5) / 2)
    surrogate.observe(far + 0.1, None)  # a failed training counts as the worst fitness seen
    assert surrogate.predict(far) == pytest.approx(-3.0)
    for i in range(200):  # the arrays grow; the nearest stay the nearest
        surrogate.observe(np.full(POINTS, 50.0 + i, np.float32), 9.0)
    assert len(surrogate) == 204 and surrogate.predict(near + 0.01) == pytest.approx(0.75)


def test_pool_choice_is_the_best_prediction_or_a_seeded_exploration() -> None:
    assert best_index([0.1, None, 0.7, 0.7]) == 2
    assert best_index([None, None]) == 0
    greedy: Pool[str] = Pool(3, exploration=0.0)
    for i, p in enumerate([0.2, 0.9, 0.5]):
        greedy.add(f"m{i}", f"fp{i}", i, p)
    assert greedy.full and greedy.choose(seed=1, first_id=10) == 1
    exploring: Pool[str] = Pool(3, exploration=1.0)
    for i, p in enumerate([0.2, 0.9, 0.5]):
        exploring.add(f"m{i}", f"fp{i}", i, p)
    picks = {exploring.choose(seed=1, first_id=first) for first in range(40)}
    assert picks == {0, 1, 2}
    assert exploring.choose(seed=1, first_id=7) == exploring.choose(seed=1, first_id=7)  # no hidden state


def test_surrogate_ranks_a_planted_good_family_above_random_trees() -> None:
    """Learned from random trees and a few relu-like functions, it predicts unseen members of
    the relu family above unseen random trees, and ranks unseen functions by their true fitness."""
    from actsearch.evolve import TreeFactory

    factory = TreeFactory(load_space("default"), random.Random(11))
    trees: list[str] = []
    while len(trees) < 120:
        text = str(Activation.from_tree(factory.to_node(factory.random_tree()), simplify=False))
        if features(Activation.parse(text)) is not None and FakeExecutor.fitness(text, 0) is not None:
            trees.append(text)
    family = [f"relu(x) + {a} * x" for a in (0.0, 0.05, 0.1, 0.2, 0.3)] + [f"softplus({k} * x)" for k in (3, 5, 8)]
    learn, unseen = trees[:80], trees[80:]
    surrogate = Surrogate(neighbours=3, warmup=8)
    for text in learn + family[::2]:
        surrogate.observe(features(Activation.parse(text)), FakeExecutor.fitness(text, 0))
    predict = [surrogate.predict(features(Activation.parse(t))) for t in family[1::2] + unseen]
    planted, random_trees = predict[: len(family[1::2])], predict[len(family[1::2]) :]
    assert min(planted) > float(np.median(random_trees))  # type: ignore[type-var]
    truth = [FakeExecutor.fitness(t, 0) for t in family[1::2] + unseen]
    rho = spearman(predict, truth)  # type: ignore[arg-type]
    assert rho is not None and rho >= 0.5


# -- the search with a surrogate ---------------------------------------------------------------


@pytest.mark.long  # keeps make test under its limit; CI runs it in make test-long
def test_surrogate_search_trains_fitter_functions_than_random_search_at_equal_trainings(tmp_path: Path) -> None:
    """On the fake executor (fitness: closeness to relu's shape) over 4 seeds: the mean fitness of
    what the screened search trains beats plain random search's, the pools hold `pool`
    proposals each, every prediction is stored, and the summary ranks them (rho)."""
    screened, plain = [], []
    for seed in range(4):
        store, run, settings, executor = _run(_space(tmp_path), tmp_path / f"s{seed}.db", seed)
        summary = Search(settings, store, executor, run).run()
        trained = [c for c in store.candidates(run.id, statuses="evaluated") if not c.is_baseline]
        screened.append(np.mean([c.fitness for c in trained]))
        passed = store.candidates(run.id, statuses="passed")
        assert passed and all(c.predicted is not None and c.tell_seq is not None for c in passed)
        assert not store.candidates(run.id, statuses="pooled")  # every pool was judged or closed
        assert summary.surrogate_rank is not None and summary.surrogate_rank[1] >= 10
        assert summary.counts["evaluated"] + summary.counts["failed"] == len(trained) + summary.counts["failed"]
        store, run, settings, executor = _run(_space(tmp_path, enabled=False), tmp_path / f"p{seed}.db", seed)
        Search(settings, store, executor, run).run()
        trained = [c for c in store.candidates(run.id, statuses="evaluated") if not c.is_baseline]
        assert not store.candidates(run.id, statuses="passed") and all(c.predicted is None for c in trained)
        plain.append(np.mean([c.fitness for c in trained]))
    assert min(np.array(screened) - np.array(plain)) > 0, (screened, plain)


def _state(db: Path) -> list[tuple]:
    return _rows(
        db,
        "select genotype, expr, status, reason, fitness, predicted, equivalent_to is not null, is_baseline"
        " from candidates order by coalesce(ask_seq, -id), id",
    )


@pytest.mark.parametrize("strategy", ["random", "regularized"])
@pytest.mark.parametrize("stop_at", [1, 9, 25])
def test_resume_with_a_surrogate_gives_the_uninterrupted_run(tmp_path: Path, strategy: str, stop_at: int) -> None:
    """Stopped anywhere (pools half full, too), the resumed run holds what the uninterrupted one
    holds: the same proposals, pools, choices and predictions, each function trained once."""
    space = _space(tmp_path, strategy)
    store, run, settings, executor = _run(space, tmp_path / "full.db")
    Search(settings, store, executor, run).run()
    store, run, settings, _ = _run(space, tmp_path / "stopped.db")
    with pytest.raises(KeyboardInterrupt):
        Search(settings, store, StopAfter(FakeExecutor(), stop_at), run).run()
    store.set_run_status(run.id, "interrupted")
    Search(settings, store, FakeExecutor(), store.set_run_status(run.id, "running")).run()
    assert _state(tmp_path / "stopped.db") == _state(tmp_path / "full.db")
    trained = _rows(tmp_path / "stopped.db", "select candidate_id, seed from evaluations where not is_partial")
    assert len(trained) == len(set(trained))


def test_a_surrogate_with_generations_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match="surrogate needs a steady-state strategy"):
        load_space(_space(tmp_path, "generational"))


def test_command_line_flags_turn_off_what_they_rule_out_with_a_note(tmp_path: Path) -> None:
    """A space's surrogate, rungs and Lamarckian constants give way to --strategy and --task
    (the space file alone asking for both is refused, above)."""
    space = tmp_path / "all.yaml"
    space.write_text(
        _space(tmp_path, "regularized")
        .read_text()
        .replace("budget: {epochs: 3,", "budget: {rungs: {epochs: [2]}, epochs: 3,")
    )
    plain = settings_for(SearchRequest(space=str(space)))
    assert plain.notes == () and plain.space.surrogate.enabled and plain.space.budget.rungs is not None
    generational = settings_for(SearchRequest(space=str(space), strategy="generational"))
    assert not generational.space.surrogate.enabled
    assert generational.notes == (
        "--strategy generational: the space's surrogate is off (it needs a steady-state strategy)",
    )
    several = settings_for(SearchRequest(space=str(space), task="digits-mlp,mnist1d-mlp"))
    assert several.space.budget.rungs is None and several.notes == (
        "several tasks: the space's rungs are off (rung readings of tasks do not compare)",
    )
    lamarckian = tmp_path / "lamarckian.yaml"
    lamarckian.write_text(
        space.read_text().replace("strategy: regularized,", "strategy: regularized, lamarckian: true,")
    )
    drawn = settings_for(SearchRequest(space=str(lamarckian), strategy="random"))
    assert not drawn.space.evolution.lamarckian and "Lamarckian constants are off" in drawn.notes[0]


@pytest.mark.long  # keeps make test under its limit; CI runs it in make test-long
def test_show_prints_the_prediction_and_top_counts_passed_proposals(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    store, run, settings, executor = _run(_space(tmp_path), db)
    Search(settings, store, executor, run).run()
    passed = store.candidates(run.id, statuses="passed")[0]
    shown = run_cli("show", str(passed.id), "--db", str(db))
    assert shown.returncode == 0 and f"predicted     {passed.predicted}" in shown.stdout
    assert "passed" in shown.stdout
    top = run_cli("top", "--run", "r", "--db", str(db))
    assert "passed over by the surrogate" in top.stdout.replace("\n", " ")


def test_default_and_shipped_spaces_load_with_the_surrogate_section() -> None:
    for name in ("default", "general", "seed", "swish_paper", "transfer"):
        space = load_space(name)
        assert space.surrogate.pool >= 2
    assert (ROOT / "search_spaces" / "default.yaml").exists()
