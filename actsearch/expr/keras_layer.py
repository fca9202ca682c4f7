"""Keras layer for an activation expression (imports TensorFlow/Keras: import lazily).

With ``parametric=True`` every constant of the expression (except `pow`
exponents, see `Activation.parameters`) becomes a trainable scalar weight
initialised at its value: an adaptive activation that tunes its form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from .activation import Activation
from .lower import parameter_slots, tf_lowering


@keras.saving.register_keras_serializable(package="actsearch")
class ActivationLayer(keras.layers.Layer):
    """Applies an actsearch expression element-wise; optionally with trainable constants."""

    def __init__(self, expr: str, parametric: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.activation = Activation.parse(expr)
        self.expr = str(self.activation)
        self.parametric = bool(parametric)
        self.constants: list[Any] = []
        if self.parametric:
            for i, value in enumerate(self.activation.parameters):
                self.constants.append(
                    self.add_weight(
                        name=f"c{i}",
                        shape=(),
                        initializer=keras.initializers.Constant(value),
                        trainable=True,
                    )
                )
        self._fn = self._build_fn()

    def _build_fn(self) -> Callable[[Any], Any]:
        if not self.parametric:
            return tf_lowering(self.activation.tree)
        free = [i for i, is_free in enumerate(parameter_slots(self.activation.tree)) if is_free]
        return tf_lowering(self.activation.tree, dict(zip(free, self.constants)))

    def call(self, inputs: Any) -> Any:
        return self._fn(inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "expr": self.expr, "parametric": self.parametric}


def as_keras_activation(act: Activation | str, parametric: bool = False) -> Callable[[Any], Any] | ActivationLayer:
    """A plain tensor -> tensor callable, or (parametric) a fresh `ActivationLayer`."""
    if isinstance(act, str):
        act = Activation.parse(act)
    if parametric:
        return ActivationLayer(str(act), parametric=True)
    return tf_lowering(act.tree)


__all__ = ["ActivationLayer", "as_keras_activation"]
