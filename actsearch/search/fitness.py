"""How a run turns a candidate's trainings into one fitness: its tasks, seeds and reference.

On one task a candidate's fitness is the mean of its scored trainings over the
seeds. On several, it is its fitness across tasks (`results.relative_to_reference`):
seed by seed, the mean over the tasks of its fitness minus the best baseline's
there. That reference is the best baseline mean over the search seeds, fixed
once when every baseline has trained, so that a fitness never changes meaning
during a run (the re-check keeps it too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from actsearch.results import aggregate_fitness, relative_to_reference
from actsearch.search.state import Pair


class MissingBaselineError(RuntimeError):
    """No baseline trained on a task: fitness across tasks has no reference there."""


@dataclass
class FitnessRule:
    """A run's tasks and search seeds, and (several tasks) the baselines' reference."""

    tasks: tuple[str, ...]
    seeds: list[int]
    reference: dict[str, float] | None = field(default=None)

    @property
    def pairs(self) -> list[Pair]:
        """Every (task, seed) a candidate trains on during the search."""
        return [(task, seed) for task in self.tasks for seed in self.seeds]

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
        return relative_to_reference({t: [scored.get((t, s)) for s in seeds] for t in self.tasks}, self.reference)

    def fix_reference(self, baselines: Iterable[Mapping[Pair, float | None]]) -> None:
        """Fix the reference from every baseline's trainings: per task, the best mean over
        the search seeds."""
        baselines = list(baselines)
        reference = {}
        for task in self.tasks:
            means = [aggregate_fitness(mine.get((task, s)) for s in self.seeds)[0] for mine in baselines]
            best = max((m for m in means if m is not None), default=None)
            if best is None:
                raise MissingBaselineError(
                    f"no baseline trained on task {task!r}: fitness across tasks is relative to the best "
                    "baseline on each (see `actsearch show ID` for the baselines' errors)"
                )
            reference[task] = best
        self.reference = reference

    def failure(self, pair: Pair, why: str) -> str:
        """Why one training counts as failed (with its task and seed when there are several tasks)."""
        return why if not self.several_tasks else f"{pair[0]} seed {pair[1]}: {why}"
