"""Population-batched training: each member trains as it would alone (real TF)."""

from __future__ import annotations

import numpy as np
import pytest

from actsearch.tasks import Task, get_task
from actsearch.train import prepare_data, train, train_with_diagnostics
from actsearch.train.batch import BatchMember, train_batch, train_batch_with_diagnostics

pytestmark = pytest.mark.slow

NAN_EXPR = "cube(cube(cube(exp(x))))"


@pytest.fixture(scope="module")
def task():
    return get_task("digits-mlp")


@pytest.fixture(scope="module")
def resident(task):
    return prepare_data(task.get_data())


@pytest.fixture(params=[True, False], ids=["fused-adam", "keras-adam"])
def both_updates(request) -> bool:
    """The update a worker uses (fused Adam, one thread) and Keras' own (other optimizers)."""
    return request.param


def test_batched_equals_one_at_a_time_on_first_steps(task, resident, both_updates) -> None:
    members = [BatchMember("x*sigmoid(x)", 0), BatchMember("tanh(x)", 1), BatchMember("x*sigmoid(x)", 1)]
    batched, diagnostics = train_batch_with_diagnostics(
        task, members, data=resident, epochs=1, record_steps=10, fused=both_updates
    )
    assert diagnostics.batched is True and diagnostics.fused_update is both_updates
    losses = diagnostics.step_losses[:10]  # [steps, members]
    assert len({m.activation for m in members}) == 2 and losses.shape == (10, 3)
    for j, (member, result) in enumerate(zip(members, batched)):
        alone, alone_diagnostics = train_with_diagnostics(
            task, member.activation, seed=member.seed, data=resident, epochs=1, record_steps=10, fused=both_updates
        )
        alone_losses = alone_diagnostics.step_losses[:10]
        np.testing.assert_allclose(losses[:, j], alone_losses, atol=1e-4, rtol=0)
        assert result.status == alone.status == "ok"
        assert (result.steps, result.epochs, result.batch_size) == (alone.steps, alone.epochs, alone.batch_size)
        assert abs(result.val_loss - alone.val_loss) < 1e-3
        assert result.batch_seconds is not None and result.batch_seconds >= result.train_seconds
    assert not np.allclose(losses[:, 0], losses[:, 2])  # another seed: another member


def test_leaky_relu_member_after_another_validates_as_alone(task, resident) -> None:
    # max(x, a*x) is fused by oneDNN into a leaky ReLU, which computed wrong
    # values when its input was a non-first output of a split (TF 2.21)
    members = [BatchMember("tanh(x)", 0), BatchMember("max(x, 0.2*x)", 0)]
    results, diagnostics = train_batch_with_diagnostics(task, members, data=resident, epochs=1)
    assert diagnostics.batched is True
    for m, result in zip(members, results):
        alone = train(task, m.activation, seed=m.seed, data=resident, epochs=1)
        assert result.val_loss == pytest.approx(alone.val_loss, abs=1e-4)


def test_nan_member_fails_alone_others_finish_right(task, resident, both_updates) -> None:
    members = [BatchMember("x*sigmoid(x)", 3), BatchMember(NAN_EXPR, 3), BatchMember("tanh(x)", 4)]
    results, diagnostics = train_batch_with_diagnostics(task, members, data=resident, epochs=2, fused=both_updates)
    assert diagnostics.batched is True
    assert results[1].status == "failed" and "non-finite" in results[1].error
    alone_nan = train(task, NAN_EXPR, seed=3, data=resident, epochs=2, fused=both_updates)
    assert alone_nan.status == "failed" and results[1].steps == alone_nan.steps
    for j in (0, 2):
        alone = train(task, members[j].activation, seed=members[j].seed, data=resident, epochs=2, fused=both_updates)
        assert results[j].status == "ok" and results[j].steps == alone.steps
        assert abs(results[j].val_loss - alone.val_loss) < 1e-3
        assert abs(results[j].val_accuracy - alone.val_accuracy) <= 2 / len(resident.source.y_val)


