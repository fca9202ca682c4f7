"""A numeric shortcut for sympy's slowest question when it builds Max and Min.

`sympy.Max(a, b, ...)` asks, for every pair of arguments, whether one is always
>= the other (`MinMaxBase._is_connected`: up to eight symbolic comparisons plus a
`factor_terms`), and drops the smaller one when it can prove it. Most pairs in our
trees are not ordered, and proving nothing costs milliseconds each: about 40 % of
the canonical form's time in the fuzz of issue 9.

When the difference of the two arguments is clearly positive at one real point and
clearly negative at another, no sound proof of either order exists, so sympy's answer
is "not connected" (False). This module checks that first, on a few points, and asks
sympy only otherwise. The answer is the one sympy would give, so Max and Min, and the
canonical forms built from them, are unchanged; only the time differs.

Why the shortcut is exact: each sympy expression we build denotes exactly our function
(`sym` maps protected primitives to opaque functions, which sympy treats as arbitrary
real functions, and ours are one such function), and sympy's inequalities are proofs.
The sign test is conservative: a point counts only when the difference exceeds 1e-6 of
the largest magnitude met while evaluating it there, far above float64 rounding, and
anything it cannot evaluate exactly goes to sympy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy
from sympy.functions.elementary.miscellaneous import MinMaxBase

from . import sym
from .primitives import REGISTRY

# both signs, small to large, none where a primitive has a special point (0, +-1)
_POINTS = np.concatenate([-np.geomspace(0.013, 9.7, 12)[::-1], np.geomspace(0.011, 9.3, 12)])
_MARGIN = 1e-6  # relative to the largest magnitude in the evaluation, per point

_NAMES: dict[type, str] = {
    **sym.EXACT_FUNCTIONS,
    **{cls: name for name, cls in sym.OPAQUE.items()},
}


class _Unknown(Exception):
    """An expression the probe does not evaluate: sympy decides."""


def _values(expr: Any, scale: list[np.ndarray]) -> np.ndarray:
    """`expr` on _POINTS; every intermediate's magnitude is folded into `scale[0]`."""
    if expr.is_Symbol:
        if expr != sym.X:
            raise _Unknown
        value = _POINTS
    elif expr.is_Number:
        if not (expr.is_Rational or expr.is_Float):
            raise _Unknown  # oo, nan, zoo
        value = np.full(_POINTS.shape, float(expr))
    elif isinstance(expr, sympy.Add):
        value = sum((_values(arg, scale) for arg in expr.args), np.zeros(_POINTS.shape))
    elif isinstance(expr, sympy.Mul):
        value = np.ones(_POINTS.shape)
        for arg in expr.args:
            value = value * _values(arg, scale)
    elif isinstance(expr, sympy.Pow):
        base, exponent = expr.args
        if not (exponent.is_Integer or (exponent.is_Rational and isinstance(base, sympy.Abs))):
            raise _Unknown  # only powers that are real for every x (as `sym` builds them)
        value = np.power(_values(base, scale), float(exponent))
    elif isinstance(expr, (sympy.Max, sympy.Min)):
        reduce = np.maximum if isinstance(expr, sympy.Max) else np.minimum
        value = reduce.reduce([_values(arg, scale) for arg in expr.args])
    elif type(expr) in _NAMES:
        value = REGISTRY[_NAMES[type(expr)]].numpy(*(_values(arg, scale) for arg in expr.args))
    else:
        raise _Unknown
    value = np.asarray(value, dtype=np.float64)
    scale[0] = np.fmax(scale[0], np.abs(value))
    return value


def surely_unordered(a: Any, b: Any) -> bool:
    """Whether a - b is clearly > 0 somewhere and clearly < 0 elsewhere (so neither
    a >= b nor a <= b can hold for every real x)."""
    scale = [np.zeros(_POINTS.shape)]
    try:
        with np.errstate(all="ignore"):
            difference = _values(a, scale) - _values(b, scale)
    except (_Unknown, TypeError, ValueError, OverflowError):
        return False
    usable = np.isfinite(difference) & np.isfinite(scale[0])
    margin = _MARGIN * (1.0 + scale[0])
    return bool(np.any(usable & (difference > margin)) and np.any(usable & (difference < -margin)))


_sympy_is_connected = MinMaxBase.__dict__["_is_connected"].__func__


def _is_connected(cls: type, x: Any, y: Any) -> Any:
    if surely_unordered(x, y):
        return False  # what sympy's comparisons conclude, without them
    return _sympy_is_connected(cls, x, y)


def install() -> None:
    """Let sympy's Max and Min (in this process) skip the proof for pairs that are surely
    unordered. Idempotent; changes no result, only the time."""
    if MinMaxBase.__dict__["_is_connected"].__func__ is not _is_connected:
        MinMaxBase._is_connected = classmethod(_is_connected)
