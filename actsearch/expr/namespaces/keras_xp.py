"""Keras 3 namespace for `actsearch.expr.forms` (the `keras` export): `keras.ops`
only, so the exported activation runs on every Keras backend (TensorFlow, JAX,
PyTorch). Functions use only `keras` and `ops` (the exporter copies their source).

|x| is x*sign(x) and min/max are written with `where`, so that gradients at
kinks are the same on every backend (TensorFlow's conventions: |x|' = 0 at 0,
a tie's gradient to the first operand); on TensorFlow the values are the same.
"""

import keras
from keras import ops


def asarray(x):
    return ops.convert_to_tensor(x)


def pair(a, b):
    """Both operands as tensors of one dtype (a Python number takes the other operand's)."""
    like = b if isinstance(a, (int, float)) else a
    dtype = keras.backend.standardize_dtype(like.dtype) if hasattr(like, "dtype") else keras.config.floatx()
    return ops.cast(a, dtype), ops.cast(b, dtype)


def zeros_like(x):
    return ops.zeros_like(x)


def ones_like(x):
    return ops.ones_like(x)


def abs(x):
    return x * ops.sign(x)


def sqrt(x):
    return ops.sqrt(x)


def exp(x):
    return ops.exp(x)


def expm1(x):
    return ops.expm1(x)


def log(x):
    return ops.log(x)


def sin(x):
    return ops.sin(x)


def cos(x):
    return ops.cos(x)


def tanh(x):
    return ops.tanh(x)


def sinh(x):
    return ops.sinh(x)


def cosh(x):
    return ops.cosh(x)


def asinh(x):
    return ops.arcsinh(x)


def atan(x):
    return ops.arctan(x)


def erf(x):
    return ops.erf(x)


def sigmoid(x):
    return ops.sigmoid(x)


def softplus(x):
    return ops.softplus(x)


def floor(x):
    return ops.floor(x)


def mod(a, b):
    return ops.mod(a, b)


def power(a, b):
    return ops.power(a, b)


def minimum(a, b):
    return ops.where(ops.less(b, a), b, a)


def maximum(a, b):
    return ops.where(ops.greater(b, a), b, a)


def clip(x, low, high):
    return minimum(maximum(x, low), high)


def where(condition, a, b):
    return ops.where(condition, a, b)


def equal(a, b):
    return ops.equal(a, b)


def logical_and(a, b):
    return ops.logical_and(a, b)
