"""Ground truth: how much of each teacher's gap a search closes, per strategy at equal trainings.

Run: ``python benchmarks/ground_truth.py --size full`` (the second part of ``make
bench-search``) or ``--size smoke`` (minutes, to check the script).

The teacher family (actsearch.tasks.teachers) holds known-answer tasks whose
teacher activations were drawn from the default space; each teacher's own
activation fits its task far better than any baseline. For each teacher, each
strategy and each search seed, one search of the default space spends the same
trainings. Each run's pick (its leaderboard's best evolved activation) is then
trained again with fresh seeds on the test split, beside the teacher's own
activation and the baselines, all batched, and scored the robust way
(`actsearch.train.teachers`: the median MSE over the seeds). Printed, per strategy:

- the share of the gap between the best baseline and the teacher that the picks close
  (1: the teacher's score, 0: the best baseline's; below -1 counts as -1 in the mean,
  so one collapsed pick does not decide it), mean over teachers per search seed, then
  mean and 95% interval over the search seeds; and its median over every search;
- the fraction of teachers solved (at least `SOLVED` of the gap closed), the same way;
- against random search: Welch's p over the search seeds' means, and a paired t-test
  over the teachers (each teacher's mean over seeds);
- sample efficiency: the share of searches that reach random search's final best search
  fitness (same teacher, same seed) within half the trainings, and the median share of
  the budget they need;
- the surrogate's Spearman rho between prediction and trained fitness, per run (median).

With rungs, a training stopped at a rung counts as the share of its epochs it ran, so
"equal trainings" means equal training-equivalents (the searches' budgets are equal).

Searches run in-process (no Ray), `--jobs` of them at once, each training up to
8 candidates in one batched program. Interrupted, it continues where it stopped when
run again with the same --out: finished searches are read back, unfinished ones
resumed, and the re-trainings are cached in results.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

from actsearch.spaces import load_space, with_overrides
from actsearch.stats import mean_interval, spearman, welch

SIZES: dict[str, dict[str, Any]] = {
    "smoke": {"teachers": 2, "seeds": 2, "trainings": 12, "robust_seeds": 2, "reevaluate_top": 1},
    "full": {"teachers": 10, "seeds": 5, "trainings": 64, "robust_seeds": 5, "reevaluate_top": 3},
}
#: strategy name -> the default space's sections it changes
STRATEGIES: dict[str, dict[str, Any]] = {
    "random": {"evolution": {"strategy": "random"}},
    "random+surrogate": {"evolution": {"strategy": "random"}, "surrogate": {"enabled": True}},
    "random+surrogate-pool50": {"evolution": {"strategy": "random"}, "surrogate": {"enabled": True, "pool": 50}},
    "random+surrogate+rungs": {
        "evolution": {"strategy": "random"},
        "surrogate": {"enabled": True},
        "budget": {"rungs": {"epochs": [5, 15], "keep": 0.25}},
    },
    "regularized+surrogate": {
        "evolution": {"strategy": "regularized", "crossover_prob": 0.0},
        "surrogate": {"enabled": True},
    },
    "regularized": {"evolution": {"strategy": "regularized", "crossover_prob": 0.0}},
    "regularized+lamarckian": {"evolution": {"strategy": "regularized", "crossover_prob": 0.0, "lamarckian": True}},
}
#: what `make bench-search` compares (the other variants are measured with --strategies)
DEFAULT_STRATEGIES = ["random", "random+surrogate", "regularized+surrogate"]
SEARCH_SEEDS = 301  # the first search seed (default of --first-seed): seeds no earlier experiment used
ROBUST_SEEDS = 9001  # the first seed of the re-trainings of the picks on the test split
BATCH_CANDIDATES = 8
CLIP = -1.0  # a gap closed below this counts as this in the means


def space_file(out: Path, size: dict[str, Any], strategy: str) -> Path:
    changes = {"surrogate": {"enabled": False}, **{key: dict(value) for key, value in STRATEGIES[strategy].items()}}
    changes.setdefault("evolution", {})
    changes["budget"] = {
        "rungs": None,  # the surrogate and rungs are off unless a strategy names them
        **changes.get("budget", {}),
        "trainings": size["trainings"],
        "reevaluate_top": size["reevaluate_top"],
        "reevaluate_seeds": 1,
    }
    space = with_overrides(load_space("default"), **changes)
    path = out / f"space-{strategy.replace('+', '-')}.yaml"
    path.write_text(yaml.safe_dump(space.model_dump(mode="json")))
    return path


def run_one(space: str, db: str, task: str, strategy: str, seed: int) -> dict[str, Any]:
    """One search, in-process; a finished run is read back, an unfinished one resumed."""
    from actsearch.search import SearchRequest, run_search
    from actsearch.store import Store

    name = f"{task}-{strategy}-{seed}"
    with Store.open(db) as store:
        record = store.find_run(name)
    started = time.monotonic()
    if record is None or record.status != "finished":
        request = SearchRequest(
            space=space,
            task=task,
            db=db,
            run=name,
            seed=seed,
            executor="local",
            batch_candidates=BATCH_CANDIDATES,
            resume=record is not None,
        )
        run_search(request)
    return {
        **read_run(db, name),
        "task": task,
        "strategy": strategy,
        "seed": seed,
        "seconds": time.monotonic() - started,
    }


def read_run(db: str, name: str) -> dict[str, Any]:
    """A finished run's pick, its curve of best search fitness and the surrogate's rho."""
    from actsearch.store import Store

    with Store.open(db) as store:
        record = store.find_run(name)
        best = next((r for r in store.leaderboard(run=name, k=None) if not r.is_baseline), None)
        candidates = store.candidates(record.id)
        evaluations = store.run_evaluations(record.id)
    baselines = {c.id for c in candidates if c.is_baseline}
    curve, top = [], -math.inf
    for e in evaluations:  # the search's own trainings, in order (not the re-check's seeds)
        if e.candidate_id in baselines or e.seed != record.seed:
            continue
        if e.fitness is not None:
            top = max(top, e.fitness)
        curve.append(top)
    predicted = [(c.predicted, c.fitness) for c in candidates if c.predicted is not None and c.fitness is not None]
    rho = spearman([p for p, _ in predicted], [f for _, f in predicted]) if predicted else None
    learned = next((c.learned for c in candidates if best and c.id == best.candidate_id), None)
    pick = best.expr if best else None
    return {"run": name, "pick": _learned_pick(learned) or pick, "proposed_pick": pick, "curve": curve, "rho": rho}


def _learned_pick(learned: str | None) -> str | None:
    """A Lamarckian pick is its tree with the constants it learned, standardised as it trained."""
    from actsearch.expr import Activation
    from actsearch.expr.normalize import standardise

    if learned is None:
        return None
    found = standardise(Activation.parse(learned))
    return None if found is None else str(found.activation)


def rescore(rows: list[dict[str, Any]], size: dict[str, Any], cache: dict[str, Any]) -> None:
    """Each teacher's picks, its own activation and the baselines, trained with fresh seeds on
    the test split in one batched program per teacher; each pick's gap closed."""
    from actsearch.tasks.teachers import FAMILY
    from actsearch.train.teachers import score_teacher

    seeds = [ROBUST_SEEDS + i for i in range(size["robust_seeds"])]
    for task in dict.fromkeys(r["task"] for r in rows):
        mine = [r for r in rows if r["task"] == task and r["pick"]]
        picks = sorted({r["pick"] for r in mine})
        key = json.dumps([task, seeds, picks])
        if key not in cache:
            teacher = FAMILY[task]
            scores = score_teacher(teacher.task(), teacher.expr, seeds, "test", extra=picks)
            cache[key] = {
                "teacher": scores.teacher,
                "best_baseline": scores.best_baseline,
                "picks": {p: scores.score(p) for p in picks},
                "gaps": {p: scores.gap_closed(scores.score(p)) for p in picks},
            }
        entry = cache[key]
        for r in mine:
            r["test_mse"] = entry["picks"][r["pick"]]
            r["gap"] = entry["gaps"][r["pick"]]
            r["teacher_mse"], r["best_baseline"] = entry["teacher"], entry["best_baseline"]


