"""The numpy, tensorflow and keras (TensorFlow backend) exports: standalone modules that
compute, for every primitive and a fixed set of random trees, the reference values and
gradients on a grid with the protected regions (tests/frameworks/ covers torch, jax and
the other Keras backends, with `make test-exports`)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from export_cases import GRID, check, load, primitive_cases, random_cases, write_modules

from actsearch.export import Framework, export_commands, module_source
from actsearch.expr import Activation

CASES = {**primitive_cases(), **random_cases()}


def _tf_values_and_grads(fn) -> tuple[np.ndarray, np.ndarray]:
    x = tf.constant(GRID, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    g = tape.gradient(y, x)
    return np.asarray(y, dtype=np.float64), np.zeros_like(GRID) if g is None else g.numpy().astype(np.float64)


def test_numpy_export_is_the_reference(tmp_path: Path) -> None:
    """Values equal the search's numpy evaluation exactly (same forms, same namespace)."""
    write_modules(tmp_path, CASES, "numpy")
    for name, act in CASES.items():
        got = load(tmp_path / f"{name}.py", "np").activation(GRID)
        assert np.array_equal(got, act.numpy(GRID), equal_nan=True), (name, str(act))


@pytest.mark.parametrize("framework", ["tensorflow", "keras"])
def test_tf_and_keras_exports_match_the_reference(tmp_path: Path, framework: str) -> None:
    write_modules(tmp_path, CASES, framework)
    failures = []
    for name, act in CASES.items():
        fn = load(tmp_path / f"{name}.py", framework).activation
        y, dy = _tf_values_and_grads(fn)
        failures += check(name, act, y, dy, exact=not name.startswith("random"))
    assert not failures, "\n".join(failures)


def test_tensorflow_export_is_what_the_search_trains() -> None:
    """The tensorflow export's values and gradients are bit-identical to the search's own lowering."""
    import importlib.util
    import tempfile

    for name in ("div_3", "pow_6", "log_0", "random_3"):
        act = CASES[name]
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "m.py"
            path.write_text(module_source(act, framework="tensorflow"))
            spec = importlib.util.spec_from_file_location(f"tfsame_{name}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        exported = _tf_values_and_grads(module.activation)
        search = _tf_values_and_grads(act.tf_function())
        for a, b in zip(exported, search):
            assert np.array_equal(a, b, equal_nan=True), name


@pytest.mark.parametrize("framework", list(Framework))
def test_exports_need_only_their_framework(framework: Framework) -> None:
    """No actsearch import, no eval/exec: the module's imports are its framework's."""
    text = module_source(Activation.parse("x*sigmoid(1.5*x) + log(x)/3"), framework=framework, parametric=True)
    tree = ast.parse(text)
    imported = {alias.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    expected = {
        Framework.keras: {"keras"},
        Framework.tensorflow: {"keras", "tensorflow"},
        Framework.torch: {"torch"},
        Framework.jax: {"jax"},
        Framework.numpy: {"numpy", "math"},
    }[framework]
    assert imported == expected, imported
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert not called & {"eval", "exec", "compile", "__import__"}


def test_numpy_parametric_export_takes_its_constants(tmp_path: Path) -> None:
    act = Activation.parse("x*sigmoid(1.5*x) + 0.25")
    path = tmp_path / "param_np.py"
    path.write_text(module_source(act, framework="numpy", parametric=True, module="param_np"))
    module = load(path, "np")
    assert module.PARAMS == {"c0": 1.5, "c1": 0.25}
    assert np.allclose(module.parametric_activation(module.PARAMS, GRID), act.numpy(GRID))
    other = module.parametric_activation({"c0": 1.0, "c1": 0.0}, GRID)
    assert np.allclose(other, Activation.parse("x*sigmoid(x)").numpy(GRID))


def test_keras_parametric_layer_trains_on_tensorflow(tmp_path: Path) -> None:
    import keras

    path = tmp_path / "param_keras.py"
    path.write_text(module_source(Activation.parse("x*sigmoid(1.5*x) + log(x)/3"), parametric=True))
    module = load(path, "keraslayer")
    layer = module.ParametricActivation()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), layer, keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    rng = np.random.default_rng(0)
    before = [float(w.numpy()) for w in layer.constants]
    model.fit(rng.normal(size=(32, 4)), rng.normal(size=(32, 1)), epochs=1, batch_size=32, verbose=0)
    after = [float(w.numpy()) for w in layer.constants]
    assert before == pytest.approx([1.5, 3.0]) and all(a != b for a, b in zip(after, before))


def test_export_commands_name_every_framework() -> None:
    commands = export_commands("x * sigmoid(1.5*x)", stem="activation_7")
    assert list(commands) == ["keras", "tensorflow", "torch", "jax", "numpy"]
    assert commands["torch"] == (
        "actsearch export --expr 'x * sigmoid(1.5*x)' --framework torch -o activation_7_torch.py"
    )


def test_cli_exports_each_framework(tmp_path: Path) -> None:
    from support import run_cli

    for framework in ("numpy", "torch"):
        module = tmp_path / f"act_{framework}.py"
        proc = run_cli(
            "export", "--expr", "x * sigmoid(1.5*x)", "--framework", framework, "--parametric", "-o", str(module)
        )
        assert proc.returncode == 0, proc.stderr
        assert f"for {'NumPy reference' if framework == 'numpy' else 'PyTorch'}." in module.read_text()
    assert "def parametric_activation(params, x):" in (tmp_path / "act_numpy.py").read_text()
    assert "class ParametricActivation(torch.nn.Module):" in (tmp_path / "act_torch.py").read_text()
