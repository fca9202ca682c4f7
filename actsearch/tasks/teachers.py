"""The teacher family: known-answer tasks `teacher-01` .. `teacher-NN` (issue 20, item 5).

One teacher task (`teacher-mlp`) lets a lucky search look like a good one; a family
of teachers drawn the way a search draws its candidates measures a search's power
as the share of the gap it closes between the best baseline and the answer, on many
tasks at once (:func:`gap_closed`, ``SOLVED``).

Each teacher is a task of teacher.py with its own (expression, weights seed): the
same 10-32-1 network, data sizes, noise and training setup as `teacher-mlp`. The
weights seed is a fixed function of the family index (:func:`weights_seed`).

How the expressions were drawn (benchmarks/teachers.py; this module only holds the
result, as tasks may not import the evolution code). For draw seeds 0, 1, 2, ... in
order: ``TreeFactory(load_space("default"), random.Random(seed)).random_tree()``,
turned into an activation as the search does (light form, not simplified); kept when

- it passes the default space's screening and can be standardised; the teacher is
  the STANDARDISED form (``normalize.standardise``), as the default space trains;
- its shape is far from every reference: ``shape_similarity`` at most
  ``MAX_REFERENCE_SIMILARITY`` (0.9) with each of ``SHAPE_REFERENCES`` (the four
  baselines and x, x**2, |x|), and at most ``MAX_TEACHER_SIMILARITY`` (0.95) with
  every teacher kept before it;
- it is fittable: its own robust score on its task is at most ``MAX_MSE_RATIO``
  (half) the best baseline's. The robust score is the MEDIAN over
  ``ROBUST_SEEDS`` (5) training seeds of the validation MSE (:func:`robust_mse`):
  narrow teachers sometimes train to a poor local minimum on some seeds (their own
  activation included), and the median ignores up to two such seeds where a mean
  would not.

Reproduce with ``python benchmarks/teachers.py`` (docs/teachers.md has its output:
each teacher's similarities and MSEs).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .base import Task
from .teacher import make_teacher_task, shape_similarity

#: The default space's baselines: the activations a teacher must beat clearly.
BASELINES = ("relu(x)", "x * sigmoid(x)", "gelu(x)", "tanh(x)")
#: Shapes a teacher must be far from: the baselines, and the trivial shapes a random
#: tree most often is (linear, square, absolute value).
SHAPE_REFERENCES = (*BASELINES, "x", "x**2", "abs(x)")
MAX_REFERENCE_SIMILARITY = 0.9
MAX_TEACHER_SIMILARITY = 0.95
#: Fittable: the teacher's robust MSE is at most this share of the best baseline's.
MAX_MSE_RATIO = 0.5
#: Training seeds per activation in a robust score (their median).
ROBUST_SEEDS = 5
#: A pick "solves" a teacher when it closes at least this share of the gap.
SOLVED = 0.8
#: The weights seed of teacher i is FAMILY_SEED + 10 * i (its data use seed + 1).
FAMILY_SEED = 20261203


def weights_seed(index: int) -> int:
    """The teacher network's weights seed for family index `index` (1, 2, ...)."""
    return FAMILY_SEED + 10 * index


@dataclass(frozen=True)
class Teacher:
    """One family member: its index, the draw seed that produced its tree, and its
    standardised expression."""

    index: int
    draw_seed: int
    expr: str

    @property
    def name(self) -> str:
        return family_name(self.index)

    @property
    def seed(self) -> int:
        return weights_seed(self.index)

    def task(self) -> Task:
        return make_teacher_task(
            self.expr,
            self.seed,
            name=self.name,
            description=f"known answer: 10-32-1 teacher {self.index} (drawn from the default space), {self.expr}",
        )


def family_name(index: int) -> str:
    return f"teacher-{index:02d}"


#: The pinned family, as benchmarks/teachers.py draws it (do not edit by hand: a test
#: re-draws it).
TEACHERS: tuple[Teacher, ...] = (
    Teacher(1, 10, "-0.304529 + 0.381705*relu(cube(x))"),
    Teacher(2, 33, "-0.258199*cube(-min(x, x))"),
    Teacher(3, 41, "-0.148741 + 0.00991607*cube(square(x))"),
    Teacher(4, 98, "-5.28795 + 3.03103*max(exp(sigmoid(x)), relu(-x))"),
    Teacher(5, 228, "-0.243337*cube(abs(x - 0.34)) + 0.456268"),
    Teacher(6, 233, "-0.292434 + 6.08952*cube(relu(log(x)))"),
    Teacher(7, 371, "-2.27597 + 4.7358*tanh(tanh(abs(x)))"),
    Teacher(8, 471, "-(cube(x)*exp(x))*(-0.0165665) + (-0.109254)"),
    Teacher(9, 538, "-0.000435967 + 4.68325e-10*exp(x*x)"),
    Teacher(10, 848, "-1.6423*(-x*log(x))"),
    Teacher(11, 892, "-0.242536 + 0.242536*(cube(x) + x*x)"),
    Teacher(12, 902, "-3.09836 + 2.57624*(abs(min(-0.8, x)) + tanh(relu(x)))"),
)

FAMILY: dict[str, Teacher] = {t.name: t for t in TEACHERS}


def make_family_task(name: str) -> Task:
    return FAMILY[name].task()


def shape_rejection(expr: str, earlier: Iterable[str] = ()) -> str | None:
    """Why `expr` is too close in shape to a reference or to an `earlier` teacher, or None."""
    for reference in SHAPE_REFERENCES:
        similarity = shape_similarity(expr, reference)
        if similarity > MAX_REFERENCE_SIMILARITY:
            return f"shape similarity {similarity:.3f} with {reference}"
    for other in earlier:
        similarity = shape_similarity(expr, other)
        if similarity > MAX_TEACHER_SIMILARITY:
            return f"shape similarity {similarity:.3f} with earlier teacher {other}"
    return None


def max_reference_similarity(expr: str) -> tuple[float, str]:
    """The largest shape similarity of `expr` with a SHAPE_REFERENCES entry, and that entry."""
    return max((shape_similarity(expr, r), r) for r in SHAPE_REFERENCES)


def robust_mse(mses: Sequence[float | None]) -> float:
    """The robust score of one activation on one task: the median of its MSEs over seeds,
    a failed training (None, or not finite) counting as an infinite MSE."""
    if not mses:
        raise ValueError("no MSEs to score")
    return statistics.median(m if m is not None and math.isfinite(m) else math.inf for m in mses)


def gap_closed(pick: float, best_baseline: float, teacher: float) -> float:
    """The share of the gap between the best baseline's MSE and the teacher's own that a
    pick's MSE closes: 1 at the teacher's score, 0 at the best baseline's, negative when
    worse than the best baseline, above 1 when better than the teacher (noise).
    Raises ValueError unless the teacher beats the best baseline (no gap to close)."""
    gap = best_baseline - teacher
    if not gap > 0:
        raise ValueError(f"no gap: teacher MSE {teacher} is not below the best baseline's {best_baseline}")
    return (best_baseline - pick) / gap
