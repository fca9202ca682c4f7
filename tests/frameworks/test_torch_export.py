"""The torch export against the NumPy reference, and its modules in training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch  # the `frameworks` extra, which `make test-exports` installs: missing, an error, not a skip
from export_cases import GRID, check, load, primitive_cases, random_cases, write_modules

from actsearch.export import module_source
from actsearch.expr import Activation


def _values_and_grads(fn) -> tuple[np.ndarray, np.ndarray]:
    x = torch.tensor(GRID, dtype=torch.float32, requires_grad=True)
    y = fn(x)
    if y.requires_grad:  # else a constant: no graph, gradient 0
        y.backward(torch.ones_like(y))
    grad = np.zeros_like(GRID) if x.grad is None else x.grad.numpy().astype(np.float64)
    return y.detach().numpy().astype(np.float64), grad


def test_every_primitive_and_random_trees_match_the_reference(tmp_path: Path) -> None:
    cases = {**primitive_cases(), **random_cases()}
    write_modules(tmp_path, cases, "torch")
    failures = []
    for name, act in cases.items():
        module = load(tmp_path / f"{name}.py", "torch")
        y, dy = _values_and_grads(module.activation)
        failures += check(name, act, y, dy, exact=not name.startswith("random"))
        assert torch.equal(module.Activation()(torch.tensor(GRID[:5])), module.activation(torch.tensor(GRID[:5])))
    assert not failures, "\n".join(failures)


def test_parametric_module_trains_and_its_constants_get_gradients(tmp_path: Path) -> None:
    act = Activation.parse("x*sigmoid(1.5*x) + log(x)/3 + 0.1")
    path = tmp_path / "adaptive_torch.py"
    path.write_text(module_source(act, framework="torch", parametric=True, module=path.stem))
    module = load(path, "torchp")
    torch.manual_seed(0)
    layer = module.ParametricActivation()
    assert layer.constants.tolist() == pytest.approx([1.5, 3.0, 0.1])
    x = torch.linspace(-3, 3, 61)
    assert np.allclose(layer(x).detach().numpy(), act.numpy(x.numpy().astype(np.float64)), rtol=1e-4, atol=1e-5)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), layer, torch.nn.Linear(8, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    inputs, targets = torch.randn(64, 4), torch.randn(64, 1)
    before = layer.constants.detach().clone()
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        assert layer.constants.grad is not None and torch.all(layer.constants.grad != 0)
        optimizer.step()
        losses.append(float(loss))
    assert torch.all(layer.constants != before) and losses[-1] < losses[0]
    assert any(name.endswith("constants") for name, _ in model.named_parameters())


def test_float64_and_constant_expressions(tmp_path: Path) -> None:
    path = tmp_path / "const_torch.py"
    path.write_text(module_source(Activation.parse("exp(2) - 1"), framework="torch"))
    module = load(path, "torchc")
    y = module.activation(torch.zeros(2, 3, dtype=torch.float64))
    assert (
        y.shape == (2, 3)
        and y.dtype == torch.float64
        and torch.allclose(y, torch.full((2, 3), 6.38906, dtype=torch.float64))
    )
