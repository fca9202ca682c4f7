"""Reading the store: `top`, `runs`, `show` and `report` (figures and the offline HTML page)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from actsearch.cli.common import (
    DbOption,
    OutOption,
    OutputFormat,
    console,
    fail,
    files_dir,
    open_store,
    parse_activation,
    require_run,
)
from actsearch.store import DEFAULT_DB

if TYPE_CHECKING:
    from actsearch.store import LeaderRow, Store


def top(
    db: DbOption = DEFAULT_DB,
    run: Annotated[str | None, typer.Option("--run", help="Only this run (default: across runs).")] = None,
    task: Annotated[str | None, typer.Option(help="Only evaluations on this task.")] = None,
    k: Annotated[int, typer.Option("-k", help="How many rows.")] = 10,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="How to print the rows.")] = OutputFormat.TABLE,
) -> None:
    """The best activations found, baselines marked."""
    store = open_store(db, create=False)
    record = require_run(store, run, db) if run is not None else None
    rows = store.leaderboard(run=run, task=task, k=k)
    if fmt == OutputFormat.JSON:
        print(json.dumps([_row_dict(r) for r in rows], indent=2))
    elif fmt == OutputFormat.CSV:
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=list(_row_dict(rows[0]) if rows else ["rank"]))
        writer.writeheader()
        writer.writerows(_row_dict(r) for r in rows)
    else:
        from actsearch.runconfig import across_tasks_label, run_tasks

        tasks = list(run_tasks(record.config, record.task)[0]) if record else []
        print_leaderboard(
            rows,
            title=f"top {k}" + (f" of run {run}" if run else " across runs"),
            show_run=run is None,
            task_means=store.task_means(record.id) if record and len(tasks) > 1 else None,
            tasks=tasks,
            across=across_tasks_label(record.config if record else None),
        )
        for shown in [record] if record else store.runs():
            _print_run_counts(store, shown.name, shown.id)


def proposal_line(counts: dict[str, int]) -> str:
    """How many evolved proposals were trained, spared by dedupe and rejected by screening."""
    total = sum(counts.values())
    share = f" ({counts['duplicate'] / total:.0%})" if total else ""
    return (
        f"{total} evolved proposals: {counts['evaluated']} trained, {counts['duplicate']} functional "
        f"duplicates{share} not retrained, {counts['rejected']} rejected by screening, {counts['failed']} failed"
        + (f", {counts['passed']} passed over by the surrogate" if counts.get("passed") else "")
    )


def surrogate_line(rho: float | None, trained: int) -> str:
    """How well the surrogate ranked the candidates it let train (each predicted before its training)."""
    if rho is None:
        return f"surrogate: {trained} trained candidates had a prediction, too few to rank"
    return (
        f"surrogate: Spearman rho {rho:+.2f} between prediction and trained fitness over {trained} "
        "candidates (each predicted before its training)"
    )


def _print_run_counts(store: Store, run_name: str, run_id: int) -> None:
    console.print(f"run {run_name}: {proposal_line(store.counts(run_id, baselines=False))}", highlight=False)


def _row_dict(row: LeaderRow) -> dict:
    return {
        "rank": row.rank,
        "candidate_id": row.candidate_id,
        "run": row.run,
        "expr": row.expr,
        "fitness": row.fitness,
        "fitness_std": row.fitness_std,
        "complexity": row.complexity,
        "baseline": row.is_baseline,
        "evaluations": row.evaluations,
    }


def print_leaderboard(
    rows: list,
    title: str,
    show_run: bool = True,
    task_means: dict[int, dict[str, tuple[float | None, int]]] | None = None,
    tasks: Sequence[str] = (),
    across: str = "mean over tasks of fitness minus the best baseline's there",
) -> None:
    """The leaderboard; for a run on several tasks, also each task's mean fitness (and its
    trainings), next to the fitness `across` tasks (relative to the best baselines)."""
    per_task = list(tasks) if task_means is not None else []
    if per_task:
        title += f" (fitness: {across})"
    table = Table(title=title)
    columns = ("rank", "id", "fitness", "n", *per_task, "activation", "size") + (("run",) if show_run else ())
    for column in columns:
        numeric = column in ("rank", "id", "fitness", "n", "size", *per_task)
        table.add_column(column, justify="right" if numeric else "left")
    for row in rows:
        name = f"{row.expr}  [dim](baseline)[/]" if row.is_baseline else row.expr
        fitness = "-" if row.fitness is None else f"{row.fitness:.4f}"
        if row.fitness_std is not None:
            fitness += f" ± {row.fitness_std:.4f}"  # the spread over the seeds
        means = (task_means or {}).get(row.candidate_id, {})
        cells = [str(row.rank), str(row.candidate_id), fitness, str(row.evaluations)]
        cells += [_mean_cell(means.get(task)) for task in per_task]
        cells += [name, str(row.complexity)]
        table.add_row(*cells, *((row.run,) if show_run else ()))
    console.print(table)


def _mean_cell(mean: tuple[float | None, int] | None) -> str:
    return "-" if mean is None or mean[0] is None else f"{mean[0]:.4f} ({mean[1]})"


def runs(db: DbOption = DEFAULT_DB) -> None:
    """Every run in the store: name, status, started, evaluations, best."""
    store = open_store(db, create=False)
    table = Table(title="runs")
    for column in ("name", "status", "started", "evaluations", "best", "best activation"):
        table.add_column(column)
    for summary in store.runs():
        best = "-" if summary.best_fitness is None else f"{summary.best_fitness:.4f}"
        table.add_row(
            summary.name,
            summary.status,
            f"{summary.created_at:%Y-%m-%d %H:%M}",
            str(summary.evaluations),
            best,
            summary.best_expr or "-",
        )
    console.print(table)


def show(
    candidate_id: Annotated[int, typer.Argument(help="Candidate id (see `actsearch top`).")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """One candidate: expression, canonical form, lineage, evaluations, rejection reason."""
    from actsearch.store import StoreError

    store = open_store(db, create=False)
    try:
        candidate = store.candidate(candidate_id)
    except StoreError as err:
        fail(str(err))
    console.print(f"[bold]candidate {candidate.id}[/]  {candidate.expr}")
    run_record = store.run(candidate.run_id)
    console.print(f"  {'run':13} {run_record.name} (task {run_record.task})", highlight=False)
    for label, value in (
        ("latex", parse_activation(candidate.expr).latex()),
        ("genotype", candidate.genotype),
        ("fingerprint", candidate.fingerprint),
        ("complexity", candidate.complexity),
        ("status", candidate.status),
        ("reason", candidate.reason),
        ("origin", candidate.origin),
        ("generation", candidate.generation),
        ("equivalent to", candidate.equivalent_to),
        ("fitness", candidate.fitness),
        ("fitness std", candidate.fitness_std),
        ("predicted", candidate.predicted),
        ("learned", candidate.learned and f"{parse_activation(candidate.learned)}  (tree {candidate.learned})"),
    ):
        if value is not None:
            console.print(f"  {label:13} {value}", highlight=False)
    _print_export_hint(candidate.expr, candidate.id)
    lineage = store.lineage(candidate_id)
    if lineage:
        console.print("  lineage:")
        for ancestor in lineage:
            console.print(
                f"    {ancestor.id:>6}  gen {ancestor.generation}  {ancestor.origin:24} {ancestor.expr}",
                highlight=False,
            )
    evaluations = store.evaluations(candidate_id)
    if evaluations:
        table = Table(title="evaluations")
        for column in ("task", "seed", "planned epochs", "status", "val acc", "val loss", "seconds", "worker", "error"):
            table.add_column(column)
        for e in evaluations:
            table.add_row(
                e.task,
                str(e.seed),
                str(e.planned_epochs),
                e.status,
                _fmt(e.val_accuracy),
                _fmt(e.val_loss),
                _fmt(e.train_seconds, 2),
                e.worker or "",
                (e.error or "")[:60],
            )
        console.print(table)
    _print_run_counts(store, run_record.name, run_record.id)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report(
    run: Annotated[str | None, typer.Option("--run", help="The run to plot (--html: default every run).")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Figure file (.png/.svg/.pdf).")] = None,
    html: Annotated[bool, typer.Option("--html", help="Write the dashboard's views as one offline HTML file.")] = False,
    db: DbOption = DEFAULT_DB,
    out: OutOption = None,
) -> None:
    """Plot a run: fitness by generation against the baselines, and the best shapes."""
    if html:
        path = _write_html_report(db, run, output or files_dir(db, out) / "reports" / f"{run or 'actsearch'}.html")
    elif run is None:
        fail("give --run NAME (or --html for every run)")
    else:
        path = write_report(db, run, output or files_dir(db, out) / "reports" / f"{run}.png")
    console.print(f"wrote {path}")


def _write_html_report(db: str, run: str | None, path: Path) -> Path:
    from actsearch.dashboard.offline import write_html_report
    from actsearch.store import Store, StoreError

    try:
        store = Store.open(db, read_only=True)
        return write_html_report(store, path, run)
    except (StoreError, ValueError) as err:
        fail(str(err))


def write_report(db: str, run: str, path: Path) -> Path:
    """The run's figure (fitness by generation, best shapes) at `path`."""
    from actsearch.report import plot_run

    store = open_store(db, create=False)
    require_run(store, run, db)
    return plot_run(store, run, path)


def _print_export_hint(expr: str, candidate_id: int) -> None:
    """The export command for each framework, ready to paste."""
    from actsearch.export.frameworks import export_commands

    console.print("  export:")
    for command in export_commands(expr, stem=f"activation_{candidate_id}").values():
        console.print(f"    {command}", highlight=False, soft_wrap=True)
