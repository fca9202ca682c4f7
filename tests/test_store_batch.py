"""`Store.batch()`: a search's writes buffered and committed in one transaction, on every backend."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import event
from support import result

from actsearch.results import Partial
from actsearch.store import Store, StoreError


def _commits(store: Store) -> list[int]:
    """A counter of the transactions committed on the store's engine from now on."""
    count = [0]
    event.listen(store._engine, "commit", lambda conn: count.__setitem__(0, count[0] + 1))
    return count


def _writes(target, run_id: int, stored_id: int) -> None:
    """The same writes through a batch or through the Store's own methods: proposals with
    lineage, a duplicate of a candidate of the same batch, a rejection finished at once,
    results with partial readings, and outcomes of a candidate stored before."""
    a = target.add_candidate(
        run_id, expr="x", fingerprint="fa", complexity=1, generation=0, origin="init", status="queued", ask_seq=1
    )
    a = getattr(a, "id", a)
    b = target.add_candidate(
        run_id,
        expr="x * tanh(x)",
        fingerprint="fb",
        complexity=4,
        generation=1,
        parents=[a, stored_id],
        origin="crossover",
        status="queued",
        genotype="mul(x, tanh(x))",
        ask_seq=2,
    )
    b = getattr(b, "id", b)
    dup = target.add_candidate(
        run_id,
        expr="tanh(x) * x",
        fingerprint="fb",
        complexity=4,
        generation=1,
        parents=[b],
        origin="mutation:swap",
        status="duplicate",
        equivalent_to=b,
        reason=f"equivalent to candidate {b}",
        ask_seq=3,
    )
    dup = getattr(dup, "id", dup)
    bad = target.add_candidate(
        run_id, expr="log(x)", fingerprint="fl", complexity=2, generation=1, origin="init", status="rejected", ask_seq=4
    )
    bad = getattr(bad, "id", bad)
    target.finish_candidate(bad, fitness=None, tell_seq=5)
    for seed, acc in ((0, 0.8), (1, 0.9)):
        parts = (Partial(1, acc / 2, 2.0, fitness=acc / 2), Partial(3, acc * 0.9, 1.2))
        target.add_evaluation(b, task="t", seed=seed, planned_epochs=5, result=result(acc, partials=parts))
    target.add_evaluation(a, task="t", seed=0, planned_epochs=5, result=result(None, status="failed", error="NaN"))
    target.add_evaluation(stored_id, task="t", seed=1, planned_epochs=5, result=result(0.7))
    target.finish_candidate(b, fitness=0.85, fitness_std=0.05, status="evaluated", tell_seq=6)
    target.finish_candidate(dup, fitness=0.85, tell_seq=7)
    target.finish_candidate(a, fitness=None, status="failed", reason="seed 0: NaN", tell_seq=8)
    target.finish_candidate(stored_id, fitness=0.7, status="evaluated", tell_seq=9)
    target.finish_candidate(stored_id, fitness=0.75, fitness_std=0.01)  # the last write wins


def _contents(store: Store, run_id: int) -> list:
    """A run's candidates and evaluations, with ids replaced by positions (comparable across runs)."""
    candidates = store.candidates(run_id)
    position = {c.id: i for i, c in enumerate(candidates)}
    skip = {"id", "run_id", "created_at", "updated_at", "parents", "equivalent_to", "reason"}
    rows = []
    for c in candidates:
        fields = {k: v for k, v in dataclasses.asdict(c).items() if k not in skip}
        parents = [position.get(p, "stored") for p in c.parents]
        evaluations = [
            (e.task, e.seed, e.status, e.fitness, e.is_partial, e.partial_of is not None, e.planned_epochs, e.error)
            for e in store.evaluations(c.id)
        ]
        reason = c.reason and c.reason.replace(str(c.equivalent_to), "ORIGINAL")
        rows.append((fields, reason, parents, position.get(c.equivalent_to), evaluations))
    return rows


def _run_with_one_candidate(store: Store, name: str) -> tuple[int, int]:
    run = store.create_run(name, task="t", space="s", seed=0, config={})
    stored = store.add_candidate(
        run.id, expr="relu(x)", fingerprint="fr", complexity=2, generation=0, origin="baseline", status="queued"
    )
    return run.id, stored.id


