"""Search spaces: load and check the YAML files (built-in ones in `actsearch/search_spaces/`).

A search space says which primitives and constants trees are built from, how
big trees may grow, which constraints screening enforces, how evolution
proceeds and what training budget each candidate gets. Every field is
checked before any work starts, so a bad file costs one error line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from actsearch.runconfig import planned_trainings, stored_space

#: The built-in spaces, shipped inside the package (so a wheel install has them).
SPACES_DIR = Path(__file__).resolve().parent / "search_spaces"
DEFAULT_SPACE = "default"
DEFAULT_BASELINES = ("relu(x)", "x * sigmoid(x)", "gelu(x)", "tanh(x)")


class SpaceError(ValueError):
    """A search-space file that cannot be used; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Primitives(_Strict):
    unary: tuple[str, ...] = ()
    binary: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _known_with_arity(self) -> Primitives:
        from actsearch.expr import REGISTRY  # here, not above: reading stored configs needs no sympy

        for field, arity in (("unary", 1), ("binary", 2)):
            for name in getattr(self, field):
                if name not in REGISTRY:
                    raise ValueError(f"{field}: unknown primitive {name!r}")
                if REGISTRY[name].arity != arity:
                    raise ValueError(f"{field}: {name!r} takes {REGISTRY[name].arity} argument(s), not {arity}")
        if not self.binary and not self.unary:
            raise ValueError("at least one unary or binary primitive is needed")
        return self


class Constants(_Strict):
    """Ephemeral constants: drawn uniformly from `range`, rounded to `decimals`."""

    range: tuple[float, float] = (-2.0, 2.0)
    decimals: int = Field(default=2, ge=0, le=6)
    probability: float = Field(default=0.2, ge=0.0, le=1.0)

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not value[0] < value[1]:
            raise ValueError("must be [low, high] with low < high")
        return value


class Tree(_Strict):
    init_min_height: int = Field(default=1, ge=0)
    init_max_height: int = Field(default=3, ge=1)
    max_height: int = Field(default=6, ge=1, le=17)
    #: every candidate is b(x, g(x)): a binary primitive of x itself and an evolved tree g, so
    #: x keeps a direct path through the activation (the form of Ramachandran et al. 2017's
    #: winners, e.g. x * sigmoid(x)); evolution varies g and, now and then, b
    linear_path: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Tree:
        if self.init_min_height > self.init_max_height:
            raise ValueError("init_min_height is larger than init_max_height")
        if self.init_max_height > self.max_height:
            raise ValueError("init_max_height is larger than max_height")
        if self.linear_path and self.init_max_height < 2:
            raise ValueError("linear_path needs init_max_height of at least 2 (b(x, g(x)) has height 2 or more)")
        return self


class Constraints(_Strict):
    """What screening asks of a candidate before it costs any training."""

    increasing: bool = False
    probe: tuple[float, float] = (-6.0, 6.0)
    min_nonzero_grad: float = Field(default=0.4, gt=0.0, le=1.0)

    @field_validator("probe")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not value[0] < value[1]:
            raise ValueError("must be [low, high] with low < high")
        return value


class Evolution(_Strict):
    strategy: Literal["generational", "regularized", "random"] = "generational"
    population: int = Field(default=16, ge=2, le=100_000)
    generations: int = Field(default=6, ge=1, le=100_000)
    tournament_size: int = Field(default=3, ge=1)
    elite: int = Field(default=2, ge=0)
    crossover_prob: float = Field(default=0.5, ge=0.0, le=1.0)
    mutation_prob: float = Field(default=0.5, ge=0.0, le=1.0)
    #: Lamarckian constants: each candidate trains its constants with its weights (as a
    #: parametric activation of its tree as evolved) and the learned values are written back
    #: into its tree, so offspring start from them
    lamarckian: bool = False

    @model_validator(mode="after")
    def _fits(self) -> Evolution:
        if self.lamarckian and self.strategy == "random":
            raise ValueError("lamarckian needs an evolving strategy: random search has no offspring to inherit")
        if self.elite >= self.population:
            raise ValueError("elite must be smaller than population")
        if self.tournament_size > self.population:
            raise ValueError("tournament_size is larger than population")
        return self


class Hurdle(_Strict):
    """One rung, in the spelling of earlier versions: after `epochs`, stop candidates below
    the `quantile` of those seen (`rungs` with `keep = 1 - quantile`)."""

    epochs: int = Field(ge=1)
    quantile: float = Field(default=0.5, gt=0.0, lt=1.0)
    min_observations: int = Field(default=6, ge=1)


