"""Search-space files: the shipped ones load, broken ones fail with one line naming the field."""

from pathlib import Path

import pytest

from actsearch.spaces import SPACES_DIR, SpaceError, load_space

SHIPPED = sorted(p.stem for p in SPACES_DIR.glob("*.yaml"))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_spaces_load(name: str) -> None:
    space = load_space(name)
    assert space.name == name
    assert space.primitives.unary or space.primitives.binary


def test_seed_space_has_only_the_seed_families() -> None:
    space = load_space("seed")
    assert set(space.primitives.unary) <= {"exp", "log", "square", "cube", "neg"}
    assert set(space.primitives.binary) <= {"add", "sub", "mul"}
    assert space.constraints.increasing


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_spaces_name_built_in_tasks(name: str) -> None:
    from actsearch.tasks import task_names

    space = load_space(name)
    assert set(space.tasks) | set(space.validate_tasks) <= set(task_names())


def test_the_general_space_searches_the_general_suite_and_holds_out_the_rest() -> None:
    from actsearch.tasks.suites import get_suite

    space = load_space("general")
    assert space.tasks == get_suite("general").tasks
    assert space.validate_tasks == get_suite("held-out").tasks
    assert set(space.tasks).isdisjoint(space.validate_tasks)
    assert set(space.tasks) | set(space.validate_tasks) == set(get_suite("panel").tasks)
    assert space.tree.linear_path and space.fitness.across_tasks == "median"
    assert space.fitness.units == "seed_spread" and space.budget.seeds_per_baseline >= 2


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


BASE = """
name: t
task: mnist1d-mlp
primitives:
  unary: [exp]
  binary: [add]
"""


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (BASE.replace("[exp]", "[expo]"), "primitives"),
        (BASE.replace("[exp]", "[add]"), "primitives"),
        (BASE.replace("task: mnist1d-mlp\n", ""), "task"),
        (BASE + "tree:\n  max_height: 2\n  init_max_height: 3\n", "tree"),
        (BASE + "evolution:\n  population: 1\n", "evolution.population"),
        (BASE + "evolution:\n  population: 4\n  elite: 4\n", "evolution"),
        (BASE + "constants:\n  range: [2, -2]\n", "constants.range"),
        (BASE + "budget:\n  epochs: 8\n  rungs: {epochs: [4, 2]}\n", "budget.rungs.epochs"),
        (BASE + "budget:\n  rungs: {epochs: [2], keep: 1.0}\n", "budget.rungs.keep"),
        (BASE + "budget:\n  rungs: {epochs: [2]}\n  hurdle: {epochs: 2}\n", "budget"),
        (BASE + "colour: red\n", "colour"),
        (BASE + "baselines: ['x +* 2']\n", "baselines"),
    ],
)
def test_bad_field_is_named(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(SpaceError) as info:
        load_space(_write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    assert f"field '{field}" in message


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match=r"line \d+ invalid YAML"):
        load_space(_write(tmp_path, BASE + "tree: [unclosed\n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match="cannot read"):
        load_space(tmp_path / "nope.yaml")


def test_command_line_overrides_are_validated_like_the_file() -> None:
    from actsearch.search import SearchRequest, settings_for

    budget = settings_for(SearchRequest(space="seed", epochs=2, trainings=7, reevaluate_top=0)).space.budget
    assert (budget.epochs, budget.trainings, budget.reevaluate_top) == (2, 7, 0)
    assert settings_for(SearchRequest(space="seed")).space.budget.reevaluate_top == 5  # the space's own
    with pytest.raises(SpaceError, match="options on space 'seed': field 'budget.reevaluate_top'"):
        settings_for(SearchRequest(space="seed", reevaluate_top=-1))
    with pytest.raises(SpaceError, match="field .evolution.: elite must be smaller than population"):
        settings_for(SearchRequest(space="seed", population=2))


def test_a_hurdle_is_one_rung(tmp_path: Path) -> None:
    """`hurdle` (earlier versions, stored runs) reads as one rung keeping 1 - quantile."""
    space = load_space(_write(tmp_path, BASE + "budget:\n  hurdle: {epochs: 2, quantile: 0.75, min_observations: 3}\n"))
    assert space.budget.rungs is not None
    assert (space.budget.rungs.epochs, space.budget.rungs.keep, space.budget.rungs.min_observations) == ((2,), 0.25, 3)
    assert space.budget.rungs.before(3) == (2,) and space.budget.rungs.before(2) == ()
    # a rung at or after the budget's last epoch loads (the search drops it with a message)
    late = load_space(_write(tmp_path, BASE + "budget:\n  epochs: 2\n  hurdle: {epochs: 3}\n"))
    assert late.budget.rungs is not None and late.budget.rungs.before(2) == ()
