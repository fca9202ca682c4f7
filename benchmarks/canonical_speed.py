"""The algebra of canonical forms with and without the Max/Min shortcut (`expr.order_probe`):
the same forms, in less time.

    python benchmarks/canonical_speed.py --trees 3000            # the fuzz test's trees
    python benchmarks/canonical_speed.py --trees 3000 --seed 7

Runs `algebraic_canonical` and `sympy_latex` (what the helper processes run) on the same
random trees (1..10 leaves, the whole registry, constants in [-3, 3]) in two processes
side by side, one with sympy's own Max/Min and one with the shortcut, each tree under a
CPU limit. Prints the canonical forms and LaTeX that differ (there should be none), the
CPU time of each and their ratio, and how many trees need more than the helpers'
deadline (`bounded.ALGEBRA_SECONDS`) in each.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]


class _OverLimit(BaseException):
    pass


def _over_limit(signum: int, frame: Any) -> None:
    raise _OverLimit


def _error_or(function: Any, tree: Any) -> str:
    try:
        return function(tree)
    except Exception as error:
        return f"{type(error).__name__}: {error}"


def measure(mode: str, seed: int, trees: int, limit: float, out: Path) -> None:
    """One side: a JSON line per tree with its CPU seconds, canonical form and LaTeX."""
    sys.path.insert(0, str(_ROOT))
    from actsearch.expr import order_probe
    from actsearch.expr.canonical import algebraic_canonical, sympy_latex
    from actsearch.expr.printer import to_infix
    from actsearch.expr.random_tree import random_tree_of_leaves

    if mode == "sympy":
        order_probe.install = lambda: None  # sympy's own Max and Min
    signal.signal(signal.SIGVTALRM, _over_limit)
    rng = random.Random(seed)
    batch = [random_tree_of_leaves(rng, max_leaves=10, const_range=(-3.0, 3.0)) for _ in range(trees)]
    with out.open("w") as sink:
        for tree in batch:
            row: dict[str, Any] = {"tree": to_infix(tree)}
            start = time.process_time()
            signal.setitimer(signal.ITIMER_VIRTUAL, limit)
            try:
                row["canonical"] = to_infix(algebraic_canonical(tree))
                row["latex"] = _error_or(sympy_latex, tree)  # the helper's answer, errors included
            except _OverLimit:
                row["canonical"] = row["latex"] = None
            finally:
                signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            row["cpu"] = time.process_time() - start
            sink.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trees", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=20240909, help="default: the fuzz test's seed")
    parser.add_argument("--limit", type=float, default=5.0, help="CPU seconds per tree before it is skipped")
    parser.add_argument("--out", default="/tmp", help="directory for the two result files")
    parser.add_argument("--mode", choices=["sympy", "probe"], help=argparse.SUPPRESS)  # one side
    args = parser.parse_args()
    if args.mode:
        measure(args.mode, args.seed, args.trees, args.limit, Path(args.out) / f"canonical_{args.mode}.jsonl")
        return

    from actsearch.expr.bounded import ALGEBRA_SECONDS

    common = ["--trees", str(args.trees), "--seed", str(args.seed), "--limit", str(args.limit), "--out", args.out]
    sides = {mode: subprocess.Popen([sys.executable, __file__, "--mode", mode, *common]) for mode in ("sympy", "probe")}
    for mode, proc in sides.items():
        if proc.wait() != 0:
            sys.exit(f"the {mode} side failed")
    rows = {mode: [json.loads(line) for line in open(Path(args.out) / f"canonical_{mode}.jsonl")] for mode in sides}
    before, after = rows["sympy"], rows["probe"]
    both = [(b, a) for b, a in zip(before, after) if b["canonical"] is not None and a["canonical"] is not None]
    forms = [(b["tree"], b["canonical"], a["canonical"]) for b, a in both if b["canonical"] != a["canonical"]]
    latex = [(b["tree"], b["latex"], a["latex"]) for b, a in both if b["latex"] != a["latex"]]
    cpu = {mode: sum(r["cpu"] for r in side) for mode, side in rows.items()}
    print(f"seed {args.seed}, {args.trees} trees, compared {len(both)} (the others over {args.limit:g} s CPU)")
    print(f"canonical forms that differ: {len(forms)}; LaTeX that differs: {len(latex)}")
    for tree, old, new in (forms + latex)[:10]:
        print(f"  {tree}\n    sympy: {old}\n    probe: {new}")
    ratio = cpu["probe"] / cpu["sympy"]
    print(f"CPU: sympy's Max/Min {cpu['sympy']:.1f} s, with the probe {cpu['probe']:.1f} s, ratio {ratio:.2f}")
    for mode, side in rows.items():
        slow = sum(r["cpu"] > ALGEBRA_SECONDS for r in side)
        print(f"  {mode}: {slow} trees over the helpers' {ALGEBRA_SECONDS:g} s deadline")


if __name__ == "__main__":
    main()
