"""The trainer: given a task, an activation and a seed, return an EvalResult.

TensorFlow is imported on first use of a name from this package (not by
``import actsearch.train``), so the search driver can import it cheaply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "Diagnostics",
    "ResidentData",
    "prepare_data",
    "resolve_activation",
    "train",
    "train_seeds",
    "train_with_diagnostics",
]

if TYPE_CHECKING:  # pragma: no cover
    from .diagnostics import Diagnostics
    from .recipe import ResidentData, prepare_data
    from .resolve import resolve_activation
    from .trainer import train, train_seeds, train_with_diagnostics


def __getattr__(name: str) -> Any:
    if name == "resolve_activation":
        from .resolve import resolve_activation

        return resolve_activation
    if name == "Diagnostics":
        from .diagnostics import Diagnostics

        return Diagnostics
    if name in ("prepare_data", "ResidentData"):
        from . import recipe

        return getattr(recipe, name)
    if name in ("train", "train_seeds", "train_with_diagnostics"):
        from . import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'actsearch.train' has no attribute {name!r}")
