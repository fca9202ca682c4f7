"""Functional dedupe: never train two candidates with the same fingerprint in a run.

The first candidate with a fingerprint is the original; later ones are
duplicates that take its fitness (once known) and link to it. Duplicates
proposed while the original is still training wait for its result.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

W = TypeVar("W")


@dataclass
class _Entry(Generic[W]):
    candidate_id: int
    done: bool = False
    fitness: float | None = None
    waiters: list[W] = field(default_factory=list)


class FingerprintCache(Generic[W]):
    """fingerprint -> original candidate, its fitness, and duplicates waiting for it."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry[W]] = {}

    def original(self, fingerprint: Hashable) -> int | None:
        entry = self._entries.get(fingerprint)
        return entry.candidate_id if entry else None

    def add(self, fingerprint: Hashable, candidate_id: int) -> None:
        self._entries.setdefault(fingerprint, _Entry(candidate_id))

    def add_done(self, fingerprint: Hashable, candidate_id: int, fitness: float | None) -> None:
        self._entries.setdefault(fingerprint, _Entry(candidate_id, True, fitness))

    def is_done(self, fingerprint: Hashable) -> bool:
        return self._entries[fingerprint].done

    def fitness(self, fingerprint: Hashable) -> float | None:
        return self._entries[fingerprint].fitness

    def wait(self, fingerprint: Hashable, waiter: W) -> None:
        self._entries[fingerprint].waiters.append(waiter)

    def resolve(self, fingerprint: Hashable, fitness: float | None) -> list[W]:
        """Record the original's fitness; return the duplicates that waited for it."""
        entry = self._entries[fingerprint]
        entry.done, entry.fitness = True, fitness
        waiters, entry.waiters = entry.waiters, []
        return waiters
