"""Lowering trees to callables by our own walk (never eval): every primitive runs
its one definition in `forms`, on the namespace of the target framework."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .ast import Call, Const, Node, Var, has_var
from .primitives import REGISTRY


def eval_numpy(node: Node, x: Any) -> np.ndarray:
    """Outputs of the tree on `x` as a float64 array of x's shape (inf/nan, never warnings)."""
    x = np.asarray(x, dtype=np.float64)

    def run(n: Node) -> Any:
        if isinstance(n, Var):
            return x
        if isinstance(n, Const):
            return np.float64(n.value)
        return REGISTRY[n.name].numpy(*(run(arg) for arg in n.args))

    with np.errstate(all="ignore"):
        out = run(node)
        return np.array(np.broadcast_to(np.asarray(out, dtype=np.float64), x.shape))


def eval_gradient(node: Node, x: Any) -> tuple[np.ndarray, np.ndarray]:
    """(outputs, d outputs / dx) on `x` in float64, by forward-mode derivatives through
    the same forms (`namespaces.dual_xp`): the reference gradient of the exports."""
    from .namespaces import dual_xp

    x = np.asarray(x, dtype=np.float64)

    def run(n: Node) -> Any:
        if isinstance(n, Var):
            return dual_xp.Dual(x, np.ones_like(x))
        if isinstance(n, Const):
            return float(n.value)
        return REGISTRY[n.name].form(dual_xp, *(run(arg) for arg in n.args))

    with np.errstate(all="ignore"):
        out = run(node)
        value = out.value if isinstance(out, dual_xp.Dual) else out
        grad = out.grad if isinstance(out, dual_xp.Dual) else np.zeros_like(x)
        return (
            np.array(np.broadcast_to(np.asarray(value, dtype=np.float64), x.shape)),
            np.array(np.broadcast_to(np.asarray(grad, dtype=np.float64), x.shape)),
        )


def tf_lowering(node: Node, parameters: dict[int, Any] | None = None) -> Callable[[Any], Any]:
    """A tensor -> tensor function computing the tree with the forms on `tensorflow_xp`.

    `parameters` maps the index of a constant (in tree order, see `parameter_slots`)
    to a tensor/variable used in place of that constant (parametric activations)."""
    import tensorflow as tf

    parameters = parameters or {}
    slots = parameter_slots(node)
    depends_on_x = has_var(node)

    def activation(x: Any) -> Any:
        x = tf.convert_to_tensor(x)
        counter = iter(range(len(slots)))

        def run(n: Node) -> Any:
            if isinstance(n, Var):
                return x
            if isinstance(n, Const):
                slot = next(counter)
                if slot in parameters:
                    return tf.cast(tf.convert_to_tensor(parameters[slot]), x.dtype)
                return tf.constant(n.value, dtype=x.dtype)
            return REGISTRY[n.name].tf(*(run(arg) for arg in n.args))

        out = run(node)
        return out if depends_on_x else out + tf.zeros_like(x)

    return activation


def parameter_slots(node: Node) -> list[bool]:
    """For each constant in tree order: whether it may become a trainable parameter.

    Exponents of `pow` stay fixed: training them would switch the protected
    definition between its integer and |a|**b branches."""
    slots: list[bool] = []

    def visit(n: Node, is_exponent: bool) -> None:
        if isinstance(n, Const):
            slots.append(not is_exponent)
        elif isinstance(n, Call):
            for i, arg in enumerate(n.args):
                visit(arg, n.name == "pow" and i == 1 and isinstance(arg, Const))

    visit(node, False)
    return slots
