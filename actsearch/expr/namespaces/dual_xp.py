"""Forward-mode derivatives in NumPy float64 through the very same forms: the
reference gradient every export is checked against (`lower.eval_gradient`).

A `Dual` carries values and their derivative with respect to x. Numbers and
plain arrays are constants: they carry no derivative and no term is computed
for them, as in reverse mode, where they receive no gradient. Conventions at
kinks are TensorFlow's (see `forms`): |x|' = 0 at 0, a min/max tie's
derivative is the first operand's, clip passes it at the bounds, `where`
takes the chosen branch's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import numpy_xp as _np


class Dual:
    """Values and d(values)/dx (float64 arrays)."""

    __slots__ = ("grad", "value")
    __array_ufunc__ = None  # numpy operands defer to our reflected operators (no object arrays)

    def __init__(self, value: Any, grad: Any):
        self.value = value
        self.grad = grad

    def __add__(self, other: Any) -> Any:
        return _binary(self, other, lambda a, b: a + b, lambda a, b: (1.0, 1.0))

    def __radd__(self, other: Any) -> Any:
        return _binary(other, self, lambda a, b: a + b, lambda a, b: (1.0, 1.0))

    def __sub__(self, other: Any) -> Any:
        return _binary(self, other, lambda a, b: a - b, lambda a, b: (1.0, -1.0))

    def __rsub__(self, other: Any) -> Any:
        return _binary(other, self, lambda a, b: a - b, lambda a, b: (1.0, -1.0))

    def __mul__(self, other: Any) -> Any:
        return _binary(self, other, lambda a, b: a * b, lambda a, b: (b, a))

    def __rmul__(self, other: Any) -> Any:
        return _binary(other, self, lambda a, b: a * b, lambda a, b: (b, a))

    def __truediv__(self, other: Any) -> Any:
        return _binary(self, other, lambda a, b: a / b, lambda a, b: (1.0 / b, -a / (b * b)))

    def __rtruediv__(self, other: Any) -> Any:
        return _binary(other, self, lambda a, b: a / b, lambda a, b: (1.0 / b, -a / (b * b)))

    def __neg__(self) -> Dual:
        return Dual(-self.value, -self.grad)

    def __lt__(self, other: Any) -> Any:
        return self.value < _value(other)

    def __le__(self, other: Any) -> Any:
        return self.value <= _value(other)

    def __gt__(self, other: Any) -> Any:
        return self.value > _value(other)

    def __ge__(self, other: Any) -> Any:
        return self.value >= _value(other)


def _value(v: Any) -> Any:
    return v.value if isinstance(v, Dual) else np.asarray(v, dtype=np.float64)


def _grad(v: Any) -> Any:
    return v.grad if isinstance(v, Dual) else None


def _make(value: Any, *terms: Any) -> Any:
    """A Dual of `value` with the sum of the derivative terms that exist; a constant if none."""
    present = [t for t in terms if t is not None]
    if not present:
        return value
    total = present[0]
    for term in present[1:]:
        total = total + term
    return Dual(value, np.broadcast_to(total, np.shape(value + total)).copy())


def _binary(a: Any, b: Any, f: Any, partials: Any) -> Any:
    av, bv = _value(a), _value(b)
    ag, bg = _grad(a), _grad(b)
    da, db = partials(av, bv)
    return _make(f(av, bv), None if ag is None else da * ag, None if bg is None else db * bg)


def _unary(x: Any, f: Any, derivative: Any) -> Any:
    xv, xg = _value(x), _grad(x)
    return _make(f(xv), None if xg is None else derivative(xv) * xg)


def _select(condition: Any, a: Any, b: Any) -> Any:
    """`where` on values and on derivatives (a constant side has derivative 0)."""
    value = np.where(condition, _value(a), _value(b))
    ag, bg = _grad(a), _grad(b)
    if ag is None and bg is None:
        return value
    return _make(value, np.where(condition, 0.0 if ag is None else ag, 0.0 if bg is None else bg))


def asarray(x: Any) -> Any:
    return x if isinstance(x, Dual) else _np.asarray(x)


def pair(a: Any, b: Any) -> tuple[Any, Any]:
    return asarray(a), asarray(b)


def zeros_like(x: Any) -> Any:
    return np.zeros_like(_value(x))


def ones_like(x: Any) -> Any:
    return np.ones_like(_value(x))


def abs(x: Any) -> Any:
    return _unary(x, np.abs, np.sign)


def sqrt(x: Any) -> Any:
    return _unary(x, np.sqrt, lambda v: 0.5 / np.sqrt(v))


def exp(x: Any) -> Any:
    return _unary(x, np.exp, np.exp)


def expm1(x: Any) -> Any:
    return _unary(x, np.expm1, np.exp)


def log(x: Any) -> Any:
    return _unary(x, np.log, lambda v: 1.0 / v)


def sin(x: Any) -> Any:
    return _unary(x, np.sin, np.cos)


def cos(x: Any) -> Any:
    return _unary(x, np.cos, lambda v: -np.sin(v))


def tanh(x: Any) -> Any:
    return _unary(x, np.tanh, lambda v: 1.0 - np.tanh(v) ** 2)


def sinh(x: Any) -> Any:
    return _unary(x, np.sinh, np.cosh)


def cosh(x: Any) -> Any:
    return _unary(x, np.cosh, np.sinh)


def asinh(x: Any) -> Any:
    return _unary(x, np.arcsinh, lambda v: 1.0 / np.sqrt(1.0 + v * v))


def atan(x: Any) -> Any:
    return _unary(x, np.arctan, lambda v: 1.0 / (1.0 + v * v))


def erf(x: Any) -> Any:
    return _unary(x, _np.erf, lambda v: 2.0 / math.sqrt(math.pi) * np.exp(-v * v))


def sigmoid(x: Any) -> Any:
    return _unary(x, _np.sigmoid, lambda v: _np.sigmoid(v) * _np.sigmoid(-v))


def softplus(x: Any) -> Any:
    return _unary(x, _np.softplus, _np.sigmoid)


def floor(x: Any) -> Any:
    return np.floor(_value(x))  # derivative 0 almost everywhere, none in TensorFlow


def mod(a: Any, b: Any) -> Any:
    return np.mod(_value(a), _value(b))  # used only in comparisons (pow's odd-integer test)


def power(a: Any, b: Any) -> Any:
    """d(a**b) = b*a**(b-1) da + a**b log(a) db, with log(a) taken as 0 where a <= 0 (TensorFlow)."""
    av, bv = _value(a), _value(b)
    value = np.power(av, bv)
    ag, bg = _grad(a), _grad(b)
    da = None if ag is None else bv * np.power(av, bv - 1.0) * ag
    db = None if bg is None else value * np.where(av > 0, np.log(np.where(av > 0, av, 1.0)), 0.0) * bg
    return _make(value, da, db)


def minimum(a: Any, b: Any) -> Any:
    return _select(_value(b) < _value(a), b, a)


def maximum(a: Any, b: Any) -> Any:
    return _select(_value(b) > _value(a), b, a)


def clip(x: Any, low: float, high: float) -> Any:
    return minimum(maximum(x, low), high)


def where(condition: Any, a: Any, b: Any) -> Any:
    return _select(condition, a, b)


def equal(a: Any, b: Any) -> Any:
    return np.equal(_value(a), _value(b))


def logical_and(a: Any, b: Any) -> Any:
    return np.logical_and(a, b)
