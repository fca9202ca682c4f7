"""Built-in tasks: MNIST-1D and scikit-learn digits, each with an MLP and a CNN; the
known-answer `teacher-mlp` (teacher.py), the task panel across architectures (panel.py)
and the teacher family `teacher-01` .. (teachers.py).

Every built-in has a FIXED train/validation/test split (split seed
``SPLIT_SEED``, independent of the search seed). Data are generated or shipped
locally: MNIST-1D is generated with ``mnist1d.data.make_dataset`` (never its
download path) and cached under :func:`cache_dir`; digits ship inside
scikit-learn. TensorFlow is imported only inside the model builders.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .base import Task, TaskData, TrainingSetup, hidden_activation, stratified_split

#: Seed of every built-in train/validation(/test) split. Never the search seed.
SPLIT_SEED = 20240601

#: Bump when the generated/cached data format changes.
_CACHE_VERSION = 1


def cache_dir() -> Path:
    """Where generated data are cached: ``$ACTSEARCH_CACHE`` or ``~/.cache/actsearch``."""
    env = os.environ.get("ACTSEARCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "actsearch"


def _mnist1d_args() -> Any:
    from mnist1d.data import get_dataset_args

    return get_dataset_args()


def _generate_mnist1d(args: Any) -> dict[str, np.ndarray]:
    # make_dataset seeds the *global* numpy and random generators; restore them
    # so that loading data never changes a caller's random stream.
    from mnist1d.data import make_dataset

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        raw = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {
        "x": np.asarray(raw["x"], dtype=np.float32),
        "y": np.asarray(raw["y"], dtype=np.int32),
        "x_test": np.asarray(raw["x_test"], dtype=np.float32),
        "y_test": np.asarray(raw["y_test"], dtype=np.int32),
    }


def _mnist1d_arrays() -> dict[str, np.ndarray]:
    """The MNIST-1D arrays, generated once and cached in a local .npz file."""
    args = _mnist1d_args()
    key_args = {k: v for k, v in vars(args).items() if k != "url"}
    key = hashlib.sha256(json.dumps([_CACHE_VERSION, key_args], sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = cache_dir() / f"mnist1d-{key}.npz"
    if path.exists():
        try:
            with np.load(path) as f:
                return {k: f[k] for k in ("x", "y", "x_test", "y_test")}
        except Exception:
            pass
    arrays = _generate_mnist1d(args)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # atomic: several workers may generate at the same time
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub takes allow_pickle for a name
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache only costs regeneration time
    return arrays


@functools.cache
def load_mnist1d() -> TaskData:
    """MNIST-1D: 3,200 train / 800 validation (stratified, fixed seed, carved
    from the package's 4,000 training examples) / 1,000 test, 40 features."""
    a = _mnist1d_arrays()
    train_idx, val_idx = stratified_split(a["y"], (0.8, 0.2), SPLIT_SEED)
    return read_only(
        TaskData(
            x_train=a["x"][train_idx],
            y_train=a["y"][train_idx],
            x_val=a["x"][val_idx],
            y_val=a["y"][val_idx],
            x_test=a["x_test"],
            y_test=a["y_test"],
        )
    )


@functools.cache
def load_digits() -> TaskData:
    """scikit-learn digits: 1,797 8x8 images flattened to 64 features in
    [0, 1]; stratified 60/20/20 train/validation/test with a fixed seed."""
    from sklearn.datasets import load_digits as _sk_load_digits

    d = _sk_load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int32)
    train_idx, val_idx, test_idx = stratified_split(y, (0.6, 0.2, 0.2), SPLIT_SEED)
    return read_only(
        TaskData(
            x_train=x[train_idx],
            y_train=y[train_idx],
            x_val=x[val_idx],
            y_val=y[val_idx],
            x_test=x[test_idx],
            y_test=y[test_idx],
        )
    )


def read_only(data: TaskData) -> TaskData:
    """`data` with every split made read-only: cached data are shared by every task object
    in the process, so no one may write to them."""
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        getattr(data, name).setflags(write=False)
    return data


# ---------------------------------------------------------------- models


