"""The jax export against the NumPy reference, under jit and grad; parametric constants as a pytree."""

from __future__ import annotations

from pathlib import Path

import jax  # the `frameworks` extra, which `make test-exports` installs: missing, an error, not a skip
import jax.numpy as jnp
import numpy as np
from export_cases import GRID, check, load, primitive_cases, random_cases, write_modules

from actsearch.export import module_source
from actsearch.expr import Activation


def test_every_primitive_and_random_trees_match_the_reference_under_jit_and_grad(tmp_path: Path) -> None:
    cases = {**primitive_cases(), **random_cases()}
    write_modules(tmp_path, cases, "jax")
    x = jnp.asarray(GRID, dtype=jnp.float32)
    failures = []
    for name, act in cases.items():
        fn = load(tmp_path / f"{name}.py", "jax").activation
        y = np.asarray(jax.jit(fn)(x), dtype=np.float64)
        dy = np.asarray(jax.jit(jax.grad(lambda v, f=fn: jnp.sum(f(v))))(x), dtype=np.float64)
        failures += check(name, act, y, dy, exact=not name.startswith("random"))
    assert not failures, "\n".join(failures)


def test_parametric_constants_are_a_pytree_with_gradients(tmp_path: Path) -> None:
    act = Activation.parse("x*sigmoid(1.5*x) + log(x)/3")
    path = tmp_path / "adaptive_jax.py"
    path.write_text(module_source(act, framework="jax", parametric=True, module=path.stem))
    module = load(path, "jaxp")
    params = jax.tree_util.tree_map(jnp.asarray, module.PARAMS)
    x = jnp.linspace(-3.0, 3.0, 61)
    assert np.allclose(module.parametric_activation(params, x), act.numpy(np.asarray(x, np.float64)), atol=1e-5)

    @jax.jit
    def step(p, x):
        loss, grads = jax.value_and_grad(lambda p: jnp.mean((module.parametric_activation(p, x) - x) ** 2))(p)
        return loss, jax.tree_util.tree_map(lambda v, g: v - 0.1 * g, p, grads), grads

    losses = []
    for _ in range(5):
        loss, new, grads = step(params, x)
        assert set(grads) == {"c0", "c1"} and all(float(g) != 0 for g in grads.values())
        params = new
        losses.append(float(loss))
    assert losses[-1] < losses[0]
    batched = jax.vmap(jax.grad(module.activation))(x)
    assert batched.shape == x.shape and bool(jnp.all(jnp.isfinite(batched)))
