"""TensorFlow forms of the primitives; definitions follow the table in `primitives`.

Imported lazily (only when something is lowered to TensorFlow). Each function
is self-contained: it uses only ``tf``, the numeric constants defined at the
top of this module and other functions of this module that it names, because
the exporter copies their source text (``inspect.getsource``) into a
standalone module. Do not import anything else into a function body.
"""

import tensorflow as tf

EPS = 1e-06
EXP_MAX = 30.0
LEAKY_SLOPE = 0.01
SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
SQRT1_2 = 0.7071067811865476


def _pair(a, b):
    """Both operands as tensors of one dtype (a Python number takes the tensor's dtype)."""
    dtype = a.dtype if tf.is_tensor(a) else (b.dtype if tf.is_tensor(b) else tf.float32)
    return tf.cast(a, dtype), tf.cast(b, dtype)


def op_identity(x):
    return tf.identity(x)


def op_neg(x):
    return -x


def op_abs(x):
    return tf.abs(x)


def op_square(x):
    return x * x


def op_cube(x):
    return x * x * x


def op_sqrt(x):
    return tf.sqrt(tf.abs(x))


def op_exp(x):
    return tf.exp(tf.minimum(x, EXP_MAX))


def op_log(x):
    return tf.math.log(tf.abs(x) + EPS)


def op_sin(x):
    return tf.sin(x)


def op_cos(x):
    return tf.cos(x)


def op_sinh(x):
    return tf.sinh(tf.clip_by_value(x, -EXP_MAX, EXP_MAX))


def op_cosh(x):
    return tf.cosh(tf.clip_by_value(x, -EXP_MAX, EXP_MAX))


def op_tanh(x):
    return tf.tanh(x)


def op_asinh(x):
    return tf.math.asinh(x)


def op_atan(x):
    return tf.math.atan(x)


def op_erf(x):
    return tf.math.erf(x)


def op_sinc(x):
    zero = tf.equal(x, 0.0)
    safe = tf.where(zero, tf.ones_like(x), x)
    return tf.where(zero, tf.ones_like(x), tf.sin(safe) / safe)


def op_sigmoid(x):
    return tf.sigmoid(x)


def op_softplus(x):
    return tf.nn.softplus(x)


def op_relu(x):
    return tf.maximum(x, 0.0)


def op_min0(x):
    return tf.minimum(x, 0.0)


def op_gaussian(x):
    return tf.exp(-(x * x))


def op_gelu(x):
    return 0.5 * x * (1.0 + tf.math.erf(x * SQRT1_2))


def op_elu(x):
    return tf.where(x > 0, x, tf.math.expm1(tf.minimum(x, 0.0)))


def op_selu(x):
    return SELU_SCALE * tf.where(x > 0, x, SELU_ALPHA * tf.math.expm1(tf.minimum(x, 0.0)))


def op_swish(x):
    return x * tf.sigmoid(x)


def op_mish(x):
    return x * tf.tanh(tf.nn.softplus(x))


def op_hard_sigmoid(x):
    return tf.clip_by_value(x / 6.0 + 0.5, 0.0, 1.0)


def op_leaky_relu(x):
    return tf.where(x > 0, x, LEAKY_SLOPE * x)


def op_softsign(x):
    return x / (1.0 + tf.abs(x))


def op_add(a, b):
    a, b = _pair(a, b)
    return a + b


def op_sub(a, b):
    a, b = _pair(a, b)
    return a - b


def op_mul(a, b):
    a, b = _pair(a, b)
    return a * b


def op_div(a, b):
    a, b = _pair(a, b)
    safe = tf.where(b < 0, tf.minimum(b, -EPS), tf.maximum(b, EPS))
    return a / safe


def op_pow(a, b):
    a, b = _pair(a, b)
    base = tf.abs(a)
    base = tf.where(b < 0, tf.maximum(base, EPS), base)
    magnitude = tf.pow(base, b)
    odd = tf.logical_and(tf.equal(tf.floor(b), b), tf.equal(tf.math.floormod(b, 2.0), 1.0))
    return tf.where(tf.logical_and(a < 0, odd), -magnitude, magnitude)


def op_max(a, b):
    a, b = _pair(a, b)
    return tf.maximum(a, b)


def op_min(a, b):
    a, b = _pair(a, b)
    return tf.minimum(a, b)


def op_sigmoid_mul(a, b):
    a, b = _pair(a, b)
    return tf.sigmoid(a) * b


def op_gauss_diff(a, b):
    a, b = _pair(a, b)
    d = a - b
    return tf.exp(-(d * d))


def op_exp_abs_diff(a, b):
    a, b = _pair(a, b)
    return tf.exp(-tf.abs(a - b))
