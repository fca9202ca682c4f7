"""Lamarckian constants: a candidate's constants learned by gradient, written back into its tree.

In a space with `evolution.lamarckian`, each proposal trains its tree *as evolved* (not its
light or canonical form, which fold and reorder constants), as a parametric activation:
every constant but `pow` exponents is a trainable weight of each hidden layer, initialised
at its value. A standardised space wraps the tree as ``s * tree + t`` (`Moments.tree`), so
the trained expression's parameters are, in tree order, ``s``, the tree's own, then ``t``.
The learned values (each one's mean over the hidden layers, then over the candidate's
trainings) replace the tree's constants; the strategy is told the tree with them, so its
offspring start from refined constants, and the store keeps both forms (`genotype` as
proposed, `learned` as written back).

Both functions are pure: a resume recomputes the same texts from the stored proposal and
evaluations.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np

from actsearch.expr import Activation
from actsearch.expr.ast import Node
from actsearch.expr.normalize import moments
from actsearch.expr.printer import round_constant

log = logging.getLogger(__name__)


def trained_tree(node: Node, normalize: bool) -> Node | None:
    """The tree a Lamarckian training trains: the tree as evolved, standardised when the
    space normalises (None: it cannot be, its spread under N(0, 1) inputs is zero)."""
    if not normalize:
        return node
    found = moments(Activation.from_tree(node, simplify=False))
    return None if found is None else found.tree(node)


def exact_text(node: Node, normalize: bool) -> str | None:
    """`trained_tree` as prefix-call text, which a worker trains exactly as written."""
    tree = trained_tree(node, normalize)
    return None if tree is None else Activation.exact(tree).prefix


def written_back(node: Node, normalize: bool, learned: Iterable[Sequence[float] | None]) -> str | None:
    """The tree as evolved with the constants its trainings learned (their mean), as
    genotype text; None when no training learned any, or the values do not fit the tree
    (a mismatch is logged: it means the worker trained another form)."""
    vectors = [tuple(v) for v in learned if v is not None]
    if not vectors:
        return None
    values = np.mean(np.array(vectors, dtype=float), axis=0)
    if normalize:
        values = values[1:-1]  # the standardisation's scale and shift are not the tree's
    if not values.size:  # a tree without constants to learn
        return None
    try:
        tree = Activation.exact(node).with_parameters(round_constant(float(v)) for v in values)
    except ValueError as error:  # different lengths, or a constant out of range
        log.warning("learned constants not written back: %s", error)
        return None
    return tree.prefix
