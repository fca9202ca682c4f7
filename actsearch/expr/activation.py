"""`Activation`: a parsed, canonicalised expression of one variable `x`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cached_property
from typing import Any

import numpy as np
import sympy

from . import ast
from .ast import Call, Const, Node, Var
from .canonical import canonical, latex, light, to_sympy
from .fingerprint import PROBE_POINTS, fingerprint_of
from .limits import MAX_CONST
from .lower import eval_numpy, parameter_slots, tf_lowering
from .parser import ParseError, check_tree_size, parse_tree
from .primitives import REGISTRY
from .printer import to_infix, to_prefix


def _validate(node: Any) -> Node:
    """Check a tree built outside the parser (e.g. from DEAP) before trusting it."""
    for n in ast.walk(node):
        if isinstance(n, Var):
            continue
        if isinstance(n, Const):
            value = float(n.value)
            if not np.isfinite(value) or abs(value) > MAX_CONST:
                raise ParseError(f"constant {value!r} is not finite or too large (|value| > {MAX_CONST:g})")
        elif isinstance(n, Call):
            if not isinstance(n.args, tuple):
                raise ParseError(f"arguments of {n.name!r} must be a tuple of nodes")
            if n.name not in REGISTRY:
                raise ParseError(f"unknown primitive {n.name!r}")
            if len(n.args) != REGISTRY[n.name].arity:
                raise ParseError(f"{n.name!r} takes {REGISTRY[n.name].arity} argument(s), got {len(n.args)}")
        else:
            raise ParseError(f"not an expression node: {type(n).__name__}")
    return check_tree_size(node)


class Activation:
    """An activation function; immutable, hashable, equal when canonical strings are equal.

    Build one with `Activation.parse(text)` or `Activation.from_tree(node)`.
    `tree` is the canonical tree and everything (str, numpy, TF, fingerprint)
    is computed from it, so the string *is* the function that gets evaluated.
    """

    def __init__(self, tree: Node, *, original: Node | None = None, exact: bool = False):
        self._tree = tree
        self._text = to_infix(tree)
        self._original = original if original is not None else tree
        self._exact = exact

    # -- construction ---------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> Activation:
        """Parse infix or prefix-call text; raises `ParseError` on anything malformed."""
        return cls.from_tree(parse_tree(text))

    @classmethod
    def from_tree(cls, node: Node, *, simplify: bool = True) -> Activation:
        """Canonicalise a tree (from the parser, DEAP, ...); raises `ParseError` if invalid.

        `simplify=False` stops at the light normalisation (constants folded and rounded,
        identities dropped, commutative arguments sorted: an exact rewrite, without sympy):
        what the search screens, fingerprints and sends to the workers, which parse the text
        and so train (and report) its full canonical form."""
        node = _validate(node)
        return cls(canonical(node) if simplify else light(node), original=node)

    @classmethod
    def exact(cls, node: Node) -> Activation:
        """The tree exactly as given (validated, not normalised): its constants stay where
        they are, so constants learned by training map back onto the tree they came from
        (Lamarckian inheritance). It computes the same function as its canonical form."""
        node = _validate(node)
        return cls(node, original=node, exact=True)

    @property
    def is_exact(self) -> bool:
        """Built with `exact`: `tree` is the tree as given, `prefix` its faithful text."""
        return self._exact

    @property
    def prefix(self) -> str:
        """The tree as prefix-call text, which `parse` reads back into this very tree."""
        return to_prefix(self._tree)

    def with_parameters(self, values: Iterable[float]) -> Activation:
        """The same tree with its parameters (see `parameters`) replaced, in order; the
        other constants (`pow` exponents) are kept."""
        values = [float(v) for v in values]
        free = [i for i, is_free in enumerate(parameter_slots(self._tree)) if is_free]
        if len(values) != len(free):
            raise ValueError(f"{len(values)} values for the {len(free)} parameters of {self}")
        tree = _validate(ast.replace_constants(self._tree, dict(zip(free, values))))
        return Activation(tree, original=tree, exact=self._exact)

    # -- identity ---------------------------------------------------------------------
    @property
    def tree(self) -> Node:
        """The canonical tree."""
        return self._tree

    @property
    def original(self) -> Node:
        """The tree as given, before canonicalisation (not part of equality)."""
        return self._original

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Activation({self._text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Activation) and other._text == self._text

    def __hash__(self) -> int:
        return hash(("Activation", self._text))

    def __reduce__(self):
        if self._exact:
            return (_exact_from_prefix, (self.prefix,))
        return (Activation.parse, (self._text,))

    # -- lowerings -------------------------------------------------------------------
    def numpy(self, x: Any) -> np.ndarray:
        """Outputs on `x` in float64 (vectorised; overflow gives inf, never a warning)."""
        return eval_numpy(self._tree, x)

    __call__ = numpy

    def tf_function(self) -> Callable[[Any], Any]:
        """A tensor -> tensor callable (imports TensorFlow lazily; works in float32)."""
        return tf_lowering(self._tree)

    def sympy(self) -> sympy.Expr:
        """The sympy expression (protected primitives are opaque functions). Built in this
        process without a deadline: for interactive use; actsearch itself never calls it."""
        return to_sympy(self._tree)

    def latex(self) -> str:
        """LaTeX through sympy, bounded like canonicalisation (plainer past the deadline)."""
        return latex(self._tree)

    # -- properties ------------------------------------------------------------------
    @cached_property
    def complexity(self) -> int:
        """Node count of the canonical tree."""
        return ast.node_count(self._tree)

    @cached_property
    def probe_outputs(self) -> np.ndarray:
        """Outputs on the fingerprint's probe points (`PROBE_POINTS`; read-only)."""
        outputs = self.numpy(PROBE_POINTS)
        outputs.flags.writeable = False
        return outputs

    @cached_property
    def fingerprint(self) -> str:
        """Hash of the outputs on fixed probe points (16 hex digits)."""
        return fingerprint_of(self.probe_outputs)

    @property
    def constants(self) -> tuple[float, ...]:
        """Constant values in tree order."""
        return ast.constants(self._tree)

    @property
    def parameters(self) -> tuple[float, ...]:
        """The constants a parametric activation trains (all but `pow` exponents), in tree order."""
        return tuple(v for v, free in zip(self.constants, parameter_slots(self._tree)) if free)

    @property
    def primitives_used(self) -> frozenset[str]:
        """Primitive names in the canonical tree (canonicalisation may change them,
        e.g. swish(x) -> x*sigmoid(x); see `original` for the tree as given)."""
        return ast.primitives(self._tree)

    def uses_only(self, names: Iterable[str], *, original: bool = False) -> bool:
        """Whether every primitive (of the canonical, or the original tree) is in `names`."""
        used = ast.primitives(self._original if original else self._tree)
        return used <= set(names)

    @property
    def depends_on_x(self) -> bool:
        return ast.has_var(self._tree)


def _exact_from_prefix(text: str) -> Activation:
    return Activation.exact(parse_tree(text))


def parse(text: str) -> Node:
    """Parse text into a raw (non-canonical) AST; see `Activation.parse` for the canonical form."""
    return parse_tree(text)


__all__ = ["Activation", "parse", "Call", "Const", "Var"]
