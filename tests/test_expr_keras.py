"""The Keras layer: parametric constants train; config and saved models round-trip."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from actsearch.expr import Activation
from actsearch.expr.keras_layer import ActivationLayer, as_keras_activation


def _model(layer):
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), layer, keras.layers.Dense(1)])


def test_parametric_layer_trains_its_constants():
    layer = ActivationLayer("x*sigmoid(1.5*x) + 0.1", parametric=True)
    assert [w.trainable for w in layer.constants] == [True, True]
    model = _model(layer)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    before = [float(w.numpy()) for w in layer.constants]
    assert before == pytest.approx([1.5, 0.1])
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(32, 4)), rng.normal(size=(32, 1)), epochs=1, batch_size=32, verbose=0)
    after = [float(w.numpy()) for w in layer.constants]
    assert all(a != b for a, b in zip(after, before))


def test_layer_matches_numpy_and_config_round_trip():
    layer = ActivationLayer("swish(x) + log(x)/3")
    xs = np.linspace(-4, 4, 33).astype(np.float32)
    assert np.allclose(layer(xs).numpy(), Activation.parse(layer.expr).numpy(xs), rtol=1e-4, atol=1e-5)
    config = layer.get_config()
    assert config["expr"] == "x*sigmoid(x) + log(x)/3" and config["parametric"] is False
    clone = ActivationLayer.from_config(config)
    assert clone.expr == layer.expr and not clone.constants
    registered = keras.saving.get_registered_object("actsearch>ActivationLayer")
    assert registered is ActivationLayer


def test_saved_model_reloads(tmp_path):
    layer = ActivationLayer("x*sigmoid(1.25*x)", parametric=True)
    model = _model(layer)
    layer.constants[0].assign(2.0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    restored = [lay for lay in loaded.layers if isinstance(lay, ActivationLayer)][0]
    assert float(restored.constants[0].numpy()) == pytest.approx(2.0)
    x = np.ones((2, 4), dtype=np.float32)
    assert np.allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_as_keras_activation():
    fn = as_keras_activation(Activation.parse("relu(x)"))
    assert not isinstance(fn, keras.layers.Layer)
    dense = keras.layers.Dense(3, activation=fn)
    assert dense(np.ones((1, 2), dtype=np.float32)).shape == (1, 3)
    assert isinstance(as_keras_activation("x*sigmoid(x)", parametric=True), ActivationLayer)
