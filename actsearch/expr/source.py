"""Standalone TensorFlow source for an activation (used by the exporter).

`tf_source(act)` returns the helper definitions (numeric constants and the
`tf_ops` functions the expression needs, copied with `inspect.getsource`) and
the expression code, so an exporter can write::

    import tensorflow as tf
    <helpers>
    def activation(x):
        return <expression code>
"""

from __future__ import annotations

import inspect
from typing import Any

from .activation import Activation
from .ast import Call, Node, walk
from .lower import parameter_slots
from .primitives import REGISTRY
from .printer import format_number, to_infix

_TF_OPERATORS = frozenset({"add", "sub", "mul", "neg"})


def _number(value: float) -> str:
    text = format_number(value)
    return text if any(c in text for c in ".e") else text + ".0"


def _helpers(names: set[str]) -> list[str]:
    """Constant lines first, then function sources, including what they call."""
    from . import tf_ops

    constants: dict[str, Any] = {}
    functions: dict[str, str] = {}
    pending = sorted(names)
    while pending:
        name = pending.pop()
        if name in functions:
            continue
        fn = getattr(tf_ops, name)
        functions[name] = inspect.getsource(fn)
        for ref in fn.__code__.co_names:
            value = getattr(tf_ops, ref, None)
            if isinstance(value, float):
                constants[ref] = value
            elif callable(value) and inspect.isfunction(value) and value.__module__ == tf_ops.__name__:
                pending.append(ref)
    lines = [f"{name} = {value!r}\n" for name, value in sorted(constants.items())]
    header = ["".join(lines)] if lines else []
    return header + [functions[name] for name in sorted(functions)]


def _used_ops(node: Node) -> set[str]:
    used = set()
    for n in walk(node):
        if isinstance(n, Call) and n.name not in _TF_OPERATORS:
            used.add(REGISTRY[n.name].tf_name)
    return used


def tf_source(act: Activation, parametric: bool = False) -> tuple[list[str], str]:
    """(helper sources, expression code in `x`). With `parametric`, trainable constants
    (see `Activation.parameters`) are written as names c0, c1, ... in tree order."""
    tree = act.tree
    number = _number
    if parametric:
        free = iter(parameter_slots(tree))
        names = iter(f"c{i}" for i in range(len(act.parameters)))

        def number(value: float) -> str:  # noqa: F811 - constants in print (= tree) order
            return next(names) if next(free) else _number(value)

    code = to_infix(tree, call_name=lambda name: REGISTRY[name].tf_name, number=number,
                    operators=_TF_OPERATORS)
    if not act.depends_on_x:
        code = f"({code}) + tf.zeros_like(x)"
    return _helpers(_used_ops(tree)), code
