"""Training (activation, seed) pairs in this process, as `actsearch evaluate` does:
one training alone, or batches of members in one compiled program.

TensorFlow can be pinned to a search worker's threads first, so that the kernels,
and so the float rounding, are the worker's and a stored number can be reproduced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from actsearch.expr import Activation
    from actsearch.results import EvalResult
    from actsearch.tasks import Task

#: One training: an activation and the seed it trains with.
Pair = tuple["Activation", int]


def pin_tensorflow(threads: int) -> None:
    """TensorFlow's threads as a search worker sets them (call before TensorFlow starts)."""
    import tensorflow as tf

    from actsearch.execute.worker import configure_tensorflow

    configure_tensorflow(threads, use_gpu=bool(tf.config.list_physical_devices("GPU")))


def train_pairs(
    task: Task,
    pairs: Sequence[Pair],
    *,
    epochs: int | None,
    parametric: bool,
    batch_candidates: int | None,
    seeds: int,
) -> list[EvalResult]:
    """One training, or batches of up to `batch_candidates` activations x their `seeds`
    (the device's default when None); results in the order of `pairs`."""
    if len(pairs) == 1:
        from actsearch.train import train

        ((activation, seed),) = pairs
        return [train(task, activation, seed=seed, epochs=epochs, parametric=parametric)]
    import tensorflow as tf

    from actsearch.execute.batching import members_per_batch
    from actsearch.train.batch import train_batch

    size = members_per_batch(batch_candidates, seeds, use_gpu=bool(tf.config.list_physical_devices("GPU")))
    results: list[EvalResult] = []
    for lo in range(0, len(pairs), size):
        results += train_batch(task, list(pairs[lo : lo + size]), epochs=epochs, parametric=parametric)
    return results
