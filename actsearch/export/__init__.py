"""Export an activation as a standalone module for the user's framework.

`--framework keras` (the default) writes `keras.ops` code that runs on every
Keras 3 backend; `tensorflow` the very `tf.*` operations the search trained
with; `torch` a function and `nn.Module`s; `jax` a function for `jit` and
`grad`; `numpy` the float64 reference. Every module embeds the search's one
definition of each primitive (`actsearch.expr.forms`, copied as text with the
framework's namespace, see `source`), so it computes exactly what was
evaluated, and needs only its framework, not actsearch.

The Keras and TensorFlow modules register the function (and, for parametric
activations, a layer with trainable constants) for Keras serialization under
a name derived from the fingerprint, so a saved `.keras` model reloads in a
fresh process once the module is imported, without `custom_objects`, and
several exported activations can live in one program.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .frameworks import DEFAULT, Framework, export_command, export_commands

if TYPE_CHECKING:  # the expression language (sympy) loads only when something is written
    from actsearch.expr import Activation


def module_source(
    activation: Activation,
    *,
    framework: Framework | str = DEFAULT,
    parametric: bool = False,
    module: str = "my_activation",
) -> str:
    """The text of a standalone module for `activation`; `parametric` adds the form whose
    constants train (a Keras layer, an nn.Module with an nn.Parameter, a params dict)."""
    from .writers import module_text

    return module_text(activation, Framework(framework), parametric, module)


def write_module(
    activation: Activation, path: Path, *, framework: Framework | str = DEFAULT, parametric: bool = False
) -> Path:
    """Write the module to `path` (its stem becomes the import name in the docstring)."""
    path = Path(path)
    path.write_text(module_source(activation, framework=framework, parametric=parametric, module=path.stem))
    return path


__all__ = ["DEFAULT", "Framework", "export_command", "export_commands", "module_source", "write_module"]
