"""The DEAP adapter: the only module that touches DEAP's trees and creator.

DEAP gives us cheap prefix trees, random generation, crossover, mutation and
the `staticLimit` bloat control. We never `gp.compile` (it uses `eval`) nor
`PrimitiveTree.from_string` (ditto): trees cross into the rest of actsearch
as our own AST, and come back from text through our own parser.

DEAP draws from the global `random` module; `TreeFactory` swaps its own
seeded generator in around every DEAP call so that a search is reproducible
and nothing else in the process disturbs it.
"""

from __future__ import annotations

import contextlib
import operator
import random
from collections.abc import Callable, Iterator
from typing import Any, TypeAlias

from deap import base, creator, gp

from actsearch.expr import Activation, parse
from actsearch.expr.ast import Call, Const, Node, Var
from actsearch.expr.printer import to_prefix
from actsearch.spaces import SearchSpace

MAX_HEIGHT_LIMIT = 17  # DEAP cannot handle deep trees; spaces.Tree enforces it too

if not hasattr(creator, "ActsearchFitness"):
    creator.create("ActsearchFitness", base.Fitness, weights=(1.0,))
    creator.create("ActsearchTree", gp.PrimitiveTree, fitness=creator.ActsearchFitness)

Individual: TypeAlias = Any  # a gp.PrimitiveTree (DEAP ships no type information)


def _placeholder(*_args: object) -> float:
    raise RuntimeError("actsearch never compiles DEAP trees; lower them through actsearch.expr")


