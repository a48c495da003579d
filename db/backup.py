"""The mechanics of backups, per dialect: a consistent copy while everything runs, a
scratch place to check one, and putting one in the ledger's place.

* SQLite: the online backup API (`sqlite3.Connection.backup`) from a connection made
  through SQLite, in one step: it reads one snapshot (every transaction committed before
  it began, none after) while writers go on (WAL). The copy is a single file (rollback
  journal, no ``-wal``), in a new file made 0600 beside the target (`db.files`), put in
  place once checked.
  The live ledger file is never opened outside SQLite: closing any descriptor of it would
  drop this process's POSIX locks (issue 24, defect 1).
* PostgreSQL: ``pg_dump --format=custom`` (its version at least the server's), checked by
  restoring it into a scratch database (`scratch_database`); a restore goes into a new
  database which takes the ledger's name once it has been checked (`swap_databases`),
  the current one keeping its data under another name.

What is checked and who may is `tasks.backup`'s; this module imports nothing of ours but
`i18n` and `db`. Where a backup may be written is `db.files`' (`new_file`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from outreach.db import settings
from outreach.db.errors import BadInput, NotReady, Refused, one_line
from outreach.db.files import PrivateFile
from outreach.i18n import _

#: A backup's name in the backups folder: `outreach-YYYYMMDD-HHMMSS.db` (SQLite) or
#: `.dump` (PostgreSQL). Only files named so are ever pruned.
NAME = re.compile(r"^outreach-(\d{8})-(\d{6})\.(db|dump)$")
BUSY_TIMEOUT_S = 30.0


def is_sqlite_url(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///`` URL (without its query)."""
    return url.split("///", 1)[-1].split("?", 1)[0]


def suffix(url: str) -> str:
    return ".db" if is_sqlite_url(url) else ".dump"


def folder() -> Path:
    """Where backups go unless told otherwise: ``$OUTREACH_HOME/backups``."""
    return settings.home() / "backups"


def default_path(url: str, now: dt.datetime) -> Path:
    return folder() / f"outreach-{now:%Y%m%d-%H%M%S}{suffix(url)}"


def stamp_of(name: str) -> dt.datetime | None:
    """When a backup named by `default_path` was taken (None for any other name)."""
    m = NAME.match(name)
    if not m:
        return None
    try:
        return dt.datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S")
    except ValueError:
        return None


# --- files ----------------------------------------------------------------------------------


@contextlib.contextmanager
def new_file(target: Path, *, force: bool, make_folder: bool = False) -> Iterator[Path]:
    """A backup's file, written the one way a person's output file is (`db.files`): the
    target is refused if it is a symbolic link (even with ``force``), anything but a
    regular file (said which), another user's file, or an existing file without
    ``force``; the block gets the path of a new 0600 file beside it (for SQLite's backup
    or ``pg_dump --file``), which is put in place only when the block ends without error
    — so after the copy has been checked — and removed otherwise. ``make_folder``: the
    target's folder (the home's backups folder) is made 0700 if missing."""
    if make_folder:
        try:
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise BadInput(_("cannot write in {path}: {reason}; nothing was written").format(
                path=repr(one_line(target.parent)), reason=exc.strerror)) from None
    with PrivateFile(target, force=force) as out:
        # handover() closes PrivateFile's descriptor: a new file that no SQLite connection
        # of ours has open; the live ledger is only ever opened by SQLite (`sqlite_copy`)
        yield Path(out.handover())
        out.commit()


def new_private_file(where: Path, prefix: str = ".outreach-restore-") -> Path:
    """A restore's scratch copy: a new, empty file only its owner may read (0600) in the
    ledger's folder ``where`` (made 0700 if missing), renamed over the ledger by the
    restore itself once checked. Created with O_EXCL by `tempfile.mkstemp`: no SQLite
    connection of ours has it open, so closing its descriptor here drops nobody's lock."""
    try:
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=where)
    except OSError as exc:
        raise BadInput(_("cannot write in {path}: {reason}; nothing was written").format(
            path=repr(one_line(where)), reason=exc.strerror)) from None
    os.close(fd)
    return Path(name)


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


# --- SQLite ---------------------------------------------------------------------------------


def _uri(path: str | Path, mode: str = "rw") -> str:
    return f"file:{quote(str(path))}?mode={mode}"


