"""`actsearch report --html`: the dashboard's views in one self-contained HTML file.

plotly.js, the styles, the script and every view's data are inlined, so the
file opens offline in any browser; links between views are in-page anchors.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from actsearch.dashboard import pages, views
from actsearch.store import Store

CANDIDATES_PER_RUN = 10
COMPARED_PER_RUN = 3


def write_html_report(store: Store, path: Path, run_name: str | None = None) -> Path:
    """Write the runs table, each run (or only `run_name`), its best candidates and a
    comparison of the best ones to `path`. ValueError for an unknown run name."""
    runs = views.runs_view(store)
    chosen = [r for r in runs["runs"] if run_name is None or r["name"] == run_name]
    if run_name is not None and not chosen:
        raise ValueError(f"no run named {run_name!r} in {store.where}")
    run_views = [views.run_view(store, r["id"]) for r in chosen]
    candidate_ids: list[int] = []
    compared: list[tuple[int, str]] = []  # the best of each run, one per expression
    for view in run_views:
        ranked = [row["candidate_id"] for row in view["leaderboard"]]
        candidate_ids += ranked[:CANDIDATES_PER_RUN]
        shown = {expr for _, expr in compared}
        compared += [
            (row["candidate_id"], row["expr"])
            for row in view["leaderboard"]
            if not row["is_baseline"] and row["expr"] not in shown
        ][:COMPARED_PER_RUN]
    html = pages.render(
        "report.html",
        live=False,
        title="actsearch report",
        where=store.where,
        generated=f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        report_runs=[{"id": r["id"], "name": r["name"]} for r in chosen],
        runs_data={**runs, "runs": chosen},
        run_views=run_views,
        candidate_views=[views.candidate_view(store, cid) for cid in dict.fromkeys(candidate_ids)],
        compare_data=views.compare_view(store, [cid for cid, _ in compared]),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
