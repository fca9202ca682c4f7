"""Random expression trees (for property tests and quick experiments)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from .ast import Call, Const, Node, Var
from .primitives import REGISTRY


def random_tree(
    rng: random.Random,
    names: Sequence[str] | None = None,
    max_depth: int = 4,
    const_prob: float = 0.2,
    const_range: tuple[float, float] = (-2.0, 2.0),
) -> Node:
    """A random tree over `names` (default: the whole registry) of height <= max_depth."""
    names = list(names or sorted(REGISTRY))

    def grow(level: int) -> Node:
        if level >= max_depth or rng.random() < 0.3 * level / max_depth:
            if rng.random() < const_prob:
                return Const(round(rng.uniform(*const_range), 2))
            return Var()
        name = rng.choice(names)
        return Call(name, tuple(grow(level + 1) for _ in range(REGISTRY[name].arity)))

    return grow(1)


def random_tree_of_leaves(
    rng: random.Random,
    max_leaves: int = 10,
    names: Sequence[str] | None = None,
    const_prob: float = 0.3,
    const_range: tuple[float, float] = (-3.0, 3.0),
    max_depth: int = 16,
) -> Node:
    """A random tree with 1..max_leaves leaves (uniform) over `names` (default: the whole
    registry); constants are uniform in `const_range`, rounded to 2 decimals."""
    names = sorted(names or REGISTRY)
    unary = [n for n in names if REGISTRY[n].arity == 1]
    binary = [n for n in names if REGISTRY[n].arity == 2]

    def leaf() -> Node:
        return Const(round(rng.uniform(*const_range), 2)) if rng.random() < const_prob else Var()

    def grow(leaves: int, level: int) -> Node:
        if unary and level < max_depth and rng.random() < (0.4 if leaves == 1 else 0.25):
            return Call(rng.choice(unary), (grow(leaves, level + 1),))
        if leaves == 1 or not binary:
            return leaf()
        left = rng.randint(1, leaves - 1)
        return Call(rng.choice(binary), (grow(left, level + 1), grow(leaves - left, level + 1)))

    return grow(rng.randint(1, max_leaves), 1)