def sqlite_copy(src: str | Path, dest: Path, *, mode: str = "rw") -> None:
    """Copy the SQLite database ``src`` into the empty file ``dest`` with SQLite's online
    backup, in one step (one consistent snapshot); the copy keeps a rollback journal, so
    it is one file. ``src`` must exist (SQLite would create an empty one); ``mode="ro"``
    for a file that is only read (a backup being restored)."""
    if not os.path.exists(src):
        raise NotReady(_("there is no ledger at {path} to copy").format(
            path=repr(one_line(src))))
    try:
        source = sqlite3.connect(_uri(src, mode), uri=True, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise NotReady(_("cannot open the ledger: {reason}").format(reason=exc)) from None
    try:
        target = sqlite3.connect(_uri(dest), uri=True)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
    except sqlite3.DatabaseError as exc:
        raise BadInput(_("{path} cannot be copied as a SQLite database: {reason}").format(
            path=repr(one_line(Path(src).name)), reason=exc)) from None
    finally:
        source.close()


def sqlite_integrity(path: Path) -> str | None:
    """None when ``PRAGMA integrity_check`` and ``foreign_key_check`` find nothing, else
    the first problem (read-only)."""
    try:
        conn = sqlite3.connect(_uri(path, "ro"), uri=True)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            if rows != ["ok"]:
                return one_line("; ".join(rows[:3]))
            bad = conn.execute("PRAGMA foreign_key_check").fetchall()
            if bad:
                return _("{n} rows point at rows that are not there (first in table "
                         "{table})").format(n=len(bad), table=bad[0][0])
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return one_line(exc)
    return None


def sqlite_reader(path: Path) -> Engine:
    """A read-only engine on a SQLite file (a backup being checked): nothing of it
    changes, not even its journal mode."""
    return create_engine("sqlite://",
                         creator=lambda: sqlite3.connect(_uri(path, "ro"), uri=True,
                                                         check_same_thread=False))


def release(url: str) -> None:
    """Close this process's pooled connections to ``url`` (`db.session.engine`): they
    would go on reading the file set aside, or hold the database a rename needs."""
    from outreach.db import session

    eng = session._engines.pop(url, None)
    if eng is not None:
        eng.dispose()


def same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def sqlite_users(path: str | Path) -> list[int]:
    """The other processes (of this user: others' are not visible) that have the SQLite
    file, its WAL or its shared memory open — read from /proc by `stat` on each
    descriptor, never by opening the file."""
    ids = set()
    for name in (str(path), f"{path}-wal", f"{path}-shm", f"{path}-journal"):
        with contextlib.suppress(OSError):
            st = os.stat(name)
            ids.add((st.st_dev, st.st_ino))
    if not ids:
        return []
    me, found = os.getpid(), []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == me:
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:  # gone, or another user's
            continue
        for fd in fds:
            try:
                st = os.stat(fd)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in ids:
                found.append(int(proc.name))
                break
    return sorted(found)


def companions(path: str | Path) -> list[str]:
    """The SQLite file and those of its WAL, shared memory and journal that exist."""
    return [n for n in (str(path), f"{path}-wal", f"{path}-shm", f"{path}-journal")
            if os.path.lexists(n)]


def set_aside(path: str | Path, stamp: str) -> Path:
    """Rename the SQLite file — with its WAL, shared memory or journal if any, so that
    the set stays one database — to ``<name>.before-restore-<stamp>``; by path only."""
    aside = Path(f"{path}.before-restore-{stamp}")
    for name in companions(path):
        os.rename(name, str(aside) + name[len(str(path)):])
    return aside


def put_back(aside: Path, path: str | Path) -> None:
    """Undo `set_aside`."""
    for name in companions(aside):
        os.rename(name, str(path) + name[len(str(aside)):])


# --- PostgreSQL -----------------------------------------------------------------------------


def libpq(url: str, database: str | None = None) -> tuple[str, dict]:
    """A libpq connection string for ``url`` (no SQLAlchemy driver, no password: that goes
    in the environment, never on a command line) and the environment to run a tool in."""
    u = make_url(url)
    if database is not None:
        u = u.set(database=database)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    plain = u.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def tool(name: str) -> str:
    """The path of ``pg_dump`` or ``pg_restore``, refused in one line if missing."""
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                                reverse=True)), None)
    if not found:
        raise NotReady(_("{tool} is not installed: a PostgreSQL ledger is backed up with "
                         "PostgreSQL's client tools (Debian: apt install "
                         "postgresql-client)").format(tool=name))
    return found


def _major(version: str) -> int:
    m = re.search(r"(\d+)(?:\.\d+)?", version)
    return int(m.group(1)) if m else 0


