"""How a run turns a candidate's trainings into one fitness: its tasks, seeds and reference.

On one task a candidate's fitness is the mean of its scored trainings over the
seeds. On several, it is its fitness across tasks (`results.relative_to_reference`):
seed by seed, the mean (or the median, `fitness.across_tasks`) over the tasks of its
fitness minus the best baseline's there, optionally in units of each task's seed
spread (`fitness.units`). That reference is the best baseline mean over the
baselines' seeds (the search seeds, or `budget.baseline_seeds` of them), and the seed
spread the baselines' pooled standard deviation over those seeds; both are fixed
once when every baseline has trained, so that a fitness never changes meaning
during a run (the re-check keeps them too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from actsearch.results import aggregate_fitness, relative_to_reference
from actsearch.search.state import Pair
from actsearch.stats import pooled_spread

#: The smallest seed spread a task's unit may be: baselines that train identically on every
#: seed must not turn a difference into infinity.
MIN_SPREAD = 1e-6


class Scored(Protocol):
    """A training's outcome as a result or a stored evaluation carry it."""

    @property
    def scored(self) -> float | None: ...

    @property
    def val_loss(self) -> float | None: ...


class MissingBaselineError(RuntimeError):
    """No baseline trained on a task: fitness across tasks has no reference there."""


@dataclass
class FitnessRule:
    """A run's tasks and search seeds, and (several tasks) the baselines' reference and
    how the tasks aggregate (`spaces.Fitness`)."""

    tasks: tuple[str, ...]
    seeds: list[int]
    #: the seeds every baseline trains with: the search seeds, then any further ones
    baseline_seeds: list[int] = field(default_factory=list)
    across: str = "mean"
    units: str = "raw"
    score: str = "metric"  # spaces.Fitness.score
    reference: dict[str, float] | None = field(default=None)
    scale: dict[str, float] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.baseline_seeds[: len(self.seeds)] != self.seeds:
            self.baseline_seeds = [*self.seeds, *[s for s in self.baseline_seeds if s not in self.seeds]]

    def scored(self, training: Scored) -> float | None:
        """What a training scores under this rule (None: it does not count): its fitness, or
        with `score: loss` minus its validation loss."""
        if training.scored is None or self.score == "metric":
            return training.scored
        loss = training.val_loss
        return None if loss is None or loss != loss else -loss

    @property
    def pairs(self) -> list[Pair]:
        """Every (task, seed) a candidate trains on during the search."""
        return [(task, seed) for task in self.tasks for seed in self.seeds]

    def pairs_of(self, baseline: bool) -> list[Pair]:
        """The (task, seed) pairs a candidate, or a baseline, trains on during the search."""
        if not baseline:
            return self.pairs
        return [(task, seed) for task in self.tasks for seed in self.baseline_seeds]

    @property
    def several_tasks(self) -> bool:
        return len(self.tasks) > 1

    @property
    def ready(self) -> bool:
        """Whether a fitness can be computed now (several tasks: once the reference is fixed)."""
        return not self.several_tasks or self.reference is not None

    def fitness(
        self, scored: Mapping[Pair, float | None], seeds: Iterable[int] | None = None
    ) -> tuple[float | None, float | None]:
        """A candidate's fitness and spread from its trainings with `seeds` (default: the
        search seeds): the mean over seeds on one task; across tasks, relative to the
        reference."""
        seeds = self.seeds if seeds is None else list(seeds)
        if not self.several_tasks:
            return aggregate_fitness(scored.get((self.tasks[0], seed)) for seed in seeds)
        if self.reference is None:
            raise RuntimeError("fitness across tasks asked before the baselines have trained")
        fitnesses = {t: [scored.get((t, s)) for s in seeds] for t in self.tasks}
        return relative_to_reference(fitnesses, self.reference, self.scale, self.across)

    def fix_reference(self, baselines: Iterable[Mapping[Pair, float | None]]) -> None:
        """Fix the reference from every baseline's trainings: per task, the best mean over
        the baselines' seeds; with `units: seed_spread`, also each task's unit."""
        baselines = list(baselines)
        reference, scale = {}, {}
        for task in self.tasks:
            runs = [[mine.get((task, s)) for s in self.baseline_seeds] for mine in baselines]
            means = [aggregate_fitness(values)[0] for values in runs]
            best = max((m for m in means if m is not None), default=None)
            if best is None:
                raise MissingBaselineError(
                    f"no baseline trained on task {task!r}: fitness across tasks is relative to the best "
                    "baseline on each (see `actsearch show ID` for the baselines' errors)"
                )
            reference[task] = best
            trained = [[v for v in values if v is not None] for values, m in zip(runs, means) if m is not None]
            scale[task] = max(MIN_SPREAD, pooled_spread(trained) or 0.0)
        self.reference = reference
        self.scale = scale if self.units == "seed_spread" else None

    def failure(self, pair: Pair, why: str) -> str:
        """Why one training counts as failed (with its task and seed when there are several tasks)."""
        return why if not self.several_tasks else f"{pair[0]} seed {pair[1]}: {why}"
