"""Robust scores on a teacher task: the teacher's own activation and the baselines, each
trained with several seeds in one batched program, scored by the median MSE.

The benchmark of a search's power (`gap_closed` in actsearch.tasks.teachers) needs the two
ends of each teacher's gap measured the same way as the pick, with seeds the search never
used. This lives in the trainer, not with the family: tasks may import only the expression
language. The robust score is `robust_mse`: the median over the seeds of the MSE on the
chosen split ("val" as the search scores, "test" as validation does), a failed training
counting as an infinite MSE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from actsearch.tasks.base import Task
from actsearch.tasks.teachers import BASELINES, FAMILY, gap_closed, robust_mse

SPLITS = ("val", "test")


@dataclass(frozen=True)
class TeacherScores:
    """Robust scores (median MSE over `seeds`) on one teacher task and split."""

    task: str
    split: str
    seeds: tuple[int, ...]
    teacher_expr: str
    #: expression -> MSE per seed (None: the training failed)
    mses: dict[str, tuple[float | None, ...]]

    def score(self, expr: str) -> float:
        return robust_mse(self.mses[expr])

    @property
    def teacher(self) -> float:
        return self.score(self.teacher_expr)

    @property
    def baselines(self) -> dict[str, float]:
        return {b: self.score(b) for b in BASELINES}

    @property
    def best_baseline(self) -> tuple[str, float]:
        """The baseline with the lowest robust MSE, and that MSE."""
        return min(self.baselines.items(), key=lambda item: item[1])

    @property
    def ratio(self) -> float:
        """The teacher's robust MSE over the best baseline's (fittable: at most MAX_MSE_RATIO)."""
        return self.teacher / self.best_baseline[1]

    def gap_closed(self, pick: float) -> float:
        """`gap_closed` of a pick's robust MSE, between this best baseline and this teacher."""
        return gap_closed(pick, self.best_baseline[1], self.teacher)


def teacher_scores(name: str, seeds: Sequence[int], split: str = "val") -> TeacherScores:
    """Robust scores of family teacher `name` (e.g. "teacher-01"): see :func:`score_teacher`."""
    teacher = FAMILY[name]
    return score_teacher(teacher.task(), teacher.expr, seeds, split)


def score_teacher(
    task: Task, teacher_expr: str, seeds: Sequence[int], split: str = "val", extra: Sequence[str] = ()
) -> TeacherScores:
    """Train `teacher_expr`, the baselines and the `extra` expressions with every seed in
    `seeds` on `task`, all in one batched program, and score them on `split` ("val" or
    "test": the test split then takes the validation split's place, as validation does).
    TensorFlow threads are the caller's to set (`actsearch.execute.pairs.pin_tensorflow`)."""
    from actsearch.expr import Activation

    from .batch import train_batch

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    if not seeds:
        raise ValueError("no seeds")
    exprs = list(dict.fromkeys([teacher_expr, *BASELINES, *extra]))
    data = task.get_data()
    if split == "test":
        data = replace(data, x_val=data.x_test, y_val=data.y_test)
    pairs = [(Activation.parse(e), s) for e in exprs for s in seeds]
    results = train_batch(task, pairs, data=data)
    mse = [-r.fitness if r.status == "ok" and r.fitness is not None else None for r in results]
    n = len(seeds)
    mses = {e: tuple(mse[i * n : (i + 1) * n]) for i, e in enumerate(exprs)}
    return TeacherScores(task.name, split, tuple(seeds), teacher_expr, mses)
