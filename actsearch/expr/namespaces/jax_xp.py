"""JAX namespace for `actsearch.expr.forms` (the `jax` export): usable under jit and grad.

Functions use only `jax` and `jnp` (the exporter copies their source). |x|
is x*sign(x) and min/max are written with `where`, so that gradients at kinks
follow TensorFlow's conventions (|x|' = 0 at 0, a tie's gradient to the first
operand) where JAX's own differ (1 at 0, a tie split in halves).
"""

import jax
import jax.numpy as jnp


def asarray(x):
    return jnp.asarray(x)


def pair(a, b):
    """Both operands as arrays of one dtype (a Python number takes the array's)."""
    dtype = jnp.result_type(a, b)
    return jnp.asarray(a, dtype=dtype), jnp.asarray(b, dtype=dtype)


def zeros_like(x):
    return jnp.zeros_like(x)


def ones_like(x):
    return jnp.ones_like(x)


def abs(x):
    return x * jnp.sign(x)


def sqrt(x):
    return jnp.sqrt(x)


def exp(x):
    return jnp.exp(x)


def expm1(x):
    return jnp.expm1(x)


def log(x):
    return jnp.log(x)


def sin(x):
    return jnp.sin(x)


def cos(x):
    return jnp.cos(x)


def tanh(x):
    return jnp.tanh(x)


def sinh(x):
    return jnp.sinh(x)


def cosh(x):
    return jnp.cosh(x)


def asinh(x):
    return jnp.arcsinh(x)


def atan(x):
    return jnp.arctan(x)


def erf(x):
    return jax.lax.erf(x)


def sigmoid(x):
    return jax.nn.sigmoid(x)


def softplus(x):
    return jax.nn.softplus(x)


def floor(x):
    return jnp.floor(x)


def mod(a, b):
    return jnp.mod(a, b)


def power(a, b):
    return jnp.power(a, b)


def minimum(a, b):
    return jnp.where(b < a, b, a)


def maximum(a, b):
    return jnp.where(b > a, b, a)


def clip(x, low, high):
    return minimum(maximum(x, low), high)


def where(condition, a, b):
    return jnp.where(condition, a, b)


def equal(a, b):
    return jnp.equal(a, b)


def logical_and(a, b):
    return jnp.logical_and(a, b)
