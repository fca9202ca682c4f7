"""What a search holds between two results, and the rules that keep it consistent.

The loop (`loop.py`) changes the state as proposals are asked, trained and
told; the replay (`replay.py`) rebuilds it from the store when a run resumes;
the re-check (`reevaluate.py`) adds its trainings to it. Nothing else does:
the store is the checkpoint, this is its image in memory.

The rules:
- every ask and every tell takes the next number of one sequence (`next_seq`),
  stored on the candidate row; replaying that sequence rebuilds the strategy;
- `committed` counts the trainings of every proposal queued so far (one per
  task and seed): the run asks for more while `committed < budget`; a training
  stopped at a multi-fidelity rung gives back the share of its epochs it did
  not run (`refund`), so it counts as the share it used;
- `idle` counts the proposals in a row that trained nothing (duplicates,
  rejections): after `IDLE_CAP` of them the space looks exhausted;
- a candidate is `pending` while its trainings are out, then `held` until its
  fitness can be computed (several tasks: once the baselines' reference is
  fixed), then told and forgotten; its fitness stays in the `cache`, keyed by
  fingerprint, for the duplicates that come later.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field

from actsearch.evolve import FingerprintCache, Proposal
from actsearch.execute import Trial
from actsearch.results import EvalResult

#: Consecutive proposals that train nothing (duplicates, rejections) after which a search stops.
IDLE_CAP = 200

#: One training of a candidate: (task name, seed).
Pair = tuple[str, int]


class OrderStatistic:
    """The value at index `min(n - 1, int(quantile * n))` of the n values added so far, sorted
    (what a rung's threshold is): kept in two heaps, O(log n) a value, instead of a sort of
    every reading for every candidate."""

    def __init__(self, quantile: float) -> None:
        self.quantile = quantile
        self._low: list[float] = []  # the smallest values, negated (a max-heap): its top is the answer
        self._high: list[float] = []  # the others (a min-heap)

    def __len__(self) -> int:
        return len(self._low) + len(self._high)

    def add(self, value: float) -> None:
        if self._low and value <= -self._low[0]:
            heapq.heappush(self._low, -value)
        else:
            heapq.heappush(self._high, value)
        n = len(self)
        wanted = min(n - 1, int(self.quantile * n)) + 1
        while len(self._low) > wanted:
            heapq.heappush(self._high, -heapq.heappop(self._low))
        while len(self._low) < wanted:
            heapq.heappush(self._low, -heapq.heappop(self._high))

    @property
    def value(self) -> float:
        if not self._low:
            raise ValueError("no values yet")
        return -self._low[0]


@dataclass
class PendingCandidate:
    """A candidate whose trainings are out: collects one result per (task, seed)."""

    candidate_id: int
    fingerprint: str
    expr: str
    proposal: Proposal | None  # None for baselines, which are not part of the strategy
    pairs: list[Pair]
    results: dict[Pair, EvalResult] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return len(self.results) == len(self.pairs)


@dataclass
class SearchState:
    """The counters, the work in flight and the fingerprint cache of one run."""

    budget: int  # trainings the run may spend on proposals (baselines and re-checks are extra)
    cache: FingerprintCache[tuple[Proposal, int]] = field(default_factory=FingerprintCache)
    pending: dict[int, PendingCandidate] = field(default_factory=dict)
    held: list[PendingCandidate] = field(default_factory=list)  # trained, fitness not computable yet
    backlog: deque[Trial] = field(default_factory=deque)  # trials not yet submitted to the executor
    seq: int = 0  # the last number of the ask/tell sequence
    trial_ids: int = 0
    trained: int = 0  # trainings stored by this run, re-checks included
    committed: float = 0.0
    idle: int = 0
    done: int = 0  # candidates finished: told, or stored with their final fitness
    rung_readings: dict[int, OrderStatistic] = field(default_factory=dict)  # rung epoch -> fitness read there
    stopped: int = 0  # proposals' trainings stopped at a rung
    refunded: float = 0.0  # the trainings they gave back (the epochs they did not run)
    best: tuple[str, float] | None = None  # (expr, fitness), for the progress display
    baselines_submitted: bool = False

    @property
    def asking(self) -> bool:
        """Whether to ask the strategy for more: budget left and the space not exhausted."""
        return self.committed < self.budget and self.idle < IDLE_CAP

    @property
    def exhausted(self) -> bool:
        """The run stopped asking before it spent its budget."""
        return self.committed < self.budget

    def refund(self, share: float) -> None:
        """A training stopped at a rung: it counts as the share of its epochs it ran."""
        self.stopped += 1
        self.refunded += share
        self.committed -= share

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def next_trial_id(self) -> int:
        self.trial_ids += 1
        return self.trial_ids

    def proposed(self, trains: bool) -> None:
        """Count one proposal toward the idle cap: one that trains resets it."""
        self.idle = 0 if trains else self.idle + 1

    def note_best(self, expr: str, fitness: float | None) -> None:
        """Keep the best fitness seen, for the progress display."""
        if fitness is not None and (self.best is None or fitness > self.best[1]):
            self.best = (expr, fitness)
