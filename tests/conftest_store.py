"""Shared fixtures of the store conformance suite (imported by tests/test_store*.py).

The `db` fixture is parametrised over the backends: a real SQLite file always,
and PostgreSQL when ACTSEARCH_TEST_PG_URL is set (`source .ci/postgres.sh`).
With CI set and no URL, the PostgreSQL case is collected and fails, so CI
cannot silently skip it; locally without a URL it is simply not collected.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from actsearch.results import EvalResult, Partial
from actsearch.store import Store

PG_ENV = "ACTSEARCH_TEST_PG_URL"
REPO = Path(__file__).resolve().parents[1]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def backend_params() -> list[str]:
    backends = ["sqlite"]
    if os.environ.get(PG_ENV) or in_ci():
        backends.append("postgresql")
    return backends


@dataclass
class Backend:
    kind: str
    url: str
    _stores: list[Store] = field(default_factory=list)
    _engines: list = field(default_factory=list)

    def open(self, **kwargs) -> Store:
        store = Store.open(self.url, **kwargs)
        self._stores.append(store)
        return store

    def engine(self):
        """A plain SQLAlchemy engine on the same database (for raw SQL in tests)."""
        from sqlalchemy import create_engine

        from actsearch.store.schema import resolve_url

        engine = create_engine(resolve_url(self.url))
        self._engines.append(engine)
        return engine

    def close(self) -> None:
        for store in self._stores:
            store.close()
        for engine in self._engines:
            engine.dispose()


def _pg_url_for_schema(base: str, schema: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=backend_params())
def db(request, tmp_path):
    """A fresh, empty database on one backend (a new schema on PostgreSQL)."""
    if request.param == "sqlite":
        backend = Backend("sqlite", str(tmp_path / "actsearch.db"))
        yield backend
        backend.close()
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.fail(
            f"{PG_ENV} is not set but CI is: the PostgreSQL store tests must run in CI "
            "(source .ci/postgres.sh before pytest)",
            pytrace=False,
        )
    from sqlalchemy import create_engine, text

    from actsearch.store.schema import resolve_url

    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(resolve_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    backend = Backend("postgresql", _pg_url_for_schema(base, schema))
    try:
        yield backend
    finally:
        backend.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def result(
    fitness: float | None = 0.5,
    *,
    status: str = "ok",
    partials: tuple[Partial, ...] = (),
    error: str | None = None,
    val_loss: float | None = 1.0,
) -> EvalResult:
    return EvalResult(
        status=status,
        fitness=fitness,
        val_accuracy=fitness,
        val_loss=val_loss,
        train_seconds=1.5,
        epochs=5,
        steps=50,
        batch_size=32,
        error=error,
        worker="w1",
        partials=partials,
    )


def populate(store: Store) -> dict[str, int]:
    """A small, realistic database: two runs, baselines, lineage, rejections, duplicates."""
    ids: dict[str, int] = {}
    demo = store.create_run("demo", task="mnist1d", space="search_spaces/small.yaml", seed=1,
                            config={"generations": 3, "population": 4})
    other = store.create_run("other", task="mnist1d", space="small", seed=2, config={})
    ids["demo"], ids["other"] = demo.id, other.id

    def cand(run, key, expr, fp, gen, origin, parents=(), status="queued", baseline=False,
             reason=None, equivalent_to=None, complexity=None):
        c = store.add_candidate(run, expr=expr, fingerprint=fp, complexity=complexity or len(expr),
                                generation=gen, parents=[ids[p] for p in parents], origin=origin,
                                is_baseline=baseline, status=status, reason=reason,
                                equivalent_to=equivalent_to)
        ids[key] = c.id
        return c

    def train(key, accs, task="mnist1d", partial=True):
        for seed, acc in enumerate(accs):
            parts = (Partial(1, acc / 2, 2.0), Partial(3, acc * 0.9, 1.2)) if partial else ()
            store.add_evaluation(ids[key], task=task, seed=seed, budget=5,
                                 result=result(acc, partials=parts))
        mean = sum(accs) / len(accs)
        store.finish_candidate(ids[key], fitness=mean, fitness_std=max(accs) - min(accs), status="evaluated")

    d = ids["demo"]
    cand(d, "relu", "max(x, 0)", "fp-relu", 0, "baseline", baseline=True)
    train("relu", [0.70, 0.72])
    cand(d, "a", "x * sigmoid(x)", "fp-swish", 0, "init")
    train("a", [0.80, 0.84])
    cand(d, "b", "tanh(x)", "fp-tanh", 0, "init")
    train("b", [0.60, 0.62])
    cand(d, "c", "x * sigmoid(1.5 * x)", "fp-c", 1, "mutation:point", parents=["a"])
    train("c", [0.86, 0.88])
    cand(d, "d", "tanh(x) * sigmoid(1.5 * x)", "fp-d", 2, "crossover", parents=["c", "b"])
    train("d", [0.90, 0.92])
    cand(d, "dup", "sigmoid(x) * x", "fp-swish", 1, "mutation:swap", parents=["a"],
         status="duplicate", equivalent_to=ids["a"])
    cand(d, "r1", "log(x)", "fp-log", 1, "mutation:point", parents=["b"], status="rejected",
         reason="non-finite output")
    cand(d, "r2", "exp(exp(x))", "fp-expexp", 1, "mutation:point", parents=["b"],
         status="rejected", reason="non-finite output")
    cand(d, "r3", "x - x + 1", "fp-const", 1, "mutation:point", parents=["a"],
         status="rejected", reason="constant")
    cand(d, "f1", "x ** 9", "fp-x9", 2, "mutation:point", parents=["c"], status="failed",
         reason="NaN loss")
    store.add_evaluation(ids["f1"], task="mnist1d", seed=0, budget=5,
                         result=result(None, status="failed", error="NaN loss",
                                       val_loss=float("nan")))
    cand(d, "q", "x * tanh(x)", "fp-q", 2, "mutation:point", parents=["d"], status="queued")

    o = ids["other"]
    cand(o, "o-relu", "max(x, 0)", "fp-relu", 0, "baseline", baseline=True)
    train("o-relu", [0.71])
    cand(o, "o-a", "x * sigmoid(2 * x)", "fp-oa", 0, "user")
    train("o-a", [0.95], partial=False)
    cand(o, "o-r", "1 / x", "fp-inv", 0, "init", status="rejected", reason="non-finite output")
    store.set_run_status(ids["other"], "finished")
    return ids
