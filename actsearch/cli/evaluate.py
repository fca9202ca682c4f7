"""`actsearch evaluate`: train activations on one task and print their metrics."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from actsearch.cli.common import console, fail


def evaluate(
    task: Annotated[str, typer.Option(help="Task name or path/to/file.py:make_task.")],
    expr: Annotated[list[str], typer.Option(help="The activation, e.g. 'x * sigmoid(1.5*x)' (repeatable).")],
    seed: Annotated[int, typer.Option(help="Training seed (the first one with --seeds).")] = 0,
    seeds: Annotated[int | None, typer.Option(min=1, help="Train each activation with this many seeds.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Override the task's epochs.")] = None,
    parametric: Annotated[bool, typer.Option(help="Learn the constants during training.")] = False,
    batch_candidates: Annotated[
        int | None,
        typer.Option(
            "--batch-candidates",
            min=1,
            help="Activations trained at once in one program (default 1 on CPU, 32 on GPU).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (one object, or a list for several).")] = False,
    threads: Annotated[
        int,
        typer.Option(
            min=0,
            help="TensorFlow threads: 1, as every search worker, gives the numbers a search stored "
            "for the same expression and seed; 0: TensorFlow's default.",
        ),
    ] = 1,
) -> None:
    """Train activations on one task and print their metrics.

    Several --expr or --seeds: every (expression, seed) pair is trained,
    batched in one program where possible (`batch_seconds`: the wall time of
    the whole batch a pair trained in)."""
    from dataclasses import asdict

    from actsearch.execute.pairs import pin_tensorflow, train_pairs
    from actsearch.expr import Activation, ParseError
    from actsearch.tasks import TaskError, get_task

    try:
        activations = [Activation.parse(e) for e in expr]
        chosen = get_task(task)
    except (ParseError, TaskError) as err:
        fail(str(err))
    if threads:  # after the checks above: a bad expression or task fails before TensorFlow loads
        pin_tensorflow(threads)
    pairs = [(a, seed + i) for a in activations for i in range(seeds or 1)]
    results = train_pairs(
        chosen, pairs, epochs=epochs, parametric=parametric, batch_candidates=batch_candidates, seeds=seeds or 1
    )
    payloads = []
    for (activation, s), result in zip(pairs, results):
        trained = {
            k: v for k, v in asdict(result).items() if k != "expr"
        }  # the result's expr: the form a worker trained
        payload = {"task": chosen.name, "expr": result.expr or str(activation), "seed": s, **trained}
        payload["train_seconds"] = round(payload["train_seconds"], 3)
        if payload.get("batch_seconds") is not None:
            payload["batch_seconds"] = round(payload["batch_seconds"], 3)
        payloads.append(payload)
    single = len(pairs) == 1 and seeds is None
    if as_json:
        print(json.dumps(payloads[0] if single else payloads))
    else:
        for payload in payloads:
            for key, value in payload.items():
                console.print(f"{key:14} {value}", highlight=False)
            console.print()
    if any(result.status == "failed" for result in results):
        raise typer.Exit(1)
