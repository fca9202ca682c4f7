"""Shared by the export tests (tests/test_export_frameworks.py and tests/frameworks/):
the probe grid, the cases (every primitive, a fixed set of random trees), the
reference (NumPy values and forward-mode gradients through the same forms) and
the comparison at float32 tolerance."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path
from types import ModuleType

import numpy as np

from actsearch.export import module_source
from actsearch.expr import REGISTRY, Activation
from actsearch.expr.ast import Call, Const, Var
from actsearch.expr.lower import eval_gradient
from actsearch.expr.protect import FLOAT32_MAX
from actsearch.expr.random_tree import random_tree

# [-10, 10] by 1/8, and the protected regions: 0 and tiny |x| (log, division, pow's base
# clamp, sqrt), the exp/sinh/cosh clip at 30 (the tie included) and far beyond it.
_SPECIAL = [0.0, 1e-7, -1e-7, 1e-3, -1e-3, 29.5, 30.0, 30.5, 50.0, -50.0, 100.0, -100.0, 1000.0, -1000.0]
GRID = np.unique(np.concatenate([np.arange(-80, 81) / 8.0, _SPECIAL]).astype(np.float32)).astype(np.float64)
RTOL, ATOL = 2e-4, 1e-5
# Gradients: float32 cancels terms of size ~1/|x| near 0 (sinc'(x) = cos(x)/x - sin(x)/x**2 at
# x = 1e-3 is 3e-4 from terms of 1e3), so their absolute tolerance is that of 1e3 in float32.
GRAD_ATOL = 1e-4
RANDOM_SEEDS = range(20)


def primitive_cases() -> dict[str, Activation]:
    """Each primitive applied to x (binary: with constants on either side, and to (x, sin x)),
    as trees taken literally (no canonical rewriting, so every form is the one exercised)."""
    x = Var()
    cases = {}
    for name, prim in sorted(REGISTRY.items()):
        if prim.arity == 1:
            trees = [Call(name, (x,))]
        else:
            consts = [Const(c) for c in (-1.0, 0.5, 3.0)]
            trees = [Call(name, (x, c)) for c in consts] + [Call(name, (c, x)) for c in consts]
            trees.append(Call(name, (x, Call("sin", (x,)))))
        for i, tree in enumerate(trees):
            cases[f"{name}_{i}"] = Activation(tree)
    return cases


def random_cases() -> dict[str, Activation]:
    """A fixed set of random trees (fixed seeds) over the whole registry."""
    return {f"random_{seed}": Activation(random_tree(random.Random(seed), max_depth=4)) for seed in RANDOM_SEEDS}


def reference(act: Activation) -> tuple[np.ndarray, np.ndarray]:
    """NumPy values and gradient on GRID, as float32 sees them (overflow -> inf)."""
    y, dy = eval_gradient(act.tree, GRID)
    return tuple(np.where(np.abs(v) > FLOAT32_MAX, np.sign(v) * np.inf, v) for v in (y, dy))  # type: ignore[return-value]


def agreement(ref: np.ndarray, got: np.ndarray, atol: float = ATOL) -> np.ndarray:
    """Per point: equal at float32 tolerance, or both non-finite (inf and nan alike)."""
    got = np.asarray(got, dtype=np.float64)
    with np.errstate(all="ignore"):
        close = np.isclose(got, ref, rtol=RTOL, atol=atol)
    return close | (~np.isfinite(ref) & ~np.isfinite(got))


def _one_sided(act: Activation) -> list[np.ndarray]:
    """Reference gradients just left and right of each grid point."""
    step = 1e-9 * np.maximum(1.0, np.abs(GRID))
    return [eval_gradient(act.tree, GRID + side * step)[1] for side in (-1.0, 1.0)]


def check(name: str, act: Activation, y: np.ndarray, dy: np.ndarray, exact: bool) -> list[str]:
    """Failures (empty: fine). `exact`: every point must agree; else 95% (random trees: float32
    rounding is amplified near singular points, as in tests/test_expr_numeric.py).

    At a kink a gradient may also equal the reference's one-sided derivative: float32
    rounding decides which side a framework lands on (XLA computes x/6 as x*(1/6), so
    hard_sigmoid's kink at -3 falls just left of it). A split tie (PyTorch's and JAX's own
    max gives each side half) still fails. Where the reference gradient is not finite the
    function is not differentiable and any value passes (TensorFlow and JAX give NaN for
    x**sin(x) at 0, PyTorch's pow masks the exponent-0 term to 0)."""
    ref_y, ref_dy = reference(act)
    failures = []
    for what, ref, got, atol in (("value", ref_y, y, ATOL), ("gradient", ref_dy, dy, GRAD_ATOL)):
        ok = agreement(ref, got, atol)
        if what == "gradient" and not ok.all():
            ok |= ~np.isfinite(ref)
            for side in _one_sided(act):
                ok |= agreement(side, got, atol)
        if (not ok.all()) if exact else ok.mean() < 0.95:
            bad = np.flatnonzero(~ok)[:3]
            where = f"x={GRID[bad].tolist()}: ref {ref[bad].tolist()} got {got[bad].tolist()}"
            failures.append(f"{name} {act}: {what} differs at {where}")
    return failures


def write_modules(folder: Path, cases: dict[str, Activation], framework: str, parametric: bool = False) -> None:
    """One exported module per case, named after it, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, act in cases.items():
        (folder / f"{name}.py").write_text(module_source(act, framework=framework, parametric=parametric, module=name))


def load(path: Path, prefix: str = "exported") -> ModuleType:
    """Import an exported module from its file (a unique name per framework and case)."""
    spec = importlib.util.spec_from_file_location(f"{prefix}_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
