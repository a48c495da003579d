"""The SQL dialect differences of set-based jobs, in one place (SQLite and PostgreSQL).

* `name_of`, `is_pg`, `is_sqlite` — which dialect a connection, engine or session speaks;
* `fetch` — all rows of raw SQL as plain tuples straight from the driver (no Row objects);
* `lock` — PostgreSQL: a transaction-scoped advisory lock and bulk-work settings;
* `lock_parts` — PostgreSQL: the same lock shared, and locks on parts of the work
  (a campaign's shards);
* `fill_temp` — (re)fill a temporary work table from Python rows: one COPY on
  PostgreSQL, executemany on SQLite;
* the choices the domain's queries make by dialect, named for what differs (`tasks/`
  never names a dialect): `hashes_big_sets` (which shape of a query a planner runs
  well), `sql_true`, `distinct_from`, `no_index`, `sum_bits`, `analyze`,
  `tune_transaction`, `parallel_file_reads`.

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


# --- the domain's choices, named for what differs ---------------------------------------------


def hashes_big_sets(bind: Connection | Engine | Session) -> bool:
    """True where the planner hashes big sets well and keeps a query's shape (PostgreSQL:
    hashed GROUP BY, hash semi- and anti-joins, a scalar subquery kept as one, one core per
    query); False where a query steps through indexes row by row and subqueries may be
    flattened into the query above them (SQLite). A query picks its shape by it."""
    return is_pg(bind)


def sql_true(bind: Connection | Engine | Session) -> str:
    """The literal true of raw SQL: ``true`` (PostgreSQL) or ``1`` (SQLite)."""
    return "true" if is_pg(bind) else "1"


def distinct_from(bind: Connection | Engine | Session) -> str:
    """The null-safe "differs" operator of raw SQL: ``IS DISTINCT FROM`` (PostgreSQL) or
    ``IS NOT`` (SQLite)."""
    return "IS NOT" if is_sqlite(bind) else "IS DISTINCT FROM"


def no_index(bind: Connection | Engine | Session, col):
    """``col`` as SQLite may not read it from an index (``col || ''`` for a text, ``col +
    0`` for a number): where the index it would pick is the slower way in. PostgreSQL:
    ``col``."""
    from sqlalchemy import Integer, String, type_coerce

    if is_pg(bind):
        return col
    if isinstance(col.type, Integer):
        return col + 0
    return type_coerce(col, String()) + ""


#: The bits a SUM of one integer column holds exactly. SQLite sums its 64-bit integers as
#: they are (63 bits: signed). PostgreSQL sums a bigint into a numeric, an integer into a
#: bigint: there a column holds 31 bits, each value an integer.
SUM_BITS = {"sqlite": 63, "postgresql": 31}


def sum_bits(bind: Connection | Engine | Session) -> int:
    """`SUM_BITS` of the dialect ``bind`` speaks."""
    return SUM_BITS[name_of(bind)]


def analyze(conn: Connection, table: str) -> None:
    """PostgreSQL: fresh planner statistics for a table just filled (a temporary table is
    never analysed by itself). SQLite: nothing."""
    if is_pg(conn):
        conn.exec_driver_sql(f"ANALYZE {table}")


def tune_transaction(bind: Connection | Session, *, jit: bool | None = None,
                     work_mem: str | None = None) -> None:
    """PostgreSQL, this transaction only (``SET LOCAL``): JIT on or off, ``work_mem``.
    SQLite: nothing."""
    if not is_pg(bind):
        return
    if jit is not None:
        bind.execute(text(f"SET LOCAL jit = {'on' if jit else 'off'}"))
    if work_mem is not None:
        bind.execute(text(f"SET LOCAL work_mem = '{work_mem}'"))


def parallel_file_reads(bind: Connection | Engine | Session) -> bool:
    """True for a SQLite database in a file: two connections in two threads read it side by
    side (sqlite3 lets go of the GIL while it steps; each reads its own WAL snapshot)."""
    if isinstance(bind, Session):
        bind = bind.get_bind()
    engine = getattr(bind, "engine", bind)
    return is_sqlite(bind) and ":memory:" not in str(engine.url)
