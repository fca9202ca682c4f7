"""Canonical form, equivalences, fingerprints and the Activation API."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest
import sympy

from actsearch.expr import REGISTRY, Activation, get_primitive
from actsearch.expr.ast import Call, Const, Var
from actsearch.expr.fingerprint import PROBE_POINTS
from actsearch.expr.lower import eval_numpy
from actsearch.expr.parser import parse_tree

SAME_STRING = [
    ("x*x", "square(x)", "x**2", "pow(x, 2)", "mul(x, x)"),
    ("add(sigmoid(x), x)", "add(x, sigmoid(x))", "x + sigmoid(x)"),
    ("swish(x)", "x*sigmoid(x)", "sigmoid(x)*x", "sigmoid_mul(x, x)"),
    ("max(x, 0)", "relu(x)", "max(0, x)"),
    ("x*x*x", "cube(x)", "x**3"),
    ("(x + 1)**2", "x**2 + 2*x + 1", "(1 + x)*(x + 1)"),
    ("x*(x + 1)", "x**2 + x"),
    ("x - x + 1", "1", "x*0 + 1"),
    ("sqrt(x*x)", "abs(x)", "sqrt(x)**2"),
    ("pow(x, 0.5)", "sqrt(x)"),
    ("x/2", "0.5*x", "div(x, 2)"),
    ("-(-x)", "x", "identity(x)", "neg(neg(x))"),
    ("gauss_diff(x, 0)", "gaussian(x)"),
    ("tanh(-x)", "-tanh(x)"),
]


@pytest.mark.parametrize("group", SAME_STRING, ids=lambda g: g[0])
def test_equivalent_forms_print_the_same(group):
    acts = [Activation.parse(text) for text in group]
    assert len({str(a) for a in acts}) == 1, [str(a) for a in acts]
    assert len({a.fingerprint for a in acts}) == 1


@pytest.mark.parametrize(
    "a, b",
    [
        ("swish(x)", "x/(1 + exp(-x))"),
        ("softplus(x)", "log(1 + exp(x))"),  # differ only by the log's eps: equal at 6 digits? no -> see below
    ],
)
def test_fingerprint_of_known_identities(a, b):
    fa, fb = Activation.parse(a), Activation.parse(b)
    ya, yb = fa.numpy(PROBE_POINTS), fb.numpy(PROBE_POINTS)
    assert np.allclose(ya, yb, rtol=1e-3, atol=1e-4)


def test_fingerprints_keep_their_text_token_by_token():
    """Stores hold fingerprints and a resumed run compares new ones with them: the fast
    printing gives the text of the per-output `_token`, special values included."""
    import hashlib

    from actsearch.expr.fingerprint import _token, fingerprint_of

    rng = np.random.default_rng(7)
    special = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, -1e-320, 1e300, 999999.5, -1.0000005, 1e16])
    for i in range(400):
        values = rng.choice(special, 64) if i % 2 else rng.normal(size=64) * 10.0 ** rng.integers(-12, 12)
        text = ",".join(_token(float(v)) for v in values)
        assert fingerprint_of(values) == hashlib.sha256(text.encode("ascii")).hexdigest()[:16]
    assert Activation.parse("x * sigmoid(x)").fingerprint == "04a54c33b3acddb1"  # as printed before the fast path


def test_protected_forms_stay_opaque():
    # log(x**2) must not become 2*log(x) (not equal under log(|x| + eps))
    assert str(Activation.parse("log(x**2)")) == "log(x**2)"
    assert str(Activation.parse("exp(x)*exp(x)")) == "exp(x)**2"  # not exp(2*x): the clip differs
    assert str(Activation.parse("x/x")) == "x/x"  # div(x, x) is not 1 at x = 0
    assert str(Activation.parse("x**-1")) == "x**(-1)"


def test_different_functions_have_different_fingerprints():
    texts = [
        "x",
        "-x",
        "relu(x)",
        "x*sigmoid(x)",
        "tanh(x)",
        "sigmoid(x)",
        "x**2",
        "x**3",
        "abs(x)",
        "gelu(x)",
        "elu(x)",
        "selu(x)",
        "softplus(x)",
        "leaky_relu(x)",
        "exp(x)",
        "log(x)",
        "sin(x)",
    ]
    assert len({Activation.parse(t).fingerprint for t in texts}) == len(texts)


def test_fingerprint_is_hex16_and_handles_nonfinite():
    fp = Activation.parse("exp(x)").fingerprint
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert len(PROBE_POINTS) == 64 and PROBE_POINTS.min() == -10 and PROBE_POINTS.max() == 10
    huge = Activation.parse("exp(x)**10")  # inf at the large probes, deterministic
    assert huge.fingerprint == Activation.parse("pow(exp(x), 10)").fingerprint


def test_canonical_preserves_values():
    for text in [
        "log(1 + exp(x))",
        "(x + 1)**2 - x",
        "x*(x + 1) - sigmoid(x)*x",
        "sqrt(x*x + 1)",
        "max(x, 2*x) + min(x, 0)",
        "tanh(asinh(x))",
        "exp(-abs(x - 1))",
        "x/3 - x/7",
    ]:
        raw = eval_numpy(parse_tree(text), PROBE_POINTS)
        assert np.allclose(Activation.parse(text).numpy(PROBE_POINTS), raw, rtol=1e-6, atol=1e-9), text


def test_activation_api():
    act = Activation.parse("x * sigmoid(1.5*x) + 0.5")
    assert act.constants == (1.5, 0.5)
    assert act.parameters == (1.5, 0.5)
    assert act.primitives_used == {"add", "mul", "sigmoid"}
    assert act.uses_only(["add", "mul", "sigmoid"]) and not act.uses_only(["add"])
    assert act.complexity == 8
    assert isinstance(act.sympy(), sympy.Expr)
    assert "sigmoid" in act.latex()
    y = act.numpy(np.array([[0.0, 1.0]]))
    assert y.shape == (1, 2) and y.dtype == np.float64
    assert y[0, 0] == 0.5
    assert Activation.parse("1").numpy(np.zeros(3)).shape == (3,)
    assert pickle.loads(pickle.dumps(act)) == act
    assert repr(act) == "Activation('x*sigmoid(1.5*x) + 0.5')"
    assert Activation.parse("pow(x, 3)*2").parameters == (2.0,)  # pow exponents stay fixed
    original = Activation.parse("swish(x)")
    assert original.uses_only(["swish"], original=True) and not original.uses_only(["swish"])


def test_from_tree_matches_parse():
    tree = Call("mul", (Var(), Call("sigmoid", (Call("mul", (Const(1.5), Var())),))))
    assert Activation.from_tree(tree) == Activation.parse("x*sigmoid(1.5*x)")


def test_registry():
    assert get_primitive("exp").arity == 1 and get_primitive("add").commutative
    with pytest.raises(KeyError):
        get_primitive("nope")
    for name, p in REGISTRY.items():
        assert p.name == name and p.arity in (1, 2) and p.doc
    required = {
        "exp",
        "log",
        "add",
        "sub",
        "mul",
        "div",
        "neg",
        "square",
        "cube",
        "pow",
        "sqrt",
        "sigmoid",
        "tanh",
        "relu",
        "softplus",
        "abs",
        "min",
        "max",
        "gelu",
        "elu",
        "selu",
        "swish",
        "sin",
        "cos",
        "sinh",
        "cosh",
        "asinh",
        "atan",
        "erf",
        "sinc",
        "gaussian",
        "hard_sigmoid",
        "leaky_relu",
        "identity",
        "min0",
        "sigmoid_mul",
        "gauss_diff",
        "exp_abs_diff",
    }
    assert required <= set(REGISTRY)


def test_canonicalisation_is_fast():
    texts = [
        "x*sigmoid(1.5*x) + tanh(x)**2 - 0.5*x",
        "(x + sin(x))*(x - sin(x)) + exp(-x*x)",
        "max(x, 0.1*x) * softplus(x) - log(1 + abs(x))",
    ]
    start = time.perf_counter()
    for text in texts:
        Activation.parse(text)
    assert (time.perf_counter() - start) / len(texts) < 0.5  # generous: ~10 ms typical
