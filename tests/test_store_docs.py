"""The SQL examples of docs/schema.md run as written, on a populated database."""

from __future__ import annotations

import math
import re
import sqlite3

from support import REPO, populate

DOC = REPO / "docs" / "schema.md"


def sql_blocks() -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 2, "docs/schema.md should hold at least two ```sql examples"
    return blocks


def run_sql(db, sql: str) -> list[tuple]:
    if db.kind == "sqlite":  # exactly as a user would: the sqlite3 module, no SQLAlchemy
        con = sqlite3.connect(db.url)
        try:
            return [tuple(r) for r in con.execute(sql).fetchall()]
        finally:
            con.close()
    with db.engine().connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql).fetchall()]


def test_doc_queries_run_as_written(db):
    store = db.open()
    ids = populate(store)
    store.close()
    top, reasons, ancestry = sql_blocks()

    rows = run_sql(db, top)
    assert [r[0] for r in rows] == [ids[k] for k in ("d", "c", "a", "relu", "b")]
    assert rows[0][1] == "tanh(x) * sigmoid(1.5 * x)"
    assert bool(rows[3][2]) is True  # relu is the baseline
    assert math.isclose(rows[0][4], 0.91) and rows[0][5] == 2

    rows = run_sql(db, reasons)
    assert rows == [("demo", "non-finite output", 2), ("demo", "constant", 1), ("other", "non-finite output", 1)]

    rows = run_sql(db, ancestry)
    assert [(r[0], r[1]) for r in rows] == [(0, ids["d"]), (1, ids["b"]), (1, ids["c"]), (2, ids["a"])]
    assert rows[0][3] == "crossover" and rows[2][3] == "mutation:point"


def test_doc_names_every_column():
    """Every table and column of the schema appears in docs/schema.md."""
    from actsearch.store.models import Base

    doc = DOC.read_text()
    for table in Base.metadata.sorted_tables:
        assert f"`{table.name}`" in doc, table.name
        for column in table.columns:
            assert f"`{column.name}`" in doc, f"{table.name}.{column.name}"