def summarise(rows: list[dict[str, Any]], solved_at: float) -> dict[str, Any]:
    from scipy.stats import ttest_rel

    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    summary: dict[str, Any] = {}
    per_teacher: dict[str, dict[str, float]] = {}
    for strategy in strategies:
        mine = [r for r in rows if r["strategy"] == strategy and r.get("gap") is not None]
        seeds = sorted({r["seed"] for r in mine})
        by_seed = [[max(CLIP, r["gap"]) for r in mine if r["seed"] == s] for s in seeds]
        seed_means = [statistics.fmean(g) for g in by_seed]
        solved = [statistics.fmean(g >= solved_at for g in gaps) for gaps in by_seed]
        teachers = sorted({r["task"] for r in mine})
        per_teacher[strategy] = {
            t: statistics.fmean(max(CLIP, r["gap"]) for r in mine if r["task"] == t) for t in teachers
        }
        rhos = [r["rho"] for r in rows if r["strategy"] == strategy and r.get("rho") is not None]
        summary[strategy] = {
            "gap_mean": mean_interval(seed_means),
            "gap_median": statistics.median(r["gap"] for r in mine),
            "solved": mean_interval(solved),
            "seed_means": seed_means,
            "rho_median": statistics.median(rhos) if rhos else None,
            "efficiency": efficiency(rows, strategy),
        }
    if "random" in summary:
        for strategy in strategies:
            if strategy == "random":
                continue
            entry = summary[strategy]
            entry["welch_p"] = welch(entry["seed_means"], summary["random"]["seed_means"]).p
            common = sorted(set(per_teacher[strategy]) & set(per_teacher["random"]))
            if len(common) > 1:
                test = ttest_rel([per_teacher[strategy][t] for t in common], [per_teacher["random"][t] for t in common])
                entry["paired_p"] = float(test.pvalue)
    return summary


