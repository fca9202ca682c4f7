"""Grouping queued trials into batches: one batch = trials a worker can train
in one compiled program (same task, epochs, rung epochs and parametric flag).

The default batch size depends on the device: a CPU core is saturated by a
few members, a GPU needs many to be busy (each member adds its weights,
optimizer moments and activations of one minibatch to the GPU's memory).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable

from actsearch.execute.trial import Trial

#: Candidates per batch by default (times the seeds per candidate = members).
#: One on CPU: there batching distinct candidates saved about 8% CPU and no wall time in
#: the default search (docs/performance.md, Batched training), while a member's result
#: differs from its training alone by float rounding, so which candidates share a batch
#: (which depends on timing) would decide the search's path: with 1, the same seed gives
#: the same search.
DEFAULT_BATCH_CANDIDATES_CPU = 1
DEFAULT_BATCH_CANDIDATES_GPU = 32


def default_batch_candidates(use_gpu: bool) -> int:
    return DEFAULT_BATCH_CANDIDATES_GPU if use_gpu else DEFAULT_BATCH_CANDIDATES_CPU


def batch_key(trial: Trial) -> Hashable:
    """Trials with equal keys can share one program (rung thresholds may differ)."""
    return (trial.task, trial.epochs, tuple(epoch for epoch, _ in trial.rungs), trial.parametric)


def take_batch(queue: deque[Trial], limit: int) -> list[Trial]:
    """Remove and return up to ``limit`` queued trials sharing the first one's key
    (the oldest trial always goes first, so no trial waits forever)."""
    if not queue:
        return []
    key = batch_key(queue[0])
    batch: list[Trial] = []
    rest: deque[Trial] = deque()
    while queue:
        trial = queue.popleft()
        if len(batch) < limit and batch_key(trial) == key:
            batch.append(trial)
        else:
            rest.append(trial)
    queue.extend(rest)
    return batch


def fair_share(queued: int, workers: int, limit: int) -> int:
    """Members per batch when ``queued`` trials are spread evenly over all
    ``workers``, idle or busy (a busy one takes its share when it finishes):
    the end of a generation then leaves no worker idle while another trains
    a second full batch. At most ``limit``."""
    if workers <= 0:
        return 0
    return max(1, min(limit, math.ceil(queued / workers)))


def members_per_batch(
    batch_candidates: int | None, seeds_per_candidate: int, *, use_gpu: bool, local: bool = False
) -> int:
    """Trainings per batch: K candidates x their seeds. K is the space's or the
    command line's ``batch_candidates``; unset, the device default (the local
    executor stays one at a time unless asked)."""
    if batch_candidates is None:
        batch_candidates = 1 if local else default_batch_candidates(use_gpu)
    return max(1, int(batch_candidates)) * max(1, int(seeds_per_candidate))
