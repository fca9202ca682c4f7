"""Module text for each framework: a docstring with the formula and usage, the
helpers from `source` (the search's own definitions), and the framework's
entry points. Writers only produce text: no framework is imported here."""

from __future__ import annotations

from collections.abc import Callable

from actsearch.expr import Activation

from .frameworks import Framework
from .source import Source, source

_DOC = '''r"""Activation function discovered by actsearch, for {summary}.

    f(x) = {expr}

LaTeX: {latex}
Fingerprint: {fingerprint}

Every primitive is computed by the definition the search evaluated (protected
log, exp, division and power included): the `op_` functions below are copied
from actsearch's forms, written against the namespace `xp`. The module needs
only {needs}.

Usage:
{usage}
{after}"""

{imports}
EXPR = {expr_literal}
'''


def _doc(
    act: Activation, src: Source, framework: Framework, needs: str, usage: str, after: str = "", imports: str = ""
) -> str:
    return _DOC.format(
        summary=framework.summary,
        expr=act,
        latex=act.latex(),
        fingerprint=act.fingerprint,
        needs=needs,
        usage="\n".join("    " + line if line else "" for line in usage.strip("\n").splitlines()),
        after=after,
        imports=imports + src.imports,
        expr_literal=repr(str(act)),
    )


def _unpack(src: Source) -> str:
    names = [f"c{i}" for i in range(len(src.parameters))]
    return ", ".join(names) + ("," if len(names) == 1 else "")


# -- Keras (keras.ops) and TensorFlow: a registered function and a parametric layer ----------

_KERAS_FUNCTION = '''

@keras.saving.register_keras_serializable(package="actsearch")
def {function}(x):
    """f(x) = {expr}"""
    x = xp.asarray(x)
    return {code}


activation = {function}
'''

_KERAS_LAYER = '''

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
        x = xp.asarray(x)
        {unpack} = ({cast} for c in self.constants)
        return {code}

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {{**super().get_config(), "initial": list(self.initial)}}


ParametricActivation = {layer}
'''


def _keras_like(act: Activation, parametric: bool, module: str, framework: Framework) -> str:
    src = source(act, framework.namespace)
    function = f"actsearch_{act.fingerprint[:12]}"
    usage = f"""
import keras
from {module} import activation
layer = keras.layers.Dense(64, activation=activation)
"""
    if parametric and src.parametric_code:
        usage += f"""# adaptive: constants learned per layer during training
from {module} import ParametricActivation
block = [keras.layers.Dense(64), ParametricActivation()]
"""
    after = f"""
Saved models that use it reload after `import {module}` (it is registered
with Keras as "actsearch>{function}").
"""
    if framework is Framework.keras:
        needs = "Keras 3, on any backend (KERAS_BACKEND=tensorflow, jax or torch)"
        cast = "ops.cast(c, x.dtype)"
    else:
        needs = "TensorFlow (and the Keras it ships with)"
        cast = "tf.cast(c, x.dtype)"
    parts = [
        _doc(act, src, framework, needs, usage, after, "" if framework is Framework.keras else "import keras\n"),
        "\n" + src.helpers,
        _KERAS_FUNCTION.format(function=function, expr=act, code=src.code),
    ]
    if parametric and src.parametric_code:
        parts.append(
            _KERAS_LAYER.format(
                layer=f"ActsearchLayer_{act.fingerprint[:12]}",
                expr=act,
                initial=repr(src.parameters),
                unpack=_unpack(src),
                cast=cast,
                code=src.parametric_code,
            )
        )
    return "".join(parts)


# -- PyTorch: a function, a module, and a module with nn.Parameter constants ---------------

_TORCH = '''

def activation(x):
    """f(x) = {expr}"""
    x = xp.asarray(x)
    return {code}


class Activation(torch.nn.Module):
    """f(x) = {expr}, as a module (no parameters)."""

    def forward(self, x):
        return activation(x)

    def extra_repr(self):
        return "f(x) = " + EXPR
'''

_TORCH_PARAMETRIC = '''

INITIAL = {initial}


class ParametricActivation(torch.nn.Module):
    """f(x) = {expr}, its constants ({names}) one nn.Parameter learned in training."""

    def __init__(self, initial=INITIAL):
        super().__init__()
        self.constants = torch.nn.Parameter(torch.tensor([float(v) for v in initial]))

    def forward(self, x):
        x = xp.asarray(x)
        {unpack} = self.constants.to(dtype=x.dtype, device=x.device)
        return {code}

    def extra_repr(self):
        return "f(x) = " + EXPR
'''


