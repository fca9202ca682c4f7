"""numpy (float64) forms of the primitives; definitions follow the table in `primitives`.

Every function is vectorised and total: callers run them under
``np.errstate(all="ignore")``, so overflow shows up as inf, never as a warning.
"""

from __future__ import annotations

import math

import numpy as np

from .protect import EPS, EXP_MAX, LEAKY_SLOPE, SELU_ALPHA, SELU_SCALE, SQRT1_2

_erf = np.frompyfunc(math.erf, 1, 1)


def erf(x):
    """Exact (libm) error function, element-wise."""
    x = np.asarray(x, dtype=np.float64)
    return np.asarray(_erf(x), dtype=np.float64).reshape(x.shape)


def identity(x):
    return np.asarray(x, dtype=np.float64)


def neg(x):
    return -x


def square(x):
    return x * x


def cube(x):
    return x * x * x


def sqrt(x):
    return np.sqrt(np.abs(x))


def exp(x):
    return np.exp(np.minimum(x, EXP_MAX))


def log(x):
    return np.log(np.abs(x) + EPS)


def sinh(x):
    return np.sinh(np.clip(x, -EXP_MAX, EXP_MAX))


def cosh(x):
    return np.cosh(np.clip(x, -EXP_MAX, EXP_MAX))


def sinc(x):
    x = np.asarray(x, dtype=np.float64)
    safe = np.where(x == 0, 1.0, x)
    return np.where(x == 0, 1.0, np.sin(safe) / safe)


def sigmoid(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softplus(x):
    return np.logaddexp(0.0, x)


def relu(x):
    return np.maximum(x, 0.0)


def min0(x):
    return np.minimum(x, 0.0)


def gaussian(x):
    return np.exp(-(x * x))


def gelu(x):
    return 0.5 * x * (1.0 + erf(x * SQRT1_2))


def elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


def selu(x):
    return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))


def swish(x):
    return x * sigmoid(x)


def mish(x):
    return x * np.tanh(softplus(x))


def hard_sigmoid(x):
    return np.clip(x / 6.0 + 0.5, 0.0, 1.0)


def leaky_relu(x):
    return np.where(x > 0, x, LEAKY_SLOPE * x)


def softsign(x):
    return x / (1.0 + np.abs(x))


def div(a, b):
    safe = np.where(b < 0, np.minimum(b, -EPS), np.maximum(b, EPS))
    return a / safe


def pow_(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    base = np.abs(a)
    base = np.where(b < 0, np.maximum(base, EPS), base)
    magnitude = np.power(base, b)
    odd = (np.floor(b) == b) & (np.mod(b, 2.0) == 1.0)
    return np.where((a < 0) & odd, -magnitude, magnitude)


def sigmoid_mul(a, b):
    return sigmoid(a) * b


def gauss_diff(a, b):
    d = a - b
    return np.exp(-(d * d))


def exp_abs_diff(a, b):
    return np.exp(-np.abs(a - b))


def abs(x):
    return np.abs(x)


def sin(x):
    return np.sin(x)


def cos(x):
    return np.cos(x)


def tanh(x):
    return np.tanh(x)


def asinh(x):
    return np.arcsinh(x)


def atan(x):
    return np.arctan(x)


def add(a, b):
    return a + b


def sub(a, b):
    return a - b


def mul(a, b):
    return a * b


def max(a, b):
    return np.maximum(a, b)


def min(a, b):
    return np.minimum(a, b)