def efficiency(rows: list[dict[str, Any]], strategy: str) -> dict[str, Any]:
    """Against random search with the same teacher and seed: whether this strategy's best search
    fitness reaches random's final best, and after what share of the budget."""
    random_runs = {(r["task"], r["seed"]): r for r in rows if r["strategy"] == "random"}
    shares: list[float] = []
    for r in rows:
        other = random_runs.get((r["task"], r["seed"]))
        if r["strategy"] != strategy or other is None or not other["curve"] or not r["curve"]:
            continue
        target = other["curve"][-1]
        reached = next((i + 1 for i, best in enumerate(r["curve"]) if best >= target), None)
        shares.append(math.inf if reached is None else reached / len(other["curve"]))
    if not shares:
        return {}
    return {
        "searches": len(shares),
        "within_half": statistics.fmean(s <= 0.5 for s in shares),
        "median_share": statistics.median(shares),
    }


def print_table(summary: dict[str, Any], size: dict[str, Any], teachers: int) -> None:
    print(
        f"\nground truth: {teachers} teachers, {size['seeds']} search seeds, {size['trainings']} trainings a search;"
        f" picks re-trained with {size['robust_seeds']} fresh seeds on the test split, median MSE"
    )
    header = (
        "strategy",
        "gap closed (mean, 95% CI)",
        "median",
        "solved (95% CI)",
        "vs random p (Welch/paired)",
        "reach random's best in <= half",
        "median budget share",
        "surrogate rho",
    )
    print(" | ".join(header))
    for strategy, s in summary.items():
        mean, half = s["gap_mean"]
        solved, solved_half = s["solved"]
        eff = s["efficiency"]
        p = f"{_fmt(s.get('welch_p'))}/{_fmt(s.get('paired_p'))}" if "welch_p" in s else "-"
        print(
            " | ".join(
                [
                    strategy,
                    f"{mean:+.2f} ± {_fmt(half)}",
                    f"{s['gap_median']:+.2f}",
                    f"{solved:.0%} ± {_fmt(solved_half, pct=True)}",
                    p,
                    f"{eff['within_half']:.0%}" if eff else "-",
                    f"{eff['median_share']:.2f}" if eff else "-",
                    _fmt(s["rho_median"]),
                ]
            )
        )


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.0%}" if pct else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=list(SIZES), default="full")
    parser.add_argument("--out", default="runs/bench-ground-truth")
    parser.add_argument("--strategies", nargs="+", default=DEFAULT_STRATEGIES, choices=list(STRATEGIES))
    parser.add_argument("--teachers", type=int, default=None, help="only the first N teachers")
    parser.add_argument("--jobs", type=int, default=2, help="searches at once (one core each)")
    parser.add_argument(
        "--first-seed", type=int, default=SEARCH_SEEDS, help="search seeds first-seed, first-seed + 1, ..."
    )
    args = parser.parse_args()

    from actsearch.tasks.teachers import FAMILY, SOLVED

    size = dict(SIZES[args.size])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    db = str(out / "ground_truth.db")
    count = args.teachers or size["teachers"] or len(FAMILY)
    teachers = list(FAMILY)[:count]
    spaces = {s: str(space_file(out, size, s)) for s in args.strategies}
    jobs = [
        (spaces[s], db, t, s, args.first_seed + i)
        for t in teachers
        for s in args.strategies
        for i in range(size["seeds"])
    ]
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
        rows = list(pool.map(_run_job, jobs))
    print(f"{len(rows)} searches in {time.monotonic() - started:.0f} s")
    results_path = out / "results.json"
    cache = json.loads(results_path.read_text()).get("rescore_cache", {}) if results_path.exists() else {}
    rescore(rows, size, cache)
    summary = summarise(rows, SOLVED)
    results_path.write_text(
        json.dumps({"size": args.size, "rows": rows, "summary": summary, "rescore_cache": cache}, indent=1, default=str)
    )
    print_table(summary, size, len(teachers))
    print(f"\nwrote {results_path}")


def _run_job(job: tuple[str, str, str, str, int]) -> dict[str, Any]:
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notes, one per batch
    return run_one(*job)


if __name__ == "__main__":
    main()