class Rungs(_Strict):
    """Multi-fidelity training, asynchronous successive halving (ASHA; Li et al. 2020): at
    each rung's epoch a candidate's training goes on only if its validation fitness there is
    among the best `keep` share of the readings seen at that rung so far (1 / reduction
    factor: Ray Tune's ASHA and Optuna use 4); the others stop there, and a stopped training
    counts as the share of its epochs it ran. Until a rung has `min_observations` readings it
    stops nobody. Candidates train with the same seeds, so a rung compares them on equal noise.
    A rung at or after a training's last epoch is not used (so one space serves tasks of
    different lengths, and short trial runs with `--epochs`)."""

    epochs: tuple[int, ...] = Field(min_length=1)
    keep: float = Field(default=0.25, gt=0.0, lt=1.0)
    min_observations: int = Field(default=6, ge=1)

    @field_validator("epochs")
    @classmethod
    def _increasing(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(e < 1 for e in value) or list(value) != sorted(set(value)):
            raise ValueError("must be increasing epochs, each at least 1")
        return value

    def before(self, planned_epochs: int) -> tuple[int, ...]:
        """The rung epochs a training of `planned_epochs` epochs uses: those before its end."""
        return tuple(e for e in self.epochs if e < planned_epochs)


class Budget(_Strict):
    """Training budget per candidate; None keeps the task's own default."""

    epochs: int | None = Field(default=None, ge=1, le=10_000)
    seeds_per_candidate: int = Field(default=1, ge=1, le=100)
    #: trainings the search may spend on proposals (one per seed; duplicates and rejections cost
    #: none; baselines are extra); None: evolution.population x evolution.generations
    trainings: int | None = Field(default=None, ge=1, le=10_000_000)
    #: after the budget, the best `reevaluate_top` candidates and the baselines are trained with
    #: `reevaluate_seeds` further seeds; the leaderboard ranks by the mean over all seeds (0: off)
    reevaluate_top: int = Field(default=5, ge=0, le=1000)
    reevaluate_seeds: int = Field(default=4, ge=0, le=100)
    #: multi-fidelity rungs; `hurdle: {epochs, quantile, min_observations}`, one rung as
    #: earlier versions spelled it, is read as rungs with keep = 1 - quantile
    rungs: Rungs | None = None
    #: seeds each baseline trains with during the search (None: `seeds_per_candidate`); more
    #: than the candidates' steadies the reference of a fitness across tasks, and at least 2
    #: measure the seed spread that `fitness.units: seed_spread` divides by. Baselines are extra
    #: to the budget; their further seeds are the re-check's first seeds, so they serve it too
    baseline_seeds: int | None = Field(default=None, ge=1, le=100)
    #: candidates a worker trains at once in one program (x seeds = members);
    #: None: the device's default (actsearch.execute.batching.default_batch_candidates:
    #: one candidate on CPU, so that a seed gives the same search; many on GPU)
    batch_candidates: int | None = Field(default=None, ge=1, le=1024)

    @model_validator(mode="before")
    @classmethod
    def _hurdle_is_one_rung(cls, data: Any) -> Any:
        """`hurdle` (earlier versions; stored runs have it) is one rung."""
        if not isinstance(data, dict) or data.get("hurdle") is None:
            return {k: v for k, v in data.items() if k != "hurdle"} if isinstance(data, dict) else data
        if data.get("rungs") is not None:
            raise ValueError("give rungs or hurdle (one rung, the older spelling), not both")
        hurdle = Hurdle.model_validate(data["hurdle"])
        rungs = {"epochs": (hurdle.epochs,), "keep": 1.0 - hurdle.quantile, "min_observations": hurdle.min_observations}
        return {**{k: v for k, v in data.items() if k != "hurdle"}, "rungs": rungs}

    @model_validator(mode="after")
    def _baseline_seeds(self) -> Budget:
        if self.baseline_seeds is not None and self.baseline_seeds < self.seeds_per_candidate:
            raise ValueError("baseline_seeds must be at least seeds_per_candidate (baselines train every search seed)")
        return self

    @property
    def seeds_per_baseline(self) -> int:
        return self.baseline_seeds or self.seeds_per_candidate


class Fitness(_Strict):
    """How a candidate's trainings on several tasks become one fitness
    (`actsearch.results.relative_to_reference`): per seed, its difference to the best
    baseline on each task, in `units`, aggregated over the tasks by `across_tasks`.

    `median` keeps one task where a candidate shines or collapses from deciding alone
    (AutoML-Zero's median across tasks); `seed_spread` puts tasks of different scales (an
    accuracy, an MSE) on one footing: each task's difference is divided by the pooled
    standard deviation of the baselines over their seeds there, so 1 means one seed-noise
    unit better than the best baseline. On one task the fitness is the plain mean over seeds
    and this section has no effect (`--task NAME` may narrow a space to one)."""

    across_tasks: Literal["mean", "median"] = "mean"
    units: Literal["raw", "seed_spread"] = "raw"
    #: what a training scores: the task's metric (validation accuracy, minus MSE), or minus its
    #: validation loss, which ranks trainings more finely than an accuracy (Bingham et al. 2020
    #: found loss-based fitness let evolution beat random search); validation always reports
    #: the metric on the test split
    score: Literal["metric", "loss"] = "metric"


class Surrogate(_Strict):
    """Screening by a surrogate (`actsearch.search.surrogate`): proposals are cheap, trainings
    are the budget. Once `warmup` trainings are told, the search scores `pool` screened, new
    proposals by their predicted fitness (k nearest trained functions, by their standardised
    outputs under N(0, 1) inputs) and trains the best of them; with probability `exploration`
    a random member of the pool instead, so the surrogate keeps learning away from what it
    already knows. The others are stored as `passed`, with their prediction."""

    enabled: bool = False
    pool: int = Field(default=10, ge=2, le=10_000)
    exploration: float = Field(default=0.1, ge=0.0, le=1.0)
    neighbours: int = Field(default=3, ge=1, le=100)
    #: trained candidates (baselines included) the surrogate needs before it ranks a pool
    warmup: int = Field(default=8, ge=1, le=100_000)


class SearchSpace(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    #: the tasks searched on, in order; the YAML key is `task`, a name or a list of names. With
    #: several, a candidate's fitness is its fitness across the tasks, relative to the best
    #: baseline on each (see actsearch.results.relative_to_reference)
    tasks: tuple[str, ...] = Field(validation_alias=AliasChoices("task", "tasks"))
    #: tasks `actsearch validate` checks a run's picks on besides the search's own (never searched on)
    validate_tasks: tuple[str, ...] = ()
    primitives: Primitives
    constants: Constants = Constants()
    tree: Tree = Tree()
    constraints: Constraints = Constraints()
    evolution: Evolution = Evolution()
    budget: Budget = Budget()
    fitness: Fitness = Fitness()
    surrogate: Surrogate = Surrogate()
    parametric: bool = False
    #: train each candidate standardised under N(0, 1) inputs, so that candidates differing only
    #: by output scale, sign or shift are one function, trained once (see actsearch.expr.normalize)
    normalize: bool = False
    baselines: tuple[str, ...] = DEFAULT_BASELINES

    @field_validator("tasks", "validate_tasks", mode="before")
    @classmethod
    def _a_name_or_a_list(cls, value: object) -> object:
        """`task: NAME` is a list of one (the YAML key takes a name or a list of names)."""
        return (value,) if isinstance(value, str) else value

    @field_validator("tasks", "validate_tasks")
    @classmethod
    def _task_names(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if info.field_name == "tasks" and not value:
            raise ValueError("name at least one task")
        if any(not name.strip() for name in value):
            raise ValueError("a task name is empty")
        for name in value:  # the runs table joins the names with commas
            if "," in name:
                raise ValueError(f"a task name has a comma ({name!r}): list several tasks as [A, B]")
        if len(set(value)) < len(value):
            raise ValueError(f"a task is listed twice: {', '.join(value)}")
        return value

    @model_validator(mode="after")
    def _several_tasks_fit(self) -> SearchSpace:
        """What several tasks need, checked wherever the tasks come from (file, --task, stored run)."""
        if self.tree.linear_path and not self.primitives.binary:
            raise ValueError("tree.linear_path needs a binary primitive (candidates are b(x, g(x)))")
        if self.surrogate.enabled and self.evolution.strategy == "generational":
            raise ValueError(
                "surrogate needs a steady-state strategy (random or regularized): a generation "
                "would be filled with the proposals it passes over"
            )
        if len(self.tasks) > 1 and not self.baselines:
            raise ValueError("several tasks need baselines: a candidate's fitness is relative to the best one")
        if len(self.tasks) > 1 and self.budget.rungs is not None:
            raise ValueError("budget.rungs work with one task only (rung readings of tasks do not compare)")
        if len(self.tasks) > 1 and self.fitness.units == "seed_spread" and self.budget.seeds_per_baseline < 2:
            raise ValueError("fitness.units seed_spread needs budget.baseline_seeds of at least 2 (a spread needs 2)")
        return self

    @property
    def trainings(self) -> int:
        """The budget in trainings: `budget.trainings`, or population x generations x seeds
        x tasks (a candidate costs one training per task and seed)."""
        evolution, budget = self.evolution, self.budget
        return planned_trainings(
            budget.trainings, evolution.population, evolution.generations, budget.seeds_per_candidate, len(self.tasks)
        )

    @field_validator("baselines")
    @classmethod
    def _parsable(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from actsearch.expr import Activation, ParseError

        for text in value:
            try:
                Activation.parse(text)
            except ParseError as err:
                raise ValueError(f"{text!r}: {err}") from None
        return value


def resolve_space_path(space: str | Path | None) -> Path:
    """A name like `seed` means the built-in `search_spaces/seed.yaml`; anything else is a path."""
    if space is None:
        space = DEFAULT_SPACE
    path = Path(space)
    if path.suffix not in (".yaml", ".yml") and not path.exists():
        path = SPACES_DIR / f"{space}.yaml"
    return path


def load_space(space: str | Path | None = None) -> SearchSpace:
    """Read and check a search-space file; raise SpaceError with one clear line."""
    path = resolve_space_path(space)
    try:
        text = path.read_text()
    except OSError as err:
        raise SpaceError(f"{path}: cannot read search space ({err.strerror or err})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise SpaceError(f"{path}:{where} invalid YAML ({getattr(err, 'problem', err)})") from None
    if not isinstance(data, dict):
        raise SpaceError(f"{path}: expected a mapping of fields, got {type(data).__name__}")
    try:
        return SearchSpace.model_validate(data)
    except ValidationError as err:
        raise SpaceError(f"{path}: {_first_error(err)}") from None


def with_overrides(space: SearchSpace, tasks: Sequence[str] | None = None, **sections: dict[str, Any]) -> SearchSpace:
    """The space with some fields replaced (command-line options), checked like the file:
    `tasks` (from `--task`) replace the space's before validation, so that the budget and the
    checks on several tasks follow them."""
    data = space.model_dump()
    if tasks is not None:
        data["tasks"] = tuple(tasks)
    for section, values in sections.items():
        data[section].update(values)
    try:
        return SearchSpace.model_validate(data)
    except ValidationError as err:
        raise SpaceError(f"options on space {space.name!r}: {_first_error(err)}") from None


def task_list(text: str, option: str = "--task") -> tuple[str, ...]:
    """A comma-separated option (`--task A,B`) as task names; one clear line for bad input."""
    names = tuple(name.strip() for name in text.split(","))
    if not any(names):
        raise SpaceError(f"{option} {text!r}: name at least one task")
    if not all(names):
        raise SpaceError(f"{option} {text!r}: a task name is empty (a stray comma?)")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise SpaceError(f"{option} {text!r}: a task is listed twice: {', '.join(twice)}")
    return names


@dataclass(frozen=True)
class SearchSettings:
    """What a run is: stored with the run, so that `--resume` repeats it exactly. The
    tasks are the space's (`--task` overrides the space, `with_overrides`): one source."""

    space: SearchSpace
    seed: int = 0
    #: what the command line turned off in the space (printed when the search starts; not stored)
    notes: tuple[str, ...] = ()

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.space.tasks

    @property
    def task_label(self) -> str:
        """The run's `task` column: the task names joined by commas (`RunRecord.tasks` splits it)."""
        return ",".join(self.tasks)

    def to_config(self) -> dict[str, Any]:
        return {"space": self.space.model_dump(mode="json"), "seed": self.seed}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SearchSettings:
        """Read back a stored config, of this version or an older one (the one reader:
        `actsearch.runconfig.stored_space`); SpaceError in one line if it no longer validates."""
        if not isinstance(config, Mapping) or not isinstance(config.get("space"), Mapping):
            raise SpaceError("stored run config: no search space in it")
        try:
            space = SearchSpace.model_validate(stored_space(config))
        except ValidationError as err:
            raise SpaceError(f"stored run config: {_first_error(err)}") from None
        return cls(space, int(config.get("seed", 0)))


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    extra = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    where = f"field '{field}': " if field else ""  # a check across fields (several tasks) names them itself
    return f"{where}{message}{extra}"
