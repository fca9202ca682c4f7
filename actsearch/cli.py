"""The `actsearch` command: parse arguments, call search/store/export, print.

Heavy modules (TensorFlow, Ray, DEAP) are imported inside the commands that
need them, so `actsearch top` and `actsearch runs` answer in well under a second.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from actsearch.export.frameworks import Framework as ExportFramework
from actsearch.store import DEFAULT_DB

if TYPE_CHECKING:
    from rich.progress import TaskID

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Discover neural-network activation functions by evolution.",
)
console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[str, typer.Option("--db", help="SQLite path or SQLAlchemy URL of the store.")]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out", help="Folder for exports/ and reports/ (default: beside the SQLite store, ./runs for a server)."
    ),
]


def fail(message: str, code: int = 2) -> NoReturn:
    """One clear line on stderr and a non-zero exit: how every user error ends."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def files_dir(db: str, out: Path | None = None) -> Path:
    """Where a run's exported module and figures go: --out, else the SQLite file's
    folder (so two stores never share one), else ./runs for a database server."""
    if out is not None:
        return out
    from actsearch.store.schema import is_memory, resolve_url

    url = resolve_url(db)
    if url.get_backend_name() == "sqlite" and url.database and not is_memory(url):
        return Path(url.database).parent
    return Path("runs")


def _open_store(db: str, create: bool = True):
    from actsearch.store import Store, StoreError

    try:
        return Store.open(db, create=create)
    except StoreError as err:
        hint = "" if create else " (run `actsearch search` first, or pass --db)"
        fail(f"{err}{hint}")


# -- search ------------------------------------------------------------------------------


