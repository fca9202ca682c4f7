"""Lamarckian constants: trained by gradient, written back into the tree, inherited, resumed."""

from __future__ import annotations

import pickle
import sqlite3
from pathlib import Path

import pytest
from support import FakeExecutor, StopAfter

from actsearch.expr import Activation, parse
from actsearch.expr.keras_layer import learned_constants
from actsearch.search import Search, SearchRequest, settings_for
from actsearch.search.lamarck import exact_text, written_back
from actsearch.spaces import SpaceError, load_space
from actsearch.store import Store

SPACE = """\
name: lamarckian
task: digits-mlp
primitives:
  unary: [exp, tanh, sigmoid, relu, square]
  binary: [add, mul, max]
constants: {probability: 0.5}
tree: {init_min_height: 1, init_max_height: 3, max_height: 5}
evolution: {strategy: STRATEGY, population: 6, generations: 4, lamarckian: true}
budget: {epochs: 3, seeds_per_candidate: 2, reevaluate_top: 2, reevaluate_seeds: 1}
normalize: NORMALIZE
baselines: ["relu(x)"]
"""


def _space(tmp_path: Path, strategy: str = "regularized", normalize: bool = True) -> Path:
    path = tmp_path / f"lamarckian-{strategy}-{normalize}.yaml"
    path.write_text(SPACE.replace("STRATEGY", strategy).replace("NORMALIZE", str(normalize).lower()))
    return path


def _search(space: Path, db: Path, executor) -> tuple[Search, Store]:
    settings = settings_for(SearchRequest(space=str(space), seed=11))
    store = Store.open(db)
    run = store.create_run(
        "r", task=settings.task_label, space=settings.space.name, seed=settings.seed, config=settings.to_config()
    )
    return Search(settings, store, executor, run), store


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


# -- the exact form and the write-back ------------------------------------------------------


def test_an_exact_activation_keeps_its_tree_and_round_trips_as_prefix_text() -> None:
    tree = parse("add(mul(2.0, mul(x, tanh(mul(1.5, x)))), pow(x, 2.0))")
    exact = Activation.exact(tree)
    assert exact.tree == tree and exact.is_exact
    assert exact.parameters == (2.0, 1.5)  # the pow exponent is not a parameter
    assert parse(exact.prefix) == tree
    again = pickle.loads(pickle.dumps(exact))
    assert again.is_exact and again.tree == tree
    moved = exact.with_parameters([3.0, 0.5])
    assert moved.prefix == "add(mul(3.0, mul(x, tanh(mul(0.5, x)))), pow(x, 2.0))"
    with pytest.raises(ValueError, match="1 values for the 2 parameters"):
        exact.with_parameters([1.0])


def test_the_learned_constants_are_written_back_without_the_standardisation() -> None:
    node = parse("mul(x, tanh(mul(1.5, x)))")
    trained = parse(exact_text(node, normalize=True))
    assert trained.name == "add" and trained.args[0].args[1] == node  # s * tree + t, the tree as evolved
    # two trainings learned (s, 1.5 -> c, t); the tree takes the mean of c
    learned = written_back(node, True, [(0.7, 2.0, 0.1), None, (0.8, 3.0, 0.2)])
    assert learned == "mul(x, tanh(mul(2.5, x)))"
    assert written_back(node, False, [(1.25,)]) == "mul(x, tanh(mul(1.25, x)))"
    assert written_back(node, True, [None]) is None
    assert written_back(parse("tanh(x)"), True, [(0.9, 0.1)]) is None  # nothing of its own to learn
    assert written_back(node, True, [(1.0, 2.0)]) is None  # not the trained form: nothing written back


def test_learned_constants_are_each_parameters_mean_over_the_hidden_layers() -> None:
    variables = [
        ("dense/kernel", 9.0),
        ("activation_layer/c0", 1.0),
        ("activation_layer/c1", 4.0),
        ("activation_layer_1/c0", 3.0),
        ("activation_layer_1/c1", 6.0),
    ]
    assert learned_constants(variables) == (2.0, 5.0)
    assert learned_constants([("dense/bias", 1.0)]) is None


def test_a_parametric_training_of_the_exact_tree_reports_what_it_learned() -> None:
    from actsearch.tasks import get_task
    from actsearch.train import train
    from actsearch.train.batch import BatchMember, train_batch

    task = get_task("teacher-01")
    exact = Activation.exact(parse(exact_text(parse("mul(x, tanh(mul(1.5, x)))"), normalize=True)))
    alone = train(task, exact, seed=1, epochs=3, parametric=True)
    assert alone.status == "ok" and len(alone.learned) == 3
    assert alone.learned != pytest.approx(exact.parameters, abs=1e-4)  # training moved them
    batched = train_batch(task, [BatchMember(exact, 1), BatchMember(exact, 2)], epochs=3, parametric=True)
    assert batched[0].learned == pytest.approx(alone.learned, rel=1e-4)
    assert batched[1].learned != pytest.approx(batched[0].learned)  # each member its own
    plain = train(task, "x*tanh(1.5*x)", seed=1, epochs=1)
    assert plain.learned is None


