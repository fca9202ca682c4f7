"""Immutable expression trees: the one representation every lowering starts from.

Nodes are frozen dataclasses, so trees are hashable (canonical forms are cached
on them) and safe to share between threads and processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Var:
    """The activation's input, written `x`."""


@dataclass(frozen=True, slots=True)
class Const:
    """A numeric constant leaf (constants are numbers in the tree, not primitives)."""

    value: float


@dataclass(frozen=True, slots=True)
class Call:
    """An application of the registry primitive `name` to `args`."""

    name: str
    args: tuple[Node, ...]


Node = Var | Const | Call

X = Var()


def walk(node: Node) -> Iterator[Node]:
    """Nodes in prefix (tree) order, iteratively so deep trees cannot overflow the stack."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, Call):
            stack.extend(reversed(current.args))


def node_count(node: Node) -> int:
    """Number of nodes: the complexity measure."""
    return sum(1 for _ in walk(node))


def depth(node: Node) -> int:
    """Height of the tree (a leaf has depth 1), computed iteratively."""
    best = 0
    stack = [(node, 1)]
    while stack:
        current, level = stack.pop()
        best = max(best, level)
        if isinstance(current, Call):
            stack.extend((arg, level + 1) for arg in current.args)
    return best


def constants(node: Node) -> tuple[float, ...]:
    """Constant values in tree (prefix) order."""
    return tuple(n.value for n in walk(node) if isinstance(n, Const))


def replace_constants(node: Node, values: dict[int, float]) -> Node:
    """The tree with the constants at the given positions (in tree order) replaced."""
    position = 0

    def rebuild(n: Node) -> Node:
        nonlocal position
        if isinstance(n, Const):
            position += 1
            return Const(float(values[position - 1])) if position - 1 in values else n
        if isinstance(n, Call):
            return Call(n.name, tuple(rebuild(arg) for arg in n.args))
        return n

    return rebuild(node)


def primitives(node: Node) -> frozenset[str]:
    """Names of the primitives a tree calls."""
    return frozenset(n.name for n in walk(node) if isinstance(n, Call))


def has_var(node: Node) -> bool:
    """Whether the tree depends on `x` at all."""
    return any(isinstance(n, Var) for n in walk(node))
