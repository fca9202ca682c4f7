"""The search loop and its resume replay, on a real SQLite store with a fake executor (no training).

The real trainings are covered by test_search_e2e.py, test_resume.py and
test_search_budget.py (slow); here the loop's bookkeeping is checked in
milliseconds per search, at many stop points.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import ROOT, FakeExecutor

from actsearch.search import Search, SearchRequest, SearchSettings, SilentReporter, settings_for
from actsearch.store import RunRecord, Store

SPACE = ROOT / "tests" / "data" / "resume.yaml"  # generational, 6 x 3, two baselines


def _settings(tmp_path: Path) -> SearchSettings:
    return settings_for(SearchRequest(space=str(SPACE), seed=5))


def _start(db: Path, settings: SearchSettings, name: str = "r") -> tuple[Store, RunRecord]:
    store = Store.open(db)
    run = store.create_run(
        name, task=settings.task_label, space=settings.space.name, seed=settings.seed, config=settings.to_config()
    )
    return store, run


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def _state(db: Path) -> dict:
    """What a finished run holds, in a form two runs can be compared by."""
    return {
        "candidates": _rows(
            db,
            "select genotype, expr, status, fitness, fitness_std, equivalent_to is not null,"
            " is_baseline from candidates order by coalesce(ask_seq, -id), id",
        ),
        "trained": Counter(
            _rows(
                db,
                "select c.fingerprint, e.seed from evaluations e join candidates c"
                " on c.id = e.candidate_id where not e.is_partial",
            )
        ),
        "status": _rows(db, "select status from runs")[0][0],
    }


class _StopAfter(FakeExecutor):
    """Stopped as by Ctrl-C before its `results`-th result is handed back."""

    def __init__(self, results: int, capacity: int = 2) -> None:
        super().__init__(capacity)
        self.left = results

    def wait(self, timeout: float | None = None) -> list:
        if self.left <= 0:
            raise KeyboardInterrupt
        self.left -= 1
        return super().wait(timeout)


def test_every_proposal_is_stored_and_only_new_functions_are_trained(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    store, run = _start(tmp_path / "a.db", settings)
    executor = FakeExecutor(capacity=3)
    summary = Search(settings, store, executor, run).run()

    assert summary.run.status == "finished"
    counts = summary.counts  # evolved proposals only: baselines are outside the budget
    assert counts["evaluated"] + counts["failed"] == 6 * 3  # the budget in trainings: population x generations
    assert sum(counts.values()) == 6 * 3 + counts["duplicate"] + counts["rejected"]  # those cost none
    candidates = store.candidates(run.id)
    trained = {t.candidate_id for t in executor.submitted}
    for c in candidates:
        assert (c.id in trained) == (c.status in ("evaluated", "failed")), c
        if c.status == "duplicate":
            original = store.candidate(c.equivalent_to)
            assert original.fingerprint == c.fingerprint and c.fitness == original.fitness
    assert summary.trained == len(executor.submitted) == len(trained)  # one seed, nothing trained twice
    assert summary.utilisation is not None and 0 < summary.utilisation <= 1
    assert [c.status for c in candidates if c.is_baseline] == ["evaluated", "evaluated"]
    assert all(c.ask_seq is not None and c.tell_seq is not None for c in candidates if not c.is_baseline)


def test_worker_time_counts_from_the_first_training_start_to_the_last_result(monkeypatch) -> None:
    from actsearch.results import EvalResult
    from actsearch.search import loop

    clock = iter([10.0, 11.0, 14.0])  # when each result comes back
    monkeypatch.setattr(loop.time, "monotonic", lambda: next(clock))
    worker_time = loop.WorkerTime(workers=2)
    assert worker_time.utilisation is None
    for seconds in (2.0, 3.0, 3.0):  # the first started at 10 - 2 = 8
        worker_time.returned(EvalResult("ok", 0.5, 0.5, 1.0, seconds, 1, 1, 8))
    assert worker_time.utilisation == pytest.approx(8.0 / (2 * (14.0 - 8.0)))


class _Watching(FakeExecutor):
    """Records how many trials it holds at each wait()."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.held: list[int] = []

    def wait(self, timeout: float | None = None):
        self.held.append(self.in_flight)
        return super().wait(timeout)


def test_the_loop_fills_the_executor_before_waiting(tmp_path: Path) -> None:
    # a batching executor can only batch what it holds: a generation of 6 must be there at once
    settings = _settings(tmp_path)
    store, run = _start(tmp_path / "f.db", settings)
    executor = _Watching(capacity=8)
    Search(settings, store, executor, run).run()
    assert executor.held[0] >= 6  # the baselines and the first generation (less its duplicates)


