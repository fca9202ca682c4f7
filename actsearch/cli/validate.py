"""`actsearch validate`: the run's best (or given) activations against the baselines on
test data the search never saw; the planning lives in actsearch.validate."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from actsearch.cli.common import DbOption, ValidationFormat, console, fail, print_rows, user_errors
from actsearch.execute import ExecutorKind
from actsearch.store import DEFAULT_DB

#: The suites of actsearch.tasks.suites, named here so that the help needs no import of
#: actsearch.tasks (numpy); a test keeps the two lists equal.
SUITE_NAMES = ("classic", "general", "held-out", "panel")


def validate(
    run: Annotated[str | None, typer.Option("--run", help="Validate this run's best activations.")] = None,
    top_k: Annotated[int, typer.Option("--top", help="How many of the run's best to validate.")] = 3,
    expr: Annotated[list[str] | None, typer.Option("--expr", help="An activation to validate (repeatable).")] = None,
    tasks: Annotated[
        str | None,
        typer.Option(help="Comma-separated tasks (default: the run's tasks, then its space's validate_tasks)."),
    ] = None,
    suite: Annotated[
        str | None,
        typer.Option(help=f"A named set of tasks instead of --tasks: {', '.join(SUITE_NAMES)} (see the README)."),
    ] = None,
    seeds: Annotated[int, typer.Option(help="Training seeds per activation and task.")] = 5,
    seed_start: Annotated[
        int | None,
        typer.Option(
            help="First validation seed (default 10000, past every seed the run trained with; overlap is refused)."
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Override the tasks' epochs.")] = None,
    executor: Annotated[
        ExecutorKind, typer.Option(help="ray: a pool of Ray actors; local: in-process, one at a time.")
    ] = ExecutorKind.RAY,
    workers: Annotated[int, typer.Option(help="Parallel training workers (default: one per CPU).")] = 0,
    fmt: Annotated[
        ValidationFormat, typer.Option("--format", help="How to print the scores.")
    ] = ValidationFormat.TABLE,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Compare activations with the standard ones on test data the search never saw, with significance."""
    from actsearch.validate import PlanError, flat_rows, plan_validation, summarise, summary_rows
    from actsearch.validate import validate as run_validation

    fmt = ValidationFormat.JSON if as_json else fmt
    try:
        plan = plan_validation(
            db, run=run, top_k=top_k, exprs=expr or [], tasks=tasks, suite=suite, seeds=seeds, seed_start=seed_start
        )
    except PlanError as err:
        fail(str(err))
    with user_errors():
        scores = run_validation(
            plan.contenders,
            plan.tasks,
            plan.seeds,
            executor=executor.value,
            workers=workers,
            epochs=epochs,
            store=plan.store,
            run_id=plan.run_id,
        )
    seed_list = list(plan.seeds)
    if fmt == ValidationFormat.JSON:
        print(json.dumps(summarise(scores, seed_list), indent=2))
    elif fmt == ValidationFormat.CSV:
        print_rows(flat_rows(scores), fmt.value)
    elif fmt == ValidationFormat.MARKDOWN:  # the comparisons, then the summary of each pick
        print_rows(flat_rows(scores), fmt.value)
        if picks := summary_rows(scores):
            print()
            print_rows(picks, fmt.value)
    else:
        _print_validation(summarise(scores, seed_list), seed_list)


def _print_validation(result: dict, seeds: list[int]) -> None:
    from actsearch.validate import summary_line

    table = Table(
        title=f"test-split fitness over seeds {seeds[0]}..{seeds[-1]}: mean ± std (n); "
        "difference to each baseline [95% CI] and Holm-corrected Welch p"
    )
    for name in ("task", "activation", "fitness", "vs baselines", "better"):
        table.add_column(name, justify="right" if name == "fitness" else "left")
    for s in result["scores"]:
        fitness = (
            "failed"
            if s["mean"] is None
            else (
                f"{s['mean']:.4f}"
                + (f" ± {s['std']:.4f}" if s["std"] is not None else "")
                + f" ({sum(f is not None for f in s['fitnesses'])})"
            )
        )
        versus = "\n".join(_versus_cell(v) for v in s.get("versus", []))
        label = f"{s['expr']}  [dim](baseline)[/]" if s["baseline"] else s["expr"]
        verdict = "" if s["baseline"] else ("[bold green]yes[/]" if s["better"] else "no")
        table.add_row(s["task"], label, fitness, versus, verdict)
    console.print(table)
    for expr, summary in result["summary"].items():
        console.print(summary_line(expr, summary), highlight=False, soft_wrap=True)
    for expr, summary in result.get("across_tasks", {}).items():
        mean = summary["mean_vs_best_baseline"]
        worse = summary["significantly_worse_than_best_baseline_on"]
        console.print(
            f"{expr}: across tasks {'-' if mean is None else f'{mean:+.4f}'} against the best baseline of each "
            f"(mean over tasks); significantly worse on {', '.join(worse) or 'none'}",
            highlight=False,
        )


def _versus_cell(v: dict) -> str:
    ci = "" if v["ci_low"] is None else f" [{v['ci_low']:+.4f}, {v['ci_high']:+.4f}]"
    p = "p n/a" if v["p_holm"] is None else f"p={v['p_holm']:.2g}"
    mark = " *" if v["significant"] else ""
    return f"{v['vs']}: {v['diff']:+.4f}{ci} {p}{mark}"
