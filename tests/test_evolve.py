"""Evolution: seeded DEAP trees, variation within the bloat limit, strategies' ask/tell."""

import random

import pytest

from actsearch.evolve import FingerprintCache, TreeFactory, make_strategy
from actsearch.spaces import load_space

SPACE = load_space("default")


def _factory(seed: int = 0) -> TreeFactory:
    return TreeFactory(SPACE, random.Random(seed))


def _drive(seed: int, strategy: str = "generational", fitness=lambda i: (i * 7919) % 101 / 100, asks: int = 24):
    space = SPACE.model_copy(
        update={
            "evolution": SPACE.evolution.model_copy(update={"strategy": strategy, "population": 8, "generations": 3})
        }
    )
    factory = TreeFactory(space, random.Random(seed))
    strat = make_strategy(factory, space.evolution)
    proposals = []
    for _ in range(asks):
        proposal = strat.ask()
        assert proposal is not None, "a strategy with nothing in flight must propose"
        proposals.append(proposal)
        strat.tell(proposal, proposal.index + 1, fitness(proposal.index))
    return factory, proposals


def test_same_seed_same_proposals() -> None:
    f1, a = _drive(seed=3)
    f2, b = _drive(seed=3)
    _, c = _drive(seed=4)
    assert [f1.genotype(p.individual) for p in a] == [f2.genotype(p.individual) for p in b]
    assert [f1.genotype(p.individual) for p in a] != [f1.genotype(p.individual) for p in c]


@pytest.mark.parametrize("strategy", ["generational", "regularized", "random"])
def test_strategies_propose_as_long_as_asked(strategy: str) -> None:
    """The loop owns the budget (in trainings): a strategy keeps breeding generations when asked."""
    _, proposals = _drive(seed=1, strategy=strategy, asks=40)
    assert [p.index for p in proposals] == list(range(40))
    assert max(p.generation for p in proposals) == 4  # population 8: generations 0..4


def test_regularized_population_holds_distinct_functions() -> None:
    """A duplicate takes the original's fitness but no place: copies of one function would crowd out the rest."""
    space = SPACE.model_copy(
        update={"evolution": SPACE.evolution.model_copy(update={"strategy": "regularized", "population": 4})}
    )
    strat = make_strategy(TreeFactory(space, random.Random(0)), space.evolution)
    for index in range(4):
        strat.tell(strat.ask(), index + 1, 0.5)
    champion = strat.population[0]
    for _ in range(6):  # duplicates of the best function, told with its fitness
        strat.tell(strat.ask(), 100, 0.9, duplicate=True)
    assert [m.candidate_id for m in strat.population] == [1, 2, 3, 4]
    assert strat.population[0] is champion
    strat.tell(strat.ask(), 5, 0.6)  # a new function takes a place; the oldest dies
    assert [m.candidate_id for m in strat.population] == [2, 3, 4, 5]


def test_offspring_have_parents_and_origins() -> None:
    _, proposals = _drive(seed=2)
    bred = [p for p in proposals if p.generation > 0]
    assert bred and all(p.parents for p in bred)
    origins = {p.origin.split(":")[0].split("+")[0] for p in bred}
    assert origins <= {"crossover", "mutation"}
    assert all(p.origin == "init" and not p.parents for p in proposals if p.generation == 0)


def test_variation_respects_height_limit_and_space() -> None:
    factory = _factory(5)
    allowed = set(SPACE.primitives.unary) | set(SPACE.primitives.binary)
    trees = [factory.random_tree() for _ in range(30)]
    for _ in range(300):
        a, b = factory.rng.sample(trees, 2)
        c1, c2 = factory.crossover(a, b)
        m, _name = factory.mutate(c1)
        for child in (c1, c2, m):
            assert child.height <= SPACE.tree.max_height
            assert {node.name for node in child if node.arity > 0} <= allowed
        trees.append(m)


