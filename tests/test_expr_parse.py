"""Parser and printer: round trips, hostile input, error positions."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from actsearch.expr import Activation, ParseError, parse
from actsearch.expr.ast import Call, Const, Var

ROUND_TRIP = [
    "x",
    "x * sigmoid(1.5*x)",
    "max(x, 0)",
    "min(x, 0)",
    "log(1 + exp(x))",
    "-x**2",
    "(-x)**2",
    "x**3 - 2*x",
    "exp(-x*x)",
    "tanh(sigmoid(exp(x)))",
    "relu(x) + 0.1*sin(x)",
    "x/(1 + abs(x))",
    "x*tanh(softplus(x))",
    "gelu(x)",
    "swish(x)",
    "x*erf(x)",
    "atan(x) + asinh(x)",
    "sinc(x)",
    "gaussian(x)",
    "hard_sigmoid(x)*x",
    "leaky_relu(x)",
    "elu(x) - selu(x)",
    "cube(x) + square(x)",
    "sqrt(x)",
    "sqrt(x*x + 1)",
    "sinh(x) - cosh(x)",
    "pow(x, 2.5)",
    "2**-x",
    "x**-1",
    "x**(x**2)",
    "(x + 1)**2",
    "x/3 + 1/7",
    "add(x, 1)",
    "mul(x, sigmoid(x))",
    "sub(div(x, 2), neg(x))",
    "sigmoid_mul(x, x)",
    "gauss_diff(x, 1)",
    "exp_abs_diff(x, -1)",
    "max(x, min(x, 0.5*x))",
    "1e-3*x + 1.5e2",
    "-(x - 1)*(x + 2)",
    "x - (x - (x - 1))",
    "exp(exp(x))",
    "log(log(x))",
    "+x",
    "- - x",
    "x * -2",
    "((x))",
    "  x\t+\n1 ",
    "softsign(x)*mish(x)",
    "cos(x)**2 + sin(x)**2",
    "x - -0.25",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_round_trip(text):
    act = Activation.parse(text)
    again = Activation.parse(str(act))
    assert str(again) == str(act)
    assert again.fingerprint == act.fingerprint
    assert again == act and hash(again) == hash(act)
    assert parse(str(act)) == act.tree  # the printer is the parser's inverse on canonical trees


def test_precedence_like_python():
    assert parse("-x**2") == Call("neg", (Call("pow", (Var(), Const(2.0))),))
    assert parse("2**3**x") == Call("pow", (Const(2.0), Call("pow", (Const(3.0), Var()))))
    assert parse("x - 1 - 2") == Call("sub", (Call("sub", (Var(), Const(1.0))), Const(2.0)))
    assert parse("-2") == Const(-2.0)
    assert parse("2**-x") == Call("pow", (Const(2.0), Call("neg", (Var(),))))
    assert parse("1e-3") == Const(0.001)
    assert parse(".5") == Const(0.5)


def test_numbers_print_canonically():
    assert str(Activation.parse("1.50*x")) == "1.5*x"
    assert str(Activation.parse("x + 2.000")) == "x + 2"
    assert str(Activation.parse("x - 0.25")) == "x - 0.25"
    assert str(Activation.parse("1.23456789*x")) == "1.23457*x"
    assert str(Activation.parse("-0.25*x")) == "-0.25*x"


HOSTILE = {
    "empty": "",
    "blank": "   ",
    "unknown name": "foo(x)",
    "unknown variable": "y + 1",
    "wrong arity": "max(x)",
    "too many args": "sigmoid(x, x)",
    "bare primitive": "sigmoid",
    "call the variable": "x(1)",
    "attribute": "x.__class__",
    "dunder": "__import__('os')",
    "subscript": "x[0]",
    "lambda": "lambda x: x",
    "keyword": "x if x else 1",
    "import": "import os",
    "string": "'x'",
    "double quotes": '"x"',
    "huge literal": "1e7*x",
    "inf literal": "1e999",
    "long digits": "9" * 400,
    "nul": "x\0",
    "non-ascii": "x + \u00e9",
    "unicode minus": "\u2212x",
    "fullwidth digit": "\uff11",
    "caret": "x^2",
    "unbalanced open": "(x + 1",
    "unbalanced close": "x + 1)",
    "implicit mul": "2x",
    "trailing op": "x +",
    "double star star": "x ** ** 2",
    "comma at top": "x, x",
    "empty call": "exp()",
    "semicolon": "x; x",
    "assignment": "x = 1",
    "floor div": "x // 2",
    "percent": "x % 2",
    "deep parens": "(" * 5000 + "x" + ")" * 5000,
    "deep parens under limit length": "(" * 1000 + "x" + ")" * 1000,
    "deep unary": "-" * 3000 + "x",
    "deep calls": "exp(" * 500 + "x" + ")" * 500,
    "long chain": "+".join(["x"] * 1500),
    "too long": "x" + " " * 5000,
}


@pytest.mark.parametrize("label", sorted(HOSTILE))
def test_hostile_input_is_a_parse_error(label):
    text = HOSTILE[label]
    start = time.perf_counter()
    with pytest.raises(ParseError) as info:
        Activation.parse(text)
    assert time.perf_counter() - start < 1.0
    err = info.value
    assert isinstance(err, ValueError)
    assert isinstance(err.position, int) and 0 <= err.position <= max(len(text), 0) + 1
    assert f"at position {err.position}" in str(err)


def test_error_positions_point_at_the_problem():
    cases = {
        "x + foo(x)": 4,
        "x.real": 1,
        "x[0]": 1,
        "2x": 1,
        "(x + 1": 6,
        "x + 1)": 5,
        "x + \u00e9": 4,
        "max(x)": 0,
        "1e7*x": 0,
        "x ^ 2": 2,
    }
    for text, position in cases.items():
        with pytest.raises(ParseError) as info:
            parse(text)
        assert info.value.position == position, (text, str(info.value))


def test_non_string_is_a_parse_error():
    with pytest.raises(ParseError):
        parse(None)  # type: ignore[arg-type]
    with pytest.raises(ParseError):
        parse(b"x")  # type: ignore[arg-type]


def test_from_tree_validates():
    with pytest.raises(ParseError):
        Activation.from_tree(Call("nope", (Var(),)))
    with pytest.raises(ParseError):
        Activation.from_tree(Call("add", (Var(),)))
    with pytest.raises(ParseError):
        Activation.from_tree(Const(float("nan")))
    with pytest.raises(ParseError):
        Activation.from_tree(Const(1e9))
    deep = Var()
    for _ in range(200):
        deep = Call("tanh", (deep,))
    with pytest.raises(ParseError):
        Activation.from_tree(deep)


def test_import_does_not_load_tensorflow():
    code = (
        "import sys, actsearch.expr as e; e.Activation.parse('x*sigmoid(x)').fingerprint; "
        "e.screen('relu(x)'); print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
