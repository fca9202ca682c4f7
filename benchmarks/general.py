"""The `general` space's searches and their validation on the whole task panel.

Run: ``python benchmarks/general.py`` (``make general``; about an hour on 2 cores).

For each search seed (default 101, 102, 103: seeds no other documented run used),
one search of the `general` space (its four search tasks, robust fitness across
them), then its pick (the leaderboard's best evolved activation) validated on every
task of the `panel` suite with 5 fresh seeds against relu, Swish, GELU and tanh: the
search's own tasks and the held-out ones it never saw. Writes docs/general.md (the
results page: per run, per task, the pick's difference to each baseline with its 95%
interval and Holm-corrected p; the summary over all tasks and over the held-out ones;
the issue's goals checked) and the raw scores to --out/general.json.

Everything is stored in one database (--db): run again, finished searches are read
back, an unfinished one resumed, and stored validations reused, so the page is
reproduced by the same command.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actsearch.tasks.suites import get_suite  # noqa: E402

SPACE = "general"
SEEDS = (101, 102, 103)
HELD_OUT = get_suite("held-out").tasks
SHOWN = ("relu(x)", "x*sigmoid(x)", "gelu(x)", "tanh(x)")


def search(db: str, seed: int, workers: int) -> dict[str, Any]:
    """One search of the space; a finished run is read back, an unfinished one resumed."""
    from actsearch.search import SearchRequest, run_search
    from actsearch.store import Store

    name = f"{SPACE}-{seed}"
    with Store.open(db) as store:
        record = store.find_run(name)
    if record is None or record.status != "finished":
        request = SearchRequest(
            space=SPACE, db=db, run=name, seed=seed, workers=workers, executor="ray", resume=record is not None
        )
        run_search(request)
    with Store.open(db) as store:
        record = store.find_run(name)
        board = store.leaderboard(run=name, k=None)
        trainings = len(store.run_evaluations(record.id))
    pick = next((r for r in board if not r.is_baseline), None)
    return {
        "run": name,
        "seed": seed,
        "trainings": trainings,
        "seconds": (record.finished_at - record.created_at).total_seconds() if record.finished_at else None,
        "pick_fitness": pick.fitness if pick else None,
        "baselines_fitness": {r.expr: r.fitness for r in board if r.is_baseline},
    }


def validate_pick(db: str, run: str, seeds: int, workers: int) -> tuple[list[Any], list[int]]:
    """The run's pick and the baselines on every panel task, test split, fresh seeds."""
    from actsearch.validate import plan_validation, validate

    plan = plan_validation(db, run=run, top_k=1, suite="panel", seeds=seeds)
    with plan.store:
        scores = validate(
            plan.contenders, plan.tasks, plan.seeds, workers=workers, store=plan.store, run_id=plan.run_id
        )
    return scores, list(plan.seeds)


def run_section(row: dict[str, Any], scores: list[Any], seeds: list[int]) -> list[str]:
    """One run's part of the page: the pick, a table over the panel, the summaries, the goals."""
    from actsearch.validate import summaries, summarise, summary_dict, summary_line

    result = summarise(scores, seeds)
    pick = next(s for s in result["scores"] if not s["baseline"])
    row["pick"] = pick["expr"]
    lines = [
        f"### Seed {row['seed']}: `{pick['expr']}`",
        "",
        f"Run `{row['run']}`: {row['trainings']} trainings"
        + (f", {row['seconds'] / 60:.1f} min from start to finish" if row.get("seconds") else "")
        + f". Validation seeds {seeds[0]}..{seeds[-1]}.",
        "",
        "Search fitness (median over the search tasks, seed-spread units; 3 to 7 seeds after the re-check): "
        + f"the pick {_number(row['pick_fitness'])}; "
        + ", ".join(f"{b} {_number(f)}" for b, f in row["baselines_fitness"].items())
        + ".",
        "",
        "| task | held out | pick (mean ± std) | " + " | ".join(f"vs {b}" for b in SHOWN) + " |",
        "|---|---|---|" + "---|" * len(SHOWN),
    ]
    for item in (s for s in result["scores"] if not s["baseline"]):
        versus = {v["vs"]: v for v in item.get("versus", [])}
        cells = [_versus_cell(versus.get(b)) for b in SHOWN]
        fitness = "failed" if item["mean"] is None else f"{item['mean']:.4f} ± {item['std'] or 0:.4f}"
        held = "yes" if item["task"] in HELD_OUT else ""
        lines.append(f"| {item['task']} | {held} | {fitness} | " + " | ".join(cells) + " |")
    held_scores = [s for s in scores if s.task in HELD_OUT]
    every = result["summary"][pick["expr"]]
    held = summary_dict(summaries(held_scores)[0])
    lines += ["", "```", summary_line("all tasks", every), summary_line("held out ", held), "```", ""]
    row["goals"] = goals(held_scores, pick["expr"], held)
    lines.append(
        f"Held-out goals: never significantly worse than the best baseline: **{_yes(row['goals']['never_worse'])}**; "
        f"better on average (mean normalised difference > 0): **{_yes(row['goals']['better_on_average'])}**; "
        f"beats GELU significantly on a held-out task: **{', '.join(row['goals']['beats_gelu_on']) or 'no'}**."
    )
    return [*lines, ""]


