"""The one place where a candidate (string, Activation, callable or Keras
layer) becomes something a model builder can use as ``activation=``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actsearch.expr import Activation
from actsearch.expr.keras_layer import as_keras_activation

# Keras built-in activation names accepted as plain strings when the string
# is not an expression of the expression language (baselines like "relu").
_KERAS_NAMES = (
    "relu",
    "gelu",
    "elu",
    "selu",
    "silu",
    "swish",
    "tanh",
    "sigmoid",
    "softplus",
    "softsign",
    "mish",
    "leaky_relu",
    "relu6",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "linear",
    "celu",
    "log_sigmoid",
)


def resolve_activation(activation: Any, parametric: bool = False) -> Callable[..., Any]:
    """Return a callable tensor -> tensor, or a Keras ``Layer`` with trainable
    constants when ``parametric`` is true and the activation is an expression.

    Accepts an expression string (parsed by ``actsearch.expr.Activation``), an
    ``Activation``, a Keras activation name such as ``"relu"`` (used when the
    expression language does not parse it), a plain callable or a Keras layer
    (used as they are)."""
    if isinstance(activation, str):
        try:
            activation = Activation.parse(activation)
        except ValueError:
            if activation.strip() in _KERAS_NAMES:
                return _keras_activation(activation.strip())
            raise
    if isinstance(activation, Activation):
        return as_keras_activation(activation, parametric=parametric)
    if callable(activation):
        return activation
    raise TypeError(
        f"activation must be an expression string, an Activation, a callable or a "
        f"Keras layer, got {type(activation).__name__}"
    )


def _keras_activation(name: str) -> Callable[..., Any]:
    import keras

    return keras.activations.get(name)


def describe_activation(activation: Any) -> str:
    """A short label for logs and benchmark tables."""
    if isinstance(activation, str):
        return activation
    name = getattr(activation, "__name__", None)
    return name if name else str(activation)
