"""Standalone TensorFlow source for an activation (used by the exporter).

`tf_source(act)` returns the helper definitions (numeric constants and the
`tf_ops` functions the expression needs, copied from its source text) and
the expression code, so an exporter can write::

    import tensorflow as tf
    <helpers>
    def activation(x):
        return <expression code>
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from .activation import Activation
from .ast import Call, Node, walk
from .lower import parameter_slots
from .primitives import REGISTRY
from .printer import format_number, to_infix

_TF_OPERATORS = frozenset({"add", "sub", "mul", "neg"})


def _number(value: float) -> str:
    text = format_number(value)
    return text if any(c in text for c in ".e") else text + ".0"


@functools.cache
def _tf_ops_source() -> tuple[dict[str, float], dict[str, tuple[str, frozenset[str]]]]:
    """The constants and functions of `tf_ops`, read from its source text
    (not imported, so exporting does not load TensorFlow): name -> value, and
    name -> (source, names it refers to)."""
    text = Path(__file__).with_name("tf_ops.py").read_text()
    constants: dict[str, float] = {}
    functions: dict[str, tuple[str, frozenset[str]]] = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            if isinstance(node.value.value, float):
                constants.update({t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)})
        elif isinstance(node, ast.FunctionDef):
            names = frozenset(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
            functions[node.name] = (ast.get_source_segment(text, node) or "", names)
    return constants, functions


def _helpers(names: set[str]) -> list[str]:
    """Constant lines first, then function sources, including what they call."""
    all_constants, all_functions = _tf_ops_source()
    constants: dict[str, float] = {}
    functions: dict[str, str] = {}
    pending = sorted(names)
    while pending:
        name = pending.pop()
        if name in functions:
            continue
        source, refs = all_functions[name]
        functions[name] = source + "\n"
        for ref in refs:
            if ref in all_constants:
                constants[ref] = all_constants[ref]
            elif ref in all_functions and ref not in functions:
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

        def number(value: float) -> str:  # constants in print (= tree) order
            return next(names) if next(free) else _number(value)

    code = to_infix(tree, call_name=lambda name: REGISTRY[name].tf_name, number=number, operators=_TF_OPERATORS)
    if not act.depends_on_x:
        code = f"({code}) + tf.zeros_like(x)"
    return _helpers(_used_ops(tree)), code
