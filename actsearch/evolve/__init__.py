"""Evolution: DEAP trees from a search space, variation operators and strategies."""

from actsearch.evolve.dedupe import FingerprintCache
from actsearch.evolve.strategies import STRATEGIES, Member, Proposal, Strategy, make_strategy
from actsearch.evolve.trees import TreeFactory

__all__ = [
    "STRATEGIES",
    "FingerprintCache",
    "Member",
    "Proposal",
    "Strategy",
    "TreeFactory",
    "make_strategy",
]
