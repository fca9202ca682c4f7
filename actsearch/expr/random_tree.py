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