def test_hurdle_stops_members_individually(task, resident) -> None:
    members = [BatchMember("tanh(x)", 0), BatchMember("sigmoid(x)", 0), BatchMember("x*sigmoid(x)", 0)]
    free = train_batch(task, members, data=resident, epochs=3, rungs=((1, -np.inf),))
    assert all(r.status == "ok" and len(r.partials) == 1 for r in free)
    at_hurdle = [r.partials[0].fitness for r in free]
    assert len(set(at_hurdle)) == 3
    threshold = sorted(at_hurdle)[1]  # the lowest member is below it, the other two are not
    hurdled = train_batch(task, members, data=resident, epochs=3, rungs=((1, threshold),))
    lowest = int(np.argmin(at_hurdle))
    for j, (f, h) in enumerate(zip(free, hurdled)):
        if j == lowest:
            assert h.status == "stopped" and h.epochs == 1 and h.fitness == pytest.approx(at_hurdle[j])
            assert h.steps == f.steps // 3
        else:
            assert h.status == "ok" and h.epochs == 3 and h.steps == f.steps
            assert h.val_loss == pytest.approx(f.val_loss, abs=1e-5)
    # a member's own threshold replaces the batch's: only the top member passes its own
    top = int(np.argmax(at_hurdle))
    own = [
        BatchMember(m.activation, m.seed, thresholds=(max(at_hurdle) if j == top else np.inf,))
        for j, m in enumerate(members)
    ]
    statuses = [r.status for r in train_batch(task, own, data=resident, epochs=3, rungs=((1, -np.inf),))]
    assert statuses == ["ok" if j == top else "stopped" for j in range(3)]


def test_members_stop_at_their_own_rungs(task, resident) -> None:
    """Two rungs: one member stops at the first, one at the second, one trains to the end."""
    members = [BatchMember("tanh(x)", 0), BatchMember("sigmoid(x)", 0), BatchMember("x*sigmoid(x)", 0)]
    own = [
        BatchMember(members[0].activation, 0, thresholds=(np.inf, -np.inf)),
        BatchMember(members[1].activation, 0, thresholds=(-np.inf, np.inf)),
        BatchMember(members[2].activation, 0, thresholds=(-np.inf, -np.inf)),
    ]
    results = train_batch(task, own, data=resident, epochs=4, rungs=((1, 0.0), (2, 0.0)))
    assert [(r.status, r.epochs, len(r.partials)) for r in results] == [
        ("stopped", 1, 1),
        ("stopped", 2, 2),
        ("ok", 4, 2),
    ]
    alone = train(task, "x*sigmoid(x)", seed=0, data=resident, epochs=4)
    assert results[2].val_loss == pytest.approx(alone.val_loss, abs=1e-4)


@pytest.mark.long  # keeps make test under its limit; CI runs it in make test-long
@pytest.mark.parametrize("parametric", [False, True], ids=["fixed", "parametric"])
def test_members_left_after_a_rung_move_into_a_smaller_program(task, resident, monkeypatch, parametric) -> None:
    """Three of four members stop at rung 1: the fourth trains on in a program of its own,
    with its weights and Adam moments, as it would have alone; each stopped member reports
    what it learned at its rung."""
    import actsearch.train.batch as batch

    exprs = (
        ["tanh(x)", "x*sigmoid(1.5*x)", "sigmoid(x)", "x*tanh(0.5*x) + 0.1"]
        if not parametric
        else ["x*sigmoid(1.5*x)"] * 4
    )
    members = [BatchMember(e, j, thresholds=(np.inf if j < 3 else -np.inf,)) for j, e in enumerate(exprs)]
    kwargs = {"data": resident, "epochs": 4, "rungs": ((1, 0.0),), "parametric": parametric}
    monkeypatch.setattr(batch, "RESTACK_MIN_WORK", float("inf"))
    kept, kept_diagnostics = train_batch_with_diagnostics(task, members, **kwargs)
    monkeypatch.setattr(batch, "RESTACK_MIN_WORK", 0.0)
    moved, diagnostics = train_batch_with_diagnostics(task, members, **kwargs)
    assert (kept_diagnostics.restacks, diagnostics.restacks) == (0, 1)
    assert [r.status for r in moved] == ["stopped"] * 3 + ["ok"]
    for a, b in zip(kept, moved):
        assert (a.status, a.epochs, a.steps) == (b.status, b.epochs, b.steps)
        assert b.val_loss == pytest.approx(a.val_loss, abs=1e-4)
    alone = train(task, exprs[3], seed=3, data=resident, epochs=4, parametric=parametric)
    assert moved[3].val_loss == pytest.approx(alone.val_loss, abs=1e-4)
    if parametric:
        at_rung = train(task, exprs[0], seed=0, data=resident, epochs=1, parametric=True)
        assert moved[0].learned == pytest.approx(at_rung.learned, abs=1e-4)
        assert kept[0].learned == pytest.approx(at_rung.learned, abs=1e-4)  # not trained on after it stopped
        assert moved[3].learned == pytest.approx(alone.learned, abs=1e-3)


