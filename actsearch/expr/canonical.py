"""Canonical form: light normalisation, then simplification through sympy.

The sympy expression is built from our AST (never from text) and converted
back to our AST. Protected primitives are opaque sympy functions, so every
rewrite sympy makes is exact under our definitions. When the sympy result
uses something we cannot map back, is too large, or sympy is unlikely to be
fast (big expansions), we keep the lightly normalised tree instead. sympy itself
runs in a helper process with a deadline (see `bounded`): past it, the lightly
normalised tree is the canonical form.
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache, reduce

import numpy as np
import sympy

from . import bounded, order_probe, sym
from .ast import Call, Const, Node, Var, depth, node_count
from .limits import MAX_CONST, MAX_DEPTH, MAX_NODES, MAX_TEXT
from .primitives import REGISTRY
from .printer import format_number, round_constant, to_infix, to_latex

log = logging.getLogger(__name__)

_EXPAND_MAX_TERMS = 48
_FACTOR_MAX_NODES = 40
_MAX_DENOMINATOR = 1000  # x/3 stays exact; other non-decimal coefficients are rounded
_FIXPOINT_STEPS = 4
_GROWTH_ALLOWED = 1.5


class Unmappable(Exception):
    """A sympy expression that has no exact counterpart in our language."""


# -- light normalisation -----------------------------------------------------------------


def fold(node: Node) -> Node:
    """Round constants, fold constant sub-trees, drop identity and double negation."""
    if isinstance(node, Var):
        return node
    if isinstance(node, Const):
        return Const(round_constant(node.value))
    args = tuple(fold(arg) for arg in node.args)
    if node.name == "identity":
        return args[0]
    if node.name == "neg" and isinstance(args[0], Call) and args[0].name == "neg":
        return args[0].args[0]
    simpler = _identity_law(node.name, args)
    if simpler is not None:
        return simpler
    constants = [arg for arg in args if isinstance(arg, Const)]
    if len(constants) == len(args):
        with np.errstate(all="ignore"):
            value = float(REGISTRY[node.name].numpy(*(np.float64(a.value) for a in constants)))
        if math.isfinite(value) and abs(value) <= MAX_CONST:
            return Const(round_constant(value))
    return Call(node.name, args)


_ZERO, _ONE = Const(0.0), Const(1.0)


def _identity_law(name: str, args: tuple[Node, ...]) -> Node | None:
    """a*1, 1*a, a+0, 0+a, a-0, a/1, a**1 -> a (exact under every definition)."""
    if name in ("mul", "add"):
        unit = _ONE if name == "mul" else _ZERO
        if args[0] == unit:
            return args[1]
        if args[1] == unit:
            return args[0]
    if (name == "sub" and args[1] == _ZERO) or (name in ("div", "pow") and args[1] == _ONE):
        return args[0]
    return None


def sort_commutative(node: Node) -> Node:
    """Order the arguments of commutative primitives by their text."""
    if not isinstance(node, Call):
        return node
    args = tuple(sort_commutative(arg) for arg in node.args)
    if REGISTRY[node.name].commutative:
        args = tuple(sorted(args, key=to_infix))
    return Call(node.name, args)


def light(node: Node) -> Node:
    """The fallback canonical form: folded and with commutative arguments sorted."""
    return sort_commutative(fold(node))


# -- AST -> sympy --------------------------------------------------------------------------


def to_sympy(node: Node) -> sympy.Expr:
    """The sympy expression of a tree (constants become exact rationals)."""
    if isinstance(node, Var):
        return sym.X
    if isinstance(node, Const):
        return sympy.Rational(format_number(node.value))
    return _apply(node.name, *(to_sympy(arg) for arg in node.args))


@lru_cache(maxsize=8192, typed=True)
def _apply(name: str, *args: sympy.Expr) -> sympy.Expr:
    """A primitive's sympy form of sympy arguments, remembered like sympy remembers its own
    constructions: the fixed-point steps rebuild the same Max, Min and Abs (which sympy does
    not cache) many times."""
    return REGISTRY[name].sympy(*args)


# -- sympy -> AST --------------------------------------------------------------------------

_FUNCTION_NAMES = {**sym.EXACT_FUNCTIONS, **{cls: name for name, cls in sym.OPAQUE.items()}}


def _is_short(value: sympy.Rational) -> bool:
    """Whether a rational prints exactly as a SIG_DIGITS-digit decimal."""
    return sympy.Rational(format_number(float(value))) == value


def _number(expr: sympy.Expr) -> Node:
    if not (expr.is_Rational or expr.is_Float):
        raise Unmappable(expr)
    value = float(expr)
    if not math.isfinite(value) or abs(value) > MAX_CONST:
        raise Unmappable(expr)
    return Const(round_constant(value))


def _chain(name: str, nodes: list[Node]) -> Node:
    return reduce(lambda acc, item: Call(name, (acc, item)), nodes)


def _add(expr: sympy.Add) -> Node:
    terms = expr.as_ordered_terms()
    node = from_sympy(terms[0])
    for term in terms[1:]:
        if term.as_coeff_Mul()[0] < 0:
            node = Call("sub", (node, from_sympy(-term)))
        else:
            node = Call("add", (node, from_sympy(term)))
    return node


def _mul(expr: sympy.Mul) -> Node:
    coeff, rest = expr.as_coeff_Mul()
    if rest == 1:
        return _number(coeff)
    body = _chain("mul", [from_sympy(f) for f in rest.as_ordered_factors()])
    if coeff == 1:
        return body
    if coeff == -1:
        return Call("neg", (body,))
    if coeff.is_Rational and not _is_short(coeff):
        p, q = int(coeff.p), int(coeff.q)
        if abs(p) <= MAX_CONST and q <= _MAX_DENOMINATOR:
            top = body if p == 1 else Call("neg", (body,)) if p == -1 else Call("mul", (Const(float(p)), body))
            return Call("div", (top, Const(float(q))))
    return Call("mul", (_number(coeff), body))


def _pow(expr: sympy.Pow) -> Node:
    base, exponent = expr.args
    if not exponent.is_Rational or exponent <= 0:
        raise Unmappable(expr)
    if exponent.is_Integer:
        return Call("pow", (from_sympy(base), _number(exponent)))
    if isinstance(base, sympy.Abs):
        inner = base.args[0]
    elif base.is_nonnegative:
        inner = base
    else:
        raise Unmappable(expr)
    if exponent == sympy.Rational(1, 2):
        return Call("sqrt", (from_sympy(inner),))
    if not _is_short(exponent):
        raise Unmappable(expr)
    return Call("pow", (from_sympy(inner), _number(exponent)))


def _minmax(expr: sympy.Expr) -> Node:
    name = "max" if isinstance(expr, sympy.Max) else "min"
    args = sorted((from_sympy(arg) for arg in expr.args), key=to_infix)
    if len(args) == 2 and Const(0.0) in args:
        other = args[1] if args[0] == Const(0.0) else args[0]
        return Call("relu", (other,)) if name == "max" else Call("min", (other, Const(0.0)))
    return _chain(name, args)


def from_sympy(expr: sympy.Expr) -> Node:
    """Our AST for a sympy expression; raises `Unmappable` if there is no exact one."""
    if expr == sym.X:
        return Var()
    if expr.is_Number:
        return _number(expr)
    if isinstance(expr, sympy.Add):
        return _add(expr)
    if isinstance(expr, sympy.Mul):
        return _mul(expr)
    if isinstance(expr, sympy.Pow):
        return _pow(expr)
    if isinstance(expr, (sympy.Max, sympy.Min)):
        return _minmax(expr)
    name = _FUNCTION_NAMES.get(type(expr))
    if name is None or len(expr.args) != REGISTRY[name].arity:
        raise Unmappable(expr)
    return Call(name, tuple(from_sympy(arg) for arg in expr.args))


# -- the canonical form --------------------------------------------------------------------


def _term_estimate(expr: sympy.Expr) -> int:
    """Upper bound on the number of terms `sympy.expand` can produce (cheap blow-up guard)."""
    if expr.is_Add:
        return sum(_term_estimate(a) for a in expr.args)
    if expr.is_Mul:
        return math.prod(_term_estimate(a) for a in expr.args)
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
        return _term_estimate(expr.base) ** min(int(expr.exp), 64)
    return 1 + sum(_term_estimate(a) for a in expr.args)


def _fits(node: Node) -> bool:
    return node_count(node) <= MAX_NODES and depth(node) <= MAX_DEPTH and len(to_infix(node)) <= MAX_TEXT


def _sympy_step(tree: Node) -> Node:
    """One pass through sympy; the tree itself when sympy cannot help."""
    try:
        expr = to_sympy(tree)
        candidates = [expr]
        if _term_estimate(expr) <= _EXPAND_MAX_TERMS:
            candidates.append(sympy.expand(expr, power_base=False, log=False))
            if node_count(tree) <= _FACTOR_MAX_NODES:
                candidates.append(sympy.factor(expr))
    except (RecursionError, ValueError, TypeError, ZeroDivisionError, OverflowError, sympy.PolynomialError):
        return tree
    mapped = []
    for candidate in candidates:
        try:
            node = fold(from_sympy(candidate))
        except (Unmappable, RecursionError, ValueError, TypeError, OverflowError):
            continue
        if _fits(node):
            mapped.append(node)
    if not mapped:
        return tree
    best = min(mapped, key=lambda n: (node_count(n), to_infix(n)))
    if node_count(best) > _GROWTH_ALLOWED * node_count(tree) + 2:
        return tree
    return best


def algebraic_canonical(tree: Node) -> Node:
    """The step light -> sympy iterated to a fixed point (unbounded: runs in a helper)."""
    order_probe.install()  # the same Max and Min, sooner
    current = tree
    for _ in range(_FIXPOINT_STEPS):
        following = _sympy_step(light(current))
        if following == current:
            break
        current = following
    return current


@lru_cache(maxsize=65536)
def canonical(tree: Node) -> Node:
    """The canonical tree of `tree` (cached), so canonical(canonical(t)) == canonical(t)
    and printed forms round-trip. The algebra runs with a deadline (`bounded.ALGEBRA_SECONDS`);
    past it the light form is canonical instead: an exact rewrite of the same function."""
    try:
        return bounded.run("canonical", tree)
    except bounded.AlgebraError as error:
        log.info("canonical form of %s without sympy: %s", to_infix(tree)[:200], error)
        return light(tree)


def sympy_latex(tree: Node) -> str:
    """sympy's LaTeX of a tree (unbounded: runs in a helper)."""
    order_probe.install()
    return sympy.latex(to_sympy(tree))


@lru_cache(maxsize=4096)
def latex(tree: Node) -> str:
    """LaTeX of a tree through sympy, or without it when sympy overruns its deadline."""
    try:
        return bounded.run("latex", tree)
    except bounded.AlgebraError:
        return to_latex(tree)