def goals(held_scores: list[Any], pick: str, held: dict[str, Any]) -> dict[str, Any]:
    from actsearch.validate import relative_to_best_baseline, verdicts

    across = next(a for a in relative_to_best_baseline(held_scores) if a.expr == pick)
    beats_gelu = [
        v.task
        for v in verdicts(held_scores)
        if v.expr == pick and any(w.baseline == "gelu(x)" and w.significant and w.comparison.diff > 0 for w in v.versus)
    ]
    mean = held["mean_normalised_difference"]
    return {
        "never_worse": not across.worse_on,
        "worse_on": list(across.worse_on),
        "better_on_average": mean is not None and mean > 0,
        "mean_normalised_held_out": mean,
        "beats_gelu_on": beats_gelu,
    }


def _versus_cell(v: dict[str, Any] | None) -> str:
    if v is None:
        return "-"
    ci = "" if v["ci_low"] is None else f" [{v['ci_low']:+.3f}, {v['ci_high']:+.3f}]"
    p = "" if v["p_holm"] is None else f" p={v['p_holm']:.2g}"
    mark = "**" if v["p_holm"] is not None and v["p_holm"] < 0.05 else ""
    return f"{mark}{v['diff']:+.4f}{mark}{ci}{p}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def page(sections: list[str], rows: list[dict[str, Any]], command: str) -> str:
    met = sum(r["goals"]["never_worse"] and r["goals"]["better_on_average"] for r in rows)
    gelu = sum(bool(r["goals"]["beats_gelu_on"]) for r in rows)
    below = sum(
        r["pick_fitness"] is not None
        and r["pick_fitness"] < max(f for f in r["baselines_fitness"].values() if f is not None)
        for r in rows
    )
    distinct = len({r["pick"] for r in rows})
    head = [
        "# The `general` space: picks on the whole task panel",
        "",
        f"Produced by `{command}` on {date.today().isoformat()} (2 CPU cores, no GPU). Each search",
        "of `search_spaces/general.yaml` (random search over b(x, g(x)) trees; fitness: the median",
        "over its four search tasks of the difference to the best baseline, in units of each task's",
        "seed spread) picks one activation; it is validated on the test split of every panel task",
        "([panel.md](panel.md)) with 5 fresh seeds. Cells: the pick's mean test fitness minus the",
        "baseline's (accuracy; minus MSE on ood-regression), its 95% interval and Holm-corrected",
        "Welch p; **bold**: significant at 0.05, either way. Held-out tasks are the `held-out` suite: the",
        "search never trained on them.",
        "",
        "## Summary",
        "",
        f"- Picks never significantly worse than the best baseline on any held-out task and better on "
        f"average across them: **{met} of {len(rows)}** (the goal: {len(rows)} of {len(rows)}).",
        f"- Picks that beat GELU significantly on at least one held-out task: **{gelu} of {len(rows)}**.",
        f"- Picks whose search fitness was below a baseline's in their own search (the search found nothing "
        f"better than a standard activation on its own tasks): **{below} of {len(rows)}**; distinct picks: "
        f"{distinct}.",
        "",
        "## The runs",
        "",
    ]
    return "\n".join(head + sections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="search seeds")
    parser.add_argument("--db", default=str(ROOT / "runs" / "general.db"))
    parser.add_argument("--workers", type=int, default=0, help="training workers (default: one per CPU)")
    parser.add_argument("--validate-seeds", type=int, default=5)
    parser.add_argument("--page", default=str(ROOT / "docs" / "general.md"))
    parser.add_argument("--out", default=str(ROOT / "runs" / "general"))
    args = parser.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, sections, raw = [], [], []
    for seed in args.seeds:
        row = search(args.db, seed, args.workers)
        print(f"search {row['run']}: {row['trainings']} trainings", flush=True)
        scores, seeds = validate_pick(args.db, row["run"], args.validate_seeds, args.workers)
        sections += run_section(row, scores, seeds)
        rows.append(row)
        raw.append({**row, "scores": [vars(s) | {"fitnesses": list(s.fitnesses)} for s in scores]})
    seeds = "" if args.seeds == list(SEEDS) else f" --seeds {' '.join(map(str, args.seeds))}"
    command = f"python benchmarks/general.py{seeds}"
    Path(args.page).write_text(page(sections, rows, command))
    (out / "general.json").write_text(json.dumps(raw, indent=2, default=str))
    print(f"wrote {args.page}")


if __name__ == "__main__":
    main()
