"""Array namespaces that `actsearch.expr.forms` runs on, one module per framework.

`numpy_xp` (the reference, float64) and `tensorflow_xp` are what the search
evaluates with; `keras_xp`, `torch_xp` and `jax_xp` exist for the exports
(their source is copied into the exported module); `dual_xp` computes the
reference derivative. Each is imported only when asked for, so importing
`actsearch.expr` loads no framework.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from types import ModuleType

NAMESPACES = ("numpy", "tensorflow", "keras", "torch", "jax", "dual")


def namespace(name: str) -> ModuleType:
    """The namespace module for `name` (imports that framework)."""
    if name not in NAMESPACES:
        raise KeyError(f"unknown namespace {name!r}; known: {', '.join(NAMESPACES)}")
    return import_module(f"{__name__}.{name}_xp")


def source_path(name: str) -> Path:
    """The namespace module's file (read as text by the exporter: no framework import)."""
    if name not in NAMESPACES:
        raise KeyError(f"unknown namespace {name!r}; known: {', '.join(NAMESPACES)}")
    return Path(__file__).with_name(f"{name}_xp.py")
