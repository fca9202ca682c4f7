"""Strategy benchmark: generational vs regularized vs random search at an equal number of trainings.

Run: ``python benchmarks/search.py --size full`` (``make bench-search``; hours on
2 cores, see docs/results.md) or ``--size smoke`` (a few minutes, to check the script).

For each task (mnist1d-mlp and the known-answer teacher-mlp) and each
strategy, several searches (different seeds) of the default space spend the
same number of trainings (plus the re-check of the winners). Each run's pick
(its leaderboard's best evolved activation) is then validated on the task's
test split with fresh seeds, against the baselines. Printed, per task and
strategy:

- mean test fitness of the picks over the search seeds, with a 95% interval;
- Welch's p of evolution (generational, regularized) against random search,
  over the search seeds' pick test fitness;
- how many picks beat every baseline significantly (`validate`'s verdict);
- on teacher-mlp, how closely the picks recover the teacher's activation
  (`shape_similarity`, 1 = the same shape up to what the network absorbs);
- worker utilisation: training seconds / (workers x wall time from the
  first training's start to the last result).

Writes results.json and best_so_far.png (best search fitness against trainings
spent, mean over search seeds) to --out. Interrupted, it continues where it
stopped when run again with the same --out: finished searches are read back from
its database, an unfinished one is resumed, stored validations are reused.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

from actsearch.spaces import load_space, with_overrides
from actsearch.stats import mean_interval, welch

SIZES: dict[str, dict[str, Any]] = {
    # trainings per search, search seeds, epochs (None: the task's), validation seeds, re-check top/seeds
    "smoke": {"trainings": 6, "seeds": 2, "epochs": 1, "validate_seeds": 2, "reevaluate_top": 1, "reevaluate_seeds": 1},
    "full": {
        "trainings": 96,
        "seeds": 5,
        "epochs": None,
        "validate_seeds": 5,
        "reevaluate_top": 5,
        "reevaluate_seeds": 4,
    },
}
STRATEGIES = ("generational", "regularized", "random")
#: strategies whose settings differ from the default space's: a name -> the sections of the space it
#: changes (a plain strategy name takes the default space's settings: `regularized` mutates only);
#: the surrogate and rungs are off unless a variant names them
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "generational": {"evolution": {"strategy": "generational", "crossover_prob": 0.5}},
    "regularized-mutation": {"evolution": {"strategy": "regularized", "crossover_prob": 0.0}},  # Real et al.
    "regularized-crossover": {"evolution": {"strategy": "regularized", "crossover_prob": 0.5}},  # until 2026-11-29
    "random+surrogate": {"evolution": {"strategy": "random"}, "surrogate": {"enabled": True}},
    "random+surrogate+rungs": {
        "evolution": {"strategy": "random"},
        "surrogate": {"enabled": True},
        "budget": {"rungs": {"epochs": [5, 15], "keep": 0.25}},
    },
}
TASKS = ("mnist1d-mlp", "teacher-mlp")


def space_file(out: Path, size: dict[str, Any], strategy: str) -> Path:
    """The default space with the benchmark's budget (and the variant's evolution settings)."""
    budget = {key: size[key] for key in ("trainings", "reevaluate_top", "reevaluate_seeds")}
    if size["epochs"] is not None:
        budget["epochs"] = size["epochs"]
    sections = {"surrogate": {"enabled": False}, **VARIANTS.get(strategy, {"evolution": {"strategy": strategy}})}
    sections["budget"] = {"rungs": None, **sections.get("budget", {}), **budget}  # no variant inherits rungs
    rungs = sections["budget"].get("rungs")
    if rungs and size["epochs"] is not None:  # the smoke size's short trainings: rungs inside them, or none
        rungs = {**rungs, "epochs": [e for e in rungs["epochs"] if e < size["epochs"]]}
        sections["budget"]["rungs"] = rungs if rungs["epochs"] else None
    space = with_overrides(load_space("default"), **sections)
    path = out / f"bench-space-{strategy}.yaml"
    path.write_text(yaml.safe_dump(space.model_dump(mode="json")))
    return path


def run_one(space: Path, db: str, task: str, strategy: str, seed: int, workers: int) -> dict[str, Any]:
    """One search; a run already finished in the database (an earlier, interrupted benchmark) is
    read back, an unfinished one resumed."""
    from actsearch.search import SearchRequest, run_search
    from actsearch.store import Store

    name = f"{task}-{strategy}-{seed}"
    started = time.monotonic()
    with Store.open(db) as store:
        record = store.find_run(name)
        if record is not None and record.status == "finished":
            best = next((r for r in store.leaderboard(run=name, k=None) if not r.is_baseline), None)
            counts = store.counts(record.id, baselines=False)
            trained = len(store.run_evaluations(record.id))
            return {
                "run": name,
                "task": task,
                "strategy": strategy,
                "seed": seed,
                "pick": best.expr if best else None,
                "search_fitness": best.fitness if best else None,
                "counts": counts,
                "trainings": trained,
                "seconds": None,
            }
    request = SearchRequest(
        space=str(space),
        task=task,
        db=db,
        run=name,
        seed=seed,
        workers=workers,
        executor="ray",
        resume=record is not None,
    )
    outcome = run_search(request)
    return {
        "run": name,
        "task": task,
        "strategy": strategy,
        "seed": seed,
        "pick": outcome.best.expr if outcome.best else None,
        "search_fitness": outcome.best.fitness if outcome.best else None,
        "counts": outcome.counts,
        "trainings": outcome.trained,
        "seconds": time.monotonic() - started,
    }


def curves_and_utilisation(db: str, run: str, workers: int) -> tuple[list[list[float]], float | None]:
    """Best-so-far search fitness after each evolved training, as [training-equivalents spent,
    best] (a training stopped at a rung counts as the share of its epochs it ran), and the
    workers' utilisation."""
    from actsearch.store import Store

    with Store.open(db) as store:
        record = store.find_run(run)
        baseline = {c.id for c in store.candidates(record.id) if c.is_baseline}
        evaluations = store.run_evaluations(record.id)
    best, spent, curve = float("-inf"), 0.0, []
    for e in evaluations:
        if e.candidate_id in baseline or e.seed != record.seed:  # not the re-check's seeds
            continue
        if e.fitness is not None:
            best = max(best, e.fitness)
        spent += e.epochs / e.planned_epochs if e.status == "stopped" else 1.0
        curve.append([spent, best if best > float("-inf") else float("nan")])
    timed = [e for e in evaluations if e.train_seconds]
    if not timed:
        return curve, None
    start = min(e.created_at.timestamp() - e.train_seconds for e in timed)
    end = max(e.created_at.timestamp() for e in timed)
    busy = sum(e.train_seconds for e in timed)
    return curve, busy / (max(workers, 1) * (end - start)) if end > start else None


