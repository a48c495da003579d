"""What the parts of a seeding share: the raw DBAPI connection of its one transaction
(`SeedDb`, SQLite or PostgreSQL), the branches it seeds (`Branch`) and the reason its
history rows give. `seed.generate` opens it and hands it to `seed.meetings` and
`seed.care`, which add to the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

from sqlalchemy import Engine

#: The reason of every history row a seeding writes.
REASON = "seeded"


class SeedDb:
    """The raw DBAPI connection of one transaction, SQLite or PostgreSQL."""

    def __init__(self, engine: Engine):
        self.pg = engine.dialect.name == "postgresql"
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(f"seeding supports SQLite and PostgreSQL, not {engine.dialect.name}")
        self.raw = engine.raw_connection()
        self.conn = self.raw.driver_connection
        self.ph = "%s" if self.pg else "?"
        self._cache: int | None = None
        self._wal = False  # True: we left WAL for this seed and must go back

    def begin(self) -> None:
        if self.pg:
            # Keep other writers out while we pick ids and ledger numbers.
            cur = self.conn.cursor()
            cur.execute("LOCK TABLE branches, volunteers, members IN SHARE ROW EXCLUSIVE MODE")
            cur.close()
        else:
            self._leave_wal()
            self.conn.execute("BEGIN IMMEDIATE")  # queue behind other writers, then hold
            self._cache = self.scalar("PRAGMA cache_size")
            self.conn.execute("PRAGMA cache_size=-131072")  # 128 MB while we write

    def _leave_wal(self) -> None:
        """Write a big seed through a rollback journal when nobody else has the file open.

        One transaction of a million rows in WAL mode appends every spilled page to the WAL
        and copies it all again at the checkpoint: measured 1.5-2x slower than a rollback
        journal, where new pages need no journaling. Leaving WAL needs the only connection
        to the file, so this is tried without waiting and skipped when anyone else is
        there; `finish` puts WAL back.
        """
        if str(self.scalar("PRAGMA journal_mode")).lower() != "wal":
            return
        timeout = self.scalar("PRAGMA busy_timeout")
        self.conn.execute("PRAGMA busy_timeout=0")
        try:
            self._wal = str(self.scalar("PRAGMA journal_mode=DELETE")).lower() != "wal"
        except Exception:  # sqlite3.OperationalError: another connection holds the file
            self._wal = False
        finally:
            self.conn.execute(f"PRAGMA busy_timeout={int(timeout)}")

    def finish(self, ok: bool) -> None:
        try:
            if ok:
                self.conn.commit()
                if self.pg:
                    # Fresh statistics now, not when autovacuum gets round to it: planning
                    # right after a seed took 1.5x as long per batch (and handing out
                    # leftovers over 10x) on a table PostgreSQL still thought was empty.
                    self.conn.execute("ANALYZE branches, volunteers, members, meetings, "
                                      "attendance, branch_roles")
                    self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            try:
                if self._cache is not None:
                    self.conn.execute(f"PRAGMA cache_size={int(self._cache)}")
                if self._wal:
                    self.scalar("PRAGMA journal_mode=WAL")
            finally:
                self.raw.close()

    def scalar(self, sql: str, params: Sequence = ()):
        cur = self.conn.cursor()
        try:
            cur.execute(sql, params)
            row = cur.fetchone()
            return row[0] if row else None
        finally:
            cur.close()

    def rows(self, sql: str, params: Sequence = ()) -> list[tuple]:
        cur = self.conn.cursor()
        try:
            cur.execute(sql, params)
            return cur.fetchall()
        finally:
            cur.close()

    def insert_returning_id(self, table: str, cols: Sequence[str], values: Sequence) -> int:
        sql = (f"INSERT INTO {table} ({', '.join(cols)}) "
               f"VALUES ({', '.join([self.ph] * len(cols))})")
        cur = self.conn.cursor()
        try:
            if self.pg:
                cur.execute(sql + " RETURNING id", values)
                return cur.fetchone()[0]
            cur.execute(sql, values)
            return cur.lastrowid
        finally:
            cur.close()

    def next_id(self, table: str) -> int:
        return int(self.scalar(f"SELECT COALESCE(MAX(id), 0) FROM {table}")) + 1

    def max_ledger_number(self) -> int:
        if self.pg:
            sql = ("SELECT MAX(substr(ledger_no, 2)::bigint) FROM members "
                   "WHERE ledger_no ~ '^M[0-9]{1,18}$'")
        else:
            sql = ("SELECT MAX(CAST(substr(ledger_no, 2) AS INTEGER)) FROM members "
                   "WHERE ledger_no GLOB 'M[0-9]*' AND substr(ledger_no, 2) NOT GLOB '*[^0-9]*'")
        return int(self.scalar(sql) or 0)

    def bulk(self, table: str, cols: Sequence[str], chunks: Iterator[list[tuple]]) -> None:
        """Write every row of ``chunks``: COPY on PostgreSQL, executemany on SQLite."""
        cur = self.conn.cursor()
        try:
            if self.pg:
                from psycopg.copy import QueuedLibpqWriter

                # A worker thread sends while this one builds the next chunk.
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN",
                              writer=QueuedLibpqWriter(cur)) as copy:
                    for chunk in chunks:
                        copy.write(_copy_text(chunk))
            else:
                sql = (f"INSERT INTO {table} ({', '.join(cols)}) "
                       f"VALUES ({', '.join(['?'] * len(cols))})")
                for chunk in chunks:
                    cur.executemany(sql, chunk)
        finally:
            cur.close()

    def sync_sequences(self) -> None:
        """Explicit ids do not move PostgreSQL's sequences: move them past the max."""
        if not self.pg:
            return
        for table in ("branches", "volunteers", "members"):
            self.scalar(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), 1))")


_NULL = "\\N"


def _copy_text(chunk: list[tuple]) -> bytes:
    """COPY text format; pool values hold no tab, newline or backslash (see
    `seed.generate`'s pools)."""
    out = []
    append = out.append
    for row in chunk:
        append("\t".join([v if v.__class__ is str else (_NULL if v is None else str(v))
                          for v in row]))
    out.append("")
    return "\n".join(out).encode()


@dataclass
class Branch:
    """A branch the seeding gives members (new or reused)."""

    id: int
    name: str
    kind: str
    interest: str | None = None
    #: Geographic: the locality part of a member's address.
    place: str = ""