def check_tool_version(url: str, name: str) -> None:
    """Refuse a ``pg_dump``/``pg_restore`` older than ``url``'s server (it cannot read
    its dumps, or restore into it)."""
    out = subprocess.run([tool(name), "--version"], capture_output=True, text=True,
                         check=False).stdout
    eng = _admin(url)
    try:
        with eng.connect() as conn:
            server = int(conn.execute(text("SHOW server_version_num")).scalar()) // 10000
    finally:
        eng.dispose()
    mine = _major(out.split(")", 1)[-1])  # "pg_dump (PostgreSQL) 15.20 (Debian …)"
    if mine < server:
        raise NotReady(_("{tool} {mine} is older than the database server ({server}): "
                         "install the client tools of PostgreSQL {server}").format(
                             tool=name, mine=mine, server=server))


def _run(argv: list[str], env: dict, what: str) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        raise Refused(_("{what} failed: {reason}").format(
            what=what, reason=one_line(lines[0] if lines else done.returncode)))


def pg_dump(url: str, dest: Path) -> None:
    """``pg_dump --format=custom`` of the ledger into the (0600) file ``dest``."""
    conninfo, env = libpq(url)
    _run([tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
          f"--file={dest}", f"--dbname={conninfo}"], env, "pg_dump")


def pg_list(dump: Path) -> None:
    """Refuse a file that is not a dump in pg_dump's custom format."""
    done = subprocess.run([tool("pg_restore"), "--list", str(dump)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise BadInput(_("{name} is not a PostgreSQL backup (pg_dump's custom format, "
                         "what `outreach db backup` writes on PostgreSQL)").format(
                             name=repr(one_line(dump.name))))


def pg_restore(dump: Path, url: str, database: str) -> None:
    """Restore ``dump`` into the empty database ``database`` (on ``url``'s server), in
    one transaction: all of it or nothing."""
    conninfo, env = libpq(url, database)
    _run([tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
          "--single-transaction", f"--dbname={conninfo}", str(dump)], env, "pg_restore")


def database_of(url: str) -> str:
    return make_url(url).database or ""


def other_url(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _admin(url: str) -> Engine:
    """Autocommit on the server's ``postgres`` database (CREATE/DROP/ALTER DATABASE)."""
    return create_engine(other_url(url, "postgres"), isolation_level="AUTOCOMMIT")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_database(url: str, name: str) -> None:
    eng = _admin(url)
    try:
        with eng.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {_ident(name)} TEMPLATE template0"))
    finally:
        eng.dispose()


def drop_database(url: str, name: str) -> None:
    eng = _admin(url)
    try:
        with eng.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)"))
    finally:
        eng.dispose()


@contextlib.contextmanager
def scratch_database(url: str, name: str) -> Iterator[str]:
    """A new, empty database ``name`` on ``url``'s server for the block (dropped after,
    whatever happens); yields its URL."""
    drop_database(url, name)
    create_database(url, name)
    try:
        yield other_url(url, name)
    finally:
        drop_database(url, name)


def pg_users(url: str) -> int:
    """How many other sessions are connected to ``url``'s database."""
    eng = _admin(url)
    try:
        with eng.connect() as conn:
            return int(conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = :d "
                "AND pid <> pg_backend_pid()"), {"d": database_of(url)}).scalar())
    finally:
        eng.dispose()


def database_exists(url: str, name: str) -> bool:
    eng = _admin(url)
    try:
        with eng.connect() as conn:
            return bool(conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"),
                                     {"d": name}).scalar())
    finally:
        eng.dispose()


def swap_databases(url: str, new: str, aside: str) -> None:
    """In one transaction: the ledger's database is renamed ``aside`` and ``new`` takes
    its name. PostgreSQL refuses the rename while anyone is connected to either."""
    current = database_of(url)
    eng = create_engine(other_url(url, "postgres"))
    try:
        with eng.begin() as conn:
            if database_exists(url, current):
                conn.execute(text(f"ALTER DATABASE {_ident(current)} RENAME TO "
                                  f"{_ident(aside)}"))
            conn.execute(text(f"ALTER DATABASE {_ident(new)} RENAME TO {_ident(current)}"))
    except Exception as exc:
        sa = __import__("sqlalchemy.exc").exc
        if isinstance(exc, sa.DBAPIError) and "being accessed" in str(exc.orig):
            raise Refused(_("the ledger's database is in use (someone connected meanwhile): "
                            "stop the service and the stack, then restore again; nothing "
                            "was changed")) from None
        raise
    finally:
        eng.dispose()
