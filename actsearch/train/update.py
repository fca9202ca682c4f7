"""The optimizer's update inside the compiled training program.

Keras' Adam (the default optimizer of every task) updates a weight in a dozen
element-wise operations (moments, bias correction, step), each a separate
kernel run by TensorFlow's executor, and its update takes long to trace (about
0.2 s of a training's tracing, one thread). TensorFlow has the same update as ONE kernel per
weight (``ResourceApplyAdam``, the kernel behind TF1's ``tf.train.AdamOptimizer``:
the same formula, Keras' "epsilon hat" form). :func:`apply_gradients` runs it
on the Keras optimizer's own moment variables and iteration counter, so the
optimizer's state is the one Keras would have; any other optimizer, or an Adam
with options the kernel lacks (AMSGrad, weight decay, clipping, EMA, gradient
accumulation, loss scaling), goes through Keras' own ``optimizer.apply``.
The result agrees with Keras' update to float rounding
(tests/test_train_update.py).

The kernel is used where it was measured faster: when TensorFlow runs one
intra-op thread, as every worker of ours does (``execute.worker`` pins it).
There one mnist1d-mlp training took 1.13-1.39x less time. With TensorFlow's default
threads (2 on the 2-core machine), the kernel splits each small weight's update
over the threads, and a step of one training took 45% longer
(``benchmarks/train.py``, row (h)), so Keras' update stays there.

The choice is a parameter of each call (``fused``: None for that automatic
rule, True / False to force it, as benchmarks and tests do to measure both
side by side), not process state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

#: Keras Adam options the fused kernel does not implement.
_UNFUSABLE = (
    "amsgrad",
    "weight_decay",
    "clipnorm",
    "clipvalue",
    "global_clipnorm",
    "use_ema",
    "gradient_accumulation_steps",
    "loss_scale_factor",
)


def wanted(fused: bool | None = None) -> bool:
    """``fused`` if given, else the automatic rule: fused where TensorFlow runs
    one intra-op thread (where the kernel was measured faster)."""
    return fused if fused is not None else tf.config.threading.get_intra_op_parallelism_threads() == 1


def fusable(optimizer: Any, fused: bool | None = None) -> bool:
    """Whether the fused kernel will update ``optimizer``'s weights: it is
    :func:`wanted` and ``optimizer`` is a plain Keras Adam whose state we can
    update with it (and this Keras keeps that state where we expect it)."""
    return (
        wanted(fused)
        and type(optimizer) is keras.optimizers.Adam
        and not any(getattr(optimizer, name, None) for name in _UNFUSABLE)
        and hasattr(optimizer, "_momentums")
        and hasattr(optimizer, "_velocities")
        and hasattr(optimizer, "_get_variable_index")
    )


def apply_gradients(optimizer: Any, grads: Sequence[Any], variables: Sequence[Any], fused: bool | None = None) -> None:
    """``optimizer.apply(grads, variables)``, fused for a plain Adam when
    ``fused`` says so (see :func:`fusable`; traced code only)."""
    if not fusable(optimizer, fused):
        optimizer.apply(list(grads), list(variables))
        return
    step = tf.cast(optimizer.iterations + 1, tf.float32)
    lr = tf.cast(optimizer.learning_rate, tf.float32)
    beta_1, beta_2 = float(optimizer.beta_1), float(optimizer.beta_2)
    beta_1_power, beta_2_power = tf.pow(beta_1, step), tf.pow(beta_2, step)
    for grad, variable in zip(grads, variables):
        index = optimizer._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.value.handle,
            m=optimizer._momentums[index].value.handle,
            v=optimizer._velocities[index].value.handle,
            beta1_power=beta_1_power,
            beta2_power=beta_2_power,
            lr=lr,
            beta1=beta_1,
            beta2=beta_2,
            epsilon=float(optimizer.epsilon),
            grad=tf.convert_to_tensor(grad),
        )
    optimizer.iterations.assign_add(1)
