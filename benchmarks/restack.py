"""Restacking at rungs: what moving a batch's surviving members into a smaller program saves.

Run: ``python benchmarks/restack.py [--rounds 3] [--tasks mnist1d-mlp,teacher-01,digits-mlp]``.

A batch of 8 distinct candidates (one seed) trains with one rung at epoch 5, where 6 of
them stop (their own thresholds), as a quarter survive ASHA's rung with keep 0.25. Each
round trains it three ways in one process, in rotating order: never restacking (as before
restacking existed), by the rule of `actsearch.train.batch` (`RESTACK_MIN_WORK`), and
always restacking. Prints the median wall seconds per batch, the ratio never / rule (above
1: the rule saves time), and how many restacks each did; the validation losses of the two
survivors, so that a change of results shows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CANDIDATES = [
    "tanh(x)",
    "x*sigmoid(x)",
    "x*tanh(softplus(x))",
    "max(x, 0.2*x)",
    "sigmoid(x)",
    "softplus(x) - 0.7",
    "x*sigmoid(1.7*x)",
    "tanh(x) + 0.1*x",
]
RUNG = 5
SURVIVORS = (1, 6)  # members that pass the rung


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", default="mnist1d-mlp,teacher-01,digits-mlp")
    args = parser.parse_args()

    import numpy as np

    import actsearch.train.batch as batch
    from actsearch.tasks import get_task
    from actsearch.train import prepare_data

    rule = batch.RESTACK_MIN_WORK
    modes = {"never": float("inf"), "rule": rule, "always": 0.0}
    for name in args.tasks.split(","):
        task = get_task(name)
        data = prepare_data(task.get_data())
        members = [
            batch.BatchMember(expr, 0, thresholds=(-np.inf if j in SURVIVORS else np.inf,))
            for j, expr in enumerate(CANDIDATES)
        ]
        seconds: dict[str, list[float]] = {mode: [] for mode in modes}
        restacks: dict[str, int] = {}
        losses: dict[str, list[float]] = {}
        for round_ in range(args.rounds + 1):  # round 0 warms up (first traces, data)
            order = list(modes)[round_ % 3 :] + list(modes)[: round_ % 3]
            for mode in order:
                batch.RESTACK_MIN_WORK = modes[mode]
                started = time.perf_counter()
                results, diagnostics = batch.train_batch_with_diagnostics(
                    task, members, data=data, rungs=((RUNG, 0.0),)
                )
                if round_:
                    seconds[mode].append(time.perf_counter() - started)
                restacks[mode] = diagnostics.restacks
                losses[mode] = [round(results[j].val_loss, 4) for j in SURVIVORS]
        batch.RESTACK_MIN_WORK = rule
        median = {mode: statistics.median(values) for mode, values in seconds.items()}
        print(
            f"{name} ({task.setup.epochs} epochs, rung at {RUNG}, 6 of 8 stop there): median s a batch "
            + ", ".join(f"{mode} {median[mode]:.2f} ({restacks[mode]} restacks)" for mode in modes)
            + f"; never / rule = {median['never'] / median['rule']:.2f}, never / always = "
            f"{median['never'] / median['always']:.2f}; survivors' val loss {losses}",
            flush=True,
        )


if __name__ == "__main__":
    main()
