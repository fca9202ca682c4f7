"""The search survives a failing or slow expression operation: that candidate is rejected
with its reason, the rest of the run goes on (issue 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

import actsearch.search.loop as search_module
from actsearch.expr import Activation
from actsearch.search import SearchRequest, run_search
from actsearch.store import Store

TINY_SPACE = Path(__file__).parent / "data" / "tiny.yaml"


@pytest.mark.slow
def test_failing_screen_and_light_form_reject_one_candidate_each(tmp_path: Path, monkeypatch) -> None:
    calls = {"screen": 0, "light": 0}
    real_screen = search_module.screen

    def flaky_screen(activation, **options):
        calls["screen"] += 1
        if calls["screen"] == 2:
            raise FloatingPointError("screening blew up")
        return real_screen(activation, **options)

    class FlakyActivation(Activation):
        @classmethod
        def from_tree(cls, node, *, simplify=True):  # the loop's light form of a proposal
            if not simplify:
                calls["light"] += 1
                if calls["light"] == 4:
                    raise OverflowError("light form blew up")
            return super().from_tree(node, simplify=simplify)

    monkeypatch.setattr(search_module, "screen", flaky_screen)
    monkeypatch.setattr(search_module, "Activation", FlakyActivation)
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
    assert "expression failed: OverflowError: light form blew up" in reasons
    failed = [c for c in proposed if c.reason and c.reason.startswith("expression failed")]
    assert len(failed) == 2 and all(c.tell_seq is not None for c in failed)  # told to the strategy
    assert any(c.status == "evaluated" for c in proposed)