def test_user_task_from_examples_trains_batched() -> None:
    user = get_task("examples/my_task.py:make_task")
    rd = prepare_data(user.get_data())
    members = [BatchMember(e, s) for e in ("x*sigmoid(x)", "tanh(x)") for s in (0, 1)]
    results, diagnostics = train_batch_with_diagnostics(user, members, data=rd, epochs=2, record_steps=5)
    assert diagnostics.batched is True
    losses = diagnostics.step_losses[:5]
    for j, (member, result) in enumerate(zip(members, results)):
        alone, alone_diagnostics = train_with_diagnostics(
            user, member.activation, seed=member.seed, data=rd, epochs=2, record_steps=5
        )
        np.testing.assert_allclose(losses[:, j], alone_diagnostics.step_losses[:5], atol=1e-4)
        assert result.status == "ok" and result.val_accuracy == pytest.approx(alone.val_accuracy, abs=0.01)


def test_models_of_different_structure_fall_back_to_one_at_a_time(task, resident, caplog) -> None:
    calls = []

    def growing_model(activation):  # every build is one unit wider: not stackable
        import keras

        calls.append(1)
        inputs = keras.Input(shape=(64,))
        h = keras.layers.Dense(8 + len(calls), activation=activation)(inputs)
        return keras.Model(inputs, keras.layers.Dense(10)(h))

    odd = Task(name="growing", build_model=growing_model, setup=task.setup, data=task.get_data())
    results, diagnostics = train_batch_with_diagnostics(
        odd, [BatchMember("tanh(x)", 0), BatchMember("relu(x)", 1)], data=resident, epochs=1
    )
    assert diagnostics.batched is False
    assert "differ in structure" in diagnostics.reason
    assert len(diagnostics.parts) == 2 and len(diagnostics.segments) == 2  # each member's own program
    assert "one at a time" in caplog.text
    assert [r.status for r in results] == ["ok", "ok"]


def test_initial_weights_that_depend_on_the_activation_are_built_per_member(task, resident) -> None:
    import keras
    import tensorflow as tf

    def model_by_activation(activation):  # wider initial weights for relu than for others
        stddev = 0.5 if activation is tf.nn.relu else 0.05
        inputs = keras.Input(shape=(64,))
        init = keras.initializers.RandomNormal(stddev=stddev)
        h = keras.layers.Dense(16, activation=activation, kernel_initializer=init)(inputs)
        return keras.Model(inputs, keras.layers.Dense(10)(h))

    odd = Task(name="by-activation", build_model=model_by_activation, setup=task.setup, data=task.get_data())
    members = [BatchMember(tf.nn.relu, 0), BatchMember(tf.tanh, 0), BatchMember(tf.tanh, 1)]
    _, diagnostics = train_batch_with_diagnostics(odd, members, data=resident, epochs=1, record_steps=3)
    assert diagnostics.batched is True
    losses = diagnostics.step_losses[:3]
    for j, m in enumerate(members):
        _, alone = train_with_diagnostics(odd, m.activation, seed=m.seed, data=resident, epochs=1, record_steps=3)
        np.testing.assert_allclose(losses[:, j], alone.step_losses[:3], atol=1e-4)


def test_parametric_members_batch_by_expression(task, resident) -> None:
    members = [BatchMember("x*sigmoid(1.5*x)", 0), BatchMember("x*sigmoid(1.5*x)", 1), BatchMember("tanh(2*x)", 0)]
    results = train_batch(task, members, data=resident, epochs=1, parametric=True)
    assert [r.status for r in results] == ["ok"] * 3
    alone = train(task, "x*sigmoid(1.5*x)", seed=1, data=resident, epochs=1, parametric=True)
    assert results[1].val_loss == pytest.approx(alone.val_loss, abs=1e-3)
    assert results[0].batch_seconds == results[1].batch_seconds  # one program for the two seeds


def test_flat_weights_round_trip_and_update_each_weight_alone() -> None:
    import keras

    from actsearch.train.batch import _FlatWeights

    rng = np.random.default_rng(0)
    stacked = [rng.normal(size=(3, 4, 5)).astype("float32"), rng.normal(size=(3, 5)).astype("float32")]
    flat = _FlatWeights(stacked)
    assert flat.variables[0].shape == (75,)
    for got, want in zip(flat.values(), stacked):
        np.testing.assert_array_equal(got.numpy(), want)
    grads = [np.ones((3, 4, 5), "float32"), None]  # the second weight unused by the loss
    flat.apply(keras.optimizers.SGD(0.5), grads, fused=False)
    kernel, bias = (v.numpy() for v in flat.values())
    np.testing.assert_allclose(kernel, stacked[0] - 0.5, rtol=1e-6)
    np.testing.assert_array_equal(bias, stacked[1])
