"""The SQL dialect differences of set-based jobs, in one place (SQLite and PostgreSQL).

* `name_of`, `is_pg`, `is_sqlite` — which dialect a connection, engine or session speaks;
* `fetch` — all rows of raw SQL as plain tuples straight from the driver (no Row objects);
* `lock` — PostgreSQL: a transaction-scoped advisory lock and bulk-work settings;
* `lock_parts` — PostgreSQL: the same lock shared, and locks on parts of the work
  (a campaign's shards);
* `fill_temp` — (re)fill a temporary work table from Python rows: one COPY on
  PostgreSQL, executemany on SQLite.

Imports nothing of ours.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Iterable, Sequence

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

_PARAM = re.compile(r"(?<!:):([a-z_]+)")
_NULL = "\\N"  # NULL in COPY's text format


def name_of(bind: Connection | Engine | Session) -> str:
    """The dialect's name ('sqlite', 'postgresql') of a Connection, Engine or Session."""
    if isinstance(bind, Session):
        bind = bind.get_bind()
    return bind.dialect.name


def is_pg(bind: Connection | Engine | Session) -> bool:
    return name_of(bind) == "postgresql"


def is_sqlite(bind: Connection | Engine | Session) -> bool:
    return name_of(bind) == "sqlite"


def fetch(conn: Connection, sql: str, params: dict | None = None) -> list[tuple]:
    """All rows of ``sql`` as plain tuples, straight from the driver's cursor (no Row
    objects: a range fetches up to a hundred thousand of them). ``:name`` parameters;
    dates go in as the dialect stores them (ISO text on SQLite)."""
    params = dict(params or {})
    if is_pg(conn):
        sql = _PARAM.sub(r"%(\1)s", sql)
    else:
        params = {k: v.isoformat() if type(v) is dt.date else v for k, v in params.items()}
    cur = conn.connection.driver_connection.cursor()
    try:
        cur.execute(sql, params)
        return cur.fetchall()
    finally:
        cur.close()


def lock(conn: Connection, key: int) -> None:
    """PostgreSQL: take advisory lock ``key`` for this transaction and set it up for bulk
    work (SQLite writers already queue on ``BEGIN IMMEDIATE``; nothing to do there).

    ``jit = off``: the JIT compiles every statement afresh (about 0.1 s each here) and
    these are short set-based statements it does not speed up. ``work_mem``: the sort of
    a range's 100,000 picks stays in memory instead of a temp file. Both are SET LOCAL,
    gone at commit. (``synchronous_commit = off`` would be safe too — a crash loses at
    most the last ranges, which the idempotent rerun plans again — but it would only save
    one WAL flush per range, ten per million members, so it is not used.)
    """
    if is_pg(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        conn.exec_driver_sql("SET LOCAL jit = off")
        conn.exec_driver_sql("SET LOCAL work_mem = '32MB'")


def lock_parts(conn: Connection, key: int, part_key: int, *, shared: Sequence[int],
               exclusive: Sequence[int]) -> None:
    """PostgreSQL: like `lock`, but for one part of the work: ``key`` is taken *shared*,
    then ``(part_key, id)`` for every id, in id order — shared for ``shared`` (the parts
    above), exclusive for ``exclusive`` (the parts themselves) — all for this transaction,
    in one statement. Whoever takes ``key`` exclusive (`lock`) waits for every part and
    every part for it; two parts wait for each other only when one lies in the other."""
    if not is_pg(conn):
        return
    modes = {int(i): "pg_advisory_xact_lock_shared" for i in shared}
    modes.update({int(i): "pg_advisory_xact_lock" for i in exclusive})
    calls = [f"pg_advisory_xact_lock_shared({int(key)})"] + [
        f"{fn}({int(part_key)}, {i})" for i, fn in sorted(modes.items())]
    conn.exec_driver_sql("SELECT " + ", ".join(calls))  # evaluated left to right
    conn.exec_driver_sql("SET LOCAL jit = off")
    conn.exec_driver_sql("SET LOCAL work_mem = '32MB'")


def fill_temp(conn: Connection, name: str, columns: Sequence[tuple[str, str, str]],
              rows: Iterable[tuple]) -> None:
    """Create temporary table ``name`` if missing, empty it and fill it with ``rows``.

    ``columns``: (name, PostgreSQL type, SQLite type) each; on SQLite the first column
    should be ``INTEGER PRIMARY KEY`` (the rowid itself: stored and read in key order).
    On PostgreSQL the table empties itself at commit (ON COMMIT DELETE ROWS) and is filled
    by one COPY; on SQLite by executemany. Values are ints or None.
    """
    pg = is_pg(conn)
    cols = ", ".join(f"{c} {pgtype if pg else lite}" for c, pgtype, lite in columns)
    names = ", ".join(c for c, _p, _l in columns)
    conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({cols})"
                         + (" ON COMMIT DELETE ROWS" if pg else ""))
    conn.exec_driver_sql(f"DELETE FROM {name}")
    rows = list(rows)
    if not rows:
        return
    if pg:  # COPY: one round trip for the whole batch
        buf = "".join("\t".join(_NULL if v is None else str(v) for v in row) + "\n"
                      for row in rows)
        with conn.connection.driver_connection.cursor() as cur:
            with cur.copy(f"COPY {name} ({names}) FROM STDIN") as cp:
                cp.write(buf)
    else:
        marks = ", ".join("?" for _ in columns)
        conn.connection.driver_connection.executemany(
            f"INSERT INTO {name} ({names}) VALUES ({marks})", rows)
