"""Suites: named sets of built-in tasks for `actsearch validate --suite NAME`."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from actsearch.tasks import suites
from actsearch.tasks.suites import SUITES, SuiteError, get_suite, suite_names


def test_the_suites_and_their_tasks() -> None:
    assert suite_names() == ["classic", "general", "held-out", "panel"]
    assert get_suite("classic").tasks == ("mnist1d-mlp", "mnist1d-cnn", "digits-mlp", "digits-cnn")
    assert get_suite("general").tasks == ("ood-regression", "deep-mlp", "mnist1d-mlp", "digits-cnn")
    assert get_suite(" held-out ").tasks == ("residual-mlp", "transformer", "mnist1d-cnn", "digits-mlp")
    panel = get_suite("panel").tasks
    assert len(panel) == len(set(panel)) == 8
    assert set(panel) == set(SUITES["general"].tasks) | set(SUITES["held-out"].tasks) | set(SUITES["classic"].tasks)
    assert not set(SUITES["general"].tasks) & set(SUITES["held-out"].tasks)  # held out: never searched on
    assert all(s.description and len(s.tasks) == len(set(s.tasks)) for s in SUITES.values())


@pytest.mark.parametrize("name", ["nope", "", "Classic"])
def test_an_unknown_suite_is_one_line_naming_the_known_ones(name: str) -> None:
    with pytest.raises(SuiteError) as info:
        get_suite(name)
    message = str(info.value)
    assert "\n" not in message and f"unknown suite {name!r}" in message
    assert message.endswith("known suites: classic, general, held-out, panel")


def test_the_module_imports_the_standard_library_only() -> None:
    tree = ast.parse(Path(suites.__file__).read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported and imported <= set(sys.stdlib_module_names) | {"__future__"}
