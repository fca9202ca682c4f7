"""Standardised activations: output scale, sign and shift variants are one function."""

from __future__ import annotations

import numpy as np
import pytest

from actsearch.expr import Activation
from actsearch.expr.normalize import standardise


def std(text: str):
    result = standardise(Activation.parse(text))
    assert result is not None, text
    return result


@pytest.mark.parametrize(
    "family",
    [
        ["x**2", "-x**2", "3*x**2 + 2", "0.5 - 0.25*x**2"],
        ["relu(x)", "-2*relu(x) + 1", "relu(x)*0.1"],
        ["tanh(x)", "-tanh(x)", "4*tanh(x) - 7"],
        ["exp(x)", "0.5*exp(x) - 3"],
    ],
)
def test_scale_sign_and_shift_variants_share_one_fingerprint(family: list[str]) -> None:
    assert len({std(text).fingerprint for text in family}) == 1


def test_different_shapes_keep_different_fingerprints() -> None:
    shapes = ["x**2", "relu(x)", "relu(-x)", "tanh(x)", "x*sigmoid(x)", "abs(x)", "exp(x)", "x"]
    assert len({std(text).fingerprint for text in shapes}) == len(shapes)


def test_the_trained_expression_has_mean_zero_and_unit_spread_under_normal_inputs() -> None:
    x = np.random.default_rng(0).normal(size=400_000)
    for text in ("x*sigmoid(x)", "-3*x**2 + 1", "exp(x)", "relu(x) - 2"):
        y = std(text).activation.numpy(x)
        assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.03, text


def test_sign_is_canonical_through_hermite_projections() -> None:
    x = np.linspace(-3, 3, 61)
    assert np.all(np.diff(std("-tanh(x)").activation.numpy(x)) > 0)  # odd: correlates positively with x
    g = std("-x**2").activation  # even: positive projection on x**2 - 1
    assert g.numpy(np.array([2.0]))[0] > g.numpy(np.array([0.0]))[0]
    assert str(std("tanh(x)").activation) == "1.59254*tanh(x)"  # an odd function gets no shift


def test_constant_functions_cannot_be_standardised() -> None:
    assert standardise(Activation.parse("3")) is None
    assert standardise(Activation.parse("x*0 + 2")) is None
