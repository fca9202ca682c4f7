"""The expression language: primitive registry, AST, safe parser, canonical
form, fingerprint and validity screening.

Importing this package never imports TensorFlow; the TensorFlow forms load on
first use (`Activation.tf_function`, `actsearch.expr.keras_layer`).

    >>> from actsearch.expr import Activation
    >>> act = Activation.parse("x * sigmoid(1.5*x)")
    >>> str(act), act.complexity
    ('x*sigmoid(1.5*x)', 6)

`parse(text)` returns the raw AST (a `Node`); `Activation.parse(text)` the
canonical activation.
"""

from .activation import Activation, parse
from .parser import ParseError
from .primitives import REGISTRY, Primitive, get_primitive
from .screen import ScreenResult, check_tf_gradient, screen

__all__ = [
    "Activation",
    "ParseError",
    "Primitive",
    "REGISTRY",
    "ScreenResult",
    "check_tf_gradient",
    "get_primitive",
    "parse",
    "screen",
]
