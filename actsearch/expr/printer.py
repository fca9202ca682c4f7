"""Deterministic infix text for trees, with minimal parentheses.

The printer and the parser are inverses on canonical trees: parsing the text
of a tree gives back the very same tree (that is what makes `str(activation)`
a faithful, round-tripping canonical form).
"""

from __future__ import annotations

import math

from .ast import Call, Const, Node, Var
from .limits import SIG_DIGITS

_BINARY = {"add": ("+", 1), "sub": ("-", 1), "mul": ("*", 2), "div": ("/", 2)}
_UNARY_PREC = 3
_POW_PREC = 4
_ATOM_PREC = 5


def round_constant(value: float) -> float:
    """The value a constant keeps in canonical form (SIG_DIGITS significant digits, no -0)."""
    rounded = float(f"{value:.{SIG_DIGITS}g}")
    return 0.0 if rounded == 0 else rounded


def format_number(value: float) -> str:
    """'1.5', '2', '-0.25', '1e-07': up to SIG_DIGITS significant digits, no trailing zeros."""
    if not math.isfinite(value):
        raise ValueError(f"cannot print non-finite constant {value!r}")
    return f"{round_constant(value):.{SIG_DIGITS}g}"


ALL_OPERATORS = frozenset({"add", "sub", "mul", "div", "pow", "neg"})


def to_infix(node: Node, call_name=None, number=format_number, operators=ALL_OPERATORS) -> str:
    """Infix text of `node`. `call_name` maps a primitive name to the printed callee,
    `number` formats constants and `operators` says which of add/sub/mul/div/pow/neg
    print as operators (the TF source writer keeps protected div and pow as calls)."""
    call_name = call_name or (lambda name: name)

    def _prec(n: Node) -> int:
        if isinstance(n, Const):
            return _UNARY_PREC if n.value < 0 else _ATOM_PREC
        if isinstance(n, Call) and n.name in operators:
            if n.name in _BINARY and len(n.args) == 2:
                return _BINARY[n.name][1]
            if n.name == "pow" and len(n.args) == 2:
                return _POW_PREC
            if n.name == "neg" and len(n.args) == 1:
                return _UNARY_PREC
        return _ATOM_PREC

    def wrap(child: Node, parens: bool) -> str:
        text = emit(child)
        return f"({text})" if parens else text

    def emit(n: Node) -> str:
        if isinstance(n, Var):
            return "x"
        if isinstance(n, Const):
            return number(n.value)
        prec = _prec(n)
        if prec == _ATOM_PREC:
            return f"{call_name(n.name)}({', '.join(emit(arg) for arg in n.args)})"
        if n.name in _BINARY:
            left, right = n.args
            symbol = _BINARY[n.name][0]
            sep = f" {symbol} " if prec == 1 else symbol
            right_parens = _prec(right) <= prec or _prec(right) == _UNARY_PREC
            return wrap(left, _prec(left) < prec) + sep + wrap(right, right_parens)
        if n.name == "pow":
            base, exponent = n.args
            return wrap(base, _prec(base) <= _POW_PREC) + "**" + wrap(exponent, _prec(exponent) < _POW_PREC)
        (arg,) = n.args  # neg
        return "-" + wrap(arg, _prec(arg) <= _UNARY_PREC)

    return emit(node)


def to_prefix(node: Node) -> str:
    """Prefix-call text (`add(mul(2.0, x), 1.0)`) that the parser reads back into exactly this
    tree, constants unrounded: how genotypes and exact forms travel and are stored."""
    if isinstance(node, Var):
        return "x"
    if isinstance(node, Const):
        return repr(float(node.value))
    return f"{node.name}({', '.join(to_prefix(arg) for arg in node.args)})"


def _latex_number(value: float) -> str:
    mantissa, _, exponent = format_number(value).partition("e")
    return rf"{mantissa} \cdot 10^{{{int(exponent)}}}" if exponent else mantissa


def to_latex(node: Node) -> str:
    """LaTeX of a tree without sympy (the bounded fallback of `Activation.latex`)."""
    prec = {"add": 1, "sub": 1, "mul": 2, "neg": 3, "pow": 4}

    def level(n: Node) -> int:
        if isinstance(n, Const) and n.value < 0:
            return 3
        return prec.get(n.name, _ATOM_PREC) if isinstance(n, Call) else _ATOM_PREC

    def wrap(child: Node, parens: bool) -> str:
        text = emit(child)
        return rf"\left({text}\right)" if parens else text

    def emit(n: Node) -> str:
        if isinstance(n, Var):
            return "x"
        if isinstance(n, Const):
            return _latex_number(n.value)
        args = n.args
        if n.name in ("add", "sub"):
            symbol = " + " if n.name == "add" else " - "
            right = level(args[1])
            return wrap(args[0], level(args[0]) < 1) + symbol + wrap(args[1], right <= 1 or right == 3)
        if n.name == "mul":
            return wrap(args[0], level(args[0]) < 2) + r" \cdot " + wrap(args[1], level(args[1]) <= 3)
        if n.name == "div":
            return rf"\frac{{{emit(args[0])}}}{{{emit(args[1])}}}"
        if n.name == "pow":
            return "{" + wrap(args[0], level(args[0]) <= 4) + "}^{" + emit(args[1]) + "}"
        if n.name == "neg":
            return "-" + wrap(args[0], level(args[0]) <= 3)
        if n.name == "sqrt":
            return rf"\sqrt{{{emit(args[0])}}}"
        if n.name == "abs":
            return rf"\left|{emit(args[0])}\right|"
        name = n.name.replace("_", r"\_")
        return rf"\operatorname{{{name}}}\left({', '.join(emit(a) for a in args)}\right)"

    return emit(node)
