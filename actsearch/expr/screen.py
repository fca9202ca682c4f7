"""Validity screening before any training (the seed article's requirements).

An activation must give finite outputs, must not be constant, must have a
non-zero gradient on most of the probe range (no vanishing gradient), must be
differentiable (finite gradient) and, when asked, increasing. Screening runs
on a fixed grid of probe inputs, in numpy float64 (central differences) or in
TensorFlow float32 (`tf.GradientTape`); both give the same verdicts. Outputs
beyond the float32 range count as non-finite in numpy too, because that is
what a float32 network would see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from .activation import Activation
from .protect import FLOAT32_MAX

DEFAULT_MIN_NONZERO_GRAD = 0.4  # relu (gradient 0 on half the range) passes; relu(x - 2) does not
GRID_POINTS = 1000  # probe grid (cell midpoints: avoids 0 and integers, where kinks sit)
WIDE_RANGE = (-50.0, 50.0)  # outputs must also stay finite here (large pre-activations)
WIDE_POINTS = 400
FAR_RANGE = (-1000.0, 1000.0)  # "constant" means constant here too (else: "gradient zero")
FAR_POINTS = 200
GRAD_TOL = 1e-6  # |gradient| at or below this counts as zero
CONST_TOL = 1e-6  # relative output span at or below this counts as constant
_STEP = 1e-5  # central-difference step (float64)


@dataclass(frozen=True)
class ScreenResult:
    """Verdict of screening: `ok`, the first failed check as a specific `reason`, and all `checks`."""

    ok: bool
    reason: str | None = None
    checks: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __bool__(self) -> bool:
        return self.ok


def grid(low: float, high: float, n: int) -> np.ndarray:
    """Midpoints of n equal cells of [low, high]."""
    return low + (np.arange(n) + 0.5) * (high - low) / n


@lru_cache(maxsize=64)
def _probe_points(low: float, high: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The grids of a probe range (read-only), and all the points numpy screening evaluates
    at once: the grid, the grid -/+ the difference step, the wide and the far grids."""
    xs = grid(low, high, GRID_POINTS)
    wide = grid(min(WIDE_RANGE[0], low), max(WIDE_RANGE[1], high), WIDE_POINTS)
    far = grid(*FAR_RANGE, FAR_POINTS)
    every = np.concatenate([xs, xs + _STEP, xs - _STEP, wide, far])
    for array in (xs, wide, far, every):
        array.flags.writeable = False
    return xs, wide, far, every


def _numpy_values(act: Activation, xs: np.ndarray) -> np.ndarray:
    y = act.numpy(xs)
    return np.where(np.abs(y) > FLOAT32_MAX, np.inf, y)  # float32 overflow


def _tf_values_and_grads(act: Activation, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow as tf

    fn = act.tf_function()
    x = tf.constant(xs, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    g = tape.gradient(y, x)
    g = tf.zeros_like(x) if g is None else g
    return y.numpy().astype(np.float64), g.numpy().astype(np.float64)


def _pct(fraction: float) -> str:
    if 0 < fraction < 0.01:
        return "<1%"
    if 0.99 < fraction < 1:
        return ">99%"
    return f"{100 * fraction:.0f}%"


def _span(probe: tuple[float, float]) -> str:
    return f"[{probe[0]:g}, {probe[1]:g}]"


def screen(
    act: Activation | str,
    *,
    increasing: bool = False,
    probe: tuple[float, float] = (-6.0, 6.0),
    min_nonzero_grad: float = DEFAULT_MIN_NONZERO_GRAD,
    backend: str = "numpy",
) -> ScreenResult:
    """Screen an activation on `probe`; `min_nonzero_grad` is the fraction of the
    probe range on which the gradient must be non-zero."""
    if isinstance(act, str):
        act = Activation.parse(act)
    if backend not in ("numpy", "tf"):
        raise ValueError(f"backend must be 'numpy' or 'tf', not {backend!r}")
    low, high = float(probe[0]), float(probe[1])
    xs, wide, far, every = _probe_points(low, high)
    if backend == "numpy":  # one evaluation of the tree for every point: the same values, one pass
        n, w = len(xs), len(wide)
        values = _numpy_values(act, every)
        y, up, down = values[:n], values[n : 2 * n], values[2 * n : 3 * n]
        with np.errstate(all="ignore"):
            g = (up - down) / (2 * _STEP)
        y_wide, y_far = values[3 * n : 3 * n + w], values[3 * n + w :]
    else:
        y, g = _tf_values_and_grads(act, xs)
        y_wide, _ = _tf_values_and_grads(act, wide)
        y_far, _ = _tf_values_and_grads(act, far)
    return _verdict(xs, y, g, wide, y_wide, y_far, (low, high), increasing, min_nonzero_grad, backend)


def _verdict(xs, y, g, wide, y_wide, y_far, probe, increasing, min_nonzero_grad, backend) -> ScreenResult:
    span = _span(probe)
    finite = np.isfinite(y)
    finite_wide = np.isfinite(y_wide)
    grad_finite = np.isfinite(g)
    values = np.concatenate([y, y_wide, y_far])
    values = values[np.isfinite(values)]
    scale = max(1.0, float(np.max(np.abs(values)))) if values.size else 1.0
    constant = values.size > 0 and float(np.ptp(values)) <= CONST_TOL * scale
    nonzero = float(np.mean(np.abs(g) > GRAD_TOL))
    decreasing = float(np.mean(g < -GRAD_TOL))
    checks: dict[str, Any] = {
        "backend": backend,
        "finite": bool(finite.all()),
        "finite_wide": bool(finite_wide.all()),
        "nonconstant": not constant,
        "grad_finite": bool(grad_finite.all()),
        "nonzero_grad_fraction": nonzero,
        "decreasing_fraction": decreasing,
    }
    reason = None
    if not finite.all():
        reason = f"non-finite output at x={xs[~finite][0]:.3g}"
    elif not finite_wide.all():
        reason = f"non-finite output at x={wide[~finite_wide][0]:.3g}"
    elif constant:
        reason = "constant"
    elif not grad_finite.all():
        reason = f"non-finite gradient at x={xs[~grad_finite][0]:.3g} (not differentiable)"
    elif nonzero < min_nonzero_grad:
        reason = f"gradient zero on {_pct(1 - nonzero)} of {span}"
    elif increasing and decreasing > 0:
        reason = f"not increasing: decreases on {_pct(decreasing)} of {span}"
    return ScreenResult(reason is None, reason, checks)


def check_tf_gradient(act: Activation | str, probe: tuple[float, float] = (-6.0, 6.0)) -> ScreenResult:
    """Differentiability in TensorFlow alone: finite float32 outputs and gradients on `probe`."""
    if isinstance(act, str):
        act = Activation.parse(act)
    xs = grid(float(probe[0]), float(probe[1]), GRID_POINTS)
    y, g = _tf_values_and_grads(act, xs)
    checks = {"backend": "tf", "finite": bool(np.isfinite(y).all()), "grad_finite": bool(np.isfinite(g).all())}
    if not checks["finite"]:
        return ScreenResult(False, f"non-finite output at x={xs[~np.isfinite(y)][0]:.3g}", checks)
    if not checks["grad_finite"]:
        where = f"{xs[~np.isfinite(g)][0]:.3g}"
        return ScreenResult(False, f"non-finite gradient at x={where} (not differentiable)", checks)
    return ScreenResult(True, None, checks)
