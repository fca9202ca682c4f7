"""Two writer processes on one database (a fresh SQLite file: they also race to
create the schema) both finish, with every row present and no lock errors."""

from __future__ import annotations

import subprocess
import sys
import time

from support import REPO

N = 300
WRITER = r"""
import sys, time
from actsearch.results import EvalResult, Partial
from actsearch.store import Store

url, name, n, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
time.sleep(max(0.0, start - time.time()))
store = Store.open(url)  # both processes may create the schema at the same moment
run = store.create_run(name, task="mnist1d", space="s", seed=0, config={"writer": name})
prev = None
first_with = {}  # fingerprint -> first candidate (the search keeps this in memory too)
for i in range(n):
    fp = f"{name}-{i % (n // 2)}"  # every fingerprint twice: the second is a duplicate
    first = first_with.get(fp)
    if first is not None:
        store.add_candidate(run.id, expr=f"x+{i}", fingerprint=fp, complexity=3, generation=i,
                            parents=[prev.id], origin="mutation:point", status="duplicate",
                            equivalent_to=first.id)
        continue
    c = store.add_candidate(run.id, expr=f"x*{i}", fingerprint=fp, complexity=3, generation=i,
                            parents=[] if prev is None else [prev.id],
                            origin="init" if prev is None else "mutation:point", status="queued")
    first_with[fp] = c
    store.finish_candidate(c.id, fitness=None, status="running")
    res = EvalResult(status="ok", fitness=i / n, val_accuracy=i / n, val_loss=1.0,
                     train_seconds=0.1, epochs=2, steps=10, batch_size=8, worker=name,
                     partials=(Partial(1, i / n / 2, 2.0),))
    store.add_evaluation(c.id, task="mnist1d", seed=0, planned_epochs=2, result=res)
    store.finish_candidate(c.id, fitness=i / n, status="evaluated")
    prev = c
store.set_run_status(run.id, "finished")
store.close()
print("done", name)
"""


def test_two_writer_processes(db):
    start = time.time() + 1.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, db.url, f"w{i}", str(N), str(start)],
            cwd=REPO,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
        assert "locked" not in err and out.strip().startswith("done")

    store = db.open()
    runs = {r.name: r for r in store.runs()}
    assert set(runs) == {"w0", "w1"}
    for summary in runs.values():
        assert summary.status == "finished"
        assert summary.candidates == N and summary.evaluations == N // 2
        counts = store.counts(summary.id)
        assert counts["evaluated"] == N // 2 and counts["duplicate"] == N // 2
        cands = store.candidates(summary.id)
        evaluated = [c for c in cands if c.status == "evaluated"]
        assert len({c.fingerprint for c in evaluated}) == N // 2
        assert all(c.fitness is not None for c in evaluated)
        dups = [c for c in cands if c.status == "duplicate"]
        by_id = {c.id: c for c in cands}
        assert all(by_id[d.equivalent_to].fingerprint == d.fingerprint for d in dups)
        assert len(store.run_evaluations(summary.id, partials=True)) == N  # final + partial
        assert len(store.lineage(evaluated[-1].id)) == N // 2 - 1
