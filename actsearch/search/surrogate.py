"""The surrogate: predicts a proposal's fitness without training it.

Proposals are cheap and trainings are the budget, so the search can look at
many proposals for each one it trains. Following AQuaSurF (Bingham &
Miikkulainen 2023), an activation is described by its shape as a network sees
it: its outputs on fixed N(0, 1) inputs, standardised (mean 0, spread 1, the
canonical sign of `actsearch.expr.normalize`), since the neighbouring layers
absorb output scale, shift and sign. The inputs are the N(0, 1) quantiles at
evenly spaced probabilities, so the Euclidean distance between two feature
vectors is (up to a factor) the L2 distance of the two standardised functions
under N(0, 1) inputs.

The model is a k-nearest-neighbour regressor over every training told so far
(the baselines' included): a proposal's prediction is the mean fitness of the
k trained functions closest in shape. A failed training counts as the worst
fitness seen, so shapes near failures rank low. It is exact, needs no fitting
and is cheap: one matrix-vector product per proposal.

`Pool` collects a round of screened, new proposals with their predictions and
picks the one to train: the best predicted, or with probability `exploration`
a random member, drawn from a generator seeded by the run's seed and the pool's
first candidate, so a resumed run picks as the uninterrupted one did.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Generic, TypeVar

import numpy as np

from actsearch.expr import Activation
from actsearch.expr.normalize import Moments, moments

#: inputs the features are read at: N(0, 1) quantiles at probabilities (i + 1/2) / POINTS
POINTS = 128
#: standardised outputs are clipped here, so one exploding function does not swamp a distance
CLIP = 10.0

_INPUTS = np.array([NormalDist().inv_cdf((i + 0.5) / POINTS) for i in range(POINTS)])


def features(activation: Activation, found: Moments | None = None) -> np.ndarray | None:
    """The activation's standardised outputs on the fixed inputs (float32); None when it
    cannot be standardised (no finite, non-zero spread under N(0, 1) inputs)."""
    found = found or moments(activation)
    if found is None:
        return None
    with np.errstate(all="ignore"):
        values = found.sign * (activation.numpy(_INPUTS) - found.mean) / found.std
    if not np.all(np.isfinite(values)):
        return None
    return np.clip(values, -CLIP, CLIP).astype(np.float32)


class Surrogate:
    """k-nearest-neighbour regression of fitness on features, learned from every training told.

    The observations live in arrays that double when full, so an observation costs O(1)
    amortised and a prediction one pass over them."""

    def __init__(self, neighbours: int = 3, warmup: int = 8) -> None:
        self.neighbours = neighbours
        self.warmup = warmup
        self._size = 0
        self._rows = np.zeros((64, POINTS), np.float32)
        self._fitness = np.zeros(64)  # nan: a failed training
        self._worst = math.inf  # the lowest fitness observed

    def __len__(self) -> int:
        return self._size

    @property
    def ready(self) -> bool:
        """Whether it has seen enough trainings to rank proposals."""
        return self._size >= self.warmup

    def observe(self, row: np.ndarray | None, fitness: float | None) -> None:
        """Learn one trained function's fitness (None or nan: its training failed)."""
        if row is None:
            return
        if self._size == len(self._rows):
            self._rows = np.concatenate([self._rows, np.zeros_like(self._rows)])
            self._fitness = np.concatenate([self._fitness, np.zeros_like(self._fitness)])
        value = math.nan if fitness is None else float(fitness)
        self._rows[self._size], self._fitness[self._size] = row, value
        self._size += 1
        if math.isfinite(value):
            self._worst = min(self._worst, value)

    def predict(self, row: np.ndarray | None) -> float | None:
        """The mean fitness of the `neighbours` closest trained functions (a failed training
        counts as the worst fitness seen); None before `warmup` trainings, without features
        or before any training succeeded."""
        if row is None or not self.ready or not math.isfinite(self._worst):
            return None
        rows, fitness = self._rows[: self._size], self._fitness[: self._size]
        difference = rows - row
        distances = np.einsum("ij,ij->i", difference, difference)
        k = min(self.neighbours, self._size)
        nearest = fitness[np.argpartition(distances, k - 1)[:k]]
        return float(np.where(np.isnan(nearest), self._worst, nearest).mean())


M = TypeVar("M")


@dataclass
class Pool(Generic[M]):
    """Proposals scored by the surrogate, waiting until `size` of them are in to be judged."""

    size: int
    exploration: float
    members: list[M] = field(default_factory=list)
    predictions: list[float | None] = field(default_factory=list)
    fingerprints: dict[str, int] = field(default_factory=dict)  # fingerprint -> the member's candidate id

    @property
    def full(self) -> bool:
        return len(self.members) >= self.size

    def add(self, member: M, fingerprint: str, candidate_id: int, prediction: float | None) -> None:
        self.members.append(member)
        self.predictions.append(prediction)
        self.fingerprints[fingerprint] = candidate_id

    def choose(self, seed: int, first_id: int) -> int:
        """The index of the member to train: the best prediction (the first on a tie), or a
        random member with probability `exploration`."""
        rng = random.Random(f"{seed}/pool/{first_id}")
        if rng.random() < self.exploration:
            return rng.randrange(len(self.members))
        return best_index(self.predictions)

    def clear(self) -> None:
        self.members.clear()
        self.predictions.clear()
        self.fingerprints.clear()


def best_index(predictions: Sequence[float | None]) -> int:
    """The index of the highest prediction (None ranks last; ties: the first)."""
    return max(range(len(predictions)), key=lambda i: (predictions[i] is not None, predictions[i] or 0.0, -i))