def _torch(act: Activation, parametric: bool, module: str) -> str:
    src = source(act, Framework.torch.namespace)
    usage = f"""
import torch
from {module} import Activation, activation
y = activation(torch.linspace(-3, 3, 7))
model = torch.nn.Sequential(torch.nn.Linear(4, 64), Activation(), torch.nn.Linear(64, 1))
"""
    if parametric and src.parametric_code:
        usage += f"""# adaptive: its constants are an nn.Parameter the optimizer trains
from {module} import ParametricActivation
model = torch.nn.Sequential(torch.nn.Linear(4, 64), ParametricActivation(), torch.nn.Linear(64, 1))
"""
    parts = [_doc(act, src, Framework.torch, "PyTorch", usage), "\n" + src.helpers]
    parts.append(_TORCH.format(expr=act, code=src.code))
    if parametric and src.parametric_code:
        names = _unpack(src).rstrip(",")
        parts.append(
            _TORCH_PARAMETRIC.format(
                expr=act, initial=repr(src.parameters), names=names, unpack=_unpack(src), code=src.parametric_code
            )
        )
    return "".join(parts)


# -- JAX and NumPy: a function; parametric constants as a dict (a pytree for JAX) ------------

_PLAIN = '''

def activation(x):
    """f(x) = {expr}{note}"""
    x = xp.asarray(x)
{body}
'''

_PARAMS = '''

PARAMS = {params}  # the constants' initial values{pytree}


def parametric_activation(params, x):
    """f(x) = {expr} with the constants taken from `params` (keys {names})."""
    {unpack} = ({getters})
    x = xp.asarray(x)
{body}
'''


def _functional(act: Activation, parametric: bool, module: str, framework: Framework) -> str:
    src = source(act, framework.namespace)
    if framework is Framework.jax:
        needs, note = "JAX", " (usable under jax.jit, jax.grad and jax.vmap)"
        usage = f"""
import jax, jax.numpy as jnp
from {module} import activation
y = jax.jit(activation)(jnp.linspace(-3.0, 3.0, 7))
dy = jax.vmap(jax.grad(activation))(jnp.linspace(-3.0, 3.0, 7))
"""
        if parametric and src.parametric_code:
            usage += f"""# adaptive: the constants are a pytree (a dict of arrays) to train with the model's
from {module} import PARAMS, parametric_activation
params = jax.tree_util.tree_map(jnp.asarray, PARAMS)
grads = jax.grad(lambda p, x: parametric_activation(p, x).sum())(params, jnp.ones(3))
"""

        def body(code: str) -> str:
            return f"    return {code}"

        pytree = "; a pytree: jax.tree_util.tree_map(jnp.asarray, PARAMS)"
    else:
        needs, note = "NumPy", " in float64: the reference numbers of the search"
        usage = f"""
import numpy as np
from {module} import activation
y = activation(np.linspace(-3, 3, 7))
"""
        if parametric and src.parametric_code:
            usage += f"""from {module} import PARAMS, parametric_activation
y = parametric_activation({{**PARAMS, "c0": 1.0}}, np.linspace(-3, 3, 7))
"""

        def body(code: str) -> str:
            return f'    with np.errstate(all="ignore"):  # overflow gives inf, not a warning\n        return {code}'

        pytree = ""
    parts = [_doc(act, src, framework, needs, usage), "\n" + src.helpers]
    parts.append(_PLAIN.format(expr=act, note=note, body=body(src.code)))
    if parametric and src.parametric_code:
        names = [f"c{i}" for i in range(len(src.parameters))]
        parts.append(
            _PARAMS.format(
                params="{" + ", ".join(f'"{n}": {v!r}' for n, v in zip(names, src.parameters)) + "}",
                pytree=pytree,
                expr=act,
                names=", ".join(names),
                unpack=_unpack(src),
                getters=", ".join(f'params["{n}"]' for n in names) + ("," if len(names) == 1 else ""),
                body=body(src.parametric_code),
            )
        )
    return "".join(parts)


_WRITERS: dict[Framework, Callable[[Activation, bool, str], str]] = {
    Framework.keras: lambda a, p, m: _keras_like(a, p, m, Framework.keras),
    Framework.tensorflow: lambda a, p, m: _keras_like(a, p, m, Framework.tensorflow),
    Framework.torch: _torch,
    Framework.jax: lambda a, p, m: _functional(a, p, m, Framework.jax),
    Framework.numpy: lambda a, p, m: _functional(a, p, m, Framework.numpy),
}


def module_text(act: Activation, framework: Framework, parametric: bool, module: str) -> str:
    """The standalone module for `act` in `framework` (see `actsearch.export.module_source`)."""
    return _WRITERS[framework](act, parametric, module).rstrip("\n") + "\n"
