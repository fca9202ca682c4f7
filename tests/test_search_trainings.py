"""The budget is trainings: duplicates and rejections cost none; an exhausted space stops with a message."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from support import FakeExecutor, StopAfter

SPACE = """
name: trainings
task: teacher-mlp
primitives:
  unary: [square, neg, tanh, relu, abs, exp]
  binary: [add, mul]
constants: {range: [-2.0, 2.0], decimals: 1, probability: 0.3}
tree: {init_min_height: 1, init_max_height: 2, max_height: 3}
evolution: {strategy: STRATEGY, population: 4, generations: 2, tournament_size: 2, elite: 1}
budget: {epochs: 1, trainings: 7, reevaluate_top: 0}
normalize: NORMALIZE
baselines: ["relu(x)"]
"""


def _search(tmp_path: Path, strategy: str = "regularized", normalize: bool = True, **overrides):
    from actsearch.search import SearchRequest, run_search

    space = tmp_path / f"{strategy}-{normalize}.yaml"
    space.write_text(SPACE.replace("STRATEGY", strategy).replace("NORMALIZE", str(normalize).lower()))
    request = SearchRequest(
        space=str(space),
        db=str(tmp_path / "r.db"),
        run=f"{strategy}-{normalize}",
        seed=1,
        executor="local",
        **overrides,
    )
    return run_search(request)


def _evolved_trainings(tmp_path: Path, run: str) -> int:
    import sqlite3

    with sqlite3.connect(tmp_path / "r.db") as conn:
        return conn.execute(
            "select count(*) from evaluations e join candidates c on c.id = e.candidate_id join runs r "
            "on r.id = c.run_id where r.name = ? and not c.is_baseline and not e.is_partial",
            (run,),
        ).fetchone()[0]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["generational", "regularized", "random"])
def test_budget_counts_trainings_not_proposals(tmp_path: Path, strategy: str) -> None:
    outcome = _search(tmp_path, strategy)
    counts = outcome.counts
    assert _evolved_trainings(tmp_path, f"{strategy}-True") == 7 == counts["evaluated"] + counts["failed"]
    assert sum(counts.values()) >= 7 and outcome.stopped_early is None
    assert sum(counts.values()) == 7 + counts["duplicate"] + counts["rejected"]


@pytest.mark.slow
def test_trainings_flag_overrides_the_space(tmp_path: Path) -> None:
    outcome = _search(tmp_path, "random", trainings=3)
    assert outcome.counts["evaluated"] + outcome.counts["failed"] == 3


@pytest.mark.slow
def test_normalised_candidates_are_trained_as_standardised_expressions(tmp_path: Path) -> None:
    import sqlite3

    from actsearch.expr import Activation
    from actsearch.expr.normalize import standardise

    _search(tmp_path, "random")
    with sqlite3.connect(tmp_path / "r.db") as conn:
        rows = conn.execute(
            "select expr, genotype, fingerprint from candidates where status = 'evaluated' and not is_baseline"
        ).fetchall()
    for expr, genotype, fingerprint in rows:
        standard = standardise(Activation.parse(genotype))
        assert standard is not None and (str(standard.activation), standard.fingerprint) == (expr, fingerprint)


@pytest.mark.slow
def test_an_exhausted_space_stops_with_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from actsearch.search import state

    monkeypatch.setattr(state, "IDLE_CAP", 15)
    space = tmp_path / "tiny.yaml"
    # neg and add of x only: with normalisation every tree is +-x (or rejected as constant): one function
    space.write_text(
        SPACE.replace("unary: [square, neg, tanh, relu, abs, exp]", "unary: [neg]")
        .replace("binary: [add, mul]", "binary: [add]")
        .replace("probability: 0.3", "probability: 0.0")
        .replace("STRATEGY", "random")
        .replace("NORMALIZE", "true")
    )
    from actsearch.search import SearchRequest, run_search

    outcome = run_search(SearchRequest(space=str(space), db=str(tmp_path / "x.db"), run="x", seed=0, executor="local"))
    assert outcome.counts["evaluated"] == 1
    message = outcome.stopped_early
    assert message and "exhausted" in message and "1 of 7 trainings" in message
    assert outcome.run.status == "finished"


REEVALUATE = SPACE.replace(
    "budget: {epochs: 1, trainings: 7, reevaluate_top: 0}",
    "budget: {epochs: 1, trainings: 6, reevaluate_top: 2, reevaluate_seeds: 2}",
)


def _seeds_by_expr(db: Path) -> dict[str, list[int]]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select c.expr, e.seed from evaluations e join candidates c on c.id = e.candidate_id "
            "where not e.is_partial order by c.expr, e.seed"
        ).fetchall()
    out: dict[str, list[int]] = {}
    for expr, seed in rows:
        out.setdefault(expr, []).append(seed)
    return out


@pytest.mark.long  # `make test-long`
@pytest.mark.slow
def test_winners_and_baselines_are_reevaluated_with_more_seeds_and_resume_repeats_nothing(tmp_path: Path) -> None:
    from actsearch.execute.local import InProcessExecutor
    from actsearch.search import Search, SearchRequest, run_search, settings_for
    from actsearch.store import Store

    space = tmp_path / "reevaluate.yaml"
    space.write_text(REEVALUATE.replace("STRATEGY", "random").replace("NORMALIZE", "true"))
    full = run_search(SearchRequest(space=str(space), db=str(tmp_path / "full.db"), run="r", seed=1, executor="local"))
    seeds = _seeds_by_expr(tmp_path / "full.db")
    reevaluated = {expr for expr, s in seeds.items() if s == [1, 2, 3]}
    assert "relu(x)" in reevaluated  # the baseline
    assert all(s == [1] for expr, s in seeds.items() if expr not in reevaluated)
    with Store.open(tmp_path / "full.db") as store:
        board = store.leaderboard(run="r", k=None)
        for row in board:
            evaluations = store.evaluations(row.candidate_id, partials=False)
            assert row.evaluations == len(evaluations)
            assert row.fitness == pytest.approx(sum(e.fitness for e in evaluations) / len(evaluations))
        # the best two, then whatever led after them, until the top two are re-checked (at most 3 rounds;
        # with this seed no leader check follows them)
        assert 2 <= len(reevaluated - {"relu(x)"}) <= 6
        assert all(row.evaluations == 3 for row in [r for r in board if not r.is_baseline][:2])
    assert full.counts["evaluated"] + full.counts["failed"] == 6

    # stopped in the middle of the re-check (6 trainings + 1 baseline, then 2 of the 6 re-check trainings)
    request = SearchRequest(space=str(space), db=str(tmp_path / "stopped.db"), run="r", seed=1, executor="local")
    settings = settings_for(request)
    store = Store.open(request.db)
    run = store.create_run(
        "r", task=settings.task_label, space=settings.space.name, seed=1, config=settings.to_config()
    )
    with pytest.raises(KeyboardInterrupt):
        Search(settings, store, StopAfter(InProcessExecutor(settings.tasks), 9), run).run()
    run_search(SearchRequest(db=request.db, run="r", resume=True, executor="local"))
    assert _seeds_by_expr(tmp_path / "stopped.db") == seeds


@pytest.mark.slow
def test_resume_after_the_recheck_updated_fitness_replays_the_search_fitness(tmp_path: Path) -> None:
    """Stopped after the re-check had changed its candidates' fitness (here: a re-check seed
    diverged, so the winners became `failed`) but before the run was marked finished: the
    strategy was told the search seeds' fitness, so the replay must tell it the same."""
    import sqlite3

    from actsearch.search import SearchRequest, run_search

    space = tmp_path / "reevaluate.yaml"
    space.write_text(REEVALUATE.replace("STRATEGY", "regularized").replace("NORMALIZE", "true"))
    run_search(SearchRequest(space=str(space), db=str(tmp_path / "full.db"), run="r", seed=1, executor="local"))
    seeds = _seeds_by_expr(tmp_path / "full.db")
    with sqlite3.connect(tmp_path / "full.db") as full, sqlite3.connect(tmp_path / "stopped.db") as stopped:
        full.backup(stopped)
        rechecked = "select candidate_id from evaluations where seed = 3"
        evolved = f"id in ({rechecked}) and not is_baseline"
        assert stopped.execute(f"select count(*) from candidates where {evolved}").fetchone() == (2,)
        winners = f"select id from candidates where {evolved}"
        stopped.execute(
            f"update evaluations set status = 'failed', fitness = null where seed = 3 and candidate_id in ({winners})"
        )
        stopped.execute(f"update candidates set status = 'failed', fitness = null where {evolved}")
        stopped.execute("update runs set status = 'running'")  # killed before the last status write
    outcome = run_search(SearchRequest(db=str(tmp_path / "stopped.db"), run="r", resume=True, executor="local"))
    assert outcome.run.status == "finished"
    after = _seeds_by_expr(tmp_path / "stopped.db")
    assert all(sorted(set(s)) == s for s in after.values())  # nothing trained twice
    assert all(set(seeds[expr]) <= set(after[expr]) for expr in seeds)  # nor lost
    # the winners failed after the fact, so the next leaders are re-checked (and only they)
    assert all(after[expr] == [1, 2, 3] for expr in after if after[expr] != seeds[expr])


