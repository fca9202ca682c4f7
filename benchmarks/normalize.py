"""Normalisation benchmark: how many functional duplicates does `normalize: true` find?

Run: ``python benchmarks/normalize.py`` (about 1 minute per search on 2 cores
with the defaults; ``--trees 0 --searches 0`` for nothing, ``--smoke`` for a
quick check).

Measured side by side in one run, on the default space:

(a) random trees: of N random trees that pass screening, how many distinct
    functions there are by the raw fingerprint and by the fingerprint of the
    standardised function (no training);
(b) real searches (in-process executor) with the same seed and the same
    budget of trainings, `normalize` off and on: proposals needed, share of
    duplicates and of rejections, best search fitness.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actsearch.evolve import TreeFactory
from actsearch.expr import screen
from actsearch.expr.normalize import standardise
from actsearch.spaces import SearchSpace, load_space


def random_trees(space: SearchSpace, n: int, seed: int) -> dict[str, int]:
    factory = TreeFactory(space, random.Random(seed))
    raw, standard, screened = set(), set(), 0
    while screened < n:
        activation = factory.activation(factory.random_tree())
        c = space.constraints
        if not screen(activation, increasing=c.increasing, probe=c.probe, min_nonzero_grad=c.min_nonzero_grad).ok:
            continue
        screened += 1
        raw.add(activation.fingerprint)
        s = standardise(activation)
        standard.add(s.fingerprint if s else activation.fingerprint)
    return {"trees": n, "distinct raw": len(raw), "distinct standardised": len(standard)}


def search(
    space: SearchSpace, task: str, strategy: str, normalize: bool, trainings: int, epochs: int, seed: int, db: str
) -> dict[str, object]:
    from actsearch.search import SearchRequest, run_search

    data = space.model_dump()
    data["normalize"] = normalize
    path = Path(db).with_name(f"{strategy}-{normalize}-{seed}.yaml")
    import yaml

    path.write_text(yaml.safe_dump(data))
    outcome = run_search(
        SearchRequest(
            space=str(path),
            task=task,
            db=db,
            run=path.stem,
            seed=seed,
            strategy=strategy,
            trainings=trainings,
            epochs=epochs,
            executor="local",
        )
    )
    counts = outcome.counts
    proposals = sum(counts.values())
    best = outcome.best.fitness if outcome.best else None
    return {
        "strategy": strategy,
        "normalize": normalize,
        "seed": seed,
        "proposals": proposals,
        "trained": counts["evaluated"] + counts["failed"],
        "duplicates": counts["duplicate"] / proposals,
        "rejected": counts["rejected"] / proposals,
        "best": best,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=2000)
    parser.add_argument("--searches", type=int, default=2, help="search seeds per setting (0: none)")
    parser.add_argument("--strategies", default="generational,regularized")
    parser.add_argument("--task", default="mnist1d-mlp")
    parser.add_argument("--trainings", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check the script runs")
    args = parser.parse_args()
    if args.smoke:
        args.trees, args.searches, args.trainings, args.epochs, args.task = 200, 1, 8, 1, "teacher-mlp"
    space = load_space("default")
    if args.trees:
        r = random_trees(space, args.trees, seed=0)
        print(
            f"(a) {r['trees']} screened random trees of the default space: {r['distinct raw']} distinct by the raw "
            f"fingerprint, {r['distinct standardised']} by the standardised one "
            f"({1 - r['distinct standardised'] / r['distinct raw']:.0%} fewer functions to train)"
        )
    if args.searches:
        print(f"(b) {args.task}, {args.trainings} trainings of {args.epochs} epochs, in-process")
        print(f"{'strategy':13} {'normalize':9} {'seed':>4} {'proposals':>9} {'dup':>5} {'rej':>5} {'best':>7}")
        with tempfile.TemporaryDirectory() as tmp:
            for strategy in args.strategies.split(","):
                for seed in range(args.searches):
                    for normalize in (False, True):
                        row = search(
                            space,
                            args.task,
                            strategy,
                            normalize,
                            args.trainings,
                            args.epochs,
                            seed,
                            str(Path(tmp) / "bench.db"),
                        )
                        best = "-" if row["best"] is None else f"{row['best']:.4f}"
                        print(
                            f"{strategy:13} {str(normalize):9} {seed:>4} {row['proposals']:>9} "
                            f"{row['duplicates']:>5.0%} {row['rejected']:>5.0%} {best:>7}",
                            flush=True,
                        )


if __name__ == "__main__":
    main()
