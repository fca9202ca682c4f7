"""The primitive registry: one declaration per primitive with all its lowerings.

Protected definitions (the ONE place they are documented; the one
implementation of each is its function in `forms`, which the numpy and
TensorFlow evaluations and every export run, each on its array namespace;
the sympy forms in `sym` stand for the same; the numbers live in `protect`)::

    primitive          definition
    ------------------ ------------------------------------------------------------
    exp(x)             exp(min(x, EXP_MAX)),  EXP_MAX = 30  (max value e**30 ~ 1.07e13)
    log(x)             log(|x| + EPS),        EPS = 1e-6    (log(0) = -13.8155)
    div(a, b)          a / b', where b' = min(b, -EPS) if b < 0 else max(b, EPS):
                       exact division whenever |b| >= EPS; div(a, 0) = a * 1e6
    pow(a, b)          s * m**b, where m = |a| (clamped to >= EPS when b < 0) and
                       s = -1 if a < 0 and b is an odd integer, else 1. Equals the real
                       a**b for every integer b (|a| >= EPS if b < 0) and for a > 0;
                       |a|**b for fractional b (no NaN). Overflow is not clipped:
                       it gives inf, which screening rejects.
    sqrt(x)            sqrt(|x|)            (not differentiable at 0, like sqrt)
    sinh(x), cosh(x)   sinh/cosh(clip(x, -EXP_MAX, EXP_MAX))
    sinc(x)            sin(x)/x, sinc(0) = 1  (unnormalised, as in the Swish paper)
    hard_sigmoid(x)    clip(x/6 + 1/2, 0, 1)  (Keras 3 / PyTorch definition)
    leaky_relu(x)      x if x > 0 else 0.01*x
    gelu(x)            x/2 * (1 + erf(x/sqrt(2)))  (exact, not the tanh approximation)
    selu(x)            1.0507009873554805 * (x if x > 0 else 1.6732632423543772*(e**x - 1))
    elu(x)             x if x > 0 else e**x - 1

Every other primitive is the textbook function (see each entry's `doc`).
Constants are numbers in the tree, never primitives.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import forms, sym
from .namespaces import numpy_xp


@dataclass(frozen=True)
class Primitive:
    """One operator of the expression language with all its lowerings."""

    name: str
    arity: int
    numpy: Callable[..., Any] = field(repr=False)
    sympy: Callable[..., Any] = field(repr=False)
    doc: str
    infix: str | None = None
    commutative: bool = False
    protected: bool = False

    @property
    def form_name(self) -> str:
        """Name of the primitive's one definition in `forms` (and in exported source)."""
        return f"op_{self.name}"

    @property
    def form(self) -> Callable[..., Any]:
        """The definition, `form(xp, *args)`, for any array namespace `xp`."""
        return getattr(forms, self.form_name)

    @property
    def tf(self) -> Callable[..., Any]:
        """The form on TensorFlow (imports TensorFlow on first use)."""
        return _tf_form(self.name)


@functools.cache
def _tf_form(name: str) -> Callable[..., Any]:
    from .namespaces import tensorflow_xp

    return functools.partial(getattr(forms, f"op_{name}"), tensorflow_xp)


def _p(name: str, arity: int, doc: str, **kw: Any) -> Primitive:
    numpy_form = functools.partial(getattr(forms, f"op_{name}"), numpy_xp)
    return Primitive(name, arity, numpy_form, sym.FORMS[name], doc, **kw)


_PRIMITIVES = [
    # the seed article families: exponential, logarithmic, polynomial
    _p("exp", 1, "exp(min(x, 30)): protected exponential", protected=True),
    _p("log", 1, "log(|x| + 1e-6): protected logarithm", protected=True),
    _p("add", 2, "a + b", infix="+", commutative=True),
    _p("sub", 2, "a - b", infix="-"),
    _p("mul", 2, "a * b", infix="*", commutative=True),
    _p("div", 2, "a / b with |b| clamped to >= 1e-6 (sign kept)", infix="/", protected=True),
    _p("pow", 2, "a ** b: real power, |a|**b for fractional b, base clamped for b < 0", infix="**", protected=True),
    _p("neg", 1, "-x"),
    _p("square", 1, "x**2"),
    _p("cube", 1, "x**3"),
    _p("sqrt", 1, "sqrt(|x|)", protected=True),
    # the standard family
    _p("identity", 1, "x"),
    _p("abs", 1, "|x|"),
    _p("sigmoid", 1, "1 / (1 + exp(-x))"),
    _p("tanh", 1, "hyperbolic tangent"),
    _p("relu", 1, "max(x, 0)"),
    _p("softplus", 1, "log(1 + exp(x)), computed stably"),
    _p("gelu", 1, "x/2 * (1 + erf(x/sqrt(2))), exact form"),
    _p("elu", 1, "x if x > 0 else exp(x) - 1"),
    _p("selu", 1, "scaled elu (Klambauer et al. 2017)"),
    _p("swish", 1, "x * sigmoid(x)"),
    _p("mish", 1, "x * tanh(softplus(x))"),
    _p("softsign", 1, "x / (1 + |x|)"),
    _p("hard_sigmoid", 1, "clip(x/6 + 1/2, 0, 1)"),
    _p("leaky_relu", 1, "x if x > 0 else 0.01*x"),
    _p("sin", 1, "sine"),
    _p("cos", 1, "cosine"),
    _p("sinh", 1, "sinh(clip(x, -30, 30))", protected=True),
    _p("cosh", 1, "cosh(clip(x, -30, 30))", protected=True),
    _p("asinh", 1, "inverse hyperbolic sine"),
    _p("atan", 1, "arctangent"),
    _p("erf", 1, "error function"),
    _p("sinc", 1, "sin(x)/x, 1 at 0"),
    _p("gaussian", 1, "exp(-x**2)"),
    _p("min0", 1, "min(x, 0)"),
    _p("max", 2, "max(a, b)", commutative=True),
    _p("min", 2, "min(a, b)", commutative=True),
    # Swish-paper binary units
    _p("sigmoid_mul", 2, "sigmoid(a) * b"),
    _p("gauss_diff", 2, "exp(-(a - b)**2)", commutative=True),
    _p("exp_abs_diff", 2, "exp(-|a - b|)", commutative=True),
]

REGISTRY: dict[str, Primitive] = {p.name: p for p in _PRIMITIVES}
INFIX: dict[str, str] = {p.infix: p.name for p in _PRIMITIVES if p.infix}


def get_primitive(name: str) -> Primitive:
    """The registry entry for `name`; KeyError with the known names otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown primitive {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