class TreeFactory:
    """Random trees, variation operators and conversions for one search space."""

    def __init__(self, space: SearchSpace, rng: random.Random) -> None:
        self.space = space
        self.rng = rng
        #: with `tree.linear_path`, trees are b(x, g): the operators work on g, one level lower
        self.linear_path = space.tree.linear_path
        self.pset = self._primitive_set(space)
        self.binaries = [self.pset.mapping[name] for name in space.primitives.binary]
        self.toolbox = self._toolbox()
        self.mutations: dict[str, Callable[[Individual], Individual]] = {
            "subtree": self._mutate_subtree,
            "point": self._mutate_point,
            "insert": self._mutate_insert,
            "shrink": self._mutate_shrink,
            "constant": self._mutate_constant,
        }

    # -- construction -----------------------------------------------------------------

    def _primitive_set(self, space: SearchSpace) -> gp.PrimitiveSet:
        pset = gp.PrimitiveSet("activation", 1)
        pset.renameArguments(ARG0="x")
        for name in space.primitives.unary:
            pset.addPrimitive(_placeholder, 1, name=name)
        for name in space.primitives.binary:
            pset.addPrimitive(_placeholder, 2, name=name)
        pset.addEphemeralConstant("const", self._draw_constant)
        return pset

    def _toolbox(self) -> base.Toolbox:
        tree = self.space.tree
        toolbox = base.Toolbox()
        toolbox.register(
            "expr",
            gp.genHalfAndHalf,
            pset=self.pset,
            min_=max(0, tree.init_min_height - self._below_root),
            max_=tree.init_max_height - self._below_root,
        )
        toolbox.register("subtree", gp.genGrow, pset=self.pset, min_=0, max_=2)
        limit = gp.staticLimit(key=operator.attrgetter("height"), max_value=self._max_height)
        toolbox.register("mate", gp.cxOnePoint)
        toolbox.decorate("mate", limit)
        return toolbox

    @property
    def _below_root(self) -> int:
        """Levels above the evolved part: 1 for b(x, g), 0 otherwise."""
        return 1 if self.linear_path else 0

    @property
    def _max_height(self) -> int:
        """The evolved part's height limit."""
        return self.space.tree.max_height - self._below_root

    def _draw_constant(self) -> float:
        low, high = self.space.constants.range
        return round(random.uniform(low, high), self.space.constants.decimals)

    @contextlib.contextmanager
    def _seeded(self) -> Iterator[None]:
        """Run DEAP's draws and this module's on this factory's generator: meanwhile the name
        `random` in both modules is the generator itself. (The same draws as copying its state
        into the global generator and back, without copying the states, which cost more than
        a random tree; not re-entrant, and the blocks do not nest.)"""
        global random
        saved = random
        gp.random = random = self.rng  # type: ignore[assignment]
        try:
            yield
        finally:
            gp.random = random = saved

    def _individual(self, nodes: list) -> Individual:
        return creator.ActsearchTree(self._with_leaf_policy(nodes))

    def _with_leaf_policy(self, nodes: list) -> list:
        """DEAP picks x and constants with equal odds; use the space's constant probability."""
        out = []
        x_terminal = self.pset.mapping["x"]
        for node in nodes:
            if isinstance(node, gp.Terminal):
                node = self._new_constant() if random.random() < self.space.constants.probability else x_terminal
            out.append(node)
        return out

    def _new_constant(self, value: float | None = None) -> gp.Terminal:
        cls = self.pset.mapping["const"]
        term = cls.__new__(cls)
        term.value = self._draw_constant() if value is None else value
        return term

    # -- the operators the strategies use ---------------------------------------------

    def random_tree(self) -> Individual:
        with self._seeded():
            tree = self._individual(self.toolbox.expr())
            if self.linear_path:
                tree = self._join([random.choice(self.binaries), self.pset.mapping["x"]], tree)
            return tree

    def crossover(self, a: Individual, b: Individual) -> tuple[Individual, Individual]:
        with self._seeded():
            if not self.linear_path:
                return self.toolbox.mate(self.toolbox.clone(a), self.toolbox.clone(b))
            (head_a, a), (head_b, b) = self._split(a), self._split(b)
            a, b = self.toolbox.mate(a, b)
            return self._join(head_a, a), self._join(head_b, b)

    def mutate(self, ind: Individual) -> tuple[Individual, str]:
        """Apply one mutation operator chosen at random; returns (child, operator name).
        With a linear path, the root b of b(x, g) is one node among the tree's to mutate."""
        with self._seeded():
            if not self.linear_path:
                return self._mutated(ind)
            head, evolved = self._split(ind)
            if head and random.random() < 1 / len(ind):
                return self._join([random.choice(self.binaries), head[1]], self.toolbox.clone(evolved)), "point"
            child, name = self._mutated(evolved)
            return self._join(head, child), name

    def _mutated(self, ind: Individual) -> tuple[Individual, str]:
        name = random.choice(self._applicable_mutations(ind))
        child = self.mutations[name](self.toolbox.clone(ind))
        if child.height > self._max_height:  # the bloat limit
            child = self.toolbox.clone(ind)
            name = "constant" if self._constant_positions(child) else "point"
            child = self.mutations[name](child)
        return child, name

    def _split(self, ind: Individual) -> tuple[list, Individual]:
        """b(x, g) as ([b, x], g); a tree of another form (a seed expression) is all g."""
        root, first = (ind[0], ind[1]) if len(ind) > 2 else (None, None)
        if isinstance(root, gp.Primitive) and root.arity == 2 and self._is_x(first):
            return list(ind[:2]), creator.ActsearchTree(ind[2:])
        return [], self.toolbox.clone(ind)

    @staticmethod
    def _join(head: list, evolved: Individual) -> Individual:
        return creator.ActsearchTree([*head, *evolved])

    def _applicable_mutations(self, ind: Individual) -> list[str]:
        names = ["subtree", "point", "insert"]
        if len(ind) > 1:
            names.append("shrink")
        if self._constant_positions(ind):
            names.append("constant")
        return names

    def _mutate_subtree(self, ind: Individual) -> Individual:
        expr = lambda pset, type_: self._with_leaf_policy(self.toolbox.subtree())  # noqa: E731
        (child,) = gp.mutUniform(ind, expr=expr, pset=self.pset)
        return child

    def _mutate_point(self, ind: Individual) -> Individual:
        index = random.randrange(len(ind))
        node = ind[index]
        if isinstance(node, gp.Terminal):
            ind[index] = self._with_leaf_policy([node])[0]
            return ind
        (child,) = gp.mutNodeReplacement(ind, pset=self.pset)
        return child

    def _mutate_insert(self, ind: Individual) -> Individual:
        (child,) = gp.mutInsert(ind, pset=self.pset)
        return child

    def _mutate_shrink(self, ind: Individual) -> Individual:
        (child,) = gp.mutShrink(ind)
        return child

    def _mutate_constant(self, ind: Individual) -> Individual:
        """Nudge one constant by a Gaussian step (tunes constants without new structure)."""
        index = random.choice(self._constant_positions(ind))
        low, high = self.space.constants.range
        step = random.gauss(0.0, 0.15 * (high - low))
        value = round(ind[index].value + step, self.space.constants.decimals)
        ind[index] = self._new_constant(value)
        return ind

    def _is_x(self, node: object) -> bool:
        return isinstance(node, gp.Terminal) and not self._is_constant(node) and node.value == "x"

    def _constant_positions(self, ind: Individual) -> list[int]:
        return [i for i, node in enumerate(ind) if self._is_constant(node)]

    def _is_constant(self, node: object) -> bool:
        return isinstance(node, self.pset.mapping["const"])

    # -- conversions --------------------------------------------------------------------

    def to_node(self, ind: Individual) -> Node:
        """Our AST for a DEAP prefix tree."""
        stack: list[tuple[str, int, list[Node]]] = []
        result: Node | None = None
        for item in ind:
            if isinstance(item, gp.Primitive):
                stack.append((item.name, item.arity, []))
                continue
            node: Node = Const(float(item.value)) if self._is_constant(item) else Var()
            while stack:
                stack[-1][2].append(node)
                name, arity, args = stack[-1]
                if len(args) < arity:
                    break
                stack.pop()
                node = Call(name, tuple(args))
            else:
                result = node
        assert result is not None, "incomplete prefix tree"
        return result

    def activation(self, ind: Individual, *, simplify: bool = True) -> Activation:
        return Activation.from_tree(self.to_node(ind), simplify=simplify)

    def genotype(self, ind: Individual) -> str:
        """The tree exactly as evolved, as prefix-call text our parser reads back."""
        return to_prefix(self.to_node(ind))

    @staticmethod
    def genotype_of(node: Node) -> str:
        """`genotype` of a tree already converted with `to_node`."""
        return to_prefix(node)

    def from_genotype(self, text: str) -> Individual:
        """Rebuild a DEAP tree from `genotype` text (e.g. when resuming from the store)."""
        nodes: list = []
        self._append_nodes(parse(text), nodes)
        return creator.ActsearchTree(nodes)

    def _append_nodes(self, node: Node, out: list) -> None:
        if isinstance(node, Var):
            out.append(self.pset.mapping["x"])
        elif isinstance(node, Const):
            out.append(self._new_constant(node.value))
        else:
            if node.name not in self.pset.mapping:
                raise ValueError(f"genotype uses {node.name!r}, which is not in this search space")
            out.append(self.pset.mapping[node.name])
            for arg in node.args:
                self._append_nodes(arg, out)
