"""sympy forms of the primitives and the opaque functions that stand for protected ones.

A primitive whose protected definition differs from the textbook function
(exp clipped, log of |x| + eps, ...) or that sympy has no exact closed form
for is represented by an opaque `sympy.Function` subclass, so that sympy can
reorder and combine it but never rewrite its inside with textbook identities
(e.g. it must not turn log(x**2) into 2*log(x)).
"""

from __future__ import annotations

import sympy

from .protect import EPS

X = sympy.Symbol("x", real=True)


_EVEN = {"gaussian", "cosh"}  # f(-a) == f(a) exactly under our definitions
_ODD = {"sinh", "softsign"}  # f(-a) == -f(a) exactly (the clip of sinh is symmetric)


def _opaque(name: str, nargs: int) -> type[sympy.Function]:
    """A real-valued sympy function sympy knows nothing else about (but its parity)."""

    def eval(cls, *args):
        if len(args) == 1 and args[0].could_extract_minus_sign():
            if name in _EVEN:
                return cls(-args[0])
            if name in _ODD:
                return -cls(-args[0])
        return None

    def _latex(self, printer):
        args = ", ".join(printer._print(arg) for arg in self.args)
        escaped = name.replace("_", r"\_")
        return rf"\operatorname{{{escaped}}}\left({args}\right)"

    return type(
        name,
        (sympy.Function,),
        {
            "nargs": nargs,
            "_eval_is_extended_real": lambda self: True,
            "_latex": _latex,
            "eval": classmethod(eval),
            "__module__": __name__,
        },
    )


OPAQUE: dict[str, type[sympy.Function]] = {
    name: _opaque(name, arity)
    for name, arity in [
        ("exp", 1),
        ("log", 1),
        ("sinh", 1),
        ("cosh", 1),
        ("sigmoid", 1),
        ("softplus", 1),
        ("gaussian", 1),
        ("gelu", 1),
        ("elu", 1),
        ("selu", 1),
        ("mish", 1),
        ("hard_sigmoid", 1),
        ("leaky_relu", 1),
        ("softsign", 1),
        ("div", 2),
        ("pow", 2),
    ]
}

# sympy classes that map back to a primitive of the same meaning (exact forms).
EXACT_FUNCTIONS: dict[type, str] = {
    sympy.sin: "sin",
    sympy.cos: "cos",
    sympy.tanh: "tanh",
    sympy.asinh: "asinh",
    sympy.atan: "atan",
    sympy.erf: "erf",
    sympy.sinc: "sinc",
    sympy.Abs: "abs",
}


def _op(name: str):
    return OPAQUE[name]


def div(a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    """Exact division when the denominator is a constant outside the clamp, else opaque."""
    if b.is_Number and abs(b) >= EPS:
        return a / b
    return _op("div")(a, b)


def pow_(a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    """Exact power for constant exponents where our definition equals the textbook one."""
    if b.is_Integer:
        return a**b if 0 <= b <= 64 else _op("pow")(a, b)
    if b.is_Rational and b > 0:
        return sympy.Abs(a) ** b  # non-integer b: our pow is |a|**b
    return _op("pow")(a, b)


def sqrt(a: sympy.Expr) -> sympy.Expr:
    return sympy.sqrt(sympy.Abs(a))


FORMS = {
    "identity": lambda a: a,
    "neg": lambda a: -a,
    "abs": sympy.Abs,
    "square": lambda a: a**2,
    "cube": lambda a: a**3,
    "sqrt": sqrt,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tanh": sympy.tanh,
    "asinh": sympy.asinh,
    "atan": sympy.atan,
    "erf": sympy.erf,
    "sinc": sympy.sinc,
    "relu": lambda a: sympy.Max(a, 0),
    "min0": lambda a: sympy.Min(a, 0),
    "swish": lambda a: a * _op("sigmoid")(a),
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": div,
    "pow": pow_,
    "max": sympy.Max,
    "min": sympy.Min,
    "sigmoid_mul": lambda a, b: _op("sigmoid")(a) * b,
    "gauss_diff": lambda a, b: _op("gaussian")(a - b),
    "exp_abs_diff": lambda a, b: _op("exp")(-sympy.Abs(a - b)),
}
for _name, _cls in OPAQUE.items():
    FORMS.setdefault(_name, _cls)
