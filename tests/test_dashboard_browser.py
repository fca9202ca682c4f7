"""The dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright).

A real tiny search (in-process executor) fills a real SQLite file; the real
`actsearch dashboard` serves it on a free localhost port. Screenshots go to
$ACTSEARCH_SCREENSHOTS when set (the README's docs/dashboard-*.png), else to
the test's temporary directory.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from support import ROOT, TINY_SPACE, run_cli

from actsearch.store import Store

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
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
EVIL = "<script>alert(1)</script>"
WAIT_MS = 30_000
POINTS_JS = (
    "() => { const d = document.querySelector('.plot-points');"
    " return d && d.data ? d.data[0].x.length + d.data[1].x.length : -1; }"
)


def _search(db: Path, run: str, workdir: Path, generations: int = 2) -> list[str]:
    return [
        sys.executable,
        "-m",
        "actsearch",
        "search",
        "--space",
        str(TINY_SPACE),
        "--db",
        str(db),
        "--run",
        run,
        "--seed",
        "1",
        "--executor",
        "local",
        "--generations",
        str(generations),
        "--no-export",
    ]


@pytest.fixture(scope="module")
def store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store filled by a real search whose run is named like an XSS attempt."""
    workdir = tmp_path_factory.mktemp("dashboard")
    db = workdir / "results.db"
    proc = subprocess.run(
        _search(db, EVIL, workdir),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return db


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(store_file: Path):
    """`actsearch dashboard` on 127.0.0.1 and a free port; yields its base URL."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "actsearch", "dashboard", "--db", str(store_file), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/runs", timeout=5).read()
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the dashboard did not answer within 60 s"
            time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "install Debian's chromium (apt-get install chromium; .ci/run does)"
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield instance
        instance.close()


class Watched:
    """A page whose console errors, uncaught exceptions and dialogs are recorded."""

    def __init__(self, browser, **context) -> None:
        self.context = browser.new_context(viewport={"width": 1360, "height": 900}, **context)
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def close(self) -> None:
        self.context.close()


def _shot(page, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("ACTSEARCH_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"dashboard-{name}.png"), full_page=True)
    assert (folder / f"dashboard-{name}.png").stat().st_size > 10_000


def _final_points(db: Path, run_name: str) -> int:
    """Trainings with a fitness: the points the run page must plot."""
    store = Store.open(db, read_only=True)
    try:
        run = store.find_run(run_name)
        return sum(e.fitness is not None for e in store.run_evaluations(run.id))
    finally:
        store.close()


def test_runs_run_candidate_and_compare_pages(browser, server, store_file, tmp_path):
    w = Watched(browser)
    page = w.page
    page.goto(server)
    cell = page.locator(".runs-table tbody tr td").first
    assert cell.inner_text() == EVIL  # shown as text, never run
    cell.locator("a").click()
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    assert page.locator("h1 .run-name").inner_text() == EVIL
    expected = _final_points(store_file, EVIL)
    page.wait_for_function(f"n => ({POINTS_JS})() === n", arg=expected)
    assert page.locator(".plot-points .scatterlayer .point").count() == expected
    best = page.evaluate("document.querySelector('.plot-best').data.map(t => t.x.length)")
    assert best[0] >= 2 and best[1] == 2  # best-so-far steps, and the best baseline's line
    rows = page.locator(".leaderboard tbody tr")
    assert rows.count() >= 3
    assert "trained" in page.locator(".cards").inner_text()

    rows.nth(0).locator("input.pick").check()
    rows.nth(1).locator("input.pick").check()
    first_id = rows.nth(0).locator("td").nth(2).inner_text()
    page.locator(".compare-selected").click()
    page.wait_for_url(re.compile(r"/compare\?ids="))
    page.wait_for_selector(".plot-curves .scatterlayer")
    curves = page.evaluate("document.querySelector('.plot-curves').data.map(t => [t.name, t.x.length])")
    assert [n for n, _ in curves][:4] == ["relu", "Swish", "GELU", "tanh"] and len(curves) == 6
    assert all(length == 201 for _, length in curves)
    assert page.locator(".compare-table tbody tr").count() == 2

    page.goto(server)
    page.locator(".runs-table a").first.click()
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    page.locator(f".leaderboard tbody tr a:text-is('{first_id}')").click()
    page.wait_for_url(re.compile(rf"/candidates/{first_id}$"))
    page.wait_for_selector(".plot-derivative .scatterlayer")
    traces = page.evaluate("document.querySelector('.plot-curve').data.map(t => t.name)")
    assert traces == ["relu", "Swish", "GELU", "tanh", f"#{first_id}"]
    assert page.evaluate("document.querySelector('.plot-derivative').data[4].y.filter(v => v !== null).length") > 100
    assert page.locator("pre.export").inner_text().startswith("actsearch export --expr ")
    assert page.locator(".evaluations tbody tr").count() >= 1
    assert w.errors == [] and w.dialogs == []
    w.close()


def test_unknown_ids_show_a_not_found_page(browser, server):
    w = Watched(browser)
    for path, what in (
        ("/runs/999999", "no run with id 999999"),
        ("/candidates/999999", "no candidate with id 999999"),
    ):
        response = w.page.goto(server + path)
        assert response.status == 404
        assert what in w.page.locator(".notfound").inner_text()
    w.close()


def test_search_and_dashboard_on_one_file_results_appear_live(browser, server, store_file, tmp_path):
    """A search writes while the dashboard reads the same SQLite file: the search
    finishes with every result stored, and the open page shows them without a reload."""
    w = Watched(browser)
    page = w.page
    page.goto(server)
    proc = subprocess.Popen(
        _search(store_file, "live-1", tmp_path, generations=5),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        link = page.locator(".runs-table a", has_text="live-1")
        link.wait_for(timeout=180_000)  # the runs table updates itself
        link.click()
        page.wait_for_url(re.compile(r"/runs/\d+$"))
        page.evaluate("window.__notReloaded = true")
        at_load = page.evaluate(POINTS_JS)
        page.wait_for_function(f"n => ({POINTS_JS})() > n", arg=at_load, timeout=300_000)
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stdout[-2000:] + stderr[-2000:]
    trained = int(re.search(r"(\d+) trainings in all", stdout).group(1))
    store = Store.open(store_file, read_only=True)
    try:
        run = store.find_run("live-1")
        assert run.status == "finished"
        assert len(store.run_evaluations(run.id)) == trained
        assert {c.status for c in store.candidates(run.id)} <= {"evaluated", "duplicate", "rejected", "failed"}
    finally:
        store.close()
    expected = _final_points(store_file, "live-1")
    page.wait_for_function(f"n => ({POINTS_JS})() === n", arg=expected)
    page.wait_for_function("() => document.querySelector('h1 .badge').textContent === 'finished'")
    assert page.evaluate("window.__notReloaded === true")
    assert w.errors == [] and w.dialogs == []
    _shot(page, "run", tmp_path)
    best = page.locator(".leaderboard tbody tr").filter(has_not=page.locator(".badge.baseline")).first
    ids = [best.locator("td").nth(2).inner_text()]
    best.locator("a").click()
    page.wait_for_selector(".plot-derivative .scatterlayer")
    _shot(page, "candidate", tmp_path)
    page.goto(server)
    page.wait_for_selector(".runs-table tbody tr:nth-child(2)")
    _shot(page, "runs", tmp_path)
    others = page.evaluate(
        "fetch('/api/runs/' + document.querySelector('.runs-table tbody tr a')"
        ".getAttribute('href').split('/').pop()).then(r => r.json())"
        ".then(d => d.leaderboard.filter(r => !r.is_baseline).map(r => r.candidate_id))"
    )
    page.goto(f"{server}/compare?ids={','.join(ids + [str(i) for i in others[1:3]])}")
    page.wait_for_selector(".plot-curves .scatterlayer")
    _shot(page, "compare", tmp_path)
    assert w.errors == []
    w.close()


def test_html_report_opens_offline(browser, store_file, tmp_path):
    out = tmp_path / "report.html"
    proc = run_cli("report", "--html", "-o", str(out), "--db", str(store_file), timeout=300)
    assert proc.returncode == 0, proc.stderr
    w = Watched(browser, offline=True)
    requests: list[str] = []
    w.page.on("request", lambda r: requests.append(r.url))
    w.page.goto(out.as_uri())
    assert w.page.locator("#runs .runs-table tbody tr td").first.inner_text() == EVIL
    run_link = w.page.locator("#runs .runs-table a").first
    run_link.click()
    # the page switches sections on the hash change, after the click returns: wait for it
    w.page.wait_for_selector('section.view[id^="run-"]:not([hidden])')
    section = w.page.locator("section.view:not([hidden])")
    assert re.fullmatch(r"run-\d+", section.get_attribute("id"))
    run_name = section.locator(".run-name").inner_text()
    w.page.wait_for_function(
        "n => { const d = document.querySelector('section.view:not([hidden]) .plot-points');"
        " return d && d.data && d.data[0].x.length + d.data[1].x.length === n; }",
        arg=_final_points(store_file, run_name),
    )
    section.locator(".leaderboard tbody tr a").first.click()
    w.page.wait_for_selector('section.view[id^="candidate-"]:not([hidden])')
    candidate = w.page.locator("section.view:not([hidden])")
    assert re.fullmatch(r"candidate-\d+", candidate.get_attribute("id"))
    w.page.wait_for_function("() => document.querySelector('section.view:not([hidden]) .plot-curve').data.length === 5")
    w.page.goto(out.as_uri() + "#compare")
    w.page.wait_for_selector("#compare .plot-curves .scatterlayer")
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert w.errors == [] and w.dialogs == []
    _shot(w.page, "report", tmp_path)
    w.close()
