"""The command line's shape: enum choices, one-line usage errors, every --help, and
validate's planning (actsearch.validate.plan_validation) on a real SQLite store.

Nothing here trains: the commands are called in this process (`main(argv)`) except
one run through `python -m actsearch`, as a user runs it."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from support import result, run_cli

from actsearch.cli import app, main
from actsearch.cli.common import OutputFormat, ValidationFormat
from actsearch.cli.validate import SUITE_NAMES
from actsearch.evolve import STRATEGIES, StrategyName
from actsearch.execute import ExecutorKind
from actsearch.spaces import Evolution
from actsearch.store import Store
from actsearch.tasks.suites import SUITES, Suite, suite_names
from actsearch.validate import SEED_START, PlanError, plan_validation

COMMANDS = ("search", "top", "runs", "show", "export", "report", "dashboard", "evaluate", "validate", "tasks")


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`actsearch ARGV` in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0), out, err


def test_every_command_is_registered() -> None:
    assert tuple(c.callback.__name__ for c in app.registered_commands if c.callback) == COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_works(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, err = run_main(capsys, command, "--help")
    assert code == 0, err
    assert "Usage:" in out and command in out


@pytest.mark.parametrize(
    ("argv", "option", "choices"),
    [
        (("top",), "--format", OutputFormat),
        (("validate", "--expr", "x"), "--format", ValidationFormat),
        (("validate", "--expr", "x"), "--executor", ExecutorKind),
        (("search",), "--executor", ExecutorKind),
        (("search",), "--strategy", StrategyName),
    ],
)
def test_a_wrong_choice_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: tuple[str, ...], option: str, choices: type
) -> None:
    db = tmp_path / "never.db"
    code, out, err = run_main(capsys, *argv, option, "nonsense", "--db", str(db))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert option in err and all(c.value in err for c in choices)
    assert not db.exists()  # refused by the parser: nothing opened or written


@pytest.mark.parametrize(
    ("command", "option", "choices"),
    [
        ("top", "--format", OutputFormat),
        ("validate", "--format", ValidationFormat),
        ("validate", "--executor", ExecutorKind),
        ("search", "--strategy", StrategyName),
    ],
)
def test_help_lists_the_choices(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str, option: str, choices: type
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the choices on one line
    _, out, _ = run_main(capsys, command, "--help")
    assert "|".join(c.value for c in choices) in out


def test_other_usage_errors_are_one_line_too(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (("top", "--bogus"), ("show",), ("evaluate", "--task", "digits-mlp", "--expr", "x", "--seeds", "0")):
        code, out, err = run_main(capsys, *argv)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, (argv, err)


def test_the_installed_command_refuses_a_bad_format_in_one_line(tmp_path: Path) -> None:
    proc = run_cli("top", "--format", "xml", "--db", str(tmp_path / "x.db"), timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error:") and "'xml'" in line and "table" in line


def test_strategy_names_match_the_strategies_and_the_space_schema() -> None:
    literal = typing.get_type_hints(Evolution)["strategy"]
    assert set(StrategyName) == set(STRATEGIES) == set(typing.get_args(literal))


# -- validate's planning ------------------------------------------------------------------


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """A store with one run on two tasks (its space adds a validation-only task), whose
    best candidate trained with seed SEED_START and a baseline with seed 0."""
    path = tmp_path / "store.db"
    with Store.open(path) as store:
        run = store.create_run(
            "r",
            task="a-task,b-task",
            space="tiny",
            seed=0,
            config={"task": ["a-task", "b-task"], "space": {"validate_tasks": ["c-task", "a-task"]}},
        )
        for expr, baseline, seed, fitness in (("relu(x)", True, 0, 0.5), ("x*tanh(x)", False, SEED_START, 0.9)):
            c = store.add_candidate(
                run.id,
                expr=expr,
                fingerprint=f"fp-{expr}",
                complexity=3,
                generation=0,
                parents=[],
                origin="baseline" if baseline else "init",
                is_baseline=baseline,
                status="queued",
            )
            store.add_evaluation(c.id, task="a-task", seed=seed, planned_epochs=5, result=result(fitness))
            store.finish_candidate(c.id, fitness=fitness, fitness_std=0.0, status="evaluated")
    return path


def test_plan_takes_the_runs_best_its_tasks_and_fresh_seeds(planted: Path) -> None:
    plan = plan_validation(str(planted), run="r", seeds=3)
    try:
        assert plan.tasks == ("a-task", "b-task", "c-task")
        assert plan.seeds == (SEED_START + 1, SEED_START + 2, SEED_START + 3)  # past the run's seed
        picks = [c for c in plan.contenders if not c.is_baseline]
        assert [c.expr for c in picks] == ["x*tanh(x)"] and picks[0].candidate_id is not None
        assert {c.expr for c in plan.contenders if c.is_baseline} >= {"relu(x)", "tanh(x)"}
        assert plan.run_id is not None
    finally:
        plan.store.close()


def test_plan_tasks_and_expressions_given(planted: Path) -> None:
    plan = plan_validation(str(planted), exprs=["x * sigmoid(1.5*x)"], tasks=" d-task, e-task ", seeds=1)
    try:
        assert plan.tasks == ("d-task", "e-task") and plan.run_id is None
        assert plan.contenders[0].expr == "x*sigmoid(1.5*x)" and not plan.contenders[0].is_baseline
        assert plan.seeds == (SEED_START,)  # no run: only the contenders' own trainings count
    finally:
        plan.store.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"run": "r", "seed_start": SEED_START - 1, "seeds": 2}, "already trained with"),
        ({"run": "nope"}, "no run named 'nope'"),
        ({"exprs": ["x +* 2"]}, "'x +* 2'"),
        ({}, "give --run NAME"),
        ({"run": "r", "seeds": 0}, "at least one seed"),
        ({"run": "r", "tasks": "d-task,,e-task"}, "a task name is empty"),
        ({"run": "r", "tasks": "a-task", "suite": "classic"}, "give --suite or --tasks, not both"),
        ({"run": "r", "suite": "nope"}, "unknown suite 'nope'; known suites: classic, general, held-out, panel"),
    ],
)
def test_plan_errors_are_one_line(planted: Path, kwargs: dict, message: str) -> None:
    before = planted.stat().st_mtime_ns
    with pytest.raises(PlanError) as info:
        plan_validation(str(planted), **kwargs).store.close()
    assert message in str(info.value) and "\n" not in str(info.value)
    assert planted.stat().st_mtime_ns == before


def test_plan_a_suite_replaces_the_runs_tasks(planted: Path) -> None:
    for run, exprs in (("r", []), (None, ["x*sigmoid(x)"])):
        plan = plan_validation(str(planted), run=run, exprs=exprs, suite="classic", seeds=2)
        try:
            assert plan.tasks == ("mnist1d-mlp", "mnist1d-cnn", "digits-mlp", "digits-cnn")
            assert plan.seeds[0] >= SEED_START and len(plan.seeds) == 2
        finally:
            plan.store.close()


def test_a_suite_naming_a_task_this_installation_lacks_is_refused(
    planted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(SUITES, "future", Suite("future", ("digits-mlp", "no-such-task"), "not yet"))
    before = planted.stat().st_mtime_ns
    with pytest.raises(PlanError) as info:
        plan_validation(str(planted), run="r", suite="future")
    assert "suite 'future' names task(s) this installation does not have: no-such-task;" in str(info.value)
    assert "\n" not in str(info.value) and planted.stat().st_mtime_ns == before


def test_validate_refuses_suite_with_tasks_in_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    argv = ("validate", "--expr", "x", "--suite", "classic", "--tasks", "digits-mlp", "--db", str(db))
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "give --suite or --tasks, not both" in err and not db.exists()
    code, out, err = run_main(capsys, "validate", "--expr", "x", "--suite", "huge", "--db", str(db))
    assert code == 2 and "unknown suite 'huge'" in err and len(err.strip().splitlines()) == 1
    assert not db.exists()


def test_validate_help_names_every_suite() -> None:
    assert SUITE_NAMES == tuple(suite_names())


def test_plan_for_a_run_never_creates_a_store(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(PlanError, match="actsearch search"):
        plan_validation(str(missing), run="r")
    with pytest.raises(PlanError, match="give --run"):
        plan_validation(str(missing))
    assert not missing.exists()


def test_validate_prints_a_plan_error_in_one_line(capsys: pytest.CaptureFixture[str], planted: Path) -> None:
    code, out, err = run_main(capsys, "validate", "--run", "r", "--seed-start", "0", "--db", str(planted))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "already trained with" in err
