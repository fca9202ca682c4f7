"""TensorFlow namespace for `actsearch.expr.forms`: what the search trains with.

Imported lazily (only when something is lowered to TensorFlow). Also the
namespace of the `tensorflow` export: functions use only `tf` (the exporter
copies their source into the exported module).
"""

import tensorflow as tf


def asarray(x):
    """A tensor of x (identity on a tensor: an op of its own, as the search has always traced)."""
    return tf.identity(x)


def pair(a, b):
    """Both operands as tensors of one dtype (a Python number takes the tensor's dtype)."""
    dtype = a.dtype if tf.is_tensor(a) else (b.dtype if tf.is_tensor(b) else tf.float32)
    return tf.cast(a, dtype), tf.cast(b, dtype)


def zeros_like(x):
    return tf.zeros_like(x)


def ones_like(x):
    return tf.ones_like(x)


def abs(x):
    return tf.abs(x)


def sqrt(x):
    return tf.sqrt(x)


def exp(x):
    return tf.exp(x)


def expm1(x):
    return tf.math.expm1(x)


def log(x):
    return tf.math.log(x)


def sin(x):
    return tf.sin(x)


def cos(x):
    return tf.cos(x)


def tanh(x):
    return tf.tanh(x)


def sinh(x):
    return tf.sinh(x)


def cosh(x):
    return tf.cosh(x)


def asinh(x):
    return tf.math.asinh(x)


def atan(x):
    return tf.math.atan(x)


def erf(x):
    return tf.math.erf(x)


def sigmoid(x):
    return tf.sigmoid(x)


def softplus(x):
    return tf.nn.softplus(x)


def floor(x):
    return tf.floor(x)


def mod(a, b):
    return tf.math.floormod(a, b)


def power(a, b):
    return tf.pow(a, b)


def minimum(a, b):
    return tf.minimum(a, b)


def maximum(a, b):
    return tf.maximum(a, b)


def clip(x, low, high):
    return tf.clip_by_value(x, low, high)


def where(condition, a, b):
    return tf.where(condition, a, b)


def equal(a, b):
    return tf.equal(a, b)


def logical_and(a, b):
    return tf.logical_and(a, b)