def mnist1d_mlp_model(activation: Any) -> Any:
    """MLP 40 -> 100 -> 100 -> 10 (the MNIST-1D reference MLP, no residual)."""
    import keras

    inputs = keras.Input(shape=(40,))
    h = keras.layers.Dense(100, activation=hidden_activation(activation))(inputs)
    h = keras.layers.Dense(100, activation=hidden_activation(activation))(h)
    outputs = keras.layers.Dense(10)(h)
    return keras.Model(inputs, outputs, name="mnist1d_mlp")


def mnist1d_cnn_model(activation: Any) -> Any:
    """The MNIST-1D reference ConvBase: three Conv1D (25 channels; kernel 5
    stride 2, then kernel 3 stride 2 twice; 40 -> 20 -> 10 -> 5), flatten,
    linear head."""
    import keras

    inputs = keras.Input(shape=(40,))
    h = keras.layers.Reshape((40, 1))(inputs)
    h = keras.layers.Conv1D(25, 5, strides=2, padding="same", activation=hidden_activation(activation))(h)
    h = keras.layers.Conv1D(25, 3, strides=2, padding="same", activation=hidden_activation(activation))(h)
    h = keras.layers.Conv1D(25, 3, strides=2, padding="same", activation=hidden_activation(activation))(h)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(10)(h)
    return keras.Model(inputs, outputs, name="mnist1d_cnn")


def digits_mlp_model(activation: Any) -> Any:
    """MLP 64 -> 64 -> 64 -> 10."""
    import keras

    inputs = keras.Input(shape=(64,))
    h = keras.layers.Dense(64, activation=hidden_activation(activation))(inputs)
    h = keras.layers.Dense(64, activation=hidden_activation(activation))(h)
    outputs = keras.layers.Dense(10)(h)
    return keras.Model(inputs, outputs, name="digits_mlp")


def digits_cnn_model(activation: Any) -> Any:
    """Small Conv2D net on 8x8 digits: Conv2D(16, 3) -> Conv2D(32, 3, stride 2)
    -> flatten -> linear head."""
    import keras

    inputs = keras.Input(shape=(64,))
    h = keras.layers.Reshape((8, 8, 1))(inputs)
    h = keras.layers.Conv2D(16, 3, padding="same", activation=hidden_activation(activation))(h)
    h = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation=hidden_activation(activation))(h)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(10)(h)
    return keras.Model(inputs, outputs, name="digits_cnn")


# ---------------------------------------------------------------- registry

#: Default training setups (see the trainer benchmark for the measured time per
#: training and relu's validation accuracy with these setups).
SETUPS: dict[str, TrainingSetup] = {
    "mnist1d-mlp": TrainingSetup(epochs=60, batch_size=100, learning_rate=1e-2),
    "mnist1d-cnn": TrainingSetup(epochs=30, batch_size=100, learning_rate=1e-2),
    "digits-mlp": TrainingSetup(epochs=20, batch_size=64, learning_rate=1e-2),
    "digits-cnn": TrainingSetup(epochs=20, batch_size=64, learning_rate=1e-2),
}

_BUILTINS: dict[str, tuple[Callable[[], TaskData], Callable[[Any], Any], str]] = {
    "mnist1d-mlp": (load_mnist1d, mnist1d_mlp_model, "MNIST-1D (generated locally), MLP 40-100-100-10"),
    "mnist1d-cnn": (
        load_mnist1d,
        mnist1d_cnn_model,
        "MNIST-1D (generated locally), 3-layer Conv1D (reference ConvBase)",
    ),
    "digits-mlp": (load_digits, digits_mlp_model, "scikit-learn 8x8 digits, MLP 64-64-64-10"),
    "digits-cnn": (load_digits, digits_cnn_model, "scikit-learn 8x8 digits, 2-layer Conv2D"),
}


def builtin_names() -> list[str]:
    from .panel import PANEL  # imported here: panel.py imports this module
    from .teachers import FAMILY

    return [*_BUILTINS, "teacher-mlp", *PANEL, *FAMILY]


def make_builtin(name: str) -> Task:
    if name == "teacher-mlp":
        from .teacher import make_teacher_task

        return make_teacher_task()
    from .teachers import FAMILY, make_family_task

    if name in FAMILY:
        return make_family_task(name)
    from .panel import PANEL, make_panel_task

    if name in PANEL:
        return make_panel_task(name)
    load, build, description = _BUILTINS[name]
    return Task(
        name=name,
        load_data=load,
        build_model=build,
        setup=SETUPS[name],
        description=description,
    )
