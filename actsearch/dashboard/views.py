"""View models: what each page shows, as plain JSON-ready dicts.

The live server and the HTML report render the same dicts with the same
templates and scripts; only the links and the polling differ.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np

from actsearch.export.frameworks import DEFAULT, export_commands
from actsearch.expr import Activation, ParseError
from actsearch.runconfig import stored_trainings
from actsearch.spaces import DEFAULT_BASELINES
from actsearch.stats import mean_interval
from actsearch.store import CandidateRecord, RunRecord, Store, queries
from actsearch.validate import Score, summaries, summary_dict, verdicts

CURVE_RANGE = (-5.0, 5.0)
CURVE_POINTS = 201
REFERENCES = {
    "relu": DEFAULT_BASELINES[0],
    "Swish": DEFAULT_BASELINES[1],
    "GELU": DEFAULT_BASELINES[2],
    "tanh": DEFAULT_BASELINES[3],
}
LEADERBOARD_ROWS = 25
POINT_FIELDS = ("evaluation", "candidate", "generation", "fitness", "baseline", "expr")


def clean(value: Any) -> Any:
    """NaN and infinities -> None, recursively (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunRow:
    """One line of the runs table."""

    id: int
    name: str
    status: str
    task: str
    space: str
    strategy: str
    trainings: int
    budget: int | None  # trainings the run planned (SearchSpace.trainings), if its config says
    proposals: int  # evolved candidates proposed so far (baselines not counted)
    planned: int | None  # proposals: population x generations
    best_fitness: float | None
    best_id: int | None
    best_expr: str | None
    baseline_best: float | None
    created_at: str
    finished_at: str | None


def planned_proposals(config: dict[str, Any]) -> int | None:
    """population x generations of a run's space, when it has both (else None)."""
    evolution = (config.get("space") or {}).get("evolution") or {}
    try:
        return int(evolution["population"]) * int(evolution["generations"])
    except (KeyError, TypeError, ValueError):
        return None


def run_rows(store: Store) -> list[RunRow]:
    """Every run, oldest first, as lines of the runs table."""
    return [_run_row(t.run, t.trainings, t.proposals, t.best, t.best_baseline) for t in queries.run_totals(store)]


def _run_row(
    run: RunRecord, trainings: int, proposals: int, top: queries.Best | None, base: queries.Best | None
) -> RunRow:
    config = run.config
    return RunRow(
        id=run.id,
        name=run.name,
        status=run.status,
        task=run.task,
        space=run.space,
        strategy=str(((config.get("space") or {}).get("evolution") or {}).get("strategy", "-")),
        trainings=trainings,
        budget=stored_trainings(config, run.task),
        proposals=proposals,
        planned=planned_proposals(config),
        best_fitness=top.fitness if top else None,
        best_id=top.candidate_id if top else None,
        best_expr=top.expr if top else None,
        baseline_best=base.fitness if base else None,
        created_at=_stamp(run.created_at),
        finished_at=None if run.finished_at is None else _stamp(run.finished_at),
    )


def run_row_from_points(run: RunRecord, points: dict[str, list[Any]], proposals: int) -> RunRow:
    """The runs-table line of one run, from its points and proposal count (no further query)."""
    best: dict[bool, queries.Best] = {}
    for cid, baseline, expr, fitness, status in zip(
        points["candidate"], points["baseline"], points["expr"], points["candidate_fitness"], points["candidate_status"]
    ):
        if status == "evaluated" and fitness is not None:
            key, old = bool(baseline), best.get(bool(baseline))
            if old is None or fitness > old.fitness or fitness == old.fitness and cid < old.candidate_id:
                best[key] = queries.Best(fitness, cid, expr)
    return _run_row(run, len(points["evaluation"]), proposals, best.get(False), best.get(True))


def _stamp(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}"


def runs_view(store: Store) -> dict[str, Any]:
    return {"view": "runs", "runs": [asdict(r) for r in run_rows(store)]}


# --------------------------------------------------------------------------- one run


def run_view(store: Store, run_id: int, after: int = 0) -> dict[str, Any]:
    """A run's page; with `after` (an evaluation id) only the newer points are sent."""
    run = store.run(run_id)  # NotFoundError for an unknown id
    points = queries.run_points(store, run_id)
    counts = store.counts(run_id, baselines=False)
    row = run_row_from_points(run, points, sum(counts.values()))
    evaluations = points["evaluation"]
    leaders = store.leaderboard(run=run.name, k=LEADERBOARD_ROWS)
    top = next((r for r in leaders if not r.is_baseline), None)
    if top is not None:  # on ties, the leaderboard's order (simpler first) decides
        row = replace(row, best_fitness=top.fitness, best_id=top.candidate_id, best_expr=top.expr)
    view = clean(
        {
            "view": "run",
            "run": {**asdict(row), "seed": run.seed, "notes": run.notes},
            "counts": counts,
            "reasons": queries.rejection_reasons(store, run_id),
            "baselines": queries.baselines(store, run_id),
            "best": best_so_far(points),
            "after": after,
            "last": evaluations[-1] if evaluations else after,
            "leaderboard": [asdict(r) for r in leaders],
        }
    )
    # The bulk of the page, by column; stored values are never NaN (the store writes NULL).
    start = bisect.bisect_right(evaluations, after)
    view["points"] = {name: points[name][start:] for name in POINT_FIELDS}
    return view


def best_so_far(points: dict[str, list[Any]]) -> list[list[Any]]:
    """Steps of the best evolved candidate fitness against trainings done, from all of
    a run's `points`: [trainings, fitness, candidate id, expr] at each improvement. A
    candidate counts from its last stored training (its fitness is the mean over seeds)."""
    candidates = points["candidate"]
    last = {cid: done for done, cid in enumerate(candidates, start=1)}
    steps: list[list[Any]] = []
    for done, (cid, baseline, fitness, status) in enumerate(
        zip(candidates, points["baseline"], points["candidate_fitness"], points["candidate_status"]), start=1
    ):
        if last[cid] != done or baseline or status != "evaluated" or fitness is None:
            continue
        if not steps or fitness > steps[-1][1]:
            steps.append([done, fitness, cid, points["expr"][done - 1]])
    return steps


# --------------------------------------------------------------------------- candidates


def curve(expr: str, xs: np.ndarray) -> dict[str, list[float | None]]:
    """Values and numerical derivative of an activation on `xs` (None where not finite)."""
    with np.errstate(all="ignore"):
        y = np.asarray(Activation.parse(expr).numpy(xs), dtype=float) * np.ones_like(xs)
        dy = np.gradient(y, xs)
    return {"y": _finite(y), "dy": _finite(dy)}


def _finite(values: np.ndarray) -> list[float | None]:
    return [round(float(v), 6) if math.isfinite(v) else None for v in values]


def references(xs: np.ndarray) -> dict[str, Any]:
    return {name: curve(expr, xs) for name, expr in REFERENCES.items()}


def _latex(expr: str) -> str | None:
    try:
        return Activation.parse(expr).latex()
    except (ParseError, ValueError, RecursionError):
        return None


def export_command(candidate: CandidateRecord) -> str:
    """The command for the default framework (see `export_commands` for every framework)."""
    return export_commands(candidate.expr, stem=f"activation_{candidate.id}")[DEFAULT.value]


def _brief(c: CandidateRecord) -> dict[str, Any]:
    return {
        "id": c.id,
        "expr": c.expr,
        "generation": c.generation,
        "origin": c.origin,
        "parents": list(c.parents),
        "status": c.status,
        "fitness": c.fitness,
        "is_baseline": c.is_baseline,
    }


def candidate_view(store: Store, candidate_id: int) -> dict[str, Any]:
    candidate = store.candidate(candidate_id)  # NotFoundError for an unknown id
    run = store.run(candidate.run_id)
    xs = np.linspace(*CURVE_RANGE, CURVE_POINTS)
    evaluations = store.evaluations(candidate_id)
    finals = [e for e in evaluations if not e.is_partial]
    partials = [e for e in evaluations if e.is_partial]
    validations, across_tasks = validation_view(store, candidate)
    return clean(
        {
            "view": "candidate",
            "candidate": {
                **_brief(candidate),
                "run_id": run.id,
                "run": run.name,
                "task": run.task,
                "fingerprint": candidate.fingerprint,
                "complexity": candidate.complexity,
                "reason": candidate.reason,
                "equivalent_to": candidate.equivalent_to,
                "fitness_std": candidate.fitness_std,
                "predicted": candidate.predicted,
                "genotype": candidate.genotype,
                "learned": candidate.learned,
                "latex": _latex(candidate.expr),
            },
            "x": _finite(xs),
            "curve": curve(candidate.expr, xs),
            "references": references(xs),
            "lineage": [_brief(a) for a in store.lineage(candidate_id)],
            "evaluations": [_evaluation(e) for e in finals],
            "partials": [_evaluation(e) for e in partials],
            "export": export_command(candidate),
            "exports": export_commands(candidate.expr, stem=f"activation_{candidate.id}"),
            "validations": validations,
            "validation_summary": across_tasks,
        }
    )


def validation_view(store: Store, candidate: CandidateRecord) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Per (task, planned epochs) validated: the candidate's test fitness (n, mean, 95% half-width)
    and, against each baseline of its run, `actsearch validate`'s Welch/Holm comparison and verdict.
    With several tasks, also `actsearch validate`'s summary over them (`validate.summaries`:
    wins, ties, losses, mean normalised difference), from each task's validation with the
    most planned epochs; else None."""
    groups, baselines = queries.validation_fitnesses(store, candidate.expr, candidate.run_id)
    out = []
    fullest: dict[str, tuple[int, list[Score]]] = {}  # task -> (planned epochs, scores)
    for (task, planned_epochs), by_expr in groups.items():
        own = Score(candidate.expr, False, task, tuple(by_expr[candidate.expr]))
        others = [Score(b, True, task, tuple(by_expr[b])) for b in baselines if b in by_expr]
        if task not in fullest or planned_epochs > fullest[task][0]:
            fullest[task] = (planned_epochs, [own, *others])
        verdict = verdicts([own, *others])[0]
        mean, half = mean_interval(own.ok)
        counts = {s.expr: (len(s.ok), s.mean) for s in others}
        out.append(
            {
                "task": task,
                "planned_epochs": planned_epochs,
                "n": len(own.ok),
                "mean": mean,
                "half": half,
                "better": verdict.better,
                "versus": [
                    {
                        "baseline": v.baseline,
                        "n": counts[v.baseline][0],
                        "mean": counts[v.baseline][1],
                        "diff": v.comparison.diff,
                        "low": v.comparison.low,
                        "high": v.comparison.high,
                        "p_holm": v.p_holm,
                        "significant": v.significant,
                    }
                    for v in verdict.versus
                ],
            }
        )
    return out, _across_tasks(candidate.expr, fullest)


def _across_tasks(expr: str, fullest: dict[str, tuple[int, list[Score]]]) -> dict[str, Any] | None:
    """The summary of `expr` over the tasks (None for fewer than two), and the planned
    epochs of the validation it takes on each task."""
    if len(fullest) < 2:
        return None
    scores = [s for _, rows in fullest.values() for s in rows]
    (summary,) = [p for p in summaries(scores) if p.expr == expr]
    return {**summary_dict(summary), "planned_epochs": {task: epochs for task, (epochs, _) in fullest.items()}}


def _evaluation(e: Any) -> dict[str, Any]:
    return {
        "id": e.id,
        "task": e.task,
        "seed": e.seed,
        "planned_epochs": e.planned_epochs,
        "status": e.status,
        "fitness": e.fitness,
        "val_accuracy": e.val_accuracy,
        "val_loss": e.val_loss,
        "seconds": e.train_seconds,
        "epochs": e.epochs,
        "worker": e.worker,
        "error": e.error,
        "partial_of": e.partial_of,
    }


# --------------------------------------------------------------------------- compare


def compare_view(store: Store, ids: Iterable[int]) -> dict[str, Any]:
    """Several candidates (any runs) side by side: curves, derivatives, fitness."""
    xs = np.linspace(*CURVE_RANGE, CURVE_POINTS)
    names = {t.run.id: t.run.name for t in queries.run_totals(store)}
    rows = []
    for candidate_id in dict.fromkeys(ids):
        c = store.candidate(candidate_id)  # NotFoundError for an unknown id
        rows.append(
            {
                **_brief(c),
                "run_id": c.run_id,
                "run": names.get(c.run_id, str(c.run_id)),
                "fitness_std": c.fitness_std,
                "complexity": c.complexity,
                **curve(c.expr, xs),
            }
        )
    return clean({"view": "compare", "x": _finite(xs), "candidates": rows, "references": references(xs)})


def parse_ids(text: str | None) -> list[int]:
    """'3, 17 42' -> [3, 17, 42]; anything not a number is ignored."""
    parts = (text or "").replace(",", " ").split()
    return [int(p) for p in parts if p.isdigit()][:20]
