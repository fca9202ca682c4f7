"""Draw the teacher family (actsearch/tasks/teachers.py) and print its table.

Teachers are drawn as a search draws candidates: for draw seeds 0, 1, 2, ... in order,
``TreeFactory(load_space("default"), random.Random(seed)).random_tree()``, made an
activation in light form, screened under the default space's constraints and
standardised (the default space trains standardised candidates). A candidate is kept
when its shape is far from the references and from the teachers kept before it
(``shape_rejection``) and it is fittable: on its own task (weights seed of the next
family index), the median over training seeds 0-4 of its validation MSE is at most half
the best baseline's (all 25 trainings in one batched program).

    python benchmarks/teachers.py            # draw 12 teachers, print the table and the pinned tuple
    python benchmarks/teachers.py --check    # score the pinned family (no drawing)
    python benchmarks/teachers.py --verify   # re-draw; fail unless it gives the pinned family

Its output is in docs/teachers.md. A test re-draws the shapes (tests/test_teachers.py);
a long test re-draws with the trainings.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

#: Training seeds of the fittability check when drawing.
DRAW_TRAINING_SEEDS = (0, 1, 2, 3, 4)
#: The family's size; drawing stops here.
FAMILY_SIZE = 12


@dataclass(frozen=True)
class Candidate:
    """One drawn tree: its draw seed, its standardised expression (None if it has none) and
    why it is no teacher (None while it may be one)."""

    seed: int
    raw: str
    expr: str | None
    reason: str | None


def candidate(seed: int, space: object = None) -> Candidate:
    """The tree that draw seed `seed` gives in the default space, screened, standardised and
    checked against the reference shapes (not against other teachers)."""
    from actsearch.evolve.trees import TreeFactory
    from actsearch.expr import Activation, screen
    from actsearch.expr.normalize import standardise
    from actsearch.spaces import SearchSpace, load_space
    from actsearch.tasks.teachers import shape_rejection

    space = space if isinstance(space, SearchSpace) else load_space("default")
    factory = TreeFactory(space, random.Random(seed))
    node = factory.to_node(factory.random_tree())
    raw = factory.genotype_of(node)
    try:
        activation = Activation.from_tree(node, simplify=False)
        raw = str(activation)
        c = space.constraints
        verdict = screen(activation, increasing=c.increasing, probe=c.probe, min_nonzero_grad=c.min_nonzero_grad)
        if not verdict.ok:
            return Candidate(seed, raw, None, f"screened out: {verdict.reason}")
        standard = standardise(activation, simplify=False)
        if standard is None:
            return Candidate(seed, raw, None, "cannot be standardised")
        expr = str(standard.activation)
        return Candidate(seed, raw, expr, shape_rejection(expr))
    except Exception as error:  # an expression numpy chokes on: no teacher, as the search rejects it
        return Candidate(seed, raw, None, f"expression failed: {type(error).__name__}: {error}")


def shape_candidates(stop: int) -> Iterator[Candidate]:
    """Candidates of draw seeds 0 .. stop-1 whose shape is far from every reference."""
    from actsearch.spaces import load_space

    space = load_space("default")
    for seed in range(stop):
        found = candidate(seed, space)
        if found.reason is None:
            yield found


@dataclass(frozen=True)
class Row:
    """A kept teacher with its figures."""

    index: int
    seed: int
    expr: str
    similarity: float
    reference: str
    scores: object  # actsearch.train.teachers.TeacherScores


def draw(size: int = FAMILY_SIZE, seeds: Sequence[int] = DRAW_TRAINING_SEEDS, log: bool = True) -> list[Row]:
    """Draw the family: the first `size` candidates that pass every check, in draw-seed order."""
    from actsearch.tasks.teacher import make_teacher_task
    from actsearch.tasks.teachers import MAX_MSE_RATIO, max_reference_similarity, shape_rejection, weights_seed
    from actsearch.train.teachers import score_teacher

    rows: list[Row] = []
    for found in shape_candidates(sys.maxsize):
        assert found.expr is not None
        why = shape_rejection(found.expr, [r.expr for r in rows])
        if why is not None:
            if log:
                print(f"  seed {found.seed:4}: {why}: {found.expr}", flush=True)
            continue
        index = len(rows) + 1
        task = make_teacher_task(found.expr, weights_seed(index), name=f"candidate-{found.seed}")
        started = time.perf_counter()
        scores = score_teacher(task, found.expr, seeds)
        baseline, best = scores.best_baseline
        if log:
            print(
                f"  seed {found.seed:4}: teacher {scores.teacher:.4f}, {baseline} {best:.4f}, ratio "
                f"{scores.ratio:.3f} ({time.perf_counter() - started:.1f} s): {found.expr}",
                flush=True,
            )
        if scores.ratio <= MAX_MSE_RATIO:
            similarity, reference = max_reference_similarity(found.expr)
            rows.append(Row(index, found.seed, found.expr, similarity, reference, scores))
            if len(rows) == size:
                break
    return rows


def check(seeds: Sequence[int], split: str = "val") -> list[Row]:
    """The pinned family, scored with `seeds` on `split`."""
    from actsearch.tasks.teachers import TEACHERS, max_reference_similarity
    from actsearch.train.teachers import teacher_scores

    rows = []
    for t in TEACHERS:
        similarity, reference = max_reference_similarity(t.expr)
        rows.append(Row(t.index, t.draw_seed, t.expr, similarity, reference, teacher_scores(t.name, seeds, split)))
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| task | draw seed | teacher (standardised) | max similarity (to) | teacher MSE | best baseline MSE | ratio |",
        "| --- | ---: | --- | --- | ---: | --- | ---: |",
    ]
    for r in rows:
        s = r.scores
        baseline, best = s.best_baseline  # type: ignore[attr-defined]
        lines.append(
            f"| teacher-{r.index:02d} | {r.seed} | `{r.expr}` | {r.similarity:.3f} ({r.reference}) "
            f"| {s.teacher:.4f} | {best:.4f} ({baseline}) | {s.ratio:.3f} |"  # type: ignore[attr-defined]
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="score the pinned family instead of drawing it")
    parser.add_argument("--verify", action="store_true", help="re-draw and compare with the pinned family")
    parser.add_argument("--size", type=int, default=FAMILY_SIZE)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DRAW_TRAINING_SEEDS), help="training seeds")
    parser.add_argument("--split", choices=("val", "test"), default="val", help="the split --check scores on")
    args = parser.parse_args()

    from actsearch.execute.pairs import pin_tensorflow

    pin_tensorflow(1)  # a search worker's threads: the same float rounding as a search
    started = time.perf_counter()
    if args.verify:
        from actsearch.tasks.teachers import TEACHERS

        drawn = [(r.seed, r.expr) for r in draw(len(TEACHERS), log=False)]
        pinned = [(t.draw_seed, t.expr) for t in TEACHERS]
        if drawn != pinned:
            sys.exit(f"the draw differs from the pinned family:\n drawn  {drawn}\n pinned {pinned}")
        print(f"{len(TEACHERS)} teachers re-drawn as pinned ({time.perf_counter() - started:.0f} s)")
        return
    if args.check:
        rows = check(args.seeds, args.split)
    else:
        print("drawing (candidates whose shape passes):")
        rows = draw(args.size, args.seeds)
    print()
    split = "test" if args.check and args.split == "test" else "validation"
    print(f"training seeds {args.seeds}; MSEs are medians over them, on the {split} split")
    print(table(rows))
    if not args.check:
        print("\nTEACHERS = (")
        for r in rows:
            print(f'    Teacher({r.index}, {r.seed}, "{r.expr}"),')
        print(")")
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
