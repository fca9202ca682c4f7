"""The primitives, defined ONCE against an array namespace `xp`.

Every lowering computes a primitive through the very function below: the
search's numpy (float64) evaluation with `namespaces.numpy_xp`, its TensorFlow
evaluation with `namespaces.tensorflow_xp`, and every exported module, whose
source embeds these functions (the exporter copies their text, drops the `xp`
parameter and adds the target framework's namespace, see `actsearch.export`).
So an exported activation computes what the search evaluated, in any framework.

Rules for this module (the exporter relies on them): a function is named
`op_<primitive>`, takes `xp` first, uses only `xp.<operation>`, Python
operators, the constants imported from `protect` and other `op_` functions
(called with `xp` first). Operations a namespace must provide: asarray, pair,
zeros_like, ones_like, abs, sqrt, exp, expm1, log, sin, cos, tanh, sinh, cosh,
asinh, atan, erf, sigmoid, softplus, floor, mod, power, minimum, maximum,
clip, where, equal, logical_and. Gradients follow TensorFlow's conventions at
kinks (|x|' = 0 at 0; min/max give a tie's gradient to the first operand;
clip passes it at the bounds); the namespaces of other frameworks are written
to match, so gradients agree too.

The definitions are tabled in `primitives`; the numbers live in `protect`.
"""

from .protect import EPS, EXP_MAX, LEAKY_SLOPE, SELU_ALPHA, SELU_SCALE, SQRT1_2

# -- unary ---------------------------------------------------------------------------


def op_identity(xp, x):
    return xp.asarray(x)


def op_neg(xp, x):
    return -x


def op_abs(xp, x):
    return xp.abs(x)


def op_square(xp, x):
    return x * x


def op_cube(xp, x):
    return x * x * x


def op_sqrt(xp, x):
    """sqrt(|x|): defined everywhere; not differentiable at 0, like sqrt."""
    return xp.sqrt(xp.abs(x))


def op_exp(xp, x):
    """exp(min(x, EXP_MAX)): no overflow to inf in float32."""
    return xp.exp(xp.minimum(x, EXP_MAX))


def op_log(xp, x):
    """log(|x| + EPS): finite everywhere, log(0) = log(EPS)."""
    return xp.log(xp.abs(x) + EPS)


def op_sin(xp, x):
    return xp.sin(x)


def op_cos(xp, x):
    return xp.cos(x)


def op_sinh(xp, x):
    return xp.sinh(xp.clip(x, -EXP_MAX, EXP_MAX))


def op_cosh(xp, x):
    return xp.cosh(xp.clip(x, -EXP_MAX, EXP_MAX))


def op_tanh(xp, x):
    return xp.tanh(x)


def op_asinh(xp, x):
    return xp.asinh(x)


def op_atan(xp, x):
    return xp.atan(x)


def op_erf(xp, x):
    return xp.erf(x)


def op_sinc(xp, x):
    """sin(x)/x with sinc(0) = 1; the division never sees 0, so its gradient stays finite."""
    zero = xp.equal(x, 0.0)
    safe = xp.where(zero, xp.ones_like(x), x)
    return xp.where(zero, xp.ones_like(x), xp.sin(safe) / safe)


def op_sigmoid(xp, x):
    return xp.sigmoid(x)


def op_softplus(xp, x):
    return xp.softplus(x)


def op_relu(xp, x):
    return xp.maximum(x, 0.0)


def op_min0(xp, x):
    return xp.minimum(x, 0.0)


def op_gaussian(xp, x):
    return xp.exp(-(x * x))


def op_gelu(xp, x):
    """The exact form x/2 * (1 + erf(x/sqrt(2))), not the tanh approximation."""
    return 0.5 * x * (1.0 + xp.erf(x * SQRT1_2))


def op_elu(xp, x):
    return xp.where(x > 0, x, xp.expm1(xp.minimum(x, 0.0)))


def op_selu(xp, x):
    return SELU_SCALE * xp.where(x > 0, x, SELU_ALPHA * xp.expm1(xp.minimum(x, 0.0)))


def op_swish(xp, x):
    return x * xp.sigmoid(x)


def op_mish(xp, x):
    return x * xp.tanh(xp.softplus(x))


def op_hard_sigmoid(xp, x):
    return xp.clip(x / 6.0 + 0.5, 0.0, 1.0)


def op_leaky_relu(xp, x):
    return xp.where(x > 0, x, LEAKY_SLOPE * x)


def op_softsign(xp, x):
    return x / (1.0 + xp.abs(x))


# -- binary (operands made arrays of one dtype first: a number takes the other's) ---------


def op_add(xp, a, b):
    a, b = xp.pair(a, b)
    return a + b


def op_sub(xp, a, b):
    a, b = xp.pair(a, b)
    return a - b


def op_mul(xp, a, b):
    a, b = xp.pair(a, b)
    return a * b


def op_div(xp, a, b):
    """a / b with |b| clamped to >= EPS, sign kept: exact whenever |b| >= EPS; div(a, 0) = a/EPS."""
    a, b = xp.pair(a, b)
    safe = xp.where(b < 0, xp.minimum(b, -EPS), xp.maximum(b, EPS))
    return a / safe


def op_pow(xp, a, b):
    """s * m**b: m = |a| (clamped to >= EPS when b < 0), s = -1 if a < 0 and b is an odd integer.
    The real a**b for integer b and for a > 0; |a|**b for fractional b (never NaN)."""
    a, b = xp.pair(a, b)
    base = xp.abs(a)
    base = xp.where(b < 0, xp.maximum(base, EPS), base)
    magnitude = xp.power(base, b)
    odd = xp.logical_and(xp.equal(xp.floor(b), b), xp.equal(xp.mod(b, 2.0), 1.0))
    return xp.where(xp.logical_and(a < 0, odd), -magnitude, magnitude)


def op_max(xp, a, b):
    a, b = xp.pair(a, b)
    return xp.maximum(a, b)


def op_min(xp, a, b):
    a, b = xp.pair(a, b)
    return xp.minimum(a, b)


def op_sigmoid_mul(xp, a, b):
    a, b = xp.pair(a, b)
    return xp.sigmoid(a) * b


def op_gauss_diff(xp, a, b):
    a, b = xp.pair(a, b)
    d = a - b
    return xp.exp(-(d * d))


def op_exp_abs_diff(xp, a, b):
    a, b = xp.pair(a, b)
    return xp.exp(-xp.abs(a - b))
