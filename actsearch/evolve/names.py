"""The strategy names a search space or `--strategy` may choose (no DEAP import here,
so that the command line can list them and stay fast)."""

from __future__ import annotations

from enum import StrEnum


class StrategyName(StrEnum):
    """How proposals are chosen (see actsearch.evolve.strategies)."""

    GENERATIONAL = "generational"
    REGULARIZED = "regularized"
    RANDOM = "random"
