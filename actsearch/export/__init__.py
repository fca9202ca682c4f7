"""Export an activation as a standalone TensorFlow/Keras module.

The module needs only TensorFlow and Keras. Its helper functions are the
very source of `actsearch.expr.tf_ops` (copied, not re-written), so the
exported function computes exactly what was evaluated during the search.
The function (and, for parametric activations, a Keras layer with trainable
constants) is registered for Keras serialization under a name derived from
the fingerprint, so a saved `.keras` model reloads in a fresh process once
the module is imported, without `custom_objects`, and several exported
activations can live in one program.
"""

from __future__ import annotations

from pathlib import Path

from actsearch.expr import Activation
from actsearch.expr.source import tf_source

_HEADER = '''"""Activation function discovered by actsearch.

    f(x) = {expr}

LaTeX: {latex}
Fingerprint: {fingerprint}

Usage:
    import keras
    from {module} import activation
    layer = keras.layers.Dense(64, activation=activation){layer_usage}

Saved models that use it reload after `import {module}` (it is registered
with Keras as "actsearch>{function}").
"""

import keras
import tensorflow as tf

EXPR = {expr_literal}
'''

_FUNCTION = '''

@keras.saving.register_keras_serializable(package="actsearch")
def {function}(x):
    """f(x) = {expr}"""
    x = tf.convert_to_tensor(x)
    return {code}


activation = {function}
'''

_LAYER = '''

@keras.saving.register_keras_serializable(package="actsearch")
class {layer}(keras.layers.Layer):
    """f(x) = {expr}, with its constants learned during training (one set per layer)."""

    def __init__(self, initial={initial}, **kwargs):
        super().__init__(**kwargs)
        self.initial = tuple(float(v) for v in initial)

    def build(self, input_shape):
        self.constants = [
            self.add_weight(name=f"c{{i}}", shape=(), initializer=keras.initializers.Constant(v))
            for i, v in enumerate(self.initial)
        ]

    def call(self, x):
        {unpack}
        return {code}

    def get_config(self):
        return {{**super().get_config(), "initial": list(self.initial)}}


ParametricActivation = {layer}
'''


def module_source(activation: Activation, *, parametric: bool = False, module: str = "my_activation") -> str:
    """The text of a standalone module for `activation`."""
    helpers, code = tf_source(activation)
    function = f"actsearch_{activation.fingerprint[:12]}"
    parts = [
        _HEADER.format(
            expr=activation,
            latex=activation.latex(),
            fingerprint=activation.fingerprint,
            module=module,
            function=function,
            expr_literal=repr(str(activation)),
            layer_usage=(
                "\n    # adaptive: constants learned per layer during training\n"
                f"    from {module} import ParametricActivation\n"
                "    block = [keras.layers.Dense(64), ParametricActivation()]"
            )
            if parametric and activation.parameters
            else "",
        ),
        *("\n\n" + helper.strip() + "\n" for helper in helpers),
        _FUNCTION.format(function=function, expr=activation, code=code),
    ]
    if parametric and activation.parameters:
        _, pcode = tf_source(activation, parametric=True)
        names = [f"c{i}" for i in range(len(activation.parameters))]
        parts.append(
            _LAYER.format(
                layer=f"ActsearchLayer_{activation.fingerprint[:12]}",
                expr=activation,
                initial=repr(tuple(float(c) for c in activation.parameters)),
                unpack=f"{', '.join(names)}, = self.constants",
                code=pcode,
            )
        )
    return "".join(parts).rstrip("\n") + "\n"


def write_module(activation: Activation, path: Path, *, parametric: bool = False) -> Path:
    """Write the module to `path` (its stem becomes the import name in the docstring)."""
    path = Path(path)
    path.write_text(module_source(activation, parametric=parametric, module=path.stem))
    return path
