"""The search: the loop (`loop.py`), its resume replay (`replay.py`) and the
wiring from a request to a run (`runner.py`)."""

from actsearch.search.loop import Observer, Reporter, Search, SearchError, SearchSummary, SilentReporter
from actsearch.search.runner import LEADERBOARD_SIZE, SearchOutcome, SearchRequest, run_search, settings_for
from actsearch.spaces import SearchSettings

__all__ = [
    "LEADERBOARD_SIZE",
    "Observer",
    "Reporter",
    "Search",
    "SearchError",
    "SearchOutcome",
    "SearchRequest",
    "SearchSettings",
    "SearchSummary",
    "SilentReporter",
    "run_search",
    "settings_for",
]
