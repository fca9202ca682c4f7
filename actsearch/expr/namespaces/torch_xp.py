"""PyTorch namespace for `actsearch.expr.forms` (the `torch` export).

Functions use only `torch` (the exporter copies their source). min and max
are written with `where` so that a tie's gradient goes to the first operand,
as in TensorFlow (PyTorch splits it), and NaN in the first operand propagates.
"""

import torch


def asarray(x):
    return torch.as_tensor(x)


def pair(a, b):
    """Both operands as tensors of one dtype and device (a Python number takes the tensor's)."""
    like = a if isinstance(a, torch.Tensor) else b if isinstance(b, torch.Tensor) else None
    dtype = torch.get_default_dtype() if like is None else like.dtype
    device = None if like is None else like.device
    return torch.as_tensor(a, dtype=dtype, device=device), torch.as_tensor(b, dtype=dtype, device=device)


def zeros_like(x):
    return torch.zeros_like(x)


def ones_like(x):
    return torch.ones_like(x)


def abs(x):
    return torch.abs(x)


def sqrt(x):
    return torch.sqrt(x)


def exp(x):
    return torch.exp(x)


def expm1(x):
    return torch.expm1(x)


def log(x):
    return torch.log(x)


def sin(x):
    return torch.sin(x)


def cos(x):
    return torch.cos(x)


def tanh(x):
    return torch.tanh(x)


def sinh(x):
    return torch.sinh(x)


def cosh(x):
    return torch.cosh(x)


def asinh(x):
    return torch.asinh(x)


def atan(x):
    return torch.atan(x)


def erf(x):
    return torch.erf(x)


def sigmoid(x):
    return torch.sigmoid(x)


def softplus(x):
    return torch.nn.functional.softplus(x)


def floor(x):
    return torch.floor(x)


def mod(a, b):
    return torch.remainder(a, b)


def power(a, b):
    return torch.pow(a, b)


def minimum(a, b):
    return torch.where(b < a, b, a)


def maximum(a, b):
    return torch.where(b > a, b, a)


def clip(x, low, high):
    return minimum(maximum(x, low), high)


def where(condition, a, b):
    return torch.where(condition, a, b)


def equal(a, b):
    return torch.eq(a, b)


def logical_and(a, b):
    return torch.logical_and(a, b)