def test_same_seed_same_run(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    for name in ("a", "b"):
        store, run = _start(tmp_path / f"{name}.db", settings)
        Search(settings, store, FakeExecutor(), run).run()
    assert _state(tmp_path / "a.db") == _state(tmp_path / "b.db")


def test_fitness_is_the_mean_over_seeds_with_its_spread(tmp_path: Path) -> None:
    settings = settings_for(SearchRequest(space=str(_seeds_space(tmp_path)), seed=5))
    store, run = _start(tmp_path / "s.db", settings)
    Search(settings, store, FakeExecutor(capacity=4, batch=True), run).run()
    for c in store.candidates(run.id, statuses="evaluated"):
        seeds = [FakeExecutor.fitness(c.expr, seed) for seed in (5, 6)]
        assert c.fitness == pytest.approx(sum(seeds) / 2)
        assert c.fitness_std == pytest.approx(abs(seeds[0] - seeds[1]) / 2)


def _seeds_space(tmp_path: Path) -> Path:
    space = tmp_path / "seeds.yaml"
    space.write_text(
        SPACE.read_text().replace(
            "budget: {epochs: 30, reevaluate_top: 0}", "budget: {epochs: 3, seeds_per_candidate: 2, reevaluate_top: 0}"
        )
    )
    return space


@pytest.mark.parametrize("seeds", [1, 2])
@pytest.mark.parametrize("stop_at", ["start", "first", "third", "middle", "last"])
def test_resume_after_a_stop_anywhere_gives_the_uninterrupted_run(tmp_path: Path, stop_at: str, seeds: int) -> None:
    """Stopped after any share of the results (between seeds of one candidate, too): same run."""
    settings = settings_for(SearchRequest(space=str(_seeds_space(tmp_path)) if seeds == 2 else str(SPACE), seed=5))
    store, run = _start(tmp_path / "full.db", settings)
    full = FakeExecutor()
    Search(settings, store, full, run).run()

    store, run = _start(tmp_path / "stopped.db", settings)
    with pytest.raises(KeyboardInterrupt):
        n = len(full.submitted)  # odd stops fall between the seeds of one candidate
        Search(
            settings,
            store,
            _StopAfter({"start": 0, "first": 1, "third": 3, "middle": n // 2 | 1, "last": n - 1}[stop_at]),
            run,
        ).run()
    store.set_run_status(run.id, "interrupted")
    resumed = FakeExecutor()
    Search(settings, store, resumed, store.set_run_status(run.id, "running")).run()

    assert _state(tmp_path / "stopped.db") == _state(tmp_path / "full.db")  # each (function, seed) trained once


def test_observer_sees_every_part_of_the_loop(tmp_path: Path) -> None:
    seen: Counter[str] = Counter()

    class Counting:
        @contextlib.contextmanager
        def span(self, part: str) -> Iterator[None]:
            seen[part] += 1
            yield

    settings = _settings(tmp_path)
    store, run = _start(tmp_path / "o.db", settings)
    executor = FakeExecutor()
    summary = Search(settings, store, executor, run, observer=Counting()).run()
    proposals = sum(summary.counts.values())
    assert seen["ask"] >= proposals and seen["handle"] == seen["genotype"] == seen["tell"] == proposals
    assert 0 < seen["canonicalise"] == seen["screen"] <= proposals  # a tree seen before is not inspected again
    assert seen["record"] == len(executor.submitted) and seen["progress"] >= 1


def test_hurdle_stops_weak_candidates_and_stores_the_readings(tmp_path: Path) -> None:
    space = tmp_path / "hurdle.yaml"
    space.write_text(
        SPACE.read_text().replace(
            "budget: {epochs: 30, reevaluate_top: 0}",
            "budget: {epochs: 4, reevaluate_top: 0, hurdle: {epochs: 2, quantile: 0.5, min_observations: 2}}",
        )
    )
    settings = settings_for(SearchRequest(space=str(space), seed=5))
    store, run = _start(tmp_path / "h.db", settings)
    Search(settings, store, FakeExecutor(), run).run()
    evaluations = store.run_evaluations(run.id, partials=True)
    finals = [e for e in evaluations if not e.is_partial]
    assert any(e.status == "stopped" for e in finals) and any(e.status == "ok" for e in finals)
    assert all(e.planned_epochs == 2 for e in evaluations if e.is_partial)
    stopped = {e.candidate_id for e in finals if e.status == "stopped"}
    assert all(store.candidate(c).status == "evaluated" for c in stopped)  # a stopped training still counts


def _rungs_space(tmp_path: Path) -> Path:
    space = tmp_path / "rungs.yaml"
    space.write_text(
        SPACE.read_text()
        .replace(
            "budget: {epochs: 30, reevaluate_top: 0}",
            "budget: {epochs: 8, trainings: 14, reevaluate_top: 0,"
            " rungs: {epochs: [2, 4], keep: 0.5, min_observations: 2}}",
        )
        .replace("strategy: generational", "strategy: regularized")
    )
    return space


def test_rungs_stop_at_each_and_a_stopped_training_costs_the_share_it_ran(tmp_path: Path) -> None:
    """ASHA over two rungs: trainings stop at both; each stopped one counts as epochs run / 8,
    so the run trains more candidates than its budget of 14 trainings and spends it exactly."""
    settings = settings_for(SearchRequest(space=str(_rungs_space(tmp_path)), seed=5))
    store, run = _start(tmp_path / "r.db", settings)
    summary = Search(settings, store, FakeExecutor(), run).run()
    evaluations = store.run_evaluations(run.id, partials=True)
    baselines = {c.id for c in store.candidates(run.id) if c.is_baseline}
    finals = [e for e in evaluations if not e.is_partial and e.candidate_id not in baselines]
    assert {e.epochs for e in finals if e.status == "stopped"} == {2, 4}
    assert {e.planned_epochs for e in evaluations if e.is_partial} == {2, 4}
    assert all(e.planned_epochs == 8 for e in finals)
    spent = sum(e.epochs / 8 for e in finals)
    assert summary.spent == pytest.approx(spent) and 14 <= spent < 15
    assert len(finals) > 14 and summary.stopped == sum(e.status == "stopped" for e in finals)


def test_rungs_at_or_after_the_last_epoch_are_not_used_and_the_search_says_so(tmp_path: Path) -> None:
    """A space's rungs serve shorter trainings too (`--epochs 3`): a rung at epoch 4 of 3 is
    dropped with one message, the rung at 2 still stops trainings."""
    settings = settings_for(SearchRequest(space=str(_rungs_space(tmp_path)), seed=5, epochs=3))
    store, run = _start(tmp_path / "r.db", settings)
    messages: list[str] = []

    class Collect(SilentReporter):
        def message(self, text: str) -> None:
            messages.append(text)

    executor = FakeExecutor()
    Search(settings, store, executor, run, reporter=Collect()).run()
    assert messages[0] == "rungs at epoch 4 not used: trainings here last 3 epochs"
    assert {tuple(e for e, _ in t.rungs) for t in executor.submitted} == {(), (2,)}  # baselines: none
    evaluations = store.run_evaluations(run.id, partials=True)
    assert {e.planned_epochs for e in evaluations if e.is_partial} == {2}
    assert any(e.status == "stopped" for e in evaluations)


@pytest.mark.parametrize("stop_at", [3, 9, 15])
def test_resume_with_rungs_gives_the_uninterrupted_budget(tmp_path: Path, stop_at: int) -> None:
    settings = settings_for(SearchRequest(space=str(_rungs_space(tmp_path)), seed=5))
    store, run = _start(tmp_path / "full.db", settings)
    full = Search(settings, store, FakeExecutor(), run).run()
    store, run = _start(tmp_path / "stopped.db", settings)
    with pytest.raises(KeyboardInterrupt):
        Search(settings, store, _StopAfter(stop_at), run).run()
    store.set_run_status(run.id, "interrupted")
    resumed = Search(settings, store, FakeExecutor(), store.set_run_status(run.id, "running")).run()
    assert resumed.spent == pytest.approx(full.spent)
    trained = _rows(tmp_path / "stopped.db", "select candidate_id, seed from evaluations where not is_partial")
    assert len(trained) == len(set(trained))


@given(
    st.lists(st.floats(allow_nan=False, width=64), max_size=120),
    st.sampled_from([0.0, 0.25, 0.5, 0.7, 0.9, 1.0]),
)
def test_hurdle_threshold_is_the_sorted_readings_quantile(values: list[float], quantile: float) -> None:
    """The running order statistic gives what sorting every reading again gave."""
    from actsearch.search.state import OrderStatistic

    readings = OrderStatistic(quantile)
    for n, value in enumerate(values, start=1):
        readings.add(value)
        assert readings.value == sorted(values[:n])[min(n - 1, int(quantile * n))]
    assert len(readings) == len(values)


class _LossExecutor(FakeExecutor):
    """Fake trainings whose validation loss ranks the other way round from their fitness."""

    def result(self, trial):
        from dataclasses import replace

        result = super().result(trial)
        return replace(result, val_loss=None if result.fitness is None else 2.0 * result.fitness)


def test_loss_based_fitness_scores_minus_the_validation_loss(tmp_path: Path) -> None:
    space = tmp_path / "loss.yaml"
    space.write_text(SPACE.read_text() + "fitness: {score: loss}\n")
    settings = settings_for(SearchRequest(space=str(space), seed=5))
    store, run = _start(tmp_path / "l.db", settings)
    Search(settings, store, _LossExecutor(), run).run()
    evaluated = store.candidates(run.id, statuses="evaluated")
    assert evaluated
    for c in evaluated:
        (e,) = store.evaluations(c.id, partials=False)
        assert c.fitness == pytest.approx(-e.val_loss) and e.fitness == pytest.approx(e.val_loss / 2)
    best = store.leaderboard(run="r", k=1)[0]
    assert best.fitness == max(c.fitness for c in evaluated)  # the lowest loss leads, not the best metric
