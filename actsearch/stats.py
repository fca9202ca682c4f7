"""Statistics for comparing activations over training seeds: Welch's t-test and Holm's correction.

Pure functions of plain numbers (scipy only), so the verdict of `validate`
and of the strategy benchmark can be checked against known values.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

ALPHA = 0.05


@dataclass(frozen=True)
class Comparison:
    """`a` against `b`: mean difference a - b, its 95% interval and Welch's two-sided p.

    `p` is None when the test is undefined (fewer than two values on a side,
    or no variance on either side).
    """

    diff: float
    low: float | None
    high: float | None
    p: float | None
    df: float | None


def welch(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Comparison:
    """Welch's unequal-variance t-test of mean(a) - mean(b), with the Welch–Satterthwaite interval."""
    from scipy import stats

    if not a or not b:
        raise ValueError("welch needs at least one value on each side")
    diff = math.fsum(a) / len(a) - math.fsum(b) / len(b)
    if len(a) < 2 or len(b) < 2:
        return Comparison(diff, None, None, None, None)
    va, vb = _variance(a) / len(a), _variance(b) / len(b)
    if va + vb == 0:
        return Comparison(diff, None, None, None, None)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * math.sqrt(va + vb)
    with warnings.catch_warnings():  # nearly equal samples: scipy warns, the p-value is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return Comparison(diff, diff - half, diff + half, p, df)


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float | None]:
    """Mean and the half-width of its t interval (None for fewer than two values)."""
    from scipy import stats

    if not values:
        raise ValueError("mean_interval needs at least one value")
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, None
    half = float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1)) * math.sqrt(_variance(values) / len(values))
    return mean, half


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (family-wise error control); None stays None.

    Sorted ascending, p_(i) is multiplied by (m - i), made monotone and capped at 1;
    m counts only the defined p-values.
    """
    defined = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(defined)
    adjusted: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, index) in enumerate(defined):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted


def pooled_spread(samples: Sequence[Sequence[float]]) -> float | None:
    """The pooled sample standard deviation of several activations' scores over seeds on one
    task: the square root of the mean of their sample variances (those with 2 values or more;
    None if none has). The unit of "one seed's noise" on that task."""
    variances = [_variance(values) for values in samples if len(values) > 1]
    return math.sqrt(math.fsum(variances) / len(variances)) if variances else None


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation of paired values (ties share their mean rank); None with
    fewer than 3 pairs or when either side is constant."""
    if len(a) != len(b):
        raise ValueError("spearman needs paired values")
    if len(a) < 3:
        return None
    from scipy.stats import spearmanr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = float(spearmanr(a, b).statistic)
    return None if math.isnan(rho) else rho


def beats(comparison: Comparison, adjusted_p: float | None, alpha: float = ALPHA) -> bool:
    """Significantly better: a positive difference with a corrected p below alpha."""
    return adjusted_p is not None and adjusted_p < alpha and comparison.diff > 0


def _variance(values: Sequence[float]) -> float:
    mean = math.fsum(values) / len(values)
    return math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
