"""Search strategies: which tree to propose next, given the fitness told so far.

Every strategy speaks the same asynchronous ask/tell protocol so the search
loop can keep every worker busy: `ask()` returns a `Proposal` or None when
nothing can be proposed until more results are told; `tell()` reports the
fitness of a proposal (None when screening rejected it or training failed).
A strategy proposes for as long as it is asked: the search loop owns the
budget (a number of trainings; duplicates and rejections cost none) and stops
asking when it is spent. `population` is the shape of a generation.

- `generational`: DEAP-style generations with tournament selection,
  elitism, crossover and mutation; a generation is bred once the previous
  one is fully told, in proposal order, so the same seed proposes the same
  candidates whatever order the workers finish in.
- `regularized`: aging evolution (Real et al.): tournament from the living
  population, mutate the winner, the oldest member dies. Steady-state:
  a new child is bred as soon as any result arrives. The population holds
  distinct functions: a functional duplicate takes no place in it, or copies
  of one lucky family (constant variants that standardise to one function)
  would crowd out everything else.
- `random`: random trees only, the baseline for the strategies above.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field

from actsearch.evolve.names import StrategyName
from actsearch.evolve.trees import Individual, TreeFactory
from actsearch.spaces import Evolution

WORST = -math.inf


@dataclass
class Proposal:
    """One tree the strategy wants evaluated; `index` numbers proposals in a run."""

    index: int
    individual: Individual
    generation: int
    origin: str
    parents: tuple[int, ...] = ()  # candidate ids


@dataclass
class Member:
    """A told proposal: the strategy's memory of a candidate and its fitness."""

    proposal: Proposal
    candidate_id: int
    fitness: float = field(default=WORST)
    duplicate: bool = False  # a function already trained in this run: it took the original's fitness


class Strategy(ABC):
    def __init__(self, factory: TreeFactory, evolution: Evolution) -> None:
        self.factory = factory
        self.evolution = evolution
        self.proposed = 0
        self.told = 0

    @abstractmethod
    def ask(self) -> Proposal | None: ...

    def tell(self, proposal: Proposal, candidate_id: int, fitness: float | None, duplicate: bool = False) -> None:
        self.told += 1
        value = WORST if fitness is None or math.isnan(fitness) else fitness
        self._on_told(Member(proposal, candidate_id, value, duplicate))

    @abstractmethod
    def _on_told(self, member: Member) -> None: ...

    def _propose(
        self, individual: Individual, generation: int, origin: str, parents: tuple[Member, ...] = ()
    ) -> Proposal:
        proposal = Proposal(self.proposed, individual, generation, origin, tuple(p.candidate_id for p in parents))
        self.proposed += 1
        return proposal

    def _random(self, generation: int) -> Proposal:
        return self._propose(self.factory.random_tree(), generation, "init")

    def _tournament(self, pool: list[Member]) -> Member:
        size = min(self.evolution.tournament_size, len(pool))
        contenders = self.factory.rng.sample(pool, size)
        return max(contenders, key=_rank)

    def _offspring(self, pool: list[Member], generation: int) -> Proposal:
        """Crossover and/or mutation of tournament winners; always varies the parent."""
        rng = self.factory.rng
        first = self._tournament(pool)
        parents: tuple[Member, ...] = (first,)
        child, origin = first.proposal.individual, ""
        if rng.random() < self.evolution.crossover_prob and len(pool) > 1:
            second = self._tournament(pool)
            child, _ = self.factory.crossover(child, second.proposal.individual)
            parents, origin = (first, second), "crossover"
        if not origin or rng.random() < self.evolution.mutation_prob:
            child, name = self.factory.mutate(child)
            origin = f"{origin}+mutation:{name}" if origin else f"mutation:{name}"
        return self._propose(child, generation, origin, parents)


def _rank(member: Member) -> tuple[float, int, int]:
    """Higher fitness wins; on a tie the smaller tree (parsimony against bloat), then the older."""
    return (member.fitness, -len(member.proposal.individual), -member.proposal.index)


class Generational(Strategy):
    def __init__(self, factory: TreeFactory, evolution: Evolution) -> None:
        super().__init__(factory, evolution)
        self.generation = 0
        self.queue: deque[Proposal] = deque(self._random(0) for _ in range(evolution.population))
        self.expected = evolution.population
        self.current: list[Member] = []
        self.elites: list[Member] = []

    def ask(self) -> Proposal | None:
        return self.queue.popleft() if self.queue else None

    def _on_told(self, member: Member) -> None:
        self.current.append(member)
        if len(self.current) == self.expected:
            self._breed()

    def _breed(self) -> None:
        pool = sorted(self.current + self.elites, key=lambda m: m.proposal.index)
        ranked = sorted(pool, key=_rank, reverse=True)
        self.elites = [m for m in ranked[: self.evolution.elite] if m.fitness > WORST]
        self.generation += 1
        self.current = []
        # Elites survive without retraining; offspring fill the rest of the budget
        # so that each generation proposes exactly `population` trees.
        self.expected = self.evolution.population
        self.queue.extend(self._offspring(pool, self.generation) for _ in range(self.expected))


class Regularized(Strategy):
    def __init__(self, factory: TreeFactory, evolution: Evolution) -> None:
        super().__init__(factory, evolution)
        self.population: deque[Member] = deque()

    def ask(self) -> Proposal | None:
        generation = self.proposed // self.evolution.population
        ready = len(self.population) >= min(self.evolution.tournament_size, self.evolution.population)
        if self.proposed < self.evolution.population or not ready:
            # Fill the population first; keep filling if screening rejected the first trees.
            if self.proposed >= self.evolution.population and self.told < self.proposed:
                return None  # results are on their way; breed from them
            return self._random(generation)
        return self._offspring(list(self.population), generation)

    def _on_told(self, member: Member) -> None:
        if member.fitness == WORST or member.duplicate:
            return  # rejected, failed and already-seen functions take no place in the population
        self.population.append(member)
        if len(self.population) > self.evolution.population:
            self.population.popleft()  # the oldest dies


class RandomSearch(Strategy):
    def ask(self) -> Proposal | None:
        return self._random(self.proposed // self.evolution.population)

    def _on_told(self, member: Member) -> None:
        pass


STRATEGIES: dict[str, type[Strategy]] = {
    StrategyName.GENERATIONAL: Generational,
    StrategyName.REGULARIZED: Regularized,
    StrategyName.RANDOM: RandomSearch,
}


def make_strategy(factory: TreeFactory, evolution: Evolution) -> Strategy:
    return STRATEGIES[evolution.strategy](factory, evolution)