def reach_share(curve: list[list[float]], target: float) -> float | None:
    """The share of the search's training-equivalents spent when its best reached `target`."""
    if not curve:
        return None
    total = curve[-1][0]
    return next((spent / total for spent, best in curve if best >= target), None)


def validate_picks(results: list[dict[str, Any]], db: str, size: dict[str, Any], workers: int) -> None:
    """Each pick against the baselines on its task's test split, seeds disjoint from the searches'."""
    from actsearch.spaces import DEFAULT_BASELINES
    from actsearch.store import Store
    from actsearch.store.validations import Validations
    from actsearch.validate import Contender, choose_seeds, discoveries, validate

    with Store.open(db) as store:
        for row in results:
            if row["pick"] is None:
                continue
            run = store.find_run(row["run"])
            contenders = [Contender(row["pick"], False)] + [
                Contender(b, True) for b in _canonical(DEFAULT_BASELINES) if b != row["pick"]
            ]
            trained = Validations(store).trained_seeds(run.id, [c.expr for c in contenders])
            seeds = choose_seeds(size["validate_seeds"], trained)
            scores = validate(
                contenders, [row["task"]], seeds, workers=workers, epochs=size["epochs"], store=store, run_id=run.id
            )
            pick = next(s for s in scores if not s.is_baseline)
            row["test_fitness"] = pick.mean
            row["test_fitnesses"] = list(pick.fitnesses)
            row["beats_all_baselines"] = bool(discoveries(scores)[row["pick"]])
            row["baselines_test"] = {s.expr: s.mean for s in scores if s.is_baseline}


def _canonical(texts: tuple[str, ...]) -> list[str]:
    from actsearch.expr import Activation

    return [str(Activation.parse(t)) for t in texts]


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    from actsearch.tasks.teacher import shape_similarity

    summary: dict[str, Any] = {}
    for task in dict.fromkeys(r["task"] for r in results):
        per: dict[str, Any] = {}
        for strategy in dict.fromkeys(r["strategy"] for r in results if r["task"] == task):
            rows = [r for r in results if r["task"] == task and r["strategy"] == strategy]
            tests = [r["test_fitness"] for r in rows if r.get("test_fitness") is not None]
            mean, half = mean_interval(tests) if tests else (None, None)
            entry = {
                "test_fitnesses": tests,
                "mean": mean,
                "ci95": half,
                "beats_all_baselines": sum(bool(r.get("beats_all_baselines")) for r in rows),
                "searches": len(rows),
                "utilisation": _mean([r.get("utilisation") for r in rows]),
                "seconds": _mean([r.get("seconds") for r in rows]),
                "proposals": _mean([sum(r["counts"].values()) for r in rows]),
                "duplicates": _mean([r["counts"]["duplicate"] for r in rows]),
                "rejected": _mean([r["counts"]["rejected"] for r in rows]),
            }
            if task == "teacher-mlp":
                entry["shape_similarity"] = [shape_similarity(r["pick"]) for r in rows if r["pick"]]
            per[strategy] = entry
        random_tests = per.get("random", {}).get("test_fitnesses", [])
        _reach_random(results, task)
        for strategy, entry in per.items():
            rows = [r for r in results if r["task"] == task and r["strategy"] == strategy]
            entry["reach_random_shares"] = [r.get("reach_random") for r in rows]
        for strategy in [s for s in per if s != "random"]:
            mine = per[strategy]["test_fitnesses"]
            if mine and random_tests:
                c = welch(mine, random_tests)
                per[strategy]["vs_random"] = {"diff": c.diff, "low": c.low, "high": c.high, "p": c.p}
        summary[task] = per
    return summary


