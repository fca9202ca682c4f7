"""Keras layer for an activation expression (imports TensorFlow/Keras: import lazily).

With ``parametric=True`` every constant of the expression (except `pow`
exponents, see `Activation.parameters`) becomes a trainable scalar weight
initialised at its value: an adaptive activation that tunes its form.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import keras
import numpy as np

from .activation import Activation, parse
from .lower import parameter_slots, tf_lowering


@keras.saving.register_keras_serializable(package="actsearch")
class ActivationLayer(keras.layers.Layer):
    """Applies an actsearch expression element-wise; optionally with trainable constants."""

    def __init__(self, expr: str, parametric: bool = False, exact: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        # exact: the tree as written (prefix text), so its constants are the ones learned
        self.activation = Activation.exact(parse(expr)) if exact else Activation.parse(expr)
        self.expr = self.activation.prefix if exact else str(self.activation)
        self.exact = bool(exact)
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
        return {**super().get_config(), "expr": self.expr, "parametric": self.parametric, "exact": self.exact}


def as_keras_activation(act: Activation | str, parametric: bool = False) -> Callable[[Any], Any] | ActivationLayer:
    """A plain tensor -> tensor callable, or (parametric) a fresh `ActivationLayer`."""
    if isinstance(act, str):
        act = Activation.parse(act)
    if parametric:
        return ActivationLayer(act.prefix if act.is_exact else str(act), parametric=True, exact=act.is_exact)
    return tf_lowering(act.tree)


#: the path of a parametric activation layer's constant among a model's variables
_CONSTANT_PATH = re.compile(r"(?:^|/)(activation_layer(?:_\d+)?)/c(\d+)$")


def learned_constants(variables: Iterable[tuple[str, float]]) -> tuple[float, ...] | None:
    """What parametric activation layers learned, from a model's (variable path, value)
    pairs: each parameter's mean over the hidden layers (each trains its own), in the order
    of `Activation.parameters`; None when the model has no such layer or constant."""
    by_layer: dict[str, dict[int, float]] = {}
    for path, value in variables:
        found = _CONSTANT_PATH.search(path)
        if found:
            by_layer.setdefault(found.group(1), {})[int(found.group(2))] = float(value)
    if not by_layer:
        return None
    table = np.array([[layer[i] for i in range(len(layer))] for layer in by_layer.values()])
    return tuple(float(v) for v in table.mean(axis=0))


__all__ = ["ActivationLayer", "as_keras_activation", "learned_constants"]
