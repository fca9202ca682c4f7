"""The algebra of canonical forms, this working tree against a git revision: the same
forms (they are stored in databases), and how much CPU each needs.

    python benchmarks/canonical_speed.py --against HEAD~1 --trees 3000   # the fuzz test's trees
    python benchmarks/canonical_speed.py --against main --trees 2000 --seed 7

Runs `algebraic_canonical` and `sympy_latex` (what the helper processes run) on the same
random trees (1..10 leaves, the whole registry, constants in [-3, 3]) in two processes
side by side, one on the revision's code (extracted with `git archive`) and one on this
tree's, each tree under a CPU limit. Prints the canonical forms and LaTeX that differ,
the CPU time of each side and their ratio, and how many trees need more than the
helpers' deadline (`bounded.ALGEBRA_SECONDS`) on each side.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
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
    except Exception as error:  # the helper reports it the same way
        return f"{type(error).__name__}: {error}"


def measure(root: str, seed: int, trees: int, limit: float, out: Path) -> None:
    """One side: a JSON line per tree with its CPU seconds, canonical form and LaTeX."""
    sys.path.insert(0, root)
    from actsearch.expr.canonical import algebraic_canonical, sympy_latex
    from actsearch.expr.printer import to_infix
    from actsearch.expr.random_tree import random_tree_of_leaves

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
                row["latex"] = _error_or(sympy_latex, tree)
            except _OverLimit:
                row["canonical"] = row["latex"] = None
            finally:
                signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            row["cpu"] = time.process_time() - start
            sink.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", default="HEAD", help="git revision to compare with (default: HEAD)")
    parser.add_argument("--trees", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=20240909, help="default: the fuzz test's seed")
    parser.add_argument("--limit", type=float, default=5.0, help="CPU seconds per tree before it is skipped")
    parser.add_argument("--root", help=argparse.SUPPRESS)  # one side: the code to measure
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.root:
        measure(args.root, args.seed, args.trees, args.limit, Path(args.out))
        return

    from actsearch.expr.bounded import ALGEBRA_SECONDS

    with tempfile.TemporaryDirectory(prefix="canonical-speed-") as temp:
        base = Path(temp) / "base"
        base.mkdir()
        archive = subprocess.run(["git", "archive", args.against], cwd=_ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        roots = {args.against: str(base), "this tree": str(_ROOT)}
        common = ["--trees", str(args.trees), "--seed", str(args.seed), "--limit", str(args.limit)]
        outs = {side: Path(temp) / f"side{i}.jsonl" for i, side in enumerate(roots)}
        sides = {
            side: subprocess.Popen([sys.executable, __file__, "--root", root, "--out", str(outs[side]), *common])
            for side, root in roots.items()
        }
        for side, proc in sides.items():
            if proc.wait() != 0:
                sys.exit(f"the side {side!r} failed")
        rows = {side: [json.loads(line) for line in outs[side].open()] for side in sides}
    before, after = rows.values()
    both = [(b, a) for b, a in zip(before, after) if b["canonical"] is not None and a["canonical"] is not None]
    forms = [(b["tree"], b["canonical"], a["canonical"]) for b, a in both if b["canonical"] != a["canonical"]]
    latex = [(b["tree"], b["latex"], a["latex"]) for b, a in both if b["latex"] != a["latex"]]
    cpu = {side: sum(r["cpu"] for r in side_rows) for side, side_rows in rows.items()}
    print(f"seed {args.seed}, {args.trees} trees, compared {len(both)} (the others over {args.limit:g} s CPU)")
    print(f"canonical forms that differ: {len(forms)}; LaTeX that differs: {len(latex)}")
    for tree, old, new in (forms + latex)[:10]:
        print(f"  {tree}\n    {args.against}: {old}\n    this tree: {new}")
    ratio = cpu["this tree"] / cpu[args.against]
    print(f"CPU: {args.against} {cpu[args.against]:.1f} s, this tree {cpu['this tree']:.1f} s, ratio {ratio:.2f}")
    for side, side_rows in rows.items():
        slow = sum(r["cpu"] > ALGEBRA_SECONDS for r in side_rows)
        print(f"  {side}: {slow} trees over the helpers' {ALGEBRA_SECONDS:g} s deadline")


if __name__ == "__main__":
    main()