def _reach_random(results: list[dict[str, Any]], task: str) -> None:
    """Each search's share of its budget spent when it reached the final best search fitness of
    random search with the same seed (sample efficiency; random's own: when its best came)."""
    randoms = [r for r in results if r["task"] == task and r["strategy"] == "random" and r["curve"]]
    final = {r["seed"]: r["curve"][-1][1] for r in randoms}
    for r in results:
        if r["task"] == task and r["seed"] in final and r["curve"]:
            r["reach_random"] = reach_share(r["curve"], final[r["seed"]])


def _mean(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    tasks = list(dict.fromkeys(r["task"] for r in results))
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for strategy in dict.fromkeys(r["strategy"] for r in results):
            curves = [r["curve"] for r in results if r["task"] == task and r["strategy"] == strategy and r["curve"]]
            if not curves:
                continue
            n = min(len(c) for c in curves)
            spent = np.mean([[x for x, _ in c[:n]] for c in curves], axis=0)
            mean = np.nanmean(np.array([[y for _, y in c[:n]] for c in curves], dtype=float), axis=0)
            ax.plot(spent, mean, label=strategy)
        ax.set(title=task, xlabel="training-equivalents spent", ylabel="best search fitness (mean over seeds)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(summary: dict[str, Any]) -> None:
    for task, per in summary.items():
        print(f"\n{task}: pick's test fitness over search seeds (mean ± 95% CI)")
        for strategy, e in per.items():
            mean = "-" if e["mean"] is None else f"{e['mean']:.4f}" + (f" ± {e['ci95']:.4f}" if e["ci95"] else "")
            vs = e.get("vs_random")
            p = f"  vs random: {vs['diff']:+.4f}, p = {vs['p']:.3g}" if vs and vs["p"] is not None else ""
            shape = e.get("shape_similarity")
            shape_text = f"  teacher shape {statistics.fmean(shape):.2f}" if shape else ""
            util = "-" if e["utilisation"] is None else f"{e['utilisation']:.0%}"
            wall = "" if e.get("seconds") is None else f"  {e['seconds']:.0f} s a search"
            shares = [x for x in e.get("reach_random_shares", []) if x is not None]
            half = sum(x <= 0.5 for x in shares)
            reach = f"  reaches random's final best within half the budget in {half}/{e['searches']}"
            print(
                f"  {strategy:13} {mean:22} beats all baselines in {e['beats_all_baselines']}/{e['searches']}"
                f"  utilisation {util}  proposals {e['proposals']:.1f} (dup {e['duplicates']:.1f}, "
                f"rej {e['rejected']:.1f}){wall}{reach}{p}{shape_text}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="smoke")
    parser.add_argument("--tasks", default=",".join(TASKS))
    known = ", ".join(dict.fromkeys(STRATEGIES + tuple(VARIANTS)))
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help=f"of {known}")
    parser.add_argument("--first-seed", type=int, default=0, help="search seeds first-seed, first-seed + 1, ...")
    parser.add_argument("--trainings", type=int, help="trainings per search (default: the size's)")
    parser.add_argument("--workers", type=int, default=0, help="Ray workers (default: one per CPU)")
    parser.add_argument("--out", default="runs/bench-search", help="directory for the database, JSON and PNG")
    args = parser.parse_args()
    size = dict(SIZES[args.size])
    if args.trainings is not None:
        size["trainings"] = args.trainings
    workers = args.workers or os.cpu_count() or 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # runs are named by task, strategy and seed: another budget needs its own database
    db = str(out / (f"bench-{args.size}.db" if args.trainings is None else f"bench-{args.size}-{args.trainings}.db"))
    spaces = {strategy: space_file(out, size, strategy) for strategy in args.strategies.split(",")}
    results = []
    for task in args.tasks.split(","):
        for strategy, space in spaces.items():
            for seed in range(args.first_seed, args.first_seed + size["seeds"]):
                row = run_one(space, db, task, strategy, seed, workers)
                row["curve"], row["utilisation"] = curves_and_utilisation(db, row["run"], workers)
                took = "from the database" if row["seconds"] is None else f"{row['seconds']:.0f} s"
                print(
                    f"{row['run']}: pick {row['pick']} ({row['search_fitness']}), {row['trainings']} trainings, {took}",
                    flush=True,
                )
                results.append(row)
    validate_picks(results, db, size, workers)
    summary = summarise(results)
    report(summary)
    (out / "results.json").write_text(
        json.dumps({"size": args.size, **size, "runs": results, "summary": summary}, indent=2, default=str)
    )
    plot(results, out / "best_so_far.png")
    print(f"\nwrote {out / 'results.json'} and {out / 'best_so_far.png'}")


if __name__ == "__main__":
    main()
