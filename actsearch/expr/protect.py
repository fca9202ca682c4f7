"""Numbers that define the protected primitives (see the table in `primitives`).

Kept in one tiny module so the numpy forms, the TensorFlow forms and the
exported source all read the very same values.
"""

EPS = 1e-6  # log(|x| + EPS); |denominator| of div clamped to >= EPS; pow base clamped to >= EPS for b < 0
EXP_MAX = 30.0  # exp clips its input at EXP_MAX; sinh/cosh clip to [-EXP_MAX, EXP_MAX]
LEAKY_SLOPE = 0.01  # leaky_relu slope for x <= 0
SELU_ALPHA = 1.6732632423543772  # selu constants (Klambauer et al. 2017)
SELU_SCALE = 1.0507009873554805
SQRT1_2 = 0.7071067811865476  # 1/sqrt(2), for the exact erf form of gelu
FLOAT32_MAX = 3.4028234663852886e38  # beyond this a float32 network sees inf

CONSTANTS = {
    "EPS": EPS,
    "EXP_MAX": EXP_MAX,
    "LEAKY_SLOPE": LEAKY_SLOPE,
    "SELU_ALPHA": SELU_ALPHA,
    "SELU_SCALE": SELU_SCALE,
    "SQRT1_2": SQRT1_2,
}
