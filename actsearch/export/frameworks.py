"""The frameworks an activation is exported for, and the command that exports it.

Kept free of heavy imports: the CLI, `show` and the dashboard read these names
without loading any framework.
"""

from __future__ import annotations

import shlex
from enum import StrEnum


class Framework(StrEnum):
    """Target of `actsearch export --framework`."""

    keras = "keras"  # keras.ops: every Keras 3 backend (TensorFlow, JAX, PyTorch)
    tensorflow = "tensorflow"  # tf.*: the very operations the search trained with
    torch = "torch"  # a function and nn.Modules; needs only PyTorch
    jax = "jax"  # a function for jit and grad; constants as a pytree
    numpy = "numpy"  # the float64 reference

    @property
    def namespace(self) -> str:
        """The `actsearch.expr.namespaces` module its forms run on."""
        return self.value

    @property
    def summary(self) -> str:
        return _SUMMARY[self]


DEFAULT = Framework.keras  # registered with Keras, reloads in a fresh process, as the TF export did

_SUMMARY = {
    Framework.keras: "Keras 3, any backend",
    Framework.tensorflow: "TensorFlow + Keras",
    Framework.torch: "PyTorch",
    Framework.jax: "JAX",
    Framework.numpy: "NumPy reference",
}


def export_command(expr: str, framework: Framework | str = DEFAULT, stem: str = "activation") -> str:
    """The shell command that exports `expr` for `framework` (to `<stem>_<framework>.py`)."""
    framework = Framework(framework)
    return (
        f"actsearch export --expr {shlex.quote(expr)} --framework {framework.value} "
        f"-o {shlex.quote(f'{stem}_{framework.value}.py')}"
    )


def export_commands(expr: str, stem: str = "activation") -> dict[str, str]:
    """One export command per framework, the default first (for `show` and the dashboard)."""
    order = [DEFAULT, *(f for f in Framework if f is not DEFAULT)]
    return {f.value: export_command(expr, f, stem) for f in order}
