"""The Max/Min shortcut answers exactly as sympy does, so canonical forms do not change."""

from __future__ import annotations

import random

import sympy
from sympy.functions.elementary.miscellaneous import MinMaxBase

from actsearch.expr import order_probe
from actsearch.expr.canonical import to_sympy
from actsearch.expr.parser import parse_tree
from actsearch.expr.random_tree import random_tree_of_leaves
from actsearch.expr.sym import OPAQUE, X


def test_surely_unordered_needs_both_signs_clearly():
    assert order_probe.surely_unordered(X, sympy.Integer(0))
    assert order_probe.surely_unordered(sympy.sin(X), sympy.Rational(1, 2))
    assert not order_probe.surely_unordered(X**2, sympy.Integer(0))  # never below
    assert not order_probe.surely_unordered(OPAQUE["sigmoid"](X), sympy.Integer(0))  # opaque, but positive
    assert not order_probe.surely_unordered(X, X)
    assert not order_probe.surely_unordered(X + sympy.Rational(1, 10**9), X)  # within the margin
    assert not order_probe.surely_unordered(X, sympy.Symbol("y", real=True))  # not ours: sympy decides


def test_sympy_still_decides_ordered_pairs():
    order_probe.install()
    assert sympy.Max(X, X + 1) == X + 1
    assert sympy.Max(X**2, 0) == X**2
    assert sympy.Min(sympy.Abs(X), -1) == -1
    assert isinstance(sympy.Max(X, sympy.sin(X)), sympy.Max)


def test_install_is_idempotent():
    order_probe.install()
    order_probe.install()
    assert MinMaxBase.__dict__["_is_connected"].__func__ is order_probe._is_connected


def test_the_shortcut_gives_sympys_answer_on_random_pairs():
    """Pairs of random subtrees (the fuzz's distribution): every pair the probe settles is
    one sympy calls unconnected; the answer of the patched method is sympy's."""
    rng = random.Random(7)
    exprs = []
    while len(exprs) < 80:
        tree = random_tree_of_leaves(rng, max_leaves=6, const_range=(-3.0, 3.0))
        try:
            exprs.append(to_sympy(tree))
        except (ValueError, TypeError, ZeroDivisionError, OverflowError):
            continue
    exprs += [to_sympy(parse_tree(text)) for text in ("x", "relu(x)", "x*x", "abs(x) - 1", "-1.5", "tanh(x)")]
    settled = 0
    for a, b in zip(exprs, exprs[1:] + exprs[:1]):
        expected = order_probe._sympy_is_connected(sympy.Max, a, b)  # Max, Min or a bool
        assert order_probe._is_connected(sympy.Max, a, b) == expected, (a, b)
        if order_probe.surely_unordered(a, b):
            settled += 1
            assert expected is False, (a, b)
    assert settled > 40  # the shortcut is taken for most pairs
