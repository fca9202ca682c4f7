"""Reports from the store: one figure a person can read after a search.

Left: the fitness of every trained candidate by generation, the best so far,
and the baselines as horizontal lines. Right: the shapes of the best
activations next to the baselines, from their numpy forms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from actsearch.expr import Activation
from actsearch.store import Store

TOP_SHAPES = 5


def plot_run(store: Store, run_name: str, path: Path) -> Path:
    """Write the run's figure to `path` (PNG, SVG or PDF by suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = store.find_run(run_name)
    if run is None:
        raise ValueError(f"no run named {run_name!r}")
    candidates = [c for c in store.candidates(run.id) if c.status == "evaluated" and c.fitness is not None]
    evolved = [c for c in candidates if not c.is_baseline]
    baselines = [c for c in candidates if c.is_baseline]

    fig, (progress, shapes) = plt.subplots(1, 2, figsize=(12, 4.5))
    several = len(run.tasks) > 1  # a run on several tasks: fitness relative to the best baselines
    _plot_progress(progress, evolved, baselines, "mean over tasks of fitness - best baseline" if several else None)
    best = store.leaderboard(run=run_name, k=None)
    _plot_shapes(shapes, [r.expr for r in best if not r.is_baseline][:TOP_SHAPES], [c.expr for c in baselines])
    fig.suptitle(f"actsearch run {run_name} ({run.task})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _plot_progress(ax, evolved: list, baselines: list, ylabel: str | None = None) -> None:
    if evolved:
        generations = np.array([c.generation for c in evolved])
        fitness = np.array([c.fitness for c in evolved])
        ax.scatter(generations, fitness, s=14, alpha=0.6, label="candidates")
        best_by_gen = [fitness[generations <= g].max() for g in sorted(set(generations))]
        ax.step(sorted(set(generations)), best_by_gen, where="post", color="black", label="best so far")
    for index, baseline in enumerate(baselines):
        ax.axhline(baseline.fitness, linestyle="--", color=f"C{index + 1}", label=f"{baseline.expr} (baseline)")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation")
    ax.set_ylabel(ylabel or "fitness (validation)")
    ax.legend(fontsize=7, loc="lower right")


def _plot_shapes(ax, best: list[str], baselines: list[str]) -> None:
    x = np.linspace(-4, 4, 401)
    for expr in best:
        ax.plot(x, Activation.parse(expr).numpy(x), label=expr[:40])
    for expr in baselines:
        ax.plot(x, Activation.parse(expr).numpy(x), linestyle=":", color="grey", linewidth=1)
    ax.set_ylim(-3, 4)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.axvline(0, color="black", linewidth=0.5)
    ax.set_title("best activations (dotted: baselines)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
