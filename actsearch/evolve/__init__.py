"""Evolution: DEAP trees from a search space, variation operators and strategies.

The public names load lazily (DEAP and the expression language take most of a
second), so that `actsearch.evolve.StrategyName` is cheap for the command line.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from actsearch.evolve.names import StrategyName

if TYPE_CHECKING:
    from actsearch.evolve.dedupe import FingerprintCache
    from actsearch.evolve.strategies import STRATEGIES, Member, Proposal, Strategy, make_strategy
    from actsearch.evolve.trees import TreeFactory

_LAZY = {
    "FingerprintCache": "actsearch.evolve.dedupe",
    "STRATEGIES": "actsearch.evolve.strategies",
    "Member": "actsearch.evolve.strategies",
    "Proposal": "actsearch.evolve.strategies",
    "Strategy": "actsearch.evolve.strategies",
    "make_strategy": "actsearch.evolve.strategies",
    "TreeFactory": "actsearch.evolve.trees",
}

__all__ = [
    "STRATEGIES",
    "FingerprintCache",
    "Member",
    "Proposal",
    "Strategy",
    "StrategyName",
    "TreeFactory",
    "make_strategy",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'actsearch.evolve' has no attribute {name!r}")
