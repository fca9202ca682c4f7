"""Dashboard benchmark: how fast a run page loads with 10,000 candidates.

Run: ``.venv/bin/python benchmarks/dashboard.py`` (about 2-3 minutes, most of
it writing the synthetic store); ``--candidates N`` for another size;
``--no-browser`` to skip the Chromium measurement; ``--db PATH`` keeps the
synthetic store there and reuses it on the next run.

A synthetic store is written through the store API (``Store.add_candidate``,
``add_evaluation``, ``finish_candidate``, one transaction each, as a search
writes): one large run of N candidates over N/100 generations with their
lineage, ~10 % duplicates, ~5 % rejected, ~1 % failed, two baselines, and a
small run of 100 candidates as the reference. The real dashboard then runs
(``python -m actsearch dashboard`` on a free localhost port) and both runs'
pages are timed side by side:

- server: GET /runs/ID (the page, its data embedded as JSON) and
  GET /api/runs/ID?after=LAST (a live poll with nothing new), median of 7.
- browser: in headless Chromium (plotly.js already cached), navigation to
  the run page until the first view is drawn (counts, best-so-far plot,
  leaderboard), and until the scatter holds every training (SVG points on
  small runs, WebGL above 3,000 trainings), median of 3. Both are User Timing
  marks the page sets (`actsearch:first-view`, `actsearch:points`).

Target: the big run page loads in under 1 s. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actsearch.results import EvalResult  # noqa: E402
from actsearch.store import Store  # noqa: E402

EXPRS = [
    "x*sigmoid(x)",
    "relu(x)",
    "tanh(x)",
    "x*tanh(x)",
    "max(x, 0.1*x)",
    "x*sigmoid(1.5*x)",
    "log(1 + exp(x))",
    "x + sin(x)",
    "square(relu(x))",
    "x*exp(-abs(x))",
]
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def fill(store: Store, name: str, n: int, seed: int) -> tuple[int, int]:
    """A run of `n` candidates written as a search writes them; returns (run id, trainings
    with a fitness: the points its plot must show)."""
    rng = random.Random(seed)
    run = store.create_run(
        name,
        task="mnist1d-mlp",
        space="default",
        seed=seed,
        config={"space": {"evolution": {"population": 100, "generations": n // 100, "strategy": "regularized"}}},
    )

    def result(f: float | None, status: str = "ok") -> EvalResult:
        return EvalResult(
            status=status,
            fitness=f,
            val_accuracy=f,
            val_loss=1 - (f or 0),
            train_seconds=1.0,
            epochs=10,
            steps=100,
            batch_size=64,
            worker="bench",
        )

    trainings = 0
    for expr in ("relu(x)", "x*sigmoid(x)"):
        c = store.add_candidate(
            run.id,
            expr=expr,
            fingerprint=expr,
            complexity=2,
            generation=0,
            origin="baseline",
            is_baseline=True,
            status="queued",
        )
        store.add_evaluation(c.id, task="mnist1d-mlp", seed=0, planned_epochs=10, result=result(0.6))
        store.finish_candidate(c.id, fitness=0.6, status="evaluated")
        trainings += 1
    ids: list[int] = []
    for i in range(n):
        generation = i // 100
        parents = rng.sample(ids[-100:], k=min(2, len(ids[-100:]))) if generation else []
        expr = f"{rng.choice(EXPRS)} + {i}*0.0001"
        roll = rng.random()
        status = "rejected" if roll < 0.05 else "duplicate" if roll < 0.15 else "queued"
        c = store.add_candidate(
            run.id,
            expr=expr,
            fingerprint=f"fp{i}",
            complexity=rng.randint(2, 12),
            generation=generation,
            parents=parents,
            origin="init" if not generation else "crossover",
            status=status,
            reason="constant" if status == "rejected" else None,
        )
        ids.append(c.id)
        if status == "queued":
            failed = rng.random() < 0.01
            fitness = None if failed else min(0.95, 0.3 + 0.4 * generation / max(n // 100, 1) + rng.gauss(0, 0.05))
            store.add_evaluation(
                c.id,
                task="mnist1d-mlp",
                seed=0,
                planned_epochs=10,
                result=result(fitness, "failed" if failed else "ok"),
            )
            store.finish_candidate(c.id, fitness=fitness, status="failed" if failed else "evaluated")
            trainings += not failed
    store.set_run_status(run.id, "finished")
    return run.id, trainings


def _points(store: Store, name: str) -> tuple[int, int]:
    run = store.find_run(name)
    return run.id, sum(e.fitness is not None for e in store.run_evaluations(run.id))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[float, int]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        size = len(response.read())
    return time.perf_counter() - start, size


def median_get(url: str, repeat: int = 7) -> tuple[float, int]:
    get(url)  # warm-up
    runs = [get(url) for _ in range(repeat)]
    return statistics.median(t for t, _ in runs), runs[0][1]


def browser_load(base: str, run_id: int, trainings: int, repeat: int = 3) -> tuple[float, float]:
    """Median seconds from navigation to (first view drawn, every point drawn)."""
    from playwright.sync_api import sync_playwright

    first, full = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.goto(f"{base}/")  # caches plotly.js, as a user who opened the dashboard has
        for _ in range(repeat + 1):
            page.goto(f"{base}/runs/{run_id}")
            page.wait_for_function(
                "n => { const d = document.querySelector('.plot-points');"
                " return d && d.data && d.data[0].x.length + d.data[1].x.length >= n"
                " && performance.getEntriesByName('actsearch:points').length; }",
                arg=trainings,
                timeout=60_000,
            )
            # User Timing marks set by the page, in ms since the navigation started.
            marks = page.evaluate(
                "['actsearch:first-view', 'actsearch:points'].map(n => performance.getEntriesByName(n)[0].startTime)"
            )
            first.append(marks[0] / 1000)
            full.append(marks[1] / 1000)
        browser.close()
    return statistics.median(first[1:]), statistics.median(full[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--db", type=Path, help="keep (and reuse) the synthetic store here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.db"
        start = time.perf_counter()
        with Store.open(db) as store:
            if store.find_run("big") is None:
                small = fill(store, "small", 100, seed=1)
                big = fill(store, "big", args.candidates, seed=2)
                print(
                    f"synthetic store: {args.candidates} + 100 candidates written in "
                    f"{time.perf_counter() - start:.0f} s"
                )
            else:
                small, big = (_points(store, name) for name in ("small", "big"))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "actsearch", "dashboard", "--db", str(db), "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    get(f"{base}/api/runs")
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        stderr = server.stderr.read().decode()[-2000:]
                        raise SystemExit(f"dashboard did not start: {stderr}") from None
                    time.sleep(0.2)
            rows = {}
            for label, (run_id, trainings) in (("small", small), ("big", big)):
                page, page_bytes = median_get(f"{base}/runs/{run_id}")
                poll, _ = median_get(f"{base}/api/runs/{run_id}?after=999999999")
                load = None if args.no_browser else browser_load(base, run_id, trainings)
                rows[label] = (trainings, page, page_bytes, poll, load)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        f"{'run':6} {'trainings':>9} {'GET page':>9} {'page size':>10} {'GET poll':>9} "
        f"{'browser: first view':>20} {'every point':>12}"
    )
    for label, (trainings, page, size, poll, load) in rows.items():
        first, full = ("-", "-") if load is None else (f"{load[0] * 1000:.0f} ms", f"{load[1] * 1000:.0f} ms")
        print(
            f"{label:6} {trainings:>9} {page * 1000:>6.0f} ms {size / 1e6:>7.2f} MB {poll * 1000:>6.0f} ms "
            f"{first:>20} {full:>12}"
        )
    (_, page_s, _, poll_s, load_s), (_, page_b, _, poll_b, load_b) = rows["small"], rows["big"]
    print(
        f"big / small: page {page_b / page_s:.1f}x, poll {poll_b / poll_s:.1f}x"
        + (
            ""
            if load_b is None
            else f", first view {load_b[0] / load_s[0]:.1f}x, every point {load_b[1] / load_s[1]:.1f}x"
        )
    )
    if load_b is not None:
        print(
            f"run page with {args.candidates} candidates in Chromium: first view {load_b[0]:.2f} s, "
            f"all {big[1]} points {load_b[1]:.2f} s (target < 1 s); load average {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} CPUs"
        )


if __name__ == "__main__":
    main()
