"""NumPy (float64) namespace for `actsearch.expr.forms`: the reference numbers.

The search's numpy evaluation (fingerprints, canonical folding, screening) and
the `numpy` export run the forms with these functions. Callers run them under
``np.errstate(all="ignore")``, so overflow shows up as inf, never as a warning.
Functions use only `np` and `math` (the exporter copies their source).
"""

import math

import numpy as np


def asarray(x):
    return np.asarray(x, dtype=np.float64)


def pair(a, b):
    return np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)


def zeros_like(x):
    return np.zeros_like(x)


def ones_like(x):
    return np.ones_like(x)


def abs(x):
    return np.abs(x)


def sqrt(x):
    return np.sqrt(x)


def exp(x):
    return np.exp(x)


def expm1(x):
    return np.expm1(x)


def log(x):
    return np.log(x)


def sin(x):
    return np.sin(x)


def cos(x):
    return np.cos(x)


def tanh(x):
    return np.tanh(x)


def sinh(x):
    return np.sinh(x)


def cosh(x):
    return np.cosh(x)


def asinh(x):
    return np.arcsinh(x)


def atan(x):
    return np.arctan(x)


def erf(x):
    """Exact (libm) error function, element-wise."""
    x = np.asarray(x, dtype=np.float64)
    return np.asarray(np.frompyfunc(math.erf, 1, 1)(x), dtype=np.float64).reshape(x.shape)


def sigmoid(x):
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softplus(x):
    return np.logaddexp(0.0, x)


def floor(x):
    return np.floor(x)


def mod(a, b):
    return np.mod(a, b)


def power(a, b):
    return np.power(a, b)


def minimum(a, b):
    return np.minimum(a, b)


def maximum(a, b):
    return np.maximum(a, b)


def clip(x, low, high):
    return np.clip(x, low, high)


def where(condition, a, b):
    return np.where(condition, a, b)


def equal(a, b):
    return np.equal(a, b)


def logical_and(a, b):
    return np.logical_and(a, b)