@app.command()
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
    strategy: Annotated[str | None, typer.Option(help="generational | regularized | random.")] = None,
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
    executor: Annotated[str, typer.Option(help="ray (default) or local (in-process, one at a time).")] = "ray",
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
        strategy=strategy,
        epochs=epochs,
        reevaluate_top=reevaluate_top,
        address=address,
        gpus_per_trial=gpus_per_trial,
        trial_timeout=trial_timeout,
        executor=executor,
        resume=resume,
        batch_candidates=batch_candidates,
    )
    with _user_errors(), ProgressReporter(console) as reporter:
        try:
            outcome = run_search(request, reporter)
        except KeyboardInterrupt:
            reporter.stop()
            name = reporter.run_name or run or "NAME"
            fail(
                f"search interrupted; nothing finished is lost. Resume with: "
                f"actsearch search --run {name} --resume --db {db}",
                code=130,
            )
    _print_leaderboard(
        outcome.leaderboard,
        title=f"run {outcome.run.name}: leaderboard",
        show_run=False,
        task_means=outcome.task_means,
        tasks=outcome.tasks,
    )
    console.print(
        f"{_proposal_line(outcome.counts)}; {outcome.trained} trainings in all (baselines included)", highlight=False
    )
    if outcome.utilisation is not None:
        console.print(
            f"workers busy training {outcome.utilisation:.0%} of the time from the first training to the last "
            "result (before the re-check of the winners)",
            highlight=False,
        )
    if outcome.stopped_early:
        console.print(f"[yellow]stopped early:[/] {outcome.stopped_early}", highlight=False)
    if export and outcome.best is not None:
        folder = files_dir(db, out)
        path = folder / "exports" / f"{outcome.run.name}_best.py"
        _write_export(outcome.best.expr, path, parametric=outcome.parametric)
        console.print(f"best activation exported to [bold]{path}[/]  ({outcome.best.expr})", highlight=False)
        figure = _write_report(db, outcome.run.name, folder / "reports" / f"{outcome.run.name}.png")
        console.print(f"report figure: {figure}", highlight=False)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn every error a user can cause into one line and exit code 2."""
    from actsearch.expr import ParseError
    from actsearch.search import SearchError
    from actsearch.spaces import SpaceError
    from actsearch.store import StoreError
    from actsearch.tasks import TaskError

    try:
        yield
    except (ParseError, SearchError, SpaceError, StoreError, TaskError) as err:
        fail(str(err))


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


# -- query -------------------------------------------------------------------------------


@app.command()
def top(
    db: DbOption = DEFAULT_DB,
    run: Annotated[str | None, typer.Option("--run", help="Only this run (default: across runs).")] = None,
    task: Annotated[str | None, typer.Option(help="Only evaluations on this task.")] = None,
    k: Annotated[int, typer.Option("-k", help="How many rows.")] = 10,
    fmt: Annotated[str, typer.Option("--format", help="table | json | csv")] = "table",
) -> None:
    """The best activations found, baselines marked."""
    if fmt not in ("table", "json", "csv"):
        fail(f"--format must be table, json or csv, not {fmt!r}")
    store = _open_store(db, create=False)
    if run is not None and store.find_run(run) is None:
        fail(f"no run named {run!r} in {db}")
    rows = store.leaderboard(run=run, task=task, k=k)
    if fmt == "json":
        print(json.dumps([_row_dict(r) for r in rows], indent=2))
    elif fmt == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=list(_row_dict(rows[0]) if rows else ["rank"]))
        writer.writeheader()
        writer.writerows(_row_dict(r) for r in rows)
    else:
        record = store.find_run(run) if run else None
        tasks = run_tasks(record.config, record.task)[0] if record else []
        _print_leaderboard(
            rows,
            title=f"top {k}" + (f" of run {run}" if run else " across runs"),
            show_run=run is None,
            task_means=store.task_means(record.id) if record and len(tasks) > 1 else None,
            tasks=tasks,
        )
        for shown in [record] if record else store.runs():
            _print_run_counts(store, shown.name, shown.id)


def _proposal_line(counts: dict[str, int]) -> str:
    """How many evolved proposals were trained, spared by dedupe and rejected by screening."""
    total = sum(counts.values())
    share = f" ({counts['duplicate'] / total:.0%})" if total else ""
    return (
        f"{total} evolved proposals: {counts['evaluated']} trained, {counts['duplicate']} functional "
        f"duplicates{share} not retrained, {counts['rejected']} rejected by screening, {counts['failed']} failed"
    )


def _print_run_counts(store, run_name: str, run_id: int) -> None:
    console.print(f"run {run_name}: {_proposal_line(store.counts(run_id, baselines=False))}", highlight=False)


def _row_dict(row) -> dict:
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


def _print_leaderboard(
    rows: list,
    title: str,
    show_run: bool = True,
    task_means: dict[int, dict[str, tuple[float | None, int]]] | None = None,
    tasks: Sequence[str] = (),
) -> None:
    """The leaderboard; for a run on several tasks, also each task's mean fitness (and its
    trainings), next to the fitness across tasks (relative to the best baselines)."""
    per_task = list(tasks) if task_means is not None else []
    if per_task:
        title += " (fitness: mean over tasks of fitness minus the best baseline's there)"
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


def run_tasks(config: dict, label: str) -> tuple[list[str], list[str]]:
    """A run's search tasks and its space's validation-only tasks, from its stored config
    (runs without one: the `task` column, comma-separated for several)."""
    task = (config or {}).get("task", label)
    tasks = [task] if isinstance(task, str) else list(task)
    if len(tasks) == 1 and "," in tasks[0]:
        tasks = [t for t in tasks[0].split(",") if t]
    extra = ((config or {}).get("space") or {}).get("validate_tasks") or []
    return tasks, [t for t in extra if t not in tasks]


@app.command()
def runs(db: DbOption = DEFAULT_DB) -> None:
    """Every run in the store: name, status, started, evaluations, best."""
    store = _open_store(db, create=False)
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


@app.command()
def show(
    candidate_id: Annotated[int, typer.Argument(help="Candidate id (see `actsearch top`).")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """One candidate: expression, canonical form, lineage, evaluations, rejection reason."""
    from actsearch.store import StoreError

    store = _open_store(db, create=False)
    try:
        candidate = store.candidate(candidate_id)
    except StoreError as err:
        fail(str(err))
    console.print(f"[bold]candidate {candidate.id}[/]  {candidate.expr}")
    run_record = store.run(candidate.run_id)
    console.print(f"  {'run':13} {run_record.name} (task {run_record.task})", highlight=False)
    for label, value in (
        ("latex", _parse(candidate.expr).latex()),
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
        for column in ("task", "seed", "budget", "status", "val acc", "val loss", "seconds", "worker", "error"):
            table.add_column(column)
        for e in evaluations:
            table.add_row(
                e.task,
                str(e.seed),
                str(e.budget),
                e.status,
                _fmt(e.val_accuracy),
                _fmt(e.val_loss),
                _fmt(e.train_seconds, 2),
                e.worker or "",
                (e.error or "")[:60],
            )
        console.print(table)
    _print_run_counts(store, run_record.name, run_record.id)


def _print_export_hint(expr: str, candidate_id: int) -> None:
    from actsearch.export.frameworks import export_commands

    console.print("  export:")
    for command in export_commands(expr, stem=f"activation_{candidate_id}").values():
        console.print(f"    {command}", highlight=False, soft_wrap=True)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# -- export and evaluate ---------------------------------------------------------------


@app.command()
def export(
    output: Annotated[Path, typer.Option("-o", "--output", help="The Python module to write.")],
    run: Annotated[str | None, typer.Option("--run", help="Run to export from.")] = None,
    rank: Annotated[int | None, typer.Option("--rank", help="Leaderboard rank within --run.")] = None,
    expr: Annotated[str | None, typer.Option("--expr", help="An expression to export directly.")] = None,
    framework: Annotated[
        ExportFramework,
        typer.Option("--framework", help="keras (keras.ops, any Keras 3 backend), tensorflow, torch, jax or numpy."),
    ] = ExportFramework.keras,
    parametric: Annotated[
        bool, typer.Option(help="Also export a form with trainable constants (Keras layer, nn.Module, params dict).")
    ] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Write a standalone module for an activation in the user's framework."""
    if (expr is None) == (run is None or rank is None):
        fail("give either --expr E, or both --run NAME and --rank R")
    if expr is None:
        assert run is not None and rank is not None  # checked above
        store = _open_store(db, create=False)
        if store.find_run(run) is None:
            fail(f"no run named {run!r} in {db}")
        rows = [r for r in store.leaderboard(run=run, k=max(rank, 1)) if r.rank == rank]
        if not rows:
            fail(f"run {run!r} has no rank {rank}")
        expr = rows[0].expr
    _write_export(expr, output, parametric=parametric, framework=framework.value)
    console.print(f"wrote {output}")


