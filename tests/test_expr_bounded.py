"""Every expression operation is bounded: sympy runs in helper processes with a deadline."""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import numpy as np
import pytest

from actsearch.expr import Activation, bounded, screen
from actsearch.expr.ast import Call, Const, walk
from actsearch.expr.canonical import canonical, latex, light
from actsearch.expr.fingerprint import PROBE_POINTS
from actsearch.expr.lower import eval_numpy
from actsearch.expr.parser import parse_tree
from actsearch.expr.printer import to_latex
from actsearch.expr.random_tree import random_tree_of_leaves

# sympy.factor ran for minutes on these (issue 9)
SLOW = ["pow(x, softsign(abs(1.47))) + x", "selu(softplus(square(x))) + pow(x, gelu(2.12))"]
# an exact power of a huge integer: one C call that never returns
HUGE_POWER = "x * " + "square(" * 40 + "2.5" + ")" * 40
BOUND = 1.0  # seconds any one operation may take (issue 9)


@pytest.fixture(autouse=True)
def warm_helpers():
    """Time operations, not the start of the helper processes (about 0.5 s, once per process)."""
    canonical.cache_clear()
    latex.cache_clear()
    Activation.parse("x + 0.123456")


def timed(fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - start


@pytest.mark.parametrize("text", SLOW + [HUGE_POWER])
def test_slow_algebra_falls_back_within_the_bound(text):
    act, took = timed(Activation.parse, text)
    assert took < BOUND, f"parse took {took:.2f} s"
    raw = parse_tree(text)
    assert act.tree == light(raw)  # the cheap canonical form
    again = Activation.parse(str(act))  # stable and parses back
    assert again == act and str(again) == str(act)
    with np.errstate(all="ignore"):  # the same function, to the 6 digits constants keep
        assert np.allclose(act.numpy(PROBE_POINTS), eval_numpy(raw, PROBE_POINTS), rtol=1e-5, equal_nan=True)
    left, _, right = text.partition(" + ")
    if right:  # functional dedupe still works: the same function written otherwise
        assert Activation.parse(f"{right} + {left}").fingerprint == act.fingerprint
    for operation in (lambda: act.fingerprint, lambda: screen(act), act.latex):
        _, took = timed(operation)
        assert took < BOUND


def test_latex_of_a_tree_sympy_cannot_build_is_bounded_and_plain():
    act = Activation.parse(HUGE_POWER)
    text, took = timed(act.latex)
    assert took < BOUND
    assert text == to_latex(act.tree) and r"\operatorname{square}" in text


def test_fast_algebra_still_simplifies():
    assert str(Activation.parse("x + x + 0*sin(x)")) == "2*x"
    assert Activation.parse("x*sigmoid(x)").latex() == r"x \operatorname{sigmoid}\left(x\right)"


def test_bounded_from_a_thread_that_is_not_main():
    results = {}

    def work():
        results["act"], results["took"] = timed(Activation.parse, SLOW[0].replace("1.47", "1.46"))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(10)
    assert results["took"] < BOUND
    assert str(results["act"]) == "x + x**0.593496"


def test_a_helper_stuck_in_c_is_killed_and_replaced():
    """A stopped helper cannot run its interrupt handler, like one inside a long C call."""
    for helper in list(bounded._idle):
        os.kill(helper.process.pid, signal.SIGSTOP)
    killed = bounded.counts["killed"]
    act, took = timed(Activation.parse, "x + x + 0.654321")
    assert took < bounded.WALL_SECONDS + bounded.INTERRUPT_GRACE + 0.5
    assert act.tree == light(parse_tree("x + x + 0.654321"))  # exact, just not simplified
    assert str(act) != "2*x + 0.654321"
    assert bounded.counts["killed"] == killed + 1
    # the other stopped helper is killed when used; fresh helpers take over once started
    # (until then operations fall back at once rather than wait for them)
    deadline = time.monotonic() + 60
    for step in range(1000):
        constant = f"0.98{step:04d}"
        act, took = timed(Activation.parse, f"x + x + {constant}")
        assert took < bounded.WALL_SECONDS + bounded.INTERRUPT_GRACE + 0.5
        if str(act) == f"2*x + {constant}" or time.monotonic() > deadline:
            break
    assert str(act) == f"2*x + {constant}"


def test_random_tree_of_leaves_respects_its_limits():
    rng = random.Random(0)
    for _ in range(500):
        tree = random_tree_of_leaves(rng, max_leaves=10)
        leaves = [n for n in walk(tree) if not isinstance(n, Call)]
        assert 1 <= len(leaves) <= 10
        assert all(-3 <= n.value <= 3 for n in leaves if isinstance(n, Const))


def test_the_helpers_cpu_timer_interrupts_before_the_wall_clock_cap():
    tree = parse_tree(SLOW[1].replace("2.12", "2.11"))
    killed = bounded.counts["killed"]
    start = time.perf_counter()
    with pytest.raises(bounded.AlgebraTimeout):
        bounded.run("canonical", tree, seconds=0.05, wall=30)
    assert time.perf_counter() - start < 10  # far from the 30 s wall cap: the CPU timer fired
    assert bounded.counts["killed"] == killed  # interrupted, not killed: the helper is reused


def test_helpers_outlive_the_thread_that_needed_them_first():
    """Linux ends a child with the thread that started it (PR_SET_PDEATHSIG); helpers must
    not die when a short-lived caller thread (a web request) ends."""
    for helper in list(bounded._idle):  # make the thread below start fresh helpers
        bounded._idle.remove(helper)
        helper.stop()
    thread = threading.Thread(target=Activation.parse, args=("x + x + 0.111222",))
    thread.start()
    thread.join(60)
    time.sleep(0.5)
    assert bounded._idle and all(helper.process.poll() is None for helper in bounded._idle)
    assert all(helper.is_ready(wait=60) for helper in bounded._idle)
    errors = bounded.counts["error"]
    assert str(Activation.parse("x + x + 0.333444")) == "2*x + 0.333444"
    assert bounded.counts["error"] == errors