class _LuckyOnTheSearchSeed(FakeExecutor):
    """Every candidate without relu scores 0.5 more on the search seed (1) than on any
    other: re-checked, they fall back, and whoever leads next is lucky too, until a
    candidate with relu leads."""

    @classmethod
    def fitness(cls, expr: str, seed: int) -> float | None:
        base = super().fitness(expr, seed)
        lucky = seed == 1 and "relu" not in expr
        return None if base is None else base + (0.5 if lucky else 0.0)


def test_the_leader_is_rechecked_when_the_rounds_are_spent(tmp_path: Path, monkeypatch) -> None:
    """With one round only (the top 2), the leaders that take over afterwards are re-checked
    one at a time until the leader holds: the pick never rests on one seed."""
    from actsearch.cli.search import ProgressReporter
    from actsearch.search import Search, SearchRequest, reevaluate, settings_for
    from actsearch.store import Store

    monkeypatch.setattr(reevaluate, "MAX_ROUNDS", 1)
    space = tmp_path / "reevaluate.yaml"
    space.write_text(REEVALUATE.replace("STRATEGY", "random").replace("NORMALIZE", "true"))
    settings = settings_for(SearchRequest(space=str(space), seed=1))
    reporter = ProgressReporter(Console(file=io.StringIO()))
    with Store.open(tmp_path / "x.db") as store:
        run = store.create_run(
            "r", task=settings.task_label, space=settings.space.name, seed=1, config=settings.to_config()
        )
        Search(settings, store, _LuckyOnTheSearchSeed(), run, reporter=reporter).run()
        leader = next(row for row in store.leaderboard(run="r", k=None) if not row.is_baseline)
        trainings = len(store.run_evaluations(run.id))
    rechecked = {expr for expr, s in _seeds_by_expr(tmp_path / "x.db").items() if s == [1, 2, 3]} - {"relu(x)"}
    assert leader.evaluations == 3, leader
    assert len(rechecked) > 2, rechecked  # the first round's two fell back: the leader's checks ran
    # the progress bar's total, planned with the first round only, grew with the later checks
    (bar,) = reporter.progress.tasks
    assert bar.completed == bar.total == trainings
