"""Fitness across tasks: a space that names several tasks.

The loop's bookkeeping (relative fitness, candidates waiting for the baselines,
resume at every stop point) runs on a fake executor in milliseconds; the
behaviour users see (real trainings, real SQLite, `validate`) in the slow tests.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from support import ROOT, FakeExecutor, StopAfter, run_cli

from actsearch.execute import Trial
from actsearch.results import EvalResult, relative_to_reference
from actsearch.search import Search, SearchRequest, SearchSettings, run_search, settings_for
from actsearch.spaces import SearchSpace, SpaceError, load_space
from actsearch.store import Store

TASKS = ("digits-mlp", "mnist1d-mlp")
FAKE_SPACE = (
    (ROOT / "tests" / "data" / "resume.yaml").read_text().replace("task: digits-mlp", "task: [digits-mlp, mnist1d-mlp]")
)


class TwoTaskFake(FakeExecutor):
    """The fake executor with a different fitness on the second task, where activations
    that grow past 8 on the probe points diverge; the newest trial comes back first (so
    candidates finish before the baselines they are compared with)."""

    def __init__(self, stop_after: int | None = None) -> None:
        super().__init__(capacity=3)
        self.left = stop_after

    def wait(self, timeout: float | None = None) -> list[tuple[Trial, EvalResult]]:
        if self.left is not None:
            if self.left <= 0:
                raise KeyboardInterrupt
            self.left -= 1
        newest = [self.running.pop()] if self.running else []
        return [(trial, self.result(trial)) for trial in newest]

    @classmethod
    def task_fitness(cls, expr: str, task: str, seed: int) -> float | None:
        from actsearch.expr import Activation

        fitness = cls.fitness(expr, seed)
        if task == TASKS[0] or fitness is None:
            return fitness
        with np.errstate(all="ignore"):
            y = np.asarray(Activation.parse(expr).numpy(cls.PROBE), dtype=float)
        return None if np.max(np.abs(y)) > 8 else 0.5 * fitness + 0.2 * float(np.mean(np.tanh(y)))

    def result(self, trial: Trial) -> EvalResult:
        assert trial.task in TASKS
        fitness = self.task_fitness(trial.expr, trial.task, trial.seed)
        if fitness is None:
            return EvalResult.failed("non-finite training loss (nan)", epochs=1, steps=1, batch_size=8)
        return EvalResult("ok", fitness, fitness, 1.0, 0.01, 3, 3, 8, worker="fake")


def _space(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _start(db: Path, settings: SearchSettings) -> tuple[Store, object]:
    store = Store.open(db)
    run = store.create_run(
        "r", task=settings.task_label, space=settings.space.name, seed=settings.seed, config=settings.to_config()
    )
    return store, run


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def _trainings(db: Path) -> Counter:
    """(candidate fingerprint, task, seed) -> times trained."""
    return Counter(
        _rows(
            db,
            "select c.fingerprint, e.task, e.seed from evaluations e join candidates c on c.id = e.candidate_id "
            "where not e.is_partial",
        )
    )


def _expected_fitness(db: Path, search_seeds: list[int], run: str = "r") -> dict[int, float | None]:
    """Every trained candidate's fitness across tasks, recomputed from its stored evaluations
    as documented: the best baseline per task over the search seeds is the reference."""
    rows = _rows(
        db,
        "select c.id, c.is_baseline, e.task, e.seed, case when e.status in ('ok', 'stopped') then e.fitness end "
        f"from evaluations e join candidates c on c.id = e.candidate_id join runs r on r.id = c.run_id "
        f"where r.name = '{run}' and not e.is_partial",
    )
    scored: dict[int, dict[tuple[str, int], float | None]] = {}
    baselines = set()
    for cid, is_baseline, task, seed, fitness in rows:
        scored.setdefault(cid, {})[(task, seed)] = fitness
        if is_baseline:
            baselines.add(cid)
    tasks = sorted({task for _, _, task, _, _ in rows})
    reference = {}
    for task in tasks:
        means = [
            statistics.fmean(scored[b][(task, s)] for s in search_seeds)
            for b in baselines
            if all(scored[b].get((task, s)) is not None for s in search_seeds)
        ]
        reference[task] = max(means)
    out = {}
    for cid, pairs in scored.items():
        seeds_of = sorted({s for _, s in pairs})
        out[cid] = relative_to_reference({t: [pairs.get((t, s)) for s in seeds_of] for t in tasks}, reference)[0]
    return out


# ---------------------------------------------------------------- the space


def test_the_tasks_are_one_field_of_the_space_and_travel_with_it(tmp_path: Path) -> None:
    single = load_space("default")
    assert single.tasks == ("mnist1d-mlp",)  # `task: NAME` in the file
    several = load_space(_space(tmp_path, FAKE_SPACE))
    assert several.tasks == TASKS and several.model_dump(mode="json")["tasks"] == list(TASKS)
    settings = SearchSettings(several, 5)
    assert SearchSettings.from_config(json.loads(json.dumps(settings.to_config()))) == settings
    assert settings.task_label == "digits-mlp,mnist1d-mlp" and "task" not in settings.to_config()  # one source
    flagged = settings_for(SearchRequest(space="default", task="digits-mlp, mnist1d-cnn"))
    assert flagged.tasks == flagged.space.tasks == ("digits-mlp", "mnist1d-cnn")
    assert settings_for(SearchRequest(space="default", task="digits-mlp")).space.tasks == ("digits-mlp",)


def test_stored_configs_of_older_versions_are_read_back(tmp_path: Path) -> None:
    """Older versions stored the tasks beside the space (a top-level "task", a name or a
    list), and the loop trained on those whatever the space said: they win."""
    from actsearch.runconfig import run_tasks, stored_trainings

    space = load_space(_space(tmp_path, FAKE_SPACE)).model_dump(mode="json")
    space.pop("tasks")
    one = {"space": {**space, "task": "mnist1d-mlp"}, "task": "digits-mlp", "seed": 3}
    listed = {"space": {**space, "task": "mnist1d-mlp"}, "task": list(TASKS), "seed": 3}
    for config, tasks in ((one, ("digits-mlp",)), (listed, TASKS)):
        stored = json.loads(json.dumps(config))
        settings = SearchSettings.from_config(stored)
        assert settings.tasks == tasks and settings.seed == 3
        assert settings.space.trainings == 6 * 3 * len(tasks) == stored_trainings(stored)
        assert run_tasks(stored, "ignored") == (tasks, ())
    assert SearchSettings.from_config({"space": {**space, "task": list(TASKS)}}).tasks == TASKS  # no top-level key
    assert run_tasks({}, "digits-mlp,mnist1d-mlp") == (TASKS, ())  # no config: the runs table's column
    with pytest.raises(SpaceError, match="^stored run config: several tasks need baselines"):
        SearchSettings.from_config({**listed, "space": {**listed["space"], "baselines": []}})


def test_the_task_flag_overrides_the_space_before_its_checks(tmp_path: Path) -> None:
    """`--task A,B` on a one-task space: the budget and the checks on several tasks follow the
    flag (before, the budget counted the space's one task and the checks never saw the flag)."""
    one_task = _space(tmp_path, FAKE_SPACE.replace("task: [digits-mlp, mnist1d-mlp]", "task: digits-mlp"))
    assert settings_for(SearchRequest(space=str(one_task))).space.trainings == 6 * 3
    flagged = settings_for(SearchRequest(space=str(one_task), task="digits-mlp,mnist1d-mlp"))
    assert flagged.tasks == TASKS and flagged.space.trainings == 6 * 3 * 2  # population x generations x tasks
    hurdled = _space(
        tmp_path,
        FAKE_SPACE.replace("task: [digits-mlp, mnist1d-mlp]", "task: digits-mlp").replace(
            "reevaluate_top: 0}", "reevaluate_top: 0, epochs: 9, hurdle: {epochs: 2}}"
        ),
        "hurdled.yaml",
    )
    assert settings_for(SearchRequest(space=str(hurdled), task="mnist1d-mlp")).tasks == ("mnist1d-mlp",)
    several = settings_for(SearchRequest(space=str(hurdled), task="digits-mlp,mnist1d-mlp"))  # the flag wins
    assert several.space.budget.rungs is None
    assert several.notes[0].startswith("several tasks: the space's rungs are off")
    for flag, message in (
        ("digits-mlp,,mnist1d-mlp", "--task 'digits-mlp,,mnist1d-mlp': a task name is empty"),
        ("digits-mlp,digits-mlp", "a task is listed twice: digits-mlp"),
        (" , ", "name at least one task"),
    ):
        with pytest.raises(SpaceError, match=message) as error:
            settings_for(SearchRequest(space=str(hurdled), task=flag))
        assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("task: digits-mlp", "task: []"), "field 'task': name at least one task"),
        (("task: digits-mlp", "task: [digits-mlp, digits-mlp]"), "listed twice"),
        (("task: digits-mlp", "task: [digits-mlp, '']"), "a task name is empty"),
        (('baselines: ["relu(x)", "tanh(x)"]', "baselines: []"), "several tasks need baselines"),
        (("reevaluate_top: 0}", "reevaluate_top: 0, epochs: 9, hurdle: {epochs: 2}}"), "one task only"),
    ],
)
def test_bad_task_lists_are_refused_in_one_line(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    text = FAKE_SPACE.replace("task: [digits-mlp, mnist1d-mlp]", "task: digits-mlp").replace(*change)
    if "task: digits-mlp" in text:
        text = text.replace("task: digits-mlp", "task: [digits-mlp, mnist1d-mlp]")
    with pytest.raises(SpaceError, match=message) as error:
        load_space(_space(tmp_path, text))
    assert "\n" not in str(error.value)


def test_the_default_budget_counts_a_training_per_task(tmp_path: Path) -> None:
    space = load_space(_space(tmp_path, FAKE_SPACE))
    assert space.trainings == 6 * 3 * 2  # population x generations x seeds x tasks
    assert SearchSpace.model_validate({**space.model_dump(), "tasks": "digits-mlp"}).trainings == 6 * 3


# ---------------------------------------------------------------- the loop (fake executor)


def test_fitness_across_tasks_is_relative_to_the_best_baseline_on_each(tmp_path: Path) -> None:
    settings = settings_for(SearchRequest(space=str(_space(tmp_path, FAKE_SPACE)), seed=5))
    store, run = _start(tmp_path / "a.db", settings)
    executor = TwoTaskFake()
    summary = Search(settings, store, executor, run).run()

    trained = _trainings(tmp_path / "a.db")
    assert set(trained.values()) == {1}  # each (function, task, seed) once
    last_baseline, first_done = _rows(
        tmp_path / "a.db",
        "select max(case when c.is_baseline then e.id end), min(case when c.is_baseline then null else e.id end)"
        " from evaluations e join candidates c on c.id = e.candidate_id",
    )[0]
    assert first_done < last_baseline  # candidates finished before the baselines, and waited for them
    evolved = [
        t for t in executor.submitted if t.candidate_id not in {c.id for c in store.candidates(run.id) if c.is_baseline}
    ]
    assert len(evolved) == summary.counts["evaluated"] * 2 + summary.counts["failed"] * 2 == 6 * 3 * 2
    expected = _expected_fitness(tmp_path / "a.db", [5])
    candidates = store.candidates(run.id)
    assert max(c.fitness for c in candidates if c.is_baseline) <= 1e-12  # at best the best baseline on each task
    failed = [c for c in candidates if c.status == "failed"]
    assert failed, "the fake diverges on the second task for activations growing past 8"
    for c in candidates:
        if c.status in ("evaluated", "failed"):
            assert c.fitness == pytest.approx(expected[c.id]) if expected[c.id] is not None else c.fitness is None
            assert c.tell_seq is not None or c.is_baseline  # every candidate told, the failed ones too
    for c in failed:  # penalised: no fitness (the worst for the strategy, off the leaderboard), the task named
        assert c.fitness is None and c.reason.startswith("mnist1d-mlp seed 5: non-finite")
        assert TwoTaskFake.task_fitness(c.expr, "digits-mlp", 5) is not None
    board = store.leaderboard(run="r", k=None)
    assert {r.candidate_id for r in board}.isdisjoint(c.id for c in failed)


@pytest.mark.parametrize("stop_at", [0.02, 0.1, 0.5, 0.99])  # baselines training, candidates waiting, ...
def test_resume_of_a_run_on_several_tasks_loses_and_repeats_nothing(tmp_path: Path, stop_at: float) -> None:
    """Stopped anywhere, also while candidates wait for the baselines: the uninterrupted run."""
    settings = settings_for(SearchRequest(space=str(_space(tmp_path, FAKE_SPACE)), seed=5))
    store, run = _start(tmp_path / "full.db", settings)
    uninterrupted = TwoTaskFake()
    Search(settings, store, uninterrupted, run).run()
    stop_after = int(stop_at * len(uninterrupted.submitted))
    full = _rows(tmp_path / "full.db", "select genotype, expr, status, fitness, reason from candidates order by id")

    store, run = _start(tmp_path / "stopped.db", settings)
    with pytest.raises(KeyboardInterrupt):
        Search(settings, store, TwoTaskFake(stop_after), run).run()
    store.set_run_status(run.id, "interrupted")
    Search(settings, store, TwoTaskFake(), store.set_run_status(run.id, "running")).run()

    assert (
        _rows(tmp_path / "stopped.db", "select genotype, expr, status, fitness, reason from candidates order by id")
        == full
    )
    assert _trainings(tmp_path / "stopped.db") == _trainings(tmp_path / "full.db")


# ---------------------------------------------------------------- real trainings

REAL_SPACE = """
name: two-tasks
task: [digits-mlp, mnist1d-mlp]
validate_tasks: [teacher-mlp]
primitives:
  unary: [square, neg, tanh, relu, abs, sigmoid]
  binary: [add, mul]
constants: {range: [-2.0, 2.0], decimals: 1, probability: 0.3}
tree: {init_min_height: 1, init_max_height: 2, max_height: 3}
evolution: {strategy: regularized, population: 4, generations: 2, tournament_size: 2, elite: 1}
budget: {epochs: 1, trainings: 8, reevaluate_top: 1, reevaluate_seeds: 1}
baselines: ["relu(x)", "tanh(x)"]
"""


@pytest.fixture(scope="module")
def two_task_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    workdir = tmp_path_factory.mktemp("tasks")
    space = _space(workdir, REAL_SPACE)
    db = workdir / "r.db"
    outcome = run_search(SearchRequest(space=str(space), db=str(db), run="r", seed=1, executor="local"))
    return space, db, outcome


@pytest.mark.slow
def test_a_two_task_search_stores_per_task_evaluations_and_combines_them(two_task_run) -> None:
    _, db, outcome = two_task_run
    assert outcome.run.task == "digits-mlp,mnist1d-mlp" and outcome.tasks == TASKS
    rows = _rows(
        db,
        "select c.id, c.is_baseline, e.task, e.seed from evaluations e join candidates c on c.id = e.candidate_id"
        " where not e.is_partial",
    )
    evolved = Counter(cid for cid, baseline, _, seed in rows if not baseline and seed == 1)
    assert sum(evolved.values()) == 8 and set(evolved.values()) == {2}  # budget: 4 candidates x 2 tasks
    by_candidate: dict[int, set] = {}
    for cid, _, task, seed in rows:
        by_candidate.setdefault(cid, set()).add((task, seed))
    rechecked = [pairs for pairs in by_candidate.values() if len(pairs) > 2]
    # both baselines and the best one, then any new leader (later rounds, then leader checks), seed 2 on every task
    assert 3 <= len(rechecked) <= 5
    assert all(pairs == {(t, s) for t in TASKS for s in (1, 2)} for pairs in rechecked)
    leader = next(r for r in outcome.leaderboard if not r.is_baseline)
    assert by_candidate[leader.candidate_id] == {(t, s) for t in TASKS for s in (1, 2)}  # the pick is re-checked
    expected = _expected_fitness(db, [1])
    with Store.open(db) as store:
        for c in store.candidates(outcome.run.id, ("evaluated", "failed")):
            assert c.fitness == pytest.approx(expected[c.id]) if expected[c.id] is not None else c.fitness is None
    assert max(r.fitness for r in outcome.leaderboard if r.is_baseline) <= 0.05  # seed 2 may move it a little
    means = outcome.task_means
    for row in outcome.leaderboard:  # per-task raw means behind each combined fitness
        assert set(means[row.candidate_id]) == set(TASKS) and row.evaluations == sum(
            n for _, n in means[row.candidate_id].values()
        )


@pytest.mark.long  # `make test-long`
@pytest.mark.slow
def test_validate_checks_a_multi_task_run_on_every_task_and_the_validation_ones(two_task_run) -> None:
    _, db, _ = two_task_run
    args = ("validate", "--db", str(db), "--run", "r", "--top", "1", "--seeds", "2", "--epochs", "1")
    proc = run_cli(*args, "--executor", "local", "--format", "json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = json.loads(proc.stdout)["scores"]
    assert [s["task"] for s in scores if not s["baseline"]] == [*TASKS, "teacher-mlp"]
    assert all(len(s["fitnesses"]) == 2 for s in scores)


DIVERGE_TASK = '''
"""digits with inputs scaled by 1e6: unbounded polynomial activations overflow float32."""
from dataclasses import replace

from actsearch.tasks import Task, TrainingSetup
from actsearch.tasks.builtin import digits_mlp_model, load_digits


def load_data():
    d = load_digits()
    return replace(d, x_train=d.x_train * 1e6, x_val=d.x_val * 1e6, x_test=d.x_test * 1e6)


def make_task() -> Task:
    return Task(name="huge-digits", load_data=load_data, build_model=digits_mlp_model,
                setup=TrainingSetup(epochs=1, batch_size=64, learning_rate=1e-2))
'''

DIVERGE_SPACE = """
name: diverge
task: [digits-mlp, HUGE]
primitives: {unary: [cube, tanh]}
constants: {probability: 0.0}
tree: {init_min_height: 1, init_max_height: 1, max_height: 1}
evolution: {strategy: random, population: 4, generations: 1}
budget: {epochs: 1, trainings: 4, reevaluate_top: 0}
baselines: ["relu(x)"]
"""


@pytest.mark.slow
def test_a_candidate_that_diverges_on_one_task_is_failed_whatever_the_other(tmp_path: Path) -> None:
    task = tmp_path / "huge.py"
    task.write_text(DIVERGE_TASK)
    huge = f"{task}:make_task"
    space = _space(tmp_path, DIVERGE_SPACE.replace("HUGE", f"'{huge}'"))
    outcome = run_search(SearchRequest(space=str(space), db=str(tmp_path / "d.db"), run="d", seed=0, executor="local"))
    with Store.open(tmp_path / "d.db") as store:
        by_expr = {c.expr: c for c in store.candidates(outcome.run.id, ("evaluated", "failed"))}
        cube, tanh = by_expr["x**3"], by_expr["tanh(x)"]
        statuses = {(e.task, e.status) for e in store.evaluations(cube.id, partials=False)}
    assert statuses == {("digits-mlp", "ok"), (huge, "failed")}  # trained fine on digits, NaN on the other
    assert cube.status == "failed" and cube.fitness is None and cube.tell_seq is not None
    assert cube.reason.startswith(f"{huge} seed 0: non-finite training loss")
    assert tanh.status == "evaluated" and tanh.fitness is not None
    assert [r.expr for r in outcome.leaderboard if not r.is_baseline] == ["tanh(x)"]


@pytest.mark.long  # `make test-long`
@pytest.mark.slow
@pytest.mark.parametrize("stop_after", [5])  # 4 baseline trainings, then one task of a candidate
def test_real_resume_of_a_two_task_run_loses_and_repeats_nothing(tmp_path: Path, two_task_run, stop_after: int) -> None:
    from actsearch.execute.local import InProcessExecutor

    space, full_db, full = two_task_run
    request = SearchRequest(space=str(space), db=str(tmp_path / "s.db"), run="r", seed=1, executor="local")
    settings = settings_for(request)
    store, run = _start(Path(request.db), settings)
    with pytest.raises(KeyboardInterrupt):
        Search(settings, store, StopAfter(InProcessExecutor(settings.tasks), stop_after), run).run()
    resumed = run_search(SearchRequest(db=request.db, run="r", resume=True, executor="local"))
    assert resumed.counts == full.counts
    assert _trainings(Path(request.db)) == _trainings(full_db)  # each (candidate, task, seed) exactly once
    query = "select genotype, status, round(fitness, 6) from candidates order by id"
    assert _rows(Path(request.db), query) == _rows(full_db, query)


ONE_TASK_SPACE = """
name: one-task
task: digits-mlp
primitives:
  unary: [square, neg, tanh, relu, abs, sigmoid]
  binary: [add, mul]
constants: {range: [-2.0, 2.0], decimals: 1, probability: 0.3}
tree: {init_min_height: 1, init_max_height: 2, max_height: 3}
evolution: {strategy: random, population: 3, generations: 1, tournament_size: 2, elite: 1}
budget: {epochs: 1, reevaluate_top: 0}
baselines: ["relu(x)"]
"""


@pytest.mark.slow
def test_the_task_flag_on_a_one_task_space_spends_a_training_per_task_and_seed(tmp_path: Path) -> None:
    """`search --task A,B` on a one-task space (issue 19): the budget is population x
    generations x seeds x the flag's tasks. Before, it counted the space's one task (3
    trainings) while every candidate trained on both: 2 candidates, half the promise."""
    space = _space(tmp_path, ONE_TASK_SPACE)
    db = tmp_path / "f.db"
    request = SearchRequest(space=str(space), task=",".join(TASKS), db=str(db), run="f", seed=1, executor="local")
    assert settings_for(request).space.trainings == 3 * 1 * 1 * 2
    outcome = run_search(request)
    assert outcome.run.task == "digits-mlp,mnist1d-mlp" and outcome.run.tasks == outcome.tasks == TASKS
    rows = _rows(
        db,
        "select c.id, c.is_baseline, e.task, e.seed from evaluations e join candidates c on c.id = e.candidate_id"
        " where not e.is_partial",
    )
    evolved: dict[int, set] = {}
    for cid, baseline, task, seed in rows:
        if not baseline:
            evolved.setdefault(cid, set()).add((task, seed))
    assert sum(map(len, evolved.values())) == 6 and all(pairs == {(t, 1) for t in TASKS} for pairs in evolved.values())
    assert {task for _, baseline, task, _ in rows if baseline} == set(TASKS)  # the reference on each task
    with Store.open(db) as store:
        stored = store.find_run("f")
        assert stored is not None and SearchSettings.from_config(stored.config).tasks == TASKS  # resume repeats it


@pytest.mark.slow  # one CLI process
def test_the_task_flag_gets_the_checks_on_several_tasks_in_one_line(tmp_path: Path) -> None:
    space = _space(tmp_path, ONE_TASK_SPACE.replace('baselines: ["relu(x)"]', "baselines: []"))
    args = ("search", "--space", str(space), "--db", str(tmp_path / "x.db"), "--executor", "local")
    proc = run_cli(*args, "--task", "digits-mlp,mnist1d-mlp")
    assert proc.returncode == 2 and "several tasks need baselines" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.db").exists()


@pytest.mark.slow  # two CLI processes
def test_an_unknown_task_in_the_list_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    space = _space(tmp_path, REAL_SPACE.replace("[digits-mlp, mnist1d-mlp]", "[digits-mlp, no-such-task]"))
    proc = run_cli("search", "--space", str(space), "--db", str(tmp_path / "x.db"), "--executor", "local")
    assert proc.returncode == 2 and "unknown task 'no-such-task'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.db").exists()
    empty = _space(tmp_path, REAL_SPACE.replace("[digits-mlp, mnist1d-mlp]", "[]"), "empty.yaml")
    proc = run_cli("search", "--space", str(empty), "--db", str(tmp_path / "x.db"), "--executor", "local")
    assert proc.returncode == 2 and "field 'task': name at least one task" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.db").exists()


def test_validate_summarises_each_pick_against_the_best_baseline_of_every_task() -> None:
    from actsearch.validate import Score, relative_to_best_baseline, summarise

    def task(name: str, evolved: tuple[float, ...], relu: tuple[float, ...], tanh: tuple[float, ...]) -> list[Score]:
        return [
            Score("x*tanh(x)", False, name, evolved),
            Score("relu(x)", True, name, relu),
            Score("tanh(x)", True, name, tanh),
        ]

    scores = task("a", (0.90, 0.91, 0.92, 0.90), (0.80, 0.81, 0.80, 0.82), (0.85, 0.84, 0.86, 0.85)) + task(
        "b", (0.70, 0.71, 0.69, 0.70), (0.80, 0.81, 0.80, 0.82), (0.60, 0.61, 0.62, 0.60)
    )
    (summary,) = relative_to_best_baseline(scores)
    assert summary.better_on == ("a",) and summary.worse_on == ("b",)
    assert summary.vs_best_baseline == pytest.approx(((0.9075 - 0.85) + (0.70 - 0.8075)) / 2)
    summary_json = summarise(scores, [1, 2, 3, 4])["across_tasks"]["x*tanh(x)"]
    assert summary_json["significantly_worse_than_best_baseline_on"] == ["b"]
    assert "across_tasks" not in summarise(scores[:3], [1, 2, 3, 4])  # one task: nothing to summarise


# ---------------------------------------------------------------- robust aggregation (`fitness:`)


def test_the_median_over_tasks_in_seed_spread_units_is_computed_as_documented() -> None:
    fitnesses = {"a": [0.9, 0.8], "b": [-0.5, -0.4], "c": [0.30, 0.36]}
    reference = {"a": 0.7, "b": -0.45, "c": 0.30}
    scale = {"a": 0.1, "b": 0.05, "c": 0.02}
    fitness, spread = relative_to_reference(fitnesses, reference, scale, "median")
    # seed 1: (2, -1, 0) -> median 0; seed 2: (1, 1, 3) -> median 1
    assert fitness == pytest.approx(0.5) and spread == pytest.approx(0.5)
    assert relative_to_reference(fitnesses, reference)[0] == pytest.approx(
        statistics.fmean([statistics.fmean([0.2, -0.05, 0.0]), statistics.fmean([0.1, 0.05, 0.06])])
    )


THREE_TASKS = (*TASKS, "digits-cnn")
ROBUST_SPACE = FAKE_SPACE.replace("[digits-mlp, mnist1d-mlp]", "[digits-mlp, mnist1d-mlp, digits-cnn]").replace(
    "budget: {epochs: 30, reevaluate_top: 0}",
    "budget: {epochs: 30, reevaluate_top: 2, reevaluate_seeds: 2, baseline_seeds: 3}\n"
    "fitness: {across_tasks: median, units: seed_spread}",
)


class ThreeTaskFake(TwoTaskFake):
    """A third task where the ranking differs again: a candidate's tasks disagree, so the
    median and the mean over them differ."""

    @classmethod
    def task_fitness(cls, expr: str, task: str, seed: int) -> float | None:
        from actsearch.expr import Activation

        if task != THREE_TASKS[2]:
            return super().task_fitness(expr, task, seed)
        with np.errstate(all="ignore"):
            y = np.asarray(Activation.parse(expr).numpy(cls.PROBE), dtype=float)
        if not np.all(np.isfinite(y)):
            return None
        return float(np.mean(np.abs(y)) / (1.0 + np.mean(np.abs(y)))) + 0.003 * seed

    def result(self, trial: Trial) -> EvalResult:
        fitness = self.task_fitness(trial.expr, trial.task, trial.seed)
        if fitness is None:
            return EvalResult.failed("non-finite training loss (nan)", epochs=1, steps=1, batch_size=8)
        return EvalResult("ok", fitness, fitness, 1.0, 0.01, 3, 3, 8, worker="fake")


def test_baselines_train_more_seeds_and_set_each_task_unit(tmp_path: Path) -> None:
    """`budget.baseline_seeds: 3`: every baseline trains seeds 5-7 on each task, candidates seed
    5 only; the re-check's seeds 6-7 reuse the baselines' (nothing trains twice); the fitness
    is the median over the tasks of the difference to the best baseline (mean over seeds 5-7)
    over the baselines' pooled seed spread."""
    settings = settings_for(SearchRequest(space=str(_space(tmp_path, ROBUST_SPACE)), seed=5))
    assert settings.space.fitness.across_tasks == "median" and settings.space.budget.seeds_per_baseline == 3
    db = tmp_path / "a.db"
    store, run = _start(db, settings)
    search = Search(settings, store, ThreeTaskFake(), run)
    search.run()

    assert set(_trainings(db).values()) == {1}
    baseline_ids = {c.id for c in store.candidates(run.id) if c.is_baseline}
    for cid in baseline_ids:
        assert {(e.task, e.seed) for e in store.evaluations(cid)} == {(t, s) for t in THREE_TASKS for s in (5, 6, 7)}
    rows = _rows(
        db,
        "select c.id, c.is_baseline, e.task, e.seed, case when e.status in ('ok', 'stopped') then e.fitness end "
        "from evaluations e join candidates c on c.id = e.candidate_id where not e.is_partial",
    )
    scored: dict[int, dict[tuple[str, int], float | None]] = {}
    for cid, _, task, seed, fitness in rows:
        scored.setdefault(cid, {})[(task, seed)] = fitness
    reference, scale = {}, {}
    for task in THREE_TASKS:
        runs = [[scored[b][(task, s)] for s in (5, 6, 7)] for b in baseline_ids]
        reference[task] = max(statistics.fmean(r) for r in runs)
        scale[task] = statistics.fmean(statistics.variance(r) for r in runs) ** 0.5
    assert search.rule.reference == pytest.approx(reference) and search.rule.scale == pytest.approx(scale)
    assert scale[TASKS[0]] == pytest.approx(0.001) and scale[THREE_TASKS[2]] == pytest.approx(0.003)
    told = [c for c in store.candidates(run.id) if c.status == "evaluated" and not c.is_baseline]
    rechecked = [c for c in told if any(s != 5 for _, s in scored[c.id])]
    assert len(rechecked) >= 2
    for c in told:
        seeds = sorted({s for _, s in scored[c.id]})
        columns = {t: [scored[c.id][(t, s)] for s in seeds] for t in THREE_TASKS}
        expected = relative_to_reference(columns, reference, scale, "median")[0]
        assert c.fitness == pytest.approx(expected)

    def first_seed(c: object, across: str) -> float | None:
        return relative_to_reference({t: [scored[c.id][(t, 5)]] for t in THREE_TASKS}, reference, scale, across)[0]

    disagree = [c for c in told if first_seed(c, "mean") != pytest.approx(first_seed(c, "median"))]
    assert disagree, "the tasks never disagree: the median is not tested"


@pytest.mark.parametrize("stop_at", [0.05, 0.3, 0.7, 0.97])
def test_resume_with_more_baseline_seeds_repeats_the_uninterrupted_run(tmp_path: Path, stop_at: float) -> None:
    settings = settings_for(SearchRequest(space=str(_space(tmp_path, ROBUST_SPACE)), seed=5))
    store, run = _start(tmp_path / "full.db", settings)
    uninterrupted = ThreeTaskFake()
    Search(settings, store, uninterrupted, run).run()
    full = _rows(tmp_path / "full.db", "select genotype, expr, status, fitness, reason from candidates order by id")

    store, run = _start(tmp_path / "stopped.db", settings)
    with pytest.raises(KeyboardInterrupt):
        Search(settings, store, ThreeTaskFake(int(stop_at * len(uninterrupted.submitted))), run).run()
    store.set_run_status(run.id, "interrupted")
    Search(settings, store, ThreeTaskFake(), store.set_run_status(run.id, "running")).run()
    stopped = _rows(
        tmp_path / "stopped.db", "select genotype, expr, status, fitness, reason from candidates order by id"
    )
    assert stopped == full
    assert _trainings(tmp_path / "stopped.db") == _trainings(tmp_path / "full.db")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("baseline_seeds: 3}", "baseline_seeds: 1}"),
        ("seeds_per_candidate", "baseline_seeds must be at least seeds_per_candidate"),
    ],
)
def test_a_seed_spread_needs_two_baseline_seeds(tmp_path: Path, change: str, message: str) -> None:
    if change == "seeds_per_candidate":
        text = ROBUST_SPACE.replace("baseline_seeds: 3}", "baseline_seeds: 3, seeds_per_candidate: 4}")
        expected = message
    else:
        text, expected = ROBUST_SPACE.replace(change, message), "needs budget.baseline_seeds of at least 2"
    with pytest.raises(SpaceError, match=expected):
        load_space(_space(tmp_path, text))


def test_the_leaderboard_says_how_the_tasks_are_combined() -> None:
    from actsearch.runconfig import across_tasks_label

    robust = {"space": {"fitness": {"across_tasks": "median", "units": "seed_spread"}}}
    assert across_tasks_label(robust) == (
        "median over tasks of (fitness - the best baseline's there) / the task's seed spread"
    )
    assert across_tasks_label({"space": {}}) == "mean over tasks of fitness minus the best baseline's there"
