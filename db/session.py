"""Engines and sessions.

SQLite is opened with WAL, a busy timeout and foreign keys on. Python's sqlite3 module
starts transactions lazily with a plain (deferred) BEGIN; a deferred transaction that reads
and then writes gets SQLITE_BUSY at once when another writer got in between, without
waiting for the busy timeout. So we take the transaction control ourselves: writers begin
with ``BEGIN IMMEDIATE`` (they queue on the busy timeout instead of failing), readers with
a deferred ``BEGIN``. See SQLAlchemy's "Serializable isolation / Savepoints / Transactional
DDL" notes for pysqlite.

Each transaction has one owner (a CLI command or a Prefect task); service functions in
`tasks/` flush, never commit.
"""

from __future__ import annotations

import contextlib
import os
import stat
from typing import Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session

from outreach.db import settings

BUSY_TIMEOUT_MS = 30_000
_engines: dict[str, Engine] = {}


def make_engine(url: str | None = None, **kwargs) -> Engine:
    """A new engine for ``url`` (default: `settings.database_url()`)."""
    url = url or settings.database_url()
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        private = None
        if path and path != ":memory:":
            from pathlib import Path

            # The ledger holds contact details: a folder made for it is its owner's only.
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            private = path.split("?", 1)[0]
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _sqlite_setup(engine, private)
        return engine
    return create_engine(url, **kwargs)


def keep_private(path: str) -> None:
    """The database file, its WAL and its shared memory are the owner's only (0600),
    whatever folder they are in and whatever the umask: they hold contact details.

    Everything here works **by path** and never opens the file: on Linux (POSIX advisory
    locks), closing *any* descriptor of a file drops every lock this process holds on it,
    including the locks SQLite's other connections in this process rely on. A process that
    lost them looks gone to the others; the next one to close the database believes it is
    the last and deletes the ``-wal`` and ``-shm`` files, and every write after that goes
    into deleted files (issue 24: acknowledged, then lost). So a missing file is made
    0600 with ``mknod`` (creates a regular file without opening it; SQLite then gives the
    WAL and SHM the database file's mode) and a wider mode is narrowed with ``chmod``."""
    try:
        os.mknod(path, 0o600 | stat.S_IFREG)
    except FileExistsError:
        pass
    except OSError:
        return  # not ours to create (read-only place): SQLite will say what is wrong
    for name in (path, path + "-wal", path + "-shm", path + "-journal"):
        try:
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)
        except OSError:  # missing, or another owner's: nothing we may change
            pass


def _sqlite_setup(engine: Engine, private: str | None = None) -> None:
    if private is not None:
        @event.listens_for(engine, "do_connect")
        def _private(*_args):  # before SQLite opens (and maybe creates) the file
            keep_private(private)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA cache_size=-65536")  # 64 MiB of page cache (default 2 MiB)
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def engine(url: str | None = None) -> Engine:
    """The process-wide engine for ``url`` (created once)."""
    url = url or settings.database_url()
    if url not in _engines:
        _engines[url] = make_engine(url)
    return _engines[url]


def writer(eng: Engine) -> Engine:
    """The same engine, beginning write transactions (``BEGIN IMMEDIATE`` on SQLite)."""
    return eng.execution_options(sqlite_begin="IMMEDIATE")


@contextlib.contextmanager
def session_scope(eng: Engine | None = None, *, write: bool = True) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    eng = eng or engine()
    bind = writer(eng) if write else eng
    with Session(bind, expire_on_commit=False) as session:
        with session.begin():
            yield session