def test_all_mutation_operators_are_used() -> None:
    factory = _factory(9)
    seen = set()
    for _ in range(200):
        _, name = factory.mutate(factory.random_tree())
        seen.add(name)
    assert seen == set(factory.mutations)


def test_genotype_round_trips_through_our_parser() -> None:
    factory = _factory(11)
    for _ in range(100):
        tree = factory.random_tree()
        text = factory.genotype(tree)
        again = factory.from_genotype(text)
        assert factory.genotype(again) == text
        assert factory.activation(again).fingerprint == factory.activation(tree).fingerprint


def test_deap_randomness_does_not_leak_into_global_random() -> None:
    random.seed(123)
    expected = random.random()
    random.seed(123)
    _factory(0).random_tree()
    assert random.random() == expected


def test_fingerprint_cache_resolves_waiting_duplicates() -> None:
    cache: FingerprintCache[str] = FingerprintCache()
    cache.add("fp", 1)
    cache.wait("fp", "dup-a")
    cache.wait("fp", "dup-b")
    assert not cache.is_done("fp")
    assert cache.resolve("fp", 0.5) == ["dup-a", "dup-b"]
    assert cache.is_done("fp") and cache.fitness("fp") == 0.5 and cache.original("fp") == 1


def test_genotype_keeps_a_negated_constant_as_written() -> None:
    factory = _factory(0)
    for text in ("neg(0.5)", "add(x, -0.5)", "mul(neg(1.25), x)"):
        assert factory.genotype(factory.from_genotype(text)) == text


LINEAR = SPACE.model_copy(update={"tree": SPACE.tree.model_copy(update={"linear_path": True, "init_min_height": 2})})


def _linear_form(factory: TreeFactory, ind) -> tuple[str, str]:
    """(b, g) of a tree b(x, g), from its genotype text; fails if it is not of that form."""
    from actsearch.expr import parse
    from actsearch.expr.ast import Call, Var

    node = parse(factory.genotype(ind))
    assert isinstance(node, Call) and node.name in LINEAR.primitives.binary, factory.genotype(ind)
    assert isinstance(node.args[0], Var), factory.genotype(ind)
    return node.name, str(node.args[1])


def test_a_linear_path_keeps_every_tree_b_of_x_and_g_through_variation() -> None:
    factory = TreeFactory(LINEAR, random.Random(1))
    trees = [factory.random_tree() for _ in range(100)]
    roots = {_linear_form(factory, t)[0] for t in trees}
    assert roots == set(LINEAR.primitives.binary)  # b is drawn among all binary primitives
    assert min(t.height for t in trees) == 2 and max(t.height for t in trees) <= LINEAR.tree.init_max_height
    child, names, root_changes = trees[0], set(), 0
    for _ in range(1500):
        before = _linear_form(factory, child)[0]
        child, name = factory.mutate(child)
        names.add(name)
        root_changes += _linear_form(factory, child)[0] != before
        assert child.height <= LINEAR.tree.max_height
    assert names == {"subtree", "point", "insert", "shrink", "constant"} and root_changes > 10
    for a, b in zip(trees, reversed(trees)):
        for offspring in factory.crossover(a, b):
            _linear_form(factory, offspring)
            assert offspring.height <= LINEAR.tree.max_height
    assert factory.genotype(factory.from_genotype(factory.genotype(child))) == factory.genotype(child)


def test_a_space_without_a_linear_path_draws_the_trees_it_always_drew() -> None:
    """The option changes nothing for spaces that leave it off (stored runs replay)."""
    plain = TreeFactory(SPACE.model_copy(update={"tree": SPACE.tree.model_copy()}), random.Random(7))
    assert [plain.genotype(plain.random_tree()) for _ in range(3)] == [
        "tanh(0.14)",
        "exp(min(softplus(x), exp(-1.64)))",
        "max(x, x)",
    ]
    child = plain.random_tree()
    for _ in range(20):
        child, _name = plain.mutate(child)
    assert plain.genotype(child) == "neg(exp(x))"  # as drawn before the option existed
