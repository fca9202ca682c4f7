"""The dashboard: a live, read-only web view of the store, and the same views as
one offline HTML report.

    actsearch dashboard [--db URL] [--host 127.0.0.1] [--port 8080]
    actsearch report --html -o FILE.html [--run NAME]

The store is opened with `Store.open(db, read_only=True)` and read through it
and `actsearch.store.queries` (plain data). Modules: `views` (what each page
shows, as JSON-ready dicts), `pages` (Jinja2 rendering), `app` (the Starlette
server), `offline` (the offline HTML report file). Templates and the page script live beside
them; plotly.js comes from the installed `plotly` package.
"""
