"""The trainer: given a task, an activation and a seed, return an EvalResult.

TensorFlow is imported on first use of a name from this package (not by
``import actsearch.train``), so the search driver can import it cheaply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["train", "train_seeds", "prepare_data", "ResidentData", "resolve_activation"]

if TYPE_CHECKING:  # pragma: no cover
    from .resolve import resolve_activation
    from .trainer import ResidentData, prepare_data, train, train_seeds


def __getattr__(name: str) -> Any:
    if name == "resolve_activation":
        from .resolve import resolve_activation

        return resolve_activation
    if name in ("train", "train_seeds", "prepare_data", "ResidentData"):
        from . import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'actsearch.train' has no attribute {name!r}")
