"""`actsearch search`: run an evolutionary search, show its progress and leaderboard."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from actsearch.cli.common import (
    EXIT_CLUSTER_LOST,
    DbOption,
    OutOption,
    console,
    fail,
    files_dir,
    user_errors,
)
from actsearch.cli.export import write_export
from actsearch.cli.results import print_leaderboard, proposal_line, surrogate_line, write_report
from actsearch.evolve.names import StrategyName
from actsearch.execute import ClusterLost, ExecutorKind
from actsearch.runconfig import across_tasks_label
from actsearch.store import DEFAULT_DB

if TYPE_CHECKING:
    from rich.progress import TaskID


def search(
    space: Annotated[
        str, typer.Option(help="Built-in search-space name (see actsearch/search_spaces/) or a YAML path.")
    ] = "default",
    task: Annotated[
        str | None,
        typer.Option(help="Task name or path/to/file.py:make_task; A,B: several (default: the space's)."),
    ] = None,
    db: DbOption = DEFAULT_DB,
    run: Annotated[str | None, typer.Option("--run", help="Run name (default: SPACE-TIMESTAMP).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the evolution and of every training.")] = 0,
    workers: Annotated[int, typer.Option(help="Parallel training workers (default: one per CPU).")] = 0,
    population: Annotated[int | None, typer.Option(help="Override the space's population.")] = None,
    generations: Annotated[int | None, typer.Option(help="Override the space's generations.")] = None,
    trainings: Annotated[
        int | None,
        typer.Option(
            help="Budget: trainings to spend on proposals (default: the space's, or population x generations)."
        ),
    ] = None,
    strategy: Annotated[StrategyName | None, typer.Option(help="Override the space's strategy.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Override the training epochs per candidate.")] = None,
    reevaluate_top: Annotated[
        int | None,
        typer.Option(help="Override how many winners are re-checked with more seeds after the budget (0: none)."),
    ] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster to join, e.g. 'auto'.")] = None,
    gpus_per_trial: Annotated[float, typer.Option("--gpus-per-trial", help="GPU fraction per training.")] = 0.0,
    trial_timeout: Annotated[
        float | None, typer.Option("--trial-timeout", help="Seconds before a training is abandoned.")
    ] = None,
    executor: Annotated[
        ExecutorKind, typer.Option(help="ray: a pool of Ray actors; local: in-process, one at a time.")
    ] = ExecutorKind.RAY,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the stopped run named by --run.")] = False,
    batch_candidates: Annotated[
        int | None,
        typer.Option(
            "--batch-candidates",
            min=1,
            help="Candidates a worker trains at once (default: the space's, else 1 on CPU, 32 on GPU).",
        ),
    ] = None,
    export: Annotated[bool, typer.Option(help="Export the best activation when the search ends.")] = True,
    out: OutOption = None,
) -> None:
    """Run an evolutionary search and print the leaderboard."""
    from actsearch.search import SearchRequest, run_search

    request = SearchRequest(
        space=space,
        task=task,
        db=db,
        run=run,
        seed=seed,
        workers=workers,
        population=population,
        generations=generations,
        trainings=trainings,
        strategy=strategy.value if strategy else None,
        epochs=epochs,
        reevaluate_top=reevaluate_top,
        address=address,
        gpus_per_trial=gpus_per_trial,
        trial_timeout=trial_timeout,
        executor=executor.value,
        resume=resume,
        batch_candidates=batch_candidates,
    )
    with user_errors(), ProgressReporter(console) as reporter:
        try:
            outcome = run_search(request, reporter)
        except KeyboardInterrupt:
            reporter.stop()
            fail(f"search interrupted; {_resume_hint(reporter.run_name or run, db, address)}", code=130)
        except ClusterLost as err:
            reporter.stop()
            started = reporter.run_name is not None or resume  # a run exists that --resume continues
            hint = _resume_hint(reporter.run_name or run, db, address) if started else "no run was started"
            logs = f" (Ray's logs: {err.logs})" if err.logs else ""
            fail(f"{err}; {hint}{logs}", code=EXIT_CLUSTER_LOST)
    print_leaderboard(
        outcome.leaderboard,
        title=f"run {outcome.run.name}: leaderboard",
        show_run=False,
        task_means=outcome.task_means,
        tasks=outcome.tasks,
        across=across_tasks_label(outcome.run.config),
    )
    console.print(
        f"{proposal_line(outcome.counts)}; {outcome.trained} trainings in all (baselines included)", highlight=False
    )
    if outcome.utilisation is not None:
        console.print(
            f"workers busy training {outcome.utilisation:.0%} of the time from the first training to the last "
            "result (before the re-check of the winners)",
            highlight=False,
        )
    if outcome.stopped:
        console.print(
            f"{outcome.stopped} trainings stopped at a rung, each counted as the share of its epochs it ran: "
            f"the proposals used {outcome.spent:.1f} trainings of the budget",
            highlight=False,
        )
    if outcome.surrogate_rank is not None:
        console.print(surrogate_line(*outcome.surrogate_rank), highlight=False)
    if outcome.stopped_early:
        console.print(f"[yellow]stopped early:[/] {outcome.stopped_early}", highlight=False)
    if export and outcome.best is not None:
        folder = files_dir(db, out)
        path = folder / "exports" / f"{outcome.run.name}_best.py"
        write_export(outcome.best.expr, path, parametric=outcome.parametric)
        console.print(f"best activation exported to [bold]{path}[/]  ({outcome.best.expr})", highlight=False)
        figure = write_report(db, outcome.run.name, folder / "reports" / f"{outcome.run.name}.png")
        console.print(f"report figure: {figure}", highlight=False)


def _resume_hint(run: str | None, db: str, address: str | None) -> str:
    """What a stopped search says: how to continue it, as a command to paste."""
    join = f" --address {address}" if address else ""
    return f"nothing finished is lost. Resume with: actsearch search --run {run or 'NAME'} --resume --db {db}{join}"


class ProgressReporter:
    """A live progress bar: candidates done, trainings running, best so far."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]searching"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            transient=False,
        )
        self.task_id: TaskID | None = None
        self.run_name: str | None = None
        self.total = 0

    def __enter__(self) -> ProgressReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.progress.stop()

    def start(self, total: int, run_name: str) -> None:
        self.run_name, self.total = run_name, total
        self.task_id = self.progress.add_task("search", total=total, status="starting workers")

    def update(self, done: int, running: int, best: tuple[str, float] | None) -> None:
        status = f"running {running}"
        if best:
            status += f" | best {best[1]:.4f} {best[0]}"
        # the total counts the re-check's first round: later rounds raise it as they start
        self.total = max(self.total, done + running)
        if self.task_id is not None:
            self.progress.update(self.task_id, completed=done, total=self.total, status=status)

    def message(self, text: str) -> None:
        self.progress.console.print(text, highlight=False)
