"""Longest test files first, from measured times rather than a hand-kept list.

`make test` hands whole files to two workers in collection order (xdist's loadfile,
without its reordering by test count): started first, the long files overlap with the
many short ones instead of running alone at the end. The seconds per file come from the
last run of the same lane on this machine (pytest's cache, written after every run without
a -k filter, one entry per -m expression) over `tests/file_seconds.json`, the committed
times of `make test` that a clean clone starts from.
Files measured nowhere yet go first, so that they are timed early.

    python tests/file_order.py     # rewrite tests/file_seconds.json from `make test`'s cached times
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

COMMITTED = Path(__file__).with_name("file_seconds.json")
CACHE_KEY = "actsearch/file_seconds"


def cache_key(config: pytest.Config) -> str:
    """One entry per lane: `make test` (-m "not long") and `make test-long` time files apart."""
    lane = "".join(c if c.isalnum() else "_" for c in (config.option.markexpr or "all"))
    return f"{CACHE_KEY}.{lane}"


def file_seconds(config: pytest.Config | None = None) -> dict[str, float]:
    """Seconds per test file: the cache's latest over the committed figures."""
    seconds: dict[str, float] = json.loads(COMMITTED.read_text()) if COMMITTED.exists() else {}
    cache = getattr(config, "cache", None)  # none under -p no:cacheprovider
    if cache is not None:
        seconds.update(cache.get(cache_key(config), {}))
    return seconds


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seconds = file_seconds(config)
    unmeasured = float("inf")
    items.sort(key=lambda item: -seconds.get(item.path.name, unmeasured))


class _Recorder:
    """Adds up each file's setup, call and teardown times, on the controller only."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[Path(report.nodeid.split("::")[0]).name] += report.duration

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        config = session.config
        cache = getattr(config, "cache", None)
        if not config.option.keyword and exitstatus in (0, 1) and self.seconds and cache is not None:
            known = cache.get(cache_key(config), {})
            known.update({name: round(s, 1) for name, s in self.seconds.items()})
            cache.set(cache_key(config), known)


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # not inside an xdist worker
        config.pluginmanager.register(_Recorder(), "actsearch-file-times")


if __name__ == "__main__":
    import sys

    cached = Path(__file__).resolve().parents[1] / ".pytest_cache" / "v" / f"{CACHE_KEY}.not_long"
    if not cached.exists():
        sys.exit(f"no file times in pytest's cache yet ({cached}): run `make test` first")
    ordered = dict(sorted({**file_seconds(), **json.loads(cached.read_text())}.items(), key=lambda kv: -kv[1]))
    COMMITTED.write_text(json.dumps(ordered, indent=1) + "\n")
    print(f"wrote {len(ordered)} files' seconds to {COMMITTED}")
