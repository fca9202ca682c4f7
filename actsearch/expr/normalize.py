"""Standardised activations: one function per class of output scale, sign and shift.

A network cannot tell f from a*f + b: the next layer's weights and bias absorb
the scale, the sign and the shift. So a space with `normalize: true` trains
every candidate as its standardised form under N(0, 1) inputs,

    g(x) = sign * (f(x) - mean) / std,   mean, std of f(X) with X ~ N(0, 1),

(in the spirit of AQuaSurF), and two candidates that differ only by output
scale, sign or shift get the same g, the same fingerprint, and one training.

- The moments are computed once per candidate by Gauss–Hermite quadrature
  (64 nodes, exact for polynomials up to degree 127, deterministic).
- The sign is made canonical through the Hermite projections of g,
  c_k = E[g(X) He_k(X)] for k = 1, 2, 3, ...: the first one that is not
  (numerically) zero is made positive. So an increasing-ish g correlates
  positively with x, an even g with x**2 - 1, and so on.
- The fingerprint is taken on the exact standardised outputs, not on the
  expression with its printed (6 significant digit) constants, so c*f and f
  agree to the fingerprint's digits.
- The trained activation is the expression `a*f(x) + b` with the constants
  rounded as printed: the stored string is exactly the function trained.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activation import Activation
from .ast import Call, Const, Node
from .fingerprint import fingerprint_of

QUADRATURE_NODES = 64
HERMITE_ORDERS = 6
_ZERO = 1e-6


def _quadrature() -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.hermite_e.hermegauss(QUADRATURE_NODES)
    return nodes, weights / weights.sum()  # E[h(X)] = sum(w * h(nodes)) for X ~ N(0, 1)


_NODES, _WEIGHTS = _quadrature()
#: He_1 .. He_HERMITE_ORDERS on the nodes (computed once: the same arrays every call)
_BASES = [np.polynomial.hermite_e.hermeval(_NODES, [0] * order + [1]) for order in range(1, HERMITE_ORDERS + 1)]


@dataclass(frozen=True)
class Standardised:
    """The standardised form of an activation: the expression to train and its fingerprint."""

    activation: Activation
    fingerprint: str
    mean: float
    std: float
    sign: int


@dataclass(frozen=True)
class Moments:
    """What standardising an activation takes, without building its expression: the
    mean, spread and sign under N(0, 1) inputs, and the standardised fingerprint."""

    fingerprint: str
    mean: float
    std: float
    sign: int

    def tree(self, node: Node) -> Node:
        """The standardised expression of the activation whose tree is `node`."""
        scale = self.sign / self.std
        return Call("add", (Call("mul", (Const(scale), node)), Const(-scale * self.mean)))


def moments(activation: Activation) -> Moments | None:
    """`activation`'s moments and standardised fingerprint; None when its moments are not
    finite or its spread is (numerically) zero."""
    with np.errstate(all="ignore"):
        values = activation.numpy(_NODES)
        mean = float(_WEIGHTS @ values)
        std = float(np.sqrt(_WEIGHTS @ (values - mean) ** 2))
    if not (np.isfinite(mean) and np.isfinite(std)) or std < _ZERO * max(1.0, abs(mean)):
        return None
    if abs(mean) < 1e-9 * std:
        mean = 0.0  # an odd function: keep quadrature round-off out of the expression
    sign = _canonical_sign((values - mean) / std)
    scale = sign / std
    with np.errstate(all="ignore"):
        exact = scale * (activation.probe_outputs - mean)
    return Moments(fingerprint_of(exact), mean, std, sign)


def standardise(activation: Activation, *, simplify: bool = True) -> Standardised | None:
    """`activation` as sign * (f - mean) / std under N(0, 1) inputs; None when its moments are
    not finite or its spread is (numerically) zero. `simplify=False`: the standardised
    expression in light form only (see `Activation.from_tree`)."""
    found = moments(activation)
    if found is None:
        return None
    standard = Activation.from_tree(found.tree(activation.tree), simplify=simplify)
    return Standardised(standard, found.fingerprint, found.mean, found.std, found.sign)


def _canonical_sign(standardised: np.ndarray) -> int:
    """+1 or -1: the sign making the first clearly non-zero Hermite projection positive."""
    for basis in _BASES:
        projection = float(_WEIGHTS @ (standardised * basis))
        if abs(projection) > 1e-3:
            return 1 if projection > 0 else -1
    return 1
