"""Statistics of `validate` against published and hand-computed values."""

from __future__ import annotations

import pytest

from actsearch.stats import beats, holm, mean_interval, welch

# Welch's t-test, example 1 of the Wikipedia article (values from Fagerland & Sandvik):
# t = -2.46, Welch–Satterthwaite df = 24.99, two-sided p = 0.021.
A1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
A2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]


def test_welch_matches_the_published_example() -> None:
    c = welch(A1, A2)
    assert c.diff == pytest.approx(-2.1667, abs=1e-4)
    assert c.df == pytest.approx(24.99, abs=0.01)
    assert c.p == pytest.approx(0.0214, abs=1e-4)
    # the interval is diff ± t(0.975, df) * se, se = 2.1667 / 2.4554
    assert (c.low, c.high) == pytest.approx((-3.9841, -0.3492), abs=1e-4)
    mirrored = welch(A2, A1)
    assert mirrored.p == pytest.approx(c.p) and mirrored.diff == pytest.approx(-c.diff)


def test_welch_is_undefined_without_two_values_or_any_variance() -> None:
    assert welch([0.9], [0.8, 0.7]).p is None
    flat = welch([0.5, 0.5], [0.5, 0.5])
    assert flat.p is None and flat.low is None and flat.diff == 0
    with pytest.raises(ValueError):
        welch([], [1.0])


def test_mean_interval_by_hand() -> None:
    # sd of 1..4 is 1.2910, se 0.6455, t(0.975, 3) = 3.1824
    mean, half = mean_interval([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and half == pytest.approx(2.0543, abs=1e-4)
    assert mean_interval([3.0]) == (3.0, None)


def test_holm_step_down_by_hand() -> None:
    # sorted 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> raised to 0.06
    assert holm([0.01, 0.04, 0.03, 0.005, None]) == pytest.approx([0.03, 0.06, 0.06, 0.02, None])
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    assert holm([]) == []


def test_beats_needs_a_positive_corrected_significant_difference() -> None:
    better = welch([0.90, 0.91, 0.92, 0.93], [0.80, 0.81, 0.80, 0.82])
    assert beats(better, better.p)
    assert not beats(better, 0.2)
    worse = welch([0.80, 0.81, 0.80, 0.82], [0.90, 0.91, 0.92, 0.93])
    assert not beats(worse, worse.p)
    assert not beats(welch([0.9], [0.8, 0.7]), None)