def test_a_batch_is_one_transaction_and_stores_what_the_store_methods_store(db):
    store = db.open()
    direct_run, direct_stored = _run_with_one_candidate(store, "direct")
    _writes(store, direct_run, direct_stored)
    batched_run, batched_stored = _run_with_one_candidate(store, "batched")

    commits = _commits(store)
    batch = store.batch()
    _writes(batch, batched_run, batched_stored)
    assert commits[0] == 0 and batch.pending == 4 + 4 + 1  # candidates, results, update of the stored one
    assert len(store.candidates(batched_run)) == 1  # nothing visible before the flush
    batch.flush()
    assert commits[0] == 1 and batch.pending == 0 and batch.flushes == 1
    batch.close()

    assert _contents(store, batched_run) == _contents(store, direct_run)
    evaluations = store.run_evaluations(batched_run, partials=True)
    finals = {e.id: e for e in evaluations if not e.is_partial}
    assert all(e.partial_of in finals and finals[e.partial_of].seed == e.seed for e in evaluations if e.is_partial)


def test_ids_handed_out_by_a_batch_are_the_stored_ones(db):
    store = db.open()
    run, _ = _run_with_one_candidate(store, "r")
    batch = store.batch()
    ids = [
        batch.add_candidate(
            run, expr=f"x + {i}", fingerprint=f"f{i}", complexity=3, generation=0, origin="init", status="queued"
        )
        for i in range(3)
    ]
    batch.flush()
    after = store.add_candidate(
        run, expr="x", fingerprint="fx", complexity=1, generation=0, origin="init", status="queued"
    )
    batch.close()
    stored = [c.id for c in store.candidates(run)]
    assert ids == sorted(ids) and set(ids) <= set(stored) and after.id > max(ids)


def test_discard_drops_what_was_not_flushed(db):
    store = db.open()
    run, stored_id = _run_with_one_candidate(store, "r")
    batch = store.batch()
    batch.add_candidate(run, expr="x", fingerprint="f", complexity=1, generation=0, origin="init", status="queued")
    batch.add_evaluation(stored_id, task="t", seed=0, planned_epochs=5, result=result(0.5))
    batch.discard()
    assert batch.pending == 0
    batch.flush()  # nothing to write
    batch.close()
    assert len(store.candidates(run)) == 1 and store.evaluations(stored_id) == []
    store.add_candidate(run, expr="y", fingerprint="g", complexity=1, generation=0, origin="init", status="queued")


def test_a_batch_is_due_by_age_or_size(db):
    store = db.open()
    run, stored_id = _run_with_one_candidate(store, "r")
    batch = store.batch()
    assert not batch.due(0.0, 1) and batch.age == 0.0
    batch.add_evaluation(stored_id, task="t", seed=0, planned_epochs=5, result=result(0.5))
    assert batch.due(0.0, 100) and batch.due(3600.0, 1) and not batch.due(3600.0, 2)
    batch.close()


def test_sqlite_batch_holds_the_write_lock_until_its_flush(tmp_path):
    """Its ids are safe from other writers: theirs come after them. While it holds the lock, another
    write through the same store is refused at once (it would wait for itself)."""
    store = Store.open(tmp_path / "a.db")
    other = Store.open(tmp_path / "a.db")
    other.retry_seconds = 0.5
    run, _ = _run_with_one_candidate(store, "r")
    batch = store.batch()
    first = batch.add_candidate(
        run, expr="x", fingerprint="f", complexity=1, generation=0, origin="init", status="queued"
    )
    assert batch.holds_lock
    with pytest.raises(StoreError, match="holds the write lock"):
        store.set_run_status(run, "interrupted")
    assert [c.id for c in other.candidates(run)] == [first - 1]  # readers are not blocked
    batch.flush()
    assert not batch.holds_lock
    later = other.add_candidate(
        run, expr="y", fingerprint="g", complexity=1, generation=0, origin="init", status="queued"
    )
    assert later.id == first + 1
    batch.close()
    store.close()
    other.close()


def test_read_only_store_makes_no_batch(tmp_path):
    Store.open(tmp_path / "a.db").close()
    with Store.open(tmp_path / "a.db", read_only=True) as reader, pytest.raises(StoreError, match="read-only"):
        reader.batch()
