"""Suites: named sets of built-in tasks, so that `actsearch validate --suite NAME` checks a
pick on the same tasks every time.

A suite is only names: whether each task exists is checked when a validation is
planned. Standard library only (the command line imports this to plan, before any
TensorFlow loads).
"""

from __future__ import annotations

from dataclasses import dataclass


class SuiteError(ValueError):
    """An unknown suite name. The message is one line."""


@dataclass(frozen=True)
class Suite:
    """A named set of built-in tasks, in the order they are validated."""

    name: str
    tasks: tuple[str, ...]
    description: str


CLASSIC = Suite(
    "classic",
    ("mnist1d-mlp", "mnist1d-cnn", "digits-mlp", "digits-cnn"),
    "the original four tasks: MNIST-1D and digits, each with an MLP and a CNN",
)
GENERAL = Suite(
    "general",
    ("ood-regression", "deep-mlp", "mnist1d-mlp", "digits-cnn"),
    "the tasks the `general` search space searches on",
)
HELD_OUT = Suite(
    "held-out",
    ("residual-mlp", "transformer", "mnist1d-cnn", "digits-mlp"),
    "panel tasks the `general` search never sees",
)
PANEL = Suite(
    "panel",
    (
        "mnist1d-mlp",
        "mnist1d-cnn",
        "digits-mlp",
        "digits-cnn",
        "deep-mlp",
        "residual-mlp",
        "transformer",
        "ood-regression",
    ),
    "every task of the panel: the classic four, then the deeper and other architectures",
)

#: Every suite by name, in the order they are listed.
SUITES: dict[str, Suite] = {s.name: s for s in (CLASSIC, GENERAL, HELD_OUT, PANEL)}


def suite_names() -> list[str]:
    """Names of the suites, in the order they are listed."""
    return list(SUITES)


def get_suite(name: str) -> Suite:
    """The suite called `name` (surrounding blanks ignored); SuiteError (one line, naming
    the known suites) for any other name."""
    suite = SUITES.get(name.strip()) if isinstance(name, str) else None
    if suite is None:
        raise SuiteError(f"unknown suite {name!r}; known suites: {', '.join(SUITES)}")
    return suite


__all__ = ["SUITES", "Suite", "SuiteError", "get_suite", "suite_names"]
