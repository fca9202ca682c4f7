"""The live dashboard: a Starlette app serving the views of one read-only store.

Pages are server-rendered shells holding their data as JSON; the page script
draws them with Plotly and polls the matching `/api/...` endpoint every two
seconds, so results written by a running search appear without a reload.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ExceptionHandler

from actsearch.dashboard import pages, views
from actsearch.store import NotFoundError, Store


def create_app(store: Store) -> Starlette:
    """The ASGI app; open `store` with `Store.open(db, read_only=True)` so the page can never write."""

    def page(template: str, title: str, data: dict, poll: str) -> HTMLResponse:
        return HTMLResponse(pages.render(template, live=True, title=title, data=data, poll=poll, where=store.where))

    def runs_page(request: Request) -> Response:
        return page("runs.html", "Runs", views.runs_view(store), "/api/runs")

    def run_page(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        data = _found(lambda: views.run_view(store, run_id))
        return page("run.html", f"Run {data['run']['name']}", data, f"/api/runs/{run_id}")

    def candidate_page(request: Request) -> Response:
        cid = request.path_params["candidate_id"]
        data = _found(lambda: views.candidate_view(store, cid))
        return page("candidate.html", f"Candidate {cid}", data, f"/api/candidates/{cid}")

    def compare_page(request: Request) -> Response:
        text = request.query_params.get("ids", "")
        data = _found(lambda: views.compare_view(store, views.parse_ids(text)))
        return page("compare.html", "Compare", {**data, "ids": text}, "")

    def runs_api(request: Request) -> Response:
        return JSONResponse(views.runs_view(store))

    def run_api(request: Request) -> Response:
        after = _int(request.query_params.get("after"))
        return JSONResponse(_found(lambda: views.run_view(store, request.path_params["run_id"], after)))

    def candidate_api(request: Request) -> Response:
        return JSONResponse(_found(lambda: views.candidate_view(store, request.path_params["candidate_id"])))

    def plotly_js(request: Request) -> Response:
        return FileResponse(
            pages.plotly_js_path(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
        )

    async def not_found(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        html = pages.render("notfound.html", live=True, title="Not found", message=exc.detail, where=store.where)
        return HTMLResponse(html, status_code=exc.status_code)

    routes = [
        Route("/", runs_page),
        Route("/runs/{run_id:int}", run_page),
        Route("/candidates/{candidate_id:int}", candidate_page),
        Route("/compare", compare_page),
        Route("/api/runs", runs_api),
        Route("/api/runs/{run_id:int}", run_api),
        Route("/api/candidates/{candidate_id:int}", candidate_api),
        Route("/static/plotly.min.js", plotly_js),
        Mount("/static", StaticFiles(directory=pages.STATIC), name="static"),
    ]
    # Starlette types every handler for a bare Exception; this one is registered for HTTPException only.
    return Starlette(routes=routes, exception_handlers={HTTPException: cast(ExceptionHandler, not_found)})


T = TypeVar("T")


def _found(build: Callable[[], T]) -> T:
    """Run a view builder; an unknown run or candidate id becomes a 404."""
    try:
        return build()
    except NotFoundError as err:
        raise HTTPException(404, detail=str(err)) from err


def _int(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 0


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def exposure_warning(host: str) -> str | None:
    """What to tell a user who serves the page beyond this machine (None on loopback)."""
    if host in LOOPBACK:
        return None
    return (
        f"listening on {host}: the dashboard has no authentication; anyone who can reach "
        "this port can read every result in the store"
    )


def serve(store: Store, host: str, port: int) -> None:
    """Serve until interrupted (uvicorn, one process)."""
    import uvicorn

    uvicorn.run(create_app(store), host=host, port=port, log_level="warning")
