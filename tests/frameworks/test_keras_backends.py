"""The keras export on every Keras 3 backend (a fresh process each, KERAS_BACKEND set):
values and gradients against the NumPy reference, and a saved model reloaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from export_cases import GRID, check, primitive_cases, random_cases, write_modules

from actsearch.export import module_source
from actsearch.expr import Activation

BACKENDS = ["tensorflow", "jax", "torch"]

# Values and gradients of every module in a folder, with the backend's own autodiff.
_GRADIENTS = textwrap.dedent("""
    import importlib.util, json, sys
    from pathlib import Path
    import numpy as np
    import keras
    from keras import ops

    folder, names = Path(sys.argv[1]), json.loads(sys.argv[2])
    grid = np.load(folder / "grid.npy").astype("float32")
    backend = keras.backend.backend()

    def values_and_grads(fn):
        if backend == "tensorflow":
            import tensorflow as tf
            x = tf.constant(grid)
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = fn(x)
            g = tape.gradient(y, x)
            return np.asarray(y), np.zeros_like(grid) if g is None else np.asarray(g)
        if backend == "jax":
            import jax
            x = jax.numpy.asarray(grid)
            return np.asarray(fn(x)), np.asarray(jax.grad(lambda v: ops.sum(fn(v)))(x))
        import torch
        x = torch.tensor(grid, requires_grad=True)
        y = fn(x)
        if y.requires_grad:
            y.backward(torch.ones_like(y))
        return y.detach().numpy(), np.zeros_like(grid) if x.grad is None else x.grad.numpy()

    out = {}
    for name in names:
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        out[name + ".y"], out[name + ".dy"] = values_and_grads(module.activation)
    np.savez(folder / f"out_{backend}.npz", **out)
""")

_SAVE = textwrap.dedent("""
    import numpy as np, keras
    from adaptive_act import ParametricActivation, activation
    layer = ParametricActivation()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation=activation),
                              layer, keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    before = [float(keras.ops.convert_to_numpy(w)) for w in layer.constants]
    model.fit(x, x[:, :2] ** 2, epochs=2, verbose=0)
    after = [float(keras.ops.convert_to_numpy(w)) for w in layer.constants]
    assert after != before, "the constants were not learned"
    model.save("m.keras")
    np.save("out.npy", model.predict(x, verbose=0))
    np.save("x.npy", x)
    print("trained", keras.backend.backend(), before, "->", after)
""")

_LOAD = textwrap.dedent("""
    import numpy as np, keras
    import adaptive_act  # registers the activation and the layer
    model = keras.models.load_model("m.keras")
    x = np.load("x.npy")
    assert np.allclose(model.predict(x, verbose=0), np.load("out.npy"), atol=1e-5)
    print("reloaded", keras.backend.backend(), model.layers[0].activation.__name__)
""")


def _run(script: str, args: list[str], cwd: Path, backend: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(cwd)}
    done = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=560
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.timeout(600)  # a fresh process importing Keras and its backend on a shared machine
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_primitive_and_random_trees_match_the_reference(tmp_path: Path, backend: str) -> None:
    cases = {**primitive_cases(), **random_cases()}
    write_modules(tmp_path, cases, "keras")
    np.save(tmp_path / "grid.npy", GRID)
    _run(_GRADIENTS, [str(tmp_path), json.dumps(list(cases))], tmp_path, backend)
    out = np.load(tmp_path / f"out_{backend}.npz")
    failures = []
    for name, act in cases.items():
        y, dy = out[name + ".y"].astype(np.float64), out[name + ".dy"].astype(np.float64)
        failures += check(name, act, y, dy, exact=not name.startswith("random"))
    assert not failures, "\n".join(failures)


@pytest.mark.timeout(600)  # a fresh process importing Keras and its backend on a shared machine
@pytest.mark.parametrize("backend", BACKENDS)
def test_saved_model_reloads_in_a_fresh_process(tmp_path: Path, backend: str) -> None:
    act = Activation.parse("x*sigmoid(1.5*x) + log(x)/3")
    (tmp_path / "adaptive_act.py").write_text(module_source(act, parametric=True, module="adaptive_act"))
    assert "trained " + backend in _run(_SAVE, [], tmp_path, backend).stdout
    assert "reloaded " + backend + " actsearch_" in _run(_LOAD, [], tmp_path, backend).stdout