def _write_export(expr: str, path: Path, parametric: bool, framework: str = "keras") -> None:
    from actsearch.export import write_module
    from actsearch.expr import Activation, ParseError

    try:
        activation = Activation.parse(expr)
    except ParseError as err:
        fail(f"--expr: {err}")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_module(activation, path, parametric=parametric, framework=framework)


@app.command()
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
        path = _write_report(db, run, output or files_dir(db, out) / "reports" / f"{run}.png")
    console.print(f"wrote {path}")


def _write_html_report(db: str, run: str | None, path: Path) -> Path:
    from actsearch.dashboard.queries import open_readonly
    from actsearch.dashboard.report import write_html_report
    from actsearch.store import StoreError

    try:
        store = open_readonly(db)
        return write_html_report(store, path, run)
    except (StoreError, ValueError) as err:
        fail(str(err))


@app.command()
def dashboard(
    db: DbOption = DEFAULT_DB,
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8080,
) -> None:
    """Serve a live, read-only web page on the store: runs, a run, a candidate, compare."""
    from actsearch.dashboard.app import exposure_warning, serve
    from actsearch.dashboard.queries import open_readonly
    from actsearch.store import StoreError

    try:
        store = open_readonly(db)
    except StoreError as err:
        fail(str(err))
    warning = exposure_warning(host)
    if warning:
        err_console.print(f"[bold yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    console.print(
        f"actsearch dashboard on http://{host}:{port}/  (read-only, {store.where}; Ctrl-C stops)",
        highlight=False,
        soft_wrap=True,
    )
    serve(store, host, port)


def _write_report(db: str, run: str, path: Path) -> Path:
    from actsearch.report import plot_run

    store = _open_store(db, create=False)
    if store.find_run(run) is None:
        fail(f"no run named {run!r} in {db}")
    return plot_run(store, run, path)


@app.command()
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

    from actsearch.expr import Activation, ParseError
    from actsearch.tasks import TaskError, get_task

    try:
        activations = [Activation.parse(e) for e in expr]
        chosen = get_task(task)
    except (ParseError, TaskError) as err:
        fail(str(err))
    if threads:  # after the checks above: a bad expression or task fails before TensorFlow loads
        _pin_tensorflow(threads)
    pairs = [(a, seed + i) for a in activations for i in range(seeds or 1)]
    results = _train_pairs(
        chosen, pairs, epochs=epochs, parametric=parametric, batch_candidates=batch_candidates, seeds=seeds or 1
    )
    payloads = []
    for (activation, s), result in zip(pairs, results):
        payload = {"task": chosen.name, "expr": str(activation), "seed": s, **asdict(result)}
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


def _pin_tensorflow(threads: int) -> None:
    """TensorFlow's threads as a search worker sets them (before TensorFlow starts): the
    kernels, and so the float rounding, are then the worker's."""
    import tensorflow as tf

    from actsearch.execute.worker import configure_tensorflow

    configure_tensorflow(threads, use_gpu=bool(tf.config.list_physical_devices("GPU")))


