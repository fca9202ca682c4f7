"""Fuzz the bound on canonicalisation: random trees (1..10 leaves, the whole primitive
registry, constants in [-3, 3]) are canonicalised one by one and timed.

    python benchmarks/fuzz_canonical.py --trees 100000            # a fresh random seed
    python benchmarks/fuzz_canonical.py --trees 20000 --seed 20240909   # the fuzz test's trees

Prints the number of trees, the slowest time, and how often the algebra fell back
to the cheap form (sympy interrupted, helper killed, or sympy failed).
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass

from actsearch.expr import bounded
from actsearch.expr.canonical import canonical
from actsearch.expr.printer import to_infix
from actsearch.expr.random_tree import random_tree_of_leaves


@dataclass
class FuzzResult:
    trees: int
    seconds: float
    slowest: float
    slowest_tree: str
    over: list[tuple[float, str]]  # (seconds, tree) of trees over the limit
    fallbacks: dict[str, int]


def fuzz(seed: int, trees: int, limit: float = 2.0, progress: int = 0) -> FuzzResult:
    """Canonicalise `trees` random trees from `seed`; collect the slow ones."""
    rng = random.Random(seed)
    before = dict(bounded.counts)
    canonical(random_tree_of_leaves(random.Random(-1)))  # start the helpers outside the timing
    slowest, slowest_tree, over = 0.0, "", []
    start = time.perf_counter()
    for i in range(trees):
        tree = random_tree_of_leaves(rng, max_leaves=10, const_range=(-3.0, 3.0))
        t0 = time.perf_counter()
        canonical(tree)
        took = time.perf_counter() - t0
        if took > slowest:
            slowest, slowest_tree = took, to_infix(tree)
        if took > limit:
            over.append((took, to_infix(tree)))
        if progress and (i + 1) % progress == 0:
            print(
                f"{i + 1} trees, {time.perf_counter() - start:.0f} s, slowest {slowest:.3f} s, "
                f"fallbacks {dict(bounded.counts)}",
                flush=True,
            )
    fallbacks = {k: v - before.get(k, 0) for k, v in bounded.counts.items()}
    return FuzzResult(trees, time.perf_counter() - start, slowest, slowest_tree, over, fallbacks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trees", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=None, help="default: a fresh random seed")
    parser.add_argument("--limit", type=float, default=2.0, help="seconds a tree may take")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    print(
        f"seed {seed}, {args.trees} trees, limit {args.limit:g} s, "
        f"algebra deadline {bounded.ALGEBRA_SECONDS:g} s CPU / {bounded.WALL_SECONDS:g} s wall",
        flush=True,
    )
    result = fuzz(seed, args.trees, args.limit, progress=max(1, args.trees // 20))
    print(f"trees {result.trees}  wall {result.seconds:.0f} s  slowest {result.slowest:.3f} s ({result.slowest_tree})")
    print(f"fell back: {sum(result.fallbacks.values())} {result.fallbacks}")
    print(f"over {args.limit:g} s: {len(result.over)}")
    for took, text in result.over[:20]:
        print(f"  {took:.3f} s  {text}")


if __name__ == "__main__":
    main()
