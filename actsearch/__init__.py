"""actsearch: discover neural-network activation functions by evolution.

    >>> import actsearch
    >>> act = actsearch.Activation.parse("x * sigmoid(1.5*x)")

The public names load lazily, so that `actsearch top` starts in a blink.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_PUBLIC = {
    "Activation": "actsearch.expr",
    "ParseError": "actsearch.expr",
    "screen": "actsearch.expr",
    "Task": "actsearch.tasks",
    "TaskData": "actsearch.tasks",
    "TrainingSetup": "actsearch.tasks",
    "TaskError": "actsearch.tasks",
    "get_task": "actsearch.tasks",
    "load_space": "actsearch.spaces",
    "SpaceError": "actsearch.spaces",
    "Store": "actsearch.store",
}

__all__ = sorted(_PUBLIC)


def _version() -> str:
    """The installed version: written once, in pyproject.toml."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("actsearch")
    except PackageNotFoundError:  # a source tree on sys.path that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return _version()
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'actsearch' has no attribute {name!r}")
