"""Loss and metric resolution (imports TensorFlow: import lazily; the trainer
and check_task use it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

CLASSIFICATION_LOSSES = ("sparse_categorical_crossentropy", "binary_crossentropy")


def _match_targets(y_true, y_pred):
    """Float targets shaped like the predictions (for binary/regression)."""
    y_true = tf.cast(y_true, y_pred.dtype)
    if y_true.shape.rank == y_pred.shape.rank - 1 and y_pred.shape[-1] == 1:
        y_true = tf.expand_dims(y_true, -1)
    return y_true


def resolve_loss(loss: str | Callable) -> Callable[[Any, Any], Any]:
    """A function (y_true, y_pred) -> scalar mean loss. Cross-entropies take
    logits (the models end with a linear layer)."""
    if callable(loss):

        def user_loss(y_true, y_pred):
            value = loss(y_true, y_pred)
            return tf.reduce_mean(value)

        return user_loss
    if loss == "sparse_categorical_crossentropy":

        def sparse_ce(y_true, y_pred):
            y_true = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
            return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y_true, logits=y_pred))

        return sparse_ce
    if loss == "binary_crossentropy":

        def binary_ce(y_true, y_pred):
            return tf.reduce_mean(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=_match_targets(y_true, y_pred), logits=y_pred)
            )

        return binary_ce
    if loss == "mse":
        return lambda y_true, y_pred: tf.reduce_mean(tf.square(y_pred - _match_targets(y_true, y_pred)))
    if loss == "mae":
        return lambda y_true, y_pred: tf.reduce_mean(tf.abs(y_pred - _match_targets(y_true, y_pred)))
    raise ValueError(f"unknown loss {loss!r}")


def accuracy(y_true, y_pred):
    """Argmax accuracy for multi-class logits, ``logit > 0`` for one output."""
    if y_pred.shape[-1] == 1:
        pred = tf.cast(y_pred[..., 0] > 0, tf.int32)
    else:
        pred = tf.argmax(y_pred, axis=-1, output_type=tf.int32)
    y_true = tf.cast(tf.reshape(y_true, tf.shape(pred)), tf.int32)
    return tf.reduce_mean(tf.cast(tf.equal(pred, y_true), tf.float32))


def resolve_metric(metric: str | Callable, loss_fn: Callable) -> Callable[[Any, Any], Any]:
    """A function (y_true, y_pred) -> scalar mean metric."""
    if callable(metric):
        return lambda y_true, y_pred: tf.cast(tf.reduce_mean(metric(y_true, y_pred)), tf.float32)
    if metric == "accuracy":
        return accuracy
    if metric == "loss":
        return loss_fn
    if metric in ("mse", "mae"):
        return resolve_loss(metric)
    raise ValueError(f"unknown metric {metric!r}")
