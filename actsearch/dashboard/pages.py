"""Rendering views to HTML with Jinja2 (autoescaped): one template per view.

`live` pages load plotly.js from the server and poll a JSON endpoint; the
report inlines plotly.js, the styles and the script, and stacks every view in
one file that needs no network.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

STATIC = Path(__file__).resolve().parent / "static"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("actsearch.dashboard", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["json_script"] = json_script
    return env


def json_script(data: Any) -> Markup:
    """JSON safe inside a <script type="application/json"> element."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def plotly_js_path() -> Path:
    """plotly.min.js as shipped in the installed `plotly` package (no CDN)."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


@lru_cache(maxsize=1)
def _inline_assets() -> dict[str, Markup]:
    plotly = plotly_js_path().read_text(encoding="utf-8").replace("</script", "<\\/script")
    return {
        "plotly": Markup(plotly),
        "script": Markup((STATIC / "dashboard.js").read_text(encoding="utf-8")),
        "style": Markup((STATIC / "dashboard.css").read_text(encoding="utf-8")),
    }


def render(template: str, *, live: bool, title: str, **context: Any) -> str:
    """A full page: `template` is one view (or the report's stack of views)."""
    assets = {} if live else _inline_assets()
    return environment().get_template(template).render(live=live, title=title, assets=assets, **context)
