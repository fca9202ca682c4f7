"""Property tests (hypothesis): printing round-trips, canonical forms keep values, parser never crashes."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actsearch.expr import REGISTRY, Activation, ParseError
from actsearch.expr.ast import Call, Const, Var
from actsearch.expr.fingerprint import PROBE_POINTS
from actsearch.expr.lower import eval_numpy

UNARY = sorted(n for n, p in REGISTRY.items() if p.arity == 1)
BINARY = sorted(n for n, p in REGISTRY.items() if p.arity == 2)

leaves = st.one_of(
    st.just(Var()),
    st.floats(-3, 3, allow_nan=False).map(lambda v: Const(round(v, 2))),
    st.sampled_from([Const(0.0), Const(1.0), Const(2.0), Const(-1.0), Const(0.5)]),
)


def _extend(children):
    return st.one_of(
        st.tuples(st.sampled_from(UNARY), children).map(lambda t: Call(t[0], (t[1],))),
        st.tuples(st.sampled_from(BINARY), children, children).map(lambda t: Call(t[0], (t[1], t[2]))),
    )


trees = st.recursive(leaves, _extend, max_leaves=10)
SETTINGS = settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(trees)
def test_random_trees_round_trip(tree):
    act = Activation.from_tree(tree)
    again = Activation.parse(str(act))
    assert str(again) == str(act)
    assert again.fingerprint == act.fingerprint
    assert Activation.from_tree(act.tree) == act  # canonical form is idempotent


@SETTINGS
@given(trees)
def test_canonical_form_keeps_the_function(tree):
    raw = eval_numpy(tree, PROBE_POINTS)
    canon = Activation.from_tree(tree).numpy(PROBE_POINTS)
    both = np.isfinite(raw) & np.isfinite(canon) & (np.abs(raw) < 1e6)
    # constants are kept to 6 significant digits, so allow relative error of that order
    close = np.isclose(canon[both], raw[both], rtol=1e-4, atol=1e-6)
    assert close.mean() >= 0.9 if close.size else True


OPERATOR_TEXT = st.text(alphabet="x0123456789.eE+-*/(), \t", max_size=60)
NAME_TEXT = st.lists(
    st.sampled_from(
        ["x", "1", "2.5", "+", "-", "*", "/", "**", "(", ")", ",", " ", "1e-3", "1e9"]
        + sorted(REGISTRY)
        + ["foo", "lambda", "__class__", ".", "[", "]", "'", "\0"]
    ),
    max_size=30,
).map("".join)


def _parses_or_parse_error(text):
    try:
        act = Activation.parse(text)
    except ParseError as err:
        assert isinstance(err.position, int)
        return
    assert Activation.parse(str(act)) == act


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_unicode_text_never_crashes(text):
    _parses_or_parse_error(text)


@settings(max_examples=300)
@given(OPERATOR_TEXT)
def test_operator_text_never_crashes(text):
    _parses_or_parse_error(text)


@settings(max_examples=300)
@given(NAME_TEXT)
def test_token_soup_never_crashes(text):
    _parses_or_parse_error(text)
