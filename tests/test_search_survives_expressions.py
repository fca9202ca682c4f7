"""The search survives a failing or slow expression operation: that candidate is rejected
with its reason, the rest of the run goes on (issue 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

import actsearch.search.loop as search_module
from actsearch.evolve import TreeFactory
from actsearch.expr.bounded import AlgebraTimeout
from actsearch.search import SearchRequest, run_search
from actsearch.store import Store

TINY_SPACE = Path(__file__).parent / "data" / "tiny.yaml"


@pytest.mark.slow
def test_failing_screen_and_canonical_form_reject_one_candidate_each(tmp_path: Path, monkeypatch) -> None:
    calls = {"screen": 0, "activation": 0}
    real_screen, real_activation = search_module.screen, TreeFactory.activation

    def flaky_screen(activation, **options):
        calls["screen"] += 1
        if calls["screen"] == 2:
            raise FloatingPointError("screening blew up")
        return real_screen(activation, **options)

    def flaky_activation(self, individual):
        calls["activation"] += 1
        if calls["activation"] == 4:
            raise AlgebraTimeout("canonical took longer than 0.5 s")
        return real_activation(self, individual)

    monkeypatch.setattr(search_module, "screen", flaky_screen)
    monkeypatch.setattr(TreeFactory, "activation", flaky_activation)
    db = tmp_path / "s.db"
    outcome = run_search(SearchRequest(space=str(TINY_SPACE), db=str(db), run="s", seed=3, executor="local"))

    store = Store.open(db)
    assert store.find_run("s").status == "finished"
    candidates = store.candidates(outcome.run.id)
    proposed = [c for c in candidates if not c.is_baseline]
    trained = [c for c in proposed if c.status in ("evaluated", "failed")]
    assert len(trained) == 12  # the budget (population 6 x 2 generations) spent in full
    reasons = {c.reason for c in proposed if c.status == "rejected"}
    assert "expression failed: FloatingPointError: screening blew up" in reasons
    assert "expression failed: AlgebraTimeout: canonical took longer than 0.5 s" in reasons
    failed = [c for c in proposed if c.reason and c.reason.startswith("expression failed")]
    assert len(failed) == 2 and all(c.tell_seq is not None for c in failed)  # told to the strategy
    assert any(c.status == "evaluated" for c in proposed)
