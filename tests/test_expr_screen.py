"""Validity screening: specific reasons, and numpy and TensorFlow verdicts agree."""

from __future__ import annotations

import random
import re

import pytest

from actsearch.expr import Activation, ScreenResult, check_tf_gradient, screen
from actsearch.expr.random_tree import random_tree

GOOD = [
    "relu(x)",
    "x*sigmoid(x)",
    "tanh(x)",
    "gelu(x)",
    "x",
    "leaky_relu(x)",
    "elu(x)",
    "softplus(x)",
    "x**3 - 2*x",
    "log(1 + exp(x))",
    "sqrt(x)",
    "x*x",
]


@pytest.mark.parametrize("text", GOOD)
def test_good_activations_pass(text):
    result = screen(Activation.parse(text))
    assert isinstance(result, ScreenResult) and result.ok and result.reason is None, result.reason
    assert result.checks["finite"] and result.checks["nonconstant"]


@pytest.mark.parametrize("text", ["1", "x*0 + 1", "sin(x)**2 + cos(x)**2", "x - x"])
def test_constant_rejected(text):
    result = screen(text)
    assert not result.ok and result.reason == "constant"


def test_dead_relu_rejected_for_zero_gradient():
    result = screen("relu(x - 100)")
    assert not result.ok and result.reason == "gradient zero on 100% of [-6, 6]"
    result = screen("relu(x - 2)")
    assert re.fullmatch(r"gradient zero on 6[67]% of \[-6, 6\]", result.reason)
    assert screen("relu(x - 2)", min_nonzero_grad=0.3).ok


def test_exp_is_protected_but_flat():
    # exp clips its input at 30: exp(1000*x) is finite everywhere, but flat (clipped or ~0) on >99%
    result = screen("exp(1000*x)")
    assert result.checks["finite"] and result.checks["finite_wide"]
    assert result.reason == "gradient zero on >99% of [-6, 6]"


def test_non_finite_rejected():
    result = screen("exp(x)**3")  # e**90 overflows float32 at x ~ 29.6
    assert not result.ok and result.reason.startswith("non-finite output at x=29.")
    assert not screen("pow(x, 40)").ok  # 6**40 is fine, 50**40 overflows float32


def test_increasing_flag():
    assert screen("-x").ok
    assert screen("-x", increasing=True).reason == "not increasing: decreases on 100% of [-6, 6]"
    assert screen("x*x", increasing=True).reason == "not increasing: decreases on 50% of [-6, 6]"
    assert screen("x*sigmoid(x)", increasing=True).reason.startswith("not increasing")
    for text in ["relu(x)", "tanh(x)", "x + 0.1*sin(x)", "softplus(x)", "x**3"]:
        assert screen(text, increasing=True).ok, text


def test_probe_range_is_used():
    assert screen("relu(x - 2)", probe=(0, 12)).ok
    assert screen("x*x", probe=(0, 3), increasing=True).ok


def test_tf_gradient_check():
    assert check_tf_gradient("x*sigmoid(x)").ok
    assert not check_tf_gradient("sqrt(x - 0.006)").ok  # sqrt(|.|) at 0 is not differentiable
    assert "not differentiable" in check_tf_gradient("sqrt(x - 0.006)").reason


NAMED = GOOD + [
    "1",
    "relu(x - 100)",
    "exp(1000*x)",
    "exp(x)**3",
    "-x",
    "relu(x - 2)",
    "sin(x)",
    "log(x)",
    "x/(x + 0.5)",
    "sinc(x)",
    "hard_sigmoid(x)",
    "min(x, 0)",
    "gaussian(x)",
]


@pytest.mark.parametrize("increasing", [False, True])
def test_numpy_and_tf_agree_on_named(increasing):
    for text in NAMED:
        a = screen(text, increasing=increasing)
        b = screen(text, increasing=increasing, backend="tf")
        assert (a.ok, a.reason) == (b.ok, b.reason), (text, a.reason, b.reason)


def test_numpy_and_tf_agree_on_random_trees():
    names = [
        "exp",
        "log",
        "add",
        "sub",
        "mul",
        "neg",
        "square",
        "cube",
        "sigmoid",
        "tanh",
        "relu",
        "softplus",
        "abs",
        "max",
        "min",
        "sin",
        "gelu",
        "swish",
        "atan",
        "erf",
        "elu",
        "gaussian",
    ]
    rng = random.Random(1234)
    disagreements = []
    for _ in range(50):
        act = Activation.from_tree(random_tree(rng, names, max_depth=4))
        a, b = screen(act), screen(act, backend="tf")
        if a.ok != b.ok:
            disagreements.append((str(act), a.reason, b.reason))
    assert not disagreements