@pytest.mark.long  # keeps make test under its limit; CI runs it in make test-long
def test_a_worker_trains_an_exact_trial_as_written() -> None:
    from actsearch.execute import Trial
    from actsearch.execute.worker import TrainingWorker

    text = exact_text(parse("add(mul(0.5, x), tanh(mul(2.0, x)))"), normalize=False)
    worker = TrainingWorker(("teacher-01",), None, threads=1)
    trials = [Trial(i, i, text, i, epochs=2, parametric=True, exact=True, task="teacher-01") for i in (1, 2)]
    alone = worker.run(trials[0])
    batched = worker.run_batch(trials)
    assert alone.status == "ok" and len(alone.learned) == 2 and alone.expr == str(Activation.parse(text))
    assert [len(r.learned) for r in batched] == [2, 2]
    assert batched[0].learned == pytest.approx(alone.learned, rel=1e-4)


# -- in a search ----------------------------------------------------------------------------


def test_a_lamarckian_search_writes_back_and_its_offspring_inherit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    executor = FakeExecutor()
    search, store = _search(_space(tmp_path), tmp_path / "r.db", executor)
    search.run()
    candidates = {c.id: c for c in store.candidates(store.find_run("r").id)}
    baseline_trials = [t for t in executor.submitted if candidates[t.candidate_id].is_baseline]
    proposal_trials = [t for t in executor.submitted if not candidates[t.candidate_id].is_baseline]
    assert all(t.exact and t.parametric for t in proposal_trials)  # re-checks included
    assert baseline_trials and not any(t.exact or t.parametric for t in baseline_trials)
    learned = {i: c for i, c in candidates.items() if c.learned is not None}
    assert learned, "no candidate learned constants"
    for c in learned.values():
        assert c.learned != c.genotype and parse(c.learned) != parse(c.genotype)
        # the same tree: only constants differ
        assert c.learned.count("(") == c.genotype.count("(")
    # a child of a learned parent starts from the parent's learned tree, not the proposed one
    inherited = [c for c in candidates.values() if c.parents and c.parents[0] in learned]
    assert any(_shares_a_learned_constant(c.genotype, learned[c.parents[0]]) for c in inherited)
    trained = _rows(tmp_path / "r.db", "select learned from evaluations where learned is not null")
    assert trained
    # `show` prints both forms (in this process: a fresh one would start TensorFlow again)
    from actsearch.cli import main

    one = next(iter(learned.values()))
    with pytest.raises(SystemExit) as exit_info:
        main(["show", str(one.id), "--db", str(tmp_path / "r.db")])
    out, err = capsys.readouterr()
    assert exit_info.value.code in (0, None), err
    printed = "".join(out.split())  # rich wraps long lines
    assert "".join(f"(tree {one.learned})".split()) in printed and "".join(one.genotype.split()) in printed


def _shares_a_learned_constant(child: str, parent) -> bool:
    """Whether the child's tree holds a constant that only the parent's learned tree has."""
    child_constants = set(Activation.exact(parse(child)).constants)
    proposed = set(Activation.exact(parse(parent.genotype)).constants)
    learned = set(Activation.exact(parse(parent.learned)).constants)
    return bool(child_constants & (learned - proposed))


def _state(db: Path) -> list[tuple]:
    return _rows(
        db,
        "select genotype, learned, expr, status, fitness, is_baseline from candidates"
        " order by coalesce(ask_seq, -id), id",
    )


@pytest.mark.parametrize(("strategy", "stop_at"), [("regularized", 3), ("regularized", 20), ("generational", 11)])
def test_resume_of_a_lamarckian_search_gives_the_uninterrupted_run(tmp_path: Path, strategy: str, stop_at: int) -> None:
    """The learned trees round-trip through the store: a resumed run tells the strategy the
    same trees and so proposes the same offspring, each training once."""
    space = _space(tmp_path, strategy)
    search, _ = _search(space, tmp_path / "full.db", FakeExecutor())
    search.run()
    search, store = _search(space, tmp_path / "stopped.db", StopAfter(FakeExecutor(), stop_at))
    with pytest.raises(KeyboardInterrupt):
        search.run()
    run = store.find_run("r")
    store.set_run_status(run.id, "interrupted")
    settings = settings_for(SearchRequest(space=str(space), seed=11))
    Search(settings, store, FakeExecutor(), store.set_run_status(run.id, "running")).run()
    assert _state(tmp_path / "stopped.db") == _state(tmp_path / "full.db")
    assert any(row[1] is not None for row in _state(tmp_path / "full.db"))
    trained = _rows(tmp_path / "stopped.db", "select candidate_id, seed from evaluations where not is_partial")
    assert len(trained) == len(set(trained))


def test_lamarckian_random_search_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match="lamarckian needs an evolving strategy"):
        load_space(_space(tmp_path, "random"))