def _train_pairs(
    task, pairs: list, *, epochs: int | None, parametric: bool, batch_candidates: int | None, seeds: int
) -> list:
    """One training, or batches of up to K activations x their seeds."""
    if len(pairs) == 1:
        from actsearch.train import train

        ((activation, seed),) = pairs
        return [train(task, activation, seed=seed, epochs=epochs, parametric=parametric)]
    import tensorflow as tf

    from actsearch.execute.batching import members_per_batch
    from actsearch.train.batch import train_batch

    size = members_per_batch(batch_candidates, seeds, use_gpu=bool(tf.config.list_physical_devices("GPU")))
    results = []
    for lo in range(0, len(pairs), size):
        results += train_batch(task, pairs[lo : lo + size], epochs=epochs, parametric=parametric)
    return results


@app.command()
def validate(
    run: Annotated[str | None, typer.Option("--run", help="Validate this run's best activations.")] = None,
    top_k: Annotated[int, typer.Option("--top", help="How many of the run's best to validate.")] = 3,
    expr: Annotated[list[str] | None, typer.Option("--expr", help="An activation to validate (repeatable).")] = None,
    tasks: Annotated[
        str | None,
        typer.Option(help="Comma-separated tasks (default: the run's tasks, then its space's validate_tasks)."),
    ] = None,
    seeds: Annotated[int, typer.Option(help="Training seeds per activation and task.")] = 5,
    seed_start: Annotated[
        int | None,
        typer.Option(
            help="First validation seed (default 10000, past every seed the run trained with; overlap is refused)."
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Override the tasks' epochs.")] = None,
    executor: Annotated[str, typer.Option(help="ray (default) or local.")] = "ray",
    workers: Annotated[int, typer.Option(help="Parallel training workers (default: one per CPU).")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="table | json | csv | markdown")] = "table",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Compare activations with the standard ones on test data the search never saw, with significance."""
    from actsearch.spaces import DEFAULT_BASELINES
    from actsearch.store.validations import Validations
    from actsearch.validate import Contender, SeedOverlapError, choose_seeds, flat_rows, report
    from actsearch.validate import validate as run_validation

    fmt = "json" if as_json else fmt
    if fmt not in ("table", "json", "csv", "markdown"):
        fail(f"--format must be table, json, csv or markdown, not {fmt!r}")
    contenders = _contenders(run, top_k, expr or [], db)
    store = _open_store(db)
    run_record = store.find_run(run) if run else None
    if tasks:
        task_list = [t.strip() for t in tasks.split(",") if t.strip()]
    elif run_record:
        searched, validation_only = run_tasks(run_record.config, run_record.task)
        task_list = searched + validation_only
    else:
        task_list = ["mnist1d-mlp"]
    known = {c.expr for c in contenders}
    contenders += [Contender(str(_parse(b)), True) for b in DEFAULT_BASELINES if str(_parse(b)) not in known]
    trained = Validations(store).trained_seeds(run_record.id if run_record else None, [c.expr for c in contenders])
    try:
        seed_list = choose_seeds(seeds, trained, seed_start)
    except (SeedOverlapError, ValueError) as err:
        fail(str(err))
    with _user_errors():
        scores = run_validation(
            contenders,
            task_list,
            seed_list,
            executor=executor,
            workers=workers,
            epochs=epochs,
            store=store,
            run_id=run_record.id if run_record else None,
        )
    if fmt == "json":
        print(json.dumps(report(scores, seed_list), indent=2))
    elif fmt in ("csv", "markdown"):
        _print_rows(flat_rows(scores), fmt)
    else:
        _print_validation(report(scores, seed_list), seed_list)


def _print_rows(rows: list[dict], fmt: str) -> None:
    """csv or a markdown pipe table of plain rows (numbers to 4 decimals, p to 2 significant digits)."""

    def cell(key: str, value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.2g}" if key.startswith("p") else f"{value:.4f}"
        return str(value)

    if fmt == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        return
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(cell(k, row[k]).replace("|", "\\|") for k in keys) + " |")


def _print_validation(result: dict, seeds: list[int]) -> None:
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


def _contenders(run: str | None, top_k: int, exprs: list[str], db: str) -> list:
    from actsearch.validate import Contender

    contenders = [Contender(str(_parse(e)), False) for e in exprs]
    if run:
        store = _open_store(db, create=False)
        if store.find_run(run) is None:
            fail(f"no run named {run!r} in {db}")
        best = [r for r in store.leaderboard(run=run, k=None) if not r.is_baseline][:top_k]
        contenders += [Contender(r.expr, False, r.candidate_id) for r in best]
    if not contenders:
        fail("give --run NAME (to validate its best activations) or --expr E")
    return contenders


def _parse(text: str):
    from actsearch.expr import Activation, ParseError

    try:
        return Activation.parse(text)
    except ParseError as err:
        fail(f"{text!r}: {err}")


def main() -> None:
    # Quiet TensorFlow's C++ start-up chatter here and in the Ray workers (they inherit it).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app()
